#include "server/log.h"

#include <spdlog/sinks/stdout_sinks.h>

#include <algorithm>

#include "server/config.h"

namespace ntsd::server {

void init_logging(const std::string& level) {
  auto logger = spdlog::stderr_logger_mt("ntsd");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    throw ConfigError("--log-level", "'" + level + "' is not a log level");
  }
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

bool LogLimiter::allow() {
  auto now = std::chrono::steady_clock::now();
  std::chrono::duration<double> elapsed = now - last_;
  last_ = now;
  tokens_ = std::min(burst_, tokens_ + elapsed.count() * rate_);
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return true;
  }
  ++suppressed_;
  return false;
}

std::uint64_t LogLimiter::take_suppressed() {
  auto n = suppressed_;
  suppressed_ = 0;
  return n;
}

}  // namespace ntsd::server
