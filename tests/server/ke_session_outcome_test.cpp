// The NTS-KE session outcomes' names and the summary text built from them.
#include "server/ke_session_outcome.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace ntsd::server {
namespace {

TEST(KeSessionOutcome, EveryOutcomeHasItsOwnName) {
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < kKeSessionOutcomeCount; ++i) {
    const auto name = ke_session_outcome_name(static_cast<KeSessionOutcome>(i));
    EXPECT_FALSE(name.empty());
    EXPECT_NE(name, "unknown");
    EXPECT_TRUE(names.insert(name).second) << name;
  }
  // The metric label values operators already use.
  EXPECT_EQ(ke_session_outcome_name(KeSessionOutcome::BadRequest), "bad_request");
  EXPECT_EQ(ke_session_outcome_name(KeSessionOutcome::RateLimited), "rate_limited");
  EXPECT_EQ(ke_session_outcome_name(KeSessionOutcome::InternalError), "internal_error");
}

TEST(KeSessionCounts, DescribeNamesAcceptedOkAndWhatHappened) {
  KeSessionCounts counts;
  EXPECT_EQ(describe(counts), "0 accepted, 0 ok");
  counts.accepted = 12;
  counts[KeSessionOutcome::Ok] = 9;
  counts[KeSessionOutcome::InternalError] = 1;
  counts[KeSessionOutcome::RateLimited] = 2;
  EXPECT_EQ(describe(counts), "12 accepted, 9 ok, 1 internal_error, 2 rate_limited");
}

TEST(KeSessionCounts, DifferenceOfTwoSnapshots) {
  KeServerCounters live;
  live.accepted = 3;
  live.count(KeSessionOutcome::Ok);
  live.count(KeSessionOutcome::Timeout);
  const KeSessionCounts before = live.sessions();
  live.accepted += 2;
  live.count(KeSessionOutcome::Ok);
  live.count(KeSessionOutcome::Evicted);
  const KeSessionCounts delta = live.sessions() - before;
  EXPECT_EQ(delta.accepted, 2U);
  EXPECT_EQ(delta[KeSessionOutcome::Ok], 1U);
  EXPECT_EQ(delta[KeSessionOutcome::Evicted], 1U);
  EXPECT_EQ(delta[KeSessionOutcome::Timeout], 0U);
  EXPECT_EQ(describe(delta), "2 accepted, 1 ok, 1 evicted");
}

}  // namespace
}  // namespace ntsd::server
