// Which receive timestamp a request on the AF_XDP path gets: the driver's, from
// the metadata the XDP program wrote in front of the frame (struct ntsd_xdp_meta,
// xdp_abi.h), where it is there and plausible, else the batch's clock read
// offset by the request's index in the batch.
// Pure: no clock read, no I/O.
#pragma once

#include <cstdint>

#include "core/ntp_packet.h"
#include "xdp/xdp_abi.h"

namespace ntsd::xdp {

enum class RxTimestampOutcome : std::uint8_t {
  Driver,             // the driver's, taken
  NoMetadata,         // no metadata in front of the frame (magic missing)
  DriverError,        // the kfunc failed: -EOPNOTSUPP (driver lacks it), -ENODATA
  DriverZero,         // the kfunc succeeded with 0 (veth without a hardware stamp)
  DriverImplausible,  // not on the system clock: too far from the batch's read
};

struct RxTimestamp {
  core::NtpTimestamp time;
  RxTimestampOutcome outcome;
};

// A driver's timestamp is taken if it is at most kDriverAheadMax after the
// batch's clock read (the batch is read after its frames arrived; 1 ms allows
// for a NIC clock steered to the system clock) and at most kDriverBehindMax
// before it. A NIC clock not kept on the system clock (free-running, or a PTP
// clock on TAI, 37 s ahead) fails and the clock read is used.
inline constexpr std::int64_t kDriverAheadMax = 4294967;                 // 1 ms in 32.32
inline constexpr std::int64_t kDriverBehindMax = std::int64_t{1} << 32;  // 1 s

// The receive timestamp of the `index`-th request of a batch when the clock
// read is used: the batch's one read plus `index` NTP units (2^-32 s, under 8 ns
// for a whole batch). Requests of one batch then never share a receive
// timestamp, so the interleaved table (server/interleaved.h) need not step a
// client's later ones past its earlier ones, a probe per earlier request.
inline core::NtpTimestamp batch_clock_time(core::NtpTimestamp batch_read, std::uint32_t index) {
  return core::NtpTimestamp{batch_read.raw + index};
}

// `clock_time`: this request's clock-read timestamp (batch_clock_time()), taken
// when the driver's is missing or implausible.
RxTimestamp pick_rx_timestamp(const ntsd_xdp_meta& meta, core::NtpTimestamp clock_time);

}  // namespace ntsd::xdp
