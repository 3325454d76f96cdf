// The AF_XDP worker's two frame pools (xdp/umem_frames.h): every frame starts
// free in the pool of its index, a pool runs dry when all its frames are out
// (then the worker counts the request as tx_ring_full), and frames come back
// to their own pool whatever offset the kernel hands back, never beyond it.
#include "xdp/umem_frames.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>

namespace ntsd::xdp {
namespace {

constexpr std::uint32_t kSize = 2048;
constexpr std::uint32_t kFrames = 8;
constexpr std::uint32_t kRequests = 5;

TEST(UmemFrames, EveryFrameStartsFreeInThePoolOfItsIndex) {
  UmemFrames frames(kSize, kFrames, kRequests);
  EXPECT_EQ(frames.free_requests(), kRequests);
  std::set<std::uint64_t> requests;
  while (frames.free_requests() > 0) requests.insert(frames.take_request());
  std::set<std::uint64_t> replies;
  while (auto address = frames.take_reply()) replies.insert(*address);
  EXPECT_EQ(requests, (std::set<std::uint64_t>{0, 2048, 4096, 6144, 8192}));
  EXPECT_EQ(replies, (std::set<std::uint64_t>{10240, 12288, 14336}));
}

TEST(UmemFrames, NoReplyFrameWhenAllAreOutUntilOneComesBack) {
  UmemFrames frames(kSize, kFrames, kRequests);
  for (std::uint32_t i = 0; i < kFrames - kRequests; ++i) ASSERT_TRUE(frames.take_reply());
  EXPECT_FALSE(frames.take_reply().has_value());
  // Requests are unaffected by the reply pool running dry.
  EXPECT_EQ(frames.free_requests(), kRequests);
  frames.give_back(12288 + 14);  // a completion address with an offset into the frame
  EXPECT_EQ(frames.take_reply(), std::optional<std::uint64_t>{12288});
  EXPECT_FALSE(frames.take_reply().has_value());
}

TEST(UmemFrames, FramesGoBackToTheirOwnPool) {
  UmemFrames frames(kSize, kFrames, kRequests);
  while (frames.free_requests() > 0) (void)frames.take_request();
  while (frames.take_reply()) {
  }
  frames.give_back(4096 + 256);  // a request frame off the RX ring, past its headroom
  frames.give_back(10240);       // a reply frame off the completion ring
  EXPECT_EQ(frames.free_requests(), 1U);
  EXPECT_EQ(frames.take_request(), 4096U);
  EXPECT_EQ(frames.take_reply(), std::optional<std::uint64_t>{10240});
  EXPECT_FALSE(frames.take_reply().has_value());
}

TEST(UmemFrames, AFullPoolAndAddressesOutsideTheUmemAreIgnored) {
  UmemFrames frames(kSize, kFrames, kRequests);
  frames.give_back(0);                               // a request frame that never left
  frames.give_back(10240);                           // a reply frame that never left
  frames.give_back(std::uint64_t{kFrames} * kSize);  // one past the UMEM
  frames.give_back(~std::uint64_t{0});
  EXPECT_EQ(frames.free_requests(), kRequests);
  std::uint32_t replies = 0;
  while (frames.take_reply()) ++replies;
  EXPECT_EQ(replies, kFrames - kRequests);
}

}  // namespace
}  // namespace ntsd::xdp
