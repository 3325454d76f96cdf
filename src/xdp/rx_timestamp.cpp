#include "xdp/rx_timestamp.h"

#include <ctime>

namespace ntsd::xdp {

RxTimestamp pick_rx_timestamp(const ntsd_xdp_meta& meta, core::NtpTimestamp clock_time) {
  if (meta.magic != NTSD_XDP_META_MAGIC) return {clock_time, RxTimestampOutcome::NoMetadata};
  if (meta.error != 0) return {clock_time, RxTimestampOutcome::DriverError};
  if (meta.rx_timestamp_ns == 0) return {clock_time, RxTimestampOutcome::DriverZero};
  const timespec unix_time{static_cast<time_t>(meta.rx_timestamp_ns / 1'000'000'000U),
                           static_cast<long>(meta.rx_timestamp_ns % 1'000'000'000U)};
  const core::NtpTimestamp driver = core::to_ntp(unix_time);
  const std::int64_t behind = core::units_between(driver, clock_time);
  if (behind < -kDriverAheadMax || behind > kDriverBehindMax) {
    return {clock_time, RxTimestampOutcome::DriverImplausible};
  }
  return {driver, RxTimestampOutcome::Driver};
}

}  // namespace ntsd::xdp
