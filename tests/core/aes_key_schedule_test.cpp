#include "core/aes_key_schedule.h"

#include <gtest/gtest.h>
#include <nettle/aes.h>
#include <nettle/nettle-meta.h>

#include <array>
#include <cstdint>
#include <random>

#include "support/test_bytes.h"

namespace ntsd::core {
namespace {

// Every schedule must equal Nettle's byte for byte: Nettle's AES-NI encryption
// reads it. Random keys, plus the all-zero and all-one keys.
void expect_as_nettle(const nettle_cipher& cipher, std::uint32_t seed) {
  std::mt19937 rng(seed);
  for (std::uint32_t i = 0; i < 500; ++i) {
    Bytes key = test_support::random_bytes(rng, cipher.key_size);
    if (i == 0) key.assign(cipher.key_size, 0x00);
    if (i == 1) key.assign(cipher.key_size, 0xff);
    alignas(16) std::array<std::uint8_t, 256> ours{};
    alignas(16) std::array<std::uint8_t, 256> nettles{};
    expand_aes_key(&cipher, ours.data(), key.data());
    cipher.set_encrypt_key(nettles.data(), key.data());
    ASSERT_EQ(ours, nettles) << cipher.name << " key " << i;
  }
}

TEST(AesKeySchedule, Aes128IsNettles) { expect_as_nettle(nettle_aes128, 100); }
TEST(AesKeySchedule, Aes192IsNettles) { expect_as_nettle(nettle_aes192, 200); }
TEST(AesKeySchedule, Aes256IsNettles) { expect_as_nettle(nettle_aes256, 300); }

// FIPS 197 appendix A.1: the last round key of 2b7e1516 28aed2a6 abf71588 09cf4f3c.
TEST(AesKeySchedule, Fips197Aes128LastRoundKey) {
  const Bytes key = test_support::hex("2b7e151628aed2a6abf7158809cf4f3c");
  alignas(16) std::array<std::uint8_t, sizeof(aes128_ctx)> context{};
  expand_aes_key(&nettle_aes128, context.data(), key.data());
  EXPECT_EQ(Bytes(context.end() - 16, context.end()),
            test_support::hex("d014f9a8c9ee2589e13f0cc8b6630ca6"));
}

// FIPS 197 appendix A.3: the last round key of the AES-256 example key.
TEST(AesKeySchedule, Fips197Aes256LastRoundKey) {
  const Bytes key =
      test_support::hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
  alignas(16) std::array<std::uint8_t, sizeof(aes256_ctx)> context{};
  expand_aes_key(&nettle_aes256, context.data(), key.data());
  EXPECT_EQ(Bytes(context.end() - 16, context.end()),
            test_support::hex("fe4890d1e6188d0b046df344706c631e"));
}

// The comparisons above only test ours where the processor has AES-NI.
TEST(AesKeySchedule, AcceleratedWhereTheProcessorHasAesNi) {
#if defined(__x86_64__)
  EXPECT_EQ(aes_key_schedule_accelerated(), __builtin_cpu_supports("aes") != 0);
#endif
  if (!aes_key_schedule_accelerated()) GTEST_SKIP() << "no AES-NI: Nettle's schedule is used";
}

}  // namespace
}  // namespace ntsd::core
