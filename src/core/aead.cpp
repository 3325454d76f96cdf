#include "core/aead.h"

#include <gcrypt.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>

namespace ntsd::core {

namespace {

// libgcrypt must be initialised once per process before its first use; a
// function-local static makes that happen exactly once, race-free, on whichever
// thread gets there first. No secure memory: keys live in our own wiped buffers.
bool gcrypt_ready() {
  static const bool ready = [] {
    if (gcry_check_version(GCRYPT_VERSION) == nullptr) return false;
    if (!gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P)) {
      gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
      gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
    }
    return true;
  }();
  return ready;
}

bool is_siv_cmac(AeadAlgorithm algorithm) { return algorithm != AeadAlgorithm::AesGcmSiv128; }

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

bool Aead::set_key(AeadAlgorithm algorithm, ByteView key) {
  if (key_length_ != 0 && algorithm == algorithm_ &&
      equal_secret(key, ByteView{key_.data(), key_length_})) {
    return true;  // already keyed with this key
  }
  // Reject values outside the enum before trusting aead_key_length().
  if (!aead_from_id(static_cast<std::uint16_t>(algorithm)) ||
      key.size() != aead_key_length(algorithm)) {
    close();
    return false;
  }
  if (is_siv_cmac(algorithm)) {
    if (handle_ != nullptr) close();
    if (!siv_.set_key(key)) {
      close();
      return false;
    }
  } else {
    siv_.clear();
    // Re-keying an open handle costs a key expansion, not an allocation (nor the
    // library's initialisation check).
    if (handle_ == nullptr) {
      if (!gcrypt_ready() ||
          gcry_cipher_open(&handle_, GCRY_CIPHER_AES128, GCRY_CIPHER_MODE_GCM_SIV, 0) != 0) {
        handle_ = nullptr;
        close();
        return false;
      }
    }
    if (gcry_cipher_setkey(handle_, key.data(), key.size()) != 0) {
      close();
      return false;
    }
  }
  algorithm_ = algorithm;
  std::copy(key.begin(), key.end(), key_.begin());
  key_length_ = key.size();
  return true;
}

Aead::Aead(Aead&& other) noexcept
    : algorithm_(other.algorithm_),
      siv_(std::move(other.siv_)),
      handle_(other.handle_),
      key_(other.key_),
      key_length_(other.key_length_) {
  other.handle_ = nullptr;
  other.close();
}

Aead& Aead::operator=(Aead&& other) noexcept {
  if (this != &other) {
    close();
    algorithm_ = other.algorithm_;
    siv_ = std::move(other.siv_);
    handle_ = other.handle_;
    key_ = other.key_;
    key_length_ = other.key_length_;
    other.handle_ = nullptr;
    other.close();
  }
  return *this;
}

Aead::~Aead() { close(); }

void Aead::close() noexcept {
  siv_.clear();
  if (handle_ != nullptr) gcry_cipher_close(handle_);  // wipes the key schedule
  handle_ = nullptr;
  secure_wipe(key_.data(), key_.size());
  key_length_ = 0;
}

bool Aead::start_gcm_siv(ByteView nonce, ByteView associated_data) const {
  // libgcrypt refuses a second message on a handle without a reset; the key stays.
  if (gcry_cipher_reset(handle_) != 0) return false;
  if (gcry_cipher_setiv(handle_, nonce.data(), nonce.size()) != 0) return false;
  return associated_data.empty() ||
         gcry_cipher_authenticate(handle_, associated_data.data(), associated_data.size()) == 0;
}

void Aead::seal(ByteView nonce, ByteView associated_data, ByteView plaintext,
                std::uint8_t* out) const {
  // Sealing with no key, or with a nonce we did not mean, is a caller bug.
  if (!keyed() || !aead_accepts_nonce_length(algorithm_, nonce.size())) std::abort();
  if (is_siv_cmac(algorithm_)) {
    // RFC 5116's SIV: S2V over exactly two strings, the associated data (even
    // when empty: leaving it out gives another tag) and then the nonce.
    const std::array<ByteView, 2> strings{associated_data, nonce};
    siv_.seal(strings, plaintext, out);
    return;
  }
  // GCM-SIV: ciphertext ‖ tag. libgcrypt takes the whole message in one call
  // after gcry_cipher_final().
  if (!start_gcm_siv(nonce, associated_data) || gcry_cipher_final(handle_) != 0 ||
      gcry_cipher_encrypt(handle_, out, plaintext.size(), plaintext.data(), plaintext.size()) !=
          0 ||
      gcry_cipher_gettag(handle_, out + plaintext.size(), kAeadTagLength) != 0) {
    std::abort();  // cannot fail on a keyed handle with valid lengths
  }
}

bool Aead::open(ByteView nonce, ByteView associated_data, ByteView sealed,
                std::uint8_t* out) const {
  if (!keyed() || !aead_accepts_nonce_length(algorithm_, nonce.size()) ||
      sealed.size() < kAeadTagLength) {
    return false;
  }
  if (is_siv_cmac(algorithm_)) {
    const std::array<ByteView, 2> strings{associated_data, nonce};
    return siv_.open(strings, sealed, out);
  }
  const std::size_t length = sealed.size() - kAeadTagLength;
  if (!start_gcm_siv(nonce, associated_data)) return false;
  const std::uint8_t* const tag = sealed.data() + length;
  if (length == 0) return gcry_cipher_checktag(handle_, tag, kAeadTagLength) == 0;
  const bool ok = gcry_cipher_set_decryption_tag(handle_, tag, kAeadTagLength) == 0 &&
                  gcry_cipher_final(handle_) == 0 &&
                  gcry_cipher_decrypt(handle_, out, length, sealed.data(), length) == 0;
  if (!ok) secure_wipe(out, length);  // never hand out unauthenticated plaintext
  return ok;
}

}  // namespace ntsd::core
