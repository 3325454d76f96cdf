// The pair of keys a client and server share after NTS-KE (RFC 8915 §4.3, §5.1).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "core/aead.h"
#include "core/bytes.h"

namespace ntsd::core {

// C2S and S2C keys for one negotiated AEAD algorithm. Wiped on destruction.
class NtsKeys {
 public:
  NtsKeys() = default;
  // nullopt when either key's length does not match the algorithm.
  static std::optional<NtsKeys> create(AeadAlgorithm algorithm, ByteView c2s, ByteView s2c);
  NtsKeys(const NtsKeys& other) = default;
  NtsKeys& operator=(const NtsKeys& other) = default;
  ~NtsKeys();

  [[nodiscard]] AeadAlgorithm algorithm() const { return algorithm_; }
  [[nodiscard]] ByteView c2s() const { return {c2s_.data(), key_length_}; }
  [[nodiscard]] ByteView s2c() const { return {s2c_.data(), key_length_}; }

 private:
  AeadAlgorithm algorithm_ = AeadAlgorithm::AesSivCmac256;
  std::size_t key_length_ = 0;
  std::array<std::uint8_t, kMaxAeadKeyLength> c2s_{};
  std::array<std::uint8_t, kMaxAeadKeyLength> s2c_{};
};

}  // namespace ntsd::core
