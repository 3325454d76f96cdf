#include "server/clock.h"

namespace ntsd::server {

core::NtpTimestamp to_ntp(const timespec& unix_time) {
  // Era-relative: the seconds wrap modulo 2^32 as RFC 5905 specifies.
  auto seconds = static_cast<std::uint64_t>(unix_time.tv_sec) + kNtpUnixOffset;
  auto fraction = (static_cast<std::uint64_t>(unix_time.tv_nsec) << 32) / 1'000'000'000ULL;
  return core::NtpTimestamp{(seconds << 32) | (fraction & 0xffffffffULL)};
}

core::NtpTimestamp realtime_now() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return to_ntp(now);
}

}  // namespace ntsd::server
