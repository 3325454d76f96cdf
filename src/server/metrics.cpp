#include "server/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>

#include "common/version.h"
#include "core/ntp_outcome.h"
#include "keys/key_service.h"
#include "keys/ratchet.h"
#include "server/ke_server.h"
#include "time/clock.h"
#include "time/clock_state.h"

namespace ntsd::server {

namespace {

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);
}

// Writes families: "# HELP" and "# TYPE" once, then the samples.
class Writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  // `labels` is already rendered: `a="x",b="y"` or empty.
  void sample(std::string_view name, std::string_view labels, std::string_view value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }
  void sample(std::string_view name, std::string_view labels, std::uint64_t value) {
    sample(name, labels, std::string_view(std::to_string(value)));
  }
  void sample(std::string_view name, std::string_view labels, std::int64_t value) {
    sample(name, labels, std::string_view(std::to_string(value)));
  }
  void sample(std::string_view name, std::string_view labels, double value) {
    sample(name, labels, std::string_view(format_value(value)));
  }
  void gauge(std::string_view name, std::string_view help, double value) {
    family(name, "gauge", help);
    sample(name, "", value);
  }
  // A counter without labels: its family lines and its one sample.
  void counter(std::string_view name, std::string_view help, std::uint64_t value) {
    family(name, "counter", help);
    sample(name, "", value);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string label(std::string_view name, std::string_view value) {
  return fmt::format("{}=\"{}\"", name, escape_label_value(value));
}

// The census (docs/metrics.md): every label set is fixed or bounded.
void render_label_counts(Writer& w, std::string_view name, std::string_view label_name,
                         const LabelCounts& counts) {
  for (const auto& [value, count] : counts) w.sample(name, label(label_name, value), count);
}

template <std::size_t N, typename Name>
void render_buckets(Writer& w, std::string_view name, std::string_view label_name,
                    const std::array<std::uint64_t, N>& counts, Name bucket_name,
                    std::string_view extra_labels = "") {
  for (std::size_t i = 0; i < N; ++i) {
    std::string labels(extra_labels);
    if (!labels.empty()) labels += ',';
    labels += label(label_name, bucket_name(i));
    w.sample(name, labels, counts[i]);
  }
}

void render_ke_census(Writer& w, const KeCensusSnapshot& c) {
  w.counter("ntsd_ke_requests_total",
            "NTS-KE requests read whole (ended by End of Message, or malformed)", c.requests);
  w.family("ntsd_ke_request_tls_records_total", "counter",
           "NTS-KE requests by the TLS records carrying application data they took");
  render_buckets(w, "ntsd_ke_request_tls_records_total", "records", c.tls_records,
                 ke_piece_bucket_name);
  w.family("ntsd_ke_request_reads_total", "counter",
           "NTS-KE requests by the TLS reads (SSL_read calls) that returned some of them");
  render_buckets(w, "ntsd_ke_request_reads_total", "reads", c.reads, ke_piece_bucket_name);
  w.family("ntsd_ke_request_records_total", "counter",
           "NTS-KE requests holding a record of this kind (counted once per request)");
  for (std::size_t i = 0; i < kKeRecordSeenCount; ++i) {
    w.sample("ntsd_ke_request_records_total",
             label("record", ke_record_seen_name(static_cast<KeRecordSeen>(i))), c.records_seen[i]);
  }
  w.family("ntsd_ke_offered_aeads_total", "counter",
           "NTS-KE requests by the AEAD list offered, in the client's order (bounded: other)");
  render_label_counts(w, "ntsd_ke_offered_aeads_total", "aeads", c.aeads);
  w.family("ntsd_ke_tls_version_total", "counter", "Completed NTS-KE TLS handshakes by version");
  render_label_counts(w, "ntsd_ke_tls_version_total", "version", c.tls_versions);
  w.family("ntsd_ke_tls_cipher_total", "counter", "Completed NTS-KE TLS handshakes by cipher");
  render_label_counts(w, "ntsd_ke_tls_cipher_total", "cipher", c.ciphers);
  w.family("ntsd_ke_tls_group_total", "counter",
           "Completed NTS-KE TLS handshakes by key-exchange group");
  render_label_counts(w, "ntsd_ke_tls_group_total", "group", c.groups);
  w.family("ntsd_ke_tls_sni_total", "counter",
           "Completed NTS-KE TLS handshakes by whether the client sent a server name");
  w.sample("ntsd_ke_tls_sni_total", label("sni", "false"), c.sni[0]);
  w.sample("ntsd_ke_tls_sni_total", label("sni", "true"), c.sni[1]);
  w.family("ntsd_ke_alpn_offered_total", "counter",
           "NTS-KE ClientHellos by the ALPN list offered (none: no ALPN; bounded: other)");
  render_label_counts(w, "ntsd_ke_alpn_offered_total", "alpn", c.alpn);
}

void render_ntp_census(Writer& w, const NtpCensusCounts& c) {
  w.family("ntsd_ntp_cookie_placeholders_total", "counter",
           "Answered NTS requests by the Cookie Placeholder fields they held");
  render_buckets(w, "ntsd_ntp_cookie_placeholders_total", "placeholders", c.placeholders,
                 placeholder_bucket_name);
  w.family("ntsd_ntp_request_length_total", "counter", "NTP requests read, by UDP payload length");
  for (std::size_t k = 0; k < kReadKinds; ++k) {
    render_buckets(w, "ntsd_ntp_request_length_total", "length", c.length[k], length_bucket_name,
                   label("kind", core::kind_name(kReadKindList[k])));
  }
  w.family("ntsd_ntp_request_version_total", "counter",
           "NTP requests read, by the version field of their header");
  for (std::size_t k = 0; k < kReadKinds; ++k) {
    render_buckets(w, "ntsd_ntp_request_version_total", "version", c.version[k],
                   version_bucket_name, label("kind", core::kind_name(kReadKindList[k])));
  }
  w.family("ntsd_ntp_request_family_total", "counter",
           "NTP requests read, by the client's address family (IPv4-mapped counts as ipv4)");
  for (std::size_t k = 0; k < kReadKinds; ++k) {
    render_buckets(w, "ntsd_ntp_request_family_total", "family", c.family[k], family_bucket_name,
                   label("kind", core::kind_name(kReadKindList[k])));
  }
}

void render_ke(Writer& w, const KeMetrics& ke) {
  w.family("ntsd_ke_sessions_total", "counter",
           "NTS-KE connections by how they ended (one increment per connection)");
  for (std::size_t i = 0; i < kKeSessionOutcomeCount; ++i) {
    const auto outcome = static_cast<KeSessionOutcome>(i);
    w.sample("ntsd_ke_sessions_total", label("outcome", ke_session_outcome_name(outcome)),
             ke.sessions[outcome]);
  }
  w.family("ntsd_ke_sessions_active", "gauge", "NTS-KE sessions open now");
  w.sample("ntsd_ke_sessions_active", "", ke.active);

  const auto& h = ke.handshake;
  w.family("ntsd_ke_handshake_seconds", "histogram",
           "Time from accepting an NTS-KE connection to the end of its successful TLS handshake");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < DurationHistogramSnapshot::kBounds; ++i) {
    cumulative += h.buckets[i];
    w.sample("ntsd_ke_handshake_seconds_bucket",
             label("le", format_value(DurationHistogramSnapshot::kUpperSeconds[i])), cumulative);
  }
  cumulative += h.buckets[DurationHistogramSnapshot::kBounds];
  w.sample("ntsd_ke_handshake_seconds_bucket", label("le", "+Inf"), cumulative);
  w.sample("ntsd_ke_handshake_seconds_sum", "", h.sum_seconds);
  w.sample("ntsd_ke_handshake_seconds_count", "", h.count);
  render_ke_census(w, ke.census);
}

void render_ntp(Writer& w, const NtpCounters& c, const timesource::GapSummary& gap) {
  w.family("ntsd_ntp_requests_total", "counter",
           "NTP requests received, by kind and outcome: answered, nak (NTS NAK), rate_limited "
           "(RATE kiss), or the reason a request was dropped; kind unknown: dropped unread");
  using core::Reason;
  using core::RequestKind;
  // Read requests by every reason but the NAKs (one outcome, "nak", broken down
  // below) and Unsynchronised (always unread); unread ones by the two reasons
  // that drop unread.
  auto requests = [&](RequestKind kind, std::string_view outcome, std::uint64_t value) {
    w.sample("ntsd_ntp_requests_total",
             label("kind", core::kind_name(kind)) + "," + label("outcome", outcome), value);
  };
  for (const auto kind : {RequestKind::Nts, RequestKind::Plain}) {
    std::uint64_t naks = 0;
    for (std::size_t r = 0; r < core::kReasonCount; ++r) {
      const auto reason = static_cast<Reason>(r);
      if (core::sent_for(reason) == core::Sent::Nak) {
        naks += c.at(kind, reason);
      } else if (reason != Reason::Unsynchronised) {
        requests(kind, core::reason_name(reason), c.at(kind, reason));
      }
    }
    requests(kind, "nak", naks);
  }
  for (const auto reason : {Reason::RateLimitedDrop, Reason::Unsynchronised}) {
    requests(RequestKind::Unknown, core::reason_name(reason), c.at(RequestKind::Unknown, reason));
  }

  w.family("ntsd_ntp_naks_total", "counter", "NTS NAKs sent, by why the request failed");
  for (std::size_t r = 0; r < core::kReasonCount; ++r) {
    const auto reason = static_cast<Reason>(r);
    if (core::sent_for(reason) != core::Sent::Nak) continue;
    w.sample("ntsd_ntp_naks_total", label("reason", core::reason_name(reason)),
             c.by_reason(reason));
  }

  w.counter("ntsd_ntp_cookies_issued_total", "New cookies sent in NTS responses", c.cookies_issued);
  w.counter("ntsd_ntp_interleaved_responses_total", "Responses in interleaved mode (RFC 9769)",
            c.interleaved);
  w.family("ntsd_ntp_tx_timestamps_total", "counter",
           "Kernel transmit timestamps, matched to a response or not");
  w.sample("ntsd_ntp_tx_timestamps_total", label("matched", "true"), c.tx_timestamps);
  w.sample("ntsd_ntp_tx_timestamps_total", label("matched", "false"), c.tx_timestamps_unmatched);

  w.family("ntsd_ntp_transmit_gap_seconds", "summary",
           "Kernel software transmit timestamp minus the clock read for the response's transmit "
           "timestamp, before compensation (upper edge of the bucket holding the quantile; NaN "
           "before any)");
  const bool none = gap.count == 0;
  w.sample("ntsd_ntp_transmit_gap_seconds", label("quantile", "0.5"),
           none ? std::nan("") : gap.median_seconds);
  w.sample("ntsd_ntp_transmit_gap_seconds", label("quantile", "0.99"),
           none ? std::nan("") : gap.p99_seconds);
  w.sample("ntsd_ntp_transmit_gap_seconds_count", "", gap.count);
  render_ntp_census(w, c.census);
  w.gauge("ntsd_ntp_transmit_compensation_seconds",
          "Added to basic-mode transmit timestamps now: running median of the gap, largest "
          "over the workers (0: --ntp-tx-compensation off or no gap measured yet)",
          static_cast<double>(c.tx_compensation_ns) / 1e9);
}

void render_time(Writer& w, const TimeMetrics& t) {
  w.gauge("ntsd_time_stratum", "Stratum served (16: unsynchronised)", t.stratum);
  w.gauge("ntsd_time_leap", "Leap indicator served (0 none, 1 insert, 2 delete, 3 unsynchronised)",
          t.leap);
  w.gauge("ntsd_time_root_delay_seconds", "Root delay served", t.root_delay_seconds);
  w.gauge("ntsd_time_root_dispersion_seconds", "Root dispersion served now",
          t.root_dispersion_seconds);
  w.gauge("ntsd_time_synchronised", "1 when the served clock is synchronised, else 0",
          t.synchronised ? 1.0 : 0.0);
}

void render_xdp(Writer& w, const XdpMetrics& x) {
  w.counter("ntsd_xdp_rx_packets_total", "Frames the AF_XDP workers took off their RX rings",
            x.rx_packets);
  w.counter("ntsd_xdp_tx_packets_total", "Replies the AF_XDP workers put on their TX rings",
            x.tx_packets);
  w.family("ntsd_xdp_dropped_total", "counter",
           "NTP frames on the XDP path not answered, by reason (rate: the XDP program's limit)");
  for (const auto& [reason, n] : x.dropped)
    w.sample("ntsd_xdp_dropped_total", label("reason", reason), n);
  w.family("ntsd_xdp_passed_total", "counter",
           "NTP frames the XDP program left to the kernel, or handed on over the rate limit");
  for (const auto& [reason, n] : x.passed)
    w.sample("ntsd_xdp_passed_total", label("reason", reason), n);
  w.counter("ntsd_xdp_fill_ring_empty_total",
            "Frames that arrived while an AF_XDP fill ring was empty", x.fill_ring_empty);
  w.family("ntsd_xdp_rx_timestamps_total", "counter",
           "Receive timestamps of frames on the XDP path, by source (driver: XDP metadata kfunc; "
           "clock: read per batch)");
  for (const auto& [source, n] : x.rx_timestamps)
    w.sample("ntsd_xdp_rx_timestamps_total", label("source", source), n);
}

void render_census_log(Writer& w, const CensusLogCounts& c) {
  constexpr std::string_view kName = "ntsd_census_log_lines_total";
  w.family(kName, "counter",
           "Research log (--census-log) lines by what became of them: written, dropped over the "
           "lines-per-second cap (dropped_rate), dropped with the writer behind (dropped_queue), "
           "lost to a failed write (error)");
  w.sample(kName, label("result", "written"), c.written);
  w.sample(kName, label("result", "dropped_rate"), c.dropped_rate);
  w.sample(kName, label("result", "dropped_queue"), c.dropped_queue);
  w.sample(kName, label("result", "error"), c.error);
}

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string render_metrics(const MetricsSnapshot& s) {
  Writer w;
  w.family("ntsd_build_info", "gauge", "Always 1; the version as a label");
  w.sample("ntsd_build_info", label("version", s.version), std::uint64_t{1});
  w.gauge("ntsd_start_time_seconds", "When ntsd started, Unix seconds", s.start_time_seconds);
  if (s.ke) render_ke(w, *s.ke);
  if (s.ntp) render_ntp(w, *s.ntp, s.transmit_gap);
  if (s.cookie_key) {
    w.gauge("ntsd_cookie_key_id", "Id of the cookie key new cookies are sealed with",
            static_cast<double>(s.cookie_key->key_id));
    w.family("ntsd_cookie_key_next_rotation_timestamp_seconds", "gauge",
             "When the next cookie key takes over, Unix seconds");
    w.sample("ntsd_cookie_key_next_rotation_timestamp_seconds", "",
             s.cookie_key->next_rotation_unix);
    w.counter(
        "ntsd_cookie_key_file_errors_total",
        "Failed writes of the cookie key file (--keys); the keys stay in memory and the write "
        "is retried",
        s.cookie_key->file_errors);
  }
  if (s.certificate_not_after) {
    w.family("ntsd_tls_certificate_expiry_timestamp_seconds", "gauge",
             "notAfter of the NTS-KE TLS certificate, Unix seconds");
    w.sample("ntsd_tls_certificate_expiry_timestamp_seconds", "", *s.certificate_not_after);
  }
  if (!s.certificate_files_ok.empty()) {
    w.family("ntsd_tls_certificate_files_ok", "gauge",
             "1 when this certificate and its key file loaded at the last look, 0 when they did "
             "not (missing, unreadable, broken, expired or for other names) and the last good "
             "pair is still serving");
    for (const auto& [file, ok] : s.certificate_files_ok) {
      w.sample("ntsd_tls_certificate_files_ok", label("certificate", file),
               std::uint64_t{ok ? 1U : 0U});
    }
  }
  if (s.time) render_time(w, *s.time);
  if (s.xdp) render_xdp(w, *s.xdp);
  if (s.census_log) render_census_log(w, *s.census_log);
  if (!s.upstreams.empty()) {
    w.family("ntsd_upstream_reachable", "gauge",
             "1 when the last poll of this upstream brought a response, else 0");
    for (const auto& upstream : s.upstreams) {
      w.sample("ntsd_upstream_reachable", label("upstream", upstream.name),
               std::uint64_t{upstream.reachable ? 1U : 0U});
    }
    w.family("ntsd_time_upstream_state", "gauge",
             "1 for the state this upstream had in the last selection (selected, falseticker, "
             "unreachable, unsynchronised), 0 for the others");
    for (const auto& upstream : s.upstreams) {
      for (auto state : timesource::kUpstreamStates) {
        w.sample("ntsd_time_upstream_state",
                 label("upstream", upstream.name) + "," +
                     label("state", timesource::upstream_state_name(state)),
                 std::uint64_t{upstream.state == state ? 1U : 0U});
      }
    }
  }
  return w.take();
}

KeMetrics ke_metrics(const KeServerCounters& c) {
  KeMetrics m;
  m.sessions = c.sessions();
  m.active = c.active.load(std::memory_order_relaxed);
  m.handshake = c.handshake.snapshot();
  m.census = c.census.snapshot();
  return m;
}

MetricsCollector::MetricsCollector(Sources sources)
    : sources_(std::move(sources)),
      start_time_seconds_(
          std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
              .count()) {}

void MetricsCollector::set_certificate_not_after(std::optional<std::int64_t> unix_seconds) {
  certificate_not_after_.store(unix_seconds ? *unix_seconds : kNoCertificate,
                               std::memory_order_relaxed);
}

void MetricsCollector::set_certificate_files_ok(
    std::vector<std::pair<std::string, bool>> files_ok) {
  std::lock_guard lock(certificate_files_mutex_);
  certificate_files_ok_ = std::move(files_ok);
}

// The XDP path answers NTP too: its requests count in the NTP families.
void add_xdp_requests(NtpCounters& ntp, const NtpCounters& xdp) {
  for (std::size_t kind = 0; kind < ntp.requests.size(); ++kind) {
    for (std::size_t reason = 0; reason < ntp.requests[kind].size(); ++reason) {
      ntp.requests[kind][reason] += xdp.requests[kind][reason];
    }
  }
  ntp.interleaved += xdp.interleaved;
  ntp.cookies_issued += xdp.cookies_issued;
  ntp.census += xdp.census;  // AF_XDP workers serve through NtpExchange too
  ntp.tx_compensation_ns = std::max(ntp.tx_compensation_ns, xdp.tx_compensation_ns);
}

MetricsSnapshot MetricsCollector::collect() const {
  MetricsSnapshot s;
  s.version = kVersion;
  s.start_time_seconds = start_time_seconds_;
  if (sources_.ke) s.ke = ke_metrics(sources_.ke->counters());
  if (sources_.ntp) {
    s.ntp = sources_.ntp->counters();
    s.transmit_gap = sources_.ntp->transmit_gap();
  }
  if (sources_.keys) {
    const auto& settings = sources_.keys->settings();
    s.cookie_key = CookieKeyMetrics{
        sources_.keys->published().load()->current().id().value,
        keys::epoch_start(sources_.keys->current_epoch() + 1, settings.rotation_seconds),
        sources_.keys->file_errors()};
  }
  const auto not_after = certificate_not_after_.load(std::memory_order_relaxed);
  if (not_after != kNoCertificate) s.certificate_not_after = not_after;
  {
    std::lock_guard lock(certificate_files_mutex_);
    s.certificate_files_ok = certificate_files_ok_;
  }
  if (sources_.time) {
    const auto state = sources_.time->published().load();
    const auto clock = state->at(realtime_now());
    TimeMetrics t;
    t.stratum = state->synchronised() ? clock.stratum : 16;
    t.leap = static_cast<unsigned>(clock.leap);
    t.root_delay_seconds = timesource::from_ntp_short(clock.root_delay);
    t.root_dispersion_seconds = timesource::from_ntp_short(clock.root_dispersion);
    t.synchronised = state->synchronised();
    s.time = t;
    s.upstreams = sources_.time->upstream_status();
  }
  if (sources_.census_log) s.census_log = sources_.census_log();
  if (sources_.xdp) {
    s.xdp = sources_.xdp();
    if (s.ntp) add_xdp_requests(*s.ntp, s.xdp->requests);
  }
  return s;
}

}  // namespace ntsd::server
