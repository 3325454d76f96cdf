#include "core/bytes.h"

#include <cstring>

namespace ntsd::core {

// glibc's explicit_bzero: its memset (vector stores) behind a barrier the
// compiler cannot remove. OPENSSL_cleanse stores 8 bytes at a time, and the NTP
// path wipes keys, cookie plaintexts and the SIV scratch of four messages per
// NTS request.
void secure_wipe(void* data, std::size_t size) noexcept {
  if (size == 0) return;  // glibc declares the pointer non-null, even for no bytes
  explicit_bzero(data, size);
}

// Word-wise XOR, OR-accumulated without an early exit: CRYPTO_memcmp goes byte by
// byte (about 7 instructions a byte), and the NTP path compares two keys per request.
bool equal_secret(ByteView a, ByteView b) {
  if (a.size() != b.size()) return false;
  std::uint64_t difference = 0;
  std::size_t i = 0;
  for (; i + 8 <= a.size(); i += 8) {
    std::uint64_t x = 0;
    std::uint64_t y = 0;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    difference |= x ^ y;
  }
  for (; i < a.size(); ++i) difference |= static_cast<std::uint64_t>(a[i] ^ b[i]);
  return difference == 0;
}

}  // namespace ntsd::core
