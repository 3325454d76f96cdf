#include "server/ntp_server.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "core/random.h"
#include "server/clock.h"
#include "server/config.h"
#include "server/log.h"

namespace ntsd::server {

namespace {

// Packets taken per recvmmsg call: enough to amortise the system call, small
// enough that the first packet of a batch is not kept waiting.
constexpr unsigned kBatchSize = 32;
// One byte beyond the largest request we handle, so oversized ones are seen as such.
constexpr std::size_t kReceiveBufferLength = core::kMaxNtpPacketLength + 1;

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
  Worker(std::vector<UniqueFd> sockets, const TimeSource& time, const keys::PublishedKeyring& keyring)
      : sockets_(std::move(sockets)), time_(time), keyring_(keyring),
        stop_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (!stop_fd_.valid()) throw ConfigError("--ntp-workers", std::string("eventfd: ") + std::strerror(errno));
    buffers_ = std::make_unique<Buffers>();
  }
  ~Worker() { stop(); }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start() { thread_ = std::thread([this] { run(); }); }
  void stop() {
    if (!thread_.joinable()) return;
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stop_fd_.get(), &one, sizeof one);
    thread_.join();
  }

  void add_counters(NtpCounters& total) const {
    for (std::size_t i = 0; i < kReasonCount; ++i) {
      total.plain[i] += plain_[i].load(std::memory_order_relaxed);
      total.nts[i] += nts_[i].load(std::memory_order_relaxed);
    }
  }
  [[nodiscard]] const std::vector<UniqueFd>& sockets() const { return sockets_; }

 private:
  // Receive and send state for one batch, reused for every batch: no per-packet
  // allocation. Heap-allocated once because it is large.
  struct Buffers {
    std::array<std::array<std::uint8_t, kReceiveBufferLength>, kBatchSize> request{};
    std::array<std::array<std::uint8_t, core::kMaxNtpPacketLength>, kBatchSize> response{};
    std::array<sockaddr_storage, kBatchSize> peer{};
    std::array<std::array<std::uint8_t, CMSG_SPACE(sizeof(timespec)) * 2>, kBatchSize> control{};
    std::array<iovec, kBatchSize> rx_iov{};
    std::array<mmsghdr, kBatchSize> rx{};
    std::array<iovec, kBatchSize> tx_iov{};
    std::array<mmsghdr, kBatchSize> tx{};
    core::PendingResponse pending;
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
        if (fds[i].revents & POLLIN) serve_batch(fds[i].fd);
      }
    }
  }

  // Handles one recvmmsg batch from `fd`; poll() brings us back if more wait.
  void serve_batch(int fd) {
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
    int received = recvmmsg(fd, b.rx.data(), kBatchSize, MSG_DONTWAIT, nullptr);
    if (received <= 0) return;

    // One keyring for the batch: a rotation takes effect from the next one.
    const auto& keyring = keyring_.current();
    unsigned replies = 0;
    for (int i = 0; i < received; ++i) {
      auto& h = b.rx[i].msg_hdr;
      core::ByteView request{b.request[i].data(), b.rx[i].msg_len};
      auto rx_time = receive_time(h);
      auto clock = time_.describe(rx_time);
      auto decision = core::prepare_response(request, rx_time, clock, keyring, random_, b.pending);
      count(decision);
      if (decision.action != core::Action::Respond) {
        log_reject(decision, h);
        continue;
      }
      if (decision.is_nak()) log_reject(decision, h);
      // The clock is read as late as possible: cookies and nonce are ready, only
      // the header and the authenticator's seal remain.
      auto length = core::complete_response(b.pending, realtime_now(), b.response[replies]);
      b.tx_iov[replies] = {b.response[replies].data(), length};
      auto& th = b.tx[replies].msg_hdr;
      th = msghdr{};
      th.msg_name = &b.peer[i];
      th.msg_namelen = h.msg_namelen;
      th.msg_iov = &b.tx_iov[replies];
      th.msg_iovlen = 1;
      ++replies;
    }
    unsigned sent = 0;
    while (sent < replies) {
      int n = sendmmsg(fd, b.tx.data() + sent, replies - sent, 0);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        if (send_log_.allow()) spdlog::warn("ntp: sendmmsg failed: {}", std::strerror(errno));
        break;
      }
      sent += static_cast<unsigned>(n);
    }
  }

  void count(const core::Decision& decision) {
    auto& table = decision.kind == core::RequestKind::Nts ? nts_ : plain_;
    table[static_cast<std::size_t>(decision.reason)].fetch_add(1, std::memory_order_relaxed);
  }

  void log_reject(const core::Decision& decision, const msghdr& h) {
    if (!spdlog::should_log(spdlog::level::debug) || !reject_log_.allow()) return;
    auto peer = SocketAddress::from_sockaddr(static_cast<const sockaddr*>(h.msg_name), h.msg_namelen);
    spdlog::debug("ntp: {}: {} request {}: {}", peer.to_string(),
                  decision.kind == core::RequestKind::Nts ? "NTS" : "plain",
                  decision.is_nak() ? "answered with NTS NAK" : "dropped",
                  core::reason_name(decision.reason));
  }

  std::vector<UniqueFd> sockets_;
  const TimeSource& time_;
  keys::KeyringReader keyring_;
  UniqueFd stop_fd_;
  std::unique_ptr<Buffers> buffers_;
  core::SystemRandom random_;
  LogLimiter reject_log_{10.0, 50.0};
  LogLimiter send_log_{1.0, 5.0};
  std::array<std::atomic<std::uint64_t>, kReasonCount> plain_{};
  std::array<std::atomic<std::uint64_t>, kReasonCount> nts_{};
  std::thread thread_;
};

NtpServer::NtpServer(const std::vector<SocketAddress>& listen, unsigned workers,
                     const TimeSource& time, const keys::PublishedKeyring& keyring) {
  std::vector<std::vector<UniqueFd>> sockets(workers);
  for (const auto& address : listen) {
    // Port 0 asks the kernel for a port; every worker then binds that same one.
    auto target = address;
    for (unsigned w = 0; w < workers; ++w) {
      sockets[w].push_back(open_udp_socket(target, workers > 1));
      if (w == 0) target = bound_address(sockets[w].back().get());
    }
  }
  for (auto& worker_sockets : sockets) {
    workers_.push_back(std::make_unique<Worker>(std::move(worker_sockets), time, keyring));
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
  for (const auto& worker : workers_) worker->add_counters(total);
  return total;
}

std::vector<SocketAddress> NtpServer::local_addresses() const {
  std::vector<SocketAddress> out;
  if (workers_.empty()) return out;
  for (const auto& socket : workers_.front()->sockets()) out.push_back(bound_address(socket.get()));
  return out;
}

}  // namespace ntsd::server
