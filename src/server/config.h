// ntsd's settings: defaults, then the TOML file (--config), then command-line
// flags. Each setting is one row of the table in config.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/socket_address.h"
#include "core/aead.h"
#include "core/ntp_packet.h"
#include "server/census_log.h"
#include "server/certificate_store.h"
#include "server/config_error.h"
#include "server/ntp_server_choice.h"
#include "server/rate_limit.h"
#include "server/time_source_settings.h"
#include "server/xdp_settings.h"

namespace ntsd::server {

// One NTP worker per CPU this process may run on (at least 1, at most 256).
unsigned default_ntp_workers();

// Both wildcard addresses (0.0.0.0 and [::]) on port: the default listen lists.
std::vector<SocketAddress> default_listen(std::uint16_t port);

// The settings of ntsd, read by parse_invocation. The time source's own settings
// are the TimeSourceSettings base (time_source_settings.h); what the NTS-KE and
// NTP servers take is built from the members below (daemon.cpp).
struct Config : TimeSourceSettings {
  // [tls]
  std::string certificate_file;
  std::string private_key_file;
  std::vector<CertificateFiles> more_certificates;  // [[tls.certificates]], chosen by SNI
  std::uint32_t cert_poll_seconds = 5;     // checks the files for changes this often; 0: never
  bool allow_expired_certificate = false;  // --allow-expired-certificate: serve one anyway
  // [nts-ke]
  std::vector<SocketAddress> ke_listen = default_listen(4460);  // empty: no NTS-KE (none)
  std::vector<NtpServerEntry> ntp_servers;  // advertised in the NTPv4 Server record
  ServerChoice server_choice = ServerChoice::Hash;
  std::optional<std::uint16_t> ntp_port;  // advertised in the NTPv4 Port record
  std::chrono::milliseconds ke_timeout{2000};
  std::size_t ke_max_sessions = 0;  // 0: sized to the machine (default_ke_max_sessions)
  RateLimitSettings ke_rate_limit = default_ke_rate_limit();  // new connections per address
  unsigned ke_threads = default_ntp_workers();                // one per CPU
  // Allowed AEADs (--aeads, nts-ke.aeads); the client's order picks among them.
  std::vector<core::AeadAlgorithm> aead_preference{
      core::AeadAlgorithm::AesGcmSiv128, core::AeadAlgorithm::AesSivCmac256,
      core::AeadAlgorithm::AesSivCmac512, core::AeadAlgorithm::AesSivCmac384};
  // [ntp]
  std::vector<SocketAddress> ntp_listen = default_listen(123);  // empty: no NTP (none)
  unsigned ntp_workers = default_ntp_workers();                 // one per CPU
  RateLimitSettings ntp_rate_limit = default_ntp_rate_limit();  // requests per prefix, per worker
  bool interleaved = true;                                      // RFC 9769 interleaved mode
  bool ntp_tx_compensation = true;  // tx-compensation (time/tx_compensation.h)
  XdpSettings xdp;                  // xdp, xdp-mode: the AF_XDP path (docs/xdp.md)
  // [time]: the TimeSourceSettings base
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
  // The research log (census_log.h): none: off; reopened on SIGHUP.
  std::optional<std::string> census_log;
  CensusLogPrefixes census_log_prefixes;  // client address prefix lengths: /24, /48
  std::uint32_t census_log_rate = 100;    // lines per second; more are dropped, counted
  // [process]
  std::optional<std::string> user;   // switch to it after binding (privileges.h)
  std::optional<std::string> group;  // none: the user's primary group
  bool seccomp = false;              // --seccomp: system call allow-list (seccomp_filter.h)
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
