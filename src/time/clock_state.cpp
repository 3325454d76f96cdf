#include "time/clock_state.h"

#include <cmath>

namespace ntsd::timesource {

core::NtpShort to_ntp_short(double seconds) {
  if (!(seconds > 0.0)) return core::NtpShort{0};
  const double scaled = std::ceil(seconds * 65536.0);  // round up: never understate
  if (scaled >= 4294967295.0) return core::NtpShort{0xffffffffU};
  return core::NtpShort{static_cast<std::uint32_t>(scaled)};
}

double from_ntp_short(core::NtpShort value) { return static_cast<double>(value.raw) / 65536.0; }

double seconds_between(core::NtpTimestamp a, core::NtpTimestamp b) {
  return static_cast<double>(core::units_between(a, b)) / 4294967296.0;
}

core::NtpTimestamp add_seconds(core::NtpTimestamp t, double seconds) {
  const auto delta = static_cast<std::int64_t>(std::llround(seconds * 4294967296.0));
  return core::NtpTimestamp{t.raw + static_cast<std::uint64_t>(delta)};
}

core::ServerClock ClockState::at(core::NtpTimestamp now) const {
  core::ServerClock out = clock;
  if (dispersion_rate > 0.0) {
    const double age = seconds_between(measured_at, now);
    if (age > 0.0) {
      out.root_dispersion =
          to_ntp_short(from_ntp_short(clock.root_dispersion) + age * dispersion_rate);
    }
  }
  if (reference_is_now) out.reference_time = core::NtpTimestamp{now.raw & ~0xffffffffULL};
  return out;
}

ClockState unsynchronised_state(std::int8_t precision, bool answer) {
  ClockState state;
  state.clock.leap = core::LeapIndicator::Unsynchronized;
  state.clock.stratum = 16;
  state.clock.precision = precision;
  state.clock.reference_id = core::ReferenceId{};
  state.answer = answer;
  return state;
}

}  // namespace ntsd::timesource
