// Upstream samples at fixed times for the time-source tests: kT0 and what an
// upstream answered some seconds later.
#pragma once

#include <cstdint>

#include "core/ntp_packet.h"
#include "time/clock_state.h"
#include "time/upstream.h"

namespace ntsd::test_support {

inline constexpr core::NtpTimestamp kT0{0xE98CA71000000000ULL};

inline core::NtpTimestamp later(double seconds) { return timesource::add_seconds(kT0, seconds); }

// An answer received `at` seconds after kT0.
inline timesource::UpstreamSample upstream_sample(
    double at, std::uint8_t stratum, double root_delay, double root_dispersion, double delay,
    double offset = 0.0, core::LeapIndicator leap = core::LeapIndicator::NoWarning) {
  timesource::UpstreamSample s;
  s.received_at = later(at);
  s.leap = leap;
  s.stratum = stratum;
  s.root_delay = root_delay;
  s.root_dispersion = root_dispersion;
  s.delay = delay;
  s.offset = offset;
  return s;
}

}  // namespace ntsd::test_support
