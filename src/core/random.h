// Where the core gets unpredictable bytes (nonces, unique identifiers).
// An interface so that tests can make every output reproducible.
#pragma once

#include <cstdint>
#include <span>

namespace ntsd::core {

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual void fill(std::span<std::uint8_t> out) = 0;
};

// OpenSSL's CSPRNG; aborts the process if it ever fails, because continuing
// would hand out predictable nonces.
class SystemRandom final : public RandomSource {
 public:
  void fill(std::span<std::uint8_t> out) override;
};

}  // namespace ntsd::core
