#include "client/ntp_client.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>

#include "core/nts_client_codec.h"

namespace ntsd::client {

namespace {

constexpr double kTwoTo32 = 4294967296.0;
// Requests carry one cookie plus placeholders; responses are never longer.
constexpr std::size_t kMaxPacketSize = 4096;
constexpr std::size_t kMaxPlaceholders = 7;  // the server sends at most 8 cookies

core::Aead make_aead(core::AeadAlgorithm algorithm, core::ByteView key) {
  auto aead = core::Aead::create(algorithm, key);
  if (!aead) throw ClientError("invalid NTS key for " + std::string(core::aead_name(algorithm)));
  return std::move(*aead);
}

SocketAddress resolve_first(const std::string& server, std::uint16_t port) {
  return resolve(server, port, SOCK_DGRAM).front();
}

bool is_kiss_code(const core::ReferenceId& refid) {
  for (auto c : refid) {
    if (c == 0) break;
    if (c < 0x20 || c > 0x7e) return false;
  }
  return refid[0] != 0;
}

// Before this exchange we held held_before cookies; the server returns one for the
// cookie we spend plus one per placeholder.
std::size_t placeholders_to_send(std::size_t pool_target, std::size_t held_before) {
  std::size_t placeholders = pool_target > held_before ? pool_target - held_before : 0;
  return std::min(placeholders, kMaxPlaceholders);
}

using PacketBuffer = std::array<std::uint8_t, kMaxPacketSize>;

// Stale answers to an earlier exchange would fail the origin check anyway; drop them.
void drop_stale_datagrams(int fd, PacketBuffer& buffer) {
  while (::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT) >= 0) {
  }
}

struct Datagram {
  ssize_t size = 0;
  int error = 0;  // errno when size < 0
  bool truncated = false;
  core::NtpTimestamp t4;
  Clock::time_point received_at;
};

// Reads one datagram; T4 is the kernel receive timestamp when there is one.
Datagram receive_datagram(int fd, PacketBuffer& buffer) {
  alignas(struct cmsghdr) std::array<char, CMSG_SPACE(sizeof(struct timespec)) + 64> control{};
  iovec iov{buffer.data(), buffer.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  Datagram datagram;
  datagram.size = ::recvmsg(fd, &msg, MSG_DONTWAIT);
  datagram.error = errno;
  datagram.t4 = ntp_now();
  datagram.received_at = Clock::now();
  if (datagram.size < 0) return datagram;
  datagram.truncated = (msg.msg_flags & MSG_TRUNC) != 0;
  if (datagram.truncated) return datagram;
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_TIMESTAMPNS &&
        cmsg->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
      struct timespec ts {};
      std::memcpy(&ts, CMSG_DATA(cmsg), sizeof ts);
      datagram.t4 = core::to_ntp(ts);
    }
  }
  return datagram;
}

// What went wrong while waiting, for the error when no valid answer came.
struct WaitProblems {
  std::size_t rejected = 0;
  std::string last_rejection;
  bool refused = false;

  void reject(std::string reason) {
    ++rejected;
    last_rejection = std::move(reason);
  }
};

std::string no_answer_error(const std::string& server, std::chrono::milliseconds timeout,
                            const WaitProblems& problems) {
  std::string error = (problems.rejected > 0 ? "no valid response from " : "no response from ") +
                      server + " within " + format_seconds(timeout);
  if (problems.rejected > 0) {
    error += " (rejected " + std::to_string(problems.rejected) +
             (problems.rejected == 1 ? " packet" : " packets") +
             ", last: " + problems.last_rejection + ")";
  } else if (problems.refused) {
    error += " (ICMP port unreachable)";
  }
  return error;
}

// Fills result from an authenticated answer and keeps its fresh cookies.
void accept_response(core::NtsResponse& response, Clock::time_point sent_at, core::NtpTimestamp t1,
                     const Datagram& datagram, std::deque<core::Bytes>& cookies,
                     NtpExchangeResult& result) {
  result.round_trip =
      std::chrono::duration_cast<std::chrono::microseconds>(datagram.received_at - sent_at);
  const core::NtpHeader& header = response.header;
  result.cookies_received = response.cookies.size();
  for (auto& fresh : response.cookies) cookies.push_back(std::move(fresh));
  result.sample = make_sample(header, t1, datagram.t4);

  if (header.stratum == 0 && is_kiss_code(header.reference_id)) {
    result.error = "server sent kiss-o'-death " + result.sample->refid;
    return;
  }
  if (header.transmit_time.raw == 0) {
    result.error = "server sent a zero transmit timestamp";
    return;
  }
  result.ok = true;
}

}  // namespace

NtpSample make_sample(const core::NtpHeader& header, core::NtpTimestamp t1, core::NtpTimestamp t4) {
  NtpSample sample;
  core::NtpTimestamp t2 = header.receive_time;
  core::NtpTimestamp t3 = header.transmit_time;
  sample.offset = (ntp_difference(t1, t2) + ntp_difference(t4, t3)) / 2.0;
  sample.delay = ntp_difference(t1, t4) - ntp_difference(t2, t3);
  sample.stratum = header.stratum;
  sample.refid = format_refid(header.reference_id, header.stratum);
  sample.leap = header.leap;
  sample.poll = header.poll;
  sample.precision = header.precision;
  sample.root_delay = static_cast<double>(header.root_delay.raw) / 65536.0;
  sample.root_dispersion = static_cast<double>(header.root_dispersion.raw) / 65536.0;
  sample.reference_time = header.reference_time;
  sample.transmit_time = header.transmit_time;
  return sample;
}

core::NtpTimestamp ntp_now() {
  struct timespec ts {};
  clock_gettime(CLOCK_REALTIME, &ts);
  return core::to_ntp(ts);
}

double ntp_difference(core::NtpTimestamp a, core::NtpTimestamp b) {
  return static_cast<double>(core::units_between(a, b)) / kTwoTo32;
}

std::string format_refid(const core::ReferenceId& refid, std::uint8_t stratum) {
  if (stratum <= 1) {
    std::string text;
    bool printable = true;
    for (auto c : refid) {
      if (c == 0) break;
      if (c < 0x20 || c > 0x7e) printable = false;
      text.push_back(static_cast<char>(c));
    }
    if (printable && !text.empty()) return text;
    // Not a code (e.g. chrony's local reference 127.127.1.1): fall through.
  }
  return std::to_string(refid[0]) + "." + std::to_string(refid[1]) + "." +
         std::to_string(refid[2]) + "." + std::to_string(refid[3]);
}

NtsNtpClient::NtsNtpClient(const std::string& server, std::uint16_t port, const core::NtsKeys& keys,
                           std::vector<core::Bytes> cookies, NtpClientOptions options)
    : address_(resolve_first(server, port)),
      c2s_(make_aead(keys.algorithm(), keys.c2s())),
      s2c_(make_aead(keys.algorithm(), keys.s2c())),
      cookies_(std::make_move_iterator(cookies.begin()), std::make_move_iterator(cookies.end())),
      options_(options) {
  fd_.reset(::socket(address_.family(), SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP));
  if (!fd_.valid()) throw ClientError(std::string("socket() failed: ") + std::strerror(errno));
  int one = 1;
  // Kernel receive timestamps make T4 independent of scheduling delays.
  ::setsockopt(fd_.get(), SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
  if (::connect(fd_.get(), address_.get(), address_.length()) != 0) {
    throw ClientError("cannot use NTP server " + address_.to_string() + ": " +
                      std::strerror(errno));
  }
}

NtpExchangeResult NtsNtpClient::exchange() {
  try {
    return exchange_once();
  } catch (const std::exception& e) {
    NtpExchangeResult result;
    result.error = e.what();
    return result;
  }
}

NtpExchangeResult NtsNtpClient::exchange_once() {
  NtpExchangeResult result;
  const std::string server = address_.to_string();
  if (cookies_.empty()) {
    result.error = "no cookies left for " + server + " (run NTS-KE again)";
    return result;
  }
  core::Bytes cookie = std::move(cookies_.front());
  cookies_.pop_front();
  const std::size_t placeholders =
      placeholders_to_send(options_.cookie_pool_target, cookies_.size() + 1);
  result.placeholders_sent = placeholders;

  PacketBuffer buffer{};
  drop_stale_datagrams(fd_.get(), buffer);

  // The transmit field carries a random value (RFC 9109 §3) that the answer must
  // echo as its origin; T1 is read after the request is sealed, just before it
  // leaves, so that sealing does not count as network delay.
  core::NtpTimestamp origin;
  random_.fill({reinterpret_cast<std::uint8_t*>(&origin.raw), sizeof origin.raw});
  core::NtsRequest request = core::build_nts_request(c2s_, cookie, placeholders, origin, random_);
  core::secure_wipe(cookie.data(), cookie.size());
  const core::NtpTimestamp t1 = ntp_now();
  const auto sent_at = Clock::now();
  ssize_t sent = ::send(fd_.get(), request.packet.data(), request.packet.size(), 0);
  if (sent < 0 || static_cast<std::size_t>(sent) != request.packet.size()) {
    result.error = "cannot send to " + server + ": " +
                   (sent < 0 ? std::strerror(errno) : std::string("short write"));
    return result;
  }

  auto deadline = Clock::now() + options_.timeout;
  WaitProblems problems;
  for (;;) {
    if (!wait_fd(fd_.get(), POLLIN, deadline)) break;
    Datagram datagram = receive_datagram(fd_.get(), buffer);
    if (datagram.size < 0) {
      const int error = datagram.error;
      if (error == EAGAIN || error == EWOULDBLOCK || error == EINTR) continue;
      if (error == ECONNREFUSED) {
        // ICMP port unreachable: possibly forged, so keep waiting until the timeout.
        problems.refused = true;
        continue;
      }
      result.error = "cannot receive from " + server + ": " + std::strerror(error);
      return result;
    }
    if (datagram.truncated) {
      problems.reject("oversized packet");
      continue;
    }

    core::ByteView packet(buffer.data(), static_cast<std::size_t>(datagram.size));
    core::NtsResponse response = core::parse_nts_response(packet, s2c_, request);
    if (response.error == core::NtsResponseError::Nak) {
      result.error = "server answered NTS NAK";
      return result;
    }
    if (response.error != core::NtsResponseError::None) {
      // Includes origin and UID mismatches: not an answer to this request (late,
      // duplicated or forged), so ignore it.
      problems.reject(std::string(core::nts_response_error_name(response.error)));
      continue;
    }
    accept_response(response, sent_at, t1, datagram, cookies_, result);
    return result;
  }

  result.error = no_answer_error(server, options_.timeout, problems);
  return result;
}

}  // namespace ntsd::client
