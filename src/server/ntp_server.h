// The NTP server: worker threads that receive requests in batches, hand each to
// their NtpExchange (server/ntp_exchange.h), and send the answers, asking the
// kernel for transmit timestamps where wanted (server/tx_timestamps.h).
#pragma once

#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "common/socket_address.h"
#include "common/unique_fd.h"
#include "keys/published_keyring.h"
#include "server/ntp_exchange.h"
#include "server/rate_limit.h"
#include "server/tx_gap.h"
#include "time/clock_state.h"

namespace ntsd::server {

class NtpServer {
 public:
  // Binds `workers` sockets per listen address (SO_REUSEPORT spreads the load);
  // throws ConfigError naming --ntp-listen on failure.
  // `rate_limit` applies per worker (server/rate_limit.h); the default disables it.
  // Workers read `clock` per batch. `interleaved`: answer RFC 9769 interleaved
  // requests with the kernel transmit timestamp of the previous response.
  NtpServer(const std::vector<SocketAddress>& listen, unsigned workers,
            const timesource::PublishedClock& clock, const keys::PublishedKeyring& keyring,
            const RateLimitSettings& rate_limit = {}, bool interleaved = true,
            bool tx_compensation = true);
  ~NtpServer();
  NtpServer(const NtpServer&) = delete;
  NtpServer& operator=(const NtpServer&) = delete;

  void start();
  void stop();

  [[nodiscard]] NtpCounters counters() const;
  // How much later than the transmit timestamp written into a response the
  // kernel's software transmit timestamp of that packet was, over all responses
  // so far (median and 99th percentile; server/tx_gap.h).
  [[nodiscard]] timesource::GapSummary transmit_gap() const;
  [[nodiscard]] std::vector<SocketAddress> local_addresses() const;

 private:
  class Worker;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace ntsd::server
