// The cookie keys of a running ntsd: loads or creates the key file, ratchets it
// to the present, publishes the keyring, and rotates at every epoch boundary on a
// thread of its own, rewriting the file each time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/random.h"
#include "keys/key_file.h"
#include "keys/published_keyring.h"
#include "keys/ratchet.h"

namespace ntsd::keys {

struct KeySettings {
  std::optional<std::string> file;  // none: keys live in memory only
  std::uint32_t rotation_seconds = kDefaultRotationSeconds;
  std::uint32_t kept = default_keys_kept(kDefaultRotationSeconds);
};

// The current Unix time in seconds (CLOCK_REALTIME).
std::int64_t unix_now();

class KeyService {
 public:
  // Reads FILE (or draws a random key when there is none, creating FILE when it
  // is configured), ratchets forward to the epoch of `now`, drops the keys that
  // fell out of the window, rewrites FILE when its content changed, and publishes
  // the keyring. Throws KeyFileError on a bad file or setting; FILE is then left
  // untouched. Logs nothing: see describe().
  KeyService(KeySettings settings, std::int64_t now, core::RandomSource& random);
  ~KeyService();
  KeyService(const KeyService&) = delete;
  KeyService& operator=(const KeyService&) = delete;

  [[nodiscard]] const PublishedKeyring& published() const { return *published_; }

  // Moves to the epoch of `now` when it is later than the current one: ratchets,
  // publishes, rewrites FILE. Returns true when it rotated. A failure to write the
  // file (read-only or full directory) is logged, counted and retried with backoff
  // (kFirstRetry doubling to kMaxRetry) by the rotation thread; it never stops
  // serving, and the file on disk stays as it was. A clock that went back keeps
  // the keys in force (warned once per step back).
  bool rotate(std::int64_t now);

  // A clock stepped far forward ratchets in passes of at most this many keys
  // (one HKDF each), kPassPause apart, serving the keys in force meanwhile, so
  // that a step of days at a short rotation is no burst of CPU.
  static constexpr std::uint32_t kMaxStepsPerPass = 4096;
  static constexpr std::chrono::milliseconds kPassPause{20};
  static constexpr std::chrono::seconds kFirstRetry{1};
  static constexpr std::chrono::seconds kMaxRetry{64};

  // Rotates at every epoch boundary (CLOCK_REALTIME) until stop().
  void start();
  void stop();

  [[nodiscard]] std::uint32_t current_epoch() const;
  [[nodiscard]] std::uint32_t oldest_epoch() const;
  [[nodiscard]] const KeySettings& settings() const { return settings_; }
  [[nodiscard]] bool created_file() const { return created_file_; }
  // Failed writes of FILE since start.
  [[nodiscard]] std::uint64_t file_errors() const {
    return file_errors_.load(std::memory_order_relaxed);
  }
  // The last write of FILE failed and a retry is pending.
  [[nodiscard]] bool file_stale() const;
  // One line for the start-up log: the window, the interval, where the keys live.
  [[nodiscard]] std::string describe() const;

 private:
  void persist();
  void run();
  [[nodiscard]] std::chrono::nanoseconds next_wait() const;

  KeySettings settings_;
  mutable std::mutex mutex_;        // guards ratchet_, current_ and the file
  std::optional<Ratchet> ratchet_;  // the oldest key in force
  std::uint32_t current_ = 0;
  bool created_file_ = false;
  std::size_t stale_temp_files_ = 0;  // removed at start
  bool file_stale_ = false;           // the last write failed
  std::chrono::seconds retry_delay_{kFirstRetry};
  std::chrono::steady_clock::time_point retry_at_{};  // when file_stale_
  bool catching_up_ = false;                          // ratcheting in passes after a step forward
  // While the clock is behind: the earliest epoch warned about (a further step back warns again).
  std::optional<std::uint32_t> warned_back_to_;
  std::atomic<std::uint64_t> file_errors_{0};
  std::unique_ptr<PublishedKeyring> published_;

  // The rotation thread sleeps in poll(2) on this eventfd, which stop() signals:
  // a relative timeout on the monotonic clock, so a step of the wall clock does
  // not stretch the sleep (an absolute CLOCK_REALTIME deadline would sleep for
  // as long as the clock went back).
  class WakeFd {
   public:
    WakeFd();
    ~WakeFd();
    WakeFd(const WakeFd&) = delete;
    WakeFd& operator=(const WakeFd&) = delete;
    void signal() const;
    void drain() const;
    // True when signalled within `timeout`.
    [[nodiscard]] bool wait(std::chrono::nanoseconds timeout) const;

   private:
    int fd_;
  };
  WakeFd wake_;
  std::mutex stop_mutex_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace ntsd::keys
