#include "server/log.h"

#include <fcntl.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "common/unique_fd.h"
#include "server/config_error.h"

namespace ntsd::server {

namespace {

UniqueFd open_log(const std::string& path) {
  return UniqueFd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
}

// Appends each line with one write(2) to a descriptor that reopen() replaces.
class ReopenableFileSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  ReopenableFileSink(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}

  std::optional<std::string> reopen() {
    UniqueFd fresh = open_log(path_);
    if (!fresh.valid()) return "cannot open " + path_ + ": " + std::strerror(errno);
    std::lock_guard lock(mutex_);
    fd_ = std::move(fresh);
    return std::nullopt;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    if (lost_ > 0) {
      // Room again: say first what is missing.
      const std::string note = "ntsd: " + std::to_string(lost_) +
                               " log line(s) lost: " + std::strerror(lost_errno_) + "\n";
      if (!write_line(note.data(), note.size())) {
        ++lost_;
        return;
      }
      lost_ = 0;
    }
    if (write_line(line.data(), line.size())) return;
    // A full disk must not stop the server: the line is lost, counted, and the
    // first loss of a streak is said on stderr (the journal under systemd).
    if (lost_++ == 0) {
      lost_errno_ = errno;
      const std::string warning = "ntsd: cannot write to " + path_ + ": " +
                                  std::strerror(lost_errno_) +
                                  "; log lines are lost until it works again\n";
      [[maybe_unused]] auto ignored = ::write(STDERR_FILENO, warning.data(), warning.size());
    }
  }
  bool write_line(const char* data, std::size_t left) {
    while (left > 0) {
      ssize_t n = ::write(fd_.get(), data, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        if (n == 0) errno = ENOSPC;
        return false;
      }
      data += n;
      left -= static_cast<std::size_t>(n);
    }
    return true;
  }
  void flush_() override {}

 private:
  std::string path_;
  UniqueFd fd_;
  std::uint64_t lost_ = 0;  // lines not written since the last that was
  int lost_errno_ = 0;
};

std::shared_ptr<ReopenableFileSink> log_file_sink;

}  // namespace

void init_logging(const std::string& level) { init_logging(level, std::nullopt); }

void init_logging(const std::string& level, const std::optional<std::string>& file) {
  std::shared_ptr<spdlog::logger> logger;
  if (file) {
    UniqueFd fd = open_log(*file);
    if (!fd.valid())
      throw ConfigError("--log-file", "cannot open " + *file + ": " + std::strerror(errno));
    log_file_sink = std::make_shared<ReopenableFileSink>(*file, std::move(fd));
    logger = std::make_shared<spdlog::logger>("ntsd", log_file_sink);
    spdlog::register_logger(logger);
  } else {
    logger = spdlog::stderr_logger_mt("ntsd");
  }
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    throw ConfigError("--log-level", "'" + level + "' is not a log level");
  }
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

std::optional<std::string> reopen_log_file() {
  if (!log_file_sink) return std::nullopt;
  return log_file_sink->reopen();
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
  return false;
}

}  // namespace ntsd::server
