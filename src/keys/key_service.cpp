#include "keys/key_service.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <system_error>

namespace ntsd::keys {

namespace {

// The longest the rotation thread sleeps before looking at the clock again, so
// that a step of the clock (either way) is noticed within this time.
constexpr std::chrono::seconds kMaxSleep{5};

std::string window_text(const EpochKeyring& keyring) {
  return "minting with key " + std::to_string(keyring.current_epoch()) + ", accepting keys " +
         std::to_string(keyring.first_epoch()) + "-" + std::to_string(keyring.last_epoch());
}

}  // namespace

std::int64_t unix_now() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec);
}

KeyService::KeyService(KeySettings settings, std::int64_t now, core::RandomSource& random)
    : settings_(std::move(settings)) {
  auto current = epoch_at(now, settings_.rotation_seconds);
  if (!current) {
    throw KeyFileError("--key-rotation", "the clock (" + std::to_string(now) +
                                             " s since 1970) gives no usable epoch with a " +
                                             std::to_string(settings_.rotation_seconds) +
                                             " s rotation");
  }
  const std::uint32_t wanted_oldest = oldest_kept_epoch(*current, settings_.kept);
  bool changed = false;

  if (settings_.file) {
    const std::string& path = *settings_.file;
    stale_temp_files_ = remove_stale_temp_files(path);
    auto state = read_key_file(path);
    if (state) {
      if (state->rotation_seconds != settings_.rotation_seconds) {
        throw KeyFileError(
            "--key-rotation",
            path + " was written with a rotation of " + std::to_string(state->rotation_seconds) +
                " s, but this ntsd rotates every " + std::to_string(settings_.rotation_seconds) +
                " s: every host sharing the keys must use the same --key-rotation");
      }
      if (state->ratchet.epoch() > *current) {
        throw KeyFileError(
            "--keys",
            path + " starts at epoch " + std::to_string(state->ratchet.epoch()) + " (" +
                format_utc(epoch_start(state->ratchet.epoch(), settings_.rotation_seconds)) +
                "), later than the current epoch " + std::to_string(*current) + " (" +
                format_utc(now) +
                "): the clock of this host or of the host that wrote the file is wrong");
      }
      ratchet_.emplace(std::move(state->ratchet));
    } else {
      ratchet_.emplace(*current, MasterKey::random(random));
      created_file_ = true;
      changed = true;
    }
  } else {
    ratchet_.emplace(*current, MasterKey::random(random));
  }

  if (ratchet_->epoch() < wanted_oldest) {
    ratchet_->advance_to(wanted_oldest);
    changed = true;
  }
  current_ = *current;
  auto keyring = build_keyring(*ratchet_, current_);
  published_ = std::make_unique<PublishedKeyring>(keyring);
  // A failed write here is a start-up error (exit 2): the file stays as it was.
  if (settings_.file && changed)
    write_key_file(*settings_.file, KeyFileState{settings_.rotation_seconds, ratchet_->copy()});
}

std::string KeyService::describe() const {
  std::lock_guard lock(mutex_);
  auto keyring = published_->load();
  const auto& ring = static_cast<const EpochKeyring&>(*keyring);
  std::string text = window_text(ring) + " (" + std::to_string(settings_.rotation_seconds) +
                     " s rotation, " + std::to_string(settings_.kept) + " old key" +
                     (settings_.kept == 1 ? "" : "s") + " kept), ";
  if (!settings_.file) return text + "in memory only: a restart invalidates every cookie";
  text += (created_file_ ? "created " : "from ") + *settings_.file;
  if (stale_temp_files_ > 0) {
    text += " (removed " + std::to_string(stale_temp_files_) +
            " temporary file(s) a killed ntsd left beside it)";
  }
  return text;
}

KeyService::~KeyService() { stop(); }

std::uint32_t KeyService::current_epoch() const {
  std::lock_guard lock(mutex_);
  return current_;
}

std::uint32_t KeyService::oldest_epoch() const {
  std::lock_guard lock(mutex_);
  return ratchet_->epoch();
}

bool KeyService::file_stale() const {
  std::lock_guard lock(mutex_);
  return file_stale_;
}

void KeyService::persist() {
  if (!settings_.file) return;
  try {
    write_key_file(*settings_.file, KeyFileState{settings_.rotation_seconds, ratchet_->copy()});
    if (file_stale_) spdlog::info("cookie keys: {} written again", *settings_.file);
    file_stale_ = false;
    retry_delay_ = kFirstRetry;
  } catch (const KeyFileError& error) {
    // Serving goes on with the keys in memory; the file on disk still holds an
    // older key, from which a restart ratchets forward correctly.
    file_errors_.fetch_add(1, std::memory_order_relaxed);
    if (file_stale_) retry_delay_ = std::min(retry_delay_ * 2, kMaxRetry);
    file_stale_ = true;
    retry_at_ = std::chrono::steady_clock::now() + retry_delay_;
    spdlog::error("cookie keys: {} (serving on with the keys in memory; retrying in {} s)",
                  error.message(), retry_delay_.count());
  }
}

bool KeyService::rotate(std::int64_t now) {
  auto epoch = epoch_at(now, settings_.rotation_seconds);
  std::lock_guard lock(mutex_);
  if (!epoch || *epoch <= current_) {
    catching_up_ = false;
    if (epoch && *epoch < current_ && (!warned_back_to_ || *epoch < *warned_back_to_)) {
      // Keys are never derived backwards: minting stays on the newest key held.
      spdlog::warn(
          "cookie keys: the clock went back to epoch {} ({}), before the current epoch {}; "
          "minting stays on key {} and the keys in force are kept until the clock catches up",
          *epoch, format_utc(now), current_, current_);
      warned_back_to_ = *epoch;
    }
    if (file_stale_ && std::chrono::steady_clock::now() >= retry_at_) persist();
    return false;
  }
  warned_back_to_.reset();
  auto wanted_oldest = oldest_kept_epoch(*epoch, settings_.kept);
  if (ratchet_->epoch() + kMaxStepsPerPass < wanted_oldest) {
    if (!catching_up_) {
      spdlog::warn(
          "cookie keys: the clock jumped {} epochs ahead (to {}); ratcheting forward in "
          "passes of {} keys while the keys in force stay in use",
          *epoch - current_, format_utc(now), kMaxStepsPerPass);
    }
    catching_up_ = true;
    ratchet_->advance_to(ratchet_->epoch() + kMaxStepsPerPass);
    return false;
  }
  catching_up_ = false;
  current_ = *epoch;
  bool dropped = ratchet_->epoch() < wanted_oldest;
  if (dropped) ratchet_->advance_to(wanted_oldest);
  auto keyring = build_keyring(*ratchet_, current_);
  published_->publish(keyring);
  if (dropped || file_stale_) persist();
  spdlog::info("cookie keys rotated: {}", window_text(*keyring));
  return true;
}

KeyService::WakeFd::WakeFd() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

KeyService::WakeFd::~WakeFd() { ::close(fd_); }

void KeyService::WakeFd::signal() const {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
}

void KeyService::WakeFd::drain() const {
  std::uint64_t count = 0;
  [[maybe_unused]] auto n = ::read(fd_, &count, sizeof count);
}

bool KeyService::WakeFd::wait(std::chrono::nanoseconds timeout) const {
  pollfd entry{fd_, POLLIN, 0};
  // Rounded up to whole milliseconds: never wake before the boundary.
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(timeout).count();
  const int rc = ::poll(&entry, 1, static_cast<int>(std::min<std::int64_t>(ms, 60'000)));
  return rc > 0;
}

void KeyService::start() {
  std::lock_guard lock(stop_mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  wake_.drain();
  thread_ = std::thread([this] { run(); });
}

void KeyService::stop() {
  {
    std::lock_guard lock(stop_mutex_);
    stopping_ = true;
  }
  wake_.signal();
  if (thread_.joinable()) thread_.join();
}

std::chrono::nanoseconds KeyService::next_wait() const {
  using std::chrono::nanoseconds;
  using std::chrono::system_clock;
  std::lock_guard lock(mutex_);
  if (catching_up_) return kPassPause;
  const auto boundary = system_clock::time_point(
      std::chrono::seconds(epoch_start(current_ + 1, settings_.rotation_seconds)));
  // A relative wait on the monotonic clock: an absolute CLOCK_REALTIME deadline
  // would sleep for as long as the clock was stepped back.
  nanoseconds wait =
      std::clamp<nanoseconds>(boundary - system_clock::now(), nanoseconds{0}, kMaxSleep);
  if (file_stale_) {
    const auto retry_in = retry_at_ - std::chrono::steady_clock::now();
    wait = std::min<nanoseconds>(wait, std::max<nanoseconds>(retry_in, nanoseconds{0}));
  }
  return wait;
}

void KeyService::run() {
  for (;;) {
    {
      std::lock_guard lock(stop_mutex_);
      if (stopping_) break;
    }
    if (wake_.wait(next_wait())) continue;  // stop() signalled: look at stopping_
    rotate(unix_now());
  }
}

}  // namespace ntsd::keys
