// What ntsd tells clients about its clock. ntsd never steers the clock: a time
// source only describes the system clock that another daemon keeps right.
//
// The service measures the clock's precision at start, runs the configured
// source (local, kernel or upstream; see docs/configuration.md#time-sources),
// applies the leap-seconds file, and publishes an immutable
// timesource::ClockState about once a second (and after every upstream
// sample). NTP workers read it per batch without waiting (common/published.h).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "server/time_source_settings.h"
#include "time/clock_state.h"
#include "time/leap_file.h"
#include "time/upstream.h"

namespace ntsd::server {

class UpstreamPoller;
struct PollResult;

// One upstream as the metrics endpoint shows it.
struct UpstreamStatus {
  std::string name;
  bool reachable = false;  // its last poll brought a response
  timesource::UpstreamState state =
      timesource::UpstreamState::Unreachable;  // in the last selection
};

class TimeSource {
 public:
  // Measures precision, loads the leap file (a bad one is a ConfigError naming
  // --leap-file). Nothing runs until start().
  explicit TimeSource(const TimeSourceSettings& settings);
  ~TimeSource();
  TimeSource(const TimeSource&) = delete;
  TimeSource& operator=(const TimeSource&) = delete;

  void start();
  void stop();

  [[nodiscard]] const timesource::PublishedClock& published() const { return published_; }
  [[nodiscard]] std::string name() const;
  [[nodiscard]] std::int8_t precision() const { return precision_; }

  // Each configured upstream (none unless the source is `upstream`).
  [[nodiscard]] std::vector<UpstreamStatus> upstream_status();

  // Called by the pollers (any thread).
  void add_upstream_sample(std::size_t index, const timesource::UpstreamSample& sample,
                           const core::ReferenceId& reference_id);

 private:
  void load_leap_file();
  void make_pollers();
  void on_poll(std::size_t index, const PollResult& result);
  void run();
  void update();  // computes and publishes the state for now
  timesource::ClockState compute(core::NtpTimestamp now);
  void apply_leap_file(timesource::ClockState& state, core::NtpTimestamp now);
  void log_transition(const timesource::ClockState& state);
  void log_verdicts(const timesource::Selection& selection);

  TimeSourceSettings settings_;
  std::int8_t precision_ = -20;
  std::optional<timesource::LeapTable> leap_table_;
  bool leap_expiry_logged_ = false;
  timesource::PublishedClock published_;

  std::mutex mutex_;  // guards selector_ and the logging state below
  std::optional<timesource::UpstreamSelector> selector_;
  std::vector<std::string> upstream_names_;
  std::vector<std::string> upstream_errors_;        // the last failure of each, "" when answering
  std::vector<bool> upstream_reachable_;            // the last poll of each brought a response
  std::optional<timesource::Selection> selection_;  // the last one, for logs and metrics
  std::optional<bool> was_synchronised_;
  std::optional<std::size_t> was_selected_;
  core::LeapIndicator was_leap_ = core::LeapIndicator::NoWarning;
  std::string last_kernel_reason_;

  std::vector<std::unique_ptr<UpstreamPoller>> pollers_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace ntsd::server
