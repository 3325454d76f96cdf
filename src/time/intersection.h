// Marzullo's intersection (the core of RFC 5905's clock select, as chrony uses
// it): given one correctness interval per source, find the region where most of
// them overlap; sources whose interval misses it are falsetickers. Sans-I/O.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

namespace ntsd::timesource {

// The true offset lies in [low, high] if the source tells the truth.
struct Interval {
  double low = 0.0;
  double high = 0.0;
};

struct Intersection {
  // The region covered by the most intervals (the first such one, lowest);
  // empty when no interval was given.
  std::optional<Interval> region;
  std::size_t depth = 0;  // how many intervals cover `region`
  // Per input interval: it overlaps `region` and a majority (depth > n / 2) exists.
  std::vector<bool> truechimer;
  [[nodiscard]] bool majority() const { return 2 * depth > truechimer.size(); }
};

Intersection intersect(const std::vector<Interval>& intervals);

}  // namespace ntsd::timesource
