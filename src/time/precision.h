// The precision field (RFC 5905 §7.3): log2 seconds of the clock's resolution,
// measured at start as chrony does it: the smallest step seen between reads.
#pragma once

#include <cstdint>

namespace ntsd::timesource {

struct PrecisionMeasurement {
  double resolution = 0.0;    // seconds: smallest non-zero difference between two reads
  std::int8_t precision = 0;  // ceil(log2(resolution))
};

// log2 of `seconds`, rounded up, clamped to [-32, 0].
std::int8_t precision_from_resolution(double seconds);
// Reads CLOCK_REALTIME `samples` times back to back.
PrecisionMeasurement measure_clock_precision(int samples = 2000);

}  // namespace ntsd::timesource
