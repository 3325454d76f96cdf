// Upstream agreement: Marzullo's intersection and the system-clock check.
#include <gtest/gtest.h>

#include "support/upstream_sample.h"
#include "time/intersection.h"
#include "time/upstream.h"

namespace ntsd::timesource {
namespace {

using test_support::kT0;
using test_support::later;

// ---------------------------------------------------------------- intersection

TEST(Intersection, EmptyHasNoRegion) {
  auto result = intersect({});
  EXPECT_FALSE(result.region);
  EXPECT_FALSE(result.majority());
}

TEST(Intersection, OneIntervalIsItsOwnMajority) {
  auto result = intersect({{-1, 1}});
  ASSERT_TRUE(result.region);
  EXPECT_EQ(result.depth, 1u);
  EXPECT_TRUE(result.majority());
  EXPECT_EQ(result.truechimer, std::vector<bool>{true});
}

TEST(Intersection, TheOddOneOutIsAFalseticker) {
  auto result = intersect({{-0.01, 0.01}, {-0.005, 0.02}, {3599.9, 3600.1}});
  ASSERT_TRUE(result.region);
  EXPECT_EQ(result.depth, 2u);
  EXPECT_DOUBLE_EQ(result.region->low, -0.005);
  EXPECT_DOUBLE_EQ(result.region->high, 0.01);
  EXPECT_EQ(result.truechimer, (std::vector<bool>{true, true, false}));
}

TEST(Intersection, TwoThatDisagreeHaveNoMajority) {
  auto result = intersect({{-1, 1}, {10, 12}});
  EXPECT_EQ(result.depth, 1u);
  EXPECT_FALSE(result.majority());
  EXPECT_EQ(result.truechimer, (std::vector<bool>{false, false}));
}

TEST(Intersection, TouchingIntervalsOverlap) {
  auto result = intersect({{0, 1}, {1, 2}, {5, 6}});
  EXPECT_EQ(result.depth, 2u);
  EXPECT_EQ(result.truechimer, (std::vector<bool>{true, true, false}));
}

TEST(Intersection, ReversedBoundsAreNormalised) {
  auto result = intersect({{1, -1}, {0.5, 2}});
  EXPECT_EQ(result.depth, 2u);
  EXPECT_EQ(result.truechimer, (std::vector<bool>{true, true}));
}

// ---------------------------------------------------------------- selection

UpstreamSample sample(double offset, double root_dispersion = 0.001, double delay = 0.0002,
                      double at = 0, std::uint8_t stratum = 2) {
  return test_support::upstream_sample(at, stratum, 0.0, root_dispersion, delay, offset);
}

UpstreamSettings settings() {
  UpstreamSettings s;
  s.unsync_after = 30;
  s.precision = -20;
  s.offset_margin = 0.1;
  return s;
}

TEST(UpstreamAgreement, AnHourOffIsAFalsetickerAndUnsynchronises) {
  UpstreamSelector selector(1, settings());
  selector.add_sample(0, sample(3600), {127, 0, 0, 1});
  auto selection = selector.select(kT0);
  EXPECT_EQ(selection.upstreams[0].state, UpstreamState::Falseticker);
  EXPECT_EQ(selection.upstreams[0].reason, Disagreement::SystemClock);
  EXPECT_FALSE(selection.system_peer);
  EXPECT_EQ(selector.state_for(selection).clock.leap, core::LeapIndicator::Unsynchronized);
  // Back on time: the next answer counts again.
  selector.add_sample(0, sample(0.0001, 0.001, 0.0002, 1), {127, 0, 0, 1});
  EXPECT_EQ(selector.select(later(1)).upstreams[0].state, UpstreamState::Selected);
  EXPECT_TRUE(selector.state_at(later(1)).synchronised());
}

TEST(UpstreamAgreement, MarginBoundsTheOffsetBeyondRootDistance) {
  UpstreamSelector selector(1, settings());
  // Root distance 0.0001 + 0.001 = 0.0011; allowed 0.1011.
  selector.add_sample(0, sample(0.1005), {127, 0, 0, 1});
  EXPECT_EQ(selector.select(kT0).upstreams[0].state, UpstreamState::Selected);
  selector.add_sample(0, sample(-0.1020), {127, 0, 0, 1});
  EXPECT_EQ(selector.select(kT0).upstreams[0].state, UpstreamState::Falseticker);
  // A large root dispersion widens what the upstream vouches for.
  selector.add_sample(0, sample(-0.5, 0.45), {127, 0, 0, 1});
  EXPECT_EQ(selector.select(kT0).upstreams[0].state, UpstreamState::Selected);
}

TEST(UpstreamAgreement, ServedRootDispersionIncludesTheOffset) {
  UpstreamSelector selector(1, settings());
  selector.add_sample(0, sample(-0.050, 0.002), {127, 0, 0, 1});
  auto state = selector.state_at(kT0);
  ASSERT_TRUE(state.synchronised());
  // The upstream's 2 ms + |offset| 50 ms + 2^-20 s.
  EXPECT_NEAR(from_ntp_short(state.clock.root_dispersion), 0.052 + 1.0 / (1 << 20), 2.0 / 65536);
  EXPECT_GE(from_ntp_short(state.clock.root_dispersion), 0.002);
}

TEST(UpstreamAgreement, TwoAgreeTheThirdIsOutsideTheMajority) {
  UpstreamSelector selector(3, settings());
  selector.add_sample(0, sample(0.0001), {10, 0, 0, 1});
  selector.add_sample(1, sample(-0.0002, 0.0005), {10, 0, 0, 2});
  selector.add_sample(2, sample(1800), {10, 0, 0, 3});
  auto selection = selector.select(kT0);
  EXPECT_EQ(selection.upstreams[0].state, UpstreamState::Selected);
  EXPECT_EQ(selection.upstreams[1].state, UpstreamState::Selected);
  EXPECT_EQ(selection.upstreams[2].state, UpstreamState::Falseticker);
  EXPECT_EQ(selection.upstreams[2].reason, Disagreement::OutsideMajority);
  EXPECT_EQ(selection.system_peer, std::optional<std::size_t>(1));  // the smaller distance
}

TEST(UpstreamAgreement, MajorityAgainstTheSystemClockUnsynchronises) {
  // All three agree with each other, an hour from the system clock: the system
  // clock is what is wrong, and nothing vouches for it.
  UpstreamSelector selector(3, settings());
  for (std::size_t i = 0; i < 3; ++i)
    selector.add_sample(i, sample(3600.0 + 0.0001 * static_cast<double>(i)), {10, 0, 0, 1});
  auto selection = selector.select(kT0);
  for (const auto& verdict : selection.upstreams) {
    EXPECT_EQ(verdict.state, UpstreamState::Falseticker);
    EXPECT_EQ(verdict.reason, Disagreement::SystemClock);
  }
  EXPECT_FALSE(selection.system_peer);
}

TEST(UpstreamAgreement, TwoThatDisagreeLeaveNoMajority) {
  UpstreamSelector selector(2, settings());
  selector.add_sample(0, sample(0.0), {10, 0, 0, 1});
  selector.add_sample(1, sample(0.05), {10, 0, 0, 2});  // within the margin, not the interval
  auto selection = selector.select(kT0);
  EXPECT_EQ(selection.upstreams[0].reason, Disagreement::NoMajority);
  EXPECT_EQ(selection.upstreams[1].reason, Disagreement::NoMajority);
  EXPECT_FALSE(selection.system_peer);
}

TEST(UpstreamAgreement, StatesForSilentAndUnsynchronisedUpstreams) {
  UpstreamSelector selector(3, settings());
  auto unsynced = sample(0.0);
  unsynced.leap = core::LeapIndicator::Unsynchronized;
  selector.add_sample(0, unsynced, {10, 0, 0, 1});
  selector.add_sample(1, sample(0.0), {10, 0, 0, 2});
  auto selection = selector.select(kT0);
  EXPECT_EQ(selection.upstreams[0].state, UpstreamState::Unsynchronised);
  EXPECT_EQ(selection.upstreams[1].state, UpstreamState::Selected);
  EXPECT_EQ(selection.upstreams[2].state, UpstreamState::Unreachable);  // never answered
  // The answer ages past unsync_after: unreachable.
  EXPECT_EQ(selector.select(later(31)).upstreams[1].state, UpstreamState::Unreachable);
  EXPECT_EQ(upstream_state_name(UpstreamState::Falseticker), "falseticker");
}

}  // namespace
}  // namespace ntsd::timesource
