// nts-query: one NTS-KE session and N NTS-protected NTP exchanges against a server,
// for operators and tests. Exit 0 only when every exchange authenticated; 1 on any
// failure (one line on stderr); 2 on a usage error; 3 with --fail-on-warning when
// everything authenticated but a warning was raised. Warnings (a certificate close to
// expiry, answers that look unsynchronised) are information: without that flag they
// do not change the exit status.

#include <fmt/core.h>

#include <cstdio>
#include <variant>

#include "common/guarded_main.h"
#include "json_output.h"
#include "options.h"
#include "report.h"
#include "text_output.h"

namespace {

int run(int argc, char** argv) {
  auto parsed = nts_query::parse_options(argc, argv);
  if (const int* status = std::get_if<int>(&parsed)) return *status;
  const auto& options = std::get<nts_query::Options>(parsed);

  nts_query::Report report = nts_query::run_query(options);
  if (options.json) {
    fmt::print("{}\n", nts_query::report_json(report));
  } else {
    nts_query::print_report_text(report);
  }
  if (std::fflush(stdout) != 0) {
    fmt::print(stderr, "nts-query: cannot write the report to standard output\n");
    return 1;
  }
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

}  // namespace

int main(int argc, char** argv) {
  return ntsd::common::guarded_main("nts-query", [&] { return run(argc, argv); });
}
