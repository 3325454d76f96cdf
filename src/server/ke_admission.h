// Which accepted NTS-KE connections get a session, per KE thread: none over the
// per-address connection rate limit, and none beyond max_sessions unless one of
// the open sessions still waits for its request, in which case the oldest such
// one is closed to make room. Idle and slow connections (slowloris) then cost an
// attacker a steady stream of new connections, while an honest client, which
// sends its request within a few round trips, is admitted at once.
//
// No sockets here: a waiting session closes its own connection when evicted.
// Single-threaded: each KE thread has its own.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>

#include "server/ke_session_outcome.h"
#include "server/rate_limit.h"

namespace ntsd::server {

// Concurrent NTS-KE sessions this machine can hold: bounded by the descriptors
// left under RLIMIT_NOFILE and by a share of physical memory (about 64 KiB per
// session), between 16 and 65536.
std::size_t default_ke_max_sessions();

// Each of `threads` KE threads' share of max_sessions: an equal part, at least 1.
std::size_t ke_shard_max_sessions(std::size_t max_sessions, unsigned threads);

class KeAdmission;

// A session that has not yet received its whole request: listed, oldest first,
// from construction until stop_waiting() or destruction.
class KeWaitingSession {
 public:
  explicit KeWaitingSession(KeAdmission& admission);
  virtual ~KeWaitingSession() { stop_waiting(); }
  KeWaitingSession(const KeWaitingSession&) = delete;
  KeWaitingSession& operator=(const KeWaitingSession&) = delete;

  void stop_waiting();
  // Closed by admission for a newer connection; that eviction was counted then.
  [[nodiscard]] bool evicted() const { return evicted_; }

 protected:
  // Closes the connection at once; the session's pending operation then fails.
  virtual void close_connection() = 0;

 private:
  friend class KeAdmission;
  KeAdmission& admission_;
  bool listed_ = false;
  bool evicted_ = false;
  std::list<KeWaitingSession*>::iterator position_;
};

class KeAdmission {
 public:
  // active_gauge: the server-wide count of open sessions, shared by all threads.
  KeAdmission(std::size_t max_sessions, const RateLimitSettings& rate_limit,
              std::atomic<std::uint64_t>& active_gauge);
  KeAdmission(const KeAdmission&) = delete;
  KeAdmission& operator=(const KeAdmission&) = delete;

  // An admitted session's slot, given back when the ticket is destroyed.
  class Ticket {
   public:
    explicit Ticket(KeAdmission& admission) : admission_(&admission) {}
    Ticket(Ticket&& other) noexcept : admission_(other.admission_) { other.admission_ = nullptr; }
    Ticket& operator=(Ticket&&) = delete;
    Ticket(const Ticket&) = delete;
    ~Ticket() {
      if (admission_ != nullptr) admission_->release();
    }

   private:
    KeAdmission* admission_;
  };

  struct Verdict {
    std::optional<Ticket> ticket;  // none: refused, to be reset at once
    // The session this verdict ended, to count: the refused connection
    // (RateLimited, RefusedBusy) or the waiting session evicted (Evicted).
    std::optional<KeSessionOutcome> ended;
  };

  // For a connection just accepted from `peer` (null: unknown, not rate
  // limited) at monotonic time now_ns (RateLimiter::monotonic_ns()).
  Verdict admit(const sockaddr* peer, std::int64_t now_ns);

  [[nodiscard]] std::size_t active() const { return active_; }
  [[nodiscard]] std::size_t waiting() const { return waiting_.size(); }

 private:
  friend class KeWaitingSession;
  void release();
  bool evict_oldest();

  std::size_t max_sessions_;
  RateLimiter connection_limit_;
  std::atomic<std::uint64_t>& active_gauge_;
  std::size_t active_ = 0;
  std::list<KeWaitingSession*> waiting_;
};

}  // namespace ntsd::server
