// The research log's file (census_log.h): KE threads hand records to a bounded
// queue and never wait for the disk; one writer thread formats and appends
// them. A line over the per-second cap, or one that finds the queue full, is
// dropped and counted; a failed write is counted and the server keeps serving.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "server/census_log.h"
#include "server/log.h"

namespace ntsd::server {

// A fixed ring of records, allocated once, with a cap on records accepted per
// second (a window per second of the steady clock). Thread-safe; the lock is
// never held across I/O. Time is passed in, so tests choose it.
class CensusLogQueue {
 public:
  CensusLogQueue(std::size_t capacity, std::uint32_t lines_per_second);

  // False when the record was dropped (and counted as such).
  bool push(const CensusRecord& record, std::chrono::steady_clock::time_point now);
  // Moves every queued record to the end of `out` (whose capacity should be
  // capacity(): then it never allocates). Waits while the queue is empty and
  // open; returns false once it is closed and empty.
  bool wait_and_take(std::vector<CensusRecord>& out);
  // Takes what is queued without waiting.
  void take(std::vector<CensusRecord>& out);
  void close();

  [[nodiscard]] std::size_t capacity() const { return slots_.size(); }
  [[nodiscard]] std::uint64_t dropped_rate() const { return dropped_rate_.load(kRelaxed); }
  [[nodiscard]] std::uint64_t dropped_queue() const { return dropped_queue_.load(kRelaxed); }

 private:
  static constexpr auto kRelaxed = std::memory_order_relaxed;
  void take_locked(std::vector<CensusRecord>& out);

  std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<CensusRecord> slots_;
  std::size_t head_ = 0;  // oldest record
  std::size_t size_ = 0;
  bool closed_ = false;
  std::uint32_t per_second_;
  std::chrono::steady_clock::time_point window_start_{};
  std::uint32_t in_window_ = 0;
  std::atomic<std::uint64_t> dropped_rate_{0};
  std::atomic<std::uint64_t> dropped_queue_{0};
};

struct CensusLogSettings {
  std::string path;
  CensusLogPrefixes prefixes;
  std::uint32_t lines_per_second = 100;
  std::size_t queue_capacity = 1024;
};

// Throws ConfigError naming --census-log when `path` could not be appended to
// (the file is not created: for --check-config).
void check_census_log_path(const std::string& path);

class CensusLog {
 public:
  // Opens (appending; created 0640) the file; throws ConfigError naming
  // --census-log when it cannot. No thread yet.
  explicit CensusLog(CensusLogSettings settings);
  ~CensusLog();
  CensusLog(const CensusLog&) = delete;
  CensusLog& operator=(const CensusLog&) = delete;

  void start();  // the writer thread
  void stop();   // writes what is queued, joins the writer

  // From any KE thread: queues or drops, never waits for I/O.
  void submit(const CensusRecord& record);
  [[nodiscard]] CensusLogPrefixes prefixes() const { return settings_.prefixes; }
  [[nodiscard]] const std::string& path() const { return settings_.path; }

  // Opens the file again by its name (logrotate's rename, then SIGHUP). On
  // failure the old file stays in use and the reason is returned.
  std::optional<std::string> reopen();

  [[nodiscard]] CensusLogCounts counts() const;

 private:
  void run();
  int write_lines(const std::string& text);  // 0 or errno

  CensusLogSettings settings_;
  CensusLogQueue queue_;
  std::mutex fd_mutex_;  // the writer's write against reopen's swap
  UniqueFd fd_;
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> errors_{0};
  LogLimiter error_log_{1.0 / 60.0, 1.0};  // the writer thread's alone
  std::thread writer_;
};

}  // namespace ntsd::server
