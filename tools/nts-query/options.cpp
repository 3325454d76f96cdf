#include "options.h"

#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>

#include "common/host_port.h"
#include "common/version.h"
#include "warnings.h"

namespace nts_query {

namespace {

std::optional<std::vector<ntsd::core::AeadAlgorithm>> parse_aead_list(const std::string& text) {
  std::vector<ntsd::core::AeadAlgorithm> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    auto item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    unsigned id = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), id);
    if (item.empty() || ec != std::errc{} || end != item.data() + item.size() || id > 0xffff) {
      return std::nullopt;
    }
    auto aead = ntsd::core::aead_from_id(static_cast<std::uint16_t>(id));
    if (!aead) return std::nullopt;
    out.push_back(*aead);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (out.empty()) return std::nullopt;
  return out;
}

int usage_error(const std::string& message) {
  fmt::print(stderr, "nts-query: {}\nRun with --help for more information.\n", message);
  return 2;
}

}  // namespace

std::chrono::milliseconds to_ms(double seconds) {
  return std::max(std::chrono::milliseconds(1),
                  std::chrono::milliseconds(std::llround(seconds * 1000.0)));
}

std::variant<Options, int> parse_options(int argc, char** argv) {
  CLI::App app{"Query an NTS (RFC 8915) server: NTS-KE, then NTS-protected NTP exchanges.",
               "nts-query"};
  app.set_version_flag("--version", std::string("nts-query ") + ntsd::kVersion);
  Options options;
  std::string target;
  std::optional<std::string> ca_file;
  std::optional<double> timeout;
  std::string aead_list = "30,15,17";
  app.add_option("server", target, "HOST[:KEPORT], [IPv6]:KEPORT or IPv6 (NTS-KE port 4460)")
      ->required();
  app.add_option("--ca", ca_file, "trust only the CA certificates in this PEM file");
  app.add_option("--count", options.count, "number of NTP exchanges (default 1)")
      ->check(CLI::Range(1, 100000));
  app.add_flag("--json", options.json, "print one JSON object on stdout");
  app.add_option("--timeout", timeout,
                 "seconds to wait at each step (default 5 for NTS-KE, 2 per NTP exchange)")
      ->check(CLI::Range(0.001, 3600.0));
  app.add_option("--interval", options.interval, "seconds between exchanges (default 1)")
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option(
      "--aead", aead_list,
      "AEAD algorithm ids to offer, preferred first (30,15,17); record 1024 goes with 30");
  app.add_flag("--fail-on-warning", options.fail_on_warning,
               "exit with status 3 when everything authenticated but a warning was raised");
  app.footer(fmt::format(
      "Warnings (stderr; \"warnings\" in --json) do not change the exit status unless\n"
      "--fail-on-warning is given. They are raised when:\n"
      "  a certificate the server presented expires within {} days;\n"
      "  an answer looks unsynchronised: leap indicator 3, stratum 0 or 16 and above,\n"
      "  root dispersion above {} s, or a reference timestamp that is zero or more than\n"
      "  {} s older than the transmit timestamp;\n"
      "  the clock offset against this host's clock exceeds {} s.",
      kCertificateWarningDays, kMaxRootDispersion, kMaxReferenceAge, kMaxOffset));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usage_error(e.what());
  }

  auto host_port = ntsd::parse_host_port(target);
  if (!host_port) return usage_error("invalid server '" + target + "': expected HOST[:PORT]");
  auto aeads = parse_aead_list(aead_list);
  if (!aeads) {
    return usage_error("invalid --aead '" + aead_list + "': expected ids among 30, 15, 16, 17");
  }

  options.ke.host = host_port->host;
  options.ke.port = host_port->port.value_or(ntsd::client::kDefaultKePort);
  options.ke.ca_file = ca_file;
  options.ke.aeads = *aeads;
  if (timeout) options.ke.timeout = to_ms(*timeout);
  if (timeout) options.ntp.timeout = to_ms(*timeout);
  return options;
}

}  // namespace nts_query
