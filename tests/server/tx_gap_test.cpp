#include "server/tx_gap.h"

#include <gtest/gtest.h>

namespace ntsd::timesource {
namespace {

TEST(GapHistogram, MedianAndP99) {
  GapHistogram h;
  for (int i = 0; i < 98; ++i) h.add(2'050);  // 2.05 µs -> bucket (2.0, 2.1]
  h.add(50'000);                              // 50 µs
  h.add(5'000'000);                           // 5 ms
  auto s = h.summary();
  EXPECT_EQ(s.count, 100u);
  EXPECT_NEAR(s.median_seconds, 2.1e-6, 1e-12);
  EXPECT_NEAR(s.p99_seconds, 50.1e-6, 1e-12);
  EXPECT_NEAR(s.max_bucket_seconds, 5.01e-3, 1e-9);
}

TEST(GapHistogram, NegativeAndOverflowAreKeptApart) {
  GapHistogram h;
  h.add(-5);
  h.add(20'000'000);
  auto s = h.summary();
  EXPECT_EQ(s.negative, 1u);
  EXPECT_EQ(s.count, 1u);
  EXPECT_EQ(s.median_seconds, 1.0);
  EXPECT_EQ(GapHistogram().summary().count, 0u);
}

}  // namespace
}  // namespace ntsd::timesource
