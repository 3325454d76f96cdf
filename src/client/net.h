// Blocking sockets with deadlines, for the NTS client side (nts-query, nts-bench,
// upstream polling). Nothing here knows about NTS.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ntsd::client {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

// Every failure in the client library; what() is a one-line, human-readable reason.
class ClientError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A deadline passed.
class TimeoutError : public ClientError {
 public:
  using ClientError::ClientError;
};

// Owns a file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  ~UniqueFd() { reset(); }

  [[nodiscard]] int get() const { return fd_; }
  [[nodiscard]] bool valid() const { return fd_ >= 0; }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

struct HostPort {
  std::string host;  // a name, an IPv4 address or an IPv6 address without brackets
  std::uint16_t port = 0;
};

// Parses "host", "host:port", "1.2.3.4:port", "[v6]", "[v6]:port" or a bare IPv6
// address ("::1", no port). nullopt when malformed (empty host, bad port, port 0).
std::optional<HostPort> parse_host_port(std::string_view text, std::uint16_t default_port);

// True when host is an IPv4 or IPv6 literal (no brackets).
bool is_ip_literal(std::string_view host);

// A resolved socket address.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  [[nodiscard]] const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  [[nodiscard]] int family() const { return storage.ss_family; }
  // "192.0.2.1" or "2001:db8::1" (no port, no brackets).
  [[nodiscard]] std::string ip_string() const;
  // "192.0.2.1:123" or "[2001:db8::1]:123".
  [[nodiscard]] std::string to_string() const;
  [[nodiscard]] std::uint16_t port() const;
};

// getaddrinfo for TCP or UDP (socktype SOCK_STREAM or SOCK_DGRAM); throws
// ClientError when the name does not resolve.
std::vector<SocketAddress> resolve(const std::string& host, std::uint16_t port, int socktype);

// Formats host and port for messages: "name:port" or "[v6]:port".
std::string format_host_port(std::string_view host, std::uint16_t port);

// "5 s", "0.5 s": a duration for messages.
std::string format_seconds(std::chrono::milliseconds duration);

// Milliseconds left until deadline, at least 0, for poll().
int remaining_ms(Deadline deadline);

// Waits until fd is ready for `events` (POLLIN/POLLOUT); false on timeout.
// Throws ClientError on poll failure.
bool wait_fd(int fd, short events, Deadline deadline);

struct TcpConnection {
  UniqueFd fd;  // non-blocking, connected
  SocketAddress peer;
};

// Connects to each resolved address in turn, each attempt bounded by `timeout`.
// The returned socket is non-blocking. Throws ClientError with the last failure.
TcpConnection connect_tcp(const std::string& host, std::uint16_t port,
                          std::chrono::milliseconds timeout);
// The same for addresses already resolved (to time resolution and connection apart).
TcpConnection connect_tcp(const std::vector<SocketAddress>& addresses,
                          std::chrono::milliseconds timeout);

}  // namespace ntsd::client
