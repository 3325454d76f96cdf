// One AF_XDP socket on one receive queue and the thread that serves it: frames
// from the RX ring, each reply built in a UMEM frame of its own (umem_frames.h),
// sent through the TX ring (sendto() kicks), frames returned through the
// completion ring.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "core/ntp_packet.h"
#include "server/ntp_exchange.h"
#include "xdp/umem_frames.h"

struct xsk_socket;
struct xsk_umem;

namespace ntsd::xdp {

class XdpProgram;

// The protocol side of the AF_XDP path: one per worker, never shared.
class XdpPacketHandler {
 public:
  virtual ~XdpPacketHandler() = default;
  // Once per batch, before its first handle(): the clock state and keys to use.
  virtual void begin_batch() = 0;
  // The reply's UDP payload written into `out`, and its length; 0: no reply.
  virtual std::size_t handle(std::span<const std::uint8_t> request, const sockaddr* peer,
                             socklen_t peer_length, core::NtpTimestamp rx_time,
                             std::span<std::uint8_t> out) = 0;
  // Adds the requests it handled, by kind and outcome, to `total` (any thread).
  virtual void add_counters(server::NtpCounters& total) const = 0;
  // The batch's replies are on the TX ring and the kick that sends them comes
  // next: the latest moment this path sees before a reply leaves.
  virtual void before_kick() {}
};

struct XskStats {
  std::uint64_t rx_packets = 0;      // frames taken off the RX ring
  std::uint64_t tx_packets = 0;      // replies put on the TX ring
  std::uint64_t invalid_frames = 0;  // not a UDP frame this path answers (udp_frame.h)
  std::uint64_t tx_ring_full = 0;    // replies dropped: the TX ring stayed full
  // Receive timestamps by source: the driver's (XDP metadata kfunc), the batch's
  // clock read, and the clock read because the driver's was implausible.
  std::uint64_t rx_time_driver = 0;
  std::uint64_t rx_time_clock = 0;
  std::uint64_t rx_time_driver_implausible = 0;
  // The kernel's XDP_STATISTICS for the socket.
  std::uint64_t kernel_rx_dropped = 0;
  std::uint64_t kernel_rx_ring_full = 0;
  std::uint64_t kernel_fill_ring_empty = 0;
  std::uint64_t kernel_tx_ring_empty = 0;
  XskStats& operator+=(const XskStats& other);
};

class XskWorker {
 public:
  // Creates the UMEM and the socket on `queue` of the program's interface (zero
  // copy where the driver offers it, else copy mode) and registers it with the
  // program. Throws server::ConfigError naming --xdp.
  XskWorker(XdpProgram& program, unsigned queue, std::unique_ptr<XdpPacketHandler> handler);
  ~XskWorker();
  XskWorker(const XskWorker&) = delete;
  XskWorker& operator=(const XskWorker&) = delete;

  void start();
  void stop();

  [[nodiscard]] bool zero_copy() const { return zero_copy_; }
  [[nodiscard]] unsigned queue() const { return queue_; }
  [[nodiscard]] XskStats stats() const;
  void add_counters(server::NtpCounters& total) const { handler_->add_counters(total); }

 private:
  struct Rings;
  struct Pending {
    std::uint64_t address;
    std::uint32_t length;
  };

  void create_socket(const std::string& interface, bool zero_copy);
  void run();
  bool serve_batch();
  std::size_t answer(const std::uint8_t* request, std::uint32_t length, std::size_t room,
                     core::NtpTimestamp rx_time, std::uint8_t* reply);
  core::NtpTimestamp receive_time(std::uint8_t* frame, core::NtpTimestamp clock_time);
  void log_first_timestamp(const char* what, int error);
  void transmit(unsigned count);
  void kick();
  // Replies on the TX ring the kernel has not taken yet.
  std::uint32_t tx_unsent();
  void reclaim_completions();
  void refill();

  unsigned queue_;
  std::string interface_;
  bool driver_timestamps_;  // the program puts the driver's in front of each frame
  bool logged_timestamp_ = false;
  std::unique_ptr<XdpPacketHandler> handler_;
  std::unique_ptr<Rings> rings_;
  void* area_ = nullptr;  // the UMEM: mmap'ed once, fixed size
  xsk_umem* umem_ = nullptr;
  xsk_socket* socket_ = nullptr;
  bool zero_copy_ = false;
  UmemFrames frames_;             // request frames (fill ring) and reply frames (TX ring)
  std::vector<Pending> pending_;  // replies of the current batch
  std::uint32_t in_flight_ = 0;   // replies on the TX ring not yet completed
  UniqueFd stop_fd_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};  // checked between batches, the eventfd wakes poll()
  std::atomic<std::uint64_t> rx_packets_{0};
  std::atomic<std::uint64_t> tx_packets_{0};
  std::atomic<std::uint64_t> invalid_frames_{0};
  std::atomic<std::uint64_t> tx_ring_full_{0};
  std::atomic<std::uint64_t> rx_time_driver_{0};
  std::atomic<std::uint64_t> rx_time_implausible_{0};
};

}  // namespace ntsd::xdp
