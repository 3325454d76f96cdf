// Census of the NTP requests read (docs/metrics.md): cookie placeholders of
// answered NTS requests, request length, NTP version, address family. Fixed
// arrays of single-writer counters, one census per NtpExchange (so per worker
// thread), summed at scrape: a few relaxed loads and stores per packet, no
// allocation, no lock.
#pragma once

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/bytes.h"
#include "core/ntp_outcome.h"

namespace ntsd::server {

// Placeholders 0..6, and 7 or more ("7+": a response carries at most 8 cookies,
// so the server sees no difference beyond).
inline constexpr std::size_t kPlaceholderBuckets = 8;
std::string_view placeholder_bucket_name(std::size_t bucket);

// Request length in bytes: "0-47", "48", "49-127", "128-255", "256-511", "512-1023", "1024+".
inline constexpr std::size_t kLengthBuckets = 7;
std::size_t length_bucket(std::size_t length);
std::string_view length_bucket_name(std::size_t bucket);

// The header's version field: "1" to "4", and "other" (0, 5, 6, 7).
inline constexpr std::size_t kVersionBuckets = 5;
std::size_t version_bucket(core::ByteView request);
std::string_view version_bucket_name(std::size_t bucket);

// "ipv4" (including IPv4-mapped IPv6 addresses) and "ipv6".
inline constexpr std::size_t kFamilyBuckets = 2;
std::size_t family_bucket(const sockaddr* peer);
std::string_view family_bucket_name(std::size_t bucket);

// Indexed [kind] for the two kinds that are read (plain, nts); see kind_index().
inline constexpr std::size_t kReadKinds = 2;
inline constexpr std::array<core::RequestKind, kReadKinds> kReadKindList = {
    core::RequestKind::Plain, core::RequestKind::Nts};

struct NtpCensusCounts {
  std::array<std::uint64_t, kPlaceholderBuckets> placeholders{};  // answered NTS requests
  std::array<std::array<std::uint64_t, kLengthBuckets>, kReadKinds> length{};
  std::array<std::array<std::uint64_t, kVersionBuckets>, kReadKinds> version{};
  std::array<std::array<std::uint64_t, kFamilyBuckets>, kReadKinds> family{};

  NtpCensusCounts& operator+=(const NtpCensusCounts& other);
};

class NtpCensus {
 public:
  // One request that was read (outcome.kind Plain or Nts; others are ignored).
  // `cookies` is the number of cookies an answered NTS response carries.
  void count(core::ByteView request, const sockaddr* peer, core::NtpOutcome outcome,
             std::size_t cookies);
  // Safe from any thread.
  void add_to(NtpCensusCounts& total) const;

 private:
  std::array<std::atomic<std::uint64_t>, kPlaceholderBuckets> placeholders_{};
  std::array<std::array<std::atomic<std::uint64_t>, kLengthBuckets>, kReadKinds> length_{};
  std::array<std::array<std::atomic<std::uint64_t>, kVersionBuckets>, kReadKinds> version_{};
  std::array<std::array<std::atomic<std::uint64_t>, kFamilyBuckets>, kReadKinds> family_{};
};

}  // namespace ntsd::server
