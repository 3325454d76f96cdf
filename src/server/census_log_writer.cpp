#include "server/census_log_writer.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "server/config_error.h"

namespace ntsd::server {

namespace {

constexpr const char* kSetting = "--census-log";

UniqueFd open_census_log(const std::string& path, int flags) {
  return UniqueFd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | flags, 0640));
}

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

// ---- The queue ------------------------------------------------------------

CensusLogQueue::CensusLogQueue(std::size_t capacity, std::uint32_t lines_per_second)
    : slots_(std::max<std::size_t>(capacity, 1)), per_second_(lines_per_second) {}

bool CensusLogQueue::push(const CensusRecord& record, std::chrono::steady_clock::time_point now) {
  {
    std::lock_guard lock(mutex_);
    if (now - window_start_ >= std::chrono::seconds(1)) {
      window_start_ = now;
      in_window_ = 0;
    }
    if (in_window_ >= per_second_) {
      dropped_rate_.fetch_add(1, kRelaxed);
      return false;
    }
    if (size_ == slots_.size() || closed_) {
      dropped_queue_.fetch_add(1, kRelaxed);
      return false;
    }
    ++in_window_;
    slots_[(head_ + size_) % slots_.size()] = record;
    ++size_;
  }
  ready_.notify_one();
  return true;
}

void CensusLogQueue::take_locked(std::vector<CensusRecord>& out) {
  for (; size_ > 0; --size_) {
    out.push_back(slots_[head_]);
    head_ = (head_ + 1) % slots_.size();
  }
}

bool CensusLogQueue::wait_and_take(std::vector<CensusRecord>& out) {
  std::unique_lock lock(mutex_);
  ready_.wait(lock, [this] { return size_ > 0 || closed_; });
  if (size_ == 0) return false;  // closed and empty
  take_locked(out);
  return true;
}

void CensusLogQueue::take(std::vector<CensusRecord>& out) {
  std::lock_guard lock(mutex_);
  take_locked(out);
}

void CensusLogQueue::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  ready_.notify_all();
}

// ---- The file -------------------------------------------------------------

void check_census_log_path(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) throw ConfigError(kSetting, path + " is a directory");
    if (!open_census_log(path, 0).valid()) {
      throw ConfigError(kSetting, "cannot open " + path + ": " + std::strerror(errno));
    }
    return;
  }
  const std::string directory = directory_of(path);
  if (::access(directory.c_str(), W_OK | X_OK) != 0) {
    throw ConfigError(kSetting,
                      "cannot create " + path + ": " + directory + ": " + std::strerror(errno));
  }
}

CensusLog::CensusLog(CensusLogSettings settings)
    : settings_(std::move(settings)),
      queue_(settings_.queue_capacity, settings_.lines_per_second),
      fd_(open_census_log(settings_.path, O_CREAT)) {
  if (!fd_.valid()) {
    throw ConfigError(kSetting, "cannot open " + settings_.path + ": " + std::strerror(errno));
  }
}

CensusLog::~CensusLog() { stop(); }

void CensusLog::start() {
  if (!writer_.joinable()) writer_ = std::thread([this] { run(); });
}

void CensusLog::stop() {
  queue_.close();
  if (writer_.joinable()) writer_.join();
}

void CensusLog::submit(const CensusRecord& record) {
  queue_.push(record, std::chrono::steady_clock::now());
}

std::optional<std::string> CensusLog::reopen() {
  UniqueFd fresh = open_census_log(settings_.path, O_CREAT);
  if (!fresh.valid()) return "cannot open " + settings_.path + ": " + std::strerror(errno);
  std::lock_guard lock(fd_mutex_);
  std::swap(fd_, fresh);
  return std::nullopt;  // the old descriptor closes here, after the lock
}

CensusLogCounts CensusLog::counts() const {
  CensusLogCounts counts;
  counts.written = written_.load(std::memory_order_relaxed);
  counts.error = errors_.load(std::memory_order_relaxed);
  counts.dropped_rate = queue_.dropped_rate();
  counts.dropped_queue = queue_.dropped_queue();
  return counts;
}

// Formats each batch into one buffer and appends it whole.
void CensusLog::run() {
  std::vector<CensusRecord> batch;
  batch.reserve(queue_.capacity());
  std::string text;
  while (queue_.wait_and_take(batch)) {
    text.clear();
    for (const auto& record : batch) text += format_census_line(record);
    const int error = write_lines(text);
    if (error == 0) {
      written_.fetch_add(batch.size(), std::memory_order_relaxed);
    } else {
      errors_.fetch_add(batch.size(), std::memory_order_relaxed);
      if (error_log_.allow()) {
        spdlog::error(
            "census log {}: cannot write: {}; {} line(s) lost (counted in "
            "ntsd_census_log_lines_total{{result=\"error\"}})",
            settings_.path, std::strerror(error), batch.size());
      }
    }
    batch.clear();
  }
}

// Appends `text` (whole lines). A write that fails part way is cut back to
// where it began, so that the file never holds half a line. Returns 0 or errno.
int CensusLog::write_lines(const std::string& text) {
  std::lock_guard lock(fd_mutex_);
  const off_t start = ::lseek(fd_.get(), 0, SEEK_END);
  const char* data = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_.get(), data, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = n == 0 ? ENOSPC : errno;
      if (data != text.data() && start >= 0) {
        [[maybe_unused]] const int ignored = ::ftruncate(fd_.get(), start);
      }
      return error;
    }
    data += n;
    left -= static_cast<std::size_t>(n);
  }
  return 0;
}

}  // namespace ntsd::server
