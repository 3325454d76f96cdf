// Byte strings for test vectors: from hex (a bad digit or an odd length fails the
// test), counting runs (first, first+1, ...) and seeded pseudo-random bytes.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <string_view>

#include "core/bytes.h"

namespace ntsd::test_support {

inline core::Bytes hex(std::string_view text) {
  auto nibble = [](char c) -> std::uint8_t {
    if (c >= '0' && c <= '9') return static_cast<std::uint8_t>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<std::uint8_t>(c - 'a' + 10);
    ADD_FAILURE() << "bad hex digit " << c;
    return 0;
  };
  core::Bytes out;
  EXPECT_EQ(text.size() % 2, 0U) << "odd-length hex string";
  for (std::size_t i = 0; i + 1 < text.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>((nibble(text[i]) << 4) | nibble(text[i + 1])));
  }
  return out;
}

inline core::Bytes counting(std::uint8_t first, std::size_t count) {
  core::Bytes out(count);
  for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<std::uint8_t>(first + i);
  return out;
}

// From a generator the test seeds itself, so that a failure replays.
inline core::Bytes random_bytes(std::mt19937& rng, std::size_t count) {
  core::Bytes out(count);
  for (auto& byte : out) byte = static_cast<std::uint8_t>(rng());
  return out;
}

}  // namespace ntsd::test_support
