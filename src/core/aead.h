// AEAD algorithms NTS negotiates (RFC 8915 §5.1, IANA AEAD registry): AES-SIV-CMAC
// (15, 16, 17; RFC 5297) in siv_cmac.h, on Nettle's AES, and AES-128-GCM-SIV (30;
// RFC 8452, which Nettle 3.8 and OpenSSL 3.0 lack) on libgcrypt.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/siv_cmac.h"

struct gcry_cipher_handle;

namespace ntsd::core {

enum class AeadAlgorithm : std::uint16_t {
  AesSivCmac256 = 15,
  AesSivCmac384 = 16,
  AesSivCmac512 = 17,
  AesGcmSiv128 = 30,
};

inline constexpr std::size_t kAeadTagLength = 16;
inline constexpr std::size_t kMaxAeadKeyLength = 64;
inline constexpr std::size_t kGcmSivKeyLength = 16;
inline constexpr std::size_t kGcmSivNonceLength = 12;  // N_MIN = N_MAX = 12

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
    // SIV-CMAC keys are two AES keys: one for CMAC, one for CTR.
    case AeadAlgorithm::AesSivCmac256:
      return 32;
    case AeadAlgorithm::AesSivCmac384:
      return 48;
    case AeadAlgorithm::AesSivCmac512:
      return 64;
    case AeadAlgorithm::AesGcmSiv128:
      return kGcmSivKeyLength;
  }
  return 0;
}
inline constexpr std::size_t kAeadAlgorithmCount = 4;
// 0 to 3, in the order of the enum: an index into per-algorithm tables.
constexpr std::size_t aead_index(AeadAlgorithm algorithm) {
  switch (algorithm) {
    case AeadAlgorithm::AesSivCmac256:
      return 0;
    case AeadAlgorithm::AesSivCmac384:
      return 1;
    case AeadAlgorithm::AesSivCmac512:
      return 2;
    case AeadAlgorithm::AesGcmSiv128:
      return 3;
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

// A keyed AEAD context, keyed once for many messages: a SivCmacKey, or for
// GCM-SIV one libgcrypt cipher handle. Not thread-safe: libgcrypt keeps
// per-message state in the handle, so even seal() and open(), though const, must
// not run concurrently on one Aead; each thread needs its own. Unkeying it
// (destruction, move, failed set_key) wipes the key schedules.
//
// A moved-from Aead holds no key: open() on it returns false and seal() aborts the
// process (sealing with a wiped key would emit forgeable output). Assign a keyed
// Aead to it to use it again.
class Aead {
 public:
  // nullopt when algorithm is not one of the four above,
  // key.size() != aead_key_length(algorithm) or libgcrypt cannot open a handle.
  static std::optional<Aead> create(AeadAlgorithm algorithm, ByteView key);

  // An unkeyed context (as a moved-from one): set_key() before use.
  static Aead empty() noexcept { return {}; }

  // Keys this context for algorithm, reusing its handle when the algorithm is the
  // same, and doing nothing when it already holds this very key (the NTP path
  // re-keys per request, and one client's requests carry the same keys; the
  // comparison is constant-time). False, leaving it unkeyed, on the conditions
  // of create().
  [[nodiscard]] bool set_key(AeadAlgorithm algorithm, ByteView key);
  [[nodiscard]] bool keyed() const { return key_length_ != 0; }

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
  Aead() = default;
  // Starts a GCM-SIV message on the handle: nonce, then associated data.
  [[nodiscard]] bool start_gcm_siv(ByteView nonce, ByteView associated_data) const;
  void close() noexcept;

  AeadAlgorithm algorithm_ = AeadAlgorithm::AesSivCmac256;
  // AES-SIV-CMAC: keyed while key_length_ != 0.
  SivCmacKey siv_;
  // GCM-SIV: open for algorithm_ (possibly unkeyed after a failed set_key: then closed).
  gcry_cipher_handle* handle_ = nullptr;
  // The key the handle was keyed with (key_length_ = 0 when unkeyed), kept to skip
  // keying it again; wiped with the handle.
  std::array<std::uint8_t, kMaxAeadKeyLength> key_{};
  std::size_t key_length_ = 0;
};

}  // namespace ntsd::core
