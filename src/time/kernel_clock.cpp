#include "time/kernel_clock.h"

#include <sys/timex.h>

#include <cerrno>
#include <cstring>

namespace ntsd::timesource {

namespace {
// The kernel adds MAXFREQ (500 ppm) to maxerror every second between updates.
constexpr double kKernelMaxErrorGrowth = 500e-6;
}  // namespace

std::optional<KernelClockReading> read_kernel_clock(std::string& error) {
  struct timex tx {};
  tx.modes = 0;  // read only: never change the clock
  const int state = ::adjtimex(&tx);
  if (state < 0) {
    error = std::string("adjtimex: ") + std::strerror(errno);
    return std::nullopt;
  }
  KernelClockReading reading;
  reading.state = state;
  reading.status = tx.status;
  reading.maxerror_us = tx.maxerror;
  reading.esterror_us = tx.esterror;
  return reading;
}

std::string kernel_unsync_reason(const KernelClockReading& reading,
                                 const KernelSettings& settings) {
  if (reading.status & STA_UNSYNC) return "STA_UNSYNC is set";
  if (reading.state == TIME_ERROR) return "the kernel reports TIME_ERROR";
  const double maxerror = static_cast<double>(reading.maxerror_us) * 1e-6;
  if (maxerror > settings.max_error) {
    return "maximum error " + std::to_string(maxerror) + " s exceeds " +
           std::to_string(settings.max_error) + " s";
  }
  return "";
}

ClockState map_kernel_clock(const KernelClockReading& reading, const KernelSettings& settings,
                            core::NtpTimestamp now) {
  if (!kernel_unsync_reason(reading, settings).empty()) {
    return unsynchronised_state(settings.precision, settings.answer_when_unsynchronised);
  }
  ClockState state;
  state.clock.leap = core::LeapIndicator::NoWarning;
  if (reading.status & STA_INS) state.clock.leap = core::LeapIndicator::InsertSecond;
  if (reading.status & STA_DEL) state.clock.leap = core::LeapIndicator::DeleteSecond;
  state.clock.stratum = settings.stratum;
  state.clock.precision = settings.precision;
  state.clock.reference_id = settings.reference_id;
  state.clock.root_delay = core::NtpShort{0};
  state.clock.root_dispersion = to_ntp_short(static_cast<double>(reading.maxerror_us) * 1e-6);
  // The kernel does not say when its daemon last updated it; the reading is the
  // latest time anything vouched for the clock that we can name.
  state.clock.reference_time = now;
  state.measured_at = now;
  state.dispersion_rate = kKernelMaxErrorGrowth;
  return state;
}

}  // namespace ntsd::timesource
