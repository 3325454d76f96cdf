// The metrics endpoint's text rendering and HTTP handling, without servers
// (and, but for the last tests, without sockets).
#include "server/metrics.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "server/metrics_http.h"

namespace ntsd::server {
namespace {

using core::Reason;
using core::RequestKind;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// "name{labels}" -> value text, for every sample line.
std::map<std::string, std::string> samples(const std::string& text) {
  std::map<std::string, std::string> out;
  for (const auto& line : lines_of(text)) {
    if (line.empty() || line[0] == '#') continue;
    auto space = line.rfind(' ');
    out[line.substr(0, space)] = line.substr(space + 1);
  }
  return out;
}

bool is_name_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }

// Checks one sample line of the text format, NAME[{label="value",...}] VALUE, and
// sets `name`. (No std::regex: GCC 12 warns inside it under the sanitizers.)
bool parse_sample_line(std::string_view line, std::string& name) {
  std::size_t i = 0;
  while (i < line.size() && is_name_char(line[i])) ++i;
  name = std::string(line.substr(0, i));
  if (name.empty()) return false;
  if (i < line.size() && line[i] == '{') {
    ++i;
    for (;;) {
      const std::size_t start = i;
      while (i < line.size() && is_name_char(line[i])) ++i;
      if (i == start || line.substr(i, 2) != "=\"") return false;
      i += 2;
      while (i < line.size() && line[i] != '"') {
        if (line[i] == '\\') {
          if (i + 1 >= line.size()) return false;
          const char escaped = line[i + 1];
          if (escaped != '\\' && escaped != '"' && escaped != 'n') return false;
          ++i;
        }
        ++i;
      }
      if (i >= line.size()) return false;
      ++i;  // the closing quote
      if (i < line.size() && line[i] == ',') {
        ++i;
        continue;
      }
      if (i < line.size() && line[i] == '}') {
        ++i;
        break;
      }
      return false;
    }
  }
  if (i >= line.size() || line[i] != ' ') return false;
  const auto value = line.substr(i + 1);
  return !value.empty() && value.find(' ') == std::string_view::npos;
}

MetricsSnapshot full_snapshot() {
  MetricsSnapshot s;
  s.version = "1.2.3";
  s.start_time_seconds = 1700000000.5;
  KeMetrics ke;
  ke.sessions[KeSessionOutcome::Ok] = 1;
  ke.sessions[KeSessionOutcome::TlsFailed] = 2;
  ke.sessions[KeSessionOutcome::NoAlpn] = 3;
  ke.sessions[KeSessionOutcome::BadRequest] = 4;
  ke.sessions[KeSessionOutcome::NegotiationFailed] = 5;
  ke.sessions[KeSessionOutcome::Timeout] = 6;
  ke.sessions[KeSessionOutcome::ClosedEarly] = 7;
  ke.sessions[KeSessionOutcome::RefusedBusy] = 8;
  ke.sessions[KeSessionOutcome::Evicted] = 11;
  ke.sessions[KeSessionOutcome::RateLimited] = 9;
  ke.sessions[KeSessionOutcome::InternalError] = 12;
  ke.active = 10;
  ke.handshake.buckets[0] = 1;                                   // <= 0.5 ms
  ke.handshake.buckets[2] = 2;                                   // <= 2.5 ms
  ke.handshake.buckets[DurationHistogramSnapshot::kBounds] = 1;  // > 2.5 s
  ke.handshake.count = 4;
  ke.handshake.sum_seconds = 3.25;
  s.ke = ke;
  NtpCounters ntp;
  ntp.at(RequestKind::Plain, Reason::Answered) = 11;
  ntp.at(RequestKind::Nts, Reason::Answered) = 12;
  ntp.at(RequestKind::Plain, Reason::TooShort) = 13;
  ntp.at(RequestKind::Nts, Reason::UnknownCookieKey) = 3;
  ntp.at(RequestKind::Nts, Reason::AuthenticatorFailed) = 2;
  ntp.at(RequestKind::Nts, Reason::RateLimited) = 14;
  ntp.at(RequestKind::Unknown, Reason::RateLimitedDrop) = 15;
  ntp.at(RequestKind::Unknown, Reason::Unsynchronised) = 16;
  ntp.at(RequestKind::Nts, Reason::RateLimitedDrop) = 19;  // NAKs withheld over the limit
  ntp.interleaved = 17;
  ntp.cookies_issued = 18;
  ntp.tx_compensation_ns = 3500;
  s.ntp = ntp;
  s.transmit_gap.count = 20;
  s.transmit_gap.median_seconds = 2e-6;
  s.transmit_gap.p99_seconds = 1.5e-5;
  s.cookie_key = CookieKeyMetrics{20783, 1795737600};
  s.certificate_not_after = 1827217573;
  s.time = TimeMetrics{2, 1, 0.25, 0.0625, true};
  s.upstreams = {{"a\"b\\c", true}, {"ntp.example", false}};
  s.census_log = CensusLogCounts{21, 22, 23, 24};
  return s;
}

TEST(MetricsRender, EveryFamilyHasOneHelpAndTypeBeforeItsSamples) {
  const auto text = render_metrics(full_snapshot());
  std::set<std::string> helped, typed;
  for (const auto& line : lines_of(text)) {
    if (line.rfind("# HELP ", 0) == 0) {
      auto name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(helped.insert(name).second) << "two HELP lines for " << name;
      EXPECT_EQ(name.rfind("ntsd_", 0), 0U) << line;
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      auto rest = line.substr(7);
      auto name = rest.substr(0, rest.find(' '));
      auto type = rest.substr(rest.find(' ') + 1);
      EXPECT_TRUE(helped.contains(name)) << "TYPE before HELP: " << line;
      EXPECT_TRUE(typed.insert(name).second) << "two TYPE lines for " << name;
      EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram" || type == "summary")
          << line;
      continue;
    }
    std::string family;
    ASSERT_TRUE(parse_sample_line(line, family)) << "not a sample line: " << line;
    EXPECT_EQ(family.rfind("ntsd_", 0), 0U) << line;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (!typed.contains(family) && family.ends_with(suffix)) {
        family = family.substr(0, family.size() - std::string(suffix).size());
      }
    }
    EXPECT_TRUE(typed.contains(family)) << "sample before its TYPE line: " << line;
  }
  EXPECT_TRUE(text.ends_with("\n"));
}

TEST(MetricsRender, KeOutcomesActiveAndHandshakeHistogram) {
  auto s = samples(render_metrics(full_snapshot()));
  EXPECT_EQ(s["ntsd_ke_sessions_total{outcome=\"ok\"}"], "1");
  EXPECT_EQ(s["ntsd_ke_sessions_total{outcome=\"tls_failed\"}"], "2");
  EXPECT_EQ(s["ntsd_ke_sessions_total{outcome=\"no_alpn\"}"], "3");
  EXPECT_EQ(s["ntsd_ke_sessions_total{outcome=\"bad_request\"}"], "4");
  EXPECT_EQ(s["ntsd_ke_sessions_total{outcome=\"negotiation_failed\"}"], "5");
  EXPECT_EQ(s["ntsd_ke_sessions_total{outcome=\"timeout\"}"], "6");
  EXPECT_EQ(s["ntsd_ke_sessions_total{outcome=\"closed_early\"}"], "7");
  EXPECT_EQ(s["ntsd_ke_sessions_total{outcome=\"refused_busy\"}"], "8");
  EXPECT_EQ(s["ntsd_ke_sessions_total{outcome=\"evicted\"}"], "11");
  EXPECT_EQ(s["ntsd_ke_sessions_total{outcome=\"rate_limited\"}"], "9");
  EXPECT_EQ(s["ntsd_ke_sessions_total{outcome=\"internal_error\"}"], "12");
  EXPECT_EQ(s["ntsd_ke_sessions_active"], "10");
  // Buckets are cumulative and end in +Inf == count.
  EXPECT_EQ(s["ntsd_ke_handshake_seconds_bucket{le=\"0.0005\"}"], "1");
  EXPECT_EQ(s["ntsd_ke_handshake_seconds_bucket{le=\"0.001\"}"], "1");
  EXPECT_EQ(s["ntsd_ke_handshake_seconds_bucket{le=\"0.0025\"}"], "3");
  EXPECT_EQ(s["ntsd_ke_handshake_seconds_bucket{le=\"2.5\"}"], "3");
  EXPECT_EQ(s["ntsd_ke_handshake_seconds_bucket{le=\"+Inf\"}"], "4");
  EXPECT_EQ(s["ntsd_ke_handshake_seconds_count"], "4");
  EXPECT_EQ(s["ntsd_ke_handshake_seconds_sum"], "3.25");
}

TEST(MetricsRender, NtpRequestsByKindAndOutcome) {
  auto s = samples(render_metrics(full_snapshot()));
  EXPECT_EQ(s["ntsd_ntp_requests_total{kind=\"plain\",outcome=\"answered\"}"], "11");
  EXPECT_EQ(s["ntsd_ntp_requests_total{kind=\"nts\",outcome=\"answered\"}"], "12");
  EXPECT_EQ(s["ntsd_ntp_requests_total{kind=\"plain\",outcome=\"too_short\"}"], "13");
  EXPECT_EQ(s["ntsd_ntp_requests_total{kind=\"nts\",outcome=\"too_short\"}"], "0");
  EXPECT_EQ(s["ntsd_ntp_requests_total{kind=\"nts\",outcome=\"nak\"}"], "5");
  EXPECT_EQ(s["ntsd_ntp_requests_total{kind=\"nts\",outcome=\"rate_limited\"}"], "14");
  EXPECT_EQ(s["ntsd_ntp_requests_total{kind=\"unknown\",outcome=\"rate_limited_dropped\"}"], "15");
  EXPECT_EQ(s["ntsd_ntp_requests_total{kind=\"unknown\",outcome=\"unsynchronised_dropped\"}"],
            "16");
  // NAK reasons are one outcome, broken down in a family of their own.
  EXPECT_FALSE(s.contains("ntsd_ntp_requests_total{kind=\"nts\",outcome=\"unknown_cookie_key\"}"));
  EXPECT_EQ(s["ntsd_ntp_naks_total{reason=\"unknown_cookie_key\"}"], "3");
  EXPECT_EQ(s["ntsd_ntp_naks_total{reason=\"authenticator_failed\"}"], "2");
  EXPECT_EQ(s["ntsd_ntp_naks_total{reason=\"cookie_tag_failed\"}"], "0");
  EXPECT_EQ(s["ntsd_ntp_interleaved_responses_total"], "17");
  EXPECT_EQ(s["ntsd_ntp_cookies_issued_total"], "18");
  // A NAK withheld over the rate limit is no NAK.
  EXPECT_EQ(s["ntsd_ntp_requests_total{kind=\"nts\",outcome=\"rate_limited_dropped\"}"], "19");
  // Every drop reason appears, for both kinds, but the one only unread requests have.
  for (std::size_t r = 0; r < core::kReasonCount; ++r) {
    const auto reason = static_cast<Reason>(r);
    if (core::sent_for(reason) == core::Sent::Nak) continue;
    const std::string name(core::reason_name(reason));
    const bool read = reason != Reason::Unsynchronised;
    EXPECT_EQ(s.contains("ntsd_ntp_requests_total{kind=\"plain\",outcome=\"" + name + "\"}"), read)
        << name;
    EXPECT_EQ(s.contains("ntsd_ntp_requests_total{kind=\"nts\",outcome=\"" + name + "\"}"), read)
        << name;
  }
  // Unread requests only by the reasons that drop unread.
  std::size_t unread = 0;
  for (const auto& [sample, value] : s) {
    if (sample.find("kind=\"unknown\"") != std::string::npos) ++unread;
  }
  EXPECT_EQ(unread, 2U);
}

TEST(MetricsRender, TransmitGapSummary) {
  auto snapshot = full_snapshot();
  auto s = samples(render_metrics(snapshot));
  EXPECT_EQ(s["ntsd_ntp_transmit_gap_seconds{quantile=\"0.5\"}"], "2e-06");
  EXPECT_EQ(s["ntsd_ntp_transmit_gap_seconds{quantile=\"0.99\"}"], "1.5e-05");
  EXPECT_EQ(s["ntsd_ntp_transmit_gap_seconds_count"], "20");
  EXPECT_EQ(s["ntsd_ntp_transmit_compensation_seconds"], "3.5e-06");
  snapshot.transmit_gap = {};
  s = samples(render_metrics(snapshot));
  EXPECT_EQ(s["ntsd_ntp_transmit_gap_seconds{quantile=\"0.5\"}"], "NaN");
  EXPECT_EQ(s["ntsd_ntp_transmit_gap_seconds_count"], "0");
}

TEST(MetricsRender, KeysCertificateTimeUpstreamsAndBuild) {
  auto s = samples(render_metrics(full_snapshot()));
  EXPECT_EQ(s["ntsd_build_info{version=\"1.2.3\"}"], "1");
  EXPECT_EQ(s["ntsd_start_time_seconds"], "1700000000.5");
  EXPECT_EQ(s["ntsd_cookie_key_id"], "20783");
  EXPECT_EQ(s["ntsd_cookie_key_next_rotation_timestamp_seconds"], "1795737600");
  EXPECT_EQ(s["ntsd_tls_certificate_expiry_timestamp_seconds"], "1827217573");
  EXPECT_EQ(s["ntsd_time_stratum"], "2");
  EXPECT_EQ(s["ntsd_time_leap"], "1");
  EXPECT_EQ(s["ntsd_time_root_delay_seconds"], "0.25");
  EXPECT_EQ(s["ntsd_time_root_dispersion_seconds"], "0.0625");
  EXPECT_EQ(s["ntsd_time_synchronised"], "1");
  EXPECT_EQ(s["ntsd_upstream_reachable{upstream=\"a\\\"b\\\\c\"}"], "1");
  EXPECT_EQ(s["ntsd_upstream_reachable{upstream=\"ntp.example\"}"], "0");
}

TEST(MetricsRender, CensusLogLinesByResult) {
  auto s = samples(render_metrics(full_snapshot()));
  EXPECT_EQ(s["ntsd_census_log_lines_total{result=\"written\"}"], "21");
  EXPECT_EQ(s["ntsd_census_log_lines_total{result=\"dropped_rate\"}"], "22");
  EXPECT_EQ(s["ntsd_census_log_lines_total{result=\"dropped_queue\"}"], "23");
  EXPECT_EQ(s["ntsd_census_log_lines_total{result=\"error\"}"], "24");
}

TEST(MetricsRender, DisabledPartsAreLeftOut) {
  MetricsSnapshot s;
  s.version = "x";
  const auto text = render_metrics(s);
  EXPECT_NE(text.find("ntsd_build_info{version=\"x\"} 1\n"), std::string::npos);
  for (const char* absent : {"ntsd_ke_", "ntsd_ntp_", "ntsd_cookie_", "ntsd_tls_", "ntsd_time_",
                             "ntsd_upstream_", "ntsd_census_log_"}) {
    EXPECT_EQ(text.find(absent), std::string::npos) << absent;
  }
}

TEST(MetricsRender, TheLineCheckerRejectsMalformedLines) {
  std::string name;
  EXPECT_TRUE(parse_sample_line(R"(ntsd_a{b="x\"y",c=""} 1)", name));
  EXPECT_EQ(name, "ntsd_a");
  for (const char* bad :
       {"ntsd_a", "ntsd_a 1 2", "ntsd_a{b=x} 1", R"(ntsd_a{b="x} 1)", R"(ntsd_a{b="\q"} 1)",
        R"(ntsd_a{b="x"c="y"} 1)", R"({b="x"} 1)", "ntsd_a{} 1", "Ntsd_a 1"}) {
    EXPECT_FALSE(parse_sample_line(bad, name)) << bad;
  }
}

TEST(MetricsRender, LabelValuesAreEscaped) {
  EXPECT_EQ(escape_label_value("plain"), "plain");
  EXPECT_EQ(escape_label_value("a\"b"), "a\\\"b");
  EXPECT_EQ(escape_label_value("a\\b"), "a\\\\b");
  EXPECT_EQ(escape_label_value("a\nb"), "a\\nb");
}

TEST(DurationHistogram, BucketsByUpperBoundInclusive) {
  DurationHistogram h;
  h.observe(std::chrono::microseconds(500));  // exactly 0.5 ms: the first bucket
  h.observe(std::chrono::microseconds(501));
  h.observe(std::chrono::seconds(3));
  h.observe(std::chrono::nanoseconds(-5));  // a clock oddity counts as zero
  auto s = h.snapshot();
  EXPECT_EQ(s.count, 4U);
  EXPECT_EQ(s.buckets[0], 2U);
  EXPECT_EQ(s.buckets[1], 1U);
  EXPECT_EQ(s.buckets[DurationHistogramSnapshot::kBounds], 1U);
  EXPECT_NEAR(s.sum_seconds, 3.001001, 1e-9);
}

TEST(MetricsHttp, HeadEndsAtTheBlankLine) {
  EXPECT_EQ(http_head_length("GET /metrics HTTP/1.1\r\nHost: x\r\n"), 0U);
  EXPECT_EQ(http_head_length("GET /metrics HTTP/1.1\r\n\r\n"), 25U);
  EXPECT_EQ(http_head_length("GET /metrics HTTP/1.0\n\nrest"), 23U);
  EXPECT_EQ(http_head_length(""), 0U);
}

TEST(MetricsHttp, Routes) {
  bool head_only = true;
  EXPECT_EQ(route_http_request("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", head_only),
            HttpRoute::Metrics);
  EXPECT_FALSE(head_only);
  EXPECT_EQ(route_http_request("GET /metrics?x=1 HTTP/1.0\r\n\r\n", head_only), HttpRoute::Metrics);
  EXPECT_EQ(route_http_request("HEAD /metrics HTTP/1.1\r\n\r\n", head_only), HttpRoute::Metrics);
  EXPECT_TRUE(head_only);
  EXPECT_EQ(route_http_request("GET / HTTP/1.1\r\n\r\n", head_only), HttpRoute::NotFound);
  EXPECT_EQ(route_http_request("GET /metricsx HTTP/1.1\r\n\r\n", head_only), HttpRoute::NotFound);
  EXPECT_EQ(route_http_request("POST /metrics HTTP/1.1\r\n\r\n", head_only),
            HttpRoute::MethodNotAllowed);
  EXPECT_EQ(route_http_request("DELETE / HTTP/1.1\r\n\r\n", head_only),
            HttpRoute::MethodNotAllowed);
  for (const char* bad :
       {"garbage\r\n\r\n", "\r\n\r\n", "GET /metrics\r\n\r\n", "GET /metrics HTTP/2.0\r\n\r\n",
        "get /metrics HTTP/1.1\r\n\r\n", "GET  /metrics HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/1.1 x\r\n\r\n", "\x16\x03\x01\x02\x00\r\n\r\n"}) {
    EXPECT_EQ(route_http_request(bad, head_only), HttpRoute::BadRequest) << bad;
  }
}

TEST(MetricsHttp, Responses) {
  auto ok = http_response(HttpRoute::Metrics, "a 1\n", false);
  EXPECT_EQ(ok,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            "Content-Length: 4\r\nConnection: close\r\n\r\na 1\n");
  auto head = http_response(HttpRoute::Metrics, "a 1\n", true);
  EXPECT_TRUE(head.ends_with("Content-Length: 4\r\nConnection: close\r\n\r\n"));
  EXPECT_EQ(http_response(HttpRoute::NotFound, "", false).rfind("HTTP/1.1 404 ", 0), 0U);
  auto not_allowed = http_response(HttpRoute::MethodNotAllowed, "", false);
  EXPECT_EQ(not_allowed.rfind("HTTP/1.1 405 ", 0), 0U);
  EXPECT_NE(not_allowed.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos);
  EXPECT_EQ(http_response(HttpRoute::BadRequest, "", false).rfind("HTTP/1.1 400 ", 0), 0U);
  EXPECT_EQ(http_response(HttpRoute::TooLarge, "", false).rfind("HTTP/1.1 431 ", 0), 0U);
  EXPECT_EQ(http_response(HttpRoute::Unavailable, "", false).rfind("HTTP/1.1 503 ", 0), 0U);
}

// --- the server on a loopback socket ---------------------------------------

UniqueFd connect_to(const SocketAddress& address) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  timeval timeout{5, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  EXPECT_EQ(::connect(fd.get(), address.get(), address.length()), 0);
  return fd;
}

// Everything until the server closes (or 5 s pass).
std::string read_all(int fd) {
  std::string out;
  char buffer[4096];
  for (;;) {
    auto n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return out;
    out.append(buffer, static_cast<std::size_t>(n));
  }
}

std::string http_exchange(const SocketAddress& address, const std::string& request) {
  auto fd = connect_to(address);
  EXPECT_EQ(::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  return read_all(fd.get());
}

TEST(MetricsHttpServer, ServesCapsConnectionsAndDropsSlowClients) {
  MetricsHttpLimits limits;
  limits.timeout = std::chrono::milliseconds(300);
  limits.max_connections = 2;
  limits.max_request = 512;
  MetricsHttpServer server(
      *SocketAddress::parse("127.0.0.1:0"), [] { return std::string("ntsd_x 1\n"); }, limits);
  server.start();
  const auto address = server.local_address();

  EXPECT_TRUE(
      http_exchange(address, "GET /metrics HTTP/1.1\r\n\r\n").ends_with("\r\n\r\nntsd_x 1\n"));
  EXPECT_EQ(http_exchange(address, "GET /nope HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404 ", 0), 0U);
  EXPECT_EQ(http_exchange(address, std::string(600, 'A')).rfind("HTTP/1.1 431 ", 0), 0U);

  // Two silent clients fill the server; a third is closed unanswered, and the
  // silent ones are closed at the deadline.
  auto idle1 = connect_to(address);
  auto idle2 = connect_to(address);
  EXPECT_EQ(http_exchange(address, "GET /metrics HTTP/1.1\r\n\r\n"), "");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(read_all(idle1.get()), "");
  EXPECT_EQ(read_all(idle2.get()), "");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  // And it serves again.
  EXPECT_TRUE(http_exchange(address, "GET /metrics HTTP/1.0\r\n\r\n").ends_with("ntsd_x 1\n"));
  server.stop();
}

TEST(MetricsHttpServer, AFailingRenderIsA503AndTheServerGoesOn) {
  int calls = 0;
  MetricsHttpServer server(*SocketAddress::parse("127.0.0.1:0"), [&calls] {
    if (++calls == 1) throw std::runtime_error("no memory today");
    return std::string("ntsd_x 2\n");
  });
  server.start();
  const auto address = server.local_address();
  EXPECT_EQ(http_exchange(address, "GET /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 503 ", 0), 0U);
  EXPECT_TRUE(http_exchange(address, "GET /metrics HTTP/1.1\r\n\r\n").ends_with("ntsd_x 2\n"));
  server.stop();
}

}  // namespace
}  // namespace ntsd::server
