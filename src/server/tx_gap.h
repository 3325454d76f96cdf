// The gap between the transmit timestamp ntsd writes into a response and the
// kernel's software transmit timestamp of that packet: how much later than
// announced a response really left. One histogram per NTP worker, written by
// that worker only, read by anyone (relaxed atomics).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace ntsd::timesource {

struct GapSummary {
  std::uint64_t count = 0;      // gaps measured
  std::uint64_t negative = 0;   // kernel timestamp earlier than the written one (clock stepped?)
  double median_seconds = 0.0;  // upper edge of the bucket holding the median
  double p99_seconds = 0.0;
  double max_bucket_seconds = 0.0;  // upper edge of the highest non-empty bucket
};

class GapHistogram {
 public:
  // 100 ns buckets up to 100 µs, 10 µs buckets up to 10 ms, then one overflow bucket.
  static constexpr std::size_t kFine = 1000;
  static constexpr std::size_t kCoarse = 990;
  static constexpr std::size_t kBuckets = kFine + kCoarse + 1;

  void add(std::int64_t gap_ns);
  // Adds this histogram's counts into `total` (for a sum over workers).
  void add_to(std::array<std::uint64_t, kBuckets>& total, std::uint64_t& negative) const;

  static GapSummary summarize(const std::array<std::uint64_t, kBuckets>& counts,
                              std::uint64_t negative);
  [[nodiscard]] GapSummary summary() const;
  static double bucket_upper_seconds(std::size_t bucket);

 private:
  std::array<std::atomic<std::uint64_t>, kBuckets> counts_{};
  std::atomic<std::uint64_t> negative_{0};
};

}  // namespace ntsd::timesource
