// NTS cookies (RFC 8915 §6): what the server hands a client so that it can keep no state.
//
//   cookie = key id (4) ‖ nonce (16) ‖ AEAD_master(nonce, ad = key id, AEAD id (4) ‖ C2S ‖ S2C)
//
// The AEAD id takes 4 bytes so that cookies are 104, 136, 168 bytes (AEAD 15, 16,
// 17) or 72 (AEAD 30): a multiple of 4, which chrony requires and NTPsec assumes.
//
// The master AEAD is AES-SIV-CMAC-256 whatever the client negotiated. AES-128-GCM-SIV
// (what chrony 4.6 seals its cookies with) was measured as the alternative for the
// master and is slower here (its per-message key derivation; bench/RESULTS.md), so
// the format stays the one of the releases before AEAD 30: hosts of a fleet in a
// rolling upgrade open each other's AEAD 15/16/17 cookies.
//
// A keyed AEAD context cannot be shared between threads, so a CookieKey holds
// the key itself and each thread keys its own contexts for the few master keys it
// used last (cookie.cpp): the key schedule is expanded on a thread's first use of a
// key, never per cookie.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
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
inline constexpr std::size_t kCookieNonceLength = 16;
inline constexpr AeadAlgorithm kCookieAead = AeadAlgorithm::AesSivCmac256;

// Length of a cookie carrying keys for `algorithm`.
std::size_t cookie_length(AeadAlgorithm algorithm);
// Longest cookie any supported algorithm produces.
std::size_t max_cookie_length();

inline constexpr std::size_t kCookieKeyLength = aead_key_length(kCookieAead);

// One master key with its id. Immutable; wiped on destruction. Safe to read from
// any number of threads.
class CookieKey {
 public:
  // nullopt when key_bytes is not kCookieKeyLength bytes.
  static std::optional<CookieKey> create(CookieKeyId id, ByteView key_bytes);
  CookieKey(const CookieKey&) = delete;
  CookieKey& operator=(const CookieKey&) = delete;
  CookieKey(CookieKey&& other) noexcept;
  CookieKey& operator=(CookieKey&& other) noexcept;
  ~CookieKey();

  [[nodiscard]] CookieKeyId id() const { return id_; }
  [[nodiscard]] ByteView bytes() const { return bytes_; }
  // This thread's context keyed with this key (see above). Valid until this thread
  // next asks any CookieKey for its context.
  [[nodiscard]] const Aead& aead() const;

 private:
  CookieKey(CookieKeyId id, ByteView key_bytes);
  CookieKeyId id_;
  std::array<std::uint8_t, kCookieKeyLength> bytes_{};
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
