// One NTP exchange without sockets: a request's bytes, its peer and its receive
// time in; the response's bytes and the outcome (core/ntp_outcome.h) out.
//
// Everything the server does per packet beside receiving and sending lives
// here: the unsynchronised check, the rate limit, the core's decision, the
// interleaved-mode table (RFC 9769), the transmit timestamp read as late as
// possible, counting and the (rate-limited) reject log. The socket worker
// (ntp_server.cpp), the allocation test and the benchmarks all call it, and so
// can a path that takes packets from elsewhere (AF_XDP): it holds no file
// descriptor. One exchange per thread; only its counters are read by others.
#pragma once

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/bytes.h"
#include "core/ntp_handler.h"
#include "core/ntp_outcome.h"
#include "core/random.h"
#include "keys/published_keyring.h"
#include "server/interleaved.h"
#include "server/log.h"
#include "server/ntp_census.h"
#include "server/rate_limit.h"
#include "server/tx_gap.h"
#include "time/clock_state.h"
#include "time/tx_compensation.h"

namespace ntsd::server {

// Requests by kind and outcome reason, and the rest of the NTP path's counts:
// a snapshot, summed over the exchanges.
struct NtpCounters {
  std::array<std::array<std::uint64_t, core::kReasonCount>, core::kRequestKindCount> requests{};
  // Answered in interleaved mode (RFC 9769), among the answered ones.
  std::uint64_t interleaved = 0;
  // New cookies sent in answered NTS responses.
  std::uint64_t cookies_issued = 0;
  // Kernel transmit timestamps matched to a response, and ones that matched none.
  std::uint64_t tx_timestamps = 0;
  std::uint64_t tx_timestamps_unmatched = 0;
  NtpCensusCounts census;  // what the clients sent (docs/metrics.md)
  // The largest transmit-timestamp compensation an exchange applies now.
  std::int64_t tx_compensation_ns = 0;

  std::uint64_t& at(core::RequestKind kind, core::Reason reason) {
    return requests[static_cast<std::size_t>(kind)][static_cast<std::size_t>(reason)];
  }
  [[nodiscard]] std::uint64_t at(core::RequestKind kind, core::Reason reason) const {
    return requests[static_cast<std::size_t>(kind)][static_cast<std::size_t>(reason)];
  }
  // Over every kind.
  [[nodiscard]] std::uint64_t by_reason(core::Reason reason) const;
  // Over every kind and every reason that sends `sent`.
  [[nodiscard]] std::uint64_t by_sent(core::Sent sent) const;
};

struct NtpExchangeSettings {
  RateLimitSettings rate_limit;  // the default disables it
  // Answer RFC 9769 interleaved requests with the transmit timestamp of the
  // previous response (the kernel's, when transmit_timestamp() brings it).
  bool interleaved = true;
  // Add the running median of the transmit gap to basic-mode transmit
  // timestamps (time/tx_compensation.h; --ntp-tx-compensation).
  bool tx_compensation = true;
};

// What handle() wrote, for the sender and its transmit timestamp plumbing.
struct NtpReply {
  std::size_t length = 0;       // bytes of `out` to send; 0: nothing to send
  core::NtpTimestamp transmit;  // the transmit timestamp saved for this response
  // The clock read it came from: `transmit` less the compensation added.
  core::NtpTimestamp clock_read;
  timesource::InterleavedTable::Handle handle;  // its saved exchange (sequence 0: none)
  // The client is in interleaved mode: its next request names this response,
  // so the kernel's transmit timestamp of it is wanted.
  bool interleaved_client = false;
};

class NtpExchange {
 public:
  NtpExchange(const timesource::PublishedClock& clock, const keys::PublishedKeyring& keyring,
              const NtpExchangeSettings& settings);
  NtpExchange(const NtpExchange&) = delete;
  NtpExchange& operator=(const NtpExchange&) = delete;

  // Takes the keyring and the clock state for the requests that follow: a key
  // rotation or a change of the time source takes effect from the next batch.
  void begin_batch();

  // Serves one request (a UDP payload) from `peer` (AF_INET or AF_INET6),
  // received at `rx_time`. Writes the response into `out`, which must hold
  // core::kMaxNtpPacketLength bytes (a request longer than `out` is dropped as
  // too long), and describes it in `reply`. Counts the outcome. Allocates
  // nothing once warm.
  core::NtpOutcome handle(core::ByteView request, const sockaddr* peer, core::NtpTimestamp rx_time,
                          std::span<std::uint8_t> out, NtpReply& reply);

  // The kernel's transmit timestamp of a response handle() described with
  // `clock_read` and `handle`: feeds the transmit gap statistic and the
  // compensation with the uncompensated gap (kernel minus clock read) and, when
  // plausible, replaces the saved timestamp in the interleaved table.
  void transmit_timestamp(core::NtpTimestamp clock_read,
                          timesource::InterleavedTable::Handle handle, core::NtpTimestamp kernel);
  // A transmit gap measured without a kernel timestamp (the AF_XDP path: clock
  // read to the transmit kick), for the compensation and the gap statistic.
  void measured_gap(std::int64_t gap_ns);
  // A kernel transmit timestamp that matched no response.
  void transmit_timestamp_unmatched();

  // Adds this exchange's counters to `total` (safe from any thread).
  void add_counters(NtpCounters& total) const;
  void add_gap(std::array<std::uint64_t, timesource::GapHistogram::kBuckets>& counts,
               std::uint64_t& negative) const {
    gaps_.add_to(counts, negative);
  }
  // What is added to basic-mode transmit timestamps now, in nanoseconds.
  [[nodiscard]] std::int64_t tx_compensation_ns() const {
    return compensation_ns_.load(std::memory_order_relaxed);
  }

 private:
  void count(core::NtpOutcome outcome);
  void log_reject(core::NtpOutcome outcome, const sockaddr* peer);
  // The interleaved-mode lookup (RFC 9769) for an answered candidate.
  void try_interleaved(const timesource::ClientKey& client);

  timesource::ClockReader clock_reader_;
  keys::KeyringReader keyring_reader_;
  const timesource::ClockState* clock_ = nullptr;  // this batch's, from begin_batch()
  const core::CookieKeyring* keyring_ = nullptr;
  RateLimiter rate_limiter_;
  bool interleaved_;
  timesource::InterleavedTable table_;
  core::BufferedRandom random_;
  core::PendingResponse pending_;
  LogLimiter reject_log_{10.0, 50.0};
  timesource::GapHistogram gaps_;
  timesource::TxCompensation compensation_;
  std::atomic<std::int64_t> compensation_ns_{0};

  std::array<std::array<std::atomic<std::uint64_t>, core::kReasonCount>, core::kRequestKindCount>
      requests_{};
  std::atomic<std::uint64_t> interleaved_answers_{0};
  std::atomic<std::uint64_t> cookies_issued_{0};
  std::atomic<std::uint64_t> tx_timestamps_{0};
  std::atomic<std::uint64_t> tx_unmatched_{0};
  NtpCensus census_;
};

}  // namespace ntsd::server
