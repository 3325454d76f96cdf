#include "xdp/rx_timestamp.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <ctime>
#include <initializer_list>

namespace ntsd::xdp {
namespace {

constexpr std::uint64_t kSecond = std::uint64_t{1} << 32;
// 2026-11-29 12:00:00 UTC, the batch's clock read.
constexpr std::uint64_t kUnixNow = 1795953600;
const core::NtpTimestamp kBatch{(kUnixNow + core::kNtpUnixOffset) << 32};

ntsd_xdp_meta meta_of(std::uint64_t ns, std::int32_t error = 0) {
  ntsd_xdp_meta meta{};
  meta.rx_timestamp_ns = ns;
  meta.error = error;
  meta.magic = NTSD_XDP_META_MAGIC;
  return meta;
}

TEST(RxTimestamp, DriverStampShortlyBeforeTheBatchIsTaken) {
  // 250 µs before the batch was read.
  const auto picked = pick_rx_timestamp(meta_of(kUnixNow * 1'000'000'000 - 250'000), kBatch);
  EXPECT_EQ(picked.outcome, RxTimestampOutcome::Driver);
  const auto behind = static_cast<std::int64_t>(kBatch.raw - picked.time.raw);
  EXPECT_NEAR(static_cast<double>(behind) / kSecond, 250e-6, 1e-9);
}

TEST(RxTimestamp, WithoutMagicTheMetadataIsNotThere) {
  auto meta = meta_of(kUnixNow * 1'000'000'000);
  meta.magic = 0;
  const auto picked = pick_rx_timestamp(meta, kBatch);
  EXPECT_EQ(picked.outcome, RxTimestampOutcome::NoMetadata);
  EXPECT_EQ(picked.time, kBatch);
}

TEST(RxTimestamp, DriverErrorsAndZeroFallBackToTheClockRead) {
  for (int error : {-EOPNOTSUPP, -ENODATA}) {
    const auto picked = pick_rx_timestamp(meta_of(0, error), kBatch);
    EXPECT_EQ(picked.outcome, RxTimestampOutcome::DriverError);
    EXPECT_EQ(picked.time, kBatch);
  }
  const auto zero = pick_rx_timestamp(meta_of(0), kBatch);
  EXPECT_EQ(zero.outcome, RxTimestampOutcome::DriverZero);
  EXPECT_EQ(zero.time, kBatch);
}

TEST(RxTimestamp, ClocksNotOnTheSystemClockAreRefused) {
  const std::uint64_t now_ns = kUnixNow * 1'000'000'000;
  // A PTP clock on TAI (37 s ahead), a free-running one (seconds since boot),
  // 2 ms after the read, 2 s before it.
  for (std::uint64_t ns : std::initializer_list<std::uint64_t>{
           now_ns + 37'000'000'000, 12'345'000'000, now_ns + 2'000'000, now_ns - 2'000'000'000}) {
    const auto picked = pick_rx_timestamp(meta_of(ns), kBatch);
    EXPECT_EQ(picked.outcome, RxTimestampOutcome::DriverImplausible) << ns;
    EXPECT_EQ(picked.time, kBatch);
  }
  // Within the bounds: 0.5 ms after the read, 0.9 s before it.
  EXPECT_EQ(pick_rx_timestamp(meta_of(now_ns + 500'000), kBatch).outcome,
            RxTimestampOutcome::Driver);
  EXPECT_EQ(pick_rx_timestamp(meta_of(now_ns - 900'000'000), kBatch).outcome,
            RxTimestampOutcome::Driver);
}

TEST(RxTimestamp, ClockReadTimestampsOfOneBatchAreDistinct) {
  // One clock read per batch; each request's receive timestamp is offset by its
  // index, one NTP unit each, so the batch's requests never share one.
  for (std::uint32_t i = 0; i < 64; ++i) {
    EXPECT_EQ(batch_clock_time(kBatch, i).raw, kBatch.raw + i);
  }
  EXPECT_LT(batch_clock_time(kBatch, 0), batch_clock_time(kBatch, 1));
  // Without a usable driver timestamp the offset clock read is taken as given;
  // a driver's timestamp is taken without any offset.
  const auto clock_time = batch_clock_time(kBatch, 7);
  EXPECT_EQ(pick_rx_timestamp(meta_of(0), clock_time).time, clock_time);
  const std::uint64_t driver_ns = kUnixNow * 1'000'000'000 - 250'000;
  EXPECT_EQ(pick_rx_timestamp(meta_of(driver_ns), clock_time).time,
            pick_rx_timestamp(meta_of(driver_ns), kBatch).time);
}

}  // namespace
}  // namespace ntsd::xdp
