#include "time/upstream.h"

#include <algorithm>

namespace ntsd::timesource {

UpstreamSelector::UpstreamSelector(std::size_t upstreams, UpstreamSettings settings)
    : upstreams_(upstreams), settings_(settings) {}

bool UpstreamSelector::good(const UpstreamSample& sample) {
  return sample.leap != core::LeapIndicator::Unsynchronized && sample.stratum >= 1 &&
         sample.stratum < 15;  // we serve stratum + 1, which must stay below 16
}

void UpstreamSelector::add_sample(std::size_t index, const UpstreamSample& sample,
                                  const core::ReferenceId& reference_id) {
  if (index >= upstreams_.size() || !good(sample)) return;
  upstreams_[index].last_good = sample;
  upstreams_[index].reference_id = reference_id;
}

double UpstreamSelector::root_distance(const UpstreamSample& sample, core::NtpTimestamp now) {
  const double age = std::max(0.0, seconds_between(sample.received_at, now));
  return (sample.root_delay + sample.delay) / 2.0 + sample.root_dispersion + kPhi * age;
}

std::optional<std::size_t> UpstreamSelector::selected(core::NtpTimestamp now) const {
  std::optional<std::size_t> best;
  double best_distance = 0.0;
  for (std::size_t i = 0; i < upstreams_.size(); ++i) {
    const auto& sample = upstreams_[i].last_good;
    if (!sample) continue;
    const double age = seconds_between(sample->received_at, now);
    if (age > settings_.unsync_after) continue;
    const double distance = root_distance(*sample, now);
    if (!best || distance < best_distance) {
      best = i;
      best_distance = distance;
    }
  }
  return best;
}

ClockState UpstreamSelector::state_at(core::NtpTimestamp now) const {
  auto index = selected(now);
  if (!index) return unsynchronised_state(settings_.precision, settings_.answer_when_unsynchronised);
  const Upstream& upstream = upstreams_[*index];
  const UpstreamSample& sample = *upstream.last_good;
  ClockState state;
  state.clock.leap = sample.leap;
  state.clock.stratum = static_cast<std::uint8_t>(sample.stratum + 1);
  state.clock.precision = settings_.precision;
  state.clock.reference_id = upstream.reference_id;
  state.clock.reference_time = sample.received_at;
  state.clock.root_delay = to_ntp_short(sample.root_delay + sample.delay);
  // RFC 5905 §11.2: our root dispersion is the upstream's plus what we add; the
  // snapshot grows it at PHI from the sample's arrival.
  state.clock.root_dispersion = to_ntp_short(sample.root_dispersion);
  state.measured_at = sample.received_at;
  state.dispersion_rate = kPhi;
  return state;
}

}  // namespace ntsd::timesource
