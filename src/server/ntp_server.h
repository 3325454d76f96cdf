// The NTP server: worker threads that receive requests in batches, hand each to
// core::prepare_response()/complete_response(), and send the answers.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "core/cookie.h"
#include "keys/published_keyring.h"
#include "core/ntp_handler.h"
#include "server/socket_address.h"
#include "server/time_source.h"
#include "server/unique_fd.h"

namespace ntsd::server {

inline constexpr std::size_t kReasonCount = static_cast<std::size_t>(core::Reason::AuthenticatorFailed) + 1;

// Requests by kind and reason, summed over the workers.
struct NtpCounters {
  std::array<std::uint64_t, kReasonCount> plain{};
  std::array<std::uint64_t, kReasonCount> nts{};
};

class NtpServer {
 public:
  // Binds `workers` sockets per listen address (SO_REUSEPORT spreads the load);
  // throws ConfigError naming --ntp-listen on failure.
  NtpServer(const std::vector<SocketAddress>& listen, unsigned workers, const TimeSource& time,
            const keys::PublishedKeyring& keyring);
  ~NtpServer();
  NtpServer(const NtpServer&) = delete;
  NtpServer& operator=(const NtpServer&) = delete;

  void start();
  void stop();

  [[nodiscard]] NtpCounters counters() const;
  [[nodiscard]] std::vector<SocketAddress> local_addresses() const;

 private:
  class Worker;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace ntsd::server
