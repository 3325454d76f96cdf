#include "core/aead.h"

#include <nettle/nettle-meta.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <type_traits>

namespace ntsd::core {

namespace {

static_assert(SIV_DIGEST_SIZE == kAeadTagLength);
static_assert(SIV_MIN_NONCE_SIZE == 1);
static_assert(SIV_CMAC_AES128_KEY_SIZE == 32);
static_assert(2 * AES192_KEY_SIZE == 48);
static_assert(SIV_CMAC_AES256_KEY_SIZE == kMaxAeadKeyLength);
static_assert(kGcmSivTagLength == kAeadTagLength);

// Wipes the key schedule if `context` holds a T. Nettle's contexts are plain
// structs; GcmSivCipher wipes itself (gcry_cipher_close) when it is dropped.
template <typename T, typename Variant>
void wipe_if_holds(Variant& context) noexcept {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);
  if (auto* held = std::get_if<T>(&context)) secure_wipe(held, sizeof *held);
}

}  // namespace

std::string_view aead_name(AeadAlgorithm algorithm) {
  switch (algorithm) {
    case AeadAlgorithm::AesSivCmac256:
      return "AEAD_AES_SIV_CMAC_256";
    case AeadAlgorithm::AesSivCmac384:
      return "AEAD_AES_SIV_CMAC_384";
    case AeadAlgorithm::AesSivCmac512:
      return "AEAD_AES_SIV_CMAC_512";
    case AeadAlgorithm::AesGcmSiv128:
      return "AEAD_AES_128_GCM_SIV";
  }
  return "unknown";
}

std::optional<std::vector<AeadAlgorithm>> parse_aead_list(std::string_view text) {
  std::vector<AeadAlgorithm> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    const std::string_view item = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    unsigned id = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), id);
    if (item.empty() || ec != std::errc{} || end != item.data() + item.size() || id > 0xffff) {
      return std::nullopt;
    }
    const auto aead = aead_from_id(static_cast<std::uint16_t>(id));
    if (!aead || std::find(out.begin(), out.end(), *aead) != out.end()) return std::nullopt;
    out.push_back(*aead);
    if (comma == std::string_view::npos) return out;
    start = comma + 1;
  }
}

std::size_t aead_nonce_length(AeadAlgorithm algorithm) {
  return algorithm == AeadAlgorithm::AesGcmSiv128 ? kGcmSivNonceLength : 16;
}

std::size_t aead_min_nonce_space(AeadAlgorithm algorithm) {
  return algorithm == AeadAlgorithm::AesGcmSiv128 ? kGcmSivNonceLength : 16;
}

bool aead_accepts_nonce_length(AeadAlgorithm algorithm, std::size_t length) {
  return algorithm == AeadAlgorithm::AesGcmSiv128 ? length == kGcmSivNonceLength : length > 0;
}

std::optional<Aead> Aead::create(AeadAlgorithm algorithm, ByteView key) {
  Aead aead;
  if (!aead.set_key(algorithm, key)) return std::nullopt;
  return aead;
}

bool Aead::keyed() const {
  if (const auto* gcm = std::get_if<GcmSivCipher>(&context_)) return gcm->keyed();
  return !std::holds_alternative<std::monostate>(context_);
}

bool Aead::set_key(AeadAlgorithm algorithm, ByteView key) {
  if (key_length_ != 0 && algorithm == algorithm_ &&
      equal_secret(key, ByteView{key_.data(), key_length_})) {
    return true;  // already expanded from this key
  }
  // Reject values outside the enum before trusting aead_key_length().
  if (!aead_from_id(static_cast<std::uint16_t>(algorithm)) ||
      key.size() != aead_key_length(algorithm)) {
    wipe();
    return false;
  }
  if (!expand_key(algorithm, key)) {
    wipe();
    return false;
  }
  algorithm_ = algorithm;
  std::copy(key.begin(), key.end(), key_.begin());
  key_length_ = key.size();
  return true;
}

bool Aead::expand_key(AeadAlgorithm algorithm, ByteView key) {
  // Nettle's set_key functions overwrite their whole context, so one of the same
  // type is reused as it is; another one is wiped first.
  auto fresh = [this]<typename T>() -> T& {
    if (auto* held = std::get_if<T>(&context_)) return *held;
    wipe();
    return context_.emplace<T>();
  };
  switch (algorithm) {
    case AeadAlgorithm::AesSivCmac256:
      siv_cmac_aes128_set_key(&fresh.operator()<siv_cmac_aes128_ctx>(), key.data());
      return true;
    case AeadAlgorithm::AesSivCmac384: {
      auto& ctx = fresh.operator()<SivCmacAes192Ctx>();
      siv_cmac_set_key(&ctx.cmac_key, &ctx.cmac_cipher, &ctx.ctr_cipher, &nettle_aes192,
                       key.data());
      return true;
    }
    case AeadAlgorithm::AesSivCmac512:
      siv_cmac_aes256_set_key(&fresh.operator()<siv_cmac_aes256_ctx>(), key.data());
      return true;
    case AeadAlgorithm::AesGcmSiv128: {
      // Keep an open handle: re-keying it costs a key expansion, not an allocation.
      auto* gcm = std::get_if<GcmSivCipher>(&context_);
      if (gcm == nullptr) {
        wipe();
        gcm = &context_.emplace<GcmSivCipher>();
      }
      return gcm->set_key(key);
    }
  }
  return false;
}

Aead::Aead(Aead&& other) noexcept
    : algorithm_(other.algorithm_),
      context_(std::move(other.context_)),
      key_(other.key_),
      key_length_(other.key_length_) {
  other.wipe();
}

Aead& Aead::operator=(Aead&& other) noexcept {
  if (this != &other) {
    wipe();
    algorithm_ = other.algorithm_;
    context_ = std::move(other.context_);
    key_ = other.key_;
    key_length_ = other.key_length_;
    other.wipe();
  }
  return *this;
}

Aead::~Aead() { wipe(); }

// No std::visit here: it may throw (a valueless variant), and this runs in the
// noexcept moves and the destructor.
void Aead::wipe() noexcept {
  static_assert(std::variant_size_v<Context> == 5, "wipe every key schedule alternative");
  wipe_if_holds<siv_cmac_aes128_ctx>(context_);
  wipe_if_holds<SivCmacAes192Ctx>(context_);
  wipe_if_holds<siv_cmac_aes256_ctx>(context_);
  context_ = std::monostate{};
  secure_wipe(key_.data(), key_.size());
  key_length_ = 0;
}

void Aead::seal(ByteView nonce, ByteView associated_data, ByteView plaintext,
                std::uint8_t* out) const {
  if (const auto* gcm = std::get_if<GcmSivCipher>(&context_)) {
    gcm->seal(nonce, associated_data, plaintext, out);  // checks its own preconditions
    return;
  }
  if (nonce.empty()) std::abort();  // precondition; see aead.h
  const std::size_t out_length = kAeadTagLength + plaintext.size();
  if (const auto* c128 = std::get_if<siv_cmac_aes128_ctx>(&context_)) {
    siv_cmac_aes128_encrypt_message(c128, nonce.size(), nonce.data(), associated_data.size(),
                                    associated_data.data(), out_length, out, plaintext.data());
  } else if (const auto* c192 = std::get_if<SivCmacAes192Ctx>(&context_)) {
    siv_cmac_encrypt_message(&c192->cmac_key, &c192->cmac_cipher, &nettle_aes192, &c192->ctr_cipher,
                             nonce.size(), nonce.data(), associated_data.size(),
                             associated_data.data(), out_length, out, plaintext.data());
  } else if (const auto* c256 = std::get_if<siv_cmac_aes256_ctx>(&context_)) {
    siv_cmac_aes256_encrypt_message(c256, nonce.size(), nonce.data(), associated_data.size(),
                                    associated_data.data(), out_length, out, plaintext.data());
  } else {
    std::abort();  // moved-from: no key to seal with
  }
}

bool Aead::open(ByteView nonce, ByteView associated_data, ByteView sealed,
                std::uint8_t* out) const {
  if (const auto* gcm = std::get_if<GcmSivCipher>(&context_)) {
    return gcm->open(nonce, associated_data, sealed, out);
  }
  if (nonce.empty() || sealed.size() < kAeadTagLength) return false;
  const std::size_t plaintext_length = sealed.size() - kAeadTagLength;
  int ok = 0;
  if (const auto* c128 = std::get_if<siv_cmac_aes128_ctx>(&context_)) {
    ok = siv_cmac_aes128_decrypt_message(c128, nonce.size(), nonce.data(), associated_data.size(),
                                         associated_data.data(), plaintext_length, out,
                                         sealed.data());
  } else if (const auto* c192 = std::get_if<SivCmacAes192Ctx>(&context_)) {
    ok = siv_cmac_decrypt_message(&c192->cmac_key, &c192->cmac_cipher, &nettle_aes192,
                                  &c192->ctr_cipher, nonce.size(), nonce.data(),
                                  associated_data.size(), associated_data.data(), plaintext_length,
                                  out, sealed.data());
  } else if (const auto* c256 = std::get_if<siv_cmac_aes256_ctx>(&context_)) {
    ok = siv_cmac_aes256_decrypt_message(c256, nonce.size(), nonce.data(), associated_data.size(),
                                         associated_data.data(), plaintext_length, out,
                                         sealed.data());
  } else {
    return false;  // moved-from: nothing verifies
  }
  if (ok == 0) {
    // Nettle has already written the unauthenticated decryption; do not hand it out.
    if (plaintext_length > 0) secure_wipe(out, plaintext_length);
    return false;
  }
  return true;
}

}  // namespace ntsd::core
