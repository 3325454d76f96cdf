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
#include "server/rate_limit.h"
#include "common/socket_address.h"
#include "time/clock_state.h"
#include "time/tx_gap.h"
#include "common/unique_fd.h"

namespace ntsd::server {

inline constexpr std::size_t kReasonCount = static_cast<std::size_t>(core::Reason::RateLimited) + 1;

// Requests by kind and reason, summed over the workers.
struct NtpCounters {
  std::array<std::uint64_t, kReasonCount> plain{};
  std::array<std::uint64_t, kReasonCount> nts{};
  // Dropped unread by the rate limit (RATE kisses count as Reason::RateLimited).
  std::uint64_t rate_limited_dropped = 0;
  // Answered in interleaved mode (RFC 9769), among the answered ones.
  std::uint64_t interleaved = 0;
  // New cookies sent in answered NTS responses.
  std::uint64_t cookies_issued = 0;
  // Dropped because the clock is unsynchronised (--unsynchronised drop).
  std::uint64_t unsynchronised_dropped = 0;
  // Kernel transmit timestamps matched to a response, and ones that matched none.
  std::uint64_t tx_timestamps = 0;
  std::uint64_t tx_timestamps_unmatched = 0;
};

class NtpServer {
 public:
  // Binds `workers` sockets per listen address (SO_REUSEPORT spreads the load);
  // throws ConfigError naming --ntp-listen on failure.
  // `rate_limit` applies per worker (server/rate_limit.h); the default disables it.
  // Workers read `clock` per batch. `interleaved`: answer RFC 9769 interleaved
  // requests with the kernel transmit timestamp of the previous response.
  NtpServer(const std::vector<SocketAddress>& listen, unsigned workers,
            const timesource::PublishedClock& clock, const keys::PublishedKeyring& keyring,
            const RateLimitSettings& rate_limit = {}, bool interleaved = true);
  ~NtpServer();
  NtpServer(const NtpServer&) = delete;
  NtpServer& operator=(const NtpServer&) = delete;

  void start();
  void stop();

  [[nodiscard]] NtpCounters counters() const;
  // How much later than the transmit timestamp written into a response the
  // kernel's software transmit timestamp of that packet was, over all responses
  // so far (median and 99th percentile; time/tx_gap.h).
  [[nodiscard]] timesource::GapSummary transmit_gap() const;
  [[nodiscard]] std::vector<SocketAddress> local_addresses() const;

 private:
  class Worker;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace ntsd::server
