#include "time/clock_state.h"

#include <gtest/gtest.h>
#include <sys/timex.h>

#include "support/upstream_sample.h"
#include "time/kernel_clock.h"
#include "time/precision.h"
#include "time/refid.h"
#include "time/upstream.h"

namespace ntsd::timesource {
namespace {

using test_support::kT0;
using test_support::later;

TEST(ClockState, DispersionGrowsAtTheGivenRate) {
  ClockState state;
  state.clock.root_dispersion = to_ntp_short(0.001);
  state.measured_at = kT0;
  state.dispersion_rate = kPhi;
  EXPECT_NEAR(from_ntp_short(state.at(kT0).root_dispersion), 0.001, 1.0 / 65536);
  // 1000 s at 15 ppm: +15 ms.
  EXPECT_NEAR(from_ntp_short(state.at(later(1000)).root_dispersion), 0.016, 2.0 / 65536);
  // Never shrinks for a time before the measurement.
  EXPECT_NEAR(from_ntp_short(state.at(later(-50)).root_dispersion), 0.001, 1.0 / 65536);
}

TEST(ClockState, NtpShortRoundsUpAndSaturates) {
  EXPECT_EQ(to_ntp_short(0.0).raw, 0u);
  EXPECT_EQ(to_ntp_short(-1.0).raw, 0u);
  EXPECT_EQ(to_ntp_short(1.0).raw, 65536u);
  EXPECT_EQ(to_ntp_short(1e-9).raw, 1u);  // never rounds a positive error down to 0
  EXPECT_EQ(to_ntp_short(1e9).raw, 0xffffffffu);
}

TEST(ClockState, LocalReferenceIsTheCurrentSecond) {
  ClockState state;
  state.reference_is_now = true;
  auto clock = state.at(core::NtpTimestamp{0xE98CA71012345678ULL});
  EXPECT_EQ(clock.reference_time.raw, 0xE98CA71000000000ULL);
}

TEST(ClockState, UnsynchronisedIsLi3Stratum16) {
  auto state = unsynchronised_state(-24, false);
  EXPECT_EQ(state.clock.leap, core::LeapIndicator::Unsynchronized);
  EXPECT_EQ(state.clock.stratum, 16);
  EXPECT_EQ(state.clock.precision, -24);
  EXPECT_FALSE(state.answer);
  EXPECT_FALSE(state.synchronised());
}

// ---------------------------------------------------------------- kernel

KernelSettings kernel_settings() {
  KernelSettings s;
  s.stratum = 2;
  s.reference_id = {'G', 'P', 'S', 0};
  s.precision = -23;
  s.max_error = 1.0;
  return s;
}

TEST(KernelClock, SynchronisedMapsMaxErrorToDispersion) {
  const KernelClockReading r{.state = TIME_OK, .status = STA_PLL, .maxerror_us = 2500};
  auto state = map_kernel_clock(r, kernel_settings(), kT0);
  EXPECT_TRUE(state.synchronised());
  EXPECT_EQ(state.clock.leap, core::LeapIndicator::NoWarning);
  EXPECT_EQ(state.clock.stratum, 2);
  EXPECT_EQ(state.clock.reference_id, (core::ReferenceId{'G', 'P', 'S', 0}));
  EXPECT_EQ(state.clock.precision, -23);
  EXPECT_EQ(state.clock.root_delay.raw, 0u);
  EXPECT_NEAR(from_ntp_short(state.clock.root_dispersion), 0.0025, 1.0 / 65536);
  EXPECT_EQ(state.clock.reference_time, kT0);
  // Grows at the kernel's 500 ppm between readings.
  EXPECT_NEAR(from_ntp_short(state.at(later(2)).root_dispersion), 0.0035, 2.0 / 65536);
}

TEST(KernelClock, LeapFlagsBecomeLeapIndicator) {
  KernelClockReading r{.state = TIME_INS, .status = STA_PLL | STA_INS, .maxerror_us = 1000};
  EXPECT_EQ(map_kernel_clock(r, kernel_settings(), kT0).clock.leap,
            core::LeapIndicator::InsertSecond);
  r.status = STA_PLL | STA_DEL;
  EXPECT_EQ(map_kernel_clock(r, kernel_settings(), kT0).clock.leap,
            core::LeapIndicator::DeleteSecond);
}

TEST(KernelClock, UnsyncFlagMaxErrorOrTimeErrorMeanUnsynchronised) {
  KernelClockReading r{.state = TIME_ERROR, .status = STA_UNSYNC, .maxerror_us = 16000000};
  auto state = map_kernel_clock(r, kernel_settings(), kT0);
  EXPECT_EQ(state.clock.leap, core::LeapIndicator::Unsynchronized);
  EXPECT_EQ(state.clock.stratum, 16);
  EXPECT_NE(kernel_unsync_reason(r, kernel_settings()).find("STA_UNSYNC"), std::string::npos);

  r = {};
  r.state = TIME_OK;
  r.maxerror_us = 1500000;  // 1.5 s > 1 s limit
  EXPECT_EQ(map_kernel_clock(r, kernel_settings(), kT0).clock.stratum, 16);
  EXPECT_NE(kernel_unsync_reason(r, kernel_settings()).find("maximum error"), std::string::npos);
  r.maxerror_us = 999999;
  EXPECT_EQ(map_kernel_clock(r, kernel_settings(), kT0).clock.stratum, 2);

  r = {};
  r.state = TIME_ERROR;
  EXPECT_EQ(map_kernel_clock(r, kernel_settings(), kT0).clock.stratum, 16);
}

TEST(KernelClock, DropWhenConfigured) {
  auto settings = kernel_settings();
  settings.answer_when_unsynchronised = false;
  KernelClockReading r;
  r.status = STA_UNSYNC;
  EXPECT_FALSE(map_kernel_clock(r, settings, kT0).answer);
  r.status = 0;
  EXPECT_TRUE(map_kernel_clock(r, settings, kT0).answer);
}

TEST(KernelClock, ReadingNeverFailsOnLinux) {
  std::string error;
  auto reading = read_kernel_clock(error);
  ASSERT_TRUE(reading.has_value()) << error;
  EXPECT_GE(reading->maxerror_us, 0);
}

// ---------------------------------------------------------------- refid

TEST(RefId, Ipv4IsTheAddress) {
  auto id = reference_id_for_ip("127.0.0.1");
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, (core::ReferenceId{127, 0, 0, 1}));
}

TEST(RefId, Ipv6IsTheFirstFourBytesOfMd5) {
  // MD5 of the 16 bytes of ::1 starts cf404dc8, computed independently with
  // `printf '\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1' | md5sum`.
  auto id = reference_id_for_ip("::1");
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, (core::ReferenceId{0xcf, 0x40, 0x4d, 0xc8}));
  EXPECT_FALSE(reference_id_for_ip("not an address"));
}

// ---------------------------------------------------------------- precision

TEST(Precision, FromResolution) {
  EXPECT_EQ(precision_from_resolution(1e-6), -19);  // 2^-20 < 1 µs <= 2^-19
  EXPECT_EQ(precision_from_resolution(1.0 / 1048576), -20);
  EXPECT_EQ(precision_from_resolution(25e-9), -25);  // 2^-26 < 25 ns <= 2^-25
  EXPECT_EQ(precision_from_resolution(30e-9), -24);  // just above 2^-25 (29.8 ns)
  EXPECT_EQ(precision_from_resolution(0.0), -32);
  EXPECT_EQ(precision_from_resolution(5.0), 0);
}

TEST(Precision, MeasuredValueIsPlausible) {
  auto m = measure_clock_precision(1000);
  EXPECT_GT(m.resolution, 0.0);
  EXPECT_LT(m.resolution, 0.01);
  EXPECT_LE(m.precision, -7);
  EXPECT_GE(m.precision, -32);
}

// ---------------------------------------------------------------- upstream

UpstreamSample sample(double at, std::uint8_t stratum, double root_delay, double root_disp,
                      double delay, core::LeapIndicator leap = core::LeapIndicator::NoWarning) {
  return test_support::upstream_sample(at, stratum, root_delay, root_disp, delay, 0.0, leap);
}

UpstreamSettings upstream_settings() {
  UpstreamSettings s;
  s.unsync_after = 30;
  s.precision = -22;
  return s;
}

TEST(Upstream, ServesStratumPlusOneAndAddsDelay) {
  UpstreamSelector selector(1, upstream_settings());
  EXPECT_FALSE(selector.state_at(kT0).synchronised());  // nothing heard yet
  selector.add_sample(0, sample(0, 3, 0.010, 0.002, 0.0004), {127, 0, 0, 1});
  auto state = selector.state_at(kT0);
  EXPECT_TRUE(state.synchronised());
  EXPECT_EQ(state.clock.stratum, 4);
  EXPECT_EQ(state.clock.reference_id, (core::ReferenceId{127, 0, 0, 1}));
  EXPECT_EQ(state.clock.precision, -22);
  EXPECT_NEAR(from_ntp_short(state.clock.root_delay), 0.0104, 1.0 / 65536);
  EXPECT_NEAR(from_ntp_short(state.clock.root_dispersion), 0.002, 1.0 / 65536);
  EXPECT_EQ(state.clock.reference_time, kT0);
  // 20 s later: +300 µs of dispersion (15 ppm).
  auto at20 = selector.state_at(later(20));
  EXPECT_NEAR(from_ntp_short(at20.at(later(20)).root_dispersion), 0.0023, 2.0 / 65536);
}

TEST(Upstream, UnsynchronisedAfterConfiguredSilenceAndRecovers) {
  UpstreamSelector selector(1, upstream_settings());
  selector.add_sample(0, sample(0, 3, 0, 0, 0.001), {127, 0, 0, 1});
  EXPECT_TRUE(selector.state_at(later(30)).synchronised());
  auto lost = selector.state_at(later(30.5));
  EXPECT_FALSE(lost.synchronised());
  EXPECT_EQ(lost.clock.leap, core::LeapIndicator::Unsynchronized);
  EXPECT_EQ(lost.clock.stratum, 16);
  selector.add_sample(0, sample(40, 3, 0, 0, 0.001), {127, 0, 0, 1});
  EXPECT_TRUE(selector.state_at(later(41)).synchronised());
}

TEST(Upstream, UnsynchronisedUpstreamIsNotGood) {
  UpstreamSelector selector(1, upstream_settings());
  selector.add_sample(0, sample(0, 3, 0, 0, 0.001, core::LeapIndicator::Unsynchronized),
                      {1, 2, 3, 4});
  EXPECT_FALSE(selector.state_at(kT0).synchronised());
  selector.add_sample(0, sample(0, 15, 0, 0, 0.001), {1, 2, 3, 4});  // we would be 16
  EXPECT_FALSE(selector.state_at(kT0).synchronised());
  selector.add_sample(0, sample(0, 0, 0, 0, 0.001), {1, 2, 3, 4});  // kiss
  EXPECT_FALSE(selector.state_at(kT0).synchronised());
  selector.add_sample(0, sample(0, 14, 0, 0, 0.001), {1, 2, 3, 4});
  EXPECT_EQ(selector.state_at(kT0).clock.stratum, 15);
}

TEST(Upstream, LeapIndicatorComesFromTheUpstream) {
  UpstreamSelector selector(1, upstream_settings());
  selector.add_sample(0, sample(0, 2, 0, 0, 0.001, core::LeapIndicator::InsertSecond),
                      {1, 2, 3, 4});
  EXPECT_EQ(selector.state_at(kT0).clock.leap, core::LeapIndicator::InsertSecond);
}

TEST(Upstream, SelectsTheSmallestRootDistanceAndFailsOver) {
  UpstreamSelector selector(2, upstream_settings());
  selector.add_sample(0, sample(0, 2, 0.050, 0.010, 0.001), {10, 0, 0, 1});  // distance ~0.0355
  selector.add_sample(1, sample(0, 3, 0.002, 0.001, 0.001), {10, 0, 0, 2});  // ~0.0025
  EXPECT_EQ(selector.selected(kT0), std::optional<std::size_t>(1));
  EXPECT_EQ(selector.state_at(kT0).clock.reference_id, (core::ReferenceId{10, 0, 0, 2}));
  // Upstream 1 falls silent; upstream 0 keeps answering.
  selector.add_sample(0, sample(25, 2, 0.050, 0.010, 0.001), {10, 0, 0, 1});
  EXPECT_EQ(selector.selected(later(35)), std::optional<std::size_t>(0));
  EXPECT_EQ(selector.state_at(later(35)).clock.stratum, 3);
}

TEST(Upstream, DropWhenConfigured) {
  auto settings = upstream_settings();
  settings.answer_when_unsynchronised = false;
  UpstreamSelector selector(1, settings);
  EXPECT_FALSE(selector.state_at(kT0).answer);
}

}  // namespace
}  // namespace ntsd::timesource
