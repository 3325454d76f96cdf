// The NTS-KE server (RFC 8915 §4): TLS 1.3 on TCP, one request, one response,
// close_notify.
//
//   ke_listeners   threads, listeners (SO_REUSEPORT groups), accept loops
//   ke_admission   connection rate limit, max sessions, eviction of the oldest waiting
//   ke_session     one coroutine per connection: handshake, read, reply, one write, close
//   ke_reply       what a read request gets and how the session ends (no I/O)
//   ntp_server_choice  which NTP server a response advertises
//
// Asio stays inside ke_listeners.cpp and ke_session.cpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

#include "common/socket_address.h"
#include "core/ke_negotiation.h"
#include "keys/published_keyring.h"
#include "server/certificate_store.h"
#include "server/ke_admission.h"
#include "server/ke_session_outcome.h"
#include "server/ntp_server_choice.h"
#include "server/rate_limit.h"

namespace ntsd::server {

class CensusLog;

struct KeServerSettings {
  std::vector<SocketAddress> listen;
  // AEAD preference. Its ntp_server/ntp_port are filled per session from
  // ntp_servers when that is not empty.
  core::KeServerPolicy policy;
  // The NTP servers handed out, one per session, picked by server_choice.
  std::vector<AdvertisedNtpServer> ntp_servers;
  ServerChoice server_choice = ServerChoice::Hash;
  // From accept to the end of the request: the handshake and the whole request
  // must arrive within it (a partial request then gets Error 1).
  std::chrono::milliseconds timeout{2000};
  // RFC 8915 §4 asks servers to accept requests of at least 1024 bytes.
  std::size_t max_request_length = std::size_t{16} * 1024;
  // Sessions open at once (TLS handshake to close). A connection beyond it
  // closes the oldest session still waiting for its request, or, when none
  // waits, is closed at once. 0: default_ke_max_sessions().
  std::size_t max_sessions = 0;
  // New connections per client address (server/rate_limit.h); over it the
  // connection is closed at once. Disabled unless rate_limit.rate > 0.
  RateLimitSettings rate_limit;
  // Threads serving sessions, each with its own listeners (one SO_REUSEPORT
  // group per address, clients steered to a thread by address), rate limiter
  // and share of max_sessions (ke_shard_max_sessions).
  unsigned threads = 1;
  // The research log (census_log_writer.h), not owned: it outlives the server.
  // None: off.
  CensusLog* census_log = nullptr;
};

class KeServer {
 public:
  // Binds every listen address; throws ConfigError naming --ke-listen on failure.
  // Each session takes its certificate from `certificates` when it starts, so a
  // reload there reaches every later session.
  KeServer(std::shared_ptr<const CertificateStore> certificates, KeServerSettings settings,
           const keys::PublishedKeyring& keyring);
  ~KeServer();
  KeServer(const KeServer&) = delete;
  KeServer& operator=(const KeServer&) = delete;

  void start();  // serves on settings.threads threads of its own
  void stop();   // closes listeners and sessions, joins the threads

  [[nodiscard]] const KeServerCounters& counters() const;
  // The bound addresses (port 0 in a listen address is resolved here).
  [[nodiscard]] std::vector<SocketAddress> local_addresses() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ntsd::server
