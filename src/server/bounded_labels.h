// Counters keyed by a label value that clients choose (an AEAD list, an ALPN
// list, a TLS group name): the first `slots` distinct values get a series of
// their own, every later new value is counted under "other". So no client can
// raise the number of series, and memory is allocated at most `slots` times.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ntsd::server {

inline constexpr std::string_view kOtherLabel = "other";

// Values with their counts, in the order first seen; "other" last, always there.
using LabelCounts = std::vector<std::pair<std::string, std::uint64_t>>;

class BoundedLabelCounter {
 public:
  // Longer values are cut to this many bytes before they are compared.
  static constexpr std::size_t kMaxValueLength = 64;

  explicit BoundedLabelCounter(std::size_t slots);

  // Takes a lock: for per-session use (NTS-KE), not per packet.
  void add(std::string_view value, std::uint64_t n = 1);
  [[nodiscard]] LabelCounts snapshot() const;

 private:
  mutable std::mutex mutex_;
  const std::size_t slots_;
  LabelCounts counts_;  // the slots in use, then "other" appended by snapshot()
  std::uint64_t other_ = 0;
};

}  // namespace ntsd::server
