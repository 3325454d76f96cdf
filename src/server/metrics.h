// The metrics endpoint's content: Prometheus text exposition format 0.0.4.
//
// Rendering takes a plain snapshot, so it is tested without sockets or servers;
// MetricsCollector fills the snapshot from the running servers at each scrape.
// Counters stay where they are kept (per NTP worker, per KE server) and are only
// summed here: scraping adds nothing to the request path.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/census_log.h"
#include "server/duration_histogram.h"
#include "server/ke_census.h"
#include "server/ke_session_outcome.h"
#include "server/ntp_server.h"
#include "server/time_source.h"
#include "server/tx_gap.h"
#include "server/xdp_metrics.h"

namespace ntsd::keys {
class KeyService;
}

namespace ntsd::server {

class KeServer;

// NTS-KE connections by how they ended, and the sessions open now.
struct KeMetrics {
  KeSessionCounts sessions;
  std::uint64_t active = 0;
  DurationHistogramSnapshot handshake;
  KeCensusSnapshot census;
};

struct TimeMetrics {
  unsigned stratum = 16;
  unsigned leap = 3;  // the LI value
  double root_delay_seconds = 0.0;
  double root_dispersion_seconds = 0.0;
  bool synchronised = false;
};

struct CookieKeyMetrics {
  std::uint32_t key_id = 0;
  std::int64_t next_rotation_unix = 0;
  std::uint64_t file_errors = 0;  // failed writes of the key file
};

struct MetricsSnapshot {
  std::string version;
  double start_time_seconds = 0.0;
  std::optional<KeMetrics> ke;     // none: NTS-KE disabled
  std::optional<NtpCounters> ntp;  // none: NTP disabled
  timesource::GapSummary transmit_gap;
  std::optional<CookieKeyMetrics> cookie_key;
  std::optional<std::int64_t> certificate_not_after;
  // Per certificate file: 1 when the files on disk loaded at the last look.
  std::vector<std::pair<std::string, bool>> certificate_files_ok;
  std::optional<TimeMetrics> time;
  std::vector<UpstreamStatus> upstreams;
  std::optional<XdpMetrics> xdp;              // none: no --xdp
  std::optional<CensusLogCounts> census_log;  // none: no --census-log
};

std::string render_metrics(const MetricsSnapshot& snapshot);

// A label value as the text format wants it: \, " and newline escaped.
std::string escape_label_value(std::string_view value);

KeMetrics ke_metrics(const KeServerCounters& counters);

// Adds the AF_XDP path's requests (XdpMetrics::requests) to the sockets' counters.
void add_xdp_requests(NtpCounters& ntp, const NtpCounters& xdp);

class MetricsCollector {
 public:
  struct Sources {
    const KeServer* ke = nullptr;
    const NtpServer* ntp = nullptr;
    TimeSource* time = nullptr;
    const keys::KeyService* keys = nullptr;
    std::function<XdpMetrics()> xdp;              // empty: no --xdp
    std::function<CensusLogCounts()> census_log;  // empty: no --census-log
  };

  explicit MetricsCollector(Sources sources);

  // The notAfter of the NTS-KE certificate that expires first; call again after a reload.
  void set_certificate_not_after(std::optional<std::int64_t> unix_seconds);
  // CertificateStore::files_ok(); call again after each look at the files.
  void set_certificate_files_ok(std::vector<std::pair<std::string, bool>> files_ok);

  [[nodiscard]] MetricsSnapshot collect() const;
  [[nodiscard]] std::string render() const { return render_metrics(collect()); }

 private:
  static constexpr std::int64_t kNoCertificate = std::numeric_limits<std::int64_t>::min();
  Sources sources_;
  double start_time_seconds_;
  std::atomic<std::int64_t> certificate_not_after_{kNoCertificate};
  mutable std::mutex certificate_files_mutex_;
  std::vector<std::pair<std::string, bool>> certificate_files_ok_;
};

}  // namespace ntsd::server
