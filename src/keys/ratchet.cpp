#include "keys/ratchet.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <limits>
#include <stdexcept>

namespace ntsd::keys {

std::optional<MasterKey> MasterKey::from_bytes(core::ByteView bytes) {
  if (bytes.size() != kMasterKeyLength) return std::nullopt;
  MasterKey key;
  std::copy(bytes.begin(), bytes.end(), key.bytes_.begin());
  return key;
}

MasterKey MasterKey::random(core::RandomSource& random) {
  MasterKey key;
  random.fill(key.bytes_);
  return key;
}

MasterKey::MasterKey(MasterKey&& other) noexcept : bytes_(other.bytes_) {
  core::secure_wipe(other.bytes_.data(), other.bytes_.size());
}

MasterKey& MasterKey::operator=(MasterKey&& other) noexcept {
  if (this != &other) {
    bytes_ = other.bytes_;
    core::secure_wipe(other.bytes_.data(), other.bytes_.size());
  }
  return *this;
}

MasterKey::~MasterKey() { core::secure_wipe(bytes_.data(), bytes_.size()); }

MasterKey MasterKey::copy() const {
  MasterKey key;
  key.bytes_ = bytes_;
  return key;
}

bool operator==(const MasterKey& a, const MasterKey& b) {
  // Constant time: the comparison is only used by tests and tools, but costs nothing.
  unsigned diff = 0;
  for (std::size_t i = 0; i < kMasterKeyLength; ++i) diff |= a.bytes_[i] ^ b.bytes_[i];
  return diff == 0;
}

MasterKey ratchet_step(const MasterKey& key, std::uint32_t next_epoch) {
  std::array<std::uint8_t, 4> salt{};
  core::store_be32(salt.data(), next_epoch);
  std::array<std::uint8_t, kMasterKeyLength> out{};

  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* ctx = kdf != nullptr ? EVP_KDF_CTX_new(kdf) : nullptr;
  EVP_KDF_free(kdf);
  bool ok = false;
  if (ctx != nullptr) {
    char digest[] = "SHA256";
    // OSSL_PARAM takes non-const pointers; the KDF only reads these buffers.
    auto* ikm = const_cast<std::uint8_t*>(key.bytes().data());
    auto* info = const_cast<char*>(kRatchetInfo.data());
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm, kMasterKeyLength),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt.data(), salt.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, kRatchetInfo.size()),
        OSSL_PARAM_construct_end(),
    };
    ok = EVP_KDF_derive(ctx, out.data(), out.size(), params) == 1;
    EVP_KDF_CTX_free(ctx);  // clears the copy of the key it held
  }
  // Without HKDF there is no next key: continuing with a wrong one would NAK every
  // client of the fleet, and a half-derived one could be weak. OpenSSL 3 always has it.
  if (!ok) std::abort();
  auto next = MasterKey::from_bytes(out);
  core::secure_wipe(out.data(), out.size());
  return std::move(*next);
}

bool Ratchet::advance_to(std::uint32_t epoch) {
  if (epoch < epoch_) return false;
  while (epoch_ < epoch) {
    key_ = ratchet_step(key_, epoch_ + 1);  // move-assignment wipes the temporary
    ++epoch_;
  }
  return true;
}

std::optional<std::uint32_t> epoch_at(std::int64_t unix_seconds, std::uint32_t rotation_seconds) {
  if (unix_seconds < 0 || rotation_seconds == 0) return std::nullopt;
  auto epoch = unix_seconds / rotation_seconds;
  // The successor (the "next" key) must fit the 32-bit key id too.
  if (epoch >= std::numeric_limits<std::uint32_t>::max()) return std::nullopt;
  return static_cast<std::uint32_t>(epoch);
}

std::int64_t epoch_start(std::uint32_t epoch, std::uint32_t rotation_seconds) {
  return static_cast<std::int64_t>(epoch) * rotation_seconds;
}

std::uint32_t oldest_kept_epoch(std::uint32_t current, std::uint32_t kept) {
  return current >= kept ? current - kept : 0;
}

std::uint32_t default_keys_kept(std::uint32_t rotation_seconds) {
  if (rotation_seconds == 0) return 1;
  auto kept = (kDefaultCookieLifetimeSeconds + rotation_seconds - 1) / rotation_seconds;
  return kept < 1 ? 1 : kept;
}

std::string format_utc(std::int64_t unix_seconds) {
  auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return "?";
  char text[64];
  (void)std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return text;
}

const core::CookieKey& EpochKeyring::current() const { return keys_[current_ - first_]; }

const core::CookieKey* EpochKeyring::find(core::CookieKeyId id) const {
  if (id.value < first_) return nullptr;
  std::uint32_t index = id.value - first_;
  if (index >= keys_.size()) return nullptr;
  return &keys_[index];
}

std::shared_ptr<const EpochKeyring> build_keyring(const Ratchet& oldest, std::uint32_t current) {
  if (current < oldest.epoch() || current == std::numeric_limits<std::uint32_t>::max()) {
    throw std::invalid_argument("build_keyring: current epoch outside the chain");
  }
  std::uint64_t count = std::uint64_t{current} + 2 - oldest.epoch();
  if (count > kMaxKeysKept + 2) throw std::invalid_argument("build_keyring: too many keys");

  std::vector<core::CookieKey> keys;
  keys.reserve(static_cast<std::size_t>(count));
  Ratchet walker = oldest.copy();
  for (std::uint64_t i = 0; i < count; ++i) {
    if (i > 0) walker.advance_to(walker.epoch() + 1);
    auto key = core::CookieKey::create(core::CookieKeyId{walker.epoch()}, walker.key().bytes());
    if (!key) throw std::logic_error("build_keyring: cookie key rejected");
    keys.push_back(std::move(*key));
  }
  return std::shared_ptr<const EpochKeyring>(
      new EpochKeyring(oldest.epoch(), current, std::move(keys)));
}

}  // namespace ntsd::keys
