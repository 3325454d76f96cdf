#include "ntp_load.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <thread>

#include "client/ntp_client.h"
#include "core/aead.h"
#include "core/nts_client_codec.h"
#include "core/random.h"

namespace ntsd::bench {

namespace {

constexpr unsigned kBatch = 64;           // packets per sendmmsg / recvmmsg
constexpr std::size_t kPoolSize = 16384;  // distinct pre-built requests per thread
constexpr std::size_t kMaxPacket = 2048;  // NTS responses are never longer than requests
constexpr std::size_t kControlLength = 64;

std::uint64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

std::uint64_t load_be64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

// One request slot: a pre-built request (its transmit timestamp identifies the slot
// in the answer's origin timestamp) and, while in flight, when it was sent.
struct Slot {
  core::Bytes packet;
  core::NtsRequest nts;       // for verification (NTS only)
  std::uint64_t sent_ns = 0;  // 0 = not in flight
};

struct ThreadResult {
  std::uint64_t sent = 0, answered = 0, naks = 0, invalid = 0, unmatched = 0, lost = 0,
                send_errors = 0, skipped = 0;
  std::vector<std::uint32_t> latency_ns;
};

class LoadThread {
 public:
  LoadThread(const NtpLoadOptions& options, unsigned index)
      : o_(options), index_(index), slots_(kPoolSize) {
    if (o_.keys) {
      c2s_ = core::Aead::create(o_.keys->algorithm(), o_.keys->c2s());
      s2c_ = core::Aead::create(o_.keys->algorithm(), o_.keys->s2c());
      if (!c2s_ || !s2c_) throw client::ClientError("invalid NTS keys");
    }
    // Transmit timestamps near now, distinct per thread and slot: the answer's
    // origin timestamp minus base_ is the slot.
    base_ = (client::ntp_now().raw & 0xffffffff00000000ULL) + (std::uint64_t{index} << 24);
    core::SystemRandom random;
    for (std::size_t i = 0; i < kPoolSize; ++i) {
      core::NtpTimestamp t{base_ + i};
      if (c2s_) {
        const auto& cookie = o_.cookies[i % o_.cookies.size()];
        slots_[i].nts = core::build_nts_request(*c2s_, cookie, o_.placeholders, t, random);
        slots_[i].packet = slots_[i].nts.packet;
      } else {
        slots_[i].packet = core::build_plain_request(t);
      }
    }
    open_sockets();
    rx_ = std::make_unique<RxBuffers>();
    tx_ = std::make_unique<TxBuffers>();
    result_.latency_ns.reserve(1 << 20);
  }

  [[nodiscard]] std::size_t request_length() const { return slots_[0].packet.size(); }
  ThreadResult& result() { return result_; }
  [[nodiscard]] std::uint64_t send_end_ns() const { return send_end_ns_; }

  void run(std::uint64_t start_ns, std::uint64_t end_ns) {
    // Wake up for the next send on time, not up to 50 us late.
    prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
    double thread_rate = o_.rate / o_.threads;
    // Most the generator may be behind schedule before it gives up on requests.
    const auto max_behind =
        std::max<std::uint64_t>(1, static_cast<std::uint64_t>(thread_rate * 0.0005));
    const std::uint64_t timeout_ns = static_cast<std::uint64_t>(o_.timeout.count()) * 1'000'000ULL;
    std::uint64_t scheduled = 0;  // sent + skipped
    unsigned next_socket = 0;
    const std::uint64_t limit =
        o_.count > 0 ? (o_.count + o_.threads - 1 - index_) / o_.threads : UINT64_MAX;
    for (;;) {
      std::uint64_t now = realtime_ns();
      if (now >= end_ns || result_.sent >= limit) break;
      expire(now, timeout_ns);
      std::uint64_t want = 0;
      std::uint64_t wait_ns = 1'000'000;  // nothing to send: wait for answers
      if (thread_rate > 0) {
        // Requests due up to 20 us from now go in this batch: one wake-up per 20 us at
        // most, so that at high rates the generator does not spend a system call
        // or two per request.
        auto due = static_cast<std::uint64_t>(static_cast<double>(now - start_ns + 20'000) * 1e-9 *
                                              thread_rate) +
                   1;
        if (due > scheduled + max_behind) {
          result_.skipped += due - scheduled - max_behind;
          scheduled = due - max_behind;
        }
        want = std::min<std::uint64_t>(
            {due > scheduled ? due - scheduled : 0, kBatch, limit - result_.sent});
        auto after = scheduled + want;  // the next request to send after this batch
        auto next_ns =
            start_ns + static_cast<std::uint64_t>(static_cast<double>(after) / thread_rate * 1e9);
        wait_ns = next_ns > now ? next_ns - now : 0;
      } else {
        want = std::min<std::uint64_t>(
            {in_flight_ < o_.window ? o_.window - in_flight_ : 0, kBatch, limit - result_.sent});
        if (want == kBatch) wait_ns = 0;  // more room in the window: come straight back
      }
      if (want > 0) {
        scheduled += want;
        send(sockets_[next_socket], static_cast<unsigned>(want));
        next_socket = (next_socket + 1) % static_cast<unsigned>(sockets_.size());
      }
      poll_and_receive(o_.spin ? 0 : std::min<std::uint64_t>(wait_ns, 1'000'000));
    }
    send_end_ns_ = realtime_ns();
    // Drain: collect answers to what is in flight, up to the timeout.
    std::uint64_t drain_end = realtime_ns() + timeout_ns;
    while (in_flight_ > 0 && realtime_ns() < drain_end) poll_and_receive(1'000'000);
    result_.lost += in_flight_;
    in_flight_ = 0;
    for (int fd : sockets_) ::close(fd);
    sockets_.clear();
  }

 private:
  struct RxBuffers {
    std::array<std::array<std::uint8_t, kMaxPacket>, kBatch> data{};
    std::array<std::array<std::uint8_t, kControlLength>, kBatch> control{};
    std::array<iovec, kBatch> iov{};
    std::array<mmsghdr, kBatch> msg{};
  };
  struct TxBuffers {
    std::array<iovec, kBatch> iov{};
    std::array<mmsghdr, kBatch> msg{};
    std::array<std::array<std::uint8_t, CMSG_SPACE(sizeof(in_pktinfo))>, kBatch> control{};
  };

  void open_sockets() {
    for (unsigned s = 0; s < std::max(1u, o_.sockets_per_thread); ++s) {
      int fd = ::socket(o_.server.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) throw client::ClientError(std::string("socket: ") + std::strerror(errno));
      sockets_.push_back(fd);
      int one = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
      int size = 8 << 20;
      if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) {
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
      }
      if (o_.sources > 0) {
        if (o_.server.family() != AF_INET)
          throw client::ClientError("--sources needs an IPv4 server");
        sockaddr_in any{};
        any.sin_family = AF_INET;
        if (::bind(fd, reinterpret_cast<sockaddr*>(&any), sizeof any) != 0) {
          throw client::ClientError(std::string("bind: ") + std::strerror(errno));
        }
      } else if (::connect(fd, o_.server.get(), o_.server.length()) != 0) {
        throw client::ClientError(std::string("connect: ") + std::strerror(errno));
      }
    }
  }

  void send(int fd, unsigned count) {
    auto& t = *tx_;
    std::uint64_t now = realtime_ns();
    for (unsigned i = 0; i < count; ++i) {
      std::size_t slot_index = (next_seq_ + i) % kPoolSize;
      auto& slot = slots_[slot_index];
      if (slot.sent_ns != 0) {  // still in flight after a whole pool: give it up
        ++result_.lost;
        --in_flight_;
      }
      t.iov[i] = {slot.packet.data(), slot.packet.size()};
      auto& h = t.msg[i].msg_hdr;
      h = msghdr{};
      h.msg_iov = &t.iov[i];
      h.msg_iovlen = 1;
      if (o_.sources > 0) {
        h.msg_name = const_cast<sockaddr*>(o_.server.get());
        h.msg_namelen = o_.server.length();
        auto source = (source_counter_++ * o_.threads + index_) % o_.sources;
        auto* cmsg = reinterpret_cast<cmsghdr*>(t.control[i].data());
        cmsg->cmsg_level = IPPROTO_IP;
        cmsg->cmsg_type = IP_PKTINFO;
        cmsg->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
        in_pktinfo info{};
        auto offset = static_cast<std::uint32_t>((source * o_.source_stride) % ((1u << 24) - 2));
        info.ipi_spec_dst.s_addr = htonl(0x7f000001u + offset);
        std::memcpy(CMSG_DATA(cmsg), &info, sizeof info);
        h.msg_control = t.control[i].data();
        h.msg_controllen = t.control[i].size();
      }
    }
    unsigned done = 0;
    while (done < count) {
      int n = sendmmsg(fd, t.msg.data() + done, count - done, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        // EAGAIN/ENOBUFS: the local queue is full; count and move on.
        result_.send_errors += count - done;
        break;
      }
      done += static_cast<unsigned>(n);
    }
    for (unsigned i = 0; i < done; ++i) {
      slots_[(next_seq_ + i) % kPoolSize].sent_ns = now;
    }
    next_seq_ += done;
    result_.sent += done;
    in_flight_ += done;
  }

  // One recvmmsg batch; returns how many datagrams arrived.
  unsigned receive(int fd) {
    auto& r = *rx_;
    for (unsigned i = 0; i < kBatch; ++i) {
      r.iov[i] = {r.data[i].data(), r.data[i].size()};
      auto& h = r.msg[i].msg_hdr;
      h = msghdr{};
      h.msg_iov = &r.iov[i];
      h.msg_iovlen = 1;
      h.msg_control = r.control[i].data();
      h.msg_controllen = r.control[i].size();
    }
    int n = recvmmsg(fd, r.msg.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return 0;
    std::uint64_t fallback_ns = 0;
    for (int i = 0; i < n; ++i) {
      std::uint64_t rx_ns = 0;
      auto& h = r.msg[i].msg_hdr;
      for (auto* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          timespec ts{};
          std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
          rx_ns = static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
                  static_cast<std::uint64_t>(ts.tv_nsec);
        }
      }
      if (rx_ns == 0) rx_ns = fallback_ns != 0 ? fallback_ns : (fallback_ns = realtime_ns());
      handle(core::ByteView{r.data[i].data(), r.msg[i].msg_len}, rx_ns);
    }
    return static_cast<unsigned>(n);
  }

  void handle(core::ByteView packet, std::uint64_t rx_ns) {
    if (packet.size() < 48 || (packet[0] & 7) != 4) {
      ++result_.unmatched;
      return;
    }
    std::uint64_t slot_index = load_be64(packet.data() + 24) - base_;
    if (slot_index >= kPoolSize || slots_[slot_index].sent_ns == 0) {
      ++result_.unmatched;
      return;
    }
    auto& slot = slots_[slot_index];
    std::uint64_t latency = rx_ns > slot.sent_ns ? rx_ns - slot.sent_ns : 0;
    slot.sent_ns = 0;
    --in_flight_;
    if (c2s_ && packet[1] == 0) {
      ++result_.naks;
    } else if (c2s_ && o_.verify &&
               core::parse_nts_response(packet, *s2c_, slot.nts).error !=
                   core::NtsResponseError::None) {
      ++result_.invalid;
    } else {
      ++result_.answered;
      result_.latency_ns.push_back(
          static_cast<std::uint32_t>(std::min<std::uint64_t>(latency, UINT32_MAX)));
    }
  }

  // Gives up on requests older than the timeout, oldest first.
  void expire(std::uint64_t now, std::uint64_t timeout_ns) {
    while (tail_seq_ < next_seq_) {
      auto& slot = slots_[tail_seq_ % kPoolSize];
      if (slot.sent_ns != 0) {
        if (now - slot.sent_ns < timeout_ns) break;
        slot.sent_ns = 0;
        ++result_.lost;
        --in_flight_;
      }
      ++tail_seq_;
    }
  }

  // Waits up to ns for answers on any socket, then empties the sockets that have some.
  void poll_and_receive(std::uint64_t ns) {
    for (std::size_t i = 0; i < sockets_.size(); ++i) fds_[i] = {sockets_[i], POLLIN, 0};
    timespec ts{static_cast<time_t>(ns / 1'000'000'000ULL),
                static_cast<long>(ns % 1'000'000'000ULL)};
    if (ppoll(fds_.data(), sockets_.size(), &ts, nullptr) <= 0) return;
    for (std::size_t i = 0; i < sockets_.size(); ++i) {
      if (fds_[i].revents & POLLIN) {
        while (receive(fds_[i].fd) == kBatch) {
        }
      }
    }
  }

  const NtpLoadOptions& o_;
  unsigned index_;
  std::vector<Slot> slots_;
  std::optional<core::Aead> c2s_;
  std::optional<core::Aead> s2c_;
  std::uint64_t base_ = 0;
  std::vector<int> sockets_;
  std::array<pollfd, 64> fds_{};
  std::unique_ptr<RxBuffers> rx_;
  std::unique_ptr<TxBuffers> tx_;
  std::uint64_t next_seq_ = 0;
  std::uint64_t tail_seq_ = 0;
  std::uint64_t in_flight_ = 0;
  std::uint64_t source_counter_ = 0;
  ThreadResult result_;
  std::uint64_t send_end_ns_ = 0;
};

}  // namespace

NtpLoadResult run_ntp_load(const NtpLoadOptions& options) {
  std::vector<std::unique_ptr<LoadThread>> threads;
  for (unsigned i = 0; i < options.threads; ++i) {
    threads.push_back(std::make_unique<LoadThread>(options, i));
  }
  NtpLoadResult result;
  result.request_length = threads.front()->request_length();
  auto duration_ns = static_cast<std::uint64_t>(options.duration.count() * 1e9);
  std::uint64_t start = realtime_ns() + 1'000'000;  // every thread starts together
  std::vector<std::thread> running;
  running.reserve(threads.size());
  for (auto& t : threads) {
    running.emplace_back([&t, start, duration_ns] {
      while (realtime_ns() < start) {
      }
      t->run(start, start + duration_ns);
    });
  }
  for (auto& r : running) r.join();
  std::uint64_t last_send_end = start;
  for (auto& t : threads) last_send_end = std::max(last_send_end, t->send_end_ns());
  result.seconds = static_cast<double>(last_send_end - start) / 1e9;
  for (auto& t : threads) {
    auto& r = t->result();
    result.sent += r.sent;
    result.answered += r.answered;
    result.naks += r.naks;
    result.invalid += r.invalid;
    result.unmatched += r.unmatched;
    result.lost += r.lost;
    result.send_errors += r.send_errors;
    result.skipped += r.skipped;
    result.latency_ns.insert(result.latency_ns.end(), r.latency_ns.begin(), r.latency_ns.end());
  }
  return result;
}

}  // namespace ntsd::bench
