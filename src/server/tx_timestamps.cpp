#include "server/tx_timestamps.h"

#include <arpa/inet.h>
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <poll.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "common/unique_fd.h"
#include "server/ntp_exchange.h"
#include "time/clock.h"

namespace ntsd::server {

namespace {

// Report software timestamps, numbered (OPT_ID), without the packet (OPT_TSONLY).
constexpr std::uint32_t kReportFlags =
    SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_TSONLY;

bool send_to_self(int fd, const sockaddr_in& self, bool with_timestamp) {
  std::uint8_t payload = 0;
  iovec iov{&payload, sizeof payload};
  alignas(cmsghdr) std::uint8_t control[kTxRequestControlLength] = {};
  msghdr header{};
  header.msg_name = const_cast<sockaddr_in*>(&self);
  header.msg_namelen = sizeof self;
  header.msg_iov = &iov;
  header.msg_iovlen = 1;
  if (with_timestamp) request_tx_timestamp(header, control);
  return sendmsg(fd, &header, 0) == 1;
}

// The OPT_ID number of the first transmit timestamp on the error queue, if one
// arrives within `timeout_ms`.
std::optional<std::uint32_t> first_timestamp_id(int fd, int timeout_ms) {
  pollfd p{fd, 0, 0};  // POLLERR is always reported
  if (poll(&p, 1, timeout_ms) <= 0 || (p.revents & POLLERR) == 0) return std::nullopt;
  alignas(cmsghdr) std::uint8_t control[256];
  msghdr header{};
  header.msg_control = control;
  header.msg_controllen = sizeof control;
  if (recvmsg(fd, &header, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return std::nullopt;
  for (auto* cmsg = CMSG_FIRSTHDR(&header); cmsg != nullptr; cmsg = CMSG_NXTHDR(&header, cmsg)) {
    if (cmsg->cmsg_level == SOL_IP && cmsg->cmsg_type == IP_RECVERR) {
      sock_extended_err error{};
      std::memcpy(&error, CMSG_DATA(cmsg), sizeof error);
      if (error.ee_origin == SO_EE_ORIGIN_TIMESTAMPING) return error.ee_data;
    }
  }
  return std::nullopt;
}

}  // namespace

TxTimestampSupport probe_tx_timestamping() {
  TxTimestampSupport every{TxTimestamping::EveryPacket, true};
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_in self{};
  self.sin_family = AF_INET;
  self.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof self;
  if (!fd.valid() || bind(fd.get(), reinterpret_cast<sockaddr*>(&self), sizeof self) != 0 ||
      getsockname(fd.get(), reinterpret_cast<sockaddr*>(&self), &length) != 0 ||
      !enable_tx_timestamps(fd.get(), TxTimestamping::OnRequest)) {
    return every;  // no loopback to ask: the behaviour every kernel has
  }
  // One packet without a request, then one with: the timestamp's number says
  // whether the first was counted.
  if (!send_to_self(fd.get(), self, false) || !send_to_self(fd.get(), self, true)) return every;
  auto id = first_timestamp_id(fd.get(), 200);
  if (!id) return every;  // per-packet requests ignored
  return {TxTimestamping::OnRequest, *id == 1};
}

bool enable_tx_timestamps(int fd, TxTimestamping mode) {
  if (mode == TxTimestamping::None) return false;
  int off = 0;
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &off, sizeof off);
  int flags = static_cast<int>(kReportFlags);
  if (mode == TxTimestamping::EveryPacket) flags |= SOF_TIMESTAMPING_TX_SOFTWARE;
  return setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof flags) == 0;
}

void request_tx_timestamp(msghdr& header, std::uint8_t* control) {
  header.msg_control = control;
  header.msg_controllen = kTxRequestControlLength;
  auto* cmsg = CMSG_FIRSTHDR(&header);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SO_TIMESTAMPING;
  cmsg->cmsg_len = CMSG_LEN(sizeof(std::uint32_t));
  const std::uint32_t flags = SOF_TIMESTAMPING_TX_SOFTWARE;
  std::memcpy(CMSG_DATA(cmsg), &flags, sizeof flags);
}

TxTimestampQueue::TxTimestampQueue(int fd, TxTimestampSupport support)
    : fd_(fd), support_(support), enabled_(enable_tx_timestamps(fd, support.mode)) {}

void TxTimestampQueue::note_sent(bool stamped, core::NtpTimestamp clock_read,
                                 timesource::InterleavedTable::Handle handle) {
  if (!enabled_) return;
  if (!stamped) {
    if (support_.ids_count_every_packet) ++next_id_;
    return;
  }
  const std::uint32_t id = next_id_++;
  sent_[id % kPending] = {id, true, clock_read, handle};
}

void TxTimestampQueue::resync(NtpExchange& exchange) {
  if (!enabled_) return;
  drain(exchange);
  for (auto& slot : sent_) slot.valid = false;
  next_id_ = 0;
  enabled_ = enable_tx_timestamps(fd_, support_.mode);
}

void TxTimestampQueue::drain(NtpExchange& exchange) {
  if (!enabled_) return;
  for (int round = 0; round < 64; ++round) {
    for (std::size_t i = 0; i < kReadBatch; ++i) {
      auto& h = messages_[i].msg_hdr;
      h = msghdr{};
      h.msg_control = control_[i].data();
      h.msg_controllen = control_[i].size();
    }
    const int n = recvmmsg(fd_, messages_.data(), kReadBatch, MSG_ERRQUEUE | MSG_DONTWAIT, nullptr);
    if (n <= 0) return;
    for (int i = 0; i < n; ++i) read_one(messages_[static_cast<std::size_t>(i)].msg_hdr, exchange);
    if (n < static_cast<int>(kReadBatch)) return;
  }
}

void TxTimestampQueue::read_one(msghdr& h, NtpExchange& exchange) {
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
      error->ee_origin != SO_EE_ORIGIN_TIMESTAMPING ||
      (stamp->tv_sec == 0 && stamp->tv_nsec == 0)) {
    return;
  }
  auto& slot = sent_[error->ee_data % kPending];
  if (!slot.valid || slot.id != error->ee_data) {
    exchange.transmit_timestamp_unmatched();
    return;
  }
  slot.valid = false;
  exchange.transmit_timestamp(slot.clock_read, slot.handle, to_ntp(*stamp));
}

}  // namespace ntsd::server
