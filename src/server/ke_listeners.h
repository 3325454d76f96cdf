// The NTS-KE threads and their listeners: per thread an io_context, a listener
// per address (one SO_REUSEPORT group per address across threads, clients
// steered to a thread by address), its admission and its sessions.
#pragma once

#include <memory>
#include <vector>

#include "common/socket_address.h"
#include "keys/published_keyring.h"
#include "server/certificate_store.h"
#include "server/ke_server.h"
#include "server/ke_session_outcome.h"
#include "server/ntp_server_choice.h"

namespace ntsd::server {

class KeListeners {
 public:
  // Binds every listen address on every thread (settings.max_sessions already
  // resolved from 0); throws ConfigError naming --ke-listen on failure.
  KeListeners(const KeServerSettings& settings,
              const std::shared_ptr<const CertificateStore>& certificates,
              const keys::PublishedKeyring& keyring, KeServerCounters& counters,
              NtpServerChooser& ntp_servers);
  ~KeListeners();
  KeListeners(const KeListeners&) = delete;
  KeListeners& operator=(const KeListeners&) = delete;

  void start();  // one thread per shard
  void stop();   // closes listeners and sessions, joins the threads

  // The bound addresses (port 0 in a listen address is resolved here).
  [[nodiscard]] std::vector<SocketAddress> local_addresses() const;

 private:
  struct Shard;
  void bind(const KeServerSettings& settings);
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace ntsd::server
