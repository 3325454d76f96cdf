// AES-SIV-CMAC (RFC 5297) for AEAD 15, 16 and 17, on Nettle's AES block functions.
//
// S2V is one CMAC per input string (the associated data, the nonce, the
// plaintext), folded together with doublings. The CMACs of the strings before
// the plaintext do not depend on each other, and the plaintext's depends on
// them only in its last 16 bytes (RFC 5297 "xorend"). So here the chains
// advance side by side: each step hands one block of every chain to the block
// cipher in a single call, which Nettle's AES-NI code encrypts in parallel. A
// message then costs about as many AES latencies as its longest string has
// blocks, where Nettle's siv_cmac and libgcrypt's SIV mode, running the chains
// one after another, pay for all of them; the NTP path seals and opens four
// messages per request (bench/RESULTS.md).
//
// Only the mode is here: the block cipher is Nettle's, and the tests hold it to
// RFC 5297's vectors, the shared NTS vectors, and to OpenSSL and libgcrypt.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/bytes.h"

struct nettle_cipher;

namespace ntsd::core {

inline constexpr std::size_t kSivBlockLength = 16;
// Strings before the plaintext that one message may have (NTS uses two).
inline constexpr std::size_t kMaxSivStrings = 4;
inline constexpr std::size_t kMaxSivKeyHalf = 32;  // AES-256

// A keyed AES-SIV-CMAC key: both AES key schedules, CMAC's subkeys, and the
// CMAC of the zero block every S2V starts from. The CTR half's schedule is
// expanded by the first message with bytes to encrypt, so even seal() and
// open() must not run concurrently on one key. Wiped when cleared or destroyed.
class SivCmacKey {
 public:
  SivCmacKey() = default;
  SivCmacKey(const SivCmacKey&) = delete;
  SivCmacKey& operator=(const SivCmacKey&) = delete;
  // The moved-from key is wiped and unkeyed.
  SivCmacKey(SivCmacKey&& other) noexcept;
  SivCmacKey& operator=(SivCmacKey&& other) noexcept;
  ~SivCmacKey();

  // key = CMAC key ‖ CTR key: 32, 48 or 64 bytes (AES-128, -192, -256 halves).
  // False for any other length, leaving the key unkeyed.
  [[nodiscard]] bool set_key(ByteView key);
  [[nodiscard]] bool keyed() const { return cipher_ != nullptr; }
  void clear() noexcept;

  // `strings` are S2V's inputs before the plaintext (for NTS the associated
  // data, then the nonce), at most kMaxSivStrings; seal() aborts on more and
  // on an unkeyed key, open() returns false.
  // Writes tag ‖ ciphertext (kSivBlockLength + plaintext.size() bytes) to out,
  // which must not overlap the inputs.
  void seal(std::span<const ByteView> strings, ByteView plaintext, std::uint8_t* out) const;
  // Decrypts tag ‖ ciphertext into out (sealed.size() - kSivBlockLength bytes,
  // not overlapping the inputs) and checks the tag in constant time. On false,
  // out holds no plaintext.
  [[nodiscard]] bool open(std::span<const ByteView> strings, ByteView sealed,
                          std::uint8_t* out) const;

 private:
  using Block = std::array<std::uint8_t, kSivBlockLength>;
  // Large enough for Nettle's aes256_ctx (checked in siv_cmac.cpp).
  static constexpr std::size_t kContextLength = 240;
  struct Scratch;  // what one message derives; wiped once at its end

  void s2v(std::span<const ByteView> strings, ByteView plaintext, Scratch& scratch,
           std::uint8_t* tag) const;
  void ctr(const std::uint8_t* tag, const std::uint8_t* in, std::size_t length, std::uint8_t* out,
           Scratch& scratch) const;

  const nettle_cipher* cipher_ = nullptr;  // nullptr: unkeyed
  alignas(16) std::array<std::uint8_t, kContextLength> mac_context_{};
  // Expanded from ctr_key_ when ctr_ready_ is false and a message needs it.
  alignas(16) mutable std::array<std::uint8_t, kContextLength> ctr_context_{};
  std::array<std::uint8_t, kMaxSivKeyHalf> ctr_key_{};
  mutable bool ctr_ready_ = false;
  Block subkey1_{};
  Block subkey2_{};
  Block zero_mac_{};  // CMAC(0^128)
};

}  // namespace ntsd::core
