#include "common/socket_address.h"

#include <arpa/inet.h>

#include <cstring>

#include "common/host_port.h"

namespace ntsd {

std::optional<SocketAddress> SocketAddress::parse(std::string_view text) {
  auto parsed = parse_host_port(text, PortZero::Allowed);
  if (!parsed || !parsed->port) return std::nullopt;
  if (parsed->host.find(':') != std::string::npos) {
    sockaddr_in6 v6{};
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(*parsed->port);
    if (inet_pton(AF_INET6, parsed->host.c_str(), &v6.sin6_addr) != 1) return std::nullopt;
    return from_sockaddr(reinterpret_cast<const sockaddr*>(&v6), sizeof v6);
  }
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  v4.sin_port = htons(*parsed->port);
  if (inet_pton(AF_INET, parsed->host.c_str(), &v4.sin_addr) != 1) return std::nullopt;
  return from_sockaddr(reinterpret_cast<const sockaddr*>(&v4), sizeof v4);
}

SocketAddress SocketAddress::from_sockaddr(const sockaddr* address, socklen_t length) {
  SocketAddress result;
  auto copied = length < sizeof result.storage_ ? length : socklen_t{sizeof result.storage_};
  std::memcpy(&result.storage_, address, copied);
  result.length_ = copied;
  return result;
}

std::uint16_t SocketAddress::port() const {
  if (family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  }
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  return 0;
}

std::string SocketAddress::host_string() const {
  char buffer[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buffer,
              sizeof buffer);
  } else if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buffer,
              sizeof buffer);
  } else {
    return "?";
  }
  return buffer;
}

std::string SocketAddress::to_string() const { return format_host_port(host_string(), port()); }

}  // namespace ntsd
