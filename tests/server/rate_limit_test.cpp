// The rate limiter on its own: buckets per prefix, refill, kisses, bounded table.
#include "server/rate_limit.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

namespace ntsd::server {
namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

sockaddr_storage address(const std::string& text) {
  sockaddr_storage storage{};
  if (text.find(':') != std::string::npos) {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    v6->sin6_family = AF_INET6;
    EXPECT_EQ(inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr), 1) << text;
  } else {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    v4->sin_family = AF_INET;
    EXPECT_EQ(inet_pton(AF_INET, text.c_str(), &v4->sin_addr), 1) << text;
  }
  return storage;
}

RateVerdict check(RateLimiter& limiter, const std::string& text, std::int64_t now) {
  auto a = address(text);
  return limiter.check(reinterpret_cast<const sockaddr*>(&a), now);
}

RateLimitSettings settings(std::uint32_t rate, std::uint32_t burst, std::uint32_t kiss_every = 0) {
  RateLimitSettings s;
  s.rate = rate;
  s.burst = burst;
  s.ipv4_prefix = 24;
  s.ipv6_prefix = 56;
  s.table_entries = 1024;
  s.kiss_every = kiss_every;
  return s;
}

TEST(RateLimiter, DisabledAllowsEverythingAndAllocatesNothing) {
  RateLimiter limiter(settings(0, 1));
  EXPECT_EQ(limiter.table_entries(), 0U);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(check(limiter, "192.0.2.1", 0), RateVerdict::Allow);
}

TEST(RateLimiter, BurstThenDrop) {
  RateLimiter limiter(settings(1, 5));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(check(limiter, "192.0.2.1", 0), RateVerdict::Allow) << i;
  EXPECT_EQ(check(limiter, "192.0.2.1", 0), RateVerdict::Drop);
  EXPECT_EQ(limiter.counters().dropped.load(), 1U);
}

TEST(RateLimiter, RefillsAtTheRate) {
  RateLimiter limiter(settings(10, 2));
  EXPECT_EQ(check(limiter, "192.0.2.1", 0), RateVerdict::Allow);
  EXPECT_EQ(check(limiter, "192.0.2.1", 0), RateVerdict::Allow);
  EXPECT_EQ(check(limiter, "192.0.2.1", 0), RateVerdict::Drop);
  EXPECT_EQ(check(limiter, "192.0.2.1", kSecond / 20), RateVerdict::Drop);  // half a token
  EXPECT_EQ(check(limiter, "192.0.2.1", kSecond / 10), RateVerdict::Allow);
  // A long silence refills to the burst, not beyond.
  EXPECT_EQ(check(limiter, "192.0.2.1", 100 * kSecond), RateVerdict::Allow);
  EXPECT_EQ(check(limiter, "192.0.2.1", 100 * kSecond), RateVerdict::Allow);
  EXPECT_EQ(check(limiter, "192.0.2.1", 100 * kSecond), RateVerdict::Drop);
}

TEST(RateLimiter, OneBucketPerIpv4Slash24) {
  RateLimiter limiter(settings(1, 1));
  EXPECT_EQ(check(limiter, "192.0.2.1", 0), RateVerdict::Allow);
  EXPECT_EQ(check(limiter, "192.0.2.200", 0), RateVerdict::Drop);  // same /24
  EXPECT_EQ(check(limiter, "192.0.3.1", 0), RateVerdict::Allow);   // next /24
}

TEST(RateLimiter, OneBucketPerIpv6Slash56) {
  RateLimiter limiter(settings(1, 1));
  EXPECT_EQ(check(limiter, "2001:db8:0:100::1", 0), RateVerdict::Allow);
  EXPECT_EQ(check(limiter, "2001:db8:0:1ff::2", 0), RateVerdict::Drop);  // same /56
  EXPECT_EQ(check(limiter, "2001:db8:0:200::1", 0), RateVerdict::Allow);
}

TEST(RateLimiter, MappedIpv4CountsAsIpv4) {
  RateLimiter limiter(settings(1, 1));
  EXPECT_EQ(check(limiter, "192.0.2.1", 0), RateVerdict::Allow);
  EXPECT_EQ(check(limiter, "::ffff:192.0.2.9", 0), RateVerdict::Drop);
}

TEST(RateLimiter, PrefixLengthsAreConfigurable) {
  auto s = settings(1, 1);
  s.ipv4_prefix = 32;
  s.ipv6_prefix = 64;
  RateLimiter limiter(s);
  EXPECT_EQ(check(limiter, "192.0.2.1", 0), RateVerdict::Allow);
  EXPECT_EQ(check(limiter, "192.0.2.2", 0), RateVerdict::Allow);
  EXPECT_EQ(check(limiter, "192.0.2.1", 0), RateVerdict::Drop);
  EXPECT_EQ(check(limiter, "2001:db8::1", 0), RateVerdict::Allow);
  EXPECT_EQ(check(limiter, "2001:db8:0:1::1", 0), RateVerdict::Allow);
  EXPECT_EQ(check(limiter, "2001:db8::ffff", 0), RateVerdict::Drop);
}

TEST(RateLimiter, KissesTheFirstOverLimitRequestThenEveryNth) {
  RateLimiter limiter(settings(1, 1, 4));
  EXPECT_EQ(check(limiter, "192.0.2.1", 0), RateVerdict::Allow);
  std::string verdicts;
  for (int i = 0; i < 9; ++i) {
    verdicts += check(limiter, "192.0.2.1", 0) == RateVerdict::Kiss ? 'K' : 'D';
  }
  EXPECT_EQ(verdicts, "KDDDKDDDK");
  EXPECT_EQ(limiter.counters().kissed.load(), 3U);
  EXPECT_EQ(limiter.counters().dropped.load(), 6U);
}

TEST(RateLimiter, TableIsBoundedAndEvictsTheLeastRecentlySeen) {
  RateLimiter limiter(settings(1, 1));
  const std::size_t entries = limiter.table_entries();
  EXPECT_EQ(entries, 1024U);
  // Far more prefixes than entries: memory stays fixed, each new prefix gets a
  // bucket (reusing old ones).
  for (std::uint32_t i = 0; i < 100000; ++i) {
    sockaddr_in v4{};
    v4.sin_family = AF_INET;
    v4.sin_addr.s_addr = htonl(0x0A000000U + (i << 8));
    EXPECT_EQ(limiter.check(reinterpret_cast<const sockaddr*>(&v4), i), RateVerdict::Allow);
  }
  EXPECT_EQ(limiter.table_entries(), entries);
  EXPECT_GE(limiter.counters().evicted.load(), 100000U - entries);
  // A prefix seen constantly keeps its (empty) bucket against a churn of strangers.
  RateLimiter busy(settings(1, 1));
  EXPECT_EQ(check(busy, "192.0.2.1", 0), RateVerdict::Allow);
  for (std::uint32_t i = 0; i < 3000; ++i) {
    sockaddr_in v4{};
    v4.sin_family = AF_INET;
    v4.sin_addr.s_addr = htonl(0x0A000000U + (i << 8));
    busy.check(reinterpret_cast<const sockaddr*>(&v4), 1);
    if (i % 3 == 0) {
      EXPECT_NE(check(busy, "192.0.2.1", 2), RateVerdict::Allow) << i;
    }
  }
}

TEST(RateLimiter, OtherFamiliesAreNotLimited) {
  RateLimiter limiter(settings(1, 1));
  sockaddr_storage unix_address{};
  unix_address.ss_family = AF_UNIX;
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(limiter.check(reinterpret_cast<const sockaddr*>(&unix_address), 0),
              RateVerdict::Allow);
  }
}

TEST(RateLimiter, DefaultsMatchTheDocumentation) {
  auto ntp = default_ntp_rate_limit();
  EXPECT_EQ(ntp.ipv4_prefix, 24U);
  EXPECT_EQ(ntp.ipv6_prefix, 56U);
  EXPECT_TRUE(ntp.enabled());
  EXPECT_GT(ntp.kiss_every, 1U);
  auto ke = default_ke_rate_limit();
  EXPECT_EQ(ke.ipv4_prefix, 32U);
  EXPECT_EQ(ke.ipv6_prefix, 64U);
  EXPECT_EQ(ke.kiss_every, 0U);
}

}  // namespace
}  // namespace ntsd::server
