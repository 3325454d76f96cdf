#include "server/config.h"

#include "core/ke_negotiation.h"
#include "keys/ratchet.h"

#include <arpa/inet.h>
#include <sched.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <toml++/toml.h>

namespace ntsd::server {

namespace {

SocketAddress parse_listen(const std::string& setting, const std::string& text) {
  auto address = SocketAddress::parse(text);
  if (!address) {
    throw ConfigError(setting, "'" + text +
                                   "' is not a numeric ADDRESS:PORT (IPv6 as [::1]:4460)");
  }
  return *address;
}

// A listen list: addresses, or the single word "none" (no listener at all).
std::vector<SocketAddress> parse_listen_list(const std::string& setting,
                                             const std::vector<std::string>& texts) {
  std::vector<SocketAddress> out;
  for (const auto& text : texts) {
    if (text == "none") {
      if (texts.size() != 1) throw ConfigError(setting, "'none' cannot be combined with addresses");
      return out;
    }
    out.push_back(parse_listen(setting, text));
  }
  return out;
}

// One listen address, or "none".
std::optional<SocketAddress> parse_optional_listen(const std::string& setting,
                                                   const std::string& text) {
  if (text == "none") return std::nullopt;
  return parse_listen(setting, text);
}

std::uint16_t parse_port_value(const std::string& setting, std::int64_t value) {
  if (value < 1 || value > 65535) {
    throw ConfigError(setting, std::to_string(value) + " is not a port number (1-65535)");
  }
  return static_cast<std::uint16_t>(value);
}

std::int64_t parse_integer(const std::string& setting, const std::string& text) {
  std::int64_t value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end) {
    throw ConfigError(setting, "'" + text + "' is not a whole number");
  }
  return value;
}

std::uint8_t parse_stratum(const std::string& setting, std::int64_t value) {
  if (value < 1 || value > 15) {
    throw ConfigError(setting, std::to_string(value) + " is not a stratum a server may announce (1-15)");
  }
  return static_cast<std::uint8_t>(value);
}

core::ReferenceId parse_refid_setting(const std::string& setting, const std::string& text) {
  auto id = parse_reference_id(text);
  if (!id) {
    throw ConfigError(setting,
                      "'" + text + "' is neither 1-4 printable ASCII characters nor an IPv4 address");
  }
  return *id;
}

TimeSourceKind parse_time_source(const std::string& setting, const std::string& text) {
  if (text == "local") return TimeSourceKind::Local;
  if (text == "kernel") return TimeSourceKind::Kernel;
  if (text == "upstream") return TimeSourceKind::Upstream;
  throw ConfigError(setting, "'" + text + "' is not a time source (local, kernel, upstream)");
}

UpstreamEntry parse_upstream_setting(const std::string& setting, const std::string& text) {
  auto entry = parse_upstream(text);
  if (!entry) {
    throw ConfigError(setting, "'" + text +
                                   "' is not HOST[:PORT] or nts:HOST[:KEPORT] (IPv6 in brackets)");
  }
  return *entry;
}

bool parse_on_off(const std::string& setting, const std::string& text) {
  if (text == "on") return true;
  if (text == "off") return false;
  throw ConfigError(setting, "'" + text + "' is neither on nor off");
}

bool parse_unsynchronised(const std::string& setting, const std::string& text) {
  if (text == "answer") return true;
  if (text == "drop") return false;
  throw ConfigError(setting, "'" + text + "' is neither answer nor drop");
}

std::uint32_t parse_bounded(const std::string& setting, std::int64_t value, std::int64_t low,
                            std::int64_t high, const char* unit) {
  if (value < low || value > high) {
    throw ConfigError(setting, std::to_string(value) + " is out of range (" + std::to_string(low) + "-" +
                                   std::to_string(high) + " " + unit + ")");
  }
  return static_cast<std::uint32_t>(value);
}

ServerChoice parse_server_choice(const std::string& setting, const std::string& text) {
  if (text == "hash") return ServerChoice::Hash;
  if (text == "round-robin") return ServerChoice::RoundRobin;
  throw ConfigError(setting, "'" + text + "' is not a server choice (hash, round-robin)");
}

NtpServerEntry parse_ntp_server_setting(const std::string& setting, const std::string& text) {
  auto entry = parse_ntp_server(text);
  if (!entry) {
    throw ConfigError(setting, "'" + text +
                                   "' is not HOST or HOST:PORT (IPv6 as [2001:db8::1]:123, port 1-65535)");
  }
  if (entry->host.size() > 255 || !core::is_valid_ke_server_name(entry->host)) {
    throw ConfigError(setting, "'" + entry->host +
                                   "' is not a host name or address (printable ASCII, at most 255)");
  }
  return *entry;
}

std::uint32_t parse_rotation(const std::string& setting, std::int64_t value) {
  if (value < 1 || value > keys::kMaxRotationSeconds) {
    throw ConfigError(setting, std::to_string(value) + " is not a rotation interval in seconds (1-" +
                                   std::to_string(keys::kMaxRotationSeconds) + ")");
  }
  return static_cast<std::uint32_t>(value);
}

std::uint32_t parse_keys_kept(const std::string& setting, std::int64_t value) {
  if (value < 1 || value > keys::kMaxKeysKept) {
    throw ConfigError(setting, std::to_string(value) + " is not a number of old keys to keep (1-" +
                                   std::to_string(keys::kMaxKeysKept) + ")");
  }
  return static_cast<std::uint32_t>(value);
}

// A whole number setting within [low, high].
std::int64_t in_range(const std::string& setting, std::int64_t value, std::int64_t low,
                      std::int64_t high) {
  if (value < low || value > high) {
    throw ConfigError(setting, std::to_string(value) + " is out of range (" + std::to_string(low) +
                                   "-" + std::to_string(high) + ")");
  }
  return value;
}

std::uint32_t as_u32(const std::string& setting, std::int64_t value, std::int64_t low,
                     std::int64_t high) {
  return static_cast<std::uint32_t>(in_range(setting, value, low, high));
}

std::string parse_name(const std::string& setting, const std::string& text) {
  if (text.empty()) throw ConfigError(setting, "must not be empty");
  return text;
}

std::string parse_log_level(const std::string& setting, const std::string& text) {
  static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "off"};
  if (!levels.contains(text)) {
    throw ConfigError(setting, "'" + text + "' is not a log level (trace, debug, info, warn, error, off)");
  }
  return text;
}

// Reads one TOML table, refusing keys it does not know so that a typo is an
// error rather than a silently ignored setting.
class TableReader {
 public:
  TableReader(const toml::table& root, std::string name) : name_(std::move(name)) {
    const auto* node = root.get(name_);
    if (node == nullptr) return;
    table_ = node->as_table();
    if (table_ == nullptr) throw ConfigError(name_, "must be a table");
  }
  // One element of an array of tables, named like "tls.certificates[1]".
  TableReader(const toml::table* table, std::string name) : name_(std::move(name)), table_(table) {}

  ~TableReader() = default;
  TableReader(const TableReader&) = delete;
  TableReader& operator=(const TableReader&) = delete;

  void check_no_unknown_keys() const {
    if (table_ == nullptr) return;
    for (const auto& [key, value] : *table_) {
      if (!known_.contains(std::string(key.str()))) {
        throw ConfigError(setting(std::string(key.str())), "unknown setting" + where(value));
      }
    }
  }

  std::optional<std::string> string(const std::string& key) {
    const auto* node = find(key);
    if (node == nullptr) return std::nullopt;
    auto value = node->value<std::string>();
    if (!node->is_string() || !value) throw ConfigError(setting(key), "must be a string" + where(*node));
    return *value;
  }

  std::optional<std::int64_t> integer(const std::string& key) {
    const auto* node = find(key);
    if (node == nullptr) return std::nullopt;
    if (!node->is_integer()) throw ConfigError(setting(key), "must be an integer" + where(*node));
    return node->value<std::int64_t>();
  }

  std::optional<bool> boolean(const std::string& key) {
    const auto* node = find(key);
    if (node == nullptr) return std::nullopt;
    if (!node->is_boolean()) throw ConfigError(setting(key), "must be true or false" + where(*node));
    return node->value<bool>();
  }

  std::optional<std::vector<std::string>> strings(const std::string& key) {
    const auto* node = find(key);
    if (node == nullptr) return std::nullopt;
    const auto* array = node->as_array();
    if (array == nullptr) throw ConfigError(setting(key), "must be an array of strings" + where(*node));
    std::vector<std::string> out;
    for (const auto& element : *array) {
      auto value = element.value<std::string>();
      if (!element.is_string() || !value) {
        throw ConfigError(setting(key), "must be an array of strings" + where(element));
      }
      out.push_back(*value);
    }
    return out;
  }

  // An array of tables ([[name.key]]); each element is read by its own TableReader.
  std::vector<const toml::table*> tables(const std::string& key) {
    const auto* node = find(key);
    if (node == nullptr) return {};
    const auto* array = node->as_array();
    if (array == nullptr) throw ConfigError(setting(key), "must be an array of tables" + where(*node));
    std::vector<const toml::table*> out;
    for (const auto& element : *array) {
      if (!element.is_table()) throw ConfigError(setting(key), "must be an array of tables" + where(element));
      out.push_back(element.as_table());
    }
    return out;
  }

  [[nodiscard]] std::string setting(const std::string& key) const { return name_ + "." + key; }

 private:
  const toml::node* find(const std::string& key) {
    known_.insert(key);
    return table_ == nullptr ? nullptr : table_->get(key);
  }
  static std::string where(const toml::node& node) {
    const auto& source = node.source();
    if (!source.begin) return "";
    return " (line " + std::to_string(source.begin.line) + ")";
  }

  std::string name_;
  const toml::table* table_ = nullptr;
  std::set<std::string> known_;
};

// Which listen lists the file or the flags set (an empty list then means "none").
struct ListenGiven {
  bool ke = false;
  bool ntp = false;
};

void apply_file(Config& config, const std::string& path, ListenGiven& given) {
  if (access(path.c_str(), R_OK) != 0) throw ConfigError("--config", "cannot read " + path);
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& error) {
    const auto& begin = error.source().begin;
    throw ConfigError("--config", path + ":" + std::to_string(begin.line) + ":" +
                                      std::to_string(begin.column) + ": " +
                                      std::string(error.description()));
  }
  static const std::set<std::string> tables{"tls", "nts-ke", "ntp",     "time",
                                            "log", "keys",   "process", "metrics"};
  for (const auto& [key, value] : root) {
    if (!tables.contains(std::string(key.str()))) {
      throw ConfigError(std::string(key.str()), "unknown section in " + path);
    }
  }

  TableReader tls(root, "tls");
  if (auto v = tls.string("cert")) config.certificate_file = *v;
  if (auto v = tls.string("key")) config.private_key_file = *v;
  if (auto v = tls.integer("poll-seconds")) config.cert_poll_seconds = as_u32(tls.setting("poll-seconds"), *v, 0, 86400);
  if (auto v = tls.boolean("allow-expired-certificate")) config.allow_expired_certificate = *v;
  auto pairs = tls.tables("certificates");
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    TableReader pair(pairs[i], tls.setting("certificates") + "[" + std::to_string(i + 1) + "]");
    CertificateFiles files;
    files.certificate_setting = pair.setting("cert");
    files.key_setting = pair.setting("key");
    auto cert_file = pair.string("cert");
    auto key_file = pair.string("key");
    pair.check_no_unknown_keys();
    if (!cert_file || cert_file->empty()) throw ConfigError(files.certificate_setting, "a certificate file is required");
    if (!key_file || key_file->empty()) throw ConfigError(files.key_setting, "a private key file is required");
    files.certificate_file = *cert_file;
    files.private_key_file = *key_file;
    config.more_certificates.push_back(std::move(files));
  }
  tls.check_no_unknown_keys();

  TableReader ke(root, "nts-ke");
  if (auto v = ke.strings("listen")) {
    config.ke_listen = parse_listen_list(ke.setting("listen"), *v);
    given.ke = true;
  }
  auto single_server = ke.string("ntp-server");
  auto servers = ke.strings("ntp-servers");
  if (single_server && servers) {
    throw ConfigError(ke.setting("ntp-servers"), "set either ntp-server or ntp-servers, not both");
  }
  if (single_server) {
    config.ntp_servers = {parse_ntp_server_setting(ke.setting("ntp-server"), *single_server)};
  }
  if (servers) {
    config.ntp_servers.clear();
    for (const auto& text : *servers) {
      config.ntp_servers.push_back(parse_ntp_server_setting(ke.setting("ntp-servers"), text));
    }
  }
  if (auto v = ke.string("server-choice")) {
    config.server_choice = parse_server_choice(ke.setting("server-choice"), *v);
  }
  if (auto v = ke.integer("ntp-port")) config.ntp_port = parse_port_value(ke.setting("ntp-port"), *v);
  if (auto v = ke.integer("timeout-ms")) {
    if (*v < 100 || *v > 60000) throw ConfigError(ke.setting("timeout-ms"), "must be 100-60000");
    config.ke_timeout = std::chrono::milliseconds(*v);
  }
  if (auto v = ke.integer("max-sessions")) {
    config.ke_max_sessions = as_u32(ke.setting("max-sessions"), *v, 1, 1000000);
  }
  if (auto v = ke.integer("rate-limit")) config.ke_rate_limit.rate = as_u32(ke.setting("rate-limit"), *v, 0, 1000000);
  if (auto v = ke.integer("rate-burst")) config.ke_rate_limit.burst = as_u32(ke.setting("rate-burst"), *v, 1, 1000000);
  if (auto v = ke.integer("threads")) config.ke_threads = as_u32(ke.setting("threads"), *v, 1, 256);
  ke.check_no_unknown_keys();

  TableReader ntp(root, "ntp");
  if (auto v = ntp.strings("listen")) {
    config.ntp_listen = parse_listen_list(ntp.setting("listen"), *v);
    given.ntp = true;
  }
  if (auto v = ntp.integer("workers")) {
    if (*v < 1 || *v > 256) throw ConfigError(ntp.setting("workers"), "must be 1-256");
    config.ntp_workers = static_cast<unsigned>(*v);
  }
  if (auto v = ntp.integer("rate-limit")) config.ntp_rate_limit.rate = as_u32(ntp.setting("rate-limit"), *v, 0, 10000000);
  if (auto v = ntp.integer("rate-burst")) config.ntp_rate_limit.burst = as_u32(ntp.setting("rate-burst"), *v, 1, 10000000);
  if (auto v = ntp.integer("rate-prefix-v4")) config.ntp_rate_limit.ipv4_prefix = as_u32(ntp.setting("rate-prefix-v4"), *v, 1, 32);
  if (auto v = ntp.integer("rate-prefix-v6")) config.ntp_rate_limit.ipv6_prefix = as_u32(ntp.setting("rate-prefix-v6"), *v, 1, 64);
  if (auto v = ntp.boolean("interleaved")) config.interleaved = *v;
  ntp.check_no_unknown_keys();

  TableReader time(root, "time");
  if (auto v = time.string("source")) config.time_source = parse_time_source(time.setting("source"), *v);
  if (auto v = time.integer("stratum")) config.stratum = parse_stratum(time.setting("stratum"), *v);
  if (auto v = time.string("refid")) config.reference_id = parse_refid_setting(time.setting("refid"), *v);
  if (auto v = time.strings("upstreams")) {
    config.upstreams.clear();
    for (const auto& text : *v) config.upstreams.push_back(parse_upstream_setting(time.setting("upstreams"), text));
  }
  if (auto v = time.integer("unsync-after")) {
    config.unsync_after_seconds = parse_bounded(time.setting("unsync-after"), *v, 1, 86400, "seconds");
  }
  if (auto v = time.string("leap-file")) {
    if (v->empty()) throw ConfigError(time.setting("leap-file"), "must not be empty");
    config.leap_file = *v;
  }
  if (auto v = time.integer("max-error-ms")) {
    config.max_error_ms = parse_bounded(time.setting("max-error-ms"), *v, 1, 16000, "ms");
  }
  if (auto v = time.integer("upstream-offset-margin-ms")) {
    config.upstream_offset_margin_ms =
        parse_bounded(time.setting("upstream-offset-margin-ms"), *v, 0, 60000, "ms");
  }
  if (auto v = time.string("unsynchronised")) {
    config.answer_unsynchronised = parse_unsynchronised(time.setting("unsynchronised"), *v);
  }
  if (auto v = time.string("upstream-ca")) config.upstream_ca = *v;
  time.check_no_unknown_keys();

  TableReader log(root, "log");
  if (auto v = log.string("level")) config.log_level = parse_log_level(log.setting("level"), *v);
  if (auto v = log.integer("summary-seconds")) {
    config.log_summary_seconds = as_u32(log.setting("summary-seconds"), *v, 0, 86400);
  }
  if (auto v = log.string("file")) {
    if (v->empty()) throw ConfigError(log.setting("file"), "must not be empty");
    config.log_file = *v;
  }
  log.check_no_unknown_keys();

  TableReader keys_table(root, "keys");
  if (auto v = keys_table.string("file")) {
    if (v->empty()) throw ConfigError(keys_table.setting("file"), "must not be empty");
    config.keys_file = *v;
  }
  if (auto v = keys_table.integer("rotation-seconds")) {
    config.key_rotation_seconds = parse_rotation(keys_table.setting("rotation-seconds"), *v);
  }
  if (auto v = keys_table.integer("kept")) config.keys_kept = parse_keys_kept(keys_table.setting("kept"), *v);
  keys_table.check_no_unknown_keys();

  TableReader metrics(root, "metrics");
  if (auto v = metrics.string("listen")) {
    config.metrics_listen = parse_optional_listen(metrics.setting("listen"), *v);
  }
  metrics.check_no_unknown_keys();

  TableReader process(root, "process");
  if (auto v = process.string("user")) config.user = parse_name(process.setting("user"), *v);
  if (auto v = process.string("group")) config.group = parse_name(process.setting("group"), *v);
  if (auto v = process.boolean("seccomp")) config.seccomp = *v;
  process.check_no_unknown_keys();
}

}  // namespace

std::optional<NtpServerEntry> parse_ntp_server(const std::string& text) {
  NtpServerEntry entry;
  std::string_view port_text;
  bool has_port = false;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close == 1) return std::nullopt;
    entry.host = text.substr(1, close - 1);
    in6_addr v6{};
    if (inet_pton(AF_INET6, entry.host.c_str(), &v6) != 1) return std::nullopt;
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return std::nullopt;
      port_text = std::string_view(text).substr(close + 2);
      has_port = true;
    }
  } else {
    auto first = text.find(':');
    if (first != std::string::npos && text.find(':', first + 1) != std::string::npos) {
      // Two colons or more: a bare IPv6 address, without a port.
      in6_addr v6{};
      if (inet_pton(AF_INET6, text.c_str(), &v6) != 1) return std::nullopt;
      entry.host = text;
    } else if (first != std::string::npos) {
      entry.host = text.substr(0, first);
      port_text = std::string_view(text).substr(first + 1);
      has_port = true;
    } else {
      entry.host = text;
    }
  }
  if (entry.host.empty()) return std::nullopt;
  if (has_port) {
    unsigned value = 0;
    const auto* end = port_text.data() + port_text.size();
    auto [ptr, ec] = std::from_chars(port_text.data(), end, value);
    if (port_text.empty() || ec != std::errc{} || ptr != end || value < 1 || value > 65535) {
      return std::nullopt;
    }
    entry.port = static_cast<std::uint16_t>(value);
  }
  return entry;
}

std::optional<UpstreamEntry> parse_upstream(const std::string& text) {
  UpstreamEntry entry;
  std::string rest = text;
  if (rest.rfind("nts:", 0) == 0) {
    entry.nts = true;
    rest = rest.substr(4);
  }
  auto parsed = parse_ntp_server(rest);
  if (!parsed) return std::nullopt;
  entry.host = parsed->host;
  entry.port = parsed->port ? *parsed->port : static_cast<std::uint16_t>(entry.nts ? 4460 : 123);
  return entry;
}

std::optional<core::ReferenceId> parse_reference_id(const std::string& text) {
  core::ReferenceId id{};
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    std::memcpy(id.data(), &v4, 4);
    return id;
  }
  if (text.empty() || text.size() > 4) return std::nullopt;
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c > 0x7e) return std::nullopt;
    id[i] = c;
  }
  return id;
}

Invocation parse_invocation(int argc, char** argv) {
  CLI::App app{"ntsd: a Network Time Security (RFC 8915) server", "ntsd"};
  app.set_version_flag("--version", "ntsd 0.1.0");
  bool check_only = false;
  app.add_flag("--check-config", check_only,
               "check the configuration, certificate and key file, then exit (0: good, 2: not)");

  std::string config_file, cert, key, ntp_port, time_source, stratum, refid, log_level, workers,
      server_choice, keys_file, key_rotation, keys_kept, ke_max_sessions, ke_rate_limit,
      ke_rate_burst, ntp_rate_limit, ntp_rate_burst, ntp_rate_prefix_v4, ntp_rate_prefix_v6, user,
      group, log_summary, cert_poll, log_file, metrics_listen, ke_threads;
  std::vector<std::string> ke_listen, ntp_listen, ntp_servers;
  std::string seccomp;
  std::string unsync_after, leap_file, interleaved, max_error_ms, unsynchronised, upstream_ca;
  std::string upstream_offset_margin;
  std::vector<std::string> upstreams;
  app.add_option("--config", config_file, "TOML configuration file");
  app.add_option("--cert", cert, "TLS certificate chain (PEM)");
  app.add_option("--key", key, "TLS private key (PEM)");
  app.add_option("--cert-poll", cert_poll,
                 "seconds between checks of the certificate and key files for changes (0: only "
                 "on SIGHUP; default 5)");
  bool allow_expired_certificate = false;
  app.add_flag("--allow-expired-certificate", allow_expired_certificate,
               "start even when a TLS certificate has expired (default: refuse, exit 2)");
  app.add_option("--ke-listen", ke_listen,
                 "NTS-KE listen address, ADDR:PORT (repeatable), or none: no NTS-KE");
  app.add_option("--ntp-listen", ntp_listen,
                 "NTP listen address, ADDR:PORT (repeatable), or none: no NTP");
  app.add_option("--ntp-server", ntp_servers,
                 "NTPv4 server advertised by NTS-KE, HOST[:PORT] (repeatable)");
  app.add_option("--ntp-server-choice", server_choice,
                 "how NTS-KE picks among several --ntp-server: hash (of the client address) or "
                 "round-robin");
  app.add_option("--ntp-port", ntp_port, "NTPv4 port advertised by NTS-KE");
  app.add_option("--keys", keys_file, "cookie key file: created if missing, shared by a fleet");
  app.add_option("--key-rotation", key_rotation, "cookie key rotation interval in seconds");
  app.add_option("--keys-kept", keys_kept, "old cookie keys still accepted after a rotation");
  app.add_option("--ntp-workers", workers, "NTP worker threads");
  app.add_option("--time-source", time_source,
                 "where the clock's quality comes from: local, kernel or upstream");
  app.add_option("--upstream", upstreams,
                 "NTP server polled by the upstream time source: HOST[:PORT] or nts:HOST[:KEPORT] "
                 "(repeatable)");
  app.add_option("--unsync-after", unsync_after,
                 "seconds without a good upstream sample before serving unsynchronised");
  app.add_option("--leap-file", leap_file, "leap-seconds.list announcing leap seconds");
  app.add_option("--max-error-ms", max_error_ms,
                 "kernel source: a maximum error past this many ms counts as unsynchronised");
  app.add_option("--upstream-offset-margin-ms", upstream_offset_margin,
                 "upstream source: how far beyond an upstream's root distance the system clock may "
                 "be from it and still count as agreeing (ms, default 128)");
  app.add_option("--unsynchronised", unsynchronised,
                 "when the clock is unsynchronised: answer (LI 3, stratum 16) or drop");
  app.add_option("--upstream-ca", upstream_ca, "CA file for nts: upstreams (default: system store)");
  app.add_option("--interleaved", interleaved, "RFC 9769 interleaved mode: on or off");
  app.add_option("--seccomp", seccomp,
                 "on: allow only the system calls serving needs once started (default off)");
  app.add_option("--stratum", stratum, "stratum announced by the local time source (1-15)");
  app.add_option("--refid", refid, "reference id: up to 4 ASCII characters or an IPv4 address");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off");
  app.add_option("--ke-max-sessions", ke_max_sessions,
                 "NTS-KE sessions open at once (default: sized to this machine)");
  app.add_option("--ke-rate-limit", ke_rate_limit,
                 "new NTS-KE connections per second per client address (0: no limit)");
  app.add_option("--ke-rate-burst", ke_rate_burst, "NTS-KE connections per address at once");
  app.add_option("--ke-threads", ke_threads, "NTS-KE threads (default: one per CPU)");
  app.add_option("--ntp-rate-limit", ntp_rate_limit,
                 "NTP requests per second per client prefix (0: no limit)");
  app.add_option("--ntp-rate-burst", ntp_rate_burst, "NTP requests per prefix at once");
  app.add_option("--ntp-rate-prefix-v4", ntp_rate_prefix_v4, "IPv4 prefix length for NTP rate limits");
  app.add_option("--ntp-rate-prefix-v6", ntp_rate_prefix_v6, "IPv6 prefix length for NTP rate limits");
  app.add_option("--log-file", log_file, "log to this file instead of stderr (reopened on SIGHUP)");
  app.add_option("--log-summary", log_summary,
                 "seconds between traffic summary lines (0: none; default 60)");
  app.add_option("--metrics-listen", metrics_listen,
                 "Prometheus metrics over HTTP on ADDR:PORT (default: none)");
  app.add_option("--user", user, "user to run as after binding the sockets");
  app.add_option("--group", group, "group to run as (default: the user's primary group)");

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
  Config& config = invocation.config;
  ListenGiven given;
  if (!config_file.empty()) apply_file(config, config_file, given);

  if (app.count("--cert") != 0) config.certificate_file = cert;
  if (app.count("--key") != 0) config.private_key_file = key;
  if (!ke_listen.empty()) {
    config.ke_listen = parse_listen_list("--ke-listen", ke_listen);
    given.ke = true;
  }
  if (!ntp_listen.empty()) {
    config.ntp_listen = parse_listen_list("--ntp-listen", ntp_listen);
    given.ntp = true;
  }
  if (app.count("--ntp-server") != 0) {
    config.ntp_servers.clear();
    for (const auto& text : ntp_servers) {
      config.ntp_servers.push_back(parse_ntp_server_setting("--ntp-server", text));
    }
  }
  if (app.count("--ntp-server-choice") != 0) {
    config.server_choice = parse_server_choice("--ntp-server-choice", server_choice);
  }
  if (app.count("--keys") != 0) {
    if (keys_file.empty()) throw ConfigError("--keys", "must not be empty");
    config.keys_file = keys_file;
  }
  if (app.count("--key-rotation") != 0) {
    config.key_rotation_seconds =
        parse_rotation("--key-rotation", parse_integer("--key-rotation", key_rotation));
  }
  if (app.count("--keys-kept") != 0) {
    config.keys_kept = parse_keys_kept("--keys-kept", parse_integer("--keys-kept", keys_kept));
  }
  if (app.count("--ntp-port") != 0) {
    config.ntp_port = parse_port_value("--ntp-port", parse_integer("--ntp-port", ntp_port));
  }
  if (app.count("--ntp-workers") != 0) {
    auto value = parse_integer("--ntp-workers", workers);
    if (value < 1 || value > 256) throw ConfigError("--ntp-workers", "must be 1-256");
    config.ntp_workers = static_cast<unsigned>(value);
  }
  if (app.count("--time-source") != 0) config.time_source = parse_time_source("--time-source", time_source);
  if (app.count("--upstream") != 0) {
    config.upstreams.clear();
    for (const auto& text : upstreams) config.upstreams.push_back(parse_upstream_setting("--upstream", text));
  }
  if (app.count("--unsync-after") != 0) {
    config.unsync_after_seconds =
        parse_bounded("--unsync-after", parse_integer("--unsync-after", unsync_after), 1, 86400, "seconds");
  }
  if (app.count("--leap-file") != 0) {
    if (leap_file.empty()) throw ConfigError("--leap-file", "must not be empty");
    config.leap_file = leap_file;
  }
  if (app.count("--max-error-ms") != 0) {
    config.max_error_ms =
        parse_bounded("--max-error-ms", parse_integer("--max-error-ms", max_error_ms), 1, 16000, "ms");
  }
  if (app.count("--upstream-offset-margin-ms") != 0) {
    config.upstream_offset_margin_ms = parse_bounded(
        "--upstream-offset-margin-ms",
        parse_integer("--upstream-offset-margin-ms", upstream_offset_margin), 0, 60000, "ms");
  }
  if (app.count("--unsynchronised") != 0) {
    config.answer_unsynchronised = parse_unsynchronised("--unsynchronised", unsynchronised);
  }
  if (app.count("--upstream-ca") != 0) config.upstream_ca = upstream_ca;
  if (app.count("--interleaved") != 0) config.interleaved = parse_on_off("--interleaved", interleaved);
  if (app.count("--seccomp") != 0) config.seccomp = parse_on_off("--seccomp", seccomp);
  if (app.count("--stratum") != 0) {
    config.stratum = parse_stratum("--stratum", parse_integer("--stratum", stratum));
  }
  if (app.count("--refid") != 0) config.reference_id = parse_refid_setting("--refid", refid);
  if (app.count("--log-level") != 0) config.log_level = parse_log_level("--log-level", log_level);
  auto integer_flag = [&](const char* flag, const std::string& text, std::int64_t low,
                          std::int64_t high) {
    return as_u32(flag, parse_integer(flag, text), low, high);
  };
  if (app.count("--ke-max-sessions") != 0) {
    config.ke_max_sessions = integer_flag("--ke-max-sessions", ke_max_sessions, 1, 1000000);
  }
  if (app.count("--ke-rate-limit") != 0) {
    config.ke_rate_limit.rate = integer_flag("--ke-rate-limit", ke_rate_limit, 0, 1000000);
  }
  if (app.count("--ke-rate-burst") != 0) {
    config.ke_rate_limit.burst = integer_flag("--ke-rate-burst", ke_rate_burst, 1, 1000000);
  }
  if (app.count("--ke-threads") != 0) {
    config.ke_threads = integer_flag("--ke-threads", ke_threads, 1, 256);
  }
  if (app.count("--ntp-rate-limit") != 0) {
    config.ntp_rate_limit.rate = integer_flag("--ntp-rate-limit", ntp_rate_limit, 0, 10000000);
  }
  if (app.count("--ntp-rate-burst") != 0) {
    config.ntp_rate_limit.burst = integer_flag("--ntp-rate-burst", ntp_rate_burst, 1, 10000000);
  }
  if (app.count("--ntp-rate-prefix-v4") != 0) {
    config.ntp_rate_limit.ipv4_prefix = integer_flag("--ntp-rate-prefix-v4", ntp_rate_prefix_v4, 1, 32);
  }
  if (app.count("--ntp-rate-prefix-v6") != 0) {
    config.ntp_rate_limit.ipv6_prefix = integer_flag("--ntp-rate-prefix-v6", ntp_rate_prefix_v6, 1, 64);
  }
  if (app.count("--log-summary") != 0) {
    config.log_summary_seconds = integer_flag("--log-summary", log_summary, 0, 86400);
  }
  if (allow_expired_certificate) config.allow_expired_certificate = true;
  if (app.count("--cert-poll") != 0) config.cert_poll_seconds = integer_flag("--cert-poll", cert_poll, 0, 86400);
  if (app.count("--log-file") != 0) {
    if (log_file.empty()) throw ConfigError("--log-file", "must not be empty");
    config.log_file = log_file;
  }
  if (app.count("--metrics-listen") != 0) {
    config.metrics_listen = parse_optional_listen("--metrics-listen", metrics_listen);
  }
  if (app.count("--user") != 0) config.user = parse_name("--user", user);
  if (app.count("--group") != 0) config.group = parse_name("--group", group);

  if (!given.ke) {
    config.ke_listen.push_back(*SocketAddress::parse("0.0.0.0:4460"));
    config.ke_listen.push_back(*SocketAddress::parse("[::]:4460"));
  }
  if (!given.ntp) {
    config.ntp_listen.push_back(*SocketAddress::parse("0.0.0.0:123"));
    config.ntp_listen.push_back(*SocketAddress::parse("[::]:123"));
  }
  return invocation;
}

void validate(const Config& config) {
  if (config.time_source == TimeSourceKind::Upstream && config.upstreams.empty()) {
    throw ConfigError("--upstream", "the upstream time source needs at least one --upstream");
  }
  if (config.time_source != TimeSourceKind::Upstream && !config.upstreams.empty()) {
    throw ConfigError("--upstream", "upstreams are only polled with --time-source upstream");
  }
  if (config.leap_file && access(config.leap_file->c_str(), R_OK) != 0) {
    throw ConfigError("--leap-file", "cannot read " + *config.leap_file + ": " + std::strerror(errno));
  }
  if (config.upstream_ca && access(config.upstream_ca->c_str(), R_OK) != 0) {
    throw ConfigError("--upstream-ca", "cannot read " + *config.upstream_ca + ": " + std::strerror(errno));
  }
  if (config.ke_listen.empty() && config.ntp_listen.empty()) {
    throw ConfigError("--ke-listen", "NTS-KE and NTP are both 'none': nothing left to serve");
  }
  if (!config.ke_listen.empty()) {
    bool any_pair = !config.more_certificates.empty();
    if (config.certificate_file.empty() && (!any_pair || !config.private_key_file.empty())) {
      throw ConfigError("--cert", "a certificate is required to serve NTS-KE");
    }
    if (config.private_key_file.empty() && (!any_pair || !config.certificate_file.empty())) {
      throw ConfigError("--key", "a private key is required to serve NTS-KE");
    }
    for (const auto& files : certificate_files(config)) {
      if (access(files.certificate_file.c_str(), R_OK) != 0) {
        throw ConfigError(files.certificate_setting,
                          "cannot read " + files.certificate_file + ": " + std::strerror(errno));
      }
      if (access(files.private_key_file.c_str(), R_OK) != 0) {
        throw ConfigError(files.key_setting,
                          "cannot read " + files.private_key_file + ": " + std::strerror(errno));
      }
    }
  }
  for (const auto& server : config.ntp_servers) {
    if (server.host.size() > 255 || !core::is_valid_ke_server_name(server.host)) {
      throw ConfigError("--ntp-server", "'" + server.host +
                                            "' is not a host name or address (printable ASCII, at most 255)");
    }
  }
}

unsigned default_ntp_workers() {
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  int count = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
  return static_cast<unsigned>(std::clamp(count, 1, 256));
}

std::optional<std::uint16_t> advertised_ntp_port(const Config& config) {
  if (config.ntp_port) return config.ntp_port;
  if (!config.ntp_servers.empty() || config.ntp_listen.empty()) return std::nullopt;
  auto own = config.ntp_listen.front().port();
  if (own == 123) return std::nullopt;
  return own;
}

std::vector<AdvertisedNtpServer> advertised_ntp_servers(const Config& config) {
  std::vector<AdvertisedNtpServer> out;
  for (const auto& server : config.ntp_servers) {
    out.push_back({server.host, server.port ? server.port : config.ntp_port});
  }
  if (out.empty()) out.push_back({std::nullopt, advertised_ntp_port(config)});
  return out;
}

std::vector<CertificateFiles> certificate_files(const Config& config) {
  std::vector<CertificateFiles> out;
  if (!config.certificate_file.empty() || !config.private_key_file.empty()) {
    out.push_back({config.certificate_file, config.private_key_file, "--cert", "--key"});
  }
  out.insert(out.end(), config.more_certificates.begin(), config.more_certificates.end());
  return out;
}

std::uint32_t keys_kept_or_default(const Config& config) {
  return config.keys_kept ? *config.keys_kept : keys::default_keys_kept(config.key_rotation_seconds);
}

}  // namespace ntsd::server
