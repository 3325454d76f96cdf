// The AF_XDP path on every --xdp interface: its XDP program and one worker per
// receive queue. Built after the NTP sockets (it takes their bound addresses)
// and before privileges are dropped (it needs CAP_BPF, CAP_NET_ADMIN and
// CAP_NET_RAW); afterwards it needs none.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "common/socket_address.h"
#include "server/rate_limit.h"
#include "server/xdp_metrics.h"
#include "server/xdp_settings.h"
#include "xdp/xdp_program.h"
#include "xdp/xsk_worker.h"

namespace ntsd::xdp {

class XdpPath {
 public:
  using HandlerFactory = std::function<std::unique_ptr<XdpPacketHandler>()>;

  // Throws server::ConfigError naming --xdp or --xdp-mode; whatever was
  // attached before the failure is detached again.
  XdpPath(const server::XdpSettings& settings, const std::vector<SocketAddress>& listen,
          const server::RateLimitSettings& rate_limit, const HandlerFactory& make_handler);
  ~XdpPath();
  XdpPath(const XdpPath&) = delete;
  XdpPath& operator=(const XdpPath&) = delete;

  void start();
  void stop();
  void log_started() const;

  [[nodiscard]] server::XdpMetrics metrics() const;

 private:
  std::vector<std::unique_ptr<XdpProgram>> programs_;
  std::vector<std::unique_ptr<XskWorker>> workers_;
};

}  // namespace ntsd::xdp
