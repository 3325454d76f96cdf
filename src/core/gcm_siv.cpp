#include "core/gcm_siv.h"

#include <gcrypt.h>

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

// The start of every message: a reset (libgcrypt refuses a second message on a
// handle otherwise; the key stays), the nonce, then the associated data.
bool start_message(gcry_cipher_hd_t handle, ByteView nonce, ByteView associated_data) {
  if (gcry_cipher_reset(handle) != 0) return false;
  if (gcry_cipher_setiv(handle, nonce.data(), nonce.size()) != 0) return false;
  if (!associated_data.empty() &&
      gcry_cipher_authenticate(handle, associated_data.data(), associated_data.size()) != 0) {
    return false;
  }
  return true;
}

}  // namespace

GcmSivCipher& GcmSivCipher::operator=(GcmSivCipher&& other) noexcept {
  if (this != &other) {
    close();
    handle_ = other.handle_;
    keyed_ = other.keyed_;
    other.handle_ = nullptr;
    other.keyed_ = false;
  }
  return *this;
}

GcmSivCipher::~GcmSivCipher() { close(); }

void GcmSivCipher::close() {
  if (handle_ != nullptr) gcry_cipher_close(handle_);  // wipes the context
  handle_ = nullptr;
  keyed_ = false;
}

bool GcmSivCipher::set_key(ByteView key) {
  keyed_ = false;
  if (key.size() != kGcmSivKeyLength || !gcrypt_ready()) return false;
  if (handle_ == nullptr &&
      gcry_cipher_open(&handle_, GCRY_CIPHER_AES128, GCRY_CIPHER_MODE_GCM_SIV, 0) != 0) {
    handle_ = nullptr;
    return false;
  }
  keyed_ = gcry_cipher_setkey(handle_, key.data(), key.size()) == 0;
  return keyed_;
}

void GcmSivCipher::seal(ByteView nonce, ByteView associated_data, ByteView plaintext,
                        std::uint8_t* out) const {
  if (!keyed() || nonce.size() != kGcmSivNonceLength) std::abort();  // caller bug
  // libgcrypt takes the whole message in one call after gcry_cipher_final().
  if (!start_message(handle_, nonce, associated_data) || gcry_cipher_final(handle_) != 0 ||
      gcry_cipher_encrypt(handle_, out, plaintext.size(), plaintext.data(), plaintext.size()) !=
          0 ||
      gcry_cipher_gettag(handle_, out + plaintext.size(), kGcmSivTagLength) != 0) {
    std::abort();  // cannot fail on a keyed handle with valid lengths
  }
}

bool GcmSivCipher::open(ByteView nonce, ByteView associated_data, ByteView sealed,
                        std::uint8_t* out) const {
  if (!keyed() || nonce.size() != kGcmSivNonceLength || sealed.size() < kGcmSivTagLength) {
    return false;
  }
  const std::size_t length = sealed.size() - kGcmSivTagLength;
  if (!start_message(handle_, nonce, associated_data)) return false;
  if (length == 0) {
    // Nothing to decrypt (an NTS request without encrypted fields, the common
    // case): checktag computes the tag over the AD and compares it in constant
    // time, two library calls fewer than the decryption path.
    return gcry_cipher_checktag(handle_, sealed.data(), kGcmSivTagLength) == 0;
  }
  const bool ok =
      gcry_cipher_set_decryption_tag(handle_, sealed.data() + length, kGcmSivTagLength) == 0 &&
      gcry_cipher_final(handle_) == 0 &&
      gcry_cipher_decrypt(handle_, out, length, sealed.data(), length) == 0;
  if (!ok) secure_wipe(out, length);
  return ok;
}

}  // namespace ntsd::core
