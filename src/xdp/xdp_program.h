// The XDP program on one interface: loaded from the object embedded in ntsd,
// configured (NTP listen addresses, rate limit) and attached through a BPF link,
// so that the kernel detaches it when ntsd exits, however it exits.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/socket_address.h"
#include "common/unique_fd.h"
#include "server/rate_limit.h"
#include "server/xdp_settings.h"
#include "xdp/xdp_abi.h"

struct bpf_object;

namespace ntsd::xdp {

using XdpCounterArray = std::array<std::uint64_t, NTSD_XDP_COUNTER_COUNT>;

// The name of a counter of xdp_abi.h as the metrics label it: "rate", "fragment", ...
const char* xdp_counter_name(unsigned counter);

// The program loaded and configured (NTP listen addresses, rate limit) but not
// attached anywhere: what XdpProgram attaches, and what the unit tests run
// frames through. Throws server::ConfigError naming --xdp; `name` (the
// interface) starts its messages. With `bound_ifindex` (not 0) it is the build
// that asks the driver for receive timestamps, loaded bound to that device
// (BPF_F_XDP_DEV_BOUND_ONLY), which only native mode can attach.
class XdpObject {
 public:
  XdpObject(const std::string& name, const std::vector<SocketAddress>& listen,
            const server::RateLimitSettings& rate_limit, unsigned bound_ifindex = 0);
  ~XdpObject();
  XdpObject(const XdpObject&) = delete;
  XdpObject& operator=(const XdpObject&) = delete;

  [[nodiscard]] int program_fd() const { return program_fd_; }
  [[nodiscard]] int xsks_fd() const { return xsks_fd_; }
  // The program's counters, summed over the CPUs.
  [[nodiscard]] XdpCounterArray counters() const;

 private:
  void load(const server::RateLimitSettings& rate_limit, bool bound);
  void configure(const std::vector<SocketAddress>& listen,
                 const server::RateLimitSettings& rate_limit);
  int map_fd(const char* map) const;

  std::string name_;
  bpf_object* object_ = nullptr;
  int program_fd_ = -1;
  int counters_fd_ = -1;
  int xsks_fd_ = -1;
};

// Where the receive timestamps of an interface's requests come from.
struct RxTimestampSource {
  // The program asks the driver (XDP metadata kfunc) and puts its answer in
  // front of each frame; where the driver has none, the batch's clock read.
  bool driver = false;
  std::string why_not;  // without the driver: why, for the start log
};

class XdpProgram {
 public:
  // Loads, configures and attaches; throws server::ConfigError naming --xdp or
  // --xdp-mode when the kernel, the driver or the interface refuse. A program
  // of ntsd's left attached without a link (not by a running ntsd) is replaced.
  XdpProgram(const std::string& interface, server::XdpMode mode,
             const std::vector<SocketAddress>& listen, const server::RateLimitSettings& rate_limit);
  ~XdpProgram();
  XdpProgram(const XdpProgram&) = delete;
  XdpProgram& operator=(const XdpProgram&) = delete;

  // Hands the receive queue's frames for NTP to `socket_fd` (an AF_XDP socket).
  void add_socket(unsigned queue, int socket_fd);

  [[nodiscard]] const std::string& interface() const { return interface_; }
  [[nodiscard]] unsigned ifindex() const { return ifindex_; }
  // The mode it was attached in: native or generic.
  [[nodiscard]] server::XdpMode attached_mode() const { return attached_mode_; }
  // Receive queues of the interface (at most NTSD_XDP_MAX_QUEUES).
  [[nodiscard]] unsigned queue_count() const { return queue_count_; }
  [[nodiscard]] const RxTimestampSource& rx_timestamps() const { return rx_timestamps_; }
  // The program's counters, summed over the CPUs.
  [[nodiscard]] XdpCounterArray counters() const { return object_->counters(); }

 private:
  void load(server::XdpMode mode);
  void unbind(const std::string& why);
  void attach(server::XdpMode mode);

  std::string interface_;
  unsigned ifindex_ = 0;
  unsigned queue_count_ = 1;
  std::vector<SocketAddress> listen_;
  server::RateLimitSettings rate_limit_;
  server::XdpMode attached_mode_ = server::XdpMode::Native;
  RxTimestampSource rx_timestamps_;
  std::unique_ptr<XdpObject> object_;
  UniqueFd link_;  // closing it detaches the program
};

}  // namespace ntsd::xdp
