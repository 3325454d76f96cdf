// The cookie keys in force, shared by the NTS-KE server and the NTP workers.
//
// Rotation publishes a new immutable keyring; readers keep the one they hold
// until they look again, so a worker never waits on a lock and never sees a
// half-rotated set. Readers check a generation counter (one relaxed load) per
// batch and take the new keyring only when it changed.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "core/cookie.h"

namespace ntsd::keys {

class PublishedKeyring {
 public:
  explicit PublishedKeyring(std::shared_ptr<const core::CookieKeyring> initial)
      : keyring_(std::move(initial)) {}

  void publish(std::shared_ptr<const core::CookieKeyring> next) {
    std::lock_guard lock(mutex_);
    keyring_ = std::move(next);
    generation_.fetch_add(1, std::memory_order_release);
  }

  [[nodiscard]] std::shared_ptr<const core::CookieKeyring> load() const {
    std::lock_guard lock(mutex_);
    return keyring_;
  }

  [[nodiscard]] std::uint64_t generation() const {
    return generation_.load(std::memory_order_acquire);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const core::CookieKeyring> keyring_;
  std::atomic<std::uint64_t> generation_{0};
};

// A reader's view: refreshes from the published keyring only when it changed.
class KeyringReader {
 public:
  explicit KeyringReader(const PublishedKeyring& published)
      : published_(published), generation_(published.generation()), keyring_(published.load()) {}

  const core::CookieKeyring& current() {
    auto generation = published_.generation();
    if (generation != generation_) {
      keyring_ = published_.load();
      generation_ = generation;
    }
    return *keyring_;
  }

 private:
  const PublishedKeyring& published_;
  std::uint64_t generation_;
  std::shared_ptr<const core::CookieKeyring> keyring_;
};

}  // namespace ntsd::keys
