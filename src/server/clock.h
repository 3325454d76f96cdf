// The system clock as NTP timestamps: what the NTP server writes when the kernel
// gave no timestamp, and what the time source and upstream polls read.
#pragma once

#include <ctime>

#include "core/ntp_packet.h"

namespace ntsd::server {

// Seconds between 1900-01-01 (NTP era 0) and 1970-01-01 (Unix epoch).
inline constexpr std::uint64_t kNtpUnixOffset = 2208988800ULL;

core::NtpTimestamp to_ntp(const timespec& unix_time);
core::NtpTimestamp realtime_now();

}  // namespace ntsd::server
