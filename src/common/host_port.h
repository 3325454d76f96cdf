// "host:port" text as operators and users write it: the one parser for listen
// addresses, advertised NTP servers, upstreams and the tools' targets.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ntsd {

struct HostPort {
  std::string host;                   // a name, an IPv4 address or an IPv6 address without brackets
  std::optional<std::uint16_t> port;  // none when the text gave none
  bool operator==(const HostPort&) const = default;
};

// Whether port 0 ("let the kernel choose") is a port: for listen addresses only.
enum class PortZero { Refused, Allowed };

// "host", "host:port", "1.2.3.4:port", "[v6]", "[v6]:port" or a bare IPv6 address
// ("2001:db8::1", without a port). nullopt when malformed: an empty host, brackets
// around anything but an IPv6 address, a port that is not a number up to 65535.
std::optional<HostPort> parse_host_port(std::string_view text, PortZero zero = PortZero::Refused);

// True when host is an IPv4 or IPv6 literal (no brackets).
bool is_ip_literal(std::string_view host);

// Formats host and port for messages: "name:port" or "[v6]:port".
std::string format_host_port(std::string_view host, std::uint16_t port);

}  // namespace ntsd
