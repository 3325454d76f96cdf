#include "time/precision.h"

#include <cmath>
#include <ctime>
#include <limits>

namespace ntsd::timesource {

std::int8_t precision_from_resolution(double seconds) {
  if (!(seconds > 0.0)) return -32;
  const double exponent = std::ceil(std::log2(seconds));
  if (exponent < -32.0) return -32;
  if (exponent > 0.0) return 0;
  return static_cast<std::int8_t>(exponent);
}

PrecisionMeasurement measure_clock_precision(int samples) {
  long best = std::numeric_limits<long>::max();
  timespec previous{};
  clock_gettime(CLOCK_REALTIME, &previous);
  for (int i = 0; i < samples; ++i) {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    const long diff =
        (now.tv_sec - previous.tv_sec) * 1'000'000'000L + (now.tv_nsec - previous.tv_nsec);
    if (diff > 0 && diff < best) best = diff;
    previous = now;
  }
  timespec resolution{};
  clock_getres(CLOCK_REALTIME, &resolution);
  const long kernel_resolution = resolution.tv_sec * 1'000'000'000L + resolution.tv_nsec;
  if (best == std::numeric_limits<long>::max())
    best = kernel_resolution > 0 ? kernel_resolution : 1000;
  if (kernel_resolution > best) best = kernel_resolution;
  PrecisionMeasurement out;
  out.resolution = static_cast<double>(best) * 1e-9;
  out.precision = precision_from_resolution(out.resolution);
  return out;
}

}  // namespace ntsd::timesource
