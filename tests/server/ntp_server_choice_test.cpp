// How NTS-KE picks the NTP server it hands a client (server::choose_ntp_server).
#include "server/ntp_server_choice.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace ntsd::server {
namespace {

SocketAddress addr(const std::string& text) { return *SocketAddress::parse(text); }

TEST(NtpServerChoice, HashIsStableAndIgnoresThePort) {
  for (std::size_t count : {2U, 3U, 7U}) {
    auto a = choose_ntp_server(ServerChoice::Hash, addr("192.0.2.10:40000"), count, 0);
    EXPECT_LT(a, count);
    EXPECT_EQ(choose_ntp_server(ServerChoice::Hash, addr("192.0.2.10:40001"), count, 5), a);
    EXPECT_EQ(choose_ntp_server(ServerChoice::Hash, addr("192.0.2.10:1"), count, 99), a);
  }
}

TEST(NtpServerChoice, MappedIpv4CountsAsIpv4) {
  for (int i = 0; i < 50; ++i) {
    auto v4 = "198.51.100." + std::to_string(i) + ":123";
    auto mapped = "[::ffff:198.51.100." + std::to_string(i) + "]:123";
    EXPECT_EQ(choose_ntp_server(ServerChoice::Hash, addr(v4), 5, 0),
              choose_ntp_server(ServerChoice::Hash, addr(mapped), 5, 0))
        << v4;
  }
}

TEST(NtpServerChoice, HashSpreadsClientsOverEveryServer) {
  const std::size_t count = 4;
  std::vector<int> hits(count, 0);
  for (int i = 0; i < 400; ++i) {
    auto text = "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":5000";
    ++hits[choose_ntp_server(ServerChoice::Hash, addr(text), count, 0)];
  }
  for (std::size_t i = 0; i < count; ++i) {
    EXPECT_GT(hits[i], 50) << "server " << i;  // 100 expected each
  }
  std::set<std::size_t> v6;
  for (int i = 0; i < 64; ++i) {
    v6.insert(choose_ntp_server(ServerChoice::Hash, addr("[2001:db8::" + std::to_string(i) + "]:1"),
                                count, 0));
  }
  EXPECT_EQ(v6.size(), count);
}

TEST(NtpServerChoice, RoundRobinFollowsTheTurn) {
  auto peer = addr("192.0.2.1:1");
  for (std::uint64_t turn = 0; turn < 9; ++turn) {
    EXPECT_EQ(choose_ntp_server(ServerChoice::RoundRobin, peer, 3, turn), turn % 3);
  }
}

TEST(NtpServerChoice, OneServerIsAlwaysChosen) {
  EXPECT_EQ(choose_ntp_server(ServerChoice::Hash, addr("192.0.2.1:1"), 1, 0), 0U);
  EXPECT_EQ(choose_ntp_server(ServerChoice::RoundRobin, addr("192.0.2.1:1"), 1, 7), 0U);
}

}  // namespace
}  // namespace ntsd::server
