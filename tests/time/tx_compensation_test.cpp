#include "time/tx_compensation.h"

#include <gtest/gtest.h>

namespace ntsd::timesource {
namespace {

TEST(TxCompensation, ZeroBeforeTheFirstGap) {
  TxCompensation c;
  EXPECT_EQ(c.nanoseconds(), 0);
  EXPECT_EQ(c.ntp_units(), 0U);
}

TEST(TxCompensation, OffNeverMoves) {
  TxCompensation c(false);
  for (int i = 0; i < 40; ++i) c.add_gap(5'000);
  EXPECT_FALSE(c.enabled());
  EXPECT_EQ(c.nanoseconds(), 0);
  EXPECT_EQ(c.ntp_units(), 0U);
}

TEST(TxCompensation, MedianNotMean) {
  TxCompensation c;
  // Outliers on both sides do not move the median of the window.
  for (std::int64_t gap : {3'000, 4'000, 900'000, 5'000, 4'500, 100, 4'200}) c.add_gap(gap);
  EXPECT_EQ(c.nanoseconds(), 4'200);
  // 4.2 µs in 2^-32 s units, truncated.
  EXPECT_EQ(c.ntp_units(), (std::uint64_t{4'200} << 32) / 1'000'000'000U);
}

TEST(TxCompensation, FollowsTheLastWindowOnly) {
  TxCompensation c;
  for (std::size_t i = 0; i < TxCompensation::kWindow; ++i) c.add_gap(2'000);
  EXPECT_EQ(c.nanoseconds(), 2'000);
  // Half a window of larger gaps is not yet a majority...
  for (std::size_t i = 0; i < TxCompensation::kWindow / 2; ++i) c.add_gap(8'000);
  EXPECT_EQ(c.nanoseconds(), 2'000);
  // ...one more is.
  c.add_gap(8'000);
  EXPECT_EQ(c.nanoseconds(), 8'000);
}

TEST(TxCompensation, BoundedAbove) {
  TxCompensation c;
  for (int i = 0; i < 20; ++i) c.add_gap(3'000'000);
  EXPECT_EQ(c.nanoseconds(), TxCompensation::kMaxNs);
  EXPECT_EQ(c.ntp_units(), (std::uint64_t{TxCompensation::kMaxNs} << 32) / 1'000'000'000U);
}

TEST(TxCompensation, NegativeGapsIgnored) {
  TxCompensation c;
  c.add_gap(6'000);
  for (int i = 0; i < 20; ++i) c.add_gap(-50'000);
  EXPECT_EQ(c.nanoseconds(), 6'000);
}

}  // namespace
}  // namespace ntsd::timesource
