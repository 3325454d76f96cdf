// What ntsd logs about its traffic: one line per interval with what happened
// since the last (only when something did), and the totals at shutdown.
#pragma once

#include <cstdint>

#include "server/ke_session_outcome.h"

namespace ntsd::server {

class KeServer;
class NtpServer;
}  // namespace ntsd::server
namespace ntsd::xdp {
class XdpPath;
}
namespace ntsd::server {

struct TrafficTotals {
  KeSessionCounts ke;
  std::uint64_t ntp_answered = 0, ntp_nak = 0, ntp_dropped = 0, ntp_rate_kissed = 0,
                ntp_rate_dropped = 0;
  bool operator==(const TrafficTotals&) const = default;
};

// Either server may be absent (disabled); the AF_XDP path's requests (xdp, when
// --xdp) count with the sockets'.
TrafficTotals traffic_totals(const KeServer* ke, const NtpServer* ntp,
                             const xdp::XdpPath* xdp = nullptr);

// The interval's line: what floods would otherwise write one line per packet for.
void log_traffic(const TrafficTotals& now, const TrafficTotals& before, unsigned seconds);

// The totals of the servers' lifetimes, after they stopped.
void log_final_counters(const KeServer* ke, const NtpServer* ntp, const xdp::XdpPath* xdp);

}  // namespace ntsd::server
