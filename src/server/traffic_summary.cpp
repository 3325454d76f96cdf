#include "server/traffic_summary.h"

#include <spdlog/spdlog.h>

#include "server/ke_server.h"
#include "server/ntp_server.h"

namespace ntsd::server {

TrafficTotals traffic_totals(const KeServer* ke, const NtpServer* ntp) {
  TrafficTotals t;
  if (ke) {
    const auto& c = ke->counters();
    t.ke_accepted = c.accepted.load();
    t.ke_ok = c.ok.load();
    t.ke_failed = c.tls_failed.load() + c.no_alpn.load() + c.error_response.load() +
                  c.negotiation_failed.load() + c.timeout.load() + c.closed_early.load() +
                  c.evicted.load();
    t.ke_refused = c.refused_busy.load() + c.refused_rate.load();
  }
  if (ntp) {
    auto c = ntp->counters();
    for (std::size_t r = 0; r < kReasonCount; ++r) {
      auto reason = static_cast<core::Reason>(r);
      std::uint64_t n = c.plain[r] + c.nts[r];
      core::Decision answered{core::Action::Respond, core::RequestKind::Nts, reason};
      if (reason == core::Reason::Answered) {
        t.ntp_answered += n;
      } else if (reason == core::Reason::RateLimited) {
        t.ntp_rate_kissed += n;
      } else if (answered.is_nak()) {
        t.ntp_nak += n;
      } else {
        t.ntp_dropped += n;
      }
    }
    t.ntp_rate_dropped = c.rate_limited_dropped;
  }
  return t;
}

void log_traffic(const TrafficTotals& now, const TrafficTotals& before, unsigned seconds) {
  if (now == before) return;
  spdlog::info(
      "last {} s: NTS-KE {} connections, {} ok, {} failed, {} refused (busy or rate); "
      "NTP {} answered, {} NTS NAKs, {} dropped, rate limit: {} dropped, {} RATE kisses",
      seconds, now.ke_accepted - before.ke_accepted, now.ke_ok - before.ke_ok,
      now.ke_failed - before.ke_failed, now.ke_refused - before.ke_refused,
      now.ntp_answered - before.ntp_answered, now.ntp_nak - before.ntp_nak,
      now.ntp_dropped - before.ntp_dropped, now.ntp_rate_dropped - before.ntp_rate_dropped,
      now.ntp_rate_kissed - before.ntp_rate_kissed);
}

void log_final_counters(const KeServer* ke, const NtpServer* ntp) {
  if (ke) {
    const auto& c = ke->counters();
    spdlog::info(
        "NTS-KE sessions: {} accepted, {} ok, {} TLS failed, {} without ALPN, {} errors, "
        "{} timeouts, {} evicted while waiting, {} refused busy",
        c.accepted.load(), c.ok.load(), c.tls_failed.load(), c.no_alpn.load(),
        c.error_response.load(), c.timeout.load(), c.evicted.load(), c.refused_busy.load());
  }
  if (ntp) {
    auto c = ntp->counters();
    std::uint64_t nts_answered = c.nts[static_cast<std::size_t>(core::Reason::Answered)];
    std::uint64_t plain_answered = c.plain[static_cast<std::size_t>(core::Reason::Answered)];
    spdlog::info("NTP requests answered: {} NTS, {} plain", nts_answered, plain_answered);
    auto gap = ntp->transmit_gap();
    spdlog::info(
        "NTP interleaved answers: {}; kernel transmit timestamps: {} matched, {} unmatched; "
        "transmit gap (kernel software TX - written transmit timestamp): median {:.1f} us, "
        "p99 {:.1f} us over {} responses",
        c.interleaved, c.tx_timestamps, c.tx_timestamps_unmatched, gap.median_seconds * 1e6,
        gap.p99_seconds * 1e6, gap.count);
    if (c.unsynchronised_dropped != 0) {
      spdlog::info("NTP requests dropped while unsynchronised: {}", c.unsynchronised_dropped);
    }
  }
}

}  // namespace ntsd::server
