// Listen and server addresses: "127.0.0.1:4460", "[::1]:4460", "0.0.0.0:123".
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ntsd::server {

class SocketAddress {
 public:
  // Numeric addresses only: a listen address is never looked up in DNS.
  static std::optional<SocketAddress> parse(std::string_view text);
  static SocketAddress from_sockaddr(const sockaddr* address, socklen_t length);

  [[nodiscard]] const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  [[nodiscard]] socklen_t length() const { return length_; }
  [[nodiscard]] int family() const { return storage_.ss_family; }
  [[nodiscard]] std::uint16_t port() const;
  [[nodiscard]] std::string to_string() const;  // "[::1]:4460" form for IPv6
  [[nodiscard]] std::string host_string() const;  // without the port or brackets

 private:
  sockaddr_storage storage_{};
  socklen_t length_ = 0;
};

}  // namespace ntsd::server
