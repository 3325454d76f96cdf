#include "core/aes_key_schedule.h"

#include <nettle/aes.h>
#include <nettle/nettle-meta.h>

#include <cstddef>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace ntsd::core {

namespace {

#if defined(__x86_64__)

// Nettle keeps the round keys as words read little-endian from the key bytes,
// so on x86 the schedule is the byte sequence AES-NI works with (checked
// against Nettle by aes_key_schedule_test).
static_assert(sizeof(aes128_ctx) == std::size_t{11} * 16 &&
              sizeof(aes256_ctx) == std::size_t{15} * 16);

#define NTSD_AESNI __attribute__((target("aes,sse2")))

NTSD_AESNI inline __m128i spread(__m128i key) {
  key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
  key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
  return _mm_xor_si128(key, _mm_slli_si128(key, 4));
}

// The next round key from the previous one: `assist` is aeskeygenassist of the
// key words it takes its rotation and S-box from (the previous round key for
// AES-128, the one before for AES-256's even steps).
NTSD_AESNI inline __m128i next_key(__m128i previous, __m128i assist, int lane) {
  const __m128i word =
      lane == 3 ? _mm_shuffle_epi32(assist, 0xff) : _mm_shuffle_epi32(assist, 0xaa);
  return _mm_xor_si128(spread(previous), word);
}

NTSD_AESNI void store(void* context, int index, __m128i key) {
  _mm_storeu_si128(static_cast<__m128i*>(context) + index, key);
}

NTSD_AESNI void expand_aes128(void* context, const std::uint8_t* bytes) {
  __m128i key = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes));
  store(context, 0, key);
#define NTSD_ROUND(i, rcon)                                     \
  key = next_key(key, _mm_aeskeygenassist_si128(key, rcon), 3); \
  store(context, i, key)
  NTSD_ROUND(1, 0x01);
  NTSD_ROUND(2, 0x02);
  NTSD_ROUND(3, 0x04);
  NTSD_ROUND(4, 0x08);
  NTSD_ROUND(5, 0x10);
  NTSD_ROUND(6, 0x20);
  NTSD_ROUND(7, 0x40);
  NTSD_ROUND(8, 0x80);
  NTSD_ROUND(9, 0x1b);
  NTSD_ROUND(10, 0x36);
#undef NTSD_ROUND
}

NTSD_AESNI void expand_aes256(void* context, const std::uint8_t* bytes) {
  __m128i even = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes));
  __m128i odd = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes + 16));
  store(context, 0, even);
  store(context, 1, odd);
  // Even round keys take RotWord, SubWord and the round constant from the odd
  // key before them; odd ones only SubWord from the even key before them.
#define NTSD_ROUNDS(i, rcon)                                      \
  even = next_key(even, _mm_aeskeygenassist_si128(odd, rcon), 3); \
  store(context, i, even);                                        \
  odd = next_key(odd, _mm_aeskeygenassist_si128(even, 0), 2);     \
  store(context, (i) + 1, odd)
  NTSD_ROUNDS(2, 0x01);
  NTSD_ROUNDS(4, 0x02);
  NTSD_ROUNDS(6, 0x04);
  NTSD_ROUNDS(8, 0x08);
  NTSD_ROUNDS(10, 0x10);
  NTSD_ROUNDS(12, 0x20);
#undef NTSD_ROUNDS
  even = next_key(even, _mm_aeskeygenassist_si128(odd, 0x40), 3);
  store(context, 14, even);
}

bool has_aesni() {
  static const bool supported = __builtin_cpu_supports("aes") != 0;
  return supported;
}

#else
bool has_aesni() { return false; }
#endif

}  // namespace

void expand_aes_key(const nettle_cipher* cipher, void* context, const std::uint8_t* key) {
#if defined(__x86_64__)
  if (has_aesni()) {
    if (cipher == &nettle_aes128) return expand_aes128(context, key);
    if (cipher == &nettle_aes256) return expand_aes256(context, key);
  }
#endif
  cipher->set_encrypt_key(context, key);
}

bool aes_key_schedule_accelerated() { return has_aesni(); }

}  // namespace ntsd::core
