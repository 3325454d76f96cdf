#include "server/metrics_http.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "server/config_error.h"
#include "server/log.h"

namespace ntsd::server {

namespace {

using Clock = std::chrono::steady_clock;

// Connections accepted per wake-up, so a flood of connects cannot starve the rest.
constexpr int kAcceptsPerRound = 16;
// Out of descriptors: stop accepting this long instead of spinning on a readable listener.
constexpr std::chrono::milliseconds kAcceptPause{100};

bool is_token_char(char c) { return c >= 'A' && c <= 'Z'; }

std::string_view first_line(std::string_view head) {
  auto end = head.find('\n');
  auto line = head.substr(0, end);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

std::string status_line(HttpRoute route) {
  switch (route) {
    case HttpRoute::Metrics:
      return "200 OK";
    case HttpRoute::BadRequest:
      return "400 Bad Request";
    case HttpRoute::NotFound:
      return "404 Not Found";
    case HttpRoute::MethodNotAllowed:
      return "405 Method Not Allowed";
    case HttpRoute::TooLarge:
      return "431 Request Header Fields Too Large";
    case HttpRoute::Unavailable:
      return "503 Service Unavailable";
  }
  return "500 Internal Server Error";
}

}  // namespace

std::size_t http_head_length(std::string_view received) {
  auto crlf = received.find("\r\n\r\n");
  auto lf = received.find("\n\n");
  std::size_t end = std::string_view::npos;
  if (crlf != std::string_view::npos) end = crlf + 4;
  if (lf != std::string_view::npos) end = std::min(end, lf + 2);
  return end == std::string_view::npos ? 0 : end;
}

HttpRoute route_http_request(std::string_view head, bool& head_only) {
  head_only = false;
  auto line = first_line(head);
  auto first_space = line.find(' ');
  if (first_space == std::string_view::npos) return HttpRoute::BadRequest;
  auto second_space = line.find(' ', first_space + 1);
  if (second_space == std::string_view::npos) return HttpRoute::BadRequest;
  auto method = line.substr(0, first_space);
  auto target = line.substr(first_space + 1, second_space - first_space - 1);
  auto version = line.substr(second_space + 1);
  if (method.empty() || !std::all_of(method.begin(), method.end(), is_token_char)) {
    return HttpRoute::BadRequest;
  }
  if (target.empty() || version.size() != 8 || version.substr(0, 7) != "HTTP/1." ||
      version[7] < '0' || version[7] > '9') {
    return HttpRoute::BadRequest;
  }
  if (method != "GET" && method != "HEAD") return HttpRoute::MethodNotAllowed;
  head_only = method == "HEAD";
  auto path = target.substr(0, target.find('?'));
  return path == "/metrics" ? HttpRoute::Metrics : HttpRoute::NotFound;
}

std::string http_response(HttpRoute route, std::string_view metrics, bool head_only) {
  std::string body;
  std::string_view content_type = "text/plain; charset=utf-8";
  if (route == HttpRoute::Metrics) {
    content_type = "text/plain; version=0.0.4; charset=utf-8";
  } else {
    body = status_line(route) + "\n";
  }
  std::string_view payload = route == HttpRoute::Metrics ? metrics : std::string_view(body);
  std::string out = "HTTP/1.1 " + status_line(route) + "\r\n";
  out += "Content-Type: ";
  out += content_type;
  out += "\r\nContent-Length: " + std::to_string(payload.size()) + "\r\n";
  if (route == HttpRoute::MethodNotAllowed) out += "Allow: GET, HEAD\r\n";
  out += "Connection: close\r\n\r\n";
  if (!head_only) out += payload;
  return out;
}

struct MetricsHttpServer::Impl {
  struct Connection {
    UniqueFd fd;
    std::string in;
    std::string out;
    std::size_t sent = 0;
    bool writing = false;
    Clock::time_point deadline;
  };

  Render render;
  MetricsHttpLimits limits;
  UniqueFd listener;
  UniqueFd stop_fd;
  std::vector<Connection> connections;
  std::thread thread;
  LogLimiter log{1.0, 5.0};
  Clock::time_point accept_resume;  // accept() failed for want of descriptors: not before this

  void run() {
    std::vector<pollfd> fds;
    for (;;) {
      fds.clear();
      auto now = Clock::now();
      auto wake = Clock::time_point::max();
      fds.push_back({stop_fd.get(), POLLIN, 0});
      // A negative descriptor is skipped by poll(): the listener while accepting is paused.
      const bool accepting = now >= accept_resume;
      fds.push_back({accepting ? listener.get() : -1, POLLIN, 0});
      if (!accepting) wake = accept_resume;
      for (const auto& c : connections) {
        fds.push_back({c.fd.get(), static_cast<short>(c.writing ? POLLOUT : POLLIN), 0});
        wake = std::min(wake, c.deadline);
      }
      int timeout_ms = -1;
      if (wake != Clock::time_point::max()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(wake - now).count() + 1;
        timeout_ms = static_cast<int>(std::clamp<std::int64_t>(left, 0, 60'000));
      }
      if (poll(fds.data(), fds.size(), timeout_ms) < 0) {
        if (errno == EINTR) continue;
        spdlog::error("metrics: poll failed: {}", std::strerror(errno));
        return;
      }
      if (fds[0].revents != 0) return;
      // Connections first (their pollfd entries match the vector as it was), then accepts.
      now = Clock::now();
      for (std::size_t i = 0; i < connections.size(); ++i) {
        auto& c = connections[i];
        const short revents = fds[i + 2].revents;
        bool keep = now < c.deadline;
        if (keep && (revents & (POLLIN | POLLOUT | POLLERR | POLLHUP)) != 0) keep = serve(c, now);
        if (!keep) c.fd.reset();
      }
      std::erase_if(connections, [](const Connection& c) { return !c.fd.valid(); });
      if (fds[1].revents & POLLIN) accept_some(now);
    }
  }

  void accept_some(Clock::time_point now) {
    for (int i = 0; i < kAcceptsPerRound; ++i) {
      UniqueFd fd(accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!fd.valid()) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) {
          return;
        }
        if (log.allow()) spdlog::warn("metrics: accept failed: {}", std::strerror(errno));
        accept_resume = now + kAcceptPause;
        return;
      }
      if (connections.size() >= limits.max_connections) continue;  // closed at once
      Connection c;
      c.fd = std::move(fd);
      c.deadline = now + limits.timeout;
      connections.push_back(std::move(c));
    }
  }

  // Advances one connection; false when it is done (or broken) and is to be closed.
  bool serve(Connection& c, Clock::time_point now) {
    if (!c.writing) {
      char buffer[2048];
      for (;;) {
        const std::size_t room = limits.max_request - c.in.size();
        const ssize_t n = recv(c.fd.get(), buffer, std::min(room, sizeof buffer), 0);
        if (n == 0) return false;
        if (n < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
          return false;
        }
        c.in.append(buffer, static_cast<std::size_t>(n));
        if (auto length = http_head_length(c.in); length != 0) {
          bool head_only = false;
          auto route = route_http_request(std::string_view(c.in).substr(0, length), head_only);
          respond(c, route, head_only, now);
          break;
        }
        if (c.in.size() >= limits.max_request) {
          respond(c, HttpRoute::TooLarge, false, now);
          break;
        }
      }
    }
    while (c.sent < c.out.size()) {
      const ssize_t n =
          send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK;
      }
      c.sent += static_cast<std::size_t>(n);
    }
    shutdown(c.fd.get(), SHUT_WR);
    return false;
  }

  void respond(Connection& c, HttpRoute route, bool head_only, Clock::time_point now) {
    c.writing = true;
    c.deadline = now + limits.timeout;  // a fresh allowance to read the answer
    std::string body;
    if (route == HttpRoute::Metrics) {
      try {
        body = render();
      } catch (const std::exception& error) {
        // Out of memory or the like: this scrape fails, the server goes on.
        if (log.allow()) spdlog::error("metrics: cannot render: {}", error.what());
        route = HttpRoute::Unavailable;
      }
    }
    c.out = http_response(route, body, head_only);
    c.in.clear();
    c.in.shrink_to_fit();
  }
};

MetricsHttpServer::MetricsHttpServer(const SocketAddress& listen, Render render,
                                     MetricsHttpLimits limits)
    : impl_(std::make_unique<Impl>()) {
  impl_->render = std::move(render);
  impl_->limits = limits;
  auto fail = [&](const char* what) {
    throw ConfigError("--metrics-listen",
                      listen.to_string() + ": " + what + ": " + std::strerror(errno));
  };
  impl_->stop_fd.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!impl_->stop_fd.valid()) fail("eventfd");
  impl_->listener.reset(::socket(listen.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  const int fd = impl_->listener.get();
  if (fd < 0) fail("socket");
  int on = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) fail("SO_REUSEADDR");
  if (listen.family() == AF_INET6 &&
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0) {
    fail("IPV6_V6ONLY");
  }
  if (::bind(fd, listen.get(), listen.length()) != 0) fail("bind");
  if (::listen(fd, 64) != 0) fail("listen");
}

MetricsHttpServer::~MetricsHttpServer() { stop(); }

void MetricsHttpServer::start() {
  impl_->thread = std::thread([this] { impl_->run(); });
}

void MetricsHttpServer::stop() {
  if (!impl_->thread.joinable()) return;
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(impl_->stop_fd.get(), &one, sizeof one);
  impl_->thread.join();
  impl_->connections.clear();
}

SocketAddress MetricsHttpServer::local_address() const {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  getsockname(impl_->listener.get(), reinterpret_cast<sockaddr*>(&storage), &length);
  return SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&storage), length);
}

}  // namespace ntsd::server
