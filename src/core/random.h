// Where the core gets unpredictable bytes (nonces, unique identifiers).
// An interface so that tests can make every output reproducible.
#pragma once

#include <array>
#include <cstddef>
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

// SystemRandom drawn in blocks: one RAND_bytes call serves many requests, which
// matters on the NTP path (two draws per NTS response). Bytes are wiped as they
// are handed out. Not thread-safe: one per worker.
class BufferedRandom final : public RandomSource {
 public:
  BufferedRandom() = default;
  BufferedRandom(const BufferedRandom&) = delete;
  BufferedRandom& operator=(const BufferedRandom&) = delete;
  ~BufferedRandom() override;
  void fill(std::span<std::uint8_t> out) override;

 private:
  static constexpr std::size_t kBlockSize = 4096;
  std::array<std::uint8_t, kBlockSize> block_{};
  std::size_t next_ = kBlockSize;  // empty until the first draw
  SystemRandom source_;
};

}  // namespace ntsd::core
