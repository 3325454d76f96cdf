#include "client/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace ntsd::client {

namespace {

std::string errno_text(int error) { return std::strerror(error); }

struct AddrinfoDeleter {
  void operator()(addrinfo* info) const noexcept { freeaddrinfo(info); }
};
using AddrinfoPtr = std::unique_ptr<addrinfo, AddrinfoDeleter>;

void set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    throw ClientError("fcntl(O_NONBLOCK) failed: " + errno_text(errno));
  }
}

}  // namespace

std::vector<SocketAddress> resolve(const std::string& host, std::uint16_t port, int socktype) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = socktype;
  hints.ai_flags = AI_ADDRCONFIG;
  if (is_ip_literal(host)) hints.ai_flags = AI_NUMERICHOST;
  addrinfo* raw = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &raw);
  AddrinfoPtr list(raw);
  if (rc != 0) {
    std::string reason = rc == EAI_SYSTEM ? errno_text(errno) : gai_strerror(rc);
    throw ClientError("cannot resolve " + host + ": " + reason);
  }
  std::vector<SocketAddress> out;
  for (const addrinfo* info = list.get(); info != nullptr; info = info->ai_next) {
    if (info->ai_family != AF_INET && info->ai_family != AF_INET6) continue;
    if (info->ai_addrlen > sizeof(sockaddr_storage)) continue;
    out.push_back(SocketAddress::from_sockaddr(info->ai_addr, info->ai_addrlen));
  }
  if (out.empty()) throw ClientError("cannot resolve " + host + ": no IPv4 or IPv6 address");
  return out;
}

std::string format_seconds(std::chrono::milliseconds duration) {
  char buffer[32];
  (void)std::snprintf(buffer, sizeof buffer, "%g s",
                      static_cast<double>(duration.count()) / 1000.0);
  return buffer;
}

int remaining_ms(Deadline deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return 0;
  if (left > 1'000'000'000) return 1'000'000'000;
  return static_cast<int>(left);
}

bool wait_fd(int fd, short events, Deadline deadline) {
  for (;;) {
    pollfd pfd{fd, events, 0};
    int rc = ::poll(&pfd, 1, remaining_ms(deadline));
    if (rc > 0) return true;  // ready, or an error/hangup the next call will report
    if (rc == 0) {
      if (Clock::now() >= deadline) return false;
      continue;
    }
    if (errno == EINTR) continue;
    throw ClientError("poll failed: " + errno_text(errno));
  }
}

TcpConnection connect_tcp(const std::string& host, std::uint16_t port,
                          std::chrono::milliseconds timeout) {
  return connect_tcp(resolve(host, port, SOCK_STREAM), timeout);
}

TcpConnection connect_tcp(const std::vector<SocketAddress>& addresses,
                          std::chrono::milliseconds timeout) {
  if (addresses.empty()) throw ClientError("no address to connect to");
  std::string last_error;
  for (const auto& address : addresses) {
    UniqueFd fd(::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP));
    if (!fd.valid()) {
      last_error = "socket() failed: " + errno_text(errno);
      continue;
    }
    set_nonblocking(fd.get());
    int one = 1;
    // Latency over throughput: the request and response are one write each.
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto deadline = Clock::now() + timeout;
    int rc = ::connect(fd.get(), address.get(), address.length());
    if (rc != 0 && errno != EINPROGRESS) {
      last_error = "cannot connect to " + address.to_string() + ": " + errno_text(errno);
      continue;
    }
    if (rc != 0) {
      if (!wait_fd(fd.get(), POLLOUT, deadline)) {
        last_error = "cannot connect to " + address.to_string() + ": no answer within " +
                     format_seconds(timeout);
        continue;
      }
      int error = 0;
      socklen_t length = sizeof error;
      if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
      if (error != 0) {
        last_error = "cannot connect to " + address.to_string() + ": " + errno_text(error);
        continue;
      }
    }
    return TcpConnection{std::move(fd), address};
  }
  throw ClientError(last_error);
}

}  // namespace ntsd::client
