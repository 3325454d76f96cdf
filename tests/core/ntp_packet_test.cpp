#include "core/ntp_packet.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <vector>

namespace ntsd::core {
namespace {

// A header with a distinct value in every field, and its RFC 5905 §7.3 bytes.
constexpr std::array<std::uint8_t, kNtpHeaderLength> kSampleBytes = {
    0xE4,                                            // LI 3, VN 4, mode 4
    0x02,                                            // stratum
    0xFA,                                            // poll -6
    0xEC,                                            // precision -20
    0x00, 0x01, 0x80, 0x00,                          // root delay 1.5 s
    0x00, 0x00, 0x40, 0x00,                          // root dispersion 0.25 s
    'G',  'P',  'S',  0x00,                          // reference id
    0xE9, 0x8C, 0xA7, 0x10, 0x12, 0x34, 0x56, 0x78,  // reference
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,  // origin
    0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,  // receive
    0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,  // transmit
};

NtpHeader sample_header() {
  NtpHeader h;
  h.leap = LeapIndicator::Unsynchronized;
  h.version = 4;
  h.mode = NtpMode::Server;
  h.stratum = 2;
  h.poll = -6;
  h.precision = -20;
  h.root_delay.raw = 0x00018000;
  h.root_dispersion.raw = 0x00004000;
  h.reference_id = {'G', 'P', 'S', 0};
  h.reference_time.raw = 0xE98CA71012345678ULL;
  h.origin_time.raw = 0x0102030405060708ULL;
  h.receive_time.raw = 0x1112131415161718ULL;
  h.transmit_time.raw = 0xF1F2F3F4F5F6F7F8ULL;
  return h;
}

TEST(NtpTimestamp, UnixTimeConvertsToEraZeroSecondsAndFraction) {
  EXPECT_EQ(to_ntp(timespec{0, 0}).raw, kNtpUnixOffset << 32);
  // Half a second is half of 2^32; one nanosecond rounds down to 4 units.
  EXPECT_EQ(to_ntp(timespec{0, 500'000'000}).raw, (kNtpUnixOffset << 32) | 0x80000000ULL);
  EXPECT_EQ(to_ntp(timespec{0, 1}).raw & 0xffffffffULL, 4U);
  EXPECT_EQ(to_ntp(timespec{0, 999'999'999}).raw & 0xffffffffULL, 0xfffffffbULL);
}

TEST(NtpTimestamp, SecondsWrapIntoEraOne) {
  // 2036-02-07T06:28:16Z is second 0 of NTP era 1.
  const auto era_one = static_cast<time_t>((std::uint64_t{1} << 32) - kNtpUnixOffset);
  EXPECT_EQ(to_ntp(timespec{era_one, 0}).raw, 0U);
  EXPECT_EQ(to_ntp(timespec{era_one - 1, 0}).raw, 0xffffffffULL << 32);
}

TEST(NtpTimestamp, DifferencesAreEraRelative) {
  // One second before the end of era 0 and one second into era 1.
  const NtpTimestamp before{0xFFFFFFFF00000000ULL};
  const NtpTimestamp after{0x0000000100000000ULL};
  EXPECT_EQ(units_between(before, after), std::int64_t{2} << 32);
  EXPECT_EQ(units_between(after, before), -(std::int64_t{2} << 32));
  EXPECT_EQ(nanoseconds_between(before, after), 2'000'000'000);
  EXPECT_EQ(nanoseconds_between(NtpTimestamp{0}, NtpTimestamp{1ULL << 31}), 500'000'000);
}

TEST(NtpHeader, ParsesEveryFieldAtItsRfc5905Offset) {
  auto parsed = NtpHeader::parse(kSampleBytes);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, sample_header());
}

TEST(NtpHeader, WritesTheRfc5905Layout) {
  std::array<std::uint8_t, kNtpHeaderLength> out{};
  sample_header().write(out.data());
  EXPECT_EQ(out, kSampleBytes);
}

TEST(NtpHeader, WritesExactly48Bytes) {
  std::array<std::uint8_t, kNtpHeaderLength + 4> out{};
  out.fill(0xAA);
  sample_header().write(out.data());
  for (std::size_t i = kNtpHeaderLength; i < out.size(); ++i) EXPECT_EQ(out[i], 0xAA) << i;
}

TEST(NtpHeader, ShorterThanAHeaderIsRejected) {
  EXPECT_FALSE(NtpHeader::parse(ByteView()).has_value());
  EXPECT_FALSE(NtpHeader::parse(ByteView(kSampleBytes).first(kNtpHeaderLength - 1)).has_value());
}

TEST(NtpHeader, BytesAfterTheHeaderAreNotLookedAt) {
  std::vector<std::uint8_t> longer(kSampleBytes.begin(), kSampleBytes.end());
  longer.resize(200, 0x5A);
  auto parsed = NtpHeader::parse(longer);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, sample_header());
}

TEST(NtpHeader, FirstByteRoundTripsForEveryLeapVersionAndMode) {
  for (unsigned byte = 0; byte < 256; ++byte) {
    std::array<std::uint8_t, kNtpHeaderLength> in{};
    in[0] = static_cast<std::uint8_t>(byte);
    auto parsed = NtpHeader::parse(in);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(static_cast<unsigned>(parsed->leap), byte >> 6);
    EXPECT_EQ(parsed->version, (byte >> 3) & 7U);
    EXPECT_EQ(static_cast<unsigned>(parsed->mode), byte & 7U);
    std::array<std::uint8_t, kNtpHeaderLength> out{};
    parsed->write(out.data());
    EXPECT_EQ(out, in) << byte;
  }
}

TEST(NtpHeader, SignedPollAndPrecisionRoundTrip) {
  for (int v = -128; v <= 127; ++v) {
    NtpHeader h;
    h.poll = static_cast<std::int8_t>(v);
    h.precision = static_cast<std::int8_t>(-v - 1);
    std::array<std::uint8_t, kNtpHeaderLength> out{};
    h.write(out.data());
    auto parsed = NtpHeader::parse(out);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed->poll, h.poll);
    EXPECT_EQ(parsed->precision, h.precision);
  }
}

TEST(NtpHeader, WriteMasksOutOfRangeVersion) {
  NtpHeader h;
  h.version = 0x0F;  // only three bits exist on the wire
  h.mode = NtpMode::Client;
  std::array<std::uint8_t, kNtpHeaderLength> out{};
  h.write(out.data());
  EXPECT_EQ(out[0], 0x3B);  // LI 0, VN 7, mode 3: no spill into LI
}

}  // namespace
}  // namespace ntsd::core
