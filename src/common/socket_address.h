// An IPv4 or IPv6 socket address: listen addresses ("127.0.0.1:4460",
// "[::1]:4460", "0.0.0.0:123"), peers, and resolved servers.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ntsd {

class SocketAddress {
 public:
  // Numeric addresses only, with a port (0 allowed: the kernel chooses): a listen
  // address is never looked up in DNS.
  static std::optional<SocketAddress> parse(std::string_view text);
  // Copies at most sizeof(sockaddr_storage) bytes.
  static SocketAddress from_sockaddr(const sockaddr* address, socklen_t length);

  [[nodiscard]] const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  [[nodiscard]] socklen_t length() const { return length_; }
  [[nodiscard]] int family() const { return storage_.ss_family; }
  [[nodiscard]] std::uint16_t port() const;
  [[nodiscard]] std::string to_string() const;    // "192.0.2.1:123", "[2001:db8::1]:123"
  [[nodiscard]] std::string host_string() const;  // without the port or brackets

 private:
  sockaddr_storage storage_{};
  socklen_t length_ = 0;
};

}  // namespace ntsd
