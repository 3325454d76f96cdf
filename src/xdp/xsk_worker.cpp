#include "xdp/xsk_worker.h"

#include <linux/if_xdp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <xdp/xsk.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <optional>

#include "core/ntp_handler.h"
#include "server/config.h"
#include "server/log.h"
#include "time/clock.h"
#include "xdp/rx_timestamp.h"
#include "xdp/udp_frame.h"
#include "xdp/xdp_program.h"

namespace ntsd::xdp {

namespace {

// UMEM: 4096 frames of 2 KiB (8 MiB per socket): the first half receives (on
// the fill ring), the second half carries replies; the rings hold 2048
// descriptors each.
constexpr std::uint32_t kFrameSize = 2048;
constexpr std::uint32_t kFrames = 4096;
constexpr std::uint32_t kRingSize = 2048;
constexpr std::uint32_t kRxFrames = kRingSize;
// Request frames the kernel holds to receive into (on the fill ring or taken
// from it): what may arrive while the worker is away, more than the at most
// about 300 NTP requests a UDP socket's default receive buffer (212992 bytes,
// a request's skb takes 700 or more) holds. Not all 2048: the frames come
// back last in, first out, so fewer of them circulate and stay in the caches
// of the CPU that copies requests in (plain NTP 1.71 -> 1.59 µs an answer on
// the veth bench, all of it on the receiving CPU).
constexpr std::uint32_t kReceiving = 512;
// Frames per batch: also the most a copy-mode sendto() kick transmits.
constexpr std::uint32_t kBatchSize = 32;
// Kicks tried while the TX ring is full before the remaining replies are dropped.
constexpr int kTxFullRetries = 8;

[[noreturn]] void refuse(const std::string& interface, unsigned queue, const std::string& what,
                         int error) {
  throw server::ConfigError("--xdp", interface + " queue " + std::to_string(queue) + ": " + what +
                                         ": " + std::strerror(error));
}

// In copy mode the kernel has just written the frame on the CPU that received
// it, so the first touch of each of its cache lines misses. Fetching the next
// request's lines (and its metadata in front) while this one is answered hides
// that behind the work. For reading only: a request frame this CPU never
// writes is cheaper for the receiving CPU to take back for the next request.
void prefetch_frame(const std::uint8_t* frame, std::size_t length) {
  __builtin_prefetch(frame - sizeof(ntsd_xdp_meta), 0);
  for (std::size_t at = 0; at < length; at += 64) __builtin_prefetch(frame + at, 0);
}

}  // namespace

XskStats& XskStats::operator+=(const XskStats& other) {
  rx_packets += other.rx_packets;
  tx_packets += other.tx_packets;
  invalid_frames += other.invalid_frames;
  tx_ring_full += other.tx_ring_full;
  rx_time_driver += other.rx_time_driver;
  rx_time_clock += other.rx_time_clock;
  rx_time_driver_implausible += other.rx_time_driver_implausible;
  kernel_rx_dropped += other.kernel_rx_dropped;
  kernel_rx_ring_full += other.kernel_rx_ring_full;
  kernel_fill_ring_empty += other.kernel_fill_ring_empty;
  kernel_tx_ring_empty += other.kernel_tx_ring_empty;
  return *this;
}

struct XskWorker::Rings {
  xsk_ring_prod fill{};
  xsk_ring_cons completion{};
  xsk_ring_cons rx{};
  xsk_ring_prod tx{};
};

XskWorker::XskWorker(XdpProgram& program, unsigned queue, std::unique_ptr<XdpPacketHandler> handler)
    : queue_(queue),
      interface_(program.interface()),
      driver_timestamps_(program.rx_timestamps().driver),
      handler_(std::move(handler)),
      rings_(std::make_unique<Rings>()),
      frames_(kFrameSize, kFrames, kRxFrames),
      stop_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!stop_fd_.valid()) refuse(program.interface(), queue, "eventfd", errno);
  const std::size_t size = std::size_t{kFrames} * kFrameSize;
  area_ = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (area_ == MAP_FAILED) {
    area_ = nullptr;
    refuse(program.interface(), queue, "cannot map the UMEM", errno);
  }
  try {
    // Zero copy where the driver has it; veth and most virtual devices refuse.
    try {
      create_socket(program.interface(), true);
      zero_copy_ = true;
    } catch (const server::ConfigError&) {
      create_socket(program.interface(), false);
    }
    program.add_socket(queue, xsk_socket__fd(socket_));
  } catch (...) {
    if (socket_ != nullptr) xsk_socket__delete(socket_);
    if (umem_ != nullptr) xsk_umem__delete(umem_);
    munmap(area_, size);
    throw;
  }
  pending_.reserve(kBatchSize);
  refill();
}

void XskWorker::create_socket(const std::string& interface, bool zero_copy) {
  if (socket_ != nullptr) xsk_socket__delete(socket_);
  if (umem_ != nullptr) xsk_umem__delete(umem_);
  socket_ = nullptr;
  umem_ = nullptr;
  *rings_ = Rings{};
  xsk_umem_config umem_config{};
  umem_config.fill_size = kRingSize;
  umem_config.comp_size = kRingSize;
  umem_config.frame_size = kFrameSize;
  umem_config.frame_headroom = 0;
  int error = xsk_umem__create(&umem_, area_, std::uint64_t{kFrames} * kFrameSize, &rings_->fill,
                               &rings_->completion, &umem_config);
  if (error != 0) {
    umem_ = nullptr;
    refuse(interface, queue_, "cannot create the UMEM", -error);
  }
  xsk_socket_config config{};
  config.rx_size = kRingSize;
  config.tx_size = kRingSize;
  config.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;  // ntsd attaches its own program
  config.bind_flags =
      static_cast<std::uint16_t>(XDP_USE_NEED_WAKEUP | (zero_copy ? XDP_ZEROCOPY : XDP_COPY));
  error = xsk_socket__create(&socket_, interface.c_str(), queue_, umem_, &rings_->rx, &rings_->tx,
                             &config);
  if (error != 0) {
    socket_ = nullptr;
    refuse(interface, queue_,
           std::string("cannot create the AF_XDP socket (") + (zero_copy ? "zero-copy" : "copy") +
               " mode; needs CAP_NET_RAW)",
           -error);
  }
}

XskWorker::~XskWorker() {
  stop();
  xsk_socket__delete(socket_);
  xsk_umem__delete(umem_);
  munmap(area_, std::size_t{kFrames} * kFrameSize);
}

void XskWorker::start() {
  thread_ = std::thread([this] { run(); });
}

void XskWorker::stop() {
  if (!thread_.joinable()) return;
  stopping_.store(true, std::memory_order_relaxed);
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(stop_fd_.get(), &one, sizeof one);
  thread_.join();
}

XskStats XskWorker::stats() const {
  XskStats s;
  s.rx_packets = rx_packets_.load(std::memory_order_relaxed);
  s.tx_packets = tx_packets_.load(std::memory_order_relaxed);
  s.invalid_frames = invalid_frames_.load(std::memory_order_relaxed);
  s.tx_ring_full = tx_ring_full_.load(std::memory_order_relaxed);
  s.rx_time_driver = rx_time_driver_.load(std::memory_order_relaxed);
  s.rx_time_driver_implausible = rx_time_implausible_.load(std::memory_order_relaxed);
  s.rx_time_clock = s.rx_packets - std::min(s.rx_packets, s.rx_time_driver);
  xdp_statistics kernel{};
  socklen_t length = sizeof kernel;
  if (getsockopt(xsk_socket__fd(socket_), SOL_XDP, XDP_STATISTICS, &kernel, &length) == 0) {
    s.kernel_rx_dropped = kernel.rx_dropped;
    s.kernel_rx_ring_full = kernel.rx_ring_full;
    s.kernel_fill_ring_empty = kernel.rx_fill_ring_empty_descs;
    s.kernel_tx_ring_empty = kernel.tx_ring_empty_descs;
  }
  return s;
}

void XskWorker::run() {
  pollfd fds[2] = {{stop_fd_.get(), POLLIN, 0}, {xsk_socket__fd(socket_), POLLIN, 0}};
  for (;;) {
    // Batches back to back while the ring has frames; poll() only when idle.
    while (serve_batch()) {
      if (stopping_.load(std::memory_order_relaxed)) return;
    }
    // Replies a kick left on the TX ring (the kernel was busy) are not stranded
    // until the next request arrives: kick again now and after a millisecond.
    // Replies the kernel took but has not completed yet (it frees their
    // buffers later) need no kick, only the reclaim after the millisecond.
    if (in_flight_ > 0) {
      reclaim_completions();
      if (tx_unsent() > 0) kick();
    }
    const int timeout_ms = in_flight_ > 0 ? 1 : -1;
    if (poll(fds, 2, timeout_ms) < 0 && errno != EINTR) {
      spdlog::error("xdp: queue {}: poll failed: {}", queue_, std::strerror(errno));
      return;
    }
    if (fds[0].revents != 0) return;
  }
}

bool XskWorker::serve_batch() {
  reclaim_completions();
  refill();
  std::uint32_t index = 0;
  const std::uint32_t taken = xsk_ring_cons__peek(&rings_->rx, kBatchSize, &index);
  if (taken == 0) return false;
  // The receive timestamp of the batch's requests without the driver's: the
  // clock read as the batch comes off the ring, plus each one's index in it.
  const core::NtpTimestamp batch_read = server::realtime_now();
  handler_->begin_batch();
  pending_.clear();
  auto frame_of = [this](const xdp_desc* desc) {
    return static_cast<std::uint8_t*>(xsk_umem__get_data(area_, desc->addr));
  };
  const xdp_desc* first = xsk_ring_cons__rx_desc(&rings_->rx, index);
  prefetch_frame(frame_of(first), std::min(first->len, kFrameSize));
  for (std::uint32_t i = 0; i < taken; ++i) {
    const xdp_desc* desc = xsk_ring_cons__rx_desc(&rings_->rx, index + i);
    if (i + 1 < taken) {
      const xdp_desc* next = xsk_ring_cons__rx_desc(&rings_->rx, index + i + 1);
      prefetch_frame(frame_of(next), std::min(next->len, kFrameSize));
    }
    const std::uint64_t address = desc->addr;
    auto* frame = frame_of(desc);
    const std::size_t room = kFrameSize - (address % kFrameSize);
    const core::NtpTimestamp clock_time = batch_clock_time(batch_read, i);
    const core::NtpTimestamp rx_time =
        driver_timestamps_ ? receive_time(frame, clock_time) : clock_time;
    std::optional<std::uint64_t> reply_address = frames_.take_reply();
    if (!reply_address) {
      reclaim_completions();
      reply_address = frames_.take_reply();
    }
    if (!reply_address) {
      // Every reply frame is on the TX ring or in the kernel: as if the ring were full.
      tx_ring_full_.fetch_add(1, std::memory_order_relaxed);
    } else {
      auto* reply = static_cast<std::uint8_t*>(xsk_umem__get_data(area_, *reply_address));
      const std::size_t length = answer(frame, desc->len, room, rx_time, reply);
      if (length == 0) {
        frames_.give_back(*reply_address);
      } else {
        pending_.push_back({*reply_address, static_cast<std::uint32_t>(length)});
      }
    }
    frames_.give_back(address);
  }
  xsk_ring_cons__release(&rings_->rx, taken);
  rx_packets_.fetch_add(taken, std::memory_order_relaxed);
  transmit(static_cast<unsigned>(pending_.size()));
  return true;
}

// The reply is written into its own frame: the request's frame is only read
// here, and the reply's is only touched by this CPU (it writes the reply, the
// kernel copies it out on this CPU when kicked), so no cache line of either
// travels back and forth between this CPU and the one that received the request.
std::size_t XskWorker::answer(const std::uint8_t* request, std::uint32_t length, std::size_t room,
                              core::NtpTimestamp rx_time, std::uint8_t* reply) {
  const auto parsed = parse_udp_frame({request, std::min<std::size_t>(length, room)});
  if (!parsed.frame) {
    invalid_frames_.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  const UdpFrame& udp = *parsed.frame;
  const std::size_t out_room =
      std::min<std::size_t>(kFrameSize - udp.payload_offset, core::kMaxNtpPacketLength);
  const std::size_t payload =
      handler_->handle({request + udp.payload_offset, udp.payload_length},
                       reinterpret_cast<const sockaddr*>(&udp.peer), udp.peer_length, rx_time,
                       {reply + udp.payload_offset, out_room});
  if (payload == 0) return 0;
  // The request's headers, turned around in the reply's frame.
  std::memcpy(reply, request, udp.payload_offset);
  return build_reply({reply, kFrameSize}, udp, payload);
}

// The driver's timestamp from the metadata the program wrote in front of the
// frame (within the UMEM frame's headroom), if it is there and plausible.
core::NtpTimestamp XskWorker::receive_time(std::uint8_t* frame, core::NtpTimestamp clock_time) {
  ntsd_xdp_meta meta{};
  std::uint8_t* where = frame - sizeof meta;
  std::memcpy(&meta, where, sizeof meta);
  const RxTimestamp picked = pick_rx_timestamp(meta, clock_time);
  switch (picked.outcome) {
    case RxTimestampOutcome::NoMetadata:
      return picked.time;
    case RxTimestampOutcome::Driver:
      rx_time_driver_.fetch_add(1, std::memory_order_relaxed);
      log_first_timestamp("the driver's", 0);
      break;
    case RxTimestampOutcome::DriverError:
      log_first_timestamp("the driver gave none", -meta.error);
      break;
    case RxTimestampOutcome::DriverZero:
      log_first_timestamp("the driver gave 0 (no timestamp for the frame); the clock read is used",
                          0);
      break;
    case RxTimestampOutcome::DriverImplausible:
      rx_time_implausible_.fetch_add(1, std::memory_order_relaxed);
      log_first_timestamp(
          "the driver's is not on the system clock (more than 1 ms after the "
          "clock read or 1 s before it); the clock read is used",
          0);
      break;
  }
  // Cleared once read: a later frame in this UMEM frame without metadata of its
  // own must not be taken for one with it.
  const std::uint32_t cleared = 0;
  std::memcpy(where + offsetof(ntsd_xdp_meta, magic), &cleared, sizeof cleared);
  return picked.time;
}

// Once per worker: what the first request's receive timestamp was.
void XskWorker::log_first_timestamp(const char* what, int error) {
  if (logged_timestamp_) return;
  logged_timestamp_ = true;
  if (error == 0) {
    spdlog::info("xdp: {} queue {}: first request's receive timestamp: {}", interface_, queue_,
                 what);
  } else {
    spdlog::info(
        "xdp: {} queue {}: first request's receive timestamp: {} ({}); the clock read "
        "is used",
        interface_, queue_, what, std::strerror(error));
  }
}

void XskWorker::transmit(unsigned count) {
  unsigned sent = 0;
  int retries = 0;
  while (sent < count) {
    std::uint32_t index = 0;
    const std::uint32_t reserved = xsk_ring_prod__reserve(&rings_->tx, count - sent, &index);
    if (reserved == 0) {
      kick();
      reclaim_completions();
      if (++retries <= kTxFullRetries) continue;
      for (unsigned k = sent; k < count; ++k) frames_.give_back(pending_[k].address);
      tx_ring_full_.fetch_add(count - sent, std::memory_order_relaxed);
      break;
    }
    for (std::uint32_t k = 0; k < reserved; ++k) {
      xdp_desc* desc = xsk_ring_prod__tx_desc(&rings_->tx, index + k);
      desc->addr = pending_[sent + k].address;
      desc->len = pending_[sent + k].length;
    }
    xsk_ring_prod__submit(&rings_->tx, reserved);
    in_flight_ += reserved;
    sent += reserved;
  }
  if (sent > 0) {
    tx_packets_.fetch_add(sent, std::memory_order_relaxed);
    handler_->before_kick();
    kick();
  }
}

std::uint32_t XskWorker::tx_unsent() {
  return kRingSize - std::min(kRingSize, xsk_prod_nb_free(&rings_->tx, kRingSize));
}

void XskWorker::kick() {
  if (!xsk_ring_prod__needs_wakeup(&rings_->tx)) return;
  // EAGAIN, EBUSY, ENOBUFS: the kernel is still sending; the next kick resumes.
  [[maybe_unused]] auto n = sendto(xsk_socket__fd(socket_), nullptr, 0, MSG_DONTWAIT, nullptr, 0);
}

void XskWorker::reclaim_completions() {
  std::uint32_t index = 0;
  const std::uint32_t done = xsk_ring_cons__peek(&rings_->completion, kRingSize, &index);
  for (std::uint32_t i = 0; i < done; ++i) {
    frames_.give_back(*xsk_ring_cons__comp_addr(&rings_->completion, index + i));
  }
  if (done > 0) xsk_ring_cons__release(&rings_->completion, done);
  in_flight_ -= std::min(in_flight_, done);
}

void XskWorker::refill() {
  // Every request frame not in the pool is with the kernel: a frame taken off
  // the RX ring goes back to the pool within the same batch.
  const auto free = static_cast<std::uint32_t>(frames_.free_requests());
  const std::uint32_t receiving = kRxFrames - free;
  if (receiving >= kReceiving) return;
  const std::uint32_t wanted = std::min(kReceiving - receiving, free);
  const std::uint32_t n = std::min(xsk_prod_nb_free(&rings_->fill, wanted), wanted);
  if (n == 0) return;
  std::uint32_t index = 0;
  if (xsk_ring_prod__reserve(&rings_->fill, n, &index) != n) return;
  for (std::uint32_t i = 0; i < n; ++i) {
    *xsk_ring_prod__fill_addr(&rings_->fill, index + i) = frames_.take_request();
  }
  xsk_ring_prod__submit(&rings_->fill, n);
}

}  // namespace ntsd::xdp
