// NTS cookies (RFC 8915 §6): what the server hands a client so that it can keep no state.
//
//   cookie = key id (4) ‖ nonce ‖ AEAD_master(nonce, ad = key id, AEAD id (4) ‖ C2S ‖ S2C)
//
// Two formats, told apart by their length:
//  - for AEAD 15, 16, 17: master AES-SIV-CMAC-256 under the 32-byte master key,
//    16-byte nonce; 104, 136 or 168 bytes. Byte for byte the format of the
//    releases before AEAD 30, so hosts of a fleet in a rolling upgrade open each
//    other's cookies for these algorithms.
//  - for AEAD 30: master AES-128-GCM-SIV under a 16-byte key derived from the
//    master key (HKDF-SHA256, info "ntsd cookie AES-128-GCM-SIV"), 12-byte nonce;
//    68 bytes. Only hosts that know AEAD 30 can use such a cookie anyway.
// The AEAD id takes 4 bytes so that every cookie length is a multiple of 4, which
// chrony requires and NTPsec assumes. bench/core_bench measures both masters.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "core/aead.h"
#include "core/bytes.h"
#include "core/nts_keys.h"
#include "core/random.h"

namespace ntsd::core {

struct CookieKeyId {
  std::uint32_t value = 0;
  auto operator<=>(const CookieKeyId&) const = default;
};

inline constexpr std::size_t kCookieKeyIdLength = 4;
inline constexpr std::size_t kCookieNonceLength = 16;                       // SIV-CMAC format
inline constexpr AeadAlgorithm kCookieAead = AeadAlgorithm::AesSivCmac256;  // master key shape
// The master AEAD of cookies that carry keys for `algorithm`.
AeadAlgorithm cookie_master_aead(AeadAlgorithm algorithm);

// Length of a cookie carrying keys for `algorithm`.
std::size_t cookie_length(AeadAlgorithm algorithm);
// Longest cookie any supported algorithm produces.
std::size_t max_cookie_length();

// Keyed GCM-SIV handles for one key, shared by threads: a libgcrypt handle holds
// per-message state, so each call borrows a free one (one atomic flag) and keys a
// fresh handle only when all are busy.
class GcmSivPool;

// One master key with its id, keyed once for both cookie formats: the expanded
// key schedules live as long as the key does, so no request sets a master key.
class CookieKey {
 public:
  // key_bytes: the 32-byte master key.
  static std::optional<CookieKey> create(CookieKeyId id, ByteView key_bytes);
  CookieKey(CookieKey&&) noexcept;
  CookieKey& operator=(CookieKey&&) noexcept;
  ~CookieKey();
  [[nodiscard]] CookieKeyId id() const { return id_; }
  // The SIV-CMAC master (AEAD 15/16/17 cookies).
  [[nodiscard]] const Aead& aead() const { return aead_; }
  // Seal or open with the GCM-SIV master (AEAD 30 cookies); thread-safe.
  void seal_gcm_siv(ByteView nonce, ByteView ad, ByteView plaintext, std::uint8_t* out) const;
  [[nodiscard]] bool open_gcm_siv(ByteView nonce, ByteView ad, ByteView sealed,
                                  std::uint8_t* out) const;

 private:
  CookieKey(CookieKeyId id, Aead aead, std::unique_ptr<GcmSivPool> gcm);
  CookieKeyId id_;
  Aead aead_;
  std::unique_ptr<GcmSivPool> gcm_;
};

// The master keys a server accepts cookies for, and the one it mints with.
// Read-only interface: rotation and persistence live outside the core.
class CookieKeyring {
 public:
  virtual ~CookieKeyring() = default;
  [[nodiscard]] virtual const CookieKey& current() const = 0;
  [[nodiscard]] virtual const CookieKey* find(CookieKeyId id) const = 0;
};

// The simplest keyring: a fixed list, the first one current.
class StaticCookieKeyring final : public CookieKeyring {
 public:
  explicit StaticCookieKeyring(std::vector<CookieKey> keys);  // keys must not be empty
  [[nodiscard]] const CookieKey& current() const override { return keys_.front(); }
  [[nodiscard]] const CookieKey* find(CookieKeyId id) const override;

 private:
  std::vector<CookieKey> keys_;
};

// Writes cookie_length(keys.algorithm()) bytes to out.
void seal_cookie(const CookieKey& key, const NtsKeys& keys, RandomSource& random,
                 std::span<std::uint8_t> out);

enum class CookieError : std::uint8_t {
  Malformed,   // wrong length or unknown AEAD id inside
  UnknownKey,  // key id not in the keyring
  BadTag,      // tag did not verify
};

struct OpenedCookie {
  std::optional<NtsKeys> keys;
  CookieError error = CookieError::Malformed;  // meaningful only when !keys
};

OpenedCookie open_cookie(const CookieKeyring& keyring, ByteView cookie);

}  // namespace ntsd::core
