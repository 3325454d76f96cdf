// Which NTS-KE connections get a session (server::KeAdmission): the rate limit,
// max_sessions, eviction of the oldest waiting session, and the outcome each
// verdict ends a session with.
#include "server/ke_admission.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <optional>
#include <vector>

#include "common/socket_address.h"

namespace ntsd::server {
namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

// A waiting session whose "connection" is a flag.
class FakeWaiting final : public KeWaitingSession {
 public:
  explicit FakeWaiting(KeAdmission& admission) : KeWaitingSession(admission) {}
  bool closed = false;

 private:
  void close_connection() override { closed = true; }
};

SocketAddress addr(const char* text) { return *SocketAddress::parse(text); }

TEST(KeAdmission, AdmitsUpToMaxSessionsAndGivesSlotsBack) {
  std::atomic<std::uint64_t> gauge{0};
  KeAdmission admission(2, RateLimitSettings{}, gauge);
  std::vector<KeAdmission::Ticket> tickets;
  for (int i = 0; i < 2; ++i) {
    auto v = admission.admit(nullptr, 0);
    ASSERT_TRUE(v.ticket.has_value());
    EXPECT_FALSE(v.ended.has_value());
    tickets.push_back(std::move(*v.ticket));
  }
  EXPECT_EQ(admission.active(), 2U);
  EXPECT_EQ(gauge.load(), 2U);
  // Full, and nobody waits for a request: refused.
  auto refused = admission.admit(nullptr, 0);
  EXPECT_FALSE(refused.ticket.has_value());
  EXPECT_EQ(refused.ended, KeSessionOutcome::RefusedBusy);
  tickets.pop_back();
  EXPECT_EQ(admission.active(), 1U);
  EXPECT_EQ(gauge.load(), 1U);
  EXPECT_TRUE(admission.admit(nullptr, 0).ticket.has_value());
}

TEST(KeAdmission, FullEvictsTheOldestWaitingSession) {
  std::atomic<std::uint64_t> gauge{0};
  KeAdmission admission(2, RateLimitSettings{}, gauge);
  auto first = admission.admit(nullptr, 0);
  auto second = admission.admit(nullptr, 0);
  FakeWaiting oldest(admission);
  FakeWaiting newer(admission);
  EXPECT_EQ(admission.waiting(), 2U);

  auto third = admission.admit(nullptr, 0);
  EXPECT_TRUE(third.ticket.has_value());
  EXPECT_EQ(third.ended, KeSessionOutcome::Evicted);
  EXPECT_TRUE(oldest.closed);
  EXPECT_TRUE(oldest.evicted());
  EXPECT_FALSE(newer.closed);
  EXPECT_EQ(admission.waiting(), 1U);
  // The evicted session keeps its slot until its ticket goes.
  EXPECT_EQ(admission.active(), 3U);

  // A session that has its request is no longer evictable.
  newer.stop_waiting();
  EXPECT_EQ(admission.waiting(), 0U);
  EXPECT_EQ(admission.admit(nullptr, 0).ended, KeSessionOutcome::RefusedBusy);
  EXPECT_FALSE(newer.evicted());
}

TEST(KeAdmission, WaitingSessionLeavesTheListWhenDestroyed) {
  std::atomic<std::uint64_t> gauge{0};
  KeAdmission admission(1, RateLimitSettings{}, gauge);
  auto held = admission.admit(nullptr, 0);
  { FakeWaiting gone(admission); }
  EXPECT_EQ(admission.waiting(), 0U);
  EXPECT_EQ(admission.admit(nullptr, 0).ended, KeSessionOutcome::RefusedBusy);
}

TEST(KeAdmission, OverTheRateLimitIsRefusedBeforeAnyEviction) {
  std::atomic<std::uint64_t> gauge{0};
  RateLimitSettings limit;
  limit.rate = 1;
  limit.burst = 2;
  KeAdmission admission(100, limit, gauge);
  const auto peer = addr("192.0.2.7:5000");
  std::vector<KeAdmission::Ticket> tickets;
  for (int i = 0; i < 2; ++i) {
    auto v = admission.admit(peer.get(), kSecond);
    ASSERT_TRUE(v.ticket.has_value());
    tickets.push_back(std::move(*v.ticket));
  }
  FakeWaiting waiting(admission);
  auto over = admission.admit(peer.get(), kSecond);
  EXPECT_FALSE(over.ticket.has_value());
  EXPECT_EQ(over.ended, KeSessionOutcome::RateLimited);
  EXPECT_FALSE(waiting.closed);
  // Another address, and the same one a second later, are admitted.
  EXPECT_TRUE(admission.admit(addr("198.51.100.1:1").get(), kSecond).ticket.has_value());
  EXPECT_TRUE(admission.admit(peer.get(), 2 * kSecond).ticket.has_value());
}

}  // namespace
}  // namespace ntsd::server
