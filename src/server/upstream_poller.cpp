#include "server/upstream_poller.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "client/ke_client.h"
#include "client/net.h"
#include "client/ntp_client.h"
#include "core/random.h"
#include "time/clock.h"
#include "time/clock_state.h"
#include "time/refid.h"

namespace ntsd::server {

namespace {

// The time source's view of one answer, received at `received_at`.
timesource::UpstreamSample upstream_sample(const client::NtpSample& s,
                                           core::NtpTimestamp received_at) {
  return {.received_at = received_at,
          .leap = s.leap,
          .stratum = s.stratum,
          .root_delay = s.root_delay,
          .root_dispersion = s.root_dispersion,
          .delay = s.delay,
          .offset = s.offset};
}

}  // namespace

PollResult poll_plain_ntp(const std::string& host, std::uint16_t port,
                          std::chrono::milliseconds timeout) {
  PollResult result;
  try {
    auto addresses = client::resolve(host, port, SOCK_DGRAM);
    const auto& address = addresses.front();
    result.address = address.to_string();
    result.reference_id = timesource::reference_id_for_address(address.get());
    UniqueFd fd(::socket(address.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) throw client::ClientError(std::string("socket: ") + std::strerror(errno));
    if (::connect(fd.get(), address.get(), address.length()) != 0) {
      throw client::ClientError(std::string("connect: ") + std::strerror(errno));
    }
    std::uint8_t request[core::kNtpHeaderLength]{};
    core::NtpHeader header;
    header.version = 4;
    header.mode = core::NtpMode::Client;
    // A random transmit timestamp (RFC 9109 §3): the answer must echo it.
    core::SystemRandom random;
    std::uint8_t cookie[8];
    random.fill(cookie);
    std::memcpy(&header.transmit_time.raw, cookie, sizeof cookie);
    header.write(request);
    const auto t1 = realtime_now();
    if (::send(fd.get(), request, sizeof request, 0) != static_cast<ssize_t>(sizeof request)) {
      throw client::ClientError(std::string("send: ") + std::strerror(errno));
    }
    const auto deadline = client::Clock::now() + timeout;
    for (;;) {
      if (!client::wait_fd(fd.get(), POLLIN, deadline)) {
        result.error = "no answer within " + client::format_seconds(timeout);
        return result;
      }
      std::uint8_t reply[core::kMaxNtpPacketLength];
      const auto n = ::recv(fd.get(), reply, sizeof reply, 0);
      const auto t4 = realtime_now();
      if (n < 0) {
        if (errno == EINTR) continue;
        result.error = std::string("recv: ") + std::strerror(errno);
        return result;
      }
      auto parsed = core::NtpHeader::parse(core::ByteView(reply, static_cast<std::size_t>(n)));
      if (!parsed || parsed->mode != core::NtpMode::Server ||
          parsed->origin_time != header.transmit_time) {
        continue;  // not the answer to our request
      }
      if (parsed->stratum == 0) {
        result.error = "kiss-o'-death " + client::format_refid(parsed->reference_id, 0);
        return result;
      }
      client::NtpSample measured = client::make_sample(*parsed, t1, t4);
      measured.delay = std::max(0.0, measured.delay);
      result.sample = upstream_sample(measured, t4);
      return result;
    }
  } catch (const client::ClientError& e) {
    result.error = e.what();
  }
  return result;
}

UpstreamPoller::UpstreamPoller(UpstreamEntry entry, std::optional<std::string> ca_file,
                               std::chrono::seconds interval, Sink sink)
    : entry_(std::move(entry)),
      ca_file_(std::move(ca_file)),
      interval_(interval),
      sink_(std::move(sink)) {}

UpstreamPoller::~UpstreamPoller() { stop(); }

std::string UpstreamPoller::name() const {
  return (entry_.nts ? "nts:" : "") + format_host_port(entry_.host, entry_.port);
}

void UpstreamPoller::start() {
  thread_ = std::thread([this] { run(); });
}

void UpstreamPoller::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void UpstreamPoller::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    auto result = poll_once();
    sink_(result);
    lock.lock();
    wake_.wait_for(lock, interval_, [this] { return stopping_; });
  }
}

PollResult UpstreamPoller::poll_once() {
  if (!entry_.nts) return poll_plain_ntp(entry_.host, entry_.port, std::chrono::milliseconds(1000));
  return poll_nts();
}

PollResult UpstreamPoller::poll_nts() {
  PollResult result;
  if (!nts_ || nts_->cookies_left() == 0) {
    nts_.reset();
    client::KeClientOptions options;
    options.host = entry_.host;
    options.port = entry_.port;
    options.ca_file = ca_file_;
    options.timeout = std::chrono::milliseconds(3000);
    auto ke = client::run_ke(options);
    if (!ke.ok || !ke.session.keys) {
      result.error = "NTS-KE: " + ke.error;
      return result;
    }
    try {
      nts_ = std::make_unique<client::NtsNtpClient>(
          ke.session.ntp_server, ke.session.ntp_port, *ke.session.keys, ke.session.cookies,
          client::NtpClientOptions{std::chrono::milliseconds(1000), 8});
    } catch (const client::ClientError& e) {
      result.error = e.what();
      return result;
    }
    nts_address_ = nts_->server_address().to_string();
    nts_reference_id_ = timesource::reference_id_for_address(nts_->server_address().get());
  }
  result.address = nts_address_;
  result.reference_id = nts_reference_id_;
  auto exchange = nts_->exchange();
  if (!exchange.ok || !exchange.sample) {
    result.error = exchange.error;
    // A NAK or a silent server: start again with NTS-KE next time.
    nts_.reset();
    return result;
  }
  result.sample = upstream_sample(*exchange.sample, realtime_now());
  return result;
}

}  // namespace ntsd::server
