// Reproducible "random" bytes for tests and fuzz targets (splitmix64), so every
// packet, key and cookie a test builds is the same on every run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/bytes.h"
#include "core/random.h"

namespace ntsd::test_support {

class DeterministicRandom final : public core::RandomSource {
 public:
  explicit DeterministicRandom(std::uint64_t seed) : state_(seed) {}
  void fill(std::span<std::uint8_t> out) override {
    for (auto& byte : out) {
      if (available_ == 0) {
        word_ = next();
        available_ = 8;
      }
      byte = static_cast<std::uint8_t>(word_);
      word_ >>= 8;
      --available_;
    }
    drawn_ += out.size();
  }
  // How many bytes the code under test has drawn so far.
  [[nodiscard]] std::size_t drawn() const { return drawn_; }
  core::Bytes bytes(std::size_t n) {
    core::Bytes out(n);
    fill(out);
    return out;
  }

 private:
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  std::uint64_t state_;
  std::uint64_t word_ = 0;
  std::size_t available_ = 0;
  std::size_t drawn_ = 0;
};

// A running byte counter from `start`: consecutive nonces differ, and a test can
// tell which bytes the code drew (and how often it asked).
class CountingRandom final : public core::RandomSource {
 public:
  explicit CountingRandom(std::uint8_t start) : next_(start) {}
  void fill(std::span<std::uint8_t> out) override {
    for (auto& byte : out) byte = next_++;
    ++calls_;
  }
  [[nodiscard]] int calls() const { return calls_; }

 private:
  std::uint8_t next_;
  int calls_ = 0;
};

}  // namespace ntsd::test_support
