#include "common/socket_address.h"

#include <gtest/gtest.h>

namespace ntsd::server {
namespace {

TEST(SocketAddress, ParsesIpv4) {
  auto address = SocketAddress::parse("127.0.0.1:4460");
  ASSERT_TRUE(address);
  EXPECT_EQ(address->family(), AF_INET);
  EXPECT_EQ(address->port(), 4460);
  EXPECT_EQ(address->to_string(), "127.0.0.1:4460");
}

TEST(SocketAddress, ParsesBracketedIpv6) {
  auto address = SocketAddress::parse("[::1]:123");
  ASSERT_TRUE(address);
  EXPECT_EQ(address->family(), AF_INET6);
  EXPECT_EQ(address->port(), 123);
  EXPECT_EQ(address->to_string(), "[::1]:123");
  EXPECT_EQ(address->host_string(), "::1");
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
