// AEAD algorithms NTS negotiates (RFC 8915 §5.1, IANA AEAD registry), on Nettle's SIV-CMAC.
#pragma once

#include <nettle/aes.h>
#include <nettle/cmac.h>
#include <nettle/siv-cmac.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <variant>

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
//
// A moved-from Aead holds no key: open() on it returns false and seal() aborts the
// process (sealing with a wiped key would emit forgeable output). Assign a keyed
// Aead to it to use it again.
class Aead {
 public:
  // nullopt when algorithm is not one of the three above or
  // key.size() != aead_key_length(algorithm).
  static std::optional<Aead> create(AeadAlgorithm algorithm, ByteView key);

  Aead(const Aead&) = delete;
  Aead& operator=(const Aead&) = delete;
  Aead(Aead&& other) noexcept;
  Aead& operator=(Aead&& other) noexcept;
  ~Aead();

  [[nodiscard]] AeadAlgorithm algorithm() const { return algorithm_; }

  // Writes tag ‖ ciphertext (kAeadTagLength + plaintext.size() bytes) to out, which
  // must not overlap the inputs. plaintext may be empty (the output is then the tag).
  // Precondition: nonce is not empty (Nettle requires at least one byte). Every
  // caller passes a nonce it generated itself; an empty one aborts the process
  // rather than reach Nettle.
  void seal(ByteView nonce, ByteView associated_data, ByteView plaintext, std::uint8_t* out) const;

  // Verifies and decrypts tag ‖ ciphertext into out (sealed.size() - kAeadTagLength
  // bytes), which must not overlap the inputs. False when the tag does not verify,
  // sealed is shorter than a tag, nonce is empty (a peer may send one), or this Aead
  // was moved from. On false, out never holds unauthenticated plaintext: a failed
  // tag check wipes what Nettle decrypted.
  [[nodiscard]] bool open(ByteView nonce, ByteView associated_data, ByteView sealed,
                          std::uint8_t* out) const;

 private:
  // Nettle has ready-made contexts for AES-128 and AES-256 SIV; AES-192 goes through
  // the generic siv_cmac_* functions with this struct of the same shape.
  struct SivCmacAes192Ctx {
    struct cmac128_key cmac_key;
    struct aes192_ctx cmac_cipher;
    struct aes192_ctx ctr_cipher;
  };
  // monostate = no key (moved from). All alternatives are trivially copyable, so a
  // move copies the key schedule and then wipes the source.
  using Context =
      std::variant<std::monostate, siv_cmac_aes128_ctx, SivCmacAes192Ctx, siv_cmac_aes256_ctx>;

  Aead() = default;
  void wipe();

  AeadAlgorithm algorithm_ = AeadAlgorithm::AesSivCmac256;
  Context context_;
};

}  // namespace ntsd::core
