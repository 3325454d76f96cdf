// The AF_XDP workers' protocol side: the same NtpExchange (server/ntp_exchange.h)
// as the socket workers, one per worker. One code path for the protocol, two
// for I/O. No kernel transmit timestamps exist on this path, so interleaved
// requests are answered with the transmit timestamp written into the previous
// response (see docs/xdp.md), and the transmit-timestamp compensation learns
// from the path's own measurement: for 1 in 16 replies, the clock read just
// before the TX ring kick minus the clock read written into the reply. That
// is a lower bound of the true gap (the kick itself and the driver are not
// in it), so the compensation never overshoots because of them.
#pragma once

#include <cstdint>
#include <optional>

#include "server/ntp_exchange.h"
#include "time/clock.h"
#include "xdp/xsk_worker.h"

namespace ntsd::xdp {

class ExchangeHandler final : public XdpPacketHandler {
 public:
  ExchangeHandler(const timesource::PublishedClock& clock, const keys::PublishedKeyring& keyring,
                  const server::NtpExchangeSettings& settings)
      : exchange_(clock, keyring, settings) {}

  void begin_batch() override {
    exchange_.begin_batch();
    sampled_.reset();  // a sample whose batch sent nothing (TX ring full) is no gap
  }
  std::size_t handle(std::span<const std::uint8_t> request, const sockaddr* peer,
                     socklen_t /*peer_length*/, core::NtpTimestamp rx_time,
                     std::span<std::uint8_t> out) override {
    server::NtpReply reply;
    exchange_.handle(request, peer, rx_time, out, reply);
    if (reply.length != 0 && !sampled_ && ++sample_count_ % kGapSampleEvery == 0) {
      sampled_ = reply.clock_read;
    }
    return reply.length;
  }
  void add_counters(server::NtpCounters& total) const override { exchange_.add_counters(total); }
  void before_kick() override {
    if (!sampled_) return;
    const auto now = server::realtime_now();
    exchange_.measured_gap(core::nanoseconds_between(*sampled_, now));
    sampled_.reset();
  }

 private:
  // As often as the socket workers ask the kernel for a transmit timestamp.
  static constexpr std::uint32_t kGapSampleEvery = 16;
  server::NtpExchange exchange_;
  std::uint32_t sample_count_ = 0;
  std::optional<core::NtpTimestamp> sampled_;  // a reply's clock read, awaiting the kick
};

}  // namespace ntsd::xdp
