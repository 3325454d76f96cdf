// The `upstream` time source's bookkeeping, sans-I/O: samples from one or more
// NTP servers polled by ntsd (typically the chronyd on the same host) in, the
// header fields ntsd serves out.
//
// ntsd never steers the clock, so an upstream does not set the time; it vouches
// for it. A sample vouches only when the measured offset of the system clock
// from the upstream lies within the upstream's root distance plus a margin
// (--upstream-offset-margin-ms), and with several upstreams only the majority
// that agree with each other (Marzullo's intersection, RFC 5905 §11.2.1) count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "time/clock_state.h"

namespace ntsd::timesource {

// One answer from an upstream.
struct UpstreamSample {
  core::NtpTimestamp received_at;  // our clock when the answer arrived
  core::LeapIndicator leap = core::LeapIndicator::NoWarning;
  std::uint8_t stratum = 0;
  double root_delay = 0.0;       // the upstream's, seconds
  double root_dispersion = 0.0;  // the upstream's, seconds
  double delay = 0.0;            // measured round trip, seconds
  double offset = 0.0;           // upstream minus us, seconds
};

struct UpstreamSettings {
  double unsync_after = 600.0;  // seconds without an answer from an upstream: unreachable
  std::int8_t precision = -20;
  bool answer_when_unsynchronised = true;
  // How far beyond its root distance the system clock may be from an upstream
  // and still count as agreeing with it, seconds.
  double offset_margin = 0.128;
};

// What one upstream is to the selection, as logs and metrics name it.
enum class UpstreamState : std::uint8_t {
  Selected,        // agrees with the majority and with the system clock
  Falseticker,     // disagrees with the majority of upstreams or with the system clock
  Unreachable,     // no answer within unsync_after
  Unsynchronised,  // answers, but says it is unsynchronised (LI 3, stratum 0 or >= 15)
};
inline constexpr UpstreamState kUpstreamStates[] = {
    UpstreamState::Selected, UpstreamState::Falseticker, UpstreamState::Unreachable,
    UpstreamState::Unsynchronised};
std::string_view upstream_state_name(UpstreamState state);

// Why an upstream is a falseticker.
enum class Disagreement : std::uint8_t {
  None,
  NoMajority,       // no interval is shared by more than half the usable upstreams
  OutsideMajority,  // its interval misses the one the majority shares
  SystemClock,      // |offset| > root distance + offset_margin
};
std::string_view disagreement_name(Disagreement reason);

struct UpstreamVerdict {
  UpstreamState state = UpstreamState::Unreachable;
  Disagreement reason = Disagreement::None;
  double offset = 0.0;         // of its last answer, seconds
  double root_distance = 0.0;  // at the time of the selection, seconds
};

struct Selection {
  std::vector<UpstreamVerdict> upstreams;  // one per configured upstream
  // The selected upstream whose fields ntsd serves: the smallest root distance
  // plus |offset|.
  std::optional<std::size_t> system_peer;
};

class UpstreamSelector {
 public:
  UpstreamSelector(std::size_t upstreams, UpstreamSettings settings);

  // An answer arrived from the address `reference_id` stands for; it replaces
  // the upstream's previous one.
  void add_sample(std::size_t index, const UpstreamSample& sample,
                  const core::ReferenceId& reference_id);

  [[nodiscard]] Selection select(core::NtpTimestamp now) const;
  // The header fields at `now` from the system peer of `selection`;
  // unsynchronised when there is none.
  [[nodiscard]] ClockState state_for(const Selection& selection) const;
  [[nodiscard]] ClockState state_at(core::NtpTimestamp now) const { return state_for(select(now)); }
  [[nodiscard]] std::optional<std::size_t> selected(core::NtpTimestamp now) const {
    return select(now).system_peer;
  }
  [[nodiscard]] const UpstreamSettings& settings() const { return settings_; }

  [[nodiscard]] static bool good(const UpstreamSample& sample);
  // (root delay + delay) / 2 + root dispersion + PHI * age, for `sample` at now.
  [[nodiscard]] static double root_distance(const UpstreamSample& sample, core::NtpTimestamp now);

 private:
  struct Upstream {
    core::ReferenceId reference_id{};
    std::optional<UpstreamSample> last;
  };
  void intersect_usable(Selection& selection, core::NtpTimestamp now) const;

  std::vector<Upstream> upstreams_;
  UpstreamSettings settings_;
};

}  // namespace ntsd::timesource
