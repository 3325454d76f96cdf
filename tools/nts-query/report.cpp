#include "report.h"

#include <fmt/core.h>

#include <exception>
#include <thread>
#include <utility>

namespace nts_query {

namespace {

std::vector<ntsd::client::NtpExchangeResult> run_exchanges(const Options& options,
                                                           const ntsd::client::KeSession& session,
                                                           std::string& error) {
  std::vector<ntsd::client::NtpExchangeResult> exchanges;
  try {
    ntsd::client::NtsNtpClient ntp(session.ntp_server, session.ntp_port, *session.keys,
                                   session.cookies, options.ntp);
    for (int i = 0; i < options.count; ++i) {
      if (i > 0 && options.interval > 0) std::this_thread::sleep_for(to_ms(options.interval));
      exchanges.push_back(ntp.exchange());
    }
  } catch (const std::exception& e) {
    error = e.what();
  }
  return exchanges;
}

// The first failed exchange's error unless something failed before, with a count
// when more than one exchange ran.
void add_exchange_failures(const std::vector<ntsd::client::NtpExchangeResult>& exchanges, int count,
                           std::string& error) {
  std::size_t failed = 0;
  for (const auto& exchange : exchanges) {
    if (exchange.ok) continue;
    if (failed++ == 0 && error.empty()) error = exchange.error;
  }
  if (failed > 0 && count > 1) {
    error += fmt::format(" ({} of {} exchanges failed)", failed, count);
  }
}

}  // namespace

Report run_query(const Options& options) {
  Report report;
  report.ke = ntsd::client::run_ke(options.ke);
  if (!report.ke.ok) {
    report.error = report.ke.error;
  } else {
    report.exchanges = run_exchanges(options, report.ke.session, report.error);
    report.ke.session.keys.reset();
    add_exchange_failures(report.exchanges, options.count, report.error);
  }
  report.warnings = certificate_warnings(report.ke);
  for (auto& warning : answer_warnings(report.exchanges)) {
    report.warnings.push_back(std::move(warning));
  }
  return report;
}

}  // namespace nts_query
