// The AF_XDP workers' protocol side: the same NtpExchange (server/ntp_exchange.h)
// as the socket workers, one per worker. One code path for the protocol, two
// for I/O. No kernel transmit timestamps exist on this path, so interleaved
// requests are answered with the transmit timestamp written into the previous
// response (see docs/xdp.md).
#pragma once

#include "server/ntp_exchange.h"
#include "xdp/xsk_worker.h"

namespace ntsd::xdp {

class ExchangeHandler final : public XdpPacketHandler {
 public:
  ExchangeHandler(const timesource::PublishedClock& clock, const keys::PublishedKeyring& keyring,
                  const server::NtpExchangeSettings& settings)
      : exchange_(clock, keyring, settings) {}

  void begin_batch() override { exchange_.begin_batch(); }
  std::size_t handle(std::span<const std::uint8_t> request, const sockaddr* peer,
                     socklen_t /*peer_length*/, core::NtpTimestamp rx_time,
                     std::span<std::uint8_t> out) override {
    server::NtpReply reply;
    exchange_.handle(request, peer, rx_time, out, reply);
    return reply.length;
  }
  void add_counters(server::NtpCounters& total) const override { exchange_.add_counters(total); }

 private:
  server::NtpExchange exchange_;
};

}  // namespace ntsd::xdp
