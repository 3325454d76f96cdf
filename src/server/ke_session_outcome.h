// How an NTS-KE connection ended: one value per accepted connection, read by the
// counters, the metrics (ntsd_ke_sessions_total{outcome}), the summary line and
// the shutdown log.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/duration_histogram.h"
#include "server/ke_census.h"

namespace ntsd::server {

enum class KeSessionOutcome : std::uint8_t {
  Ok,                 // cookies sent
  TlsFailed,          // no TLS 1.3 handshake
  NoAlpn,             // the client did not offer ntske/1
  BadRequest,         // answered with Error 0 or 1
  NegotiationFailed,  // no common protocol or AEAD: answered without cookies
  InternalError,      // answered with Error 2: our side failed (key export)
  Timeout,            // handshake or request not done within the timeout
  ClosedEarly,        // the client left before a whole request
  Evicted,            // closed while waiting for its request, to admit a newer connection
  RefusedBusy,        // max_sessions open and none of them waiting
  RateLimited,        // over the per-address connection rate limit
};

inline constexpr std::size_t kKeSessionOutcomeCount =
    static_cast<std::size_t>(KeSessionOutcome::RateLimited) + 1;

// The metric label value, also used in logs: "ok", "bad_request", ...
std::string_view ke_session_outcome_name(KeSessionOutcome outcome);

// Sessions that ended, by outcome, and connections accepted: a plain snapshot.
struct KeSessionCounts {
  std::uint64_t accepted = 0;
  std::array<std::uint64_t, kKeSessionOutcomeCount> ended{};

  std::uint64_t& operator[](KeSessionOutcome o) { return ended[static_cast<std::size_t>(o)]; }
  std::uint64_t operator[](KeSessionOutcome o) const { return ended[static_cast<std::size_t>(o)]; }
  bool operator==(const KeSessionCounts&) const = default;
};

// What happened between two snapshots of the same counters.
KeSessionCounts operator-(const KeSessionCounts& now, const KeSessionCounts& before);

// "12 accepted, 10 ok, 1 bad_request, 1 timeout": accepted and ok always, the
// other outcomes when not zero, in enum order.
std::string describe(const KeSessionCounts& counts);

// The live counters, written by every KE thread (relaxed atomics).
struct KeServerCounters {
  std::atomic<std::uint64_t> accepted{0};
  std::array<std::atomic<std::uint64_t>, kKeSessionOutcomeCount> ended{};
  std::atomic<std::uint64_t> active{0};  // sessions open now
  // From accept to the end of a successful TLS handshake (failed ones are not timed).
  DurationHistogram handshake;
  KeCensus census;  // what the clients sent and spoke (docs/metrics.md)

  void count(KeSessionOutcome outcome) {
    ended[static_cast<std::size_t>(outcome)].fetch_add(1, std::memory_order_relaxed);
  }
  [[nodiscard]] KeSessionCounts sessions() const;
};

}  // namespace ntsd::server
