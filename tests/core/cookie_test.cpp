// NTS cookies (RFC 8915 §6) and the NtsKeys they carry.
#include "core/cookie.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "core/nts_keys.h"
#include "support/deterministic_random.h"
#include "support/test_bytes.h"

namespace ntsd::core {
namespace {

using test_support::counting;
using test_support::CountingRandom;

constexpr AeadAlgorithm kAll[] = {AeadAlgorithm::AesSivCmac256, AeadAlgorithm::AesSivCmac384,
                                  AeadAlgorithm::AesSivCmac512};

const Bytes kMasterA = counting(0x01, 32);
const Bytes kMasterB = counting(0x41, 32);

CookieKey cookie_key(std::uint32_t id, const Bytes& bytes) {
  auto key = CookieKey::create(CookieKeyId{id}, bytes);
  EXPECT_TRUE(key.has_value());
  return std::move(*key);
}

StaticCookieKeyring ring(std::uint32_t id, const Bytes& bytes) {
  std::vector<CookieKey> keys;
  keys.push_back(cookie_key(id, bytes));
  return StaticCookieKeyring(std::move(keys));
}

NtsKeys nts_keys(AeadAlgorithm algorithm, std::uint8_t seed = 0x10) {
  const std::size_t length = aead_key_length(algorithm);
  auto keys = NtsKeys::create(algorithm, counting(seed, length),
                              counting(static_cast<std::uint8_t>(seed + 0x80), length));
  EXPECT_TRUE(keys.has_value());
  return *keys;
}

Bytes mint(const CookieKey& key, const NtsKeys& keys, std::uint8_t random_start = 0x80) {
  CountingRandom random(random_start);
  Bytes cookie(cookie_length(keys.algorithm()), 0xee);
  seal_cookie(key, keys, random, cookie);
  return cookie;
}

bool same_keys(const NtsKeys& a, const NtsKeys& b) {
  return a.algorithm() == b.algorithm() && std::ranges::equal(a.c2s(), b.c2s()) &&
         std::ranges::equal(a.s2c(), b.s2c());
}

// Builds a cookie by hand, sealed with `key`, around an arbitrary plaintext.
Bytes forge(const CookieKey& key, std::uint32_t id_on_wire, ByteView plaintext) {
  Bytes cookie(kCookieKeyIdLength + kCookieNonceLength + kAeadTagLength + plaintext.size());
  store_be32(cookie.data(), id_on_wire);
  const Bytes nonce = counting(0x70, kCookieNonceLength);
  std::copy(nonce.begin(), nonce.end(), cookie.begin() + kCookieKeyIdLength);
  key.aead().seal(nonce, ByteView(cookie).first(kCookieKeyIdLength), plaintext,
                  cookie.data() + kCookieKeyIdLength + kCookieNonceLength);
  return cookie;
}

// ---------------------------------------------------------------------------------------
// NtsKeys.

TEST(NtsKeys, CreateAcceptsMatchingLengths) {
  for (auto algorithm : kAll) {
    const std::size_t length = aead_key_length(algorithm);
    const Bytes c2s = counting(0x01, length);
    const Bytes s2c = counting(0xa1, length);
    auto keys = NtsKeys::create(algorithm, c2s, s2c);
    ASSERT_TRUE(keys.has_value());
    EXPECT_EQ(keys->algorithm(), algorithm);
    EXPECT_TRUE(std::ranges::equal(keys->c2s(), c2s));
    EXPECT_TRUE(std::ranges::equal(keys->s2c(), s2c));
    const NtsKeys copy = *keys;
    EXPECT_TRUE(same_keys(copy, *keys));
  }
}

TEST(NtsKeys, CreateRejectsWrongLengths) {
  for (auto algorithm : kAll) {
    const std::size_t good = aead_key_length(algorithm);
    for (std::size_t bad : {std::size_t{0}, good - 1, good + 1, std::size_t{16}}) {
      EXPECT_FALSE(NtsKeys::create(algorithm, Bytes(bad, 1), Bytes(good, 2)).has_value());
      EXPECT_FALSE(NtsKeys::create(algorithm, Bytes(good, 1), Bytes(bad, 2)).has_value());
      EXPECT_FALSE(NtsKeys::create(algorithm, Bytes(bad, 1), Bytes(bad, 2)).has_value());
    }
  }
  EXPECT_FALSE(NtsKeys::create(static_cast<AeadAlgorithm>(31), Bytes(16, 1), Bytes(16, 2)));
  EXPECT_FALSE(NtsKeys::create(AeadAlgorithm::AesGcmSiv128, Bytes(32, 1), Bytes(32, 2)));
  EXPECT_TRUE(NtsKeys::create(AeadAlgorithm::AesGcmSiv128, Bytes(16, 1), Bytes(16, 2)));
}

// ---------------------------------------------------------------------------------------
// Lengths and keys.

TEST(CookieLength, FollowsTheLayout) {
  EXPECT_EQ(cookie_length(AeadAlgorithm::AesSivCmac256), 4U + 16U + 16U + 4U + 64U);
  EXPECT_EQ(cookie_length(AeadAlgorithm::AesSivCmac384), 4U + 16U + 16U + 4U + 96U);
  EXPECT_EQ(cookie_length(AeadAlgorithm::AesSivCmac512), 4U + 16U + 16U + 4U + 128U);
  EXPECT_EQ(max_cookie_length(), 168U);
  // chrony 4.3 refuses cookies whose length is not a multiple of 4.
  for (auto algorithm : kAll) EXPECT_EQ(cookie_length(algorithm) % 4, 0U) << aead_name(algorithm);
  // AEAD 30: two 16-byte keys.
  EXPECT_EQ(cookie_length(AeadAlgorithm::AesGcmSiv128), 4U + 16U + 16U + 4U + 32U);
  EXPECT_EQ(cookie_length(AeadAlgorithm::AesGcmSiv128) % 4, 0U);
  EXPECT_EQ(cookie_length(static_cast<AeadAlgorithm>(31)), 0U);
}

TEST(CookieKey, NeedsA32ByteKey) {
  for (std::size_t length : {0, 1, 16, 31, 33, 48, 64}) {
    EXPECT_FALSE(CookieKey::create(CookieKeyId{1}, Bytes(length, 7)).has_value()) << length;
  }
  auto key = CookieKey::create(CookieKeyId{0xdeadbeef}, Bytes(32, 7));
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->id(), CookieKeyId{0xdeadbeef});
  EXPECT_EQ(key->aead().algorithm(), kCookieAead);
}

TEST(StaticCookieKeyring, FirstKeyIsCurrentAndFindMatchesIds) {
  std::vector<CookieKey> keys;
  keys.push_back(cookie_key(7, kMasterA));
  keys.push_back(cookie_key(9, kMasterB));
  const StaticCookieKeyring keyring(std::move(keys));
  EXPECT_EQ(keyring.current().id(), CookieKeyId{7});
  ASSERT_NE(keyring.find(CookieKeyId{9}), nullptr);
  EXPECT_EQ(keyring.find(CookieKeyId{9})->id(), CookieKeyId{9});
  EXPECT_EQ(keyring.find(CookieKeyId{7}), &keyring.current());
  EXPECT_EQ(keyring.find(CookieKeyId{8}), nullptr);
}

TEST(StaticCookieKeyring, RejectsEmptyAndDuplicateIds) {
  EXPECT_THROW(StaticCookieKeyring(std::vector<CookieKey>{}), std::invalid_argument);
  std::vector<CookieKey> keys;
  keys.push_back(cookie_key(7, kMasterA));
  keys.push_back(cookie_key(7, kMasterB));
  EXPECT_THROW(StaticCookieKeyring(std::move(keys)), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------
// Sealing and opening.

TEST(Cookie, RoundTripsForEveryAlgorithm) {
  const auto keyring = ring(0x01020304, kMasterA);
  for (auto algorithm : kAll) {
    const NtsKeys keys = nts_keys(algorithm);
    const Bytes cookie = mint(keyring.current(), keys);
    ASSERT_EQ(cookie.size(), cookie_length(algorithm));
    const OpenedCookie opened = open_cookie(keyring, cookie);
    ASSERT_TRUE(opened.keys.has_value()) << aead_name(algorithm);
    EXPECT_TRUE(same_keys(*opened.keys, keys));
  }
}

TEST(Cookie, LayoutIsKeyIdNonceThenSealedAeadIdAndKeys) {
  const auto keyring = ring(0x01020304, kMasterA);
  for (auto algorithm : kAll) {
    const NtsKeys keys = nts_keys(algorithm);
    CountingRandom random(0x30);
    Bytes cookie(cookie_length(algorithm));
    seal_cookie(keyring.current(), keys, random, cookie);
    EXPECT_EQ(random.calls(), 1);

    // Key id, big-endian.
    EXPECT_EQ(Bytes(cookie.begin(), cookie.begin() + 4), (Bytes{0x01, 0x02, 0x03, 0x04}));
    // Nonce straight from the random source.
    const Bytes nonce(cookie.begin() + 4, cookie.begin() + 20);
    EXPECT_EQ(nonce, counting(0x30, 16));
    // The rest opens under the master key with AD = key id, and holds
    // AEAD id (u32 BE) ‖ C2S ‖ S2C.
    Bytes plaintext(cookie.size() - 20 - kAeadTagLength);
    ASSERT_TRUE(keyring.current().aead().open(nonce, ByteView(cookie).first(4),
                                              ByteView(cookie).subspan(20), plaintext.data()));
    Bytes expected{0x00, 0x00, 0x00, static_cast<std::uint8_t>(algorithm)};
    expected.insert(expected.end(), keys.c2s().begin(), keys.c2s().end());
    expected.insert(expected.end(), keys.s2c().begin(), keys.s2c().end());
    EXPECT_EQ(plaintext, expected);
    // And an independently keyed Aead with the same master key agrees byte for byte.
    auto independent = Aead::create(AeadAlgorithm::AesSivCmac256, kMasterA);
    ASSERT_TRUE(independent.has_value());
    Bytes resealed(cookie.size() - 20);
    independent->seal(nonce, ByteView(cookie).first(4), expected, resealed.data());
    EXPECT_EQ(resealed, Bytes(cookie.begin() + 20, cookie.end()));
  }
}

TEST(Cookie, FreshNonceMakesEveryCookieDifferent) {
  const auto keyring = ring(1, kMasterA);
  const NtsKeys keys = nts_keys(AeadAlgorithm::AesSivCmac256);
  CountingRandom random(0x80);
  Bytes first(cookie_length(keys.algorithm()));
  Bytes second(cookie_length(keys.algorithm()));
  seal_cookie(keyring.current(), keys, random, first);
  seal_cookie(keyring.current(), keys, random, second);
  EXPECT_NE(first, second);
  EXPECT_TRUE(open_cookie(keyring, first).keys.has_value());
  EXPECT_TRUE(open_cookie(keyring, second).keys.has_value());
  // Same randomness, same cookie: sealing is deterministic given the nonce.
  EXPECT_EQ(mint(keyring.current(), keys, 5), mint(keyring.current(), keys, 5));
}

TEST(Cookie, SealWritesOnlyCookieLengthBytes) {
  const auto keyring = ring(1, kMasterA);
  const NtsKeys keys = nts_keys(AeadAlgorithm::AesSivCmac256);
  CountingRandom random(0x80);
  Bytes out(cookie_length(keys.algorithm()) + 8, 0xee);
  seal_cookie(keyring.current(), keys, random, out);
  EXPECT_EQ(Bytes(out.end() - 8, out.end()), Bytes(8, 0xee));
  EXPECT_TRUE(
      open_cookie(keyring, ByteView(out).first(cookie_length(keys.algorithm()))).keys.has_value());
}

TEST(Cookie, UnknownKeyId) {
  const auto minting = ring(0x11111111, kMasterA);
  const auto serving = ring(0x22222222, kMasterA);  // same key bytes, other id
  for (auto algorithm : kAll) {
    const Bytes cookie = mint(minting.current(), nts_keys(algorithm));
    const OpenedCookie opened = open_cookie(serving, cookie);
    EXPECT_FALSE(opened.keys.has_value());
    EXPECT_EQ(opened.error, CookieError::UnknownKey);
  }
}

TEST(Cookie, EveryFlippedBitIsRejected) {
  const auto keyring = ring(0x5a5a5a5a, kMasterA);
  for (auto algorithm : kAll) {
    const Bytes cookie = mint(keyring.current(), nts_keys(algorithm));
    for (std::size_t bit = 0; bit < cookie.size() * 8; ++bit) {
      Bytes tampered = cookie;
      tampered[bit / 8] ^= static_cast<std::uint8_t>(1U << (bit % 8));
      const OpenedCookie opened = open_cookie(keyring, tampered);
      EXPECT_FALSE(opened.keys.has_value()) << aead_name(algorithm) << " bit " << bit;
      // The only key is 0x5a5a5a5a: a flip in the id names no key; elsewhere the tag fails.
      const CookieError expected =
          bit < kCookieKeyIdLength * 8 ? CookieError::UnknownKey : CookieError::BadTag;
      EXPECT_EQ(opened.error, expected) << aead_name(algorithm) << " bit " << bit;
    }
  }
}

TEST(Cookie, FlippedKeyIdNamingAnotherKeyFailsTheTag) {
  std::vector<CookieKey> keys;
  keys.push_back(cookie_key(0x00000010, kMasterA));
  keys.push_back(cookie_key(0x00000011, kMasterB));  // differs from the first in bit 0
  const StaticCookieKeyring keyring(std::move(keys));
  Bytes cookie = mint(keyring.current(), nts_keys(AeadAlgorithm::AesSivCmac256));
  ASSERT_TRUE(open_cookie(keyring, cookie).keys.has_value());
  cookie[3] ^= 0x01;
  const OpenedCookie opened = open_cookie(keyring, cookie);
  EXPECT_FALSE(opened.keys.has_value());
  EXPECT_EQ(opened.error, CookieError::BadTag);
}

TEST(Cookie, EveryWrongLengthIsMalformed) {
  const auto keyring = ring(0x01020304, kMasterA);
  // Start from a valid cookie so the key id is known: only the length is wrong.
  Bytes longest = mint(keyring.current(), nts_keys(AeadAlgorithm::AesSivCmac512));
  longest.resize(max_cookie_length() + 64, 0);
  std::vector<std::size_t> valid;
  for (auto algorithm : kAll) valid.push_back(cookie_length(algorithm));
  valid.push_back(cookie_length(AeadAlgorithm::AesGcmSiv128));
  for (std::size_t length = 0; length <= longest.size(); ++length) {
    if (length == cookie_length(AeadAlgorithm::AesSivCmac512)) continue;  // the cookie itself
    const OpenedCookie opened = open_cookie(keyring, ByteView(longest).first(length));
    EXPECT_FALSE(opened.keys.has_value()) << length;
    // A truncation to another algorithm's length passes the shape check and fails the tag.
    const bool valid_shape = std::ranges::find(valid, length) != valid.end();
    EXPECT_EQ(opened.error, valid_shape ? CookieError::BadTag : CookieError::Malformed) << length;
  }
  // The untruncated prefix really is the good cookie.
  EXPECT_TRUE(open_cookie(keyring, ByteView(longest).first(168)).keys.has_value());
}

TEST(Cookie, InnerAeadIdMustMatchTheLength) {
  const auto keyring = ring(0x01020304, kMasterA);
  const CookieKey& key = keyring.current();
  for (auto algorithm : kAll) {
    const std::size_t key_length = aead_key_length(algorithm);
    for (std::uint32_t inner :
         {0U, 1U, 14U, 15U, 16U, 17U, 18U, 30U, 0xffffU, 0x1000fU, 0xf000fU}) {
      Bytes plaintext(4 + 2 * key_length, 0x33);
      store_be32(plaintext.data(), inner);
      const Bytes cookie = forge(key, 0x01020304, plaintext);
      ASSERT_EQ(cookie.size(), cookie_length(algorithm));
      const OpenedCookie opened = open_cookie(keyring, cookie);
      if (inner == static_cast<std::uint32_t>(algorithm)) {
        ASSERT_TRUE(opened.keys.has_value()) << inner;
        EXPECT_EQ(opened.keys->algorithm(), algorithm);
        EXPECT_TRUE(std::ranges::equal(opened.keys->c2s(), Bytes(key_length, 0x33)));
      } else {
        EXPECT_FALSE(opened.keys.has_value()) << aead_name(algorithm) << " inner " << inner;
        EXPECT_EQ(opened.error, CookieError::Malformed) << aead_name(algorithm) << " " << inner;
      }
    }
  }
}

TEST(Cookie, AssociatedDataIsTheKeyId) {
  // A cookie sealed with AD other than its key id must not open.
  const auto keyring = ring(0x01020304, kMasterA);
  const NtsKeys keys = nts_keys(AeadAlgorithm::AesSivCmac256);
  Bytes plaintext{0x00, 0x00, 0x00, 0x0f};
  plaintext.insert(plaintext.end(), keys.c2s().begin(), keys.c2s().end());
  plaintext.insert(plaintext.end(), keys.s2c().begin(), keys.s2c().end());
  ASSERT_TRUE(open_cookie(keyring, forge(keyring.current(), 0x01020304, plaintext)).keys);

  Bytes cookie(cookie_length(AeadAlgorithm::AesSivCmac256));
  store_be32(cookie.data(), 0x01020304);
  const Bytes nonce = counting(0x70, 16);
  std::copy(nonce.begin(), nonce.end(), cookie.begin() + 4);
  keyring.current().aead().seal(nonce, {}, plaintext, cookie.data() + 20);
  const OpenedCookie opened = open_cookie(keyring, cookie);
  EXPECT_FALSE(opened.keys.has_value());
  EXPECT_EQ(opened.error, CookieError::BadTag);
}

TEST(Cookie, KeysFromTwoKeyIds) {
  std::vector<CookieKey> keys;
  keys.push_back(cookie_key(100, kMasterA));
  keys.push_back(cookie_key(101, kMasterB));
  const StaticCookieKeyring keyring(std::move(keys));
  const CookieKey& a = *keyring.find(CookieKeyId{100});
  const CookieKey& b = *keyring.find(CookieKeyId{101});

  const NtsKeys keys_a = nts_keys(AeadAlgorithm::AesSivCmac256, 0x01);
  const NtsKeys keys_b = nts_keys(AeadAlgorithm::AesSivCmac512, 0x02);
  const Bytes from_a = mint(a, keys_a);
  const Bytes from_b = mint(b, keys_b);
  EXPECT_EQ(load_be32(from_a.data()), 100U);
  EXPECT_EQ(load_be32(from_b.data()), 101U);

  // Cookies minted under the current and an older key both open, each to its own keys.
  const OpenedCookie opened_a = open_cookie(keyring, from_a);
  const OpenedCookie opened_b = open_cookie(keyring, from_b);
  ASSERT_TRUE(opened_a.keys.has_value());
  ASSERT_TRUE(opened_b.keys.has_value());
  EXPECT_TRUE(same_keys(*opened_a.keys, keys_a));
  EXPECT_TRUE(same_keys(*opened_b.keys, keys_b));

  // Relabelling a cookie with the other key's id fails the tag.
  Bytes relabelled = from_a;
  store_be32(relabelled.data(), 101);
  EXPECT_EQ(open_cookie(keyring, relabelled).error, CookieError::BadTag);

  // Once key 100 is retired, its cookies name an unknown key.
  std::vector<CookieKey> remaining;
  remaining.push_back(cookie_key(101, kMasterB));
  const StaticCookieKeyring rotated(std::move(remaining));
  EXPECT_EQ(open_cookie(rotated, from_a).error, CookieError::UnknownKey);
  EXPECT_TRUE(open_cookie(rotated, from_b).keys.has_value());
}

using CookieDeathTest = ::testing::Test;

TEST_F(CookieDeathTest, SealIntoAShortBufferAborts) {
  const auto keyring = ring(1, kMasterA);
  const NtsKeys keys = nts_keys(AeadAlgorithm::AesSivCmac512);
  CountingRandom random(0x80);
  Bytes out(cookie_length(AeadAlgorithm::AesSivCmac512) - 1);
  EXPECT_DEATH(seal_cookie(keyring.current(), keys, random, out), "");
}

TEST_F(CookieDeathTest, SealWithEmptyKeysAborts) {
  const auto keyring = ring(1, kMasterA);
  const NtsKeys empty;  // default-constructed: no key material
  CountingRandom random(0x80);
  Bytes out(max_cookie_length());
  EXPECT_DEATH(seal_cookie(keyring.current(), empty, random, out), "");
}

// ---------------------------------------------------------------------------------------
// AEAD 30 cookies: 16-byte keys in the same SIV-CMAC format. (The format of AEAD
// 15/16/17 cookies is pinned byte for byte by LayoutIsKeyIdNonceThenSealedAeadIdAndKeys
// above against an independently keyed Aead: that is what lets a previous release
// open them.)

constexpr auto k30 = AeadAlgorithm::AesGcmSiv128;

TEST(GcmSivCookie, RoundTripsWithTheSivCmacMaster) {
  const auto keyring = ring(0x0a0b0c0d, kMasterA);
  const NtsKeys keys = nts_keys(k30);
  CountingRandom random(0x30);
  Bytes cookie(cookie_length(k30));
  seal_cookie(keyring.current(), keys, random, cookie);
  EXPECT_EQ(Bytes(cookie.begin(), cookie.begin() + 4), (Bytes{0x0a, 0x0b, 0x0c, 0x0d}));
  EXPECT_EQ(Bytes(cookie.begin() + 4, cookie.begin() + 20), counting(0x30, 16));
  // The same layout as every other cookie: SIV-CMAC master over id 30 ‖ C2S ‖ S2C.
  Bytes plaintext(cookie.size() - 20 - kAeadTagLength);
  ASSERT_TRUE(keyring.current().aead().open(ByteView(cookie).subspan(4, 16),
                                            ByteView(cookie).first(4), ByteView(cookie).subspan(20),
                                            plaintext.data()));
  EXPECT_EQ(Bytes(plaintext.begin(), plaintext.begin() + 4), (Bytes{0, 0, 0, 30}));
  const OpenedCookie opened = open_cookie(keyring, cookie);
  ASSERT_TRUE(opened.keys.has_value());
  EXPECT_TRUE(same_keys(*opened.keys, keys));
}

TEST(GcmSivCookie, EveryFlippedBitAndAnotherMasterFail) {
  const auto keyring = ring(7, kMasterA);
  Bytes cookie = mint(keyring.current(), nts_keys(k30));
  for (std::size_t bit = 32; bit < cookie.size() * 8; ++bit) {
    cookie[bit / 8] ^= static_cast<std::uint8_t>(1U << (bit % 8));
    const OpenedCookie opened = open_cookie(keyring, cookie);
    EXPECT_FALSE(opened.keys.has_value()) << bit;
    EXPECT_EQ(opened.error, CookieError::BadTag) << bit;
    cookie[bit / 8] ^= static_cast<std::uint8_t>(1U << (bit % 8));
  }
  EXPECT_EQ(open_cookie(ring(7, kMasterB), cookie).error, CookieError::BadTag);
  EXPECT_TRUE(open_cookie(keyring, cookie).keys.has_value());
}

TEST(GcmSivCookie, ManyThreadsShareOneKey) {
  const auto keyring = ring(7, kMasterA);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {  // one keyring, read by many workers
    threads.emplace_back([&, t] {
      const NtsKeys keys = nts_keys(k30, static_cast<std::uint8_t>(t));
      for (int i = 0; i < 300; ++i) {
        const Bytes cookie = mint(keyring.current(), keys, static_cast<std::uint8_t>(i));
        const OpenedCookie opened = open_cookie(keyring, cookie);
        if (!opened.keys || !same_keys(*opened.keys, keys)) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

// Each thread keeps keyed contexts for a few master keys; more keys than that in
// turn, twice over, must still mint and open with the right one every time.
TEST(CookieMasterContexts, MoreKeysThanAThreadKeepsAllWork) {
  std::vector<CookieKey> keys;
  for (std::uint32_t id = 1; id <= 20; ++id) {
    keys.push_back(cookie_key(id, counting(static_cast<std::uint8_t>(id), 32)));
  }
  const StaticCookieKeyring keyring(std::move(keys));
  const NtsKeys carried = nts_keys(AeadAlgorithm::AesSivCmac256);
  std::vector<Bytes> cookies;
  for (int round = 0; round < 2; ++round) {
    for (std::uint32_t id = 1; id <= 20; ++id) {
      cookies.push_back(mint(*keyring.find(CookieKeyId{id}), carried));
    }
  }
  for (const Bytes& cookie : cookies) {
    const OpenedCookie opened = open_cookie(keyring, cookie);
    ASSERT_TRUE(opened.keys.has_value());
    EXPECT_TRUE(same_keys(*opened.keys, carried));
  }
}

// Two keyrings may use one id for different keys (a key file replaced, tests): a
// thread's context for the id must follow the bytes, not the id.
TEST(CookieMasterContexts, SameIdWithOtherBytesIsAnotherKey) {
  const auto first = ring(5, kMasterA);
  const auto second = ring(5, kMasterB);
  const NtsKeys carried = nts_keys(AeadAlgorithm::AesSivCmac256);
  for (int i = 0; i < 3; ++i) {
    const Bytes from_first = mint(first.current(), carried);
    const Bytes from_second = mint(second.current(), carried);
    EXPECT_TRUE(open_cookie(first, from_first).keys.has_value());
    EXPECT_EQ(open_cookie(second, from_first).error, CookieError::BadTag);
    EXPECT_TRUE(open_cookie(second, from_second).keys.has_value());
    EXPECT_EQ(open_cookie(first, from_second).error, CookieError::BadTag);
  }
}

}  // namespace
}  // namespace ntsd::core
