// What the settings' texts mean: parsers that take the setting's name (for the
// ConfigError) and its text. Shared by the TOML file and the flags (config.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "server/config.h"

namespace ntsd::server {

// What fits the NTPv4 Server record: printable ASCII, at most 255 characters.
bool is_valid_ntp_server_host(const std::string& host);

std::int64_t parse_integer(const std::string& setting, const std::string& text);
std::string any_text(const std::string& setting, const std::string& text);
std::string non_empty(const std::string& setting, const std::string& text);
// A listen list: numeric addresses, or the single word "none" (no listener at all).
std::vector<SocketAddress> parse_listen_list(const std::string& setting,
                                             const std::vector<std::string>& texts);
// One listen address, or "none".
std::optional<SocketAddress> parse_optional_listen(const std::string& setting,
                                                   const std::string& text);
core::ReferenceId parse_refid_setting(const std::string& setting, const std::string& text);
TimeSourceKind parse_time_source(const std::string& setting, const std::string& text);
UpstreamEntry parse_upstream_setting(const std::string& setting, const std::string& text);
bool parse_on_off(const std::string& setting, const std::string& text);
bool parse_unsynchronised(const std::string& setting, const std::string& text);  // answer|drop
std::vector<core::AeadAlgorithm> parse_aeads_setting(const std::string& setting,
                                                     const std::string& text);
// "24,48": the research log's IPv4 and IPv6 prefix lengths.
CensusLogPrefixes parse_census_log_prefixes(const std::string& setting, const std::string& text);
ServerChoice parse_server_choice(const std::string& setting, const std::string& text);
NtpServerEntry parse_ntp_server_setting(const std::string& setting, const std::string& text);
std::string parse_log_level(const std::string& setting, const std::string& text);
// --xdp interface names (checked for shape only: the kernel says whether they exist).
std::vector<std::string> parse_xdp_interfaces(const std::string& setting,
                                              const std::vector<std::string>& names);
XdpMode parse_xdp_mode_setting(const std::string& setting, const std::string& text);

}  // namespace ntsd::server
