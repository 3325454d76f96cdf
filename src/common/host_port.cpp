#include "common/host_port.h"

#include <arpa/inet.h>

#include <charconv>

namespace ntsd {

namespace {

std::optional<std::uint16_t> parse_port(std::string_view text, PortZero zero) {
  unsigned value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end || value > 65535) return std::nullopt;
  if (value == 0 && zero == PortZero::Refused) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

bool is_ipv6_literal(const std::string& host) {
  in6_addr v6{};
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1;
}

}  // namespace

std::optional<HostPort> parse_host_port(std::string_view text, PortZero zero) {
  HostPort result;
  std::optional<std::string_view> port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    result.host = std::string(text.substr(1, close - 1));
    if (!is_ipv6_literal(result.host)) return std::nullopt;
    auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port_text = rest.substr(1);
    }
  } else {
    auto first = text.find(':');
    if (first != std::string_view::npos && text.find(':', first + 1) != std::string_view::npos) {
      // Two colons or more without brackets: a bare IPv6 address, without a port.
      result.host = std::string(text);
      if (!is_ipv6_literal(result.host)) return std::nullopt;
    } else if (first != std::string_view::npos) {
      result.host = std::string(text.substr(0, first));
      port_text = text.substr(first + 1);
    } else {
      result.host = std::string(text);
    }
  }
  if (result.host.empty()) return std::nullopt;
  if (port_text) {
    result.port = parse_port(*port_text, zero);
    if (!result.port) return std::nullopt;
  }
  return result;
}

bool is_ip_literal(std::string_view host) {
  std::string copy(host);
  in_addr v4{};
  return inet_pton(AF_INET, copy.c_str(), &v4) == 1 || is_ipv6_literal(copy);
}

std::string format_host_port(std::string_view host, std::uint16_t port) {
  // Built by append: g++ 12 at -O3 warns falsely (-Wrestrict) on "[" + std::string.
  const bool bracket = host.find(':') != std::string_view::npos;
  std::string out;
  out.reserve(host.size() + 8);
  if (bracket) out += '[';
  out += host;
  if (bracket) out += ']';
  out += ':';
  out += std::to_string(port);
  return out;
}

}  // namespace ntsd
