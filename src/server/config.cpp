// Every setting is one row of kSettings: its TOML table and key, its flag, its
// parser and range, and the Config member it sets. The file and the command
// line are both read through that table, so a range is written once.
#include "server/config.h"

#include <fmt/format.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <set>
#include <type_traits>
#include <variant>

#include "common/version.h"
#include "keys/ratchet.h"
#include "server/config_values.h"
#include "server/toml_table_reader.h"

namespace ntsd::server {

namespace {

// ---- Whole numbers --------------------------------------------------------

// A whole number setting's bounds, and how a value outside them is reported:
// {0} is the value, {1}-{2} the bounds.
struct Range {
  std::int64_t low;
  std::int64_t high;
  const char* message;
};

constexpr const char* kOutOfRange = "{0} is out of range ({1}-{2})";

std::int64_t check_range(const std::string& setting, std::int64_t value, const Range& range) {
  if (value < range.low || value > range.high) {
    throw ConfigError(setting,
                      fmt::format(fmt::runtime(range.message), value, range.low, range.high));
  }
  return value;
}

// ---- Setting kinds and their targets --------------------------------------

using IntegerTarget = void (*)(Config&, std::int64_t);
using TextTarget = void (*)(Config&, const std::string& setting, const std::string& text);
using ListTarget = void (*)(Config&, const std::string& setting, const std::vector<std::string>&);
using SwitchTarget = void (*)(Config&, bool);

struct Integer {  // TOML integer; flag text read as a whole number
  Range range;
  IntegerTarget target;
};
struct Text {  // TOML string; flag text
  TextTarget target;
};
struct List {  // TOML array of strings; repeated flag
  ListTarget target;
};
struct Switch {  // TOML true/false; flag on/off
  SwitchTarget target;
};

struct Setting {
  const char* table;  // TOML table ("nts-ke")
  const char* key;    // TOML key in it ("threads")
  const char* flag;   // "--ke-threads"; nullptr: the file only
  const char* help;
  std::variant<Integer, Text, List, Switch> kind;
};

template <typename T>
struct IsOptional : std::false_type {};
template <typename T>
struct IsOptional<std::optional<T>> : std::true_type {};

// The range check has run: the value fits the member.
template <typename T>
void assign_integer(T& target, std::int64_t value) {
  if constexpr (IsOptional<T>::value) {
    target = static_cast<typename T::value_type>(value);
  } else {
    target = static_cast<T>(value);
  }
}

template <auto Member>
void set_integer(Config& config, std::int64_t value) {
  assign_integer(config.*Member, value);
}

template <auto Member, auto Field>
void set_field(Config& config, std::int64_t value) {
  assign_integer((config.*Member).*Field, value);
}

template <auto Member, auto Parse>
void set_text(Config& config, const std::string& setting, const std::string& text) {
  config.*Member = Parse(setting, text);
}

template <auto Member, auto Parse>
void set_each(Config& config, const std::string& setting, const std::vector<std::string>& texts) {
  auto& list = config.*Member;
  list.clear();
  for (const auto& text : texts) list.push_back(Parse(setting, text));
}

template <auto Member, auto Parse>
void set_list(Config& config, const std::string& setting, const std::vector<std::string>& texts) {
  config.*Member = Parse(setting, texts);
}

template <auto Member>
void set_switch(Config& config, bool value) {
  config.*Member = value;
}

void set_xdp_interfaces(Config& config, const std::string& setting,
                        const std::vector<std::string>& names) {
  config.xdp.interfaces = parse_xdp_interfaces(setting, names);
}

void set_xdp_mode(Config& config, const std::string& setting, const std::string& text) {
  config.xdp.mode = parse_xdp_mode_setting(setting, text);
}

// nts-ke.ntp-server: the one-server form of ntp-servers.
void set_single_ntp_server(Config& config, const std::string& setting, const std::string& text) {
  config.ntp_servers = {parse_ntp_server_setting(setting, text)};
}

// ---- The table ------------------------------------------------------------

constexpr Range kDaySeconds{0, 86400, kOutOfRange};

const Setting kSettings[] = {
    {"tls", "cert", "--cert", "TLS certificate chain (PEM)",
     Text{set_text<&Config::certificate_file, any_text>}},
    {"tls", "key", "--key", "TLS private key (PEM)",
     Text{set_text<&Config::private_key_file, any_text>}},
    {"tls", "poll-seconds", "--cert-poll",
     "seconds between checks of the certificate and key files for changes (0: only on SIGHUP; "
     "default 5)",
     Integer{kDaySeconds, set_integer<&Config::cert_poll_seconds>}},
    // The flag takes no value (--allow-expired-certificate): parse_invocation adds it.
    {"tls", "allow-expired-certificate", nullptr, nullptr,
     Switch{set_switch<&Config::allow_expired_certificate>}},

    {"nts-ke", "listen", "--ke-listen",
     "NTS-KE listen address, ADDR:PORT (repeatable), or none: no NTS-KE",
     List{set_list<&Config::ke_listen, parse_listen_list>}},
    {"nts-ke", "ntp-servers", "--ntp-server",
     "NTPv4 server advertised by NTS-KE, HOST[:PORT] (repeatable)",
     List{set_each<&Config::ntp_servers, parse_ntp_server_setting>}},
    {"nts-ke", "ntp-server", nullptr, nullptr, Text{set_single_ntp_server}},
    {"nts-ke", "server-choice", "--ntp-server-choice",
     "how NTS-KE picks among several --ntp-server: hash (of the client address) or round-robin",
     Text{set_text<&Config::server_choice, parse_server_choice>}},
    {"nts-ke", "ntp-port", "--ntp-port", "NTPv4 port advertised by NTS-KE",
     Integer{{1, 65535, "{0} is not a port number ({1}-{2})"}, set_integer<&Config::ntp_port>}},
    {"nts-ke", "timeout-ms", nullptr, nullptr,
     Integer{{100, 60000, "must be {1}-{2}"}, set_integer<&Config::ke_timeout>}},
    {"nts-ke", "max-sessions", "--ke-max-sessions",
     "NTS-KE sessions open at once (default: sized to this machine)",
     Integer{{1, 1000000, kOutOfRange}, set_integer<&Config::ke_max_sessions>}},
    {"nts-ke", "rate-limit", "--ke-rate-limit",
     "new NTS-KE connections per second per client address (0: no limit)",
     Integer{{0, 1000000, kOutOfRange},
             set_field<&Config::ke_rate_limit, &RateLimitSettings::rate>}},
    {"nts-ke", "rate-burst", "--ke-rate-burst", "NTS-KE connections per address at once",
     Integer{{1, 1000000, kOutOfRange},
             set_field<&Config::ke_rate_limit, &RateLimitSettings::burst>}},
    {"nts-ke", "threads", "--ke-threads", "NTS-KE threads (default: one per CPU)",
     Integer{{1, 256, kOutOfRange}, set_integer<&Config::ke_threads>}},
    {"nts-ke", "aeads", "--aeads",
     "AEADs NTS-KE allows, e.g. 30,15,17,16 (default); the client's order picks",
     Text{set_text<&Config::aead_preference, parse_aeads_setting>}},

    {"ntp", "listen", "--ntp-listen", "NTP listen address, ADDR:PORT (repeatable), or none: no NTP",
     List{set_list<&Config::ntp_listen, parse_listen_list>}},
    {"ntp", "workers", "--ntp-workers", "NTP worker threads",
     Integer{{1, 256, "must be {1}-{2}"}, set_integer<&Config::ntp_workers>}},
    {"ntp", "rate-limit", "--ntp-rate-limit",
     "NTP requests per second per client prefix (0: no limit)",
     Integer{{0, 10000000, kOutOfRange},
             set_field<&Config::ntp_rate_limit, &RateLimitSettings::rate>}},
    {"ntp", "rate-burst", "--ntp-rate-burst", "NTP requests per prefix at once",
     Integer{{1, 10000000, kOutOfRange},
             set_field<&Config::ntp_rate_limit, &RateLimitSettings::burst>}},
    {"ntp", "rate-prefix-v4", "--ntp-rate-prefix-v4", "IPv4 prefix length for NTP rate limits",
     Integer{{1, 32, kOutOfRange},
             set_field<&Config::ntp_rate_limit, &RateLimitSettings::ipv4_prefix>}},
    {"ntp", "rate-prefix-v6", "--ntp-rate-prefix-v6", "IPv6 prefix length for NTP rate limits",
     Integer{{1, 64, kOutOfRange},
             set_field<&Config::ntp_rate_limit, &RateLimitSettings::ipv6_prefix>}},
    {"ntp", "interleaved", "--interleaved", "RFC 9769 interleaved mode: on or off",
     Switch{set_switch<&Config::interleaved>}},
    {"ntp", "tx-compensation", "--ntp-tx-compensation",
     "add the median transmit gap to basic-mode transmit timestamps: on or off",
     Switch{set_switch<&Config::ntp_tx_compensation>}},
    {"ntp", "xdp", "--xdp",
     "answer NTP on this interface through XDP and AF_XDP sockets (repeatable)",
     List{set_xdp_interfaces}},
    {"ntp", "xdp-mode", "--xdp-mode", "how the XDP program attaches: native, generic or auto",
     Text{set_xdp_mode}},

    {"time", "source", "--time-source",
     "where the clock's quality comes from: local, kernel or upstream",
     Text{set_text<&Config::time_source, parse_time_source>}},
    {"time", "stratum", "--stratum", "stratum announced by the local time source (1-15)",
     Integer{{1, 15, "{0} is not a stratum a server may announce ({1}-{2})"},
             set_integer<&Config::stratum>}},
    {"time", "refid", "--refid", "reference id: up to 4 ASCII characters or an IPv4 address",
     Text{set_text<&Config::reference_id, parse_refid_setting>}},
    {"time", "upstreams", "--upstream",
     "NTP server polled by the upstream time source: HOST[:PORT] or nts:HOST[:KEPORT] (repeatable)",
     List{set_each<&Config::upstreams, parse_upstream_setting>}},
    {"time", "unsync-after", "--unsync-after",
     "seconds without a good upstream sample before serving unsynchronised",
     Integer{{1, 86400, "{0} is out of range ({1}-{2} seconds)"},
             set_integer<&Config::unsync_after_seconds>}},
    {"time", "leap-file", "--leap-file", "leap-seconds.list announcing leap seconds",
     Text{set_text<&Config::leap_file, non_empty>}},
    {"time", "max-error-ms", "--max-error-ms",
     "kernel source: a maximum error past this many ms counts as unsynchronised",
     Integer{{1, 16000, "{0} is out of range ({1}-{2} ms)"}, set_integer<&Config::max_error_ms>}},
    {"time", "upstream-offset-margin-ms", "--upstream-offset-margin-ms",
     "upstream source: how far beyond an upstream's root distance the system clock may be from it "
     "and still count as agreeing (ms, default 128)",
     Integer{{0, 60000, "{0} is out of range ({1}-{2} ms)"},
             set_integer<&Config::upstream_offset_margin_ms>}},
    {"time", "unsynchronised", "--unsynchronised",
     "when the clock is unsynchronised: answer (LI 3, stratum 16) or drop",
     Text{set_text<&Config::answer_unsynchronised, parse_unsynchronised>}},
    {"time", "upstream-ca", "--upstream-ca", "CA file for nts: upstreams (default: system store)",
     Text{set_text<&Config::upstream_ca, any_text>}},

    {"log", "level", "--log-level", "trace, debug, info, warn, error or off",
     Text{set_text<&Config::log_level, parse_log_level>}},
    {"log", "summary-seconds", "--log-summary",
     "seconds between traffic summary lines (0: none; default 60)",
     Integer{kDaySeconds, set_integer<&Config::log_summary_seconds>}},
    {"log", "file", "--log-file", "log to this file instead of stderr (reopened on SIGHUP)",
     Text{set_text<&Config::log_file, non_empty>}},

    {"keys", "file", "--keys", "cookie key file: created if missing, shared by a fleet",
     Text{set_text<&Config::keys_file, non_empty>}},
    {"keys", "rotation-seconds", "--key-rotation", "cookie key rotation interval in seconds",
     Integer{{1, keys::kMaxRotationSeconds, "{0} is not a rotation interval in seconds ({1}-{2})"},
             set_integer<&Config::key_rotation_seconds>}},
    {"keys", "kept", "--keys-kept", "old cookie keys still accepted after a rotation",
     Integer{{1, keys::kMaxKeysKept, "{0} is not a number of old keys to keep ({1}-{2})"},
             set_integer<&Config::keys_kept>}},

    {"metrics", "listen", "--metrics-listen",
     "Prometheus metrics over HTTP on ADDR:PORT (default: none)",
     Text{set_text<&Config::metrics_listen, parse_optional_listen>}},

    {"process", "user", "--user", "user to run as after binding the sockets",
     Text{set_text<&Config::user, non_empty>}},
    {"process", "group", "--group", "group to run as (default: the user's primary group)",
     Text{set_text<&Config::group, non_empty>}},
    {"process", "seccomp", "--seccomp",
     "on: allow only the system calls serving needs once started (default off)",
     Switch{set_switch<&Config::seccomp>}},
};

template <typename... F>
struct Overloaded : F... {
  using F::operator()...;
};

// ---- The TOML file --------------------------------------------------------

void read_from_file(Config& config, TableReader& table, const Setting& row) {
  const std::string key = row.key;
  const std::string setting = table.setting(key);
  std::visit(Overloaded{
                 [&](const Integer& kind) {
                   if (auto v = table.integer(key)) {
                     kind.target(config, check_range(setting, *v, kind.range));
                   }
                 },
                 [&](const Text& kind) {
                   if (auto v = table.string(key)) kind.target(config, setting, *v);
                 },
                 [&](const List& kind) {
                   if (auto v = table.strings(key)) kind.target(config, setting, *v);
                 },
                 [&](const Switch& kind) {
                   if (auto v = table.boolean(key)) kind.target(config, *v);
                 },
             },
             row.kind);
}

// [[tls.certificates]]: more certificate/key pairs, chosen by SNI.
void read_certificate_pairs(Config& config, TableReader& tls) {
  auto pairs = tls.tables("certificates");
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    TableReader pair(pairs[i], tls.setting("certificates") + "[" + std::to_string(i + 1) + "]");
    CertificateFiles files;
    files.certificate_setting = pair.setting("cert");
    files.key_setting = pair.setting("key");
    auto cert_file = pair.string("cert");
    auto key_file = pair.string("key");
    pair.check_no_unknown_keys();
    if (!cert_file || cert_file->empty()) {
      throw ConfigError(files.certificate_setting, "a certificate file is required");
    }
    if (!key_file || key_file->empty()) {
      throw ConfigError(files.key_setting, "a private key file is required");
    }
    files.certificate_file = *cert_file;
    files.private_key_file = *key_file;
    config.more_certificates.push_back(std::move(files));
  }
}

toml::table parse_toml(const std::string& path) {
  if (access(path.c_str(), R_OK) != 0) throw ConfigError("--config", "cannot read " + path);
  try {
    return toml::parse_file(path);
  } catch (const toml::parse_error& error) {
    const auto& begin = error.source().begin;
    throw ConfigError("--config", path + ":" + std::to_string(begin.line) + ":" +
                                      std::to_string(begin.column) + ": " +
                                      std::string(error.description()));
  }
}

void apply_file(Config& config, const std::string& path) {
  const toml::table root = parse_toml(path);
  std::vector<std::string> tables;  // in the order of kSettings
  for (const auto& row : kSettings) {
    if (std::find(tables.begin(), tables.end(), row.table) == tables.end()) {
      tables.emplace_back(row.table);
    }
  }
  for (const auto& [key, value] : root) {
    if (std::find(tables.begin(), tables.end(), key.str()) == tables.end()) {
      throw ConfigError(std::string(key.str()), "unknown section in " + path);
    }
  }
  for (const auto& name : tables) {
    TableReader table(root, name);
    if (table.has("ntp-server") && table.has("ntp-servers")) {
      throw ConfigError(table.setting("ntp-servers"),
                        "set either ntp-server or ntp-servers, not both");
    }
    for (const auto& row : kSettings) {
      if (row.table == name) read_from_file(config, table, row);
    }
    if (name == "tls") read_certificate_pairs(config, table);
    table.check_no_unknown_keys();
  }
}

// ---- The command line -----------------------------------------------------

// What CLI11 stored for one flag: the text of a single value, or the repeated values.
struct FlagText {
  std::string text;
  std::vector<std::string> texts;
};

void apply_flag(Config& config, const Setting& row, const FlagText& given) {
  const std::string flag = row.flag;
  std::visit(Overloaded{
                 [&](const Integer& kind) {
                   kind.target(config,
                               check_range(flag, parse_integer(flag, given.text), kind.range));
                 },
                 [&](const Text& kind) { kind.target(config, flag, given.text); },
                 [&](const List& kind) { kind.target(config, flag, given.texts); },
                 [&](const Switch& kind) { kind.target(config, parse_on_off(flag, given.text)); },
             },
             row.kind);
}

}  // namespace

Invocation parse_invocation(int argc, char** argv) {
  CLI::App app{"ntsd: a Network Time Security (RFC 8915) server", "ntsd"};
  app.set_version_flag("--version", std::string("ntsd ") + kVersion);
  bool check_only = false;
  app.add_flag("--check-config", check_only,
               "check what start needs without binding or writing: the settings, the "
               "certificates and keys (readable by the user ntsd runs as), the key file and its "
               "directory, the time source's system calls; then exit (0: good, 2: not)");
  bool allow_expired_certificate = false;
  app.add_flag("--allow-expired-certificate", allow_expired_certificate,
               "start even when a TLS certificate has expired (default: refuse, exit 2)");
  std::string config_file;
  app.add_option("--config", config_file, "TOML configuration file");
  std::vector<FlagText> flags(std::size(kSettings));
  for (std::size_t i = 0; i < std::size(kSettings); ++i) {
    const auto& row = kSettings[i];
    if (row.flag == nullptr) continue;
    if (std::holds_alternative<List>(row.kind)) {
      app.add_option(row.flag, flags[i].texts, row.help);
    } else {
      app.add_option(row.flag, flags[i].text, row.help);
    }
  }

  Invocation invocation;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    invocation.exit_status = app.exit(e);
    invocation.exit_now = true;
    return invocation;
  } catch (const CLI::CallForVersion& e) {
    invocation.exit_status = app.exit(e);
    invocation.exit_now = true;
    return invocation;
  } catch (const CLI::ParseError& e) {
    throw ConfigError("command line", e.what());
  }

  invocation.check_only = check_only;
  if (!config_file.empty()) apply_file(invocation.config, config_file);
  for (std::size_t i = 0; i < std::size(kSettings); ++i) {
    const auto& row = kSettings[i];
    if (row.flag != nullptr && app.count(row.flag) != 0)
      apply_flag(invocation.config, row, flags[i]);
  }
  if (allow_expired_certificate) invocation.config.allow_expired_certificate = true;
  return invocation;
}

}  // namespace ntsd::server
