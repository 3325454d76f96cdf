// The cookie keys of a running ntsd: loads or creates the key file, ratchets it
// to the present, publishes the keyring, and rotates at every epoch boundary on a
// thread of its own, rewriting the file each time.
#pragma once

#include <condition_variable>
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
  // file is logged and retried at the next rotation; it never stops serving.
  bool rotate(std::int64_t now);

  // Rotates at every epoch boundary (CLOCK_REALTIME) until stop().
  void start();
  void stop();

  [[nodiscard]] std::uint32_t current_epoch() const;
  [[nodiscard]] std::uint32_t oldest_epoch() const;
  [[nodiscard]] const KeySettings& settings() const { return settings_; }
  [[nodiscard]] bool created_file() const { return created_file_; }
  // One line for the start-up log: the window, the interval, where the keys live.
  [[nodiscard]] std::string describe() const;

 private:
  void persist();
  void run();

  KeySettings settings_;
  mutable std::mutex mutex_;  // guards ratchet_, current_ and the file
  std::optional<Ratchet> ratchet_;  // the oldest key in force
  std::uint32_t current_ = 0;
  bool created_file_ = false;
  bool file_stale_ = false;  // the last write failed
  std::unique_ptr<PublishedKeyring> published_;

  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace ntsd::keys
