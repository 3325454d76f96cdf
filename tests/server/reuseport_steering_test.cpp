// The SO_REUSEPORT steering program (server/reuseport_steering.h), run here by
// a small interpreter of the classic BPF instructions it uses, and how KE
// threads share max_sessions.
#include "server/reuseport_steering.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "server/ke_server.h"

namespace ntsd::server {
namespace {

// Runs `program` over an IP header; SKF_NET_OFF + n reads its byte n.
std::uint32_t run(const std::vector<sock_filter>& program, const std::vector<std::uint8_t>& ip) {
  std::uint32_t a = 0;
  std::uint32_t x = 0;
  for (const auto& insn : program) {
    switch (insn.code) {
      case BPF_LD | BPF_W | BPF_ABS: {
        const std::uint32_t at = insn.k - static_cast<std::uint32_t>(SKF_NET_OFF);
        EXPECT_LE(at + 4, ip.size());
        a = (std::uint32_t{ip[at]} << 24) | (std::uint32_t{ip[at + 1]} << 16) |
            (std::uint32_t{ip[at + 2]} << 8) | ip[at + 3];
        break;
      }
      // One instruction per line:
      // clang-format off
      case BPF_ALU | BPF_AND | BPF_K: a &= insn.k; break;
      case BPF_ALU | BPF_XOR | BPF_X: a ^= x; break;
      case BPF_ALU | BPF_MUL | BPF_K: a *= insn.k; break;
      case BPF_ALU | BPF_RSH | BPF_K: a >>= insn.k; break;
      case BPF_ALU | BPF_MOD | BPF_K: a %= insn.k; break;
      case BPF_MISC | BPF_TAX: x = a; break;
      case BPF_RET | BPF_A: return a;
      default: ADD_FAILURE() << "unexpected instruction " << insn.code; return ~0u;
        // clang-format on
    }
  }
  ADD_FAILURE() << "no return";
  return ~0u;
}

std::vector<std::uint8_t> ipv4_header(const std::string& source) {
  std::vector<std::uint8_t> header(20);
  header[0] = 0x45;
  inet_pton(AF_INET, source.c_str(), header.data() + 12);
  return header;
}

std::vector<std::uint8_t> ipv6_header(const std::string& source) {
  std::vector<std::uint8_t> header(40);
  header[0] = 0x60;
  inet_pton(AF_INET6, source.c_str(), header.data() + 8);
  return header;
}

TEST(ReuseportSteering, Ipv4AddressesSpreadOverEveryMember) {
  auto program = source_prefix_program(AF_INET, 32, 4);
  std::set<std::uint32_t> seen;
  for (int i = 1; i <= 64; ++i) {
    auto member = run(program, ipv4_header("127.0.1." + std::to_string(i)));
    EXPECT_LT(member, 4U);
    seen.insert(member);
  }
  EXPECT_EQ(seen.size(), 4U);
}

TEST(ReuseportSteering, APrefixAlwaysMeetsTheSameMember) {
  auto v4 = source_prefix_program(AF_INET, 24, 7);
  auto first = run(v4, ipv4_header("192.0.2.1"));
  for (int i = 2; i < 255; ++i) {
    EXPECT_EQ(run(v4, ipv4_header("192.0.2." + std::to_string(i))), first) << i;
  }
  auto v6 = source_prefix_program(AF_INET6, 64, 5);
  auto first6 = run(v6, ipv6_header("2001:db8:1:2::1"));
  EXPECT_EQ(run(v6, ipv6_header("2001:db8:1:2:ffff:1:2:3")), first6);
  std::set<std::uint32_t> seen;
  for (int i = 0; i < 64; ++i) {
    seen.insert(run(v6, ipv6_header("2001:db8:1:" + std::to_string(i) + "::1")));
  }
  EXPECT_EQ(seen.size(), 5U);
}

TEST(ReuseportSteering, PrefixFollowsTheRateLimit) {
  auto limit = default_ke_rate_limit();
  EXPECT_EQ(steering_prefix_bits(limit, AF_INET), 32U);
  EXPECT_EQ(steering_prefix_bits(limit, AF_INET6), limit.ipv6_prefix);
  limit.ipv4_prefix = 24;
  EXPECT_EQ(steering_prefix_bits(limit, AF_INET), 24U);
  limit.rate = 0;  // no limit: the whole address
  EXPECT_EQ(steering_prefix_bits(limit, AF_INET), 32U);
  EXPECT_EQ(steering_prefix_bits(limit, AF_INET6), 128U);
}

TEST(KeThreads, MaxSessionsIsSharedOutAtLeastOneEach) {
  EXPECT_EQ(ke_shard_max_sessions(20, 1), 20U);
  EXPECT_EQ(ke_shard_max_sessions(20, 4), 5U);
  EXPECT_EQ(ke_shard_max_sessions(21, 4), 5U);
  EXPECT_EQ(ke_shard_max_sessions(3, 8), 1U);
  EXPECT_EQ(ke_shard_max_sessions(1, 256), 1U);
}

}  // namespace
}  // namespace ntsd::server
