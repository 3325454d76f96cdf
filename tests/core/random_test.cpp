#include "core/random.h"

#include <gtest/gtest.h>

#include <array>
#include <set>
#include <vector>

namespace ntsd::core {
namespace {

TEST(BufferedRandom, DrawsNeverRepeatAcrossBlocks) {
  // 1000 draws of 16 bytes cross several 4 KiB blocks; a repeat would mean the
  // buffer handed out the same bytes twice.
  BufferedRandom random;
  std::set<std::array<std::uint8_t, 16>> seen;
  for (int i = 0; i < 1000; ++i) {
    std::array<std::uint8_t, 16> nonce{};
    random.fill(nonce);
    EXPECT_TRUE(seen.insert(nonce).second) << "draw " << i << " repeated";
  }
}

TEST(BufferedRandom, FillsLargerThanABlockAndEmptyFills) {
  BufferedRandom random;
  std::array<std::uint8_t, 3> small{};
  random.fill(small);  // leaves the block partly used
  std::vector<std::uint8_t> large(10000, 0);
  random.fill(large);
  random.fill(std::span<std::uint8_t>{});
  // 10000 bytes from a CSPRNG: all 256 values occur (failure chance ~ 256 * e^-39).
  std::set<std::uint8_t> values(large.begin(), large.end());
  EXPECT_EQ(values.size(), 256U);
  // The tail (from a refilled block) is not the head again.
  EXPECT_FALSE(std::equal(large.begin(), large.begin() + 64, large.begin() + 4096));
}

}  // namespace
}  // namespace ntsd::core
