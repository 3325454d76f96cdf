#include "core/random.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cstdlib>
#include <limits>

#include "core/bytes.h"

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

BufferedRandom::~BufferedRandom() { secure_wipe(block_.data(), block_.size()); }

void BufferedRandom::fill(std::span<std::uint8_t> out) {
  while (!out.empty()) {
    if (next_ == block_.size()) {
      source_.fill(block_);
      next_ = 0;
    }
    const std::size_t n = std::min(out.size(), block_.size() - next_);
    std::copy_n(block_.data() + next_, n, out.data());
    // What was handed out must not stay behind to be read again.
    secure_wipe(block_.data() + next_, n);
    next_ += n;
    out = out.subspan(n);
  }
}

}  // namespace ntsd::core
