// AES encryption key schedules in the layout of Nettle's aes128/192/256_ctx.
// Nettle encrypts with AES-NI but expands keys in portable C, about 100 ns an
// AES-128 key here; an NTS request expands three (the C2S key's MAC half, both
// halves of the S2C key), so where the processor has AES-NI the schedule is
// computed with it: the same round keys, a fraction of the time.
#pragma once

#include <cstdint>

struct nettle_cipher;

namespace ntsd::core {

// Writes the encryption schedule of `key` into `context` as
// cipher->set_encrypt_key would, for cipher one of nettle_aes128, nettle_aes192,
// nettle_aes256 (AES-192 always through Nettle).
void expand_aes_key(const nettle_cipher* cipher, void* context, const std::uint8_t* key);

// Whether expand_aes_key uses AES-NI on this processor.
[[nodiscard]] bool aes_key_schedule_accelerated();

}  // namespace ntsd::core
