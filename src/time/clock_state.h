// What a time source says about the system clock, as one immutable snapshot that
// NTP workers read per batch (see published.h). Sans-I/O: no clock reads here.
#pragma once

#include <cstdint>

#include "common/published.h"
#include "core/ntp_handler.h"

namespace ntsd::timesource {

// RFC 5905's PHI: the frequency tolerance by which dispersion grows, 15 ppm.
inline constexpr double kPhi = 15e-6;

// Seconds as 16.16 fixed point, saturating at the largest value the field holds.
core::NtpShort to_ntp_short(double seconds);
double from_ntp_short(core::NtpShort value);
// b - a in seconds (era-safe for differences under 68 years).
double seconds_between(core::NtpTimestamp a, core::NtpTimestamp b);
core::NtpTimestamp add_seconds(core::NtpTimestamp t, double seconds);

struct ClockState {
  // Header fields as measured at `measured_at`; root dispersion grows from there
  // at `dispersion_rate` seconds per second.
  core::ServerClock clock;
  core::NtpTimestamp measured_at;
  double dispersion_rate = 0.0;
  // The reference timestamp is the start of the current second (the `local`
  // source, which is its own reference) instead of clock.reference_time.
  bool reference_is_now = false;
  // False: the clock is unsynchronised and the operator asked for silence
  // (--unsynchronised drop); workers drop every request.
  bool answer = true;

  // The header fields for a response at `now`.
  [[nodiscard]] core::ServerClock at(core::NtpTimestamp now) const;
  [[nodiscard]] bool synchronised() const {
    return clock.leap != core::LeapIndicator::Unsynchronized && clock.stratum < 16;
  }
};

using PublishedClock = Published<ClockState>;
using ClockReader = PublishedReader<ClockState>;

// LI 3, stratum 16 (0 on the wire), reference id 0, precision kept.
ClockState unsynchronised_state(std::int8_t precision, bool answer);

}  // namespace ntsd::timesource
