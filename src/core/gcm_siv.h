// AES-128-GCM-SIV (RFC 8452) on libgcrypt: the one Debian 12 library that has it
// (Nettle 3.8 and OpenSSL 3.0 do not). The NTS AEAD 30.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/bytes.h"

struct gcry_cipher_handle;

namespace ntsd::core {

inline constexpr std::size_t kGcmSivKeyLength = 16;
inline constexpr std::size_t kGcmSivNonceLength = 12;  // N_MIN = N_MAX = 12
inline constexpr std::size_t kGcmSivTagLength = 16;

// One libgcrypt cipher handle in GCM-SIV mode. Opening a handle allocates; keying
// it expands the key; both are done once and the handle reused for many messages
// (set_key() again to change the key without reallocating). Not thread-safe: a
// handle carries per-message state, so each thread needs its own.
// gcry_cipher_close() wipes the key schedule; the handle is closed on destruction.
class GcmSivCipher {
 public:
  GcmSivCipher() = default;
  GcmSivCipher(const GcmSivCipher&) = delete;
  GcmSivCipher& operator=(const GcmSivCipher&) = delete;
  GcmSivCipher(GcmSivCipher&& other) noexcept : handle_(other.handle_), keyed_(other.keyed_) {
    other.handle_ = nullptr;
    other.keyed_ = false;
  }
  GcmSivCipher& operator=(GcmSivCipher&& other) noexcept;
  ~GcmSivCipher();

  // Opens the handle if needed and sets a 16-byte key. False when libgcrypt
  // cannot open the handle or the key has another length (the handle then holds
  // no usable key).
  [[nodiscard]] bool set_key(ByteView key);
  [[nodiscard]] bool keyed() const { return handle_ != nullptr && keyed_; }

  // RFC 8452 output: ciphertext ‖ tag (plaintext.size() + 16 bytes) to out, which
  // must not overlap the inputs. Aborts when not keyed or the nonce is not 12
  // bytes (callers draw their own nonces).
  void seal(ByteView nonce, ByteView associated_data, ByteView plaintext, std::uint8_t* out) const;

  // Verifies ciphertext ‖ tag and writes the plaintext (sealed.size() - 16 bytes)
  // to out. False (out wiped) when the tag does not verify, the nonce is not 12
  // bytes, sealed is shorter than a tag, or the cipher is not keyed.
  [[nodiscard]] bool open(ByteView nonce, ByteView associated_data, ByteView sealed,
                          std::uint8_t* out) const;

 private:
  void close();
  gcry_cipher_handle* handle_ = nullptr;
  bool keyed_ = false;
};

}  // namespace ntsd::core
