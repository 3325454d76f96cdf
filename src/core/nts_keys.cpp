#include "core/nts_keys.h"

#include <algorithm>

namespace ntsd::core {

std::optional<NtsKeys> NtsKeys::create(AeadAlgorithm algorithm, ByteView c2s, ByteView s2c) {
  if (!aead_from_id(static_cast<std::uint16_t>(algorithm))) return std::nullopt;
  const std::size_t length = aead_key_length(algorithm);
  if (c2s.size() != length || s2c.size() != length) return std::nullopt;
  NtsKeys keys;
  keys.algorithm_ = algorithm;
  keys.key_length_ = length;
  std::copy(c2s.begin(), c2s.end(), keys.c2s_.begin());
  std::copy(s2c.begin(), s2c.end(), keys.s2c_.begin());
  return keys;
}

NtsKeys::~NtsKeys() {
  secure_wipe(c2s_.data(), c2s_.size());
  secure_wipe(s2c_.data(), s2c_.size());
}

}  // namespace ntsd::core
