// AES-128-GCM-SIV (AEAD 30) through core::Aead on libgcrypt: RFC 8452 Appendix C.1
// vectors, tampering, nonce lengths, re-keying; and cross-checks between libraries:
//  - the GCM-SIV key derivation and CTR encryption (everything but POLYVAL)
//    recomputed with Nettle's plain AES-128 against libgcrypt's output;
//  - AES-SIV-CMAC (AEAD 15, 16, 17), which core computes with its own SIV mode
//    on Nettle's AES (siv_cmac.h), against Nettle's siv_cmac.
// OpenSSL 3.0 has no GCM-SIV, so no third implementation computes the whole of it.
#include <gtest/gtest.h>
#include <nettle/aes.h>
#include <nettle/nettle-meta.h>
#include <nettle/siv-cmac.h>

#include <array>
#include <cstdint>
#include <random>
#include <string_view>

#include "core/aead.h"
#include "support/test_bytes.h"

namespace ntsd::core {
namespace {

using test_support::hex;
using test_support::random_bytes;

struct Vector {
  const char* key;
  const char* nonce;
  const char* aad;
  const char* plaintext;
  const char* result;  // ciphertext ‖ tag
};

// RFC 8452 Appendix C.1 (AEAD_AES_128_GCM_SIV), a selection covering empty
// plaintext, empty and non-empty AAD, partial and whole blocks, and the
// non-trivial keys at the end of the appendix.
const Vector kRfc8452Vectors[] = {
    {"01000000000000000000000000000000", "030000000000000000000000", "", "",
     "dc20e2d83f25705bb49e439eca56de25"},
    {"01000000000000000000000000000000", "030000000000000000000000", "", "0100000000000000",
     "b5d839330ac7b786578782fff6013b815b287c22493a364c"},
    {"01000000000000000000000000000000", "030000000000000000000000", "",
     "01000000000000000000000000000000",
     "743f7c8077ab25f8624e2e948579cf77303aaf90f6fe21199c6068577437a0c4"},
    {"01000000000000000000000000000000", "030000000000000000000000", "",
     "0100000000000000000000000000000002000000000000000000000000000000",
     "84e07e62ba83a6585417245d7ec413a9fe427d6315c09b57ce45f2e3936a94451a8e45dcd4578c667cd86847bf6"
     "155ff"},
    {"01000000000000000000000000000000", "030000000000000000000000", "01", "0200000000000000",
     "1e6daba35669f4273b0a1a2560969cdf790d99759abd1508"},
    {"01000000000000000000000000000000", "030000000000000000000000", "010000000000000000000000",
     "02000000", "a8fe3e8707eb1f84fb28f8cb73de8e99e2f48a14"},
    {"01000000000000000000000000000000", "030000000000000000000000",
     "010000000000000000000000000000000200", "0300000000000000000000000000000004000000",
     "6bb0fecf5ded9b77f902c7d5da236a4391dd029724afc9805e976f451e6d87f6fe106514"},
    {"e66021d5eb8e4f4066d4adb9c33560e4", "f46e44bb3da0015c94f70887", "", "",
     "a4194b79071b01a87d65f706e3949578"},
    {"36864200e0eaf5284d884a0e77d31646", "bae8e37fc83441b16034566b", "46bb91c3c5", "7a806c",
     "af60eb711bd85bc1e4d3e0a462e074eea428a8"},
    {"b3fed1473c528b8426a582995929a149", "9e9ad8780c8d63d0ab4149c0",
     "c9882e5386fd9f92ec489c8fde2be2cf97e74e93", "9f572c614b4745914474e7c7",
     "f54673c5ddf710c745641c8bc1dc2f871fb7561da1286e655e24b7b0"},
    {"f901cfe8a69615a93fdf7a98cad48179", "6245709fb18853f68d833640",
     "7576f7028ec6eb5ea7e298342a94d4b202b370ef9768ec6561c4fe6b7e7296fa859c21",
     "e42a3c02c25b64869e146d7b233987bddfc240871d",
     "391cc328d484a4f46406181bcd62efd9b3ee197d052d15506c84a9edd65e13e9d24a2a6e70"},
};

class GcmSivVectorTest : public ::testing::TestWithParam<Vector> {};

TEST_P(GcmSivVectorTest, SealGivesTheRfcResult) {
  const Vector& v = GetParam();
  auto aead = Aead::create(AeadAlgorithm::AesGcmSiv128, hex(v.key));
  ASSERT_TRUE(aead.has_value());
  const Bytes plaintext = hex(v.plaintext);
  Bytes out(plaintext.size() + kAeadTagLength);
  aead->seal(hex(v.nonce), hex(v.aad), plaintext, out.data());
  EXPECT_EQ(out, hex(v.result));
}

TEST_P(GcmSivVectorTest, OpenRecoversThePlaintextAndRejectsEveryFlippedBit) {
  const Vector& v = GetParam();
  auto aead = Aead::create(AeadAlgorithm::AesGcmSiv128, hex(v.key));
  ASSERT_TRUE(aead.has_value());
  Bytes sealed = hex(v.result);
  Bytes out(sealed.size() - kAeadTagLength);
  ASSERT_TRUE(aead->open(hex(v.nonce), hex(v.aad), sealed, out.data()));
  EXPECT_EQ(out, hex(v.plaintext));
  for (std::size_t bit = 0; bit < sealed.size() * 8; bit += 7) {
    sealed[bit / 8] ^= static_cast<std::uint8_t>(1U << (bit % 8));
    EXPECT_FALSE(aead->open(hex(v.nonce), hex(v.aad), sealed, out.data())) << bit;
    sealed[bit / 8] ^= static_cast<std::uint8_t>(1U << (bit % 8));
  }
}

INSTANTIATE_TEST_SUITE_P(Rfc8452AppendixC1, GcmSivVectorTest, ::testing::ValuesIn(kRfc8452Vectors));

TEST(GcmSiv, NtsNonceLengthsAreTwelve) {
  EXPECT_EQ(aead_nonce_length(AeadAlgorithm::AesGcmSiv128), 12U);
  EXPECT_EQ(aead_min_nonce_space(AeadAlgorithm::AesGcmSiv128), 12U);
  EXPECT_TRUE(aead_accepts_nonce_length(AeadAlgorithm::AesGcmSiv128, 12));
  for (std::size_t n : {0, 1, 11, 13, 16}) {
    EXPECT_FALSE(aead_accepts_nonce_length(AeadAlgorithm::AesGcmSiv128, n)) << n;
  }
  EXPECT_EQ(aead_nonce_length(AeadAlgorithm::AesSivCmac256), 16U);
  EXPECT_EQ(aead_min_nonce_space(AeadAlgorithm::AesSivCmac256), 16U);
}

TEST(GcmSiv, OpenRejectsOtherNonceLengthsAndShortInput) {
  auto aead = Aead::create(AeadAlgorithm::AesGcmSiv128, Bytes(16, 7));
  ASSERT_TRUE(aead.has_value());
  Bytes sealed(kAeadTagLength);
  aead->seal(Bytes(12, 1), {}, {}, sealed.data());
  std::uint8_t out[1];
  EXPECT_TRUE(aead->open(Bytes(12, 1), {}, sealed, out));
  EXPECT_FALSE(aead->open(Bytes(16, 1), {}, sealed, out));
  EXPECT_FALSE(aead->open(Bytes(11, 1), {}, sealed, out));
  EXPECT_FALSE(aead->open(Bytes{}, {}, sealed, out));
  EXPECT_FALSE(aead->open(Bytes(12, 1), {}, ByteView(sealed).first(15), out));
}

TEST(GcmSiv, FailedOpenLeavesNoPlaintext) {
  auto aead = Aead::create(AeadAlgorithm::AesGcmSiv128, Bytes(16, 7));
  ASSERT_TRUE(aead.has_value());
  const Bytes plaintext(40, 0xab);
  Bytes sealed(plaintext.size() + kAeadTagLength);
  aead->seal(Bytes(12, 1), Bytes{1, 2}, plaintext, sealed.data());
  sealed.back() ^= 1;
  Bytes out(plaintext.size(), 0x55);
  EXPECT_FALSE(aead->open(Bytes(12, 1), Bytes{1, 2}, sealed, out.data()));
  EXPECT_EQ(out, Bytes(plaintext.size(), 0));
}

TEST(GcmSiv, SetKeyReusesTheHandleAndChangesTheKey) {
  const Vector& v = kRfc8452Vectors[8];
  Aead aead = Aead::empty();
  EXPECT_FALSE(aead.keyed());
  ASSERT_TRUE(aead.set_key(AeadAlgorithm::AesGcmSiv128, Bytes(16, 9)));
  ASSERT_TRUE(aead.set_key(AeadAlgorithm::AesGcmSiv128, hex(v.key)));
  Bytes out(hex(v.result).size());
  aead.seal(hex(v.nonce), hex(v.aad), hex(v.plaintext), out.data());
  EXPECT_EQ(out, hex(v.result));
  // From GCM-SIV to SIV-CMAC and back on one object.
  ASSERT_TRUE(aead.set_key(AeadAlgorithm::AesSivCmac256, Bytes(32, 1)));
  EXPECT_EQ(aead.algorithm(), AeadAlgorithm::AesSivCmac256);
  ASSERT_TRUE(aead.set_key(AeadAlgorithm::AesGcmSiv128, hex(v.key)));
  aead.seal(hex(v.nonce), hex(v.aad), hex(v.plaintext), out.data());
  EXPECT_EQ(out, hex(v.result));
  EXPECT_FALSE(aead.set_key(AeadAlgorithm::AesGcmSiv128, Bytes(15, 1)));
  EXPECT_FALSE(aead.keyed());
}

TEST(GcmSiv, MovedFromHoldsNoKey) {
  auto aead = Aead::create(AeadAlgorithm::AesGcmSiv128, Bytes(16, 3));
  ASSERT_TRUE(aead.has_value());
  Aead moved = std::move(*aead);
  EXPECT_TRUE(moved.keyed());
  EXPECT_FALSE(aead->keyed());  // NOLINT(bugprone-use-after-move): the point of the test
  Bytes sealed(kAeadTagLength);
  moved.seal(Bytes(12, 0), {}, {}, sealed.data());
  std::uint8_t out[1];
  EXPECT_FALSE(aead->open(Bytes(12, 0), {}, sealed, out));
  EXPECT_TRUE(moved.open(Bytes(12, 0), {}, sealed, out));
}

TEST(GcmSivDeathTest, SealWithAWrongNonceLengthAborts) {
  auto aead = Aead::create(AeadAlgorithm::AesGcmSiv128, Bytes(16, 3));
  ASSERT_TRUE(aead.has_value());
  Bytes out(kAeadTagLength);
  EXPECT_DEATH(aead->seal(Bytes(16, 0), {}, {}, out.data()), "");
}

// ---------------------------------------------------------------------------------------
// Cross-checks between libraries.

// RFC 8452 §4 with Nettle's AES-128 as the block cipher: the per-nonce keys are the
// first halves of AES(K, LE32(i) ‖ nonce) for i = 0..3 (authentication, then encryption).
struct DerivedKeys {
  std::array<std::uint8_t, 16> authentication{};
  std::array<std::uint8_t, 16> encryption{};
};

DerivedKeys derive_with_nettle(ByteView key, ByteView nonce) {
  aes128_ctx aes;
  aes128_set_encrypt_key(&aes, key.data());
  DerivedKeys keys;
  for (std::uint8_t i = 0; i < 4; ++i) {
    std::uint8_t block[16] = {i, 0, 0, 0};
    std::copy(nonce.begin(), nonce.end(), block + 4);
    std::uint8_t out[16];
    aes128_encrypt(&aes, 16, out, block);
    auto& target = i < 2 ? keys.authentication : keys.encryption;
    std::copy(out, out + 8, target.begin() + (i % 2) * 8);
  }
  return keys;
}

// The CTR part of GCM-SIV with Nettle: counter block = tag with the top bit of its
// last byte set; the first 32 bits count up little-endian.
Bytes ctr_with_nettle(const DerivedKeys& keys, ByteView tag, ByteView input) {
  aes128_ctx aes;
  aes128_set_encrypt_key(&aes, keys.encryption.data());
  std::uint8_t counter[16];
  std::copy(tag.begin(), tag.end(), counter);
  counter[15] |= 0x80;
  Bytes out(input.size());
  for (std::size_t offset = 0; offset < input.size(); offset += 16) {
    std::uint8_t stream[16];
    aes128_encrypt(&aes, 16, stream, counter);
    for (std::size_t i = 0; i < 16 && offset + i < input.size(); ++i) {
      out[offset + i] = input[offset + i] ^ stream[i];
    }
    std::uint32_t low = counter[0] | (counter[1] << 8) | (counter[2] << 16) |
                        (static_cast<std::uint32_t>(counter[3]) << 24);
    ++low;
    for (int i = 0; i < 4; ++i) counter[i] = static_cast<std::uint8_t>(low >> (8 * i));
  }
  return out;
}

TEST(GcmSivCrossCheck, NettleDerivesTheRfcRecordKeys) {
  // RFC 8452 C.1, first vector: record authentication and encryption keys.
  const DerivedKeys keys =
      derive_with_nettle(hex("01000000000000000000000000000000"), hex("030000000000000000000000"));
  EXPECT_EQ(Bytes(keys.authentication.begin(), keys.authentication.end()),
            hex("d9b360279694941ac5dbc6987ada7377"));
  EXPECT_EQ(Bytes(keys.encryption.begin(), keys.encryption.end()),
            hex("4004a0dcd862f2a57360219d2d44ef6c"));
}

TEST(GcmSivCrossCheck, LibgcryptCiphertextIsNettleCtrUnderTheDerivedKey) {
  std::mt19937 rng(30);
  for (int round = 0; round < 200; ++round) {
    const Bytes key = random_bytes(rng, 16);
    const Bytes nonce = random_bytes(rng, 12);
    const Bytes ad = random_bytes(rng, rng() % 80);
    const Bytes plaintext = random_bytes(rng, rng() % 200);
    auto aead = Aead::create(AeadAlgorithm::AesGcmSiv128, key);
    ASSERT_TRUE(aead.has_value());
    Bytes sealed(plaintext.size() + kAeadTagLength);
    aead->seal(nonce, ad, plaintext, sealed.data());
    const ByteView tag = ByteView(sealed).last(kAeadTagLength);
    const Bytes expected = ctr_with_nettle(derive_with_nettle(key, nonce), tag, plaintext);
    EXPECT_EQ(Bytes(sealed.begin(), sealed.end() - kAeadTagLength), expected) << round;
  }
}

// RFC 5297 through Nettle: the AEAD of RFC 5116 §5 (S2V over the associated data,
// then the nonce, then the plaintext), tag ‖ ciphertext.
Bytes siv_with_nettle(AeadAlgorithm algorithm, ByteView key, ByteView nonce, ByteView ad,
                      ByteView plaintext) {
  Bytes out(kAeadTagLength + plaintext.size());
  switch (algorithm) {
    case AeadAlgorithm::AesSivCmac256: {
      siv_cmac_aes128_ctx ctx;
      siv_cmac_aes128_set_key(&ctx, key.data());
      siv_cmac_aes128_encrypt_message(&ctx, nonce.size(), nonce.data(), ad.size(), ad.data(),
                                      out.size(), out.data(), plaintext.data());
      break;
    }
    case AeadAlgorithm::AesSivCmac384: {
      cmac128_key cmac_key;
      aes192_ctx cmac_cipher;
      aes192_ctx ctr_cipher;
      siv_cmac_set_key(&cmac_key, &cmac_cipher, &ctr_cipher, &nettle_aes192, key.data());
      siv_cmac_encrypt_message(&cmac_key, &cmac_cipher, &nettle_aes192, &ctr_cipher, nonce.size(),
                               nonce.data(), ad.size(), ad.data(), out.size(), out.data(),
                               plaintext.data());
      break;
    }
    case AeadAlgorithm::AesSivCmac512: {
      siv_cmac_aes256_ctx ctx;
      siv_cmac_aes256_set_key(&ctx, key.data());
      siv_cmac_aes256_encrypt_message(&ctx, nonce.size(), nonce.data(), ad.size(), ad.data(),
                                      out.size(), out.data(), plaintext.data());
      break;
    }
    case AeadAlgorithm::AesGcmSiv128:
      ADD_FAILURE() << "not SIV-CMAC";
  }
  return out;
}

class SivCmacCrossCheck : public ::testing::TestWithParam<AeadAlgorithm> {};

TEST_P(SivCmacCrossCheck, CoreSivAgreesWithNettle) {
  const AeadAlgorithm algorithm = GetParam();
  std::mt19937 rng(static_cast<unsigned>(algorithm));
  Aead aead = Aead::empty();
  for (int round = 0; round < 300; ++round) {
    const Bytes key = random_bytes(rng, aead_key_length(algorithm));
    const Bytes nonce = random_bytes(rng, 1 + rng() % 24);
    // Empty associated data and empty plaintext included: both are S2V components
    // of their own, and leaving either out would give another tag.
    const Bytes ad = random_bytes(rng, round % 7 == 0 ? 0 : rng() % 300);
    const Bytes plaintext = random_bytes(rng, round % 5 == 0 ? 0 : rng() % 150);
    ASSERT_TRUE(aead.set_key(algorithm, key));
    Bytes sealed(plaintext.size() + kAeadTagLength);
    aead.seal(nonce, ad, plaintext, sealed.data());
    EXPECT_EQ(sealed, siv_with_nettle(algorithm, key, nonce, ad, plaintext)) << round;
    Bytes opened(plaintext.size());
    EXPECT_TRUE(aead.open(nonce, ad, sealed, opened.data())) << round;
    EXPECT_EQ(opened, plaintext) << round;
  }
}

INSTANTIATE_TEST_SUITE_P(AllSivCmac, SivCmacCrossCheck,
                         ::testing::Values(AeadAlgorithm::AesSivCmac256,
                                           AeadAlgorithm::AesSivCmac384,
                                           AeadAlgorithm::AesSivCmac512));

}  // namespace
}  // namespace ntsd::core
