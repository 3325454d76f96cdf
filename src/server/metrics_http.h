// A deliberately small HTTP/1.x server for the metrics endpoint, on a thread of
// its own: GET (or HEAD) /metrics and nothing else, one request per connection.
// Untrusted input is bounded everywhere: the request head's size, the time a
// client may take, the connections open at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/socket_address.h"

namespace ntsd::server {

enum class HttpRoute {
  Metrics,           // 200 with the metrics
  BadRequest,        // 400: no request line we understand
  NotFound,          // 404: another path
  MethodNotAllowed,  // 405: another method
  TooLarge,          // 431: no end of the head within the size limit
  Unavailable,       // 503: the metrics could not be rendered
};

// Length of the request head up to and including the blank line that ends it
// ("\r\n\r\n", or "\n\n" from a lax client); 0 while it has not arrived.
std::size_t http_head_length(std::string_view received);

// The route for a complete request head. `head_only` is set for HEAD.
HttpRoute route_http_request(std::string_view head, bool& head_only);

// The whole response for `route`; `metrics` is the body for HttpRoute::Metrics.
std::string http_response(HttpRoute route, std::string_view metrics, bool head_only);

struct MetricsHttpLimits {
  std::size_t max_request = std::size_t{8} * 1024;  // request head, bytes
  std::chrono::milliseconds timeout{2000};          // to send the request; again to read the answer
  std::size_t max_connections = 8;                  // more are closed at once
};

class MetricsHttpServer {
 public:
  using Render = std::function<std::string()>;

  // Binds `listen`; throws ConfigError naming --metrics-listen on failure.
  MetricsHttpServer(const SocketAddress& listen, Render render, MetricsHttpLimits limits = {});
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  void start();
  void stop();
  [[nodiscard]] SocketAddress local_address() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ntsd::server
