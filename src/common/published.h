// An immutable value published by one thread and read by many without waiting:
// the writer swaps in a new shared_ptr under a mutex and bumps a generation
// counter; a reader checks the counter (one acquire load) and takes the mutex
// only when the value changed. The clock state (timesource::PublishedClock) and
// the cookie keys (keys::PublishedKeyring) are both published this way.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

namespace ntsd {

template <typename T>
class Published {
 public:
  explicit Published(std::shared_ptr<const T> initial) : value_(std::move(initial)) {}

  void publish(std::shared_ptr<const T> next) {
    std::lock_guard lock(mutex_);
    value_ = std::move(next);
    generation_.fetch_add(1, std::memory_order_release);
  }

  [[nodiscard]] std::shared_ptr<const T> load() const {
    std::lock_guard lock(mutex_);
    return value_;
  }

  [[nodiscard]] std::uint64_t generation() const {
    return generation_.load(std::memory_order_acquire);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const T> value_;
  std::atomic<std::uint64_t> generation_{0};
};

// One reader's view (not shared between threads): refreshes only on a change.
template <typename T>
class PublishedReader {
 public:
  explicit PublishedReader(const Published<T>& published)
      : published_(published), generation_(published.generation()), value_(published.load()) {}

  const T& current() {
    auto generation = published_.generation();
    if (generation != generation_) {
      value_ = published_.load();
      generation_ = generation;
    }
    return *value_;
  }

 private:
  const Published<T>& published_;
  std::uint64_t generation_;
  std::shared_ptr<const T> value_;
};

}  // namespace ntsd
