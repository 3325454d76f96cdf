// The client census: bounded label sets, the labels taken from requests, the
// NTP census's buckets and counting, and how the census is rendered.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <string>
#include <thread>
#include <vector>

#include "core/ke_record.h"
#include "server/bounded_labels.h"
#include "server/ke_census.h"
#include "server/metrics.h"
#include "server/ntp_census.h"

namespace ntsd::server {
namespace {

using core::KeRecordType;
using core::Reason;
using core::RequestKind;

std::uint64_t count_of(const LabelCounts& counts, std::string_view value) {
  for (const auto& [v, n] : counts) {
    if (v == value) return n;
  }
  return ~std::uint64_t{0};  // absent
}

TEST(BoundedLabelCounter, FirstValuesGetSlotsThenOther) {
  BoundedLabelCounter counter(2);
  counter.add("a");
  counter.add("b");
  counter.add("a");
  counter.add("c");  // no slot left
  counter.add("d", 3);
  counter.add("b");
  const auto counts = counter.snapshot();
  ASSERT_EQ(counts.size(), 3U);
  EXPECT_EQ(counts[0], (std::pair<std::string, std::uint64_t>{"a", 2}));
  EXPECT_EQ(counts[1], (std::pair<std::string, std::uint64_t>{"b", 2}));
  EXPECT_EQ(counts[2], (std::pair<std::string, std::uint64_t>{"other", 4}));
}

TEST(BoundedLabelCounter, OtherIsAlwaysThereAndCannotTakeASlot) {
  BoundedLabelCounter counter(1);
  EXPECT_EQ(counter.snapshot(), (LabelCounts{{"other", 0}}));
  counter.add("other");
  counter.add("x");
  EXPECT_EQ(counter.snapshot(), (LabelCounts{{"x", 1}, {"other", 1}}));
}

TEST(BoundedLabelCounter, LongValuesAreCutBeforeComparing) {
  BoundedLabelCounter counter(4);
  const std::string base(BoundedLabelCounter::kMaxValueLength, 'v');
  counter.add(base + "1");
  counter.add(base + "2");
  const auto counts = counter.snapshot();
  ASSERT_EQ(counts.size(), 2U);
  EXPECT_EQ(counts[0].first, base);
  EXPECT_EQ(counts[0].second, 2U);
}

TEST(BoundedLabelCounter, ManyThreadsManyValuesStayBounded) {
  BoundedLabelCounter counter(16);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&counter, t] {
      for (int i = 0; i < 1000; ++i) counter.add(std::to_string(t * 1000 + i % 50));
    });
  }
  for (auto& thread : threads) thread.join();
  const auto counts = counter.snapshot();
  EXPECT_EQ(counts.size(), 17U);
  std::uint64_t total = 0;
  for (const auto& [value, n] : counts) total += n;
  EXPECT_EQ(total, 4000U);
}

// A message parsed from records built here; `wire` must outlive the result.
core::KeMessage message_of(const core::Bytes& wire) {
  auto message = core::parse_ke_message(wire);
  EXPECT_EQ(message.status, core::KeMessageStatus::Complete);
  return message;
}

core::Bytes request(const std::vector<std::uint16_t>& aeads, const core::Bytes& extra = {}) {
  core::Bytes out;
  core::append_ke_record_u16s(out, true, KeRecordType::NextProtocol, {0});
  if (!aeads.empty()) core::append_ke_record_u16s(out, true, KeRecordType::AeadAlgorithm, aeads);
  out.insert(out.end(), extra.begin(), extra.end());
  core::append_ke_record(out, true, KeRecordType::EndOfMessage, {});
  return out;
}

core::Bytes raw_record(std::uint16_t type, bool critical, core::ByteView body = {}) {
  core::Bytes out;
  core::append_ke_record(out, critical, static_cast<KeRecordType>(type), body);
  return out;
}

TEST(KeCensusLabels, AeadListInTheClientsOrderCutAfterFour) {
  const auto chrony46 = request({30, 15});
  EXPECT_EQ(ke_aead_list_label(message_of(chrony46)), "30,15");
  const auto one = request({15});
  EXPECT_EQ(ke_aead_list_label(message_of(one)), "15");
  const auto four = request({15, 17, 16, 30});
  EXPECT_EQ(ke_aead_list_label(message_of(four)), "15,17,16,30");
  const auto five = request({0x7777, 15, 17, 16, 30});
  EXPECT_EQ(ke_aead_list_label(message_of(five)), "30583,15,17,16,...");
  const auto none = request({});
  EXPECT_EQ(ke_aead_list_label(message_of(none)), "none");
  const core::Bytes odd_body = {0, 15, 0};
  const auto odd = request({}, raw_record(4, true, odd_body));
  EXPECT_EQ(ke_aead_list_label(message_of(odd)), "15");
  const auto empty = request({}, raw_record(4, true));
  EXPECT_EQ(ke_aead_list_label(message_of(empty)), "empty");
}

TEST(KeCensusLabels, RecordsSeenOncePerRequest) {
  core::Bytes extra;
  for (const auto& r : {raw_record(6, true, core::Bytes{'a'}), raw_record(6, true),
                        raw_record(7, true, core::Bytes{0, 123}), raw_record(1024, false),
                        raw_record(0x4321, false)}) {
    extra.insert(extra.end(), r.begin(), r.end());
  }
  const auto wire = request({15}, extra);
  const auto seen = ke_records_seen(message_of(wire));
  EXPECT_TRUE(seen[static_cast<std::size_t>(KeRecordSeen::NtpServer)]);
  EXPECT_TRUE(seen[static_cast<std::size_t>(KeRecordSeen::NtpPort)]);
  EXPECT_TRUE(seen[static_cast<std::size_t>(KeRecordSeen::Record1024)]);
  EXPECT_TRUE(seen[static_cast<std::size_t>(KeRecordSeen::UnknownNonCritical)]);
  EXPECT_FALSE(seen[static_cast<std::size_t>(KeRecordSeen::UnknownCritical)]);

  const auto plain = request({15});
  for (const bool s : ke_records_seen(message_of(plain))) EXPECT_FALSE(s);
  const auto critical = request({15}, raw_record(0x4321, true));
  EXPECT_TRUE(ke_records_seen(
      message_of(critical))[static_cast<std::size_t>(KeRecordSeen::UnknownCritical)]);
}

TEST(KeCensusLabels, AlpnOfferedListSanitisedAndBounded) {
  const std::uint8_t ntske[] = {7, 'n', 't', 's', 'k', 'e', '/', '1'};
  EXPECT_EQ(ke_alpn_label(ntske, sizeof ntske), "ntske/1");
  const std::uint8_t two[] = {2, 'h', '2', 7, 'n', 't', 's', 'k', 'e', '/', '1'};
  EXPECT_EQ(ke_alpn_label(two, sizeof two), "h2,ntske/1");
  const std::uint8_t odd[] = {3, 'a', ',', 0x01};
  EXPECT_EQ(ke_alpn_label(odd, sizeof odd), "a??");
  const std::uint8_t five[] = {1, 'a', 1, 'b', 1, 'c', 1, 'd', 1, 'e'};
  EXPECT_EQ(ke_alpn_label(five, sizeof five), "a,b,c,d,...");
  const std::uint8_t truncated[] = {5, 'a'};
  EXPECT_EQ(ke_alpn_label(truncated, sizeof truncated), "malformed");
  const std::uint8_t zero[] = {0};
  EXPECT_EQ(ke_alpn_label(zero, sizeof zero), "malformed");
  EXPECT_EQ(ke_alpn_label(nullptr, 0), "none");
  std::vector<std::uint8_t> longname = {40};
  longname.resize(41, 'x');
  EXPECT_EQ(ke_alpn_label(longname.data(), longname.size()), std::string(kMaxAlpnNameLength, 'x'));
}

TEST(KeCensus, CountsRequestsByPiecesAndTlsByName) {
  KeCensus census;
  const auto wire = request({30, 15}, raw_record(1024, false));
  const auto message = message_of(wire);
  census.count_request(message, 1, 1);
  census.count_request(message, 2, 2);
  census.count_request(message, 3, 2);
  census.count_request(message, 40, 7);
  census.count_tls({"TLSv1.3", "TLS_AES_256_GCM_SHA384", "x25519", true});
  census.count_tls({"TLSv1.3", "TLS_AES_128_GCM_SHA256", "", false});
  census.count_alpn("ntske/1");
  const auto s = census.snapshot();
  EXPECT_EQ(s.requests, 4U);
  EXPECT_EQ(s.tls_records, (std::array<std::uint64_t, 3>{1, 1, 2}));
  EXPECT_EQ(s.reads, (std::array<std::uint64_t, 3>{1, 2, 1}));
  EXPECT_EQ(s.records_seen[static_cast<std::size_t>(KeRecordSeen::Record1024)], 4U);
  EXPECT_EQ(count_of(s.aeads, "30,15"), 4U);
  EXPECT_EQ(count_of(s.tls_versions, "TLSv1.3"), 2U);
  EXPECT_EQ(count_of(s.ciphers, "TLS_AES_128_GCM_SHA256"), 1U);
  EXPECT_EQ(count_of(s.groups, "x25519"), 1U);
  EXPECT_EQ(count_of(s.groups, "unknown"), 1U);
  EXPECT_EQ(s.sni, (std::array<std::uint64_t, 2>{1, 1}));
  EXPECT_EQ(count_of(s.alpn, "ntske/1"), 1U);
}

TEST(KeCensus, AeadListsBeyondTheSlotsGoToOther) {
  KeCensus census;
  for (std::uint16_t id = 1; id <= KeCensus::kAeadListSlots + 5; ++id) {
    const auto wire = request({id});
    census.count_request(message_of(wire), 1, 1);
  }
  const auto s = census.snapshot();
  EXPECT_EQ(s.aeads.size(), KeCensus::kAeadListSlots + 1);
  EXPECT_EQ(count_of(s.aeads, "other"), 5U);
}

TEST(NtpCensusBuckets, LengthVersionFamily) {
  EXPECT_EQ(length_bucket_name(length_bucket(0)), "0-47");
  EXPECT_EQ(length_bucket_name(length_bucket(47)), "0-47");
  EXPECT_EQ(length_bucket_name(length_bucket(48)), "48");
  EXPECT_EQ(length_bucket_name(length_bucket(68)), "49-127");
  EXPECT_EQ(length_bucket_name(length_bucket(232)), "128-255");
  EXPECT_EQ(length_bucket_name(length_bucket(511)), "256-511");
  EXPECT_EQ(length_bucket_name(length_bucket(512)), "512-1023");
  EXPECT_EQ(length_bucket_name(length_bucket(2048)), "1024+");
  for (unsigned v = 0; v < 8; ++v) {
    const std::uint8_t byte = static_cast<std::uint8_t>(v << 3 | 3);
    const auto name = version_bucket_name(version_bucket({&byte, 1}));
    EXPECT_EQ(name, v >= 1 && v <= 4 ? std::to_string(v) : "other") << v;
  }
  EXPECT_EQ(version_bucket_name(version_bucket({})), "other");

  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  ASSERT_EQ(inet_pton(AF_INET6, "2001:db8::1", &v6.sin6_addr), 1);
  sockaddr_in6 mapped{};
  mapped.sin6_family = AF_INET6;
  ASSERT_EQ(inet_pton(AF_INET6, "::ffff:192.0.2.1", &mapped.sin6_addr), 1);
  EXPECT_EQ(family_bucket_name(family_bucket(reinterpret_cast<sockaddr*>(&v4))), "ipv4");
  EXPECT_EQ(family_bucket_name(family_bucket(reinterpret_cast<sockaddr*>(&v6))), "ipv6");
  EXPECT_EQ(family_bucket_name(family_bucket(reinterpret_cast<sockaddr*>(&mapped))), "ipv4");
}

TEST(NtpCensus, CountsReadRequestsAndPlaceholdersOfAnsweredNts) {
  NtpCensus census;
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  const auto* p4 = reinterpret_cast<const sockaddr*>(&v4);
  const auto* p6 = reinterpret_cast<const sockaddr*>(&v6);
  std::vector<std::uint8_t> v3(48, 0), v4nts(232, 0);
  v3[0] = 0x1b;     // version 3, client
  v4nts[0] = 0x23;  // version 4, client
  census.count(v3, p4, {RequestKind::Plain, Reason::Answered}, 0);
  census.count(v3, p6, {RequestKind::Plain, Reason::Answered}, 0);
  census.count(v4nts, p4, {RequestKind::Nts, Reason::Answered}, 1);             // no placeholder
  census.count(v4nts, p4, {RequestKind::Nts, Reason::Answered}, 4);             // 3 placeholders
  census.count(v4nts, p4, {RequestKind::Nts, Reason::Answered}, 8);             // 7 or more
  census.count(v4nts, p6, {RequestKind::Nts, Reason::UnknownCookieKey}, 8);     // a NAK: stale 8
  census.count(v4nts, p4, {RequestKind::Unknown, Reason::RateLimitedDrop}, 0);  // unread
  NtpCensusCounts c;
  census.add_to(c);
  census.add_to(c);  // adds, never overwrites
  EXPECT_EQ(c.placeholders, (std::array<std::uint64_t, 8>{2, 0, 0, 2, 0, 0, 0, 2}));
  EXPECT_EQ(c.length[0][length_bucket(48)], 4U);
  EXPECT_EQ(c.length[1][length_bucket(232)], 8U);
  EXPECT_EQ(c.version[0][2], 4U);  // "3"
  EXPECT_EQ(c.version[1][3], 8U);  // "4"
  EXPECT_EQ(c.family[0], (std::array<std::uint64_t, 2>{2, 2}));
  EXPECT_EQ(c.family[1], (std::array<std::uint64_t, 2>{6, 2}));
}

TEST(CensusRender, AfXdpWorkersCensusIsAddedToTheSockets) {
  NtpCounters sockets;
  sockets.census.placeholders[1] = 2;
  NtpCounters xdp;
  xdp.census.placeholders[1] = 3;
  xdp.census.family[1][1] = 4;
  add_xdp_requests(sockets, xdp);
  EXPECT_EQ(sockets.census.placeholders[1], 5U);
  EXPECT_EQ(sockets.census.family[1][1], 4U);
}

TEST(CensusRender, BoundedAndFixedLabelSets) {
  MetricsSnapshot s;
  KeMetrics ke;
  ke.census.requests = 3;
  ke.census.tls_records = {1, 1, 1};
  ke.census.aeads = {{"30,15", 2}, {"other", 1}};
  ke.census.alpn = {{"a\"b", 1}, {"other", 0}};
  s.ke = ke;
  NtpCounters ntp;
  ntp.census.placeholders[7] = 5;
  ntp.census.version[0][2] = 6;
  s.ntp = ntp;
  const std::string text = render_metrics(s);
  for (const char* line :
       {"ntsd_ke_requests_total 3\n", "ntsd_ke_request_tls_records_total{records=\"3+\"} 1\n",
        "ntsd_ke_offered_aeads_total{aeads=\"30,15\"} 2\n",
        "ntsd_ke_offered_aeads_total{aeads=\"other\"} 1\n",
        "ntsd_ke_alpn_offered_total{alpn=\"a\\\"b\"} 1\n",
        "ntsd_ke_request_records_total{record=\"1024\"} 0\n",
        "ntsd_ke_tls_sni_total{sni=\"false\"} 0\n",
        "ntsd_ntp_cookie_placeholders_total{placeholders=\"7+\"} 5\n",
        "ntsd_ntp_request_version_total{kind=\"plain\",version=\"3\"} 6\n",
        "ntsd_ntp_request_family_total{kind=\"nts\",family=\"ipv6\"} 0\n",
        "ntsd_ntp_request_length_total{kind=\"nts\",length=\"1024+\"} 0\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
}

}  // namespace
}  // namespace ntsd::server
