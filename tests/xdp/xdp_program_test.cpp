// The XDP program itself, run by the kernel on hand-built frames
// (BPF_PROG_TEST_RUN): what it takes for ntsd, what it leaves to the kernel and
// why, and its per-prefix rate limit. Needs CAP_BPF (root); skipped otherwise.
// No socket is registered, so a frame the program takes for ntsd shows as the
// "no_socket" counter and XDP_PASS.
#include "xdp/xdp_program.h"

#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "server/config.h"

namespace ntsd::xdp {
namespace {

using Bytes = std::vector<std::uint8_t>;

struct Ipv4 {
  std::uint8_t source[4];
  std::uint8_t destination[4];
};

Bytes ethernet(unsigned type) {
  Bytes f{0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2};
  f.push_back(static_cast<std::uint8_t>(type >> 8));
  f.push_back(static_cast<std::uint8_t>(type));
  return f;
}

void udp(Bytes& f, unsigned port) {
  const Bytes header{
      0x9c, 0x40, static_cast<std::uint8_t>(port >> 8), static_cast<std::uint8_t>(port), 0, 56,
      0,    0};
  f.insert(f.end(), header.begin(), header.end());
  f.resize(f.size() + 48, 0x23);
}

Bytes ipv4_frame(const Ipv4& a, unsigned port, std::uint8_t protocol = 17,
                 std::uint8_t version_ihl = 0x45, std::uint16_t fragment = 0) {
  Bytes f = ethernet(0x0800);
  Bytes ip{version_ihl,
           0,
           0,
           76,
           0,
           0,
           static_cast<std::uint8_t>(fragment >> 8),
           static_cast<std::uint8_t>(fragment),
           64,
           protocol,
           0,
           0};
  ip.insert(ip.end(), a.source, a.source + 4);
  ip.insert(ip.end(), a.destination, a.destination + 4);
  if (version_ihl == 0x46) ip.insert(ip.end(), {1, 1, 1, 0});
  f.insert(f.end(), ip.begin(), ip.end());
  udp(f, port);
  return f;
}

// From fd00:201:0:SSSS::2 (SSSS = `subnet`) to fd00:201::LL (LL = the last byte).
Bytes ipv6_frame(std::uint8_t last_destination_byte, unsigned port, std::uint8_t next = 17,
                 unsigned subnet = 0) {
  Bytes f = ethernet(0x86dd);
  Bytes ip{0x60, 0, 0, 0, 0, 56, next, 64};
  const Bytes source{0xfd,
                     0,
                     2,
                     1,
                     0,
                     0,
                     static_cast<std::uint8_t>(subnet >> 8),
                     static_cast<std::uint8_t>(subnet),
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     0,
                     2};
  Bytes destination{0xfd, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last_destination_byte};
  ip.insert(ip.end(), source.begin(), source.end());
  ip.insert(ip.end(), destination.begin(), destination.end());
  f.insert(f.end(), ip.begin(), ip.end());
  udp(f, port);
  return f;
}

std::vector<SocketAddress> addresses(std::initializer_list<const char*> texts) {
  std::vector<SocketAddress> out;
  for (const char* text : texts) out.push_back(*SocketAddress::parse(text));
  return out;
}

class XdpProgramTest : public ::testing::Test {
 protected:
  void load(const std::vector<SocketAddress>& listen, server::RateLimitSettings limit = {}) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (CAP_BPF) to load the XDP program";
    object_ = std::make_unique<XdpObject>("test", listen, limit);
  }

  // The program's verdict on `frame` and what it counted.
  std::pair<int, XdpCounterArray> run(const Bytes& frame) {
    const auto before = object_->counters();
    LIBBPF_OPTS(bpf_test_run_opts, options, .data_in = frame.data(),
                .data_size_in = static_cast<__u32>(frame.size()), .repeat = 1);
    EXPECT_EQ(bpf_prog_test_run_opts(object_->program_fd(), &options), 0);
    auto after = object_->counters();
    for (std::size_t i = 0; i < after.size(); ++i) after[i] -= before[i];
    return {static_cast<int>(options.retval), after};
  }

  // Counted as taken for ntsd (and passed: no socket registered).
  bool taken(const Bytes& frame) {
    auto [verdict, counted] = run(frame);
    EXPECT_EQ(verdict, XDP_PASS);
    return counted[NTSD_XDP_PASS_NO_SOCKET] == 1;
  }

  // Passed to the kernel and counted under `counter` only (or nothing at all).
  void passed(const Bytes& frame, int counter) {
    auto [verdict, counted] = run(frame);
    EXPECT_EQ(verdict, XDP_PASS);
    for (int i = 0; i < NTSD_XDP_COUNTER_COUNT; ++i) {
      EXPECT_EQ(counted[i], i == counter ? 1U : 0U) << xdp_counter_name(static_cast<unsigned>(i));
    }
  }

  std::unique_ptr<XdpObject> object_;
};

constexpr Ipv4 kToServer{{10, 201, 1, 2}, {10, 201, 1, 1}};
constexpr int kNone = -1;

TEST_F(XdpProgramTest, TakesUdpToTheListenAddressesOnly) {
  load(addresses({"10.201.1.1:123", "[fd00:201::1]:123"}));
  EXPECT_TRUE(taken(ipv4_frame(kToServer, 123)));
  EXPECT_TRUE(taken(ipv6_frame(1, 123)));
  passed(ipv4_frame(kToServer, 124), kNone);
  passed(ipv4_frame({{10, 201, 1, 2}, {10, 201, 1, 9}}, 123), kNone);
  passed(ipv6_frame(9, 123), kNone);
  passed(ipv4_frame(kToServer, 123, 6), kNone);  // TCP
  passed(ethernet(0x0806), kNone);               // ARP (truncated: still passed)
}

TEST_F(XdpProgramTest, WildcardListenTakesEveryAddressOfItsFamily) {
  load(addresses({"0.0.0.0:123"}));
  EXPECT_TRUE(taken(ipv4_frame({{192, 0, 2, 7}, {10, 9, 8, 7}}, 123)));
  passed(ipv6_frame(1, 123), kNone);
}

TEST_F(XdpProgramTest, LeavesWhatItDoesNotParseToTheKernel) {
  load(addresses({"10.201.1.1:123", "[fd00:201::1]:123"}));
  passed(ipv4_frame(kToServer, 123, 17, 0x46), NTSD_XDP_PASS_IP_OPTIONS);
  passed(ipv4_frame(kToServer, 123, 17, 0x45, 0x2000), NTSD_XDP_PASS_FRAGMENT);  // more fragments
  passed(ipv4_frame(kToServer, 123, 17, 0x45, 0x0010), NTSD_XDP_PASS_FRAGMENT);  // an offset
  for (unsigned next : {0U, 43U, 44U, 60U}) {
    passed(ipv6_frame(1, 123, static_cast<std::uint8_t>(next)), NTSD_XDP_PASS_IPV6_EXT);
  }
  passed(ethernet(0x8100), NTSD_XDP_PASS_VLAN);
}

TEST_F(XdpProgramTest, RateLimitDropsOverTheBurstAndHandsOnOneInKissEvery) {
  server::RateLimitSettings limit;
  limit.rate = 1;  // slow enough that no token comes back during the test
  limit.burst = 4;
  limit.ipv4_prefix = 24;
  limit.kiss_every = 8;
  load(addresses({"10.201.1.1:123"}), limit);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(taken(ipv4_frame(kToServer, 123))) << i;
  // Over the limit: the first of the run goes on to user space (a RATE kiss
  // there), the next seven are dropped here, then again one handed on.
  auto [verdict, counted] = run(ipv4_frame(kToServer, 123));
  EXPECT_EQ(verdict, XDP_PASS);
  EXPECT_EQ(counted[NTSD_XDP_RATE_TO_USER], 1U);
  for (int i = 0; i < 7; ++i) {
    auto [v, c] = run(ipv4_frame({{10, 201, 1, 77}, {10, 201, 1, 1}}, 123));  // same /24
    EXPECT_EQ(v, XDP_DROP) << i;
    EXPECT_EQ(c[NTSD_XDP_DROP_RATE], 1U);
  }
  EXPECT_EQ(run(ipv4_frame(kToServer, 123)).second[NTSD_XDP_RATE_TO_USER], 1U);
  // Another /24 has its own bucket.
  EXPECT_TRUE(taken(ipv4_frame({{10, 201, 2, 2}, {10, 201, 1, 1}}, 123)));
}

TEST_F(XdpProgramTest, Ipv6BucketsArePerPrefix) {
  server::RateLimitSettings limit;
  limit.rate = 1;
  limit.burst = 2;
  limit.ipv6_prefix = 56;
  limit.kiss_every = 0;  // over the limit: everything dropped here
  load(addresses({"[fd00:201::1]:123"}), limit);
  EXPECT_TRUE(taken(ipv6_frame(1, 123, 17, 0x0000)));
  EXPECT_TRUE(taken(ipv6_frame(1, 123, 17, 0x00ff)));  // the same /56
  EXPECT_EQ(run(ipv6_frame(1, 123, 17, 0x0042)).first, XDP_DROP);
  EXPECT_TRUE(taken(ipv6_frame(1, 123, 17, 0x0100)));  // the next /56
}

TEST_F(XdpProgramTest, NoRateLimitWhenDisabled) {
  load(addresses({"10.201.1.1:123"}));
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(taken(ipv4_frame(kToServer, 123))) << i;
}

}  // namespace
}  // namespace ntsd::xdp
