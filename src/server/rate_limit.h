// Per-client rate limiting with bounded memory: a token bucket per address
// prefix, kept in a fixed-size table (no allocation after construction).
//
// Used by the NTP workers (one table per worker, prefixes /24 and /56 by default)
// and by the NTS-KE server (one table, per address). Single-threaded: each owner
// has its own.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace ntsd::server {

struct RateLimitSettings {
  // Tokens (requests) added per second to a prefix's bucket; 0 disables limiting.
  std::uint32_t rate = 0;
  // Bucket depth: requests a prefix may send at once after being quiet.
  std::uint32_t burst = 1;
  // Addresses sharing this many leading bits share a bucket.
  unsigned ipv4_prefix = 32;  // 1-32
  unsigned ipv6_prefix = 64;  // 1-64
  // Buckets in the table (rounded up to a power of two, at least one set).
  std::size_t table_entries = 1 << 16;
  // Over the limit, one request in `kiss_every` (the first of a run, then every
  // kiss_every-th) is answered with a rate kiss; the others are dropped. 0: never.
  std::uint32_t kiss_every = 0;

  [[nodiscard]] bool enabled() const { return rate > 0; }
};

enum class RateVerdict : std::uint8_t {
  Allow,  // under the limit: serve normally
  Kiss,   // over the limit: answer with a rate kiss-o'-death (NTP) if possible
  Drop,   // over the limit: no answer
};

struct RateLimitCounters {
  std::atomic<std::uint64_t> dropped{0};
  std::atomic<std::uint64_t> kissed{0};
  std::atomic<std::uint64_t> evicted{0};  // buckets reused for another prefix
};

class RateLimiter {
 public:
  explicit RateLimiter(const RateLimitSettings& settings);
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // The verdict for one request from `peer` (AF_INET or AF_INET6; IPv4-mapped
  // IPv6 addresses count as IPv4) at monotonic time `now_ns`. Other families and
  // a disabled limiter always get Allow.
  RateVerdict check(const sockaddr* peer, std::int64_t now_ns);
  // Same, reading CLOCK_MONOTONIC_COARSE.
  RateVerdict check(const sockaddr* peer);

  [[nodiscard]] const RateLimitSettings& settings() const { return settings_; }
  [[nodiscard]] const RateLimitCounters& counters() const { return counters_; }
  [[nodiscard]] std::size_t table_entries() const { return entries_.size(); }

  // A monotonic clock in nanoseconds (CLOCK_MONOTONIC_COARSE).
  static std::int64_t monotonic_ns();

 private:
  struct Entry {
    std::uint64_t prefix = 0;
    std::int64_t last_ns = 0;
    float tokens = 0;
    std::uint32_t over = 0;   // requests over the limit since the bucket last had a token
    std::uint8_t family = 0;  // 0: empty
  };
  static constexpr std::size_t kWays = 4;

  RateLimitSettings settings_;
  std::vector<Entry> entries_;  // sets of kWays entries, allocated once
  std::size_t set_mask_ = 0;
  std::uint64_t hash_key_ = 0;  // secret, so that a client cannot aim at one set
  RateLimitCounters counters_;
};

// The NTP rate limit defaults: per /24 and /56, 16 requests per second, bursts
// of 64, a RATE kiss for one dropped request in 8.
RateLimitSettings default_ntp_rate_limit();
// The NTS-KE connection rate limit defaults: per address (/32, /64), 4 new
// connections per second, bursts of 32, never a kiss (TLS has none).
RateLimitSettings default_ke_rate_limit();

}  // namespace ntsd::server
