#include "time/intersection.h"

#include <algorithm>

namespace ntsd::timesource {

namespace {

struct Endpoint {
  double value;
  int step;  // +1 where an interval opens, -1 where one closes
};

}  // namespace

Intersection intersect(const std::vector<Interval>& intervals) {
  Intersection result;
  result.truechimer.assign(intervals.size(), false);
  std::vector<Endpoint> endpoints;
  endpoints.reserve(2 * intervals.size());
  for (const auto& interval : intervals) {
    endpoints.push_back({std::min(interval.low, interval.high), +1});
    endpoints.push_back({std::max(interval.low, interval.high), -1});
  }
  // Openings before closings at the same value: intervals that touch overlap.
  std::sort(endpoints.begin(), endpoints.end(), [](const Endpoint& a, const Endpoint& b) {
    return a.value < b.value || (a.value == b.value && a.step > b.step);
  });
  std::size_t depth = 0;
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    if (endpoints[i].step > 0) {
      ++depth;
      if (depth > result.depth) {
        result.depth = depth;
        // The next endpoint is a closing one (this is the deepest point), so it
        // ends the region.
        result.region = Interval{endpoints[i].value, endpoints[i + 1].value};
      }
    } else {
      --depth;
    }
  }
  if (!result.majority() || !result.region) return result;
  for (std::size_t i = 0; i < intervals.size(); ++i) {
    const double low = std::min(intervals[i].low, intervals[i].high);
    const double high = std::max(intervals[i].low, intervals[i].high);
    result.truechimer[i] = low <= result.region->high && high >= result.region->low;
  }
  return result;
}

}  // namespace ntsd::timesource
