#include "core/cookie.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "core/gcm_siv.h"

namespace ntsd::core {

namespace {

// The AEAD id is stored in 4 bytes, not the 2 of the registry, so that every
// cookie length is a multiple of 4: chrony 4.3 rejects other cookies, and NTPsec
// 1.2.2 sends them back padded.
constexpr std::size_t kAeadIdLength = 4;
constexpr std::size_t kMaxCookiePlaintextLength = kAeadIdLength + 2 * kMaxAeadKeyLength;
constexpr std::size_t kMasterKeyLength = 32;
constexpr std::string_view kGcmSivKeyInfo = "ntsd cookie AES-128-GCM-SIV";

constexpr std::array kCookieAlgorithms = {
    AeadAlgorithm::AesSivCmac256, AeadAlgorithm::AesSivCmac384, AeadAlgorithm::AesSivCmac512,
    AeadAlgorithm::AesGcmSiv128};

std::size_t cookie_plaintext_length(AeadAlgorithm algorithm) {
  return kAeadIdLength + 2 * aead_key_length(algorithm);
}

std::size_t cookie_nonce_length(AeadAlgorithm algorithm) {
  return aead_nonce_length(cookie_master_aead(algorithm));
}

std::size_t cookie_header_length(AeadAlgorithm algorithm) {
  return kCookieKeyIdLength + cookie_nonce_length(algorithm);
}

// HKDF-SHA256(master, info) -> 16 bytes: the GCM-SIV master, distinct from the
// SIV-CMAC one so that no key serves two algorithms.
bool derive_gcm_siv_key(ByteView master, std::span<std::uint8_t, kGcmSivKeyLength> out) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* ctx = kdf != nullptr ? EVP_KDF_CTX_new(kdf) : nullptr;
  EVP_KDF_free(kdf);
  if (ctx == nullptr) return false;
  char digest[] = "SHA256";
  // OSSL_PARAM takes non-const pointers; the KDF only reads these buffers.
  auto* ikm = const_cast<std::uint8_t*>(master.data());
  auto* info = const_cast<char*>(kGcmSivKeyInfo.data());
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm, master.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, kGcmSivKeyInfo.size()),
      OSSL_PARAM_construct_end(),
  };
  const bool ok = EVP_KDF_derive(ctx, out.data(), out.size(), params) == 1;
  EVP_KDF_CTX_free(ctx);  // clears the copy of the key it held
  return ok;
}

// Holds decrypted key material on the stack and wipes it on every way out.
class WipedBuffer {
 public:
  WipedBuffer() = default;
  WipedBuffer(const WipedBuffer&) = delete;
  WipedBuffer& operator=(const WipedBuffer&) = delete;
  ~WipedBuffer() { secure_wipe(bytes_.data(), bytes_.size()); }
  std::uint8_t* data() { return bytes_.data(); }

 private:
  std::array<std::uint8_t, kMaxCookiePlaintextLength> bytes_{};
};

}  // namespace

// A few handles keyed once; NTP workers and KE threads borrow them. More threads
// than slots fall back to keying a handle of their own for that one call.
class GcmSivPool {
 public:
  static constexpr std::size_t kSlots = 8;

  explicit GcmSivPool(std::span<const std::uint8_t, kGcmSivKeyLength> key) {
    std::copy(key.begin(), key.end(), key_.begin());
  }
  GcmSivPool(const GcmSivPool&) = delete;
  GcmSivPool& operator=(const GcmSivPool&) = delete;
  ~GcmSivPool() { secure_wipe(key_.data(), key_.size()); }

  bool init() {
    for (auto& slot : slots_) {
      if (!slot.cipher.set_key(key_)) return false;
    }
    return true;
  }

  template <typename Use>
  auto with_cipher(Use&& use) const {
    for (auto& slot : slots_) {
      if (!slot.busy.test_and_set(std::memory_order_acquire)) {
        auto result = use(slot.cipher);
        slot.busy.clear(std::memory_order_release);
        return result;
      }
    }
    GcmSivCipher own;
    if (!own.set_key(key_)) std::abort();  // keyed once already: cannot fail now
    return use(own);
  }

 private:
  struct Slot {
    mutable std::atomic_flag busy;
    GcmSivCipher cipher;
  };
  std::array<std::uint8_t, kGcmSivKeyLength> key_{};
  mutable std::array<Slot, kSlots> slots_;
};

AeadAlgorithm cookie_master_aead(AeadAlgorithm algorithm) {
  return algorithm == AeadAlgorithm::AesGcmSiv128 ? AeadAlgorithm::AesGcmSiv128 : kCookieAead;
}

std::size_t cookie_length(AeadAlgorithm algorithm) {
  if (!aead_from_id(static_cast<std::uint16_t>(algorithm))) return 0;
  return cookie_header_length(algorithm) + kAeadTagLength + cookie_plaintext_length(algorithm);
}

std::size_t max_cookie_length() {
  std::size_t longest = 0;
  for (auto algorithm : kCookieAlgorithms) longest = std::max(longest, cookie_length(algorithm));
  return longest;
}

std::optional<CookieKey> CookieKey::create(CookieKeyId id, ByteView key_bytes) {
  if (key_bytes.size() != kMasterKeyLength) return std::nullopt;
  auto aead = Aead::create(kCookieAead, key_bytes);
  if (!aead) return std::nullopt;
  std::array<std::uint8_t, kGcmSivKeyLength> gcm_key{};
  const bool derived = derive_gcm_siv_key(key_bytes, gcm_key);
  auto pool = std::make_unique<GcmSivPool>(gcm_key);
  secure_wipe(gcm_key.data(), gcm_key.size());
  if (!derived || !pool->init()) return std::nullopt;
  return CookieKey(id, std::move(*aead), std::move(pool));
}

CookieKey::CookieKey(CookieKeyId id, Aead aead, std::unique_ptr<GcmSivPool> gcm)
    : id_(id), aead_(std::move(aead)), gcm_(std::move(gcm)) {}
CookieKey::CookieKey(CookieKey&&) noexcept = default;
CookieKey& CookieKey::operator=(CookieKey&&) noexcept = default;
CookieKey::~CookieKey() = default;

void CookieKey::seal_gcm_siv(ByteView nonce, ByteView ad, ByteView plaintext,
                             std::uint8_t* out) const {
  if (!gcm_) std::abort();  // moved from
  gcm_->with_cipher([&](const GcmSivCipher& cipher) {
    cipher.seal(nonce, ad, plaintext, out);
    return true;
  });
}

bool CookieKey::open_gcm_siv(ByteView nonce, ByteView ad, ByteView sealed,
                             std::uint8_t* out) const {
  if (!gcm_) return false;
  return gcm_->with_cipher(
      [&](const GcmSivCipher& cipher) { return cipher.open(nonce, ad, sealed, out); });
}

StaticCookieKeyring::StaticCookieKeyring(std::vector<CookieKey> keys) : keys_(std::move(keys)) {
  if (keys_.empty()) throw std::invalid_argument("StaticCookieKeyring: no keys");
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    for (std::size_t j = i + 1; j < keys_.size(); ++j) {
      if (keys_[i].id() == keys_[j].id()) {
        throw std::invalid_argument("StaticCookieKeyring: duplicate key id");
      }
    }
  }
}

const CookieKey* StaticCookieKeyring::find(CookieKeyId id) const {
  for (const auto& key : keys_) {
    if (key.id() == id) return &key;
  }
  return nullptr;
}

void seal_cookie(const CookieKey& key, const NtsKeys& keys, RandomSource& random,
                 std::span<std::uint8_t> out) {
  const AeadAlgorithm algorithm = keys.algorithm();
  const std::size_t key_length = aead_key_length(algorithm);
  const std::size_t length = cookie_length(algorithm);
  // Programming errors, not peer input: a default-constructed NtsKeys or a short
  // buffer would otherwise mint a cookie nobody can open, or overflow out.
  if (length == 0 || keys.c2s().size() != key_length || keys.s2c().size() != key_length ||
      out.size() < length) {
    std::abort();
  }

  const std::size_t nonce_length = cookie_nonce_length(algorithm);
  store_be32(out.data(), key.id().value);
  random.fill(out.subspan(kCookieKeyIdLength, nonce_length));

  WipedBuffer plaintext;
  store_be32(plaintext.data(), static_cast<std::uint32_t>(algorithm));
  std::copy(keys.c2s().begin(), keys.c2s().end(), plaintext.data() + kAeadIdLength);
  std::copy(keys.s2c().begin(), keys.s2c().end(), plaintext.data() + kAeadIdLength + key_length);

  const ByteView key_id{out.data(), kCookieKeyIdLength};
  const ByteView nonce{out.data() + kCookieKeyIdLength, nonce_length};
  const ByteView inner{plaintext.data(), cookie_plaintext_length(algorithm)};
  std::uint8_t* sealed = out.data() + cookie_header_length(algorithm);
  if (cookie_master_aead(algorithm) == AeadAlgorithm::AesGcmSiv128) {
    key.seal_gcm_siv(nonce, key_id, inner, sealed);
  } else {
    key.aead().seal(nonce, key_id, inner, sealed);
  }
}

OpenedCookie open_cookie(const CookieKeyring& keyring, ByteView cookie) {
  OpenedCookie result;

  // Every algorithm gives a distinct length, so the length names the algorithm
  // and with it the format.
  std::optional<AeadAlgorithm> by_length;
  for (auto algorithm : kCookieAlgorithms) {
    if (cookie.size() == cookie_length(algorithm)) by_length = algorithm;
  }
  if (!by_length) {
    result.error = CookieError::Malformed;
    return result;
  }

  const ByteView key_id = cookie.first(kCookieKeyIdLength);
  const CookieKey* key = keyring.find(CookieKeyId{load_be32(key_id.data())});
  if (key == nullptr) {
    result.error = CookieError::UnknownKey;
    return result;
  }

  const ByteView nonce = cookie.subspan(kCookieKeyIdLength, cookie_nonce_length(*by_length));
  const ByteView sealed = cookie.subspan(cookie_header_length(*by_length));
  WipedBuffer plaintext;
  const bool opened = cookie_master_aead(*by_length) == AeadAlgorithm::AesGcmSiv128
                          ? key->open_gcm_siv(nonce, key_id, sealed, plaintext.data())
                          : key->aead().open(nonce, key_id, sealed, plaintext.data());
  if (!opened) {
    result.error = CookieError::BadTag;
    return result;
  }

  // Authentic, so minted by us; still refuse an inner id that disagrees with the length
  // rather than read keys of the wrong size.
  const std::uint32_t inner_id = load_be32(plaintext.data());
  const auto inner =
      inner_id > 0xffff ? std::nullopt : aead_from_id(static_cast<std::uint16_t>(inner_id));
  if (!inner || *inner != *by_length) {
    result.error = CookieError::Malformed;
    return result;
  }
  const std::size_t key_length = aead_key_length(*inner);
  const std::uint8_t* c2s = plaintext.data() + kAeadIdLength;
  result.keys =
      NtsKeys::create(*inner, ByteView{c2s, key_length}, ByteView{c2s + key_length, key_length});
  return result;
}

}  // namespace ntsd::core
