#include "server/rate_limit.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <ctime>

#include "core/bytes.h"
#include "core/random.h"
#include "server/peer_address.h"

namespace ntsd::server {

namespace {

constexpr std::int64_t kNanosPerSecond = 1'000'000'000;

// The leading `bits` of a 64-bit big-endian value, the rest zero.
std::uint64_t masked(std::uint64_t value, unsigned bits) {
  if (bits >= 64) return value;
  if (bits == 0) return 0;
  return value & ~((std::uint64_t{1} << (64 - bits)) - 1);
}

}  // namespace

RateLimiter::RateLimiter(const RateLimitSettings& settings) : settings_(settings) {
  settings_.ipv4_prefix = std::clamp(settings_.ipv4_prefix, 1U, 32U);
  settings_.ipv6_prefix = std::clamp(settings_.ipv6_prefix, 1U, 64U);
  settings_.burst = std::max<std::uint32_t>(settings_.burst, 1);
  if (!settings_.enabled()) return;
  std::size_t sets = std::bit_ceil(std::max<std::size_t>(settings_.table_entries / kWays, 1));
  entries_.resize(sets * kWays);
  set_mask_ = sets - 1;
  core::SystemRandom random;
  std::array<std::uint8_t, 8> key{};
  random.fill(key);
  hash_key_ = core::load_be64(key.data());
}

RateLimiter::~RateLimiter() = default;

std::int64_t RateLimiter::monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * kNanosPerSecond + ts.tv_nsec;
}

RateVerdict RateLimiter::check(const sockaddr* peer) {
  if (!settings_.enabled()) return RateVerdict::Allow;
  return check(peer, monotonic_ns());
}

RateVerdict RateLimiter::check(const sockaddr* peer, std::int64_t now_ns) {
  if (!settings_.enabled() || peer == nullptr) return RateVerdict::Allow;
  const auto address = peer_address_bytes(peer);
  if (address.empty()) return RateVerdict::Allow;
  // IPv4 (mapped or not) keeps its leading ipv4_prefix bits, IPv6 its leading ipv6_prefix.
  const auto family = static_cast<std::uint8_t>(address.size() == 4 ? 4 : 6);
  const std::uint64_t prefix =
      family == 4
          ? masked(std::uint64_t{core::load_be32(address.data())} << 32, settings_.ipv4_prefix)
          : masked(core::load_be64(address.data()), settings_.ipv6_prefix);

  const std::size_t set =
      static_cast<std::size_t>(mix64(prefix ^ hash_key_ ^ (std::uint64_t{family} << 1))) &
      set_mask_;
  Entry* ways = &entries_[set * kWays];
  Entry* entry = nullptr;
  Entry* oldest = &ways[0];
  for (std::size_t i = 0; i < kWays; ++i) {
    Entry& candidate = ways[i];
    if (candidate.family == family && candidate.prefix == prefix) {
      entry = &candidate;
      break;
    }
    if (candidate.family == 0) {
      if (oldest->family != 0) oldest = &candidate;
    } else if (oldest->family != 0 && candidate.last_ns < oldest->last_ns) {
      oldest = &candidate;
    }
  }
  if (entry == nullptr) {
    // A prefix not seen lately: the least recently seen bucket of its set is
    // reused, starting full.
    if (oldest->family != 0) counters_.evicted.fetch_add(1, std::memory_order_relaxed);
    entry = oldest;
    entry->family = family;
    entry->prefix = prefix;
    entry->tokens = static_cast<float>(settings_.burst);
    entry->over = 0;
    entry->last_ns = now_ns;
  }

  const auto burst = static_cast<double>(settings_.burst);
  if (now_ns > entry->last_ns) {
    const double elapsed = static_cast<double>(now_ns - entry->last_ns) / kNanosPerSecond;
    const double refill = elapsed * settings_.rate;
    entry->tokens = static_cast<float>(std::min(burst, entry->tokens + refill));
    entry->last_ns = now_ns;
  }
  if (entry->tokens >= 1.0F) {
    entry->tokens -= 1.0F;
    entry->over = 0;
    return RateVerdict::Allow;
  }
  const std::uint32_t run = entry->over++;
  if (settings_.kiss_every != 0 && run % settings_.kiss_every == 0) {
    counters_.kissed.fetch_add(1, std::memory_order_relaxed);
    return RateVerdict::Kiss;
  }
  counters_.dropped.fetch_add(1, std::memory_order_relaxed);
  return RateVerdict::Drop;
}

RateLimitSettings default_ntp_rate_limit() {
  RateLimitSettings s;
  s.rate = 16;
  s.burst = 64;
  s.ipv4_prefix = 24;
  s.ipv6_prefix = 56;
  s.table_entries = 1 << 16;
  s.kiss_every = 8;
  return s;
}

RateLimitSettings default_ke_rate_limit() {
  RateLimitSettings s;
  s.rate = 4;
  s.burst = 32;
  s.ipv4_prefix = 32;
  s.ipv6_prefix = 64;
  s.table_entries = 1 << 14;
  s.kiss_every = 0;
  return s;
}

}  // namespace ntsd::server
