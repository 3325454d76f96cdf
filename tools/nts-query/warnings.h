// Warnings nts-query raises on an answer it accepted: a certificate close to expiry,
// answers that look unsynchronised, a large clock offset.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "client/ke_client.h"
#include "client/ntp_client.h"

namespace nts_query {

// Warning thresholds; --help and docs/operations.md state them.
constexpr std::int64_t kCertificateWarningDays = 14;
constexpr double kMaxRootDispersion = 1.0;    // seconds
constexpr double kMaxReferenceAge = 86400.0;  // seconds before the transmit timestamp
constexpr double kMaxOffset = 1.0;            // seconds, against the local clock
constexpr std::uint8_t kUnsynchronisedStratum = 16;

struct Warning {
  std::string kind;  // "certificate_expiry", "unsynchronised", "clock_offset"
  std::string message;
};

std::vector<Warning> certificate_warnings(const ntsd::client::KeResult& ke);

// Only authenticated answers count; a kiss-o'-death (stratum 0 with a code) already
// failed its exchange.
std::vector<Warning> answer_warnings(const std::vector<ntsd::client::NtpExchangeResult>& exchanges);

}  // namespace nts_query
