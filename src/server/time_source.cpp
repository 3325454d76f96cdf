#include "server/time_source.h"

#include <algorithm>
#include <cmath>

#include "client/net.h"
#include "server/config_error.h"
#include "server/log.h"
#include "server/upstream_poller.h"
#include "time/clock.h"
#include "time/kernel_clock.h"
#include "time/precision.h"

namespace ntsd::server {

namespace {

std::string leap_name(core::LeapIndicator leap) {
  switch (leap) {
    case core::LeapIndicator::NoWarning:
      return "none";
    case core::LeapIndicator::InsertSecond:
      return "insert";
    case core::LeapIndicator::DeleteSecond:
      return "delete";
    case core::LeapIndicator::Unsynchronized:
      return "unsynchronised";
  }
  return "?";
}

std::string refid_text(const core::ReferenceId& id) {
  return std::to_string(id[0]) + "." + std::to_string(id[1]) + "." + std::to_string(id[2]) + "." +
         std::to_string(id[3]);
}

// Often enough that several polls fit in --unsync-after, at most every 16 s.
std::chrono::seconds poll_interval(std::uint32_t unsync_after) {
  return std::chrono::seconds(std::clamp<std::uint32_t>(unsync_after / 8, 1, 16));
}

std::shared_ptr<const timesource::ClockState> initial_state(std::int8_t precision) {
  // Until the source has spoken: unsynchronised, and answered (start() replaces
  // it before any worker runs).
  return std::make_shared<const timesource::ClockState>(
      timesource::unsynchronised_state(precision, true));
}

}  // namespace

TimeSource::TimeSource(const TimeSourceSettings& settings)
    : settings_(settings),
      precision_(timesource::measure_clock_precision().precision),
      published_(initial_state(precision_)) {
  const auto measured = timesource::measure_clock_precision();
  precision_ = std::max(precision_, measured.precision);  // the coarser of two measurements
  spdlog::info("clock precision 2^{} s (smallest step between clock reads {:.0f} ns)", precision_,
               measured.resolution * 1e9);
  if (settings_.leap_file) load_leap_file();
  if (settings_.time_source == TimeSourceKind::Upstream) make_pollers();
}

void TimeSource::load_leap_file() {
  try {
    leap_table_ = timesource::load_leap_file(*settings_.leap_file);
  } catch (const timesource::LeapFileError& e) {
    throw ConfigError("--leap-file", e.what());
  }
  const auto now_seconds = realtime_now().raw >> 32;
  const auto& table = *leap_table_;
  if (table.expired(now_seconds)) {
    spdlog::warn("leap file {} expired on {}: it announces no leap seconds; install a current one",
                 *settings_.leap_file, timesource::format_ntp_date(table.expires));
    leap_expiry_logged_ = true;
  } else {
    spdlog::info("leap file {}: TAI-UTC {} s, expires {}", *settings_.leap_file,
                 table.entries.back().tai_offset, timesource::format_ntp_date(table.expires));
  }
}

void TimeSource::make_pollers() {
  timesource::UpstreamSettings selection;
  selection.unsync_after = settings_.unsync_after_seconds;
  selection.precision = precision_;
  selection.answer_when_unsynchronised = settings_.answer_unsynchronised;
  selection.offset_margin = settings_.upstream_offset_margin_ms / 1000.0;
  selector_.emplace(settings_.upstreams.size(), selection);
  for (std::size_t i = 0; i < settings_.upstreams.size(); ++i) {
    auto poller = std::make_unique<UpstreamPoller>(
        settings_.upstreams[i], settings_.upstream_ca,
        poll_interval(settings_.unsync_after_seconds),
        [this, i](const PollResult& result) { on_poll(i, result); });
    upstream_names_.push_back(poller->name());
    upstream_errors_.emplace_back();
    upstream_reachable_.push_back(false);
    pollers_.push_back(std::move(poller));
  }
}

void TimeSource::on_poll(std::size_t index, const PollResult& result) {
  if (result.sample) add_upstream_sample(index, *result.sample, result.reference_id);
  std::lock_guard lock(mutex_);
  const auto& name = upstream_names_[index];
  auto& last_error = upstream_errors_[index];
  upstream_reachable_[index] = result.sample.has_value();
  if (!result.sample) {
    // Once per distinct failure, not once per poll.
    if (result.error != last_error) spdlog::warn("upstream {}: {}", name, result.error);
    last_error = result.error;
    return;
  }
  if (!last_error.empty()) spdlog::info("upstream {}: answering again", name);
  last_error.clear();
  spdlog::debug("upstream {} ({}): stratum {}, leap {}, offset {:+.6f} s, delay {:.6f} s", name,
                result.address, result.sample->stratum, leap_name(result.sample->leap),
                result.sample->offset, result.sample->delay);
}

TimeSource::~TimeSource() { stop(); }

std::string TimeSource::name() const {
  return std::string(time_source_name(settings_.time_source));
}

void TimeSource::add_upstream_sample(std::size_t index, const timesource::UpstreamSample& sample,
                                     const core::ReferenceId& reference_id) {
  {
    std::lock_guard lock(mutex_);
    if (!selector_) return;
    selector_->add_sample(index, sample, reference_id);
  }
  update();
}

std::vector<UpstreamStatus> TimeSource::upstream_status() {
  std::lock_guard lock(mutex_);
  std::vector<UpstreamStatus> out;
  for (std::size_t i = 0; i < upstream_names_.size(); ++i) {
    auto state =
        selection_ ? selection_->upstreams[i].state : timesource::UpstreamState::Unreachable;
    out.push_back({upstream_names_[i], upstream_reachable_[i], state});
  }
  return out;
}

void TimeSource::start() {
  if (settings_.time_source == TimeSourceKind::Local) {
    spdlog::warn(
        "time source local: nothing vouches for this clock; ntsd serves stratum {} on the "
        "operator's word (use --time-source kernel or upstream where a daemon disciplines it)",
        settings_.stratum);
  }
  update();
  for (auto& poller : pollers_) poller->start();
  thread_ = std::thread([this] { run(); });
}

void TimeSource::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& poller : pollers_) poller->stop();
  if (thread_.joinable()) thread_.join();
}

void TimeSource::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    update();
    lock.lock();
  }
}

timesource::ClockState TimeSource::compute(core::NtpTimestamp now) {
  switch (settings_.time_source) {
    case TimeSourceKind::Local: {
      timesource::ClockState state;
      state.clock.leap = core::LeapIndicator::NoWarning;
      state.clock.stratum = settings_.stratum;
      state.clock.precision = precision_;
      state.clock.reference_id = settings_.reference_id;
      state.reference_is_now = true;
      state.measured_at = now;
      return state;
    }
    case TimeSourceKind::Kernel: {
      timesource::KernelSettings settings;
      settings.stratum = settings_.stratum;
      settings.reference_id = settings_.reference_id;
      settings.precision = precision_;
      settings.max_error = settings_.max_error_ms / 1000.0;
      settings.answer_when_unsynchronised = settings_.answer_unsynchronised;
      std::string error;
      auto reading = timesource::read_kernel_clock(error);
      if (!reading) {
        if (error != last_kernel_reason_) spdlog::error("time source kernel: {}", error);
        last_kernel_reason_ = error;
        return timesource::unsynchronised_state(precision_, settings_.answer_unsynchronised);
      }
      auto reason = timesource::kernel_unsync_reason(*reading, settings);
      if (reason != last_kernel_reason_ && !reason.empty()) {
        spdlog::warn("time source kernel: unsynchronised: {}", reason);
      }
      last_kernel_reason_ = reason;
      return timesource::map_kernel_clock(*reading, settings, now);
    }
    case TimeSourceKind::Upstream: {
      auto selection = selector_->select(now);
      log_verdicts(selection);
      selection_ = std::move(selection);
      return selector_->state_for(*selection_);
    }
  }
  return timesource::unsynchronised_state(precision_, settings_.answer_unsynchronised);
}

void TimeSource::apply_leap_file(timesource::ClockState& state, core::NtpTimestamp now) {
  if (!leap_table_ || !state.synchronised()) return;
  const auto seconds = now.raw >> 32;
  if (leap_table_->expired(seconds)) {
    if (!leap_expiry_logged_) {
      spdlog::warn("leap file {} expired on {}: leap seconds are no longer announced from it",
                   *settings_.leap_file, timesource::format_ntp_date(leap_table_->expires));
      leap_expiry_logged_ = true;
    }
    return;
  }
  // A source's own announcement (upstream LI, kernel STA_INS/STA_DEL) stands.
  if (state.clock.leap == core::LeapIndicator::NoWarning)
    state.clock.leap = leap_table_->indicator_at(seconds);
}

void TimeSource::log_verdicts(const timesource::Selection& selection) {
  using timesource::UpstreamState;
  const double margin = settings_.upstream_offset_margin_ms / 1000.0;
  for (std::size_t i = 0; i < selection.upstreams.size(); ++i) {
    const auto& verdict = selection.upstreams[i];
    if (selection_) {
      const auto& was = selection_->upstreams[i];
      if (was.state == verdict.state && was.reason == verdict.reason) continue;
    } else if (verdict.state == UpstreamState::Unreachable) {
      continue;  // nothing heard yet at start: not news
    }
    const auto& name = upstream_names_[i];
    const auto state = timesource::upstream_state_name(verdict.state);
    switch (verdict.reason) {
      case timesource::Disagreement::SystemClock:
        spdlog::warn(
            "upstream {}: {}: the system clock is {:+.6f} s from it, beyond its root "
            "distance {:.6f} s + margin {:.6f} s",
            name, state, -verdict.offset, verdict.root_distance, margin);
        break;
      case timesource::Disagreement::OutsideMajority:
        spdlog::warn(
            "upstream {}: {}: offset {:+.6f} s +/- {:.6f} s misses the interval the "
            "majority of upstreams agree on",
            name, state, verdict.offset, verdict.root_distance);
        break;
      case timesource::Disagreement::NoMajority:
        spdlog::warn(
            "upstream {}: {}: offset {:+.6f} s +/- {:.6f} s; no majority of upstreams agree", name,
            state, verdict.offset, verdict.root_distance);
        break;
      case timesource::Disagreement::None:
        if (verdict.state == UpstreamState::Selected) {
          spdlog::info("upstream {}: {}: offset {:+.6f} s, root distance {:.6f} s", name, state,
                       verdict.offset, verdict.root_distance);
        } else {
          spdlog::warn("upstream {}: {}", name, state);
        }
        break;
    }
  }
}

void TimeSource::log_transition(const timesource::ClockState& state) {
  const bool synchronised = state.synchronised();
  std::optional<std::size_t> selected;
  if (selection_) selected = selection_->system_peer;
  if (!was_synchronised_ || *was_synchronised_ != synchronised || selected != was_selected_) {
    if (synchronised) {
      std::string via = selected ? " via upstream " + upstream_names_[*selected] : "";
      spdlog::info(
          "time source {}: synchronised{}: stratum {}, refid {}, root delay {:.6f} s, root "
          "dispersion {:.6f} s",
          name(), via, state.clock.stratum, refid_text(state.clock.reference_id),
          timesource::from_ntp_short(state.clock.root_delay),
          timesource::from_ntp_short(state.clock.root_dispersion));
    } else if (settings_.time_source == TimeSourceKind::Upstream && !was_synchronised_) {
      // At start no poll has had a chance yet: not a fault. A failing poll warns
      // on its own ("upstream NAME: ..."), once per distinct failure.
      spdlog::info(
          "time source upstream: waiting for the first upstream sample (LI 3, stratum 16 "
          "until then){}",
          settings_.answer_unsynchronised ? "" : ": requests dropped");
    } else if (settings_.time_source == TimeSourceKind::Upstream) {
      spdlog::warn(
          "time source upstream: no upstream that answered in the last {} s agrees with the "
          "system clock; serving unsynchronised (LI 3, stratum 16){}",
          settings_.unsync_after_seconds,
          settings_.answer_unsynchronised ? "" : ": requests dropped");
    } else {
      spdlog::warn("time source {}: serving unsynchronised (LI 3, stratum 16){}", name(),
                   settings_.answer_unsynchronised ? "" : ": requests dropped");
    }
  }
  if (synchronised && state.clock.leap != was_leap_ &&
      state.clock.leap != core::LeapIndicator::Unsynchronized) {
    spdlog::info("time source {}: leap indicator now {}", name(), leap_name(state.clock.leap));
  }
  was_synchronised_ = synchronised;
  was_selected_ = selected;
  was_leap_ = state.clock.leap;
}

void TimeSource::update() {
  const auto now = realtime_now();
  std::lock_guard lock(mutex_);
  auto state = compute(now);
  apply_leap_file(state, now);
  log_transition(state);
  published_.publish(std::make_shared<const timesource::ClockState>(state));
}

}  // namespace ntsd::server
