// The `upstream` time source's bookkeeping, sans-I/O: samples from one or more
// NTP servers polled by ntsd (typically the chronyd on the same host) in, the
// header fields ntsd serves out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "time/clock_state.h"

namespace ntsd::timesource {

// One good or bad answer from an upstream.
struct UpstreamSample {
  core::NtpTimestamp received_at;  // our clock when the answer arrived
  core::LeapIndicator leap = core::LeapIndicator::NoWarning;
  std::uint8_t stratum = 0;
  double root_delay = 0.0;       // the upstream's, seconds
  double root_dispersion = 0.0;  // the upstream's, seconds
  double delay = 0.0;            // measured round trip, seconds
  double offset = 0.0;           // upstream minus us, seconds (for the log)
};

struct UpstreamSettings {
  double unsync_after = 600.0;  // seconds without a good sample from any upstream
  std::int8_t precision = -20;
  bool answer_when_unsynchronised = true;
};

class UpstreamSelector {
 public:
  UpstreamSelector(std::size_t upstreams, UpstreamSettings settings);

  // A response arrived from the address `reference_id` stands for; an
  // unsynchronised one (LI 3, stratum 0 or >= 15) does not count as good.
  void add_sample(std::size_t index, const UpstreamSample& sample, const core::ReferenceId& reference_id);

  // The header fields at `now`: the good upstream with the smallest root
  // distance; unsynchronised when none had a good sample within unsync_after.
  [[nodiscard]] ClockState state_at(core::NtpTimestamp now) const;
  // The upstream state_at() would select, if any.
  [[nodiscard]] std::optional<std::size_t> selected(core::NtpTimestamp now) const;

  [[nodiscard]] static bool good(const UpstreamSample& sample);
  // root delay / 2 + root dispersion at now, for `sample` (as served by us).
  [[nodiscard]] static double root_distance(const UpstreamSample& sample, core::NtpTimestamp now);

 private:
  struct Upstream {
    core::ReferenceId reference_id{};
    std::optional<UpstreamSample> last_good;
  };
  std::vector<Upstream> upstreams_;
  UpstreamSettings settings_;
};

}  // namespace ntsd::timesource
