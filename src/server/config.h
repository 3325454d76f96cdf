// ntsd's settings: defaults, then the TOML file (--config), then command-line flags.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/aead.h"
#include "core/ntp_packet.h"
#include "server/ntp_server_choice.h"
#include "server/rate_limit.h"
#include "server/socket_address.h"

namespace ntsd::server {

enum class TimeSourceKind { Local, Kernel, Upstream };

// One --upstream: an NTP server ntsd polls for the `upstream` time source.
// "HOST[:PORT]" plain NTP (port 123), "nts:HOST[:KEPORT]" NTS (NTS-KE port 4460).
struct UpstreamEntry {
  bool nts = false;
  std::string host;
  std::uint16_t port = 123;  // NTP port, or the NTS-KE port with nts
  bool operator==(const UpstreamEntry&) const = default;
};

// One NTP worker per CPU this process may run on (at least 1, at most 256).
unsigned default_ntp_workers();

// One TLS certificate chain and its private key, and how the operator named
// them (for errors: "--cert", "tls.certificates[2].key", ...).
struct CertificateFiles {
  std::string certificate_file;
  std::string private_key_file;
  std::string certificate_setting = "--cert";
  std::string key_setting = "--key";
  bool operator==(const CertificateFiles&) const = default;
};

struct Config {
  // [tls]
  std::string certificate_file;
  std::string private_key_file;
  std::vector<CertificateFiles> more_certificates;  // [[tls.certificates]], chosen by SNI
  std::uint32_t cert_poll_seconds = 5;  // checks the files for changes this often; 0: never
  bool allow_expired_certificate = false;  // --allow-expired-certificate: serve one anyway
  // [nts-ke]
  std::vector<SocketAddress> ke_listen;     // empty: no NTS-KE (--ke-listen none)
  std::vector<NtpServerEntry> ntp_servers;  // advertised in the NTPv4 Server record
  ServerChoice server_choice = ServerChoice::Hash;
  std::optional<std::uint16_t> ntp_port;    // advertised in the NTPv4 Port record
  std::chrono::milliseconds ke_timeout{2000};
  std::size_t ke_max_sessions = 0;  // 0: sized to the machine (default_ke_max_sessions)
  RateLimitSettings ke_rate_limit = default_ke_rate_limit();  // new connections per address
  unsigned ke_threads = default_ntp_workers();  // one per CPU
  std::vector<core::AeadAlgorithm> aead_preference{core::AeadAlgorithm::AesSivCmac256,
                                                   core::AeadAlgorithm::AesSivCmac512,
                                                   core::AeadAlgorithm::AesSivCmac384};
  // [ntp]
  std::vector<SocketAddress> ntp_listen;  // empty: no NTP (--ntp-listen none)
  unsigned ntp_workers = default_ntp_workers();  // one per CPU
  RateLimitSettings ntp_rate_limit = default_ntp_rate_limit();  // requests per prefix, per worker
  // [time]
  TimeSourceKind time_source = TimeSourceKind::Local;
  std::uint8_t stratum = 10;
  core::ReferenceId reference_id{'L', 'O', 'C', 'L'};
  std::vector<UpstreamEntry> upstreams;       // --upstream (time source `upstream`)
  std::uint32_t unsync_after_seconds = 600;   // no good upstream sample for this long: unsynchronised
  std::optional<std::string> leap_file;       // leap-seconds.list
  std::uint32_t max_error_ms = 1000;          // kernel maxerror past this: unsynchronised
  std::uint32_t upstream_offset_margin_ms = 128;  // system clock vs upstream beyond root distance
  bool answer_unsynchronised = true;          // --unsynchronised answer|drop
  std::optional<std::string> upstream_ca;     // CA file for nts: upstreams (else the system store)
  bool interleaved = true;                    // [ntp] interleaved: RFC 9769 interleaved mode
  // [log]
  std::string log_level = "info";
  std::uint32_t log_summary_seconds = 60;  // traffic summary line interval; 0: none
  std::optional<std::string> log_file;     // none: stderr; reopened on SIGHUP
  // [keys]
  std::optional<std::string> keys_file;  // none: keys in memory only
  std::uint32_t key_rotation_seconds = 86400;
  std::optional<std::uint32_t> keys_kept;  // none: enough for 24 h (keys_kept_or_default)
  // [metrics]
  std::optional<SocketAddress> metrics_listen;  // none: no metrics endpoint
  // [process]
  std::optional<std::string> user;   // switch to it after binding (privileges.h)
  std::optional<std::string> group;  // none: the user's primary group
  bool seccomp = false;              // --seccomp: system call allow-list (seccomp_filter.h)
};

// A setting that cannot be used: `setting` names it as the operator wrote it.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string setting, const std::string& message)
      : std::runtime_error(setting + ": " + message), setting_(std::move(setting)) {}
  [[nodiscard]] const std::string& setting() const { return setting_; }

 private:
  std::string setting_;
};

// What the command line asked for besides the configuration.
struct Invocation {
  Config config;
  bool exit_now = false;  // --help or --version was printed
  int exit_status = 0;
  bool check_only = false;  // --check-config: validate, report, exit
};

// Parses argv and the file it names; throws ConfigError on any bad setting.
Invocation parse_invocation(int argc, char** argv);

// Checks what can be checked without binding: throws ConfigError.
void validate(const Config& config);

// The port the KE server advertises when the operator configured none: ntsd's
// own NTP port when it is not the standard 123.
std::optional<std::uint16_t> advertised_ntp_port(const Config& config);

// What NTS-KE hands out: one entry per configured NTP server (its own port, else
// --ntp-port), or, with none configured, one entry without a host and with
// advertised_ntp_port().
std::vector<AdvertisedNtpServer> advertised_ntp_servers(const Config& config);

// Every certificate/key pair NTS-KE serves, the default (for clients without SNI
// or with an unknown name) first: --cert/--key ([tls] cert/key) when given, then
// each [[tls.certificates]] entry.
std::vector<CertificateFiles> certificate_files(const Config& config);

// --keys-kept, or the number of old keys that keeps every cookie valid for at
// least 24 hours with the configured rotation.
std::uint32_t keys_kept_or_default(const Config& config);

// "host", "host:port", "1.2.3.4:port", "[v6]", "[v6]:port" or a bare IPv6 address.
std::optional<NtpServerEntry> parse_ntp_server(const std::string& text);

std::optional<core::ReferenceId> parse_reference_id(const std::string& text);

// "HOST[:PORT]" (plain NTP, port 123) or "nts:HOST[:KEPORT]" (NTS-KE port 4460).
std::optional<UpstreamEntry> parse_upstream(const std::string& text);

}  // namespace ntsd::server
