#include "common/socket_address.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace ntsd::server {
namespace {

TEST(SocketAddress, ParsesIpv4AndBracketedIpv6) {
  struct Case {
    const char* text;
    int family;
    std::uint16_t port;
    const char* host;
  };
  for (const Case& c : {Case{"127.0.0.1:4460", AF_INET, 4460, "127.0.0.1"},
                        Case{"[::1]:123", AF_INET6, 123, "::1"}}) {
    auto address = SocketAddress::parse(c.text);
    ASSERT_TRUE(address) << c.text;
    EXPECT_EQ(address->family(), c.family);
    EXPECT_EQ(address->port(), c.port);
    EXPECT_EQ(address->to_string(), c.text);  // the same text back
    EXPECT_EQ(address->host_string(), c.host);
  }
}

TEST(SocketAddress, AcceptsPortZeroForKernelChoice) {
  auto address = SocketAddress::parse("0.0.0.0:0");
  ASSERT_TRUE(address);
  EXPECT_EQ(address->port(), 0);
}

TEST(SocketAddress, RejectsMalformed) {
  for (const char* text : {"", "127.0.0.1", "127.0.0.1:", ":4460", "localhost:4460", "::1:4460",
                           "[::1]", "[::1]4460", "[::1:4460", "1.2.3.4:65536", "1.2.3.4:-1",
                           "1.2.3.4:44a", "1.2.3.256:1", "[127.0.0.1]:1"}) {
    EXPECT_FALSE(SocketAddress::parse(text)) << text;
  }
}

}  // namespace
}  // namespace ntsd::server
