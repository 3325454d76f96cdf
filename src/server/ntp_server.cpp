#include "server/ntp_server.h"

#include <linux/errqueue.h>
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
#include "server/reuseport_steering.h"
#include "server/tx_timestamps.h"
#include "time/clock_state.h"
#include "time/interleaved.h"

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
// Exchanges kept per worker for interleaved mode (48 bytes each).
constexpr std::size_t kInterleavedEntries = 16384;
// Responses per socket whose kernel transmit timestamp may still be on its way.
constexpr std::size_t kTxPending = 1024;
// A kernel transmit timestamp this much later than the written one belongs to
// another packet (the per-socket ids lost step): it is not used.
constexpr std::int64_t kMaxPlausibleGapNs = 1'000'000'000;
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
         const keys::PublishedKeyring& keyring, const RateLimitSettings& rate_limit, bool interleaved,
         TxTimestampSupport tx_support)
      : sockets_(std::move(sockets)), clock_(clock), keyring_(keyring), tx_support_(tx_support),
        stop_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), rate_limiter_(rate_limit),
        interleaved_(interleaved), table_(interleaved ? kInterleavedEntries : 1) {
    if (!stop_fd_.valid()) throw ConfigError("--ntp-workers", std::string("eventfd: ") + std::strerror(errno));
    buffers_ = std::make_unique<Buffers>();
    for (const auto& socket : sockets_) {
      auto state = std::make_unique<TxState>();
      state->enabled = enable_tx_timestamps(socket.get(), tx_support_.mode);
      if (!state->enabled && tx_support_.mode != TxTimestamping::None) {
        spdlog::warn("ntp: no kernel transmit timestamps on {}: {} (interleaved mode then carries "
                     "the timestamps read before sending)",
                     bound_address(socket.get()).to_string(), std::strerror(errno));
      }
      tx_states_.push_back(std::move(state));
    }
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
    total.rate_limited_dropped += rate_limiter_.counters().dropped.load(std::memory_order_relaxed);
    total.interleaved += interleaved_answers_.load(std::memory_order_relaxed);
    total.cookies_issued += cookies_issued_.load(std::memory_order_relaxed);
    total.unsynchronised_dropped += unsynchronised_dropped_.load(std::memory_order_relaxed);
    total.tx_timestamps += tx_timestamps_.load(std::memory_order_relaxed);
    total.tx_timestamps_unmatched += tx_unmatched_.load(std::memory_order_relaxed);
  }
  void add_gap(std::array<std::uint64_t, timesource::GapHistogram::kBuckets>& counts,
               std::uint64_t& negative) const {
    gaps_.add_to(counts, negative);
  }
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
    // Per reply: the transmit timestamp read for it and its interleaved entry.
    std::array<core::NtpTimestamp, kBatchSize> tx_written{};
    std::array<timesource::InterleavedTable::Handle, kBatchSize> tx_handle{};
    std::array<bool, kBatchSize> tx_stamped{};  // a kernel transmit timestamp was asked for
    struct alignas(cmsghdr) TxControl {
      std::array<std::uint8_t, kTxRequestControlLength> bytes;
    };
    std::array<TxControl, kBatchSize> tx_control{};
    // Error queue reads (transmit timestamps).
    std::array<std::array<std::uint8_t, 256>, kBatchSize> err_control{};
    std::array<mmsghdr, kBatchSize> err{};
    core::PendingResponse pending;
  };

  // Responses sent on one socket whose kernel transmit timestamp is awaited,
  // by their SOF_TIMESTAMPING_OPT_ID number.
  struct TxState {
    struct Sent {
      std::uint32_t id = 0;
      bool valid = false;
      core::NtpTimestamp written;
      timesource::InterleavedTable::Handle handle;
    };
    bool enabled = false;
    std::uint32_t next_id = 0;
    std::array<Sent, kTxPending> sent{};
  };

  // Records the replies [first, first + count) of this batch as sent on socket `index`.
  void note_sent(std::size_t index, unsigned first, unsigned count) {
    auto& state = *tx_states_[index];
    if (!state.enabled) return;
    auto& b = *buffers_;
    for (unsigned k = first; k < first + count; ++k) {
      if (!b.tx_stamped[k]) {
        if (tx_support_.ids_count_every_packet) ++state.next_id;
        continue;
      }
      const std::uint32_t id = state.next_id++;
      auto& slot = state.sent[id % kTxPending];
      slot = {id, true, b.tx_written[k], b.tx_handle[k]};
    }
  }

  // After a failed send nobody knows whether the kernel numbered the packet:
  // read what is queued, then restart the numbering from 0.
  void resync(std::size_t index) {
    auto& state = *tx_states_[index];
    if (!state.enabled) return;
    drain_errqueue(index);
    for (auto& slot : state.sent) slot.valid = false;
    state.next_id = 0;
    state.enabled = enable_tx_timestamps(sockets_[index].get(), tx_support_.mode);
  }

  // Reads the kernel's transmit timestamps from the socket's error queue.
  void drain_errqueue(std::size_t index) {
    auto& state = *tx_states_[index];
    if (!state.enabled) return;
    auto& b = *buffers_;
    const int fd = sockets_[index].get();
    for (int round = 0; round < 64; ++round) {
      for (unsigned i = 0; i < kBatchSize; ++i) {
        auto& h = b.err[i].msg_hdr;
        h = msghdr{};
        h.msg_control = b.err_control[i].data();
        h.msg_controllen = b.err_control[i].size();
      }
      const int n = recvmmsg(fd, b.err.data(), kBatchSize, MSG_ERRQUEUE | MSG_DONTWAIT, nullptr);
      if (n <= 0) return;
      for (int i = 0; i < n; ++i) read_tx_timestamp(state, b.err[i].msg_hdr);
      if (n < static_cast<int>(kBatchSize)) return;
    }
  }

  void read_tx_timestamp(TxState& state, msghdr& h) {
    const timespec* stamp = nullptr;
    const sock_extended_err* error = nullptr;
    for (auto* cmsg = CMSG_FIRSTHDR(&h); cmsg != nullptr; cmsg = CMSG_NXTHDR(&h, cmsg)) {
      if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_TIMESTAMPING) {
        stamp = &reinterpret_cast<const scm_timestamping*>(CMSG_DATA(cmsg))->ts[0];
      } else if ((cmsg->cmsg_level == SOL_IP && cmsg->cmsg_type == IP_RECVERR) ||
                 (cmsg->cmsg_level == SOL_IPV6 && cmsg->cmsg_type == IPV6_RECVERR)) {
        error = reinterpret_cast<const sock_extended_err*>(CMSG_DATA(cmsg));
      }
    }
    if (stamp == nullptr || error == nullptr || error->ee_errno != ENOMSG ||
        error->ee_origin != SO_EE_ORIGIN_TIMESTAMPING || (stamp->tv_sec == 0 && stamp->tv_nsec == 0)) {
      return;
    }
    auto& slot = state.sent[error->ee_data % kTxPending];
    if (!slot.valid || slot.id != error->ee_data) {
      tx_unmatched_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    slot.valid = false;
    const auto kernel = to_ntp(*stamp);
    const auto diff = static_cast<std::int64_t>(kernel.raw - slot.written.raw);
    const std::int64_t gap_ns = static_cast<std::int64_t>(static_cast<double>(diff) * 1e9 / 4294967296.0);
    if (gap_ns > kMaxPlausibleGapNs || gap_ns < -kMaxPlausibleGapNs) {
      tx_unmatched_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    tx_timestamps_.fetch_add(1, std::memory_order_relaxed);
    gaps_.add(gap_ns);
    // A kernel timestamp before the written one means the clock was stepped in
    // between: keep the written one.
    if (gap_ns >= 0 && slot.handle.sequence != 0) table_.update_transmit(slot.handle, kernel);
  }

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
        if (fds[i].revents & POLLERR) drain_errqueue(i - 1);
        if (fds[i].revents & POLLIN) serve_batch(i - 1);
      }
    }
  }

  // Handles one recvmmsg batch from `fd`; poll() brings us back if more wait.
  void serve_batch(std::size_t socket_index) {
    const int fd = sockets_[socket_index].get();
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

    // One keyring and one clock state for the batch: a rotation or a change of
    // the time source takes effect from the next one.
    const auto& keyring = keyring_.current();
    const auto& clock_state = clock_.current();
    if (!clock_state.answer) {
      // Unsynchronised, and the operator asked for silence (--unsynchronised drop).
      unsynchronised_dropped_.fetch_add(static_cast<std::uint64_t>(received), std::memory_order_relaxed);
      return;
    }
    unsigned replies = 0;
    unsigned sent = 0;
    for (int i = 0; i < received; ++i) {
      auto& h = b.rx[i].msg_hdr;
      core::ByteView request{b.request[i].data(), b.rx[i].msg_len};
      auto rx_time = receive_time(h);
      const auto client = timesource::client_key(static_cast<const sockaddr*>(h.msg_name));
      // Every saved receive timestamp names one exchange (RFC 9769).
      if (interleaved_) rx_time = table_.unique_receive(client, rx_time);
      auto clock = clock_state.at(rx_time);
      // Rate limit (server/rate_limit.h): over it, mostly dropped unread, sometimes a RATE kiss.
      auto verdict = rate_limiter_.check(static_cast<const sockaddr*>(h.msg_name));
      if (verdict == RateVerdict::Drop) continue;
      auto decision = core::prepare_response(
          request, rx_time, clock, keyring, random_, b.pending,
          verdict == RateVerdict::Kiss ? core::Reply::RateKiss : core::Reply::Normal);
      count(decision);
      if (decision.action != core::Action::Respond) {
        log_reject(decision, h);
        continue;
      }
      if (decision.is_nak()) log_reject(decision, h);
      // Interleaved mode (RFC 9769): the request's origin names an earlier
      // exchange of this client; answer with that response's transmit
      // timestamp (the kernel's, once it arrived). Anything else is basic mode.
      const bool answered = decision.reason == core::Reason::Answered;
      if (answered && b.pending.cookie_count() != 0) {
        cookies_issued_.fetch_add(b.pending.cookie_count(), std::memory_order_relaxed);
      }
      if (interleaved_ && answered && b.pending.interleaved_candidate()) {
        if (auto previous = table_.lookup(client, b.pending.request_origin())) {
          if (core::make_interleaved(b.pending, *previous)) {
            interleaved_answers_.fetch_add(1, std::memory_order_relaxed);
          }
        }
      }
      // The clock is read as late as possible: cookies and nonce are ready, only
      // the header and the authenticator's seal remain.
      auto tx_time = realtime_now();
      if (tx_time == rx_time) ++tx_time.raw;  // a transmit timestamp never equals the receive one
      auto length = core::complete_response(b.pending, tx_time, b.response[replies]);
      b.tx_written[replies] = tx_time;
      b.tx_handle[replies] = interleaved_ && answered ? table_.save(client, rx_time, tx_time)
                                                      : timesource::InterleavedTable::Handle{};
      b.tx_iov[replies] = {b.response[replies].data(), length};
      auto& th = b.tx[replies].msg_hdr;
      th = msghdr{};
      th.msg_name = &b.peer[i];
      th.msg_namelen = h.msg_namelen;
      th.msg_iov = &b.tx_iov[replies];
      th.msg_iovlen = 1;
      // A client in interleaved mode names this response in its next request.
      const bool stamp = tx_support_.mode == TxTimestamping::EveryPacket ||
                         (interleaved_ && answered && b.pending.interleaved_candidate()) ||
                         ++gap_sample_ % kGapSampleEvery == 0;
      b.tx_stamped[replies] = stamp;
      if (stamp && tx_support_.mode == TxTimestamping::OnRequest) {
        request_tx_timestamp(th, b.tx_control[replies].bytes.data());
      }
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
    if (replies > 0) drain_errqueue(socket_index);
  }

  // Sends the replies [first, end) of this batch on socket `socket_index`.
  void send(std::size_t socket_index, unsigned first, unsigned end) {
    auto& b = *buffers_;
    const int fd = sockets_[socket_index].get();
    unsigned sent = first;
    while (sent < end) {
      int n = sendmmsg(fd, b.tx.data() + sent, end - sent, 0);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        if (send_log_.allow()) spdlog::warn("ntp: sendmmsg failed: {}", std::strerror(errno));
        resync(socket_index);
        return;
      }
      note_sent(socket_index, sent, static_cast<unsigned>(n));
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
  timesource::ClockReader clock_;
  keys::KeyringReader keyring_;
  TxTimestampSupport tx_support_;
  std::uint32_t gap_sample_ = 0;
  UniqueFd stop_fd_;
  RateLimiter rate_limiter_;
  std::unique_ptr<Buffers> buffers_;
  core::BufferedRandom random_;
  LogLimiter reject_log_{10.0, 50.0};
  LogLimiter send_log_{1.0, 5.0};
  std::array<std::atomic<std::uint64_t>, kReasonCount> plain_{};
  std::array<std::atomic<std::uint64_t>, kReasonCount> nts_{};
  bool interleaved_;
  timesource::InterleavedTable table_;
  std::vector<std::unique_ptr<TxState>> tx_states_;
  timesource::GapHistogram gaps_;
  std::atomic<std::uint64_t> interleaved_answers_{0};
  std::atomic<std::uint64_t> cookies_issued_{0};
  std::atomic<std::uint64_t> unsynchronised_dropped_{0};
  std::atomic<std::uint64_t> tx_timestamps_{0};
  std::atomic<std::uint64_t> tx_unmatched_{0};
  std::thread thread_;
};

NtpServer::NtpServer(const std::vector<SocketAddress>& listen, unsigned workers,
                     const timesource::PublishedClock& clock, const keys::PublishedKeyring& keyring,
                     const RateLimitSettings& rate_limit, bool interleaved) {
  std::vector<std::vector<UniqueFd>> sockets(workers);
  for (const auto& address : listen) {
    if (workers > 1 && address_in_use(address, SOCK_DGRAM)) {
      throw ConfigError("--ntp-listen", address.to_string() + ": bind: " + std::strerror(EADDRINUSE));
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
      spdlog::warn("ntp: {}: cannot steer clients to workers by address ({}): interleaved requests "
                   "that reach another worker are answered in basic mode",
                   target.to_string(), std::strerror(errno));
    }
  }
  const auto tx_support = probe_tx_timestamping();
  switch (tx_support.mode) {
    case TxTimestamping::OnRequest:
      spdlog::info("ntp: kernel transmit timestamps for clients in interleaved mode and 1 in {} "
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
    workers_.push_back(std::make_unique<Worker>(std::move(worker_sockets), clock, keyring,
                                                rate_limit, interleaved, tx_support));
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

timesource::GapSummary NtpServer::transmit_gap() const {
  std::array<std::uint64_t, timesource::GapHistogram::kBuckets> counts{};
  std::uint64_t negative = 0;
  for (const auto& worker : workers_) worker->add_gap(counts, negative);
  return timesource::GapHistogram::summarize(counts, negative);
}

std::vector<SocketAddress> NtpServer::local_addresses() const {
  std::vector<SocketAddress> out;
  if (workers_.empty()) return out;
  for (const auto& socket : workers_.front()->sockets()) out.push_back(bound_address(socket.get()));
  return out;
}

}  // namespace ntsd::server
