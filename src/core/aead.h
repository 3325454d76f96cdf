// AEAD algorithms NTS negotiates (RFC 8915 §5.1, IANA AEAD registry), on Nettle's SIV-CMAC.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "core/bytes.h"

namespace ntsd::core {

enum class AeadAlgorithm : std::uint16_t {
  AesSivCmac256 = 15,
  AesSivCmac384 = 16,
  AesSivCmac512 = 17,
};

inline constexpr std::size_t kAeadTagLength = 16;
inline constexpr std::size_t kMaxAeadKeyLength = 64;

std::optional<AeadAlgorithm> aead_from_id(std::uint16_t id);
std::size_t aead_key_length(AeadAlgorithm algorithm);
std::string_view aead_name(AeadAlgorithm algorithm);

// A keyed AES-SIV-CMAC context. Keyed once, used for many messages; holds no
// heap memory, and wipes its key schedule when destroyed or moved from.
class Aead {
 public:
  // nullopt when key.size() != aead_key_length(algorithm).
  static std::optional<Aead> create(AeadAlgorithm algorithm, ByteView key);

  Aead(const Aead&) = delete;
  Aead& operator=(const Aead&) = delete;
  Aead(Aead&& other) noexcept;
  Aead& operator=(Aead&& other) noexcept;
  ~Aead();

  [[nodiscard]] AeadAlgorithm algorithm() const { return algorithm_; }

  // Writes tag ‖ ciphertext (kAeadTagLength + plaintext.size() bytes) to out.
  // nonce must not be empty; plaintext may be.
  void seal(ByteView nonce, ByteView associated_data, ByteView plaintext, std::uint8_t* out) const;

  // Verifies and decrypts tag ‖ ciphertext into out (sealed.size() - kAeadTagLength
  // bytes). False, with out unspecified, when the tag does not verify or sealed is
  // shorter than a tag.
  [[nodiscard]] bool open(ByteView nonce, ByteView associated_data, ByteView sealed,
                          std::uint8_t* out) const;

 private:
  Aead() = default;
  void wipe();

  AeadAlgorithm algorithm_ = AeadAlgorithm::AesSivCmac256;
  // Nettle's context for the largest variant (siv_cmac_aes256_ctx), aligned storage
  // shared by all three; see aead.cpp.
  alignas(16) std::uint8_t context_[1024];
};

}  // namespace ntsd::core
