#include "core/aead.h"

#include <gcrypt.h>

#include <algorithm>
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

struct GcryptCipher {
  int algorithm;
  int mode;
};

// libgcrypt's SIV mode takes the double-length key of RFC 5297 (CMAC key ‖ CTR key)
// with the cipher of one half.
GcryptCipher gcrypt_cipher(AeadAlgorithm algorithm) {
  switch (algorithm) {
    case AeadAlgorithm::AesSivCmac256:
      return {GCRY_CIPHER_AES128, GCRY_CIPHER_MODE_SIV};
    case AeadAlgorithm::AesSivCmac384:
      return {GCRY_CIPHER_AES192, GCRY_CIPHER_MODE_SIV};
    case AeadAlgorithm::AesSivCmac512:
      return {GCRY_CIPHER_AES256, GCRY_CIPHER_MODE_SIV};
    case AeadAlgorithm::AesGcmSiv128:
      return {GCRY_CIPHER_AES128, GCRY_CIPHER_MODE_GCM_SIV};
  }
  std::abort();  // set_key() checks the enum first
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
  if (handle_ != nullptr && algorithm != algorithm_) close();
  // Re-keying an open handle costs a key expansion, not an allocation (nor the
  // library's initialisation check).
  if (handle_ == nullptr) {
    const GcryptCipher cipher = gcrypt_cipher(algorithm);
    if (!gcrypt_ready() || gcry_cipher_open(&handle_, cipher.algorithm, cipher.mode, 0) != 0) {
      handle_ = nullptr;
      close();
      return false;
    }
  }
  algorithm_ = algorithm;
  if (gcry_cipher_setkey(handle_, key.data(), key.size()) != 0) {
    close();
    return false;
  }
  std::copy(key.begin(), key.end(), key_.begin());
  key_length_ = key.size();
  return true;
}

Aead::Aead(Aead&& other) noexcept
    : algorithm_(other.algorithm_),
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
  if (handle_ != nullptr) gcry_cipher_close(handle_);  // wipes the key schedule
  handle_ = nullptr;
  secure_wipe(key_.data(), key_.size());
  key_length_ = 0;
}

bool Aead::start_message(ByteView nonce, ByteView associated_data) const {
  // libgcrypt refuses a second message on a handle without a reset; the key stays.
  if (gcry_cipher_reset(handle_) != 0) return false;
  if (is_siv_cmac(algorithm_)) {
    // RFC 5116's SIV: S2V over exactly two components, the associated data (even
    // when empty: leaving it out gives another tag) and then the nonce.
    // libgcrypt refuses a null pointer even with a zero length.
    static constexpr std::uint8_t kNothing = 0;
    const std::uint8_t* const ad = associated_data.empty() ? &kNothing : associated_data.data();
    return gcry_cipher_authenticate(handle_, ad, associated_data.size()) == 0 &&
           gcry_cipher_setiv(handle_, nonce.data(), nonce.size()) == 0;
  }
  if (gcry_cipher_setiv(handle_, nonce.data(), nonce.size()) != 0) return false;
  return associated_data.empty() ||
         gcry_cipher_authenticate(handle_, associated_data.data(), associated_data.size()) == 0;
}

void Aead::seal(ByteView nonce, ByteView associated_data, ByteView plaintext,
                std::uint8_t* out) const {
  // Sealing with no key, or with a nonce we did not mean, is a caller bug.
  if (!keyed() || !aead_accepts_nonce_length(algorithm_, nonce.size())) std::abort();
  const bool tag_first = is_siv_cmac(algorithm_);
  std::uint8_t* const tag = tag_first ? out : out + plaintext.size();
  std::uint8_t* const ciphertext = tag_first ? out + kAeadTagLength : out;
  // libgcrypt takes the whole message in one call after gcry_cipher_final().
  if (!start_message(nonce, associated_data) || gcry_cipher_final(handle_) != 0 ||
      gcry_cipher_encrypt(handle_, ciphertext, plaintext.size(), plaintext.data(),
                          plaintext.size()) != 0 ||
      gcry_cipher_gettag(handle_, tag, kAeadTagLength) != 0) {
    std::abort();  // cannot fail on a keyed handle with valid lengths
  }
}

bool Aead::open(ByteView nonce, ByteView associated_data, ByteView sealed,
                std::uint8_t* out) const {
  if (!keyed() || !aead_accepts_nonce_length(algorithm_, nonce.size()) ||
      sealed.size() < kAeadTagLength) {
    return false;
  }
  const std::size_t length = sealed.size() - kAeadTagLength;
  if (!start_message(nonce, associated_data)) return false;
  const bool tag_first = is_siv_cmac(algorithm_);
  const std::uint8_t* const tag = tag_first ? sealed.data() : sealed.data() + length;
  if (length == 0) {
    // Nothing to decrypt (an NTS request without encrypted fields, the common
    // case): checktag computes the tag and compares it in constant time, two
    // library calls fewer than the decryption path.
    return gcry_cipher_checktag(handle_, tag, kAeadTagLength) == 0;
  }
  const std::uint8_t* const ciphertext = tag_first ? sealed.data() + kAeadTagLength : sealed.data();
  const bool ok = gcry_cipher_set_decryption_tag(handle_, tag, kAeadTagLength) == 0 &&
                  gcry_cipher_final(handle_) == 0 &&
                  gcry_cipher_decrypt(handle_, out, length, ciphertext, length) == 0;
  if (!ok) secure_wipe(out, length);  // never hand out unauthenticated plaintext
  return ok;
}

}  // namespace ntsd::core
