// AEAD algorithms NTS negotiates (RFC 8915 §5.1, IANA AEAD registry): AES-SIV-CMAC
// (15, 16, 17) on Nettle, AES-128-GCM-SIV (30, RFC 8452) on libgcrypt.
#pragma once

#include <nettle/aes.h>
#include <nettle/cmac.h>
#include <nettle/siv-cmac.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <variant>
#include <vector>

#include "core/bytes.h"
#include "core/gcm_siv.h"

namespace ntsd::core {

enum class AeadAlgorithm : std::uint16_t {
  AesSivCmac256 = 15,
  AesSivCmac384 = 16,
  AesSivCmac512 = 17,
  AesGcmSiv128 = 30,
};

inline constexpr std::size_t kAeadTagLength = 16;
inline constexpr std::size_t kMaxAeadKeyLength = 64;

// Inline: the NTP path asks both several times per request (cookie lengths).
constexpr std::optional<AeadAlgorithm> aead_from_id(std::uint16_t id) {
  switch (id) {
    case static_cast<std::uint16_t>(AeadAlgorithm::AesSivCmac256):
      return AeadAlgorithm::AesSivCmac256;
    case static_cast<std::uint16_t>(AeadAlgorithm::AesSivCmac384):
      return AeadAlgorithm::AesSivCmac384;
    case static_cast<std::uint16_t>(AeadAlgorithm::AesSivCmac512):
      return AeadAlgorithm::AesSivCmac512;
    case static_cast<std::uint16_t>(AeadAlgorithm::AesGcmSiv128):
      return AeadAlgorithm::AesGcmSiv128;
    default:
      return std::nullopt;
  }
}
constexpr std::size_t aead_key_length(AeadAlgorithm algorithm) {
  switch (algorithm) {
    case AeadAlgorithm::AesSivCmac256:
      return SIV_CMAC_AES128_KEY_SIZE;
    case AeadAlgorithm::AesSivCmac384:
      return std::size_t{2} * AES192_KEY_SIZE;
    case AeadAlgorithm::AesSivCmac512:
      return SIV_CMAC_AES256_KEY_SIZE;
    case AeadAlgorithm::AesGcmSiv128:
      return kGcmSivKeyLength;
  }
  return 0;
}
std::string_view aead_name(AeadAlgorithm algorithm);

// "30,15,17,16": known ids, comma-separated, no spaces, each once, at least one.
// nullopt for anything else (the caller names the setting in its error).
std::optional<std::vector<AeadAlgorithm>> parse_aead_list(std::string_view text);

// Nonces (RFC 8915 §5.6). The length we draw for our own messages: 16 for SIV-CMAC
// (any length >= 1 works), 12 for GCM-SIV (its only length).
std::size_t aead_nonce_length(AeadAlgorithm algorithm);
// N_REQ = min(16, N_MAX): the nonce, its padding and the Additional Padding of an
// authenticator together span at least this many bytes.
std::size_t aead_min_nonce_space(AeadAlgorithm algorithm);
// Whether a peer's nonce of this length can be used at all.
bool aead_accepts_nonce_length(AeadAlgorithm algorithm, std::size_t length);

// A keyed AEAD context. Keyed once, used for many messages; wipes its key schedule
// when destroyed or moved from. SIV-CMAC contexts hold no heap memory; a GCM-SIV
// one holds a libgcrypt handle, which set_key() reuses, and is not thread-safe to
// use concurrently (SIV-CMAC contexts are: seal/open only read them).
//
// A moved-from Aead holds no key: open() on it returns false and seal() aborts the
// process (sealing with a wiped key would emit forgeable output). Assign a keyed
// Aead to it to use it again.
class Aead {
 public:
  // nullopt when algorithm is not one of the four above or
  // key.size() != aead_key_length(algorithm).
  static std::optional<Aead> create(AeadAlgorithm algorithm, ByteView key);

  // An unkeyed context (as a moved-from one): set_key() before use.
  static Aead empty() { return {}; }

  // Keys this context for algorithm, reusing what it already holds (the GCM-SIV
  // handle) when it can, and doing nothing when it already holds this very key (the
  // NTP path re-keys per request, and one client's requests carry the same keys;
  // the comparison is constant-time). False, leaving it unkeyed, on the conditions
  // of create().
  [[nodiscard]] bool set_key(AeadAlgorithm algorithm, ByteView key);
  [[nodiscard]] bool keyed() const;

  Aead(const Aead&) = delete;
  Aead& operator=(const Aead&) = delete;
  Aead(Aead&& other) noexcept;
  Aead& operator=(Aead&& other) noexcept;
  ~Aead();

  [[nodiscard]] AeadAlgorithm algorithm() const { return algorithm_; }

  // Writes the sealed message (kAeadTagLength + plaintext.size() bytes: tag ‖
  // ciphertext for SIV-CMAC, ciphertext ‖ tag for GCM-SIV, each algorithm's own
  // RFC layout) to out, which must not overlap the inputs. plaintext may be empty.
  // Precondition: aead_accepts_nonce_length(algorithm(), nonce.size()). Every
  // caller passes a nonce it generated itself; another aborts the process.
  void seal(ByteView nonce, ByteView associated_data, ByteView plaintext, std::uint8_t* out) const;

  // Verifies and decrypts a sealed message into out (sealed.size() - kAeadTagLength
  // bytes), which must not overlap the inputs. False when the tag does not verify,
  // sealed is shorter than a tag, the nonce length is not accepted (a peer may send
  // any), or this Aead holds no key. On false, out never holds unauthenticated
  // plaintext: a failed tag check wipes what was decrypted.
  [[nodiscard]] bool open(ByteView nonce, ByteView associated_data, ByteView sealed,
                          std::uint8_t* out) const;

 private:
  // Nettle has ready-made contexts for AES-128 and AES-256 SIV; AES-192 goes through
  // the generic siv_cmac_* functions with this struct of the same shape.
  struct SivCmacAes192Ctx {
    struct cmac128_key cmac_key;
    struct aes192_ctx cmac_cipher;
    struct aes192_ctx ctr_cipher;
  };
  // monostate = no key (moved from). The Nettle alternatives are trivially
  // copyable, so a move copies the key schedule and then wipes the source; the
  // GCM-SIV handle moves.
  using Context = std::variant<std::monostate, siv_cmac_aes128_ctx, SivCmacAes192Ctx,
                               siv_cmac_aes256_ctx, GcmSivCipher>;

  Aead() = default;
  // Expands key into context_ (algorithm and length already checked).
  bool expand_key(AeadAlgorithm algorithm, ByteView key);
  void wipe() noexcept;

  AeadAlgorithm algorithm_ = AeadAlgorithm::AesSivCmac256;
  Context context_;
  // The key the context was expanded from (key_length_ = 0 when unkeyed), kept to
  // skip expanding it again; wiped with the context.
  std::array<std::uint8_t, kMaxAeadKeyLength> key_{};
  std::size_t key_length_ = 0;
};

}  // namespace ntsd::core
