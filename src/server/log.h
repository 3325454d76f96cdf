// Logging: spdlog to stderr, one line per event. Anything a packet from the
// network can trigger goes through a LogLimiter so floods cannot flood the log.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace ntsd::server {

// Throws ConfigError naming --log-level for an unknown level.
void init_logging(const std::string& level);
// Logs to `file` (appending; created mode 0640) instead of stderr. Throws
// ConfigError naming --log-file when it cannot be opened.
void init_logging(const std::string& level, const std::optional<std::string>& file);

// Opens the log file again by its name, for logrotate's rename-then-SIGHUP. On
// failure the old file stays in use and the reason is returned. Without a log
// file: nothing, none.
std::optional<std::string> reopen_log_file();

// A token bucket for log lines: `burst` lines at once, `per_second` after that.
// Single-threaded: each worker owns its own.
class LogLimiter {
 public:
  LogLimiter(double per_second, double burst) : rate_(per_second), burst_(burst), tokens_(burst) {}
  // True when a line may be written now.
  bool allow();

 private:
  double rate_;
  double burst_;
  double tokens_;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

}  // namespace ntsd::server
