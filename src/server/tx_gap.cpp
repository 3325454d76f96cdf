#include "server/tx_gap.h"

namespace ntsd::timesource {

void GapHistogram::add(std::int64_t gap_ns) {
  if (gap_ns < 0) {
    negative_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  std::size_t bucket = 0;
  if (gap_ns < 100'000) {
    bucket = static_cast<std::size_t>(gap_ns / 100);
  } else if (gap_ns < 10'000'000) {
    bucket = kFine + static_cast<std::size_t>((gap_ns - 100'000) / 10'000);
  } else {
    bucket = kBuckets - 1;
  }
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
}

void GapHistogram::add_to(std::array<std::uint64_t, kBuckets>& total,
                          std::uint64_t& negative) const {
  for (std::size_t i = 0; i < kBuckets; ++i) total[i] += counts_[i].load(std::memory_order_relaxed);
  negative += negative_.load(std::memory_order_relaxed);
}

double GapHistogram::bucket_upper_seconds(std::size_t bucket) {
  if (bucket < kFine) return static_cast<double>(bucket + 1) * 100e-9;
  if (bucket < kFine + kCoarse) return 100e-6 + static_cast<double>(bucket - kFine + 1) * 10e-6;
  return 1.0;  // overflow: "more than 10 ms"; reported as 1 s to stand out
}

GapSummary GapHistogram::summarize(const std::array<std::uint64_t, kBuckets>& counts,
                                   std::uint64_t negative) {
  GapSummary out;
  out.negative = negative;
  for (auto c : counts) out.count += c;
  if (out.count == 0) return out;
  // The sample of rank ceil(q * count), 1-based.
  auto quantile = [&](std::uint64_t numerator, std::uint64_t denominator) {
    const std::uint64_t rank = (out.count * numerator + denominator - 1) / denominator;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts[i];
      if (seen >= rank && counts[i] != 0) return bucket_upper_seconds(i);
    }
    return bucket_upper_seconds(kBuckets - 1);
  };
  out.median_seconds = quantile(1, 2);
  out.p99_seconds = quantile(99, 100);
  for (std::size_t i = kBuckets; i-- > 0;) {
    if (counts[i] != 0) {
      out.max_bucket_seconds = bucket_upper_seconds(i);
      break;
    }
  }
  return out;
}

GapSummary GapHistogram::summary() const {
  std::array<std::uint64_t, kBuckets> counts{};
  std::uint64_t negative = 0;
  add_to(counts, negative);
  return summarize(counts, negative);
}

}  // namespace ntsd::timesource
