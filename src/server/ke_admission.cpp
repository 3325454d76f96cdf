#include "server/ke_admission.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>

namespace ntsd::server {

namespace {

constexpr std::size_t kSessionMemory = std::size_t{64} * 1024;
constexpr std::size_t kReservedDescriptors = 128;  // listeners, NTP sockets, key files, logs

}  // namespace

std::size_t default_ke_max_sessions() {
  std::size_t by_descriptors = 65536;
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
    auto limit = static_cast<std::size_t>(files.rlim_cur);
    by_descriptors = limit > kReservedDescriptors + 16 ? limit - kReservedDescriptors : 16;
  }
  std::size_t by_memory = 65536;
  long pages = sysconf(_SC_PHYS_PAGES);
  long page_size = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page_size > 0) {
    // At most an eighth of physical memory for sessions.
    by_memory =
        static_cast<std::size_t>(pages) / 8 * static_cast<std::size_t>(page_size) / kSessionMemory;
  }
  return std::clamp<std::size_t>(std::min(by_descriptors, by_memory), 16, 65536);
}

std::size_t ke_shard_max_sessions(std::size_t max_sessions, unsigned threads) {
  return std::max<std::size_t>(1, max_sessions / std::max(1u, threads));
}

KeWaitingSession::KeWaitingSession(KeAdmission& admission) : admission_(admission) {
  position_ = admission_.waiting_.insert(admission_.waiting_.end(), this);
  listed_ = true;
}

void KeWaitingSession::stop_waiting() {
  if (!listed_) return;
  admission_.waiting_.erase(position_);
  listed_ = false;
}

KeAdmission::KeAdmission(std::size_t max_sessions, const RateLimitSettings& rate_limit,
                         std::atomic<std::uint64_t>& active_gauge)
    : max_sessions_(max_sessions), connection_limit_(rate_limit), active_gauge_(active_gauge) {}

KeAdmission::Verdict KeAdmission::admit(const sockaddr* peer, std::int64_t now_ns) {
  Verdict verdict;
  if (peer != nullptr && connection_limit_.settings().enabled() &&
      connection_limit_.check(peer, now_ns) != RateVerdict::Allow) {
    verdict.ended = KeSessionOutcome::RateLimited;
    return verdict;
  }
  if (active_ >= max_sessions_) {
    if (!evict_oldest()) {
      verdict.ended = KeSessionOutcome::RefusedBusy;
      return verdict;
    }
    verdict.ended = KeSessionOutcome::Evicted;
  }
  ++active_;
  active_gauge_.fetch_add(1, std::memory_order_relaxed);
  verdict.ticket.emplace(*this);
  return verdict;
}

void KeAdmission::release() {
  --active_;
  active_gauge_.fetch_sub(1, std::memory_order_relaxed);
}

// The evicted session gives its slot back only when its coroutine sees the
// closed connection and ends: until then active() may exceed max_sessions by
// the sessions being evicted.
bool KeAdmission::evict_oldest() {
  if (waiting_.empty()) return false;
  KeWaitingSession& oldest = *waiting_.front();
  waiting_.pop_front();
  oldest.listed_ = false;
  oldest.evicted_ = true;
  oldest.close_connection();
  return true;
}

}  // namespace ntsd::server
