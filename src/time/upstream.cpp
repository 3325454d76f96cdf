#include "time/upstream.h"

#include <algorithm>
#include <cmath>

#include "time/intersection.h"

namespace ntsd::timesource {

std::string_view upstream_state_name(UpstreamState state) {
  switch (state) {
    case UpstreamState::Selected:
      return "selected";
    case UpstreamState::Falseticker:
      return "falseticker";
    case UpstreamState::Unreachable:
      return "unreachable";
    case UpstreamState::Unsynchronised:
      return "unsynchronised";
  }
  return "?";
}

std::string_view disagreement_name(Disagreement reason) {
  switch (reason) {
    case Disagreement::None:
      return "none";
    case Disagreement::NoMajority:
      return "no_majority";
    case Disagreement::OutsideMajority:
      return "outside_majority";
    case Disagreement::SystemClock:
      return "system_clock";
  }
  return "?";
}

UpstreamSelector::UpstreamSelector(std::size_t upstreams, UpstreamSettings settings)
    : upstreams_(upstreams), settings_(settings) {}

bool UpstreamSelector::good(const UpstreamSample& sample) {
  return sample.leap != core::LeapIndicator::Unsynchronized && sample.stratum >= 1 &&
         sample.stratum < 15;  // we serve stratum + 1, which must stay below 16
}

void UpstreamSelector::add_sample(std::size_t index, const UpstreamSample& sample,
                                  const core::ReferenceId& reference_id) {
  if (index >= upstreams_.size()) return;
  upstreams_[index].last = sample;
  upstreams_[index].reference_id = reference_id;
}

double UpstreamSelector::root_distance(const UpstreamSample& sample, core::NtpTimestamp now) {
  const double age = std::max(0.0, seconds_between(sample.received_at, now));
  return (sample.root_delay + sample.delay) / 2.0 + sample.root_dispersion + kPhi * age;
}

// Sorts the usable upstreams (fresh, synchronised answers) into truechimers and
// falsetickers by their correctness intervals [offset - distance, offset + distance].
void UpstreamSelector::intersect_usable(Selection& selection, core::NtpTimestamp now) const {
  std::vector<std::size_t> usable;
  std::vector<Interval> intervals;
  for (std::size_t i = 0; i < upstreams_.size(); ++i) {
    if (selection.upstreams[i].state != UpstreamState::Selected) continue;
    const UpstreamSample& sample = *upstreams_[i].last;
    const double distance = root_distance(sample, now);
    usable.push_back(i);
    intervals.push_back({sample.offset - distance, sample.offset + distance});
  }
  if (usable.empty()) return;
  const Intersection intersection = intersect(intervals);
  for (std::size_t k = 0; k < usable.size(); ++k) {
    if (intersection.truechimer[k]) continue;
    auto& verdict = selection.upstreams[usable[k]];
    verdict.state = UpstreamState::Falseticker;
    verdict.reason =
        intersection.majority() ? Disagreement::OutsideMajority : Disagreement::NoMajority;
  }
}

Selection UpstreamSelector::select(core::NtpTimestamp now) const {
  Selection selection;
  selection.upstreams.resize(upstreams_.size());
  for (std::size_t i = 0; i < upstreams_.size(); ++i) {
    const auto& last = upstreams_[i].last;
    auto& verdict = selection.upstreams[i];
    if (!last || seconds_between(last->received_at, now) > settings_.unsync_after) continue;
    verdict.offset = last->offset;
    verdict.root_distance = root_distance(*last, now);
    verdict.state = good(*last) ? UpstreamState::Selected : UpstreamState::Unsynchronised;
  }
  intersect_usable(selection, now);
  // The majority vouches for the system clock only where each of its members does.
  double best = 0.0;
  for (std::size_t i = 0; i < upstreams_.size(); ++i) {
    auto& verdict = selection.upstreams[i];
    if (verdict.state != UpstreamState::Selected) continue;
    if (std::fabs(verdict.offset) > verdict.root_distance + settings_.offset_margin) {
      verdict.state = UpstreamState::Falseticker;
      verdict.reason = Disagreement::SystemClock;
      continue;
    }
    const double served_distance = verdict.root_distance + std::fabs(verdict.offset);
    if (!selection.system_peer || served_distance < best) {
      selection.system_peer = i;
      best = served_distance;
    }
  }
  return selection;
}

ClockState UpstreamSelector::state_for(const Selection& selection) const {
  if (!selection.system_peer) {
    return unsynchronised_state(settings_.precision, settings_.answer_when_unsynchronised);
  }
  const Upstream& upstream = upstreams_[*selection.system_peer];
  const UpstreamSample& sample = *upstream.last;
  ClockState state;
  state.clock.leap = sample.leap;
  state.clock.stratum = static_cast<std::uint8_t>(sample.stratum + 1);
  state.clock.precision = settings_.precision;
  state.clock.reference_id = upstream.reference_id;
  state.clock.reference_time = sample.received_at;
  state.clock.root_delay = to_ntp_short(sample.root_delay + sample.delay);
  // RFC 5905 §11.2: our root dispersion is the upstream's plus what we add: the
  // system clock's measured offset from it (ntsd does not correct it) and the
  // resolution of our clock reads. The snapshot grows it at PHI from the
  // sample's arrival.
  state.clock.root_dispersion = to_ntp_short(sample.root_dispersion + std::fabs(sample.offset) +
                                             std::ldexp(1.0, settings_.precision));
  state.measured_at = sample.received_at;
  state.dispersion_rate = kPhi;
  return state;
}

}  // namespace ntsd::timesource
