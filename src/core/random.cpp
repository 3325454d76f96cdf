#include "core/random.h"

#include <openssl/rand.h>

#include <cstdlib>
#include <limits>

namespace ntsd::core {

void SystemRandom::fill(std::span<std::uint8_t> out) {
  while (!out.empty()) {
    auto chunk = out.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())
                     ? static_cast<std::size_t>(std::numeric_limits<int>::max())
                     : out.size();
    if (RAND_bytes(out.data(), static_cast<int>(chunk)) != 1) std::abort();
    out = out.subspan(chunk);
  }
}

}  // namespace ntsd::core
