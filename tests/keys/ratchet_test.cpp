// The sans-I/O half of the cookie keys: ratchet, epochs, windows.
#include "keys/ratchet.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <limits>
#include <string>

#include "core/cookie.h"
#include "core/nts_keys.h"
#include "support/deterministic_random.h"

namespace ntsd::keys {
namespace {

MasterKey key_from_hex(const std::string& hex) {
  std::array<std::uint8_t, kMasterKeyLength> bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<std::uint8_t>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  }
  return std::move(*MasterKey::from_bytes(bytes));
}

MasterKey counting_key() {
  std::array<std::uint8_t, kMasterKeyLength> bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i);
  return std::move(*MasterKey::from_bytes(bytes));
}

using test_support::CountingRandom;

core::NtsKeys session_keys() {
  std::array<std::uint8_t, 32> c2s{};
  std::array<std::uint8_t, 32> s2c{};
  c2s.fill(0x11);
  s2c.fill(0x22);
  return *core::NtsKeys::create(core::AeadAlgorithm::AesSivCmac256, c2s, s2c);
}

core::Bytes mint(const core::CookieKeyring& keyring) {
  CountingRandom random(1);
  auto keys = session_keys();
  core::Bytes cookie(core::cookie_length(keys.algorithm()));
  core::seal_cookie(keyring.current(), keys, random, cookie);
  return cookie;
}

std::uint32_t cookie_key_id(const core::Bytes& cookie) { return core::load_be32(cookie.data()); }

// What the NTP server does with a cookie: opens (answer) or not (NTS NAK).
bool opens(const core::CookieKeyring& keyring, const core::Bytes& cookie) {
  auto opened = core::open_cookie(keyring, cookie);
  if (!opened.keys) return false;
  return opened.keys->c2s()[0] == 0x11 && opened.keys->s2c()[0] == 0x22;
}

// Independently computed (Python hashlib/hmac, RFC 5869 HKDF-SHA256): IKM = 00 01 .. 1f,
// salt = 00 00 00 01, info = "ntsd cookie key ratchet v1".
TEST(Ratchet, StepMatchesHkdfSha256KnownAnswer) {
  auto next = ratchet_step(counting_key(), 1);
  EXPECT_TRUE(next ==
              key_from_hex("d4a038d046f9cd39c13405bd81fe72a4d189d70b68be63f9e85d1d815316537a"));
  // Salt is the new epoch: three steps from epoch 100 to 103.
  Ratchet r(100, counting_key());
  ASSERT_TRUE(r.advance_to(103));
  EXPECT_EQ(r.epoch(), 103U);
  EXPECT_TRUE(r.key() ==
              key_from_hex("9c0505fecaa0ee1dbc038a375eb1cdcb03570559127b84f34bd50aa5bd408925"));
}

TEST(Ratchet, TheSaltBindsTheEpoch) {
  // The same key stepped towards two different epochs gives two different keys.
  EXPECT_FALSE(ratchet_step(counting_key(), 1) == ratchet_step(counting_key(), 2));
  EXPECT_FALSE(ratchet_step(counting_key(), 1) == counting_key());
}

TEST(Ratchet, TwoHostsFromTheSameStateAgreeFor100Epochs) {
  core::SystemRandom random;
  auto shared = MasterKey::random(random);
  Ratchet host_a(5000, shared.copy());
  Ratchet host_b(5000, shared.copy());
  for (std::uint32_t epoch = 5001; epoch <= 5100; ++epoch) {
    ASSERT_TRUE(host_a.advance_to(epoch));
    ASSERT_TRUE(host_b.advance_to(epoch));
    ASSERT_TRUE(host_a.key() == host_b.key()) << "epoch " << epoch;
    // And the keyrings built from them open each other's cookies.
    auto ring_a = build_keyring(host_a, epoch);
    auto ring_b = build_keyring(host_b, epoch);
    auto cookie = mint(*ring_a);
    ASSERT_EQ(cookie_key_id(cookie), epoch);
    ASSERT_TRUE(opens(*ring_b, cookie)) << "epoch " << epoch;
  }
}

TEST(Ratchet, AStaleCopyCatchesUpInOneJump) {
  core::SystemRandom random;
  auto shared = MasterKey::random(random);
  Ratchet stepwise(10, shared.copy());
  for (std::uint32_t epoch = 11; epoch <= 110; ++epoch) ASSERT_TRUE(stepwise.advance_to(epoch));
  Ratchet stale(10, shared.copy());
  ASSERT_TRUE(stale.advance_to(110));
  EXPECT_TRUE(stale.key() == stepwise.key());
}

// One-wayness by construction: the only derivation takes K(n) to K(n+1); a ratchet
// refuses to go back, and a keyring holds nothing older than the state it came from.
TEST(Ratchet, NothingComputesBackwards) {
  core::SystemRandom random;
  Ratchet r(42, MasterKey::random(random));
  auto before = r.key().copy();
  EXPECT_FALSE(r.advance_to(41));
  EXPECT_EQ(r.epoch(), 42U);
  EXPECT_TRUE(r.key() == before);
  EXPECT_TRUE(r.advance_to(42));  // staying put is allowed and changes nothing
  EXPECT_TRUE(r.key() == before);

  auto keyring = build_keyring(r, 45);
  EXPECT_EQ(keyring->first_epoch(), 42U);
  EXPECT_EQ(keyring->find(core::CookieKeyId{41}), nullptr);
  EXPECT_NE(keyring->find(core::CookieKeyId{42}), nullptr);
  EXPECT_THROW(build_keyring(r, 41), std::invalid_argument);  // current before the state
}

TEST(Ratchet, MovedFromKeysAreWiped) {
  core::SystemRandom random;
  auto key = MasterKey::random(random);
  auto copy = key.copy();
  MasterKey moved(std::move(key));
  EXPECT_TRUE(moved == copy);
  EXPECT_TRUE(key == MasterKey{});  // NOLINT(bugprone-use-after-move): checking the wipe
}

TEST(Epochs, AlignedToTheUnixEpoch) {
  EXPECT_EQ(epoch_at(0, 86400), 0U);
  EXPECT_EQ(epoch_at(86399, 86400), 0U);
  EXPECT_EQ(epoch_at(86400, 86400), 1U);
  EXPECT_EQ(epoch_at(1700000000, 86400), 19675U);
  EXPECT_EQ(epoch_at(1700000003, 4), 425000000U);
  EXPECT_EQ(epoch_start(19675, 86400), 1699920000);
  EXPECT_FALSE(epoch_at(-1, 86400));
  EXPECT_FALSE(epoch_at(100, 0));
  // The id and its successor must fit 32 bits.
  EXPECT_EQ(epoch_at(std::int64_t{0xfffffffe}, 1), 0xfffffffeU);
  EXPECT_FALSE(epoch_at(std::int64_t{0xffffffff}, 1));
}

TEST(Epochs, DefaultKeptCoversADay) {
  EXPECT_EQ(default_keys_kept(86400), 1U);
  EXPECT_EQ(default_keys_kept(86401), 1U);
  EXPECT_EQ(default_keys_kept(3600), 24U);
  EXPECT_EQ(default_keys_kept(3601), 24U);
  EXPECT_EQ(default_keys_kept(3599), 25U);
  EXPECT_EQ(default_keys_kept(1), 86400U);
  EXPECT_EQ(oldest_kept_epoch(10, 3), 7U);
  EXPECT_EQ(oldest_kept_epoch(2, 3), 0U);
}

TEST(Window, KeysFromOldestToNext) {
  core::SystemRandom random;
  Ratchet oldest(100, MasterKey::random(random));
  auto keyring = build_keyring(oldest, 103);
  EXPECT_EQ(keyring->current().id().value, 103U);
  EXPECT_EQ(keyring->first_epoch(), 100U);
  EXPECT_EQ(keyring->last_epoch(), 104U);
  for (std::uint32_t id = 100; id <= 104; ++id) {
    ASSERT_NE(keyring->find(core::CookieKeyId{id}), nullptr) << id;
    EXPECT_EQ(keyring->find(core::CookieKeyId{id})->id().value, id);
  }
  EXPECT_EQ(keyring->find(core::CookieKeyId{99}), nullptr);
  EXPECT_EQ(keyring->find(core::CookieKeyId{105}), nullptr);
  EXPECT_EQ(keyring->find(core::CookieKeyId{0xffffffff}), nullptr);
}

// The edges with kept = 2: a cookie minted in epoch e opens through e + 2 and is
// refused (NAK) from e + 3 on. Keyrings are rebuilt each epoch from a state that
// moves forward exactly as the rotation does.
TEST(Window, OldestKeptKeyOpensOneOlderIsRefused) {
  const std::uint32_t kept = 2;
  core::SystemRandom random;
  Ratchet state(1000, MasterKey::random(random));
  auto cookie = mint(*build_keyring(state, 1000));
  ASSERT_EQ(cookie_key_id(cookie), 1000U);

  for (std::uint32_t current = 1001; current <= 1004; ++current) {
    ASSERT_TRUE(state.advance_to(std::max(state.epoch(), oldest_kept_epoch(current, kept))));
    auto keyring = build_keyring(state, current);
    bool in_window = current <= 1000 + kept;
    EXPECT_EQ(opens(*keyring, cookie), in_window) << "epoch " << current;
    if (!in_window) {
      EXPECT_EQ(core::open_cookie(*keyring, cookie).error, core::CookieError::UnknownKey);
    }
  }
}

TEST(Window, AHostOneEpochAheadIsAccepted) {
  // A KE host whose clock already crossed into epoch 51 mints with key 51; an NTP
  // host still in epoch 50 opens the cookie (the "next" key), and not one from 52.
  core::SystemRandom random;
  Ratchet shared(49, MasterKey::random(random));
  auto ahead = build_keyring(shared, 51);
  auto far_ahead = build_keyring(shared, 52);
  auto behind = build_keyring(shared, 50);
  EXPECT_TRUE(opens(*behind, mint(*ahead)));
  EXPECT_FALSE(opens(*behind, mint(*far_ahead)));
}

// The default: daily rotation, one old key. A cookie minted one second before
// midnight UTC still opens 24 hours later, and is refused when the day after ends.
TEST(Window, DefaultKeepsCookiesValidFor24Hours) {
  const std::uint32_t rotation = kDefaultRotationSeconds;
  const std::uint32_t kept = default_keys_kept(rotation);
  core::SystemRandom random;
  const std::int64_t issued = 1700006400 + 86400 - 1;  // 23:59:59 UTC
  auto issue_epoch = *epoch_at(issued, rotation);
  Ratchet state(issue_epoch, MasterKey::random(random));
  auto cookie = mint(*build_keyring(state, issue_epoch));

  auto keyring_at = [&](std::int64_t t) {
    auto epoch = *epoch_at(t, rotation);
    Ratchet later = state.copy();
    later.advance_to(std::max(later.epoch(), oldest_kept_epoch(epoch, kept)));
    return build_keyring(later, epoch);
  };
  EXPECT_TRUE(opens(*keyring_at(issued + 86400), cookie));
  EXPECT_TRUE(opens(*keyring_at(issued + 86400 + 86400), cookie) == false);
  EXPECT_FALSE(opens(*keyring_at(epoch_start(issue_epoch + kept + 1, rotation)), cookie));
  EXPECT_TRUE(opens(*keyring_at(epoch_start(issue_epoch + kept + 1, rotation) - 1), cookie));
}

TEST(Window, FormatUtc) {
  EXPECT_EQ(format_utc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_utc(1699920000), "2023-11-14T00:00:00Z");
}

}  // namespace
}  // namespace ntsd::keys
