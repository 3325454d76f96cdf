// core::SivCmacKey, the AES-SIV-CMAC mode that core::Aead uses for AEAD 15, 16
// and 17: RFC 5297's appendix vectors (which need S2V over other than two
// strings), every length boundary of the associated data and the plaintext
// against Nettle's siv_cmac, any number of strings against libgcrypt's SIV
// mode, the lazily expanded CTR key, tampering, limits and moves.
#include "core/siv_cmac.h"

#include <gcrypt.h>
#include <gtest/gtest.h>
#include <nettle/siv-cmac.h>

#include <array>
#include <cstdint>
#include <optional>
#include <ostream>
#include <random>
#include <utility>
#include <vector>

#include "support/test_bytes.h"

namespace ntsd::core {
namespace {

using test_support::counting;
using test_support::hex;
using test_support::random_bytes;

SivCmacKey keyed(ByteView key) {
  SivCmacKey siv;
  EXPECT_TRUE(siv.set_key(key));
  return siv;
}

Bytes seal(const SivCmacKey& siv, std::span<const ByteView> strings, ByteView plaintext) {
  Bytes out(kSivBlockLength + plaintext.size(), 0xee);
  siv.seal(strings, plaintext, out.data());
  return out;
}

std::optional<Bytes> open(const SivCmacKey& siv, std::span<const ByteView> strings,
                          ByteView sealed) {
  Bytes out(sealed.size() >= kSivBlockLength ? sealed.size() - kSivBlockLength : 0, 0xee);
  out.reserve(1);  // a non-null destination even for an empty plaintext
  if (!siv.open(strings, sealed, out.data())) return std::nullopt;
  return out;
}

// ---------------------------------------------------------------------------------------
// RFC 5297 Appendix A: output = V ‖ C.

struct Rfc5297Vector {
  const char* name;
  Bytes key;
  std::vector<Bytes> strings;
  Bytes plaintext;
  Bytes output;
  // The name gtest looks for to print a parameter.
  // NOLINTNEXTLINE(readability-identifier-naming)
  friend void PrintTo(const Rfc5297Vector& v, std::ostream* os) { *os << v.name; }
};

std::vector<Rfc5297Vector> rfc5297_vectors() {
  return {
      {"A1_deterministic_one_ad_string",
       hex("fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"),
       {hex("101112131415161718191a1b1c1d1e1f2021222324252627")},
       hex("112233445566778899aabbccddee"),
       hex("85632d07c6e8f37f950acd320a2ecc9340c02b9690c4dc04daef7f6afe5c")},
      {"A2_two_ad_strings_and_a_nonce",
       hex("7f7e7d7c7b7a79787776757473727170404142434445464748494a4b4c4d4e4f"),
       {hex("00112233445566778899aabbccddeeffdeaddadadeaddadaffeeddccbbaa99887766554433221100"),
        hex("102030405060708090a0"), hex("09f911029d74e35bd84156c5635688c0")},
       hex("7468697320697320736f6d6520706c61696e7465787420746f20656e6372797074207573696e67205349"
           "562d414553"),
       hex("7bdb6e3b432667eb06f4d14bff2fbd0fcb900f2fddbe404326601965c889bf17dba77ceb094fa663b7a3f7"
           "48ba8af829ea64ad544a272e9c485b62a3fd5c0d")},
  };
}

std::vector<ByteView> views(const std::vector<Bytes>& strings) {
  return {strings.begin(), strings.end()};
}

class Rfc5297Test : public ::testing::TestWithParam<Rfc5297Vector> {};

TEST_P(Rfc5297Test, SealGivesTheRfcOutput) {
  const auto& v = GetParam();
  EXPECT_EQ(seal(keyed(v.key), views(v.strings), v.plaintext), v.output);
}

TEST_P(Rfc5297Test, OpenRecoversThePlaintextAndRejectsEveryFlippedBit) {
  const auto& v = GetParam();
  const SivCmacKey siv = keyed(v.key);
  const auto strings = views(v.strings);
  EXPECT_EQ(open(siv, strings, v.output), v.plaintext);
  for (std::size_t bit = 0; bit < v.output.size() * 8; ++bit) {
    Bytes tampered = v.output;
    tampered[bit / 8] ^= static_cast<std::uint8_t>(1U << (bit % 8));
    EXPECT_FALSE(open(siv, strings, tampered).has_value()) << "bit " << bit;
  }
}

INSTANTIATE_TEST_SUITE_P(Rfc5297, Rfc5297Test, ::testing::ValuesIn(rfc5297_vectors()),
                         [](const ::testing::TestParamInfo<Rfc5297Vector>& param_info) {
                           return std::string(param_info.param.name);
                         });

// ---------------------------------------------------------------------------------------
// Against Nettle's siv_cmac (one AD string, then the nonce): every associated-data
// length across three blocks and every plaintext length across four, so each way
// the plaintext's tail (xorend over 16 to 31 bytes, or the padded short case)
// and each short last block of the AD is met.

Bytes nettle_siv_aes128(ByteView key, ByteView nonce, ByteView ad, ByteView plaintext) {
  siv_cmac_aes128_ctx ctx;
  siv_cmac_aes128_set_key(&ctx, key.data());
  Bytes out(kSivBlockLength + plaintext.size());
  siv_cmac_aes128_encrypt_message(&ctx, nonce.size(), nonce.data(), ad.size(), ad.data(),
                                  out.size(), out.data(), plaintext.data());
  return out;
}

TEST(SivCmacLengths, EveryBoundaryAgreesWithNettle) {
  const Bytes key = counting(0x31, 32);
  const Bytes nonce = counting(0xa0, 16);
  const Bytes ad_source = counting(0x05, 48);
  const Bytes plaintext_source = counting(0x60, 70);
  const SivCmacKey siv = keyed(key);
  for (std::size_t ad_length = 0; ad_length <= ad_source.size(); ++ad_length) {
    for (std::size_t length = 0; length <= plaintext_source.size(); ++length) {
      const ByteView ad{ad_source.data(), ad_length};
      const ByteView plaintext{plaintext_source.data(), length};
      const std::array<ByteView, 2> strings{ad, nonce};
      const Bytes sealed = seal(siv, strings, plaintext);
      ASSERT_EQ(sealed, nettle_siv_aes128(key, nonce, ad, plaintext))
          << "ad " << ad_length << " plaintext " << length;
      ASSERT_EQ(open(siv, strings, sealed), Bytes(plaintext.begin(), plaintext.end()))
          << "ad " << ad_length << " plaintext " << length;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Against libgcrypt's SIV mode, where each gcry_cipher_authenticate() call is one S2V
// string: zero to four strings of any length, all three key sizes.

Bytes libgcrypt_siv(ByteView key, const std::vector<Bytes>& strings, ByteView plaintext) {
  static const bool ready = gcry_check_version(nullptr) != nullptr;
  EXPECT_TRUE(ready);
  const int algorithm = key.size() == 32   ? GCRY_CIPHER_AES128
                        : key.size() == 48 ? GCRY_CIPHER_AES192
                                           : GCRY_CIPHER_AES256;
  gcry_cipher_hd_t handle = nullptr;
  Bytes out(kSivBlockLength + plaintext.size());
  static constexpr std::uint8_t kNothing = 0;
  bool ok = gcry_cipher_open(&handle, algorithm, GCRY_CIPHER_MODE_SIV, 0) == 0 &&
            gcry_cipher_setkey(handle, key.data(), key.size()) == 0;
  for (const Bytes& s : strings) {
    ok = ok && gcry_cipher_authenticate(handle, s.empty() ? &kNothing : s.data(), s.size()) == 0;
  }
  ok = ok && gcry_cipher_final(handle) == 0 &&
       gcry_cipher_encrypt(handle, out.data() + kSivBlockLength, plaintext.size(),
                           plaintext.empty() ? &kNothing : plaintext.data(),
                           plaintext.size()) == 0 &&
       gcry_cipher_gettag(handle, out.data(), kSivBlockLength) == 0;
  gcry_cipher_close(handle);
  EXPECT_TRUE(ok);
  return out;
}

TEST(SivCmacStrings, AnyNumberOfStringsAgreesWithLibgcrypt) {
  std::mt19937 rng(5297);  // NOLINT(cert-msc32-c,cert-msc51-cpp): a failure must replay
  SivCmacKey siv;
  for (int round = 0; round < 600; ++round) {
    const std::size_t key_length = std::array<std::size_t, 3>{32, 48, 64}[round % 3];
    const Bytes key = random_bytes(rng, key_length);
    std::vector<Bytes> strings(rng() % (kMaxSivStrings + 1));
    for (auto& s : strings) s = random_bytes(rng, rng() % 4 == 0 ? 0 : rng() % 200);
    const Bytes plaintext = random_bytes(rng, round % 5 == 0 ? 0 : rng() % 200);
    ASSERT_TRUE(siv.set_key(key));
    const Bytes sealed = seal(siv, views(strings), plaintext);
    EXPECT_EQ(sealed, libgcrypt_siv(key, strings, plaintext))
        << "round " << round << ", " << strings.size() << " strings";
    EXPECT_EQ(open(siv, views(strings), sealed), plaintext) << "round " << round;
  }
}

// ---------------------------------------------------------------------------------------
// The CTR key schedule, expanded by the first message that encrypts.

TEST(SivCmacKeying, CtrKeyIsExpandedWhenFirstNeededAndAfterEveryRekey) {
  const Bytes key_a = counting(0x01, 32);
  const Bytes key_b = counting(0x81, 32);
  const Bytes nonce = counting(0xa0, 16);
  const Bytes plaintext = counting(0x40, 40);
  const std::array<ByteView, 2> strings{ByteView{}, nonce};
  SivCmacKey siv = keyed(key_a);
  // An empty plaintext first (no CTR), then one that needs it.
  EXPECT_EQ(seal(siv, strings, {}), nettle_siv_aes128(key_a, nonce, {}, {}));
  EXPECT_EQ(seal(siv, strings, plaintext), nettle_siv_aes128(key_a, nonce, {}, plaintext));
  // Re-keyed after the CTR schedule was expanded: the new key's is used.
  ASSERT_TRUE(siv.set_key(key_b));
  EXPECT_EQ(seal(siv, strings, plaintext), nettle_siv_aes128(key_b, nonce, {}, plaintext));
  // Opening expands it too.
  const Bytes sealed_a = nettle_siv_aes128(key_a, nonce, {}, plaintext);
  SivCmacKey fresh = keyed(key_a);
  EXPECT_EQ(open(fresh, strings, sealed_a), plaintext);
}

TEST(SivCmacKeying, OnlyTheThreeAesKeyLengthsAreAccepted) {
  SivCmacKey siv;
  EXPECT_FALSE(siv.keyed());
  for (std::size_t length : {0, 16, 24, 31, 33, 47, 65, 128}) {
    EXPECT_FALSE(siv.set_key(Bytes(length, 1))) << length;
    EXPECT_FALSE(siv.keyed()) << length;
  }
  for (std::size_t length : {32, 48, 64}) {
    EXPECT_TRUE(siv.set_key(Bytes(length, 1))) << length;
    EXPECT_TRUE(siv.keyed()) << length;
  }
  // A refused key leaves it unkeyed, not keyed with the previous one.
  EXPECT_FALSE(siv.set_key(Bytes(20, 1)));
  EXPECT_FALSE(siv.keyed());
}

// ---------------------------------------------------------------------------------------
// Limits, failures, moves.

TEST(SivCmacLimits, OpenRefusesTooManyStringsShortInputAndNoKey) {
  const SivCmacKey siv = keyed(counting(0x01, 32));
  const Bytes one = counting(0x10, 8);
  const std::array<ByteView, kMaxSivStrings + 1> too_many{one, one, one, one, one};
  const Bytes sealed = seal(siv, std::span<const ByteView>(too_many).first(kMaxSivStrings), one);
  std::array<std::uint8_t, 64> out{};
  EXPECT_FALSE(siv.open(too_many, sealed, out.data()));
  EXPECT_TRUE(
      siv.open(std::span<const ByteView>(too_many).first(kMaxSivStrings), sealed, out.data()));
  EXPECT_FALSE(siv.open({}, ByteView(sealed).first(kSivBlockLength - 1), out.data()));
  const SivCmacKey unkeyed;
  EXPECT_FALSE(unkeyed.open({}, sealed, out.data()));
}

TEST(SivCmacLimits, FailedOpenLeavesNoPlaintext) {
  const SivCmacKey siv = keyed(counting(0x01, 32));
  const Bytes nonce = counting(0xa0, 16);
  const Bytes plaintext = counting(0x40, 40);
  const std::array<ByteView, 2> strings{ByteView{}, nonce};
  Bytes sealed = seal(siv, strings, plaintext);
  sealed[0] ^= 1;  // the tag: decryption still runs, with the wrong counter
  Bytes out(plaintext.size(), 0xee);
  EXPECT_FALSE(siv.open(strings, sealed, out.data()));
  EXPECT_EQ(out, Bytes(plaintext.size(), 0));
}

TEST(SivCmacDeathTest, SealWithTooManyStringsOrNoKeyAborts) {
  const SivCmacKey siv = keyed(counting(0x01, 32));
  const Bytes one = counting(0x10, 8);
  const std::array<ByteView, kMaxSivStrings + 1> too_many{one, one, one, one, one};
  std::array<std::uint8_t, 64> out{};
  EXPECT_DEATH(siv.seal(too_many, one, out.data()), "");
  const SivCmacKey unkeyed;
  EXPECT_DEATH(unkeyed.seal({}, one, out.data()), "");
}

TEST(SivCmacMove, TheKeyMovesAndTheSourceIsUnkeyed) {
  const Bytes key = counting(0x01, 48);
  const Bytes plaintext = counting(0x40, 20);
  SivCmacKey source = keyed(key);
  const Bytes expected = seal(source, {}, plaintext);
  SivCmacKey moved(std::move(source));
  // NOLINTNEXTLINE(bugprone-use-after-move,clang-analyzer-cplusplus.Move): the contract
  EXPECT_FALSE(source.keyed());
  EXPECT_EQ(seal(moved, {}, plaintext), expected);
  SivCmacKey assigned;
  assigned = std::move(moved);
  // NOLINTNEXTLINE(bugprone-use-after-move,clang-analyzer-cplusplus.Move): the contract
  EXPECT_FALSE(moved.keyed());
  EXPECT_EQ(seal(assigned, {}, plaintext), expected);
}

}  // namespace
}  // namespace ntsd::core
