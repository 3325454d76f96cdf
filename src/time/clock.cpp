#include "time/clock.h"

namespace ntsd::server {

core::NtpTimestamp realtime_now() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return to_ntp(now);
}

}  // namespace ntsd::server
