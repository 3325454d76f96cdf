#include "time/leap_file.h"

#include <gtest/gtest.h>

#include <fstream>

namespace ntsd::timesource {
namespace {

// The shape of IERS's leap-seconds.list, cut short: 2016-12-31 23:59:60 is the
// last leap second (offset 37 from 3692217600 = 2017-01-01).
constexpr const char* kList = R"(#	ATOMIC TIME
#$	3960835200
#@	3991593600
#
3439756800	34	# 1 Jan 2009
3550089600	35	# 1 Jul 2012
3644697600	36	# 1 Jul 2015
3692217600	37	# 1 Jan 2017
#h	49db2447 571e5e1b 2f002a53 9c8da8e4 39b8e49e
)";

constexpr std::uint64_t kLeap2017 = 3692217600ULL;

TEST(LeapFile, ParsesEntriesUpdateAndExpiry) {
  auto table = parse_leap_seconds_list(kList);
  ASSERT_EQ(table.entries.size(), 4u);
  EXPECT_EQ(table.entries.front().ntp_seconds, 3439756800ULL);
  EXPECT_EQ(table.entries.front().tai_offset, 34);
  EXPECT_EQ(table.entries.back().tai_offset, 37);
  EXPECT_EQ(table.updated, 3960835200ULL);
  EXPECT_EQ(table.expires, 3991593600ULL);
  EXPECT_EQ(format_ntp_date(table.expires), "2026-06-28");
}

TEST(LeapFile, InsertIndicatedOnlyDuringTheLastDay) {
  auto table = parse_leap_seconds_list(kList);
  // Table expiry is in the future of 2016; shift it for this check.
  EXPECT_EQ(table.indicator_at(kLeap2017 - 86400 - 1), core::LeapIndicator::NoWarning);
  EXPECT_EQ(table.indicator_at(kLeap2017 - 86400), core::LeapIndicator::InsertSecond);
  EXPECT_EQ(table.indicator_at(kLeap2017 - 1), core::LeapIndicator::InsertSecond);
  EXPECT_EQ(table.indicator_at(kLeap2017), core::LeapIndicator::NoWarning);
  EXPECT_EQ(table.indicator_at(kLeap2017 + 10), core::LeapIndicator::NoWarning);
}

TEST(LeapFile, DeleteIndicatedWhenTheOffsetFalls) {
  auto table = parse_leap_seconds_list("#@ 4000000000\n3000000000 37\n3100000000 36\n");
  EXPECT_EQ(table.indicator_at(3100000000ULL - 100), core::LeapIndicator::DeleteSecond);
  EXPECT_EQ(table.indicator_at(3100000000ULL - 90000), core::LeapIndicator::NoWarning);
}

TEST(LeapFile, ExpiredFileAnnouncesNothing) {
  // Expires 10000 s before the leap second it lists.
  auto table = parse_leap_seconds_list("#@ 3692207600\n3644697600 36\n3692217600 37\n");
  EXPECT_TRUE(table.expired(3692207600ULL));
  EXPECT_FALSE(table.expired(3692207599ULL));
  // One hour before the leap second, but past the file's expiry: no warning.
  EXPECT_EQ(table.indicator_at(kLeap2017 - 3600), core::LeapIndicator::NoWarning);
  // Before the expiry, within the last day, the same file still announces it.
  EXPECT_EQ(table.indicator_at(3692207599ULL), core::LeapIndicator::InsertSecond);
}

TEST(LeapFile, RejectsBrokenFiles) {
  EXPECT_THROW(parse_leap_seconds_list("3644697600 36\n"), LeapFileError);  // no expiry
  EXPECT_THROW(parse_leap_seconds_list("#@ 4000000000\n"), LeapFileError);  // no entries
  EXPECT_THROW(parse_leap_seconds_list("#@ 4000000000\n3644697600\n"), LeapFileError);  // no offset
  EXPECT_THROW(parse_leap_seconds_list("#@ 4000000000\n3692217600 37\n3644697600 38\n"),
               LeapFileError);  // not ascending
  EXPECT_THROW(parse_leap_seconds_list("#@ 4000000000\n3644697600 36\n3692217600 39\n"),
               LeapFileError);  // jumps by 3 s
  EXPECT_THROW(parse_leap_seconds_list("#@ soon\n3644697600 36\n"), LeapFileError);
  try {
    parse_leap_seconds_list("#@ 4000000000\n3644697600 36\nbogus\n");
    FAIL() << "no exception";
  } catch (const LeapFileError& e) {
    EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
  }
}

TEST(LeapFile, DebianTzdataFileParses) {
  const char* path = "/usr/share/zoneinfo/leap-seconds.list";
  std::ifstream probe(path);
  ASSERT_TRUE(probe.good()) << path << " missing: install tzdata";
  auto table = load_leap_file(path);
  EXPECT_GE(table.entries.size(), 28u);
  EXPECT_EQ(table.entries.back().tai_offset, 37);
  EXPECT_GT(table.expires, table.updated);
}

TEST(LeapFile, MissingFileIsAnError) {
  EXPECT_THROW(load_leap_file("/nonexistent/leap-seconds.list"), LeapFileError);
}

}  // namespace
}  // namespace ntsd::timesource
