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
#include "server/socket_address.h"

namespace ntsd::server {

enum class TimeSourceKind { Local };

struct Config {
  // [tls]
  std::string certificate_file;
  std::string private_key_file;
  // [nts-ke]
  std::vector<SocketAddress> ke_listen;
  std::optional<std::string> ntp_server;   // advertised in the NTPv4 Server record
  std::optional<std::uint16_t> ntp_port;   // advertised in the NTPv4 Port record
  std::chrono::milliseconds ke_timeout{2000};
  std::vector<core::AeadAlgorithm> aead_preference{core::AeadAlgorithm::AesSivCmac256,
                                                   core::AeadAlgorithm::AesSivCmac512,
                                                   core::AeadAlgorithm::AesSivCmac384};
  // [ntp]
  std::vector<SocketAddress> ntp_listen;
  unsigned ntp_workers = 1;
  // [time]
  TimeSourceKind time_source = TimeSourceKind::Local;
  std::uint8_t stratum = 10;
  core::ReferenceId reference_id{'L', 'O', 'C', 'L'};
  // [log]
  std::string log_level = "info";
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
};

// Parses argv and the file it names; throws ConfigError on any bad setting.
Invocation parse_invocation(int argc, char** argv);

// Checks what can be checked without binding: throws ConfigError.
void validate(const Config& config);

// The port the KE server advertises when the operator configured none: ntsd's
// own NTP port when it is not the standard 123.
std::optional<std::uint16_t> advertised_ntp_port(const Config& config);

std::optional<core::ReferenceId> parse_reference_id(const std::string& text);

}  // namespace ntsd::server
