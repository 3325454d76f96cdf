#include "core/cookie.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <stdexcept>
#include <utility>

namespace ntsd::core {

namespace {

// The AEAD id is stored in 4 bytes, not the 2 of the registry, so that every
// cookie length is a multiple of 4: chrony 4.3 rejects other cookies, and NTPsec
// 1.2.2 sends them back padded.
constexpr std::size_t kAeadIdLength = 4;
constexpr std::size_t kCookieHeaderLength = kCookieKeyIdLength + kCookieNonceLength;
constexpr std::size_t kMaxCookiePlaintextLength = kAeadIdLength + 2 * kMaxAeadKeyLength;

constexpr std::array kCookieAlgorithms = {
    AeadAlgorithm::AesSivCmac256, AeadAlgorithm::AesSivCmac384, AeadAlgorithm::AesSivCmac512,
    AeadAlgorithm::AesGcmSiv128};

std::size_t cookie_plaintext_length(AeadAlgorithm algorithm) {
  return kAeadIdLength + 2 * aead_key_length(algorithm);
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

// Each thread's keyed contexts for the master keys it used last. A handful is
// plenty: the current key mints every cookie and opens most of them, and returning
// clients bring cookies of a few older keys (three keys are live with the default
// rotation). A miss re-keys the least recently used slot.
class ThreadMasterContexts {
 public:
  const Aead& keyed_with(const CookieKey& key) {
    Slot* slot = find(key.id());
    if (slot == nullptr) slot = least_recently_used();
    // A no-op when the slot already holds these bytes; comparing them, not just the
    // id, keeps two keyrings that reuse an id (tests, a reloaded key file) apart.
    if (!slot->aead.set_key(kCookieAead, key.bytes())) std::abort();  // length checked
    slot->id = key.id();
    slot->last_use = ++uses_;
    return slot->aead;
  }

 private:
  struct Slot {
    CookieKeyId id;
    std::uint64_t last_use = 0;
    Aead aead = Aead::empty();
  };
  static constexpr std::size_t kSlots = 8;

  Slot* find(CookieKeyId id) {
    for (auto& slot : slots_) {
      if (slot.id == id && slot.aead.keyed()) return &slot;
    }
    return nullptr;
  }
  Slot* least_recently_used() {
    return &*std::min_element(slots_.begin(), slots_.end(),
                              [](const Slot& a, const Slot& b) { return a.last_use < b.last_use; });
  }

  std::array<Slot, kSlots> slots_;
  std::uint64_t uses_ = 0;
};

thread_local ThreadMasterContexts thread_master_contexts;

}  // namespace

std::size_t cookie_length(AeadAlgorithm algorithm) {
  if (!aead_from_id(static_cast<std::uint16_t>(algorithm))) return 0;
  return kCookieHeaderLength + kAeadTagLength + cookie_plaintext_length(algorithm);
}

std::size_t max_cookie_length() {
  std::size_t longest = 0;
  for (auto algorithm : kCookieAlgorithms) longest = std::max(longest, cookie_length(algorithm));
  return longest;
}

std::optional<CookieKey> CookieKey::create(CookieKeyId id, ByteView key_bytes) {
  if (key_bytes.size() != kCookieKeyLength) return std::nullopt;
  return CookieKey(id, key_bytes);
}

CookieKey::CookieKey(CookieKeyId id, ByteView key_bytes) : id_(id) {
  std::copy(key_bytes.begin(), key_bytes.end(), bytes_.begin());
}

CookieKey::CookieKey(CookieKey&& other) noexcept : id_(other.id_), bytes_(other.bytes_) {
  secure_wipe(other.bytes_.data(), other.bytes_.size());
}

CookieKey& CookieKey::operator=(CookieKey&& other) noexcept {
  if (this != &other) {
    id_ = other.id_;
    bytes_ = other.bytes_;
    secure_wipe(other.bytes_.data(), other.bytes_.size());
  }
  return *this;
}

CookieKey::~CookieKey() { secure_wipe(bytes_.data(), bytes_.size()); }

const Aead& CookieKey::aead() const { return thread_master_contexts.keyed_with(*this); }

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

  store_be32(out.data(), key.id().value);
  random.fill(out.subspan(kCookieKeyIdLength, kCookieNonceLength));

  WipedBuffer plaintext;
  store_be32(plaintext.data(), static_cast<std::uint32_t>(algorithm));
  std::copy(keys.c2s().begin(), keys.c2s().end(), plaintext.data() + kAeadIdLength);
  std::copy(keys.s2c().begin(), keys.s2c().end(), plaintext.data() + kAeadIdLength + key_length);

  const ByteView key_id{out.data(), kCookieKeyIdLength};
  const ByteView nonce{out.data() + kCookieKeyIdLength, kCookieNonceLength};
  key.aead().seal(nonce, key_id, ByteView{plaintext.data(), cookie_plaintext_length(algorithm)},
                  out.data() + kCookieHeaderLength);
}

OpenedCookie open_cookie(const CookieKeyring& keyring, ByteView cookie) {
  OpenedCookie result;

  // The four algorithms have distinct key lengths, so the length names the algorithm.
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

  const ByteView nonce = cookie.subspan(kCookieKeyIdLength, kCookieNonceLength);
  const ByteView sealed = cookie.subspan(kCookieHeaderLength);
  WipedBuffer plaintext;
  if (!key->aead().open(nonce, key_id, sealed, plaintext.data())) {
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
