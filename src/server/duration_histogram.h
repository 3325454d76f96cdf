// A fixed-bucket histogram of durations for the metrics endpoint: written and
// read by any thread (relaxed atomics, no lock, no allocation).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace ntsd::server {

struct DurationHistogramSnapshot {
  static constexpr std::size_t kBounds = 12;
  // Upper bounds in seconds (Prometheus "le"); the last bucket is +Inf.
  static constexpr std::array<double, kBounds> kUpperSeconds{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};
  std::array<std::uint64_t, kBounds + 1> buckets{};  // per bucket, not cumulative
  std::uint64_t count = 0;
  double sum_seconds = 0.0;
};

class DurationHistogram {
 public:
  using Snapshot = DurationHistogramSnapshot;

  void observe(std::chrono::nanoseconds duration) {
    const std::int64_t ns = duration.count() < 0 ? 0 : duration.count();
    const double seconds = static_cast<double>(ns) * 1e-9;
    std::size_t bucket = 0;
    while (bucket < Snapshot::kBounds && seconds > Snapshot::kUpperSeconds[bucket]) ++bucket;
    buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<std::uint64_t>(ns), std::memory_order_relaxed);
  }

  [[nodiscard]] Snapshot snapshot() const {
    Snapshot out;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
      out.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
      out.count += out.buckets[i];
    }
    out.sum_seconds = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) * 1e-9;
    return out;
  }

 private:
  std::array<std::atomic<std::uint64_t>, Snapshot::kBounds + 1> buckets_{};
  std::atomic<std::uint64_t> sum_ns_{0};
};

}  // namespace ntsd::server
