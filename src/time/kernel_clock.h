// The `kernel` time source: what the kernel's NTP state (adjtimex/ntp_adjtime,
// which chronyd, ntpd and ptp4l keep up to date) says about the system clock.
// ntsd only reads it (modes = 0) and never changes the clock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "time/clock_state.h"

namespace ntsd::timesource {

struct KernelClockReading {
  int state = 0;         // adjtimex() return value: TIME_OK, TIME_INS, ..., TIME_ERROR
  int status = 0;        // STA_* bits
  long maxerror_us = 0;  // maximum error, microseconds
  long esterror_us = 0;  // estimated error, microseconds
};

struct KernelSettings {
  std::uint8_t stratum = 2;
  core::ReferenceId reference_id{};
  std::int8_t precision = -20;
  double max_error = 1.0;  // seconds: a larger maximum error counts as unsynchronised
  bool answer_when_unsynchronised = true;
};

// Reads the kernel's NTP state without changing anything (modes = 0). nullopt
// with `error` set when the call fails.
std::optional<KernelClockReading> read_kernel_clock(std::string& error);

// Maps a reading to header fields. Unsynchronised (STA_UNSYNC, TIME_ERROR or a
// maximum error past settings.max_error): LI 3, stratum 16. Otherwise the
// configured stratum and reference id, LI from STA_INS/STA_DEL, root dispersion
// = the kernel's maximum error (root delay 0: maxerror already bounds the whole
// distance to the reference), growing at 500 ppm as the kernel grows it.
ClockState map_kernel_clock(const KernelClockReading& reading, const KernelSettings& settings,
                            core::NtpTimestamp now);

// Why a reading counts as unsynchronised ("STA_UNSYNC set", ...), or "" when it does not.
std::string kernel_unsync_reason(const KernelClockReading& reading, const KernelSettings& settings);

}  // namespace ntsd::timesource
