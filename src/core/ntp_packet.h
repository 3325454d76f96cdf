// The NTPv4 header (RFC 5905 §7.3) and its 32.32 / 16.16 fixed-point types.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>

#include "core/bytes.h"

namespace ntsd::core {

inline constexpr std::size_t kNtpHeaderLength = 48;

enum class LeapIndicator : std::uint8_t {
  NoWarning = 0,
  InsertSecond = 1,
  DeleteSecond = 2,
  Unsynchronized = 3,
};

enum class NtpMode : std::uint8_t {
  Reserved = 0,
  SymmetricActive = 1,
  SymmetricPassive = 2,
  Client = 3,
  Server = 4,
  Broadcast = 5,
  Control = 6,
  Private = 7,
};

// Seconds since 1900 in the high 32 bits, fraction in the low 32 (era-relative).
struct NtpTimestamp {
  std::uint64_t raw = 0;
  auto operator<=>(const NtpTimestamp&) const = default;
};

// b - a in NTP units (2^-32 s). Era-relative: right across an era boundary for
// timestamps less than 68 years apart, where comparing `raw` is not.
constexpr std::int64_t units_between(NtpTimestamp a, NtpTimestamp b) {
  return static_cast<std::int64_t>(b.raw - a.raw);
}

// The same in nanoseconds.
constexpr std::int64_t nanoseconds_between(NtpTimestamp a, NtpTimestamp b) {
  return static_cast<std::int64_t>(static_cast<double>(units_between(a, b)) * 1e9 / 4294967296.0);
}

// Seconds between 1900-01-01 (NTP era 0) and 1970-01-01 (Unix epoch).
inline constexpr std::uint64_t kNtpUnixOffset = 2208988800ULL;

// A CLOCK_REALTIME reading (or a kernel timestamp) as an NTP timestamp: the
// seconds wrap modulo 2^32 as RFC 5905 specifies. Converts; reads no clock.
NtpTimestamp to_ntp(const timespec& unix_time);

// 16.16 fixed-point seconds, used for root delay and root dispersion.
struct NtpShort {
  std::uint32_t raw = 0;
  auto operator<=>(const NtpShort&) const = default;
};

using ReferenceId = std::array<std::uint8_t, 4>;

struct NtpHeader {
  LeapIndicator leap = LeapIndicator::NoWarning;
  std::uint8_t version = 4;
  NtpMode mode = NtpMode::Client;
  std::uint8_t stratum = 0;
  std::int8_t poll = 0;
  std::int8_t precision = 0;
  NtpShort root_delay;
  NtpShort root_dispersion;
  ReferenceId reference_id{};
  NtpTimestamp reference_time;
  NtpTimestamp origin_time;
  NtpTimestamp receive_time;
  NtpTimestamp transmit_time;

  // nullopt when packet is shorter than the header; the rest is not looked at.
  static std::optional<NtpHeader> parse(ByteView packet);
  // Writes exactly kNtpHeaderLength bytes.
  void write(std::uint8_t* out) const;

  bool operator==(const NtpHeader&) const = default;
};

inline constexpr ReferenceId kRefIdNtsNak{'N', 'T', 'S', 'N'};
// Kiss code RATE (RFC 5905 §7.4): the client must reduce its polling rate.
inline constexpr ReferenceId kRefIdRateKiss{'R', 'A', 'T', 'E'};
inline constexpr ReferenceId kRefIdRateKod{'R', 'A', 'T', 'E'};

}  // namespace ntsd::core
