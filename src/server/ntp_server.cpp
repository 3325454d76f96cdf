#include "server/ntp_server.h"

#include <linux/errqueue.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "server/config.h"
#include "server/log.h"
#include "server/reuseport_steering.h"
#include "server/tx_timestamps.h"
#include "time/clock.h"

namespace ntsd::server {

namespace {

// Packets taken per recvmmsg call: enough to amortise the system call, small
// enough that the first packet of a batch is not kept waiting.
constexpr unsigned kBatchSize = 32;
// Replies per sendmmsg call: few enough that a reply's transmit timestamp is not
// written long before the packet leaves (see the transmit gap statistic).
constexpr unsigned kSendGroup = 8;
// One byte beyond the largest request we handle, so oversized ones are seen as such.
constexpr std::size_t kReceiveBufferLength = core::kMaxNtpPacketLength + 1;
// Room for SCM_TIMESTAMPNS and an SCM_TIMESTAMPING the kernel may add once
// SO_TIMESTAMPING is on (it reports software receive timestamps too).
constexpr std::size_t kControlLength =
    CMSG_SPACE(sizeof(timespec)) + CMSG_SPACE(sizeof(scm_timestamping)) + 64;
// Besides the responses to clients in interleaved mode, one in this many gets a
// kernel transmit timestamp, for the transmit gap statistic (tx_timestamps.h).
constexpr std::uint32_t kGapSampleEvery = 16;

UniqueFd open_udp_socket(const SocketAddress& address, bool reuse_port) {
  UniqueFd fd(::socket(address.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  auto fail = [&](const char* what) {
    throw ConfigError("--ntp-listen",
                      address.to_string() + ": " + what + ": " + std::strerror(errno));
  };
  if (!fd.valid()) fail("socket");
  int on = 1;
  if (address.family() == AF_INET6 &&
      setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0) {
    fail("IPV6_V6ONLY");
  }
  if (reuse_port && setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
    fail("SO_REUSEPORT");
  }
  // Receive timestamps from the kernel, taken when the packet arrived rather
  // than when a worker got round to it.
  if (setsockopt(fd.get(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) != 0) {
    fail("SO_TIMESTAMPNS");
  }
  if (::bind(fd.get(), address.get(), address.length()) != 0) fail("bind");
  return fd;
}

SocketAddress bound_address(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length);
  return SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&storage), length);
}

core::NtpTimestamp receive_time(msghdr& header) {
  for (auto* cmsg = CMSG_FIRSTHDR(&header); cmsg != nullptr; cmsg = CMSG_NXTHDR(&header, cmsg)) {
    if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_TIMESTAMPNS) {
      timespec ts{};
      std::memcpy(&ts, CMSG_DATA(cmsg), sizeof ts);
      return to_ntp(ts);
    }
  }
  return realtime_now();
}

}  // namespace

class NtpServer::Worker {
 public:
  Worker(std::vector<UniqueFd> sockets, const timesource::PublishedClock& clock,
         const keys::PublishedKeyring& keyring, const NtpExchangeSettings& settings,
         TxTimestampSupport tx_support)
      : sockets_(std::move(sockets)),
        exchange_(clock, keyring, settings),
        tx_support_(tx_support),
        stop_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (!stop_fd_.valid()) {
      throw ConfigError("--ntp-workers", std::string("eventfd: ") + std::strerror(errno));
    }
    buffers_ = std::make_unique<Buffers>();
    for (const auto& socket : sockets_) {
      tx_queues_.push_back(std::make_unique<TxTimestampQueue>(socket.get(), tx_support_));
      if (!tx_queues_.back()->enabled() && tx_support_.mode != TxTimestamping::None) {
        spdlog::warn(
            "ntp: no kernel transmit timestamps on {}: {} (interleaved mode then carries "
            "the timestamps read before sending)",
            bound_address(socket.get()).to_string(), std::strerror(errno));
      }
    }
  }
  ~Worker() { stop(); }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start() {
    thread_ = std::thread([this] { run(); });
  }
  void stop() {
    if (!thread_.joinable()) return;
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stop_fd_.get(), &one, sizeof one);
    thread_.join();
  }

  [[nodiscard]] const NtpExchange& exchange() const { return exchange_; }
  [[nodiscard]] const std::vector<UniqueFd>& sockets() const { return sockets_; }

 private:
  // Receive and send state for one batch, reused for every batch: no per-packet
  // allocation. Heap-allocated once because it is large.
  struct Buffers {
    std::array<std::array<std::uint8_t, kReceiveBufferLength>, kBatchSize> request{};
    std::array<std::array<std::uint8_t, core::kMaxNtpPacketLength>, kBatchSize> response{};
    std::array<sockaddr_storage, kBatchSize> peer{};
    std::array<std::array<std::uint8_t, kControlLength>, kBatchSize> control{};
    std::array<iovec, kBatchSize> rx_iov{};
    std::array<mmsghdr, kBatchSize> rx{};
    std::array<iovec, kBatchSize> tx_iov{};
    std::array<mmsghdr, kBatchSize> tx{};
    std::array<NtpReply, kBatchSize> reply{};
    std::array<bool, kBatchSize> tx_stamped{};  // a kernel transmit timestamp was asked for
    struct alignas(cmsghdr) TxControl {
      std::array<std::uint8_t, kTxRequestControlLength> bytes;
    };
    std::array<TxControl, kBatchSize> tx_control{};
  };

  void run() {
    std::vector<pollfd> fds;
    fds.push_back({stop_fd_.get(), POLLIN, 0});
    for (const auto& socket : sockets_) fds.push_back({socket.get(), POLLIN, 0});
    for (;;) {
      if (poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        spdlog::error("ntp: poll failed: {}", std::strerror(errno));
        return;
      }
      if (fds[0].revents != 0) return;
      for (std::size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents & POLLERR) tx_queues_[i - 1]->drain(exchange_);
        if (fds[i].revents & POLLIN) serve_batch(i - 1);
      }
    }
  }

  // One recvmmsg call on `fd`: the number of requests received.
  int receive(int fd) {
    auto& b = *buffers_;
    for (unsigned i = 0; i < kBatchSize; ++i) {
      b.rx_iov[i] = {b.request[i].data(), b.request[i].size()};
      auto& h = b.rx[i].msg_hdr;
      h = msghdr{};
      h.msg_name = &b.peer[i];
      h.msg_namelen = sizeof b.peer[i];
      h.msg_iov = &b.rx_iov[i];
      h.msg_iovlen = 1;
      h.msg_control = b.control[i].data();
      h.msg_controllen = b.control[i].size();
    }
    return recvmmsg(fd, b.rx.data(), kBatchSize, MSG_DONTWAIT, nullptr);
  }

  // Handles one recvmmsg batch from socket `socket_index`; poll() brings us
  // back if more wait.
  void serve_batch(std::size_t socket_index) {
    const int received = receive(sockets_[socket_index].get());
    if (received <= 0) return;
    auto& b = *buffers_;
    exchange_.begin_batch();
    unsigned replies = 0;
    unsigned sent = 0;
    for (unsigned i = 0; i < static_cast<unsigned>(received); ++i) {
      auto& h = b.rx[i].msg_hdr;
      auto& reply = b.reply[replies];
      exchange_.handle({b.request[i].data(), b.rx[i].msg_len},
                       static_cast<const sockaddr*>(h.msg_name), receive_time(h),
                       b.response[replies], reply);
      if (reply.length == 0) continue;
      address_reply(replies, h, reply);
      ++replies;
      // Replies leave in groups: a whole batch would hold the first one back
      // (its transmit timestamp already written) while the others are sealed.
      if (replies - sent == kSendGroup) {
        send(socket_index, sent, replies);
        sent = replies;
      }
    }
    send(socket_index, sent, replies);
    // Software transmit timestamps are queued as the packets leave: read them
    // now, before the error queue eats into the receive buffer.
    if (replies > 0) tx_queues_[socket_index]->drain(exchange_);
  }

  // Fills the send header of reply `k` to the sender of `request`, asking for a
  // kernel transmit timestamp where one is wanted.
  void address_reply(unsigned k, const msghdr& request, const NtpReply& reply) {
    auto& b = *buffers_;
    b.tx_iov[k] = {b.response[k].data(), reply.length};
    auto& th = b.tx[k].msg_hdr;
    th = msghdr{};
    th.msg_name = request.msg_name;
    th.msg_namelen = request.msg_namelen;
    th.msg_iov = &b.tx_iov[k];
    th.msg_iovlen = 1;
    // A client in interleaved mode names this response in its next request.
    const bool stamp = tx_support_.mode == TxTimestamping::EveryPacket ||
                       reply.interleaved_client || ++gap_sample_ % kGapSampleEvery == 0;
    b.tx_stamped[k] = stamp;
    if (stamp && tx_support_.mode == TxTimestamping::OnRequest) {
      request_tx_timestamp(th, b.tx_control[k].bytes.data());
    }
  }

  // Sends the replies [first, end) of this batch on socket `socket_index`.
  void send(std::size_t socket_index, unsigned first, unsigned end) {
    auto& b = *buffers_;
    auto& queue = *tx_queues_[socket_index];
    const int fd = sockets_[socket_index].get();
    unsigned sent = first;
    while (sent < end) {
      int n = sendmmsg(fd, b.tx.data() + sent, end - sent, 0);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        if (send_log_.allow()) spdlog::warn("ntp: sendmmsg failed: {}", std::strerror(errno));
        queue.resync(exchange_);
        return;
      }
      for (unsigned k = sent; k < sent + static_cast<unsigned>(n); ++k) {
        queue.note_sent(b.tx_stamped[k], b.reply[k].clock_read, b.reply[k].handle);
      }
      sent += static_cast<unsigned>(n);
    }
  }

  std::vector<UniqueFd> sockets_;
  NtpExchange exchange_;
  TxTimestampSupport tx_support_;
  std::vector<std::unique_ptr<TxTimestampQueue>> tx_queues_;  // one per socket
  std::uint32_t gap_sample_ = 0;
  UniqueFd stop_fd_;
  std::unique_ptr<Buffers> buffers_;
  LogLimiter send_log_{1.0, 5.0};
  std::thread thread_;
};

NtpServer::NtpServer(const std::vector<SocketAddress>& listen, unsigned workers,
                     const timesource::PublishedClock& clock, const keys::PublishedKeyring& keyring,
                     const RateLimitSettings& rate_limit, bool interleaved, bool tx_compensation) {
  std::vector<std::vector<UniqueFd>> sockets(workers);
  for (const auto& address : listen) {
    if (workers > 1 && address_in_use(address, SOCK_DGRAM)) {
      throw ConfigError("--ntp-listen",
                        address.to_string() + ": bind: " + std::strerror(EADDRINUSE));
    }
    // Port 0 asks the kernel for a port; every worker then binds that same one.
    auto target = address;
    for (unsigned w = 0; w < workers; ++w) {
      sockets[w].push_back(open_udp_socket(target, workers > 1));
      if (w == 0) target = bound_address(sockets[w].back().get());
    }
    // Interleaved mode (RFC 9769) needs the worker that sent a client's previous
    // response, and each worker's per-prefix rate limit is only exact when a
    // prefix always meets the same worker.
    const unsigned prefix_bits = steering_prefix_bits(rate_limit, address.family());
    if (workers > 1 &&
        !steer_by_source_prefix(sockets[0].back().get(), address.family(), prefix_bits, workers)) {
      spdlog::warn(
          "ntp: {}: cannot steer clients to workers by address ({}): interleaved requests "
          "that reach another worker are answered in basic mode",
          target.to_string(), std::strerror(errno));
    }
  }
  const auto tx_support = probe_tx_timestamping();
  switch (tx_support.mode) {
    case TxTimestamping::OnRequest:
      spdlog::info(
          "ntp: kernel transmit timestamps for clients in interleaved mode and 1 in {} "
          "other responses",
          kGapSampleEvery);
      break;
    case TxTimestamping::EveryPacket:
      spdlog::info("ntp: kernel transmit timestamps for every response (no per-packet requests)");
      break;
    case TxTimestamping::None:
      break;
  }
  for (auto& worker_sockets : sockets) {
    workers_.push_back(std::make_unique<Worker>(
        std::move(worker_sockets), clock, keyring,
        NtpExchangeSettings{rate_limit, interleaved, tx_compensation}, tx_support));
  }
}

NtpServer::~NtpServer() { stop(); }

void NtpServer::start() {
  for (auto& worker : workers_) worker->start();
}

void NtpServer::stop() {
  for (auto& worker : workers_) worker->stop();
}

NtpCounters NtpServer::counters() const {
  NtpCounters total;
  for (const auto& worker : workers_) worker->exchange().add_counters(total);
  return total;
}

timesource::GapSummary NtpServer::transmit_gap() const {
  std::array<std::uint64_t, timesource::GapHistogram::kBuckets> counts{};
  std::uint64_t negative = 0;
  for (const auto& worker : workers_) worker->exchange().add_gap(counts, negative);
  return timesource::GapHistogram::summarize(counts, negative);
}

std::vector<SocketAddress> NtpServer::local_addresses() const {
  std::vector<SocketAddress> out;
  if (workers_.empty()) return out;
  for (const auto& socket : workers_.front()->sockets()) out.push_back(bound_address(socket.get()));
  return out;
}

}  // namespace ntsd::server
