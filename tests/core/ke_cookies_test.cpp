// Cookies for NTS-KE responses (core::mint_ke_cookies).
#include "core/ke_cookies.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <vector>

#include "support/deterministic_random.h"

namespace ntsd::core {
namespace {

using test_support::CountingRandom;

Bytes filled(std::size_t length, std::uint8_t value) { return Bytes(length, value); }

StaticCookieKeyring keyring_of(std::initializer_list<std::uint32_t> ids) {
  std::vector<CookieKey> keys;
  for (std::uint32_t id : ids) {
    keys.push_back(*CookieKey::create(CookieKeyId{id}, filled(32, static_cast<std::uint8_t>(id))));
  }
  return StaticCookieKeyring(std::move(keys));
}

NtsKeys session_keys(AeadAlgorithm algorithm) {
  const std::size_t length = aead_key_length(algorithm);
  return *NtsKeys::create(algorithm, filled(length, 0x11), filled(length, 0x22));
}

TEST(KeCookies, EightByDefaultEachOpeningToTheSessionKeys) {
  const auto keyring = keyring_of({7, 6});
  for (AeadAlgorithm algorithm :
       {AeadAlgorithm::AesSivCmac256, AeadAlgorithm::AesSivCmac384, AeadAlgorithm::AesSivCmac512}) {
    const NtsKeys keys = session_keys(algorithm);
    CountingRandom random(0);
    const auto cookies = mint_ke_cookies(keyring, keys, random);
    ASSERT_EQ(cookies.size(), kKeCookiesPerResponse);
    for (const Bytes& cookie : cookies) {
      ASSERT_EQ(cookie.size(), cookie_length(algorithm));
      EXPECT_EQ(load_be32(cookie.data()), 7U);  // sealed with the current key
      const OpenedCookie opened = open_cookie(keyring, cookie);
      ASSERT_TRUE(opened.keys.has_value());
      EXPECT_EQ(opened.keys->algorithm(), algorithm);
      EXPECT_TRUE(std::ranges::equal(opened.keys->c2s(), keys.c2s()));
      EXPECT_TRUE(std::ranges::equal(opened.keys->s2c(), keys.s2c()));
    }
  }
}

TEST(KeCookies, EveryCookieHasItsOwnNonce) {
  const auto keyring = keyring_of({1});
  CountingRandom random(0);
  const auto cookies =
      mint_ke_cookies(keyring, session_keys(AeadAlgorithm::AesSivCmac256), random, 5);
  ASSERT_EQ(cookies.size(), 5U);
  std::set<Bytes> distinct(cookies.begin(), cookies.end());
  EXPECT_EQ(distinct.size(), cookies.size());
}

TEST(KeCookies, CountZeroMintsNone) {
  const auto keyring = keyring_of({1});
  CountingRandom random(0);
  EXPECT_TRUE(
      mint_ke_cookies(keyring, session_keys(AeadAlgorithm::AesSivCmac256), random, 0).empty());
}

}  // namespace
}  // namespace ntsd::core
