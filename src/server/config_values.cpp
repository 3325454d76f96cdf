#include "server/config_values.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <initializer_list>
#include <set>
#include <string_view>
#include <utility>

#include "common/host_port.h"
#include "core/ke_negotiation.h"
#include "keys/ratchet.h"

namespace ntsd::server {

namespace {

SocketAddress parse_listen(const std::string& setting, const std::string& text) {
  auto address = SocketAddress::parse(text);
  if (!address) {
    throw ConfigError(setting, "'" + text + "' is not a numeric ADDRESS:PORT (IPv6 as [::1]:4460)");
  }
  return *address;
}

// One of a few words, each meaning a value; else "'TEXT' " + what.
template <typename T>
T parse_word(const std::string& setting, const std::string& text,
             std::initializer_list<std::pair<std::string_view, T>> words, const char* what) {
  for (const auto& [word, value] : words) {
    if (text == word) return value;
  }
  throw ConfigError(setting, "'" + text + "' " + what);
}

}  // namespace

bool is_valid_ntp_server_host(const std::string& host) {
  return host.size() <= 255 && core::is_valid_ke_server_name(host);
}

std::string any_text(const std::string& /*setting*/, const std::string& text) { return text; }

std::string non_empty(const std::string& setting, const std::string& text) {
  if (text.empty()) throw ConfigError(setting, "must not be empty");
  return text;
}

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

std::optional<SocketAddress> parse_optional_listen(const std::string& setting,
                                                   const std::string& text) {
  if (text == "none") return std::nullopt;
  return parse_listen(setting, text);
}

core::ReferenceId parse_refid_setting(const std::string& setting, const std::string& text) {
  auto id = parse_reference_id(text);
  if (!id) {
    throw ConfigError(
        setting, "'" + text + "' is neither 1-4 printable ASCII characters nor an IPv4 address");
  }
  return *id;
}

TimeSourceKind parse_time_source(const std::string& setting, const std::string& text) {
  using enum TimeSourceKind;
  return parse_word<TimeSourceKind>(setting, text,
                                    {{time_source_name(Local), Local},
                                     {time_source_name(Kernel), Kernel},
                                     {time_source_name(Upstream), Upstream}},
                                    "is not a time source (local, kernel, upstream)");
}

UpstreamEntry parse_upstream_setting(const std::string& setting, const std::string& text) {
  auto entry = parse_upstream(text);
  if (!entry) {
    throw ConfigError(setting,
                      "'" + text + "' is not HOST[:PORT] or nts:HOST[:KEPORT] (IPv6 in brackets)");
  }
  return *entry;
}

bool parse_on_off(const std::string& setting, const std::string& text) {
  return parse_word<bool>(setting, text, {{"on", true}, {"off", false}}, "is neither on nor off");
}

bool parse_unsynchronised(const std::string& setting, const std::string& text) {
  return parse_word<bool>(setting, text, {{"answer", true}, {"drop", false}},
                          "is neither answer nor drop");
}

std::vector<core::AeadAlgorithm> parse_aeads_setting(const std::string& setting,
                                                     const std::string& text) {
  if (auto list = core::parse_aead_list(text)) return *list;
  throw ConfigError(
      setting, "'" + text + "' is not a list of AEAD ids among 30, 15, 16, 17 (e.g. 30,15,17,16)");
}

ServerChoice parse_server_choice(const std::string& setting, const std::string& text) {
  return parse_word<ServerChoice>(
      setting, text, {{"hash", ServerChoice::Hash}, {"round-robin", ServerChoice::RoundRobin}},
      "is not a server choice (hash, round-robin)");
}

NtpServerEntry parse_ntp_server_setting(const std::string& setting, const std::string& text) {
  auto entry = parse_ntp_server(text);
  if (!entry) {
    throw ConfigError(
        setting,
        "'" + text + "' is not HOST or HOST:PORT (IPv6 as [2001:db8::1]:123, port 1-65535)");
  }
  if (!is_valid_ntp_server_host(entry->host)) {
    throw ConfigError(
        setting,
        "'" + entry->host + "' is not a host name or address (printable ASCII, at most 255)");
  }
  return *entry;
}

std::string parse_log_level(const std::string& setting, const std::string& text) {
  static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "off"};
  if (!levels.contains(text)) {
    throw ConfigError(setting,
                      "'" + text + "' is not a log level (trace, debug, info, warn, error, off)");
  }
  return text;
}

std::vector<std::string> parse_xdp_interfaces(const std::string& setting,
                                              const std::vector<std::string>& names) {
  for (const auto& name : names) {
    if (name.empty() || name.size() >= IF_NAMESIZE || name.find('/') != std::string::npos) {
      throw ConfigError(setting, "not an interface name: \"" + name + "\"");
    }
  }
  return names;
}

XdpMode parse_xdp_mode_setting(const std::string& setting, const std::string& text) {
  auto mode = parse_xdp_mode(text);
  if (!mode) throw ConfigError(setting, "must be native, generic or auto");
  return *mode;
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

std::vector<SocketAddress> default_listen(std::uint16_t port) {
  return {*SocketAddress::parse("0.0.0.0:" + std::to_string(port)),
          *SocketAddress::parse("[::]:" + std::to_string(port))};
}

std::optional<NtpServerEntry> parse_ntp_server(const std::string& text) {
  auto parsed = parse_host_port(text);
  if (!parsed) return std::nullopt;
  return NtpServerEntry{parsed->host, parsed->port};
}

std::optional<UpstreamEntry> parse_upstream(const std::string& text) {
  const bool nts = text.starts_with("nts:");
  auto parsed = parse_host_port(nts ? std::string_view(text).substr(4) : std::string_view(text));
  if (!parsed) return std::nullopt;
  const std::uint16_t default_port = nts ? 4460 : 123;
  return UpstreamEntry{nts, parsed->host, parsed->port.value_or(default_port)};
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

void validate(const Config& config) {
  if (config.xdp.enabled() && config.ntp_listen.empty()) {
    throw ConfigError("--xdp", "the XDP path answers NTP: it needs an --ntp-listen address");
  }
  if (config.time_source == TimeSourceKind::Upstream && config.upstreams.empty()) {
    throw ConfigError("--upstream", "the upstream time source needs at least one --upstream");
  }
  if (config.time_source != TimeSourceKind::Upstream && !config.upstreams.empty()) {
    throw ConfigError("--upstream", "upstreams are only polled with --time-source upstream");
  }
  if (config.leap_file && access(config.leap_file->c_str(), R_OK) != 0) {
    throw ConfigError("--leap-file",
                      "cannot read " + *config.leap_file + ": " + std::strerror(errno));
  }
  if (config.upstream_ca && access(config.upstream_ca->c_str(), R_OK) != 0) {
    throw ConfigError("--upstream-ca",
                      "cannot read " + *config.upstream_ca + ": " + std::strerror(errno));
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
    if (!is_valid_ntp_server_host(server.host)) {
      throw ConfigError(
          "--ntp-server",
          "'" + server.host + "' is not a host name or address (printable ASCII, at most 255)");
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
  return config.keys_kept ? *config.keys_kept
                          : keys::default_keys_kept(config.key_rotation_seconds);
}

}  // namespace ntsd::server
