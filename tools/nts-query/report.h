// What one nts-query run found: the NTS-KE session, the NTP exchanges, the first
// error and the warnings, as the outputs print them.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "client/ke_client.h"
#include "client/ntp_client.h"
#include "options.h"
#include "warnings.h"

namespace nts_query {

struct Report {
  ntsd::client::KeResult ke;
  std::vector<ntsd::client::NtpExchangeResult> exchanges;
  std::string error;  // empty when every exchange authenticated
  std::vector<Warning> warnings;

  [[nodiscard]] bool ok() const { return error.empty(); }
  [[nodiscard]] std::optional<std::chrono::microseconds> first_ntp() const {
    if (exchanges.empty()) return std::nullopt;
    return exchanges.front().round_trip;
  }
};

// NTS-KE, then options.count NTP exchanges; never throws for network failures.
Report run_query(const Options& options);

inline double ms(std::chrono::microseconds d) { return static_cast<double>(d.count()) / 1000.0; }

}  // namespace nts_query
