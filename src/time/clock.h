// The system clock as NTP timestamps: what the NTP server writes when the kernel
// gave no timestamp, and what the time source and upstream polls read.
#pragma once

#include <ctime>

#include "core/ntp_packet.h"

namespace ntsd::server {

// The conversion is the core's (it reads no clock); this header adds the reading.
using core::to_ntp;

core::NtpTimestamp realtime_now();

}  // namespace ntsd::server
