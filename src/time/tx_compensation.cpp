#include "time/tx_compensation.h"

#include <algorithm>

namespace ntsd::timesource {

void TxCompensation::add_gap(std::int64_t gap_ns) {
  if (!enabled_ || gap_ns < 0) return;
  // A gap above the bound only needs to count as "large" in the median.
  window_[next_] = static_cast<std::int32_t>(std::min(gap_ns, kMaxNs + 1));
  next_ = (next_ + 1) % kWindow;
  if (filled_ < kWindow) ++filled_;

  std::array<std::int32_t, kWindow> sorted = window_;
  const auto middle = sorted.begin() + static_cast<std::ptrdiff_t>(filled_ / 2);
  std::nth_element(sorted.begin(), middle, sorted.begin() + static_cast<std::ptrdiff_t>(filled_));
  offset_ns_ = std::min<std::int64_t>(*middle, kMaxNs);
  offset_ntp_ = (static_cast<std::uint64_t>(offset_ns_) << 32) / 1'000'000'000U;
}

}  // namespace ntsd::timesource
