#include "server/traffic_summary.h"

#include <spdlog/spdlog.h>

#include "server/ke_server.h"
#include "server/metrics.h"
#include "server/ntp_server.h"
#include "xdp/xdp_path.h"

namespace ntsd::server {

TrafficTotals traffic_totals(const KeServer* ke, const NtpServer* ntp, const xdp::XdpPath* xdp) {
  TrafficTotals t;
  if (ke) {
    t.ke = ke->counters().sessions();
  }
  if (ntp) {
    auto c = ntp->counters();
    if (xdp) add_xdp_requests(c, xdp->metrics().requests);
    const auto rate_dropped = c.by_reason(core::Reason::RateLimitedDrop);
    t.ntp_answered = c.by_sent(core::Sent::Answer);
    t.ntp_nak = c.by_sent(core::Sent::Nak);
    t.ntp_rate_kissed = c.by_sent(core::Sent::RateKiss);
    t.ntp_dropped = c.by_sent(core::Sent::Nothing) - rate_dropped;
    t.ntp_rate_dropped = rate_dropped;
  }
  return t;
}

void log_traffic(const TrafficTotals& now, const TrafficTotals& before, unsigned seconds) {
  if (now == before) return;
  spdlog::info(
      "last {} s: NTS-KE {}; "
      "NTP {} answered, {} NTS NAKs, {} dropped, rate limit: {} dropped, {} RATE kisses",
      seconds, describe(now.ke - before.ke), now.ntp_answered - before.ntp_answered,
      now.ntp_nak - before.ntp_nak, now.ntp_dropped - before.ntp_dropped,
      now.ntp_rate_dropped - before.ntp_rate_dropped, now.ntp_rate_kissed - before.ntp_rate_kissed);
}

void log_final_counters(const KeServer* ke, const NtpServer* ntp, const xdp::XdpPath* xdp) {
  if (ke) {
    spdlog::info("NTS-KE sessions: {}", describe(ke->counters().sessions()));
  }
  if (ntp) {
    auto c = ntp->counters();
    if (xdp) add_xdp_requests(c, xdp->metrics().requests);
    std::uint64_t nts_answered = c.at(core::RequestKind::Nts, core::Reason::Answered);
    std::uint64_t plain_answered = c.at(core::RequestKind::Plain, core::Reason::Answered);
    spdlog::info("NTP requests answered: {} NTS, {} plain", nts_answered, plain_answered);
    auto gap = ntp->transmit_gap();
    spdlog::info(
        "NTP interleaved answers: {}; kernel transmit timestamps: {} matched, {} unmatched; "
        "transmit gap (kernel software TX - written transmit timestamp): median {:.1f} us, "
        "p99 {:.1f} us over {} responses",
        c.interleaved, c.tx_timestamps, c.tx_timestamps_unmatched, gap.median_seconds * 1e6,
        gap.p99_seconds * 1e6, gap.count);
    if (auto unsynchronised = c.by_reason(core::Reason::Unsynchronised); unsynchronised != 0) {
      spdlog::info("NTP requests dropped while unsynchronised: {}", unsynchronised);
    }
  }
  if (xdp) {
    const auto x = xdp->metrics();
    spdlog::info(
        "XDP path: {} frames received, {} replies sent, {} requests dropped by the XDP "
        "program's rate limit; receive timestamps: {} from the driver, {} from the clock",
        x.rx_packets, x.tx_packets, x.dropped.front().second, x.rx_timestamps.at(0).second,
        x.rx_timestamps.at(1).second);
  }
}

}  // namespace ntsd::server
