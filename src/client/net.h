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

#include "common/host_port.h"
#include "common/socket_address.h"
#include "common/unique_fd.h"

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

// getaddrinfo for TCP or UDP (socktype SOCK_STREAM or SOCK_DGRAM); throws
// ClientError when the name does not resolve.
std::vector<SocketAddress> resolve(const std::string& host, std::uint16_t port, int socktype);

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
