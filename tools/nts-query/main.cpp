// nts-query: one NTS-KE session and N NTS-protected NTP exchanges against a server,
// for operators and tests. Exit 0 only when every exchange authenticated; 1 on any
// failure (one line on stderr); 2 on a usage error; 3 with --fail-on-warning when
// everything authenticated but a warning was raised. Warnings (a certificate close to
// expiry, answers that look unsynchronised) are information: without that flag they
// do not change the exit status.

#include <fmt/core.h>

#include <csignal>
#include <cstdio>
#include <variant>

#include "json_output.h"
#include "options.h"
#include "report.h"
#include "text_output.h"

int main(int argc, char** argv) {
  // OpenSSL writes to sockets with write(2); a reset peer must not kill us.
  std::signal(SIGPIPE, SIG_IGN);

  auto parsed = nts_query::parse_options(argc, argv);
  if (const int* status = std::get_if<int>(&parsed)) return *status;
  const auto& options = std::get<nts_query::Options>(parsed);

  nts_query::Report report = nts_query::run_query(options);
  if (options.json) {
    fmt::print("{}\n", nts_query::report_json(report));
  } else {
    nts_query::print_report_text(report);
  }
  std::fflush(stdout);
  if (!options.json) {
    for (const auto& warning : report.warnings)
      fmt::print(stderr, "nts-query: warning: {}\n", warning.message);
  }
  if (!report.ok()) {
    fmt::print(stderr, "nts-query: {}\n", report.error);
    return 1;
  }
  return options.fail_on_warning && !report.warnings.empty() ? 3 : 0;
}
