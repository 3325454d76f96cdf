// leap-seconds.list (the IERS/NIST file Debian ships as
// /usr/share/zoneinfo/leap-seconds.list): parsing, and the leap indicator it
// implies at a given time. Sans-I/O apart from load_leap_file().
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/ntp_packet.h"

namespace ntsd::timesource {

// A bad file: what() names the line.
class LeapFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct LeapEntry {
  std::uint64_t ntp_seconds = 0;  // the instant (seconds since 1900, UTC) the offset starts
  int tai_offset = 0;             // TAI - UTC from then on
};

struct LeapTable {
  std::vector<LeapEntry> entries;  // ascending
  std::uint64_t updated = 0;       // "#$" line, NTP seconds
  std::uint64_t expires = 0;       // "#@" line, NTP seconds

  [[nodiscard]] bool expired(std::uint64_t ntp_seconds) const { return ntp_seconds >= expires; }
  // LI 1 (insert) or 2 (delete) during the 86400 seconds before a leap second,
  // else 0. Past the expiry, the file knows nothing: 0 (the caller logs it).
  [[nodiscard]] core::LeapIndicator indicator_at(std::uint64_t ntp_seconds) const;
  // The next change of offset after ntp_seconds, if the file lists one.
  [[nodiscard]] std::optional<LeapEntry> next_after(std::uint64_t ntp_seconds) const;
};

// Parses the text of a leap-seconds.list; throws LeapFileError. Requires the
// expiry line ("#@") and at least one entry; entries must ascend and change the
// offset by exactly one second each.
LeapTable parse_leap_seconds_list(std::string_view text);

// Reads and parses a file; throws LeapFileError (naming the file) on failure.
LeapTable load_leap_file(const std::string& path);

// "2025-12-28" for an NTP seconds value (UTC).
std::string format_ntp_date(std::uint64_t ntp_seconds);

}  // namespace ntsd::timesource
