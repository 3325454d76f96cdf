// NTS-KE negotiation, server and client side (RFC 8915 §4.1).
// Long because it is the one test file of core/ke_negotiation (the tree mirrors src),
// and every record rule on both sides has its own reject case.
#include "core/ke_negotiation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace ntsd::core {
namespace {

constexpr auto k256 = AeadAlgorithm::AesSivCmac256;
constexpr auto k384 = AeadAlgorithm::AesSivCmac384;
constexpr auto k512 = AeadAlgorithm::AesSivCmac512;

Bytes bytes(std::initializer_list<int> values) {
  Bytes out;
  for (int v : values) out.push_back(static_cast<std::uint8_t>(v));
  return out;
}

ByteView text(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

KeRecordType type(std::uint16_t t) { return static_cast<KeRecordType>(t); }

// Builds a message record by record.
class Message {
 public:
  Message& record(bool critical, KeRecordType t, ByteView body) {
    append_ke_record(bytes_, critical, t, body);
    return *this;
  }
  Message& u16s(bool critical, KeRecordType t, const std::vector<std::uint16_t>& values) {
    append_ke_record_u16s(bytes_, critical, t, values);
    return *this;
  }
  Message& next_protocol(const std::vector<std::uint16_t>& values) {
    return u16s(true, KeRecordType::NextProtocol, values);
  }
  Message& aead(const std::vector<std::uint16_t>& values) {
    return u16s(true, KeRecordType::AeadAlgorithm, values);
  }
  Message& end() { return record(true, KeRecordType::EndOfMessage, {}); }
  [[nodiscard]] const Bytes& get() const { return bytes_; }

 private:
  Bytes bytes_;
};

// The usual good request: Next Protocol {0}, AEAD {15}.
Message good_request() {
  Message m;
  m.next_protocol({0}).aead({15});
  return m;
}

KeServerPolicy policy_with(std::vector<AeadAlgorithm> preference) {
  KeServerPolicy policy;
  policy.aead_preference = std::move(preference);
  return policy;
}

KeServerPolicy default_policy() { return policy_with({k256, k512}); }

struct Decided {
  KeDecision decision;
  Bytes response;
};

Decided decide(const Bytes& request, const KeServerPolicy& policy = default_policy(),
               std::vector<Bytes> cookies = {Bytes(64, 0xc0)}) {
  const KeMessage message = parse_ke_message(request);
  Decided d;
  d.decision = decide_ke_request(message, message.trailing_data(request.size()), policy);
  d.response = build_ke_response(d.decision, cookies, policy);
  return d;
}

const Bytes kError0 = bytes({0x80, 0x02, 0x00, 0x02, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00});
const Bytes kError1 = bytes({0x80, 0x02, 0x00, 0x02, 0x00, 0x01, 0x80, 0x00, 0x00, 0x00});
const Bytes kError2 = bytes({0x80, 0x02, 0x00, 0x02, 0x00, 0x02, 0x80, 0x00, 0x00, 0x00});

// ---------------------------------------------------------------- server: Ok

TEST(KeServer, GoodRequestIsOkWithExactResponse) {
  const std::vector<Bytes> cookies = {bytes({1, 2, 3, 4}), bytes({5, 6, 7, 8, 9})};
  const auto d = decide(good_request().end().get(), default_policy(), cookies);
  EXPECT_EQ(d.decision.outcome, KeOutcome::Ok);
  EXPECT_EQ(d.decision.bad_request, KeBadRequest::None);
  ASSERT_TRUE(d.decision.aead);
  EXPECT_EQ(*d.decision.aead, k256);
  const Bytes expected = bytes({
      0x80, 0x01, 0x00, 0x02, 0x00, 0x00,           // Next Protocol {0}, critical
      0x80, 0x04, 0x00, 0x02, 0x00, 0x0f,           // AEAD {15}, critical
      0x00, 0x05, 0x00, 0x04, 1,    2,    3, 4,     // cookie, not critical
      0x00, 0x05, 0x00, 0x05, 5,    6,    7, 8, 9,  // cookie
      0x80, 0x00, 0x00, 0x00,                       // End of Message
  });
  EXPECT_EQ(d.response, expected);
}

// The client's preference decides among what the server allows (as chrony does);
// the order of the server's list does not matter.
TEST(KeServer, AeadChoiceFollowsClientPreference) {
  KeServerPolicy policy = policy_with({k512, k256});
  Message m;
  m.next_protocol({0}).aead({15, 17}).end();
  auto d = decide(m.get(), policy);
  ASSERT_EQ(d.decision.outcome, KeOutcome::Ok);
  EXPECT_EQ(*d.decision.aead, k256);

  policy.aead_preference = {k256, k512};
  Message m2;
  m2.next_protocol({0}).aead({17, 15}).end();
  d = decide(m2.get(), policy);
  ASSERT_EQ(d.decision.outcome, KeOutcome::Ok);
  EXPECT_EQ(*d.decision.aead, k512);

  // Algorithms not allowed (30 here) or unknown (0x1234) are skipped.
  Message m3;
  m3.next_protocol({0}).aead({30, 0x1234, 16}).end();
  policy.aead_preference = {k256, k384};
  d = decide(m3.get(), policy);
  ASSERT_EQ(d.decision.outcome, KeOutcome::Ok);
  EXPECT_EQ(*d.decision.aead, k384);
  EXPECT_FALSE(d.decision.compliant_gcm_siv);
}

// ---------------------------------------------------------------- AEAD 30, record 1024

constexpr auto k30 = AeadAlgorithm::AesGcmSiv128;
constexpr auto kCompliant = KeRecordType::CompliantGcmSivExport;

TEST(KeServerGcmSiv, ChromyFourSixOneRequestGetsThirtyAndTheEcho) {
  Message m;
  m.next_protocol({0}).aead({30, 15}).record(false, kCompliant, {}).end();
  const auto d = decide(m.get(), policy_with({k256, k30}), {bytes({1, 2, 3, 4})});
  ASSERT_EQ(d.decision.outcome, KeOutcome::Ok);
  EXPECT_EQ(*d.decision.aead, k30);
  EXPECT_TRUE(d.decision.compliant_gcm_siv);
  EXPECT_EQ(exporter_context_aead(k30, true), k30);
  const Bytes expected = bytes({
      0x80, 0x01, 0x00, 0x02, 0x00, 0x00,  // Next Protocol {0}
      0x80, 0x04, 0x00, 0x02, 0x00, 0x1e,  // AEAD {30}
      0x04, 0x00, 0x00, 0x00,              // record 1024, not critical, empty
      0x00, 0x05, 0x00, 0x04, 1,    2,    3, 4, 0x80, 0x00, 0x00, 0x00,
  });
  EXPECT_EQ(d.response, expected);
}

TEST(KeServerGcmSiv, ThirtyWithoutTheRecordUsesIdFifteenInTheContext) {
  Message m;
  m.next_protocol({0}).aead({30, 15}).end();  // chrony 4.4 to 4.6.0
  const auto d = decide(m.get(), policy_with({k256, k30}));
  ASSERT_EQ(d.decision.outcome, KeOutcome::Ok);
  EXPECT_EQ(*d.decision.aead, k30);
  EXPECT_FALSE(d.decision.compliant_gcm_siv);
  EXPECT_EQ(exporter_context_aead(k30, false), k256);
  EXPECT_EQ(exporter_context(exporter_context_aead(k30, false), false),
            (std::array<std::uint8_t, 5>{0, 0, 0, 15, 0}));
  EXPECT_EQ(exporter_context(exporter_context_aead(k30, true), true),
            (std::array<std::uint8_t, 5>{0, 0, 0, 30, 1}));
  // No echo in the response.
  const KeMessage response = parse_ke_message(d.response);
  for (const KeRecord& r : response.records) EXPECT_NE(r.type, 1024);
}

TEST(KeServerGcmSiv, RecordWithFifteenChosenIsNotEchoed) {
  Message m;
  m.next_protocol({0}).aead({30, 15}).record(false, kCompliant, {}).end();
  const auto d = decide(m.get(), policy_with({k256}));  // 30 not allowed
  ASSERT_EQ(d.decision.outcome, KeOutcome::Ok);
  EXPECT_EQ(*d.decision.aead, k256);
  EXPECT_FALSE(d.decision.compliant_gcm_siv);
  EXPECT_EQ(exporter_context_aead(k256, false), k256);
  const KeMessage response = parse_ke_message(d.response);
  for (const KeRecord& r : response.records) EXPECT_NE(r.type, 1024);
}

TEST(KeServerGcmSiv, CriticalRecordIsKnownAndNonEmptyIsABadRequest) {
  Message critical;
  critical.next_protocol({0}).aead({30}).record(true, kCompliant, {}).end();
  auto d = decide(critical.get(), policy_with({k30}));
  ASSERT_EQ(d.decision.outcome, KeOutcome::Ok);
  EXPECT_TRUE(d.decision.compliant_gcm_siv);

  Message body;
  body.next_protocol({0}).aead({30}).record(false, kCompliant, bytes({0})).end();
  d = decide(body.get(), policy_with({k30}));
  EXPECT_EQ(d.decision.outcome, KeOutcome::BadRequest);
  EXPECT_EQ(d.decision.bad_request, KeBadRequest::CompliantExportBody);
  EXPECT_EQ(d.response, kError1);
}

TEST(KeClientGcmSiv, RequestCarriesTheRecordOnlyWithThirty) {
  const std::vector<AeadAlgorithm> with30 = {k30, k256, k512};
  EXPECT_EQ(build_ke_request(with30),
            bytes({0x80, 0x01, 0x00, 0x02, 0x00, 0x00, 0x80, 0x04, 0x00, 0x06, 0x00, 0x1e,
                   0x00, 0x0f, 0x00, 0x11, 0x04, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00}));
  const std::vector<AeadAlgorithm> without = {k256};
  const KeMessage m = parse_ke_message(build_ke_request(without));
  for (const KeRecord& r : m.records) EXPECT_NE(r.type, 1024);
}

TEST(KeClientGcmSiv, EchoMakesTheKeysCompliant) {
  const std::vector<AeadAlgorithm> offered = {k30, k256};
  Message echoed;
  echoed.next_protocol({0}).aead({30}).record(false, kCompliant, {});
  echoed.record(false, KeRecordType::NewCookie, bytes({1, 2, 3, 4})).end();
  auto r = interpret_ke_response(parse_ke_message(echoed.get()), offered);
  ASSERT_EQ(r.error, KeClientError::None);
  EXPECT_EQ(*r.aead, k30);
  EXPECT_TRUE(r.compliant_gcm_siv);

  Message plain;
  plain.next_protocol({0}).aead({30});
  plain.record(false, KeRecordType::NewCookie, bytes({1, 2, 3, 4})).end();
  r = interpret_ke_response(parse_ke_message(plain.get()), offered);
  ASSERT_EQ(r.error, KeClientError::None);
  EXPECT_FALSE(r.compliant_gcm_siv);

  Message bad;
  bad.next_protocol({0}).aead({30}).record(false, kCompliant, bytes({0}));
  bad.record(false, KeRecordType::NewCookie, bytes({1, 2, 3, 4})).end();
  r = interpret_ke_response(parse_ke_message(bad.get()), offered);
  EXPECT_EQ(r.error, KeClientError::Malformed);
}

TEST(KeServer, NoCommonAead) {
  Message m;
  m.next_protocol({0}).aead({16, 30}).end();
  const auto d = decide(m.get());
  EXPECT_EQ(d.decision.outcome, KeOutcome::NoCommonAead);
  EXPECT_EQ(d.decision.bad_request, KeBadRequest::None);
  EXPECT_FALSE(d.decision.aead);
  EXPECT_EQ(d.response, bytes({0x80, 0x01, 0x00, 0x02, 0x00, 0x00,  // Next Protocol {0}
                               0x80, 0x04, 0x00, 0x00,              // empty AEAD
                               0x80, 0x00, 0x00, 0x00}));
}

TEST(KeServer, EmptyPolicyHasNoCommonAead) {
  const auto d = decide(good_request().end().get(), KeServerPolicy{});
  EXPECT_EQ(d.decision.outcome, KeOutcome::NoCommonAead);
}

TEST(KeServer, NoCommonProtocol) {
  Message m;
  m.next_protocol({0x8001, 2}).end();  // no AEAD record needed without NTPv4
  const auto d = decide(m.get());
  EXPECT_EQ(d.decision.outcome, KeOutcome::NoCommonProtocol);
  EXPECT_FALSE(d.decision.aead);
  EXPECT_EQ(d.response, bytes({0x80, 0x01, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00}));

  // An AEAD record may still be present; we do not need it.
  Message m2;
  m2.next_protocol({0x8001}).aead({15}).aead({17}).end();
  EXPECT_EQ(decide(m2.get()).decision.outcome, KeOutcome::NoCommonProtocol);
}

TEST(KeServer, NtpV4AmongOtherProtocols) {
  Message m;
  m.next_protocol({0x8001, 0, 7}).aead({15}).end();
  const auto d = decide(m.get());
  ASSERT_EQ(d.decision.outcome, KeOutcome::Ok);
  // The response holds only what we support.
  EXPECT_EQ(Bytes(d.response.begin(), d.response.begin() + 6),
            bytes({0x80, 0x01, 0x00, 0x02, 0x00, 0x00}));
}

TEST(KeServer, UnknownNonCriticalRecordsAreIgnored) {
  Message m;
  m.record(false, type(0x1234), bytes({1, 2, 3}))
      .next_protocol({0})
      .record(false, type(8), {})
      .aead({15})
      .record(false, type(0x7fff), bytes({9}))
      .end();
  const auto d = decide(m.get());
  EXPECT_EQ(d.decision.outcome, KeOutcome::Ok);
}

// RFC 8915 asks senders to set the critical bit on these; we do not insist.
TEST(KeServer, CriticalBitOnKnownRecordsIsNotRequired) {
  Message m;
  m.u16s(false, KeRecordType::NextProtocol, {0}).u16s(false, KeRecordType::AeadAlgorithm, {15});
  m.record(false, KeRecordType::EndOfMessage, {});
  EXPECT_EQ(decide(m.get()).decision.outcome, KeOutcome::Ok);
}

// The client's Server and Port records are hints we are free to ignore.
TEST(KeServer, ClientServerAndPortHintsAreAcceptedAndIgnored) {
  Message m;
  m.next_protocol({0})
      .aead({15})
      .record(false, KeRecordType::NtpServer, text("ntp.example.org"))
      .u16s(true, KeRecordType::NtpPort, {1123})
      .end();
  const auto d = decide(m.get());
  ASSERT_EQ(d.decision.outcome, KeOutcome::Ok);
  const KeMessage response = parse_ke_message(d.response);
  for (const KeRecord& r : response.records) {
    EXPECT_NE(r.type, static_cast<std::uint16_t>(KeRecordType::NtpServer));
    EXPECT_NE(r.type, static_cast<std::uint16_t>(KeRecordType::NtpPort));
  }
}

TEST(KeServer, ServerAndPortInResponseWhenConfigured) {
  KeServerPolicy policy = default_policy();
  policy.ntp_server = "time.example.com";
  policy.ntp_port = 4123;
  const auto d = decide(good_request().end().get(), policy, {bytes({0xaa})});
  ASSERT_EQ(d.decision.outcome, KeOutcome::Ok);
  Bytes expected = bytes({0x80, 0x01, 0x00, 0x02, 0x00, 0x00, 0x80, 0x04, 0x00, 0x02, 0x00, 0x0f,
                          0x80, 0x06, 0x00, 0x10});
  const std::string name = "time.example.com";
  expected.insert(expected.end(), name.begin(), name.end());
  const Bytes tail = bytes({0x80, 0x07, 0x00, 0x02, 0x10, 0x1b,  // Port 4123, critical
                            0x00, 0x05, 0x00, 0x01, 0xaa,        // cookie
                            0x80, 0x00, 0x00, 0x00});
  expected.insert(expected.end(), tail.begin(), tail.end());
  EXPECT_EQ(d.response, expected);

  // Only the port, or only the server.
  policy.ntp_server.reset();
  auto only_port = decide(good_request().end().get(), policy, {bytes({0xaa})});
  EXPECT_EQ(only_port.response.size(), 6u + 6u + 6u + 5u + 4u);
  policy.ntp_server = "192.0.2.1";
  policy.ntp_port.reset();
  auto only_server = decide(good_request().end().get(), policy, {bytes({0xaa})});
  EXPECT_EQ(only_server.response.size(), 6u + 6u + 4u + 9u + 5u + 4u);
}

TEST(KeServer, ServerAndPortNotSentWithoutAgreement) {
  KeServerPolicy policy = default_policy();
  policy.ntp_server = "time.example.com";
  policy.ntp_port = 4123;
  Message m;
  m.next_protocol({0}).aead({16}).end();
  EXPECT_EQ(decide(m.get(), policy).response, bytes({0x80, 0x01, 0x00, 0x02, 0x00, 0x00, 0x80, 0x04,
                                                     0x00, 0x00, 0x80, 0x00, 0x00, 0x00}));
  EXPECT_EQ(decide(Message().next_protocol({5}).end().get(), policy).response,
            bytes({0x80, 0x01, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00}));
  EXPECT_EQ(decide(Message().end().get(), policy).response, kError1);
}

TEST(KeServer, EightCookies) {
  std::vector<Bytes> cookies;
  for (int i = 0; i < 8; ++i) cookies.push_back(Bytes(104, static_cast<std::uint8_t>(i)));
  const auto d = decide(good_request().end().get(), default_policy(), cookies);
  const KeMessage response = parse_ke_message(d.response);
  ASSERT_EQ(response.status, KeMessageStatus::Complete);
  EXPECT_EQ(response.length, d.response.size());
  std::vector<Bytes> seen;
  for (const KeRecord& r : response.records) {
    if (r.type == static_cast<std::uint16_t>(KeRecordType::NewCookie)) {
      EXPECT_FALSE(r.critical);
      seen.emplace_back(r.body.begin(), r.body.end());
    } else {
      EXPECT_TRUE(r.critical);
    }
  }
  EXPECT_EQ(seen, cookies);
}

// ------------------------------------------------- server: every bad request

struct BadCase {
  const char* name;
  Bytes request;
  KeOutcome outcome;
  KeBadRequest reason;
};

std::vector<BadCase> bad_cases() {
  std::vector<BadCase> cases;
  auto add = [&cases](const char* name, Bytes request, KeBadRequest reason) {
    cases.push_back({name, std::move(request), KeOutcome::BadRequest, reason});
  };
  auto good_plus = [](KeRecordType t, bool critical, Bytes body) {
    Message m = good_request();
    m.record(critical, t, body).end();
    return m.get();
  };

  // Framing.
  {
    Message m = good_request();
    m.record(true, KeRecordType::EndOfMessage, bytes({0}));
    add("eom_with_body", m.get(), KeBadRequest::Malformed);
  }
  {
    Bytes r = good_request().end().get();
    r.push_back(0);
    add("trailing_byte", r, KeBadRequest::TrailingData);
    Bytes r2 = good_request().end().get();
    const Bytes again = good_request().end().get();
    r2.insert(r2.end(), again.begin(), again.end());
    add("two_messages", r2, KeBadRequest::TrailingData);
  }

  // Records a client must not send, critical or not.
  for (bool critical : {false, true}) {
    add("error_record", good_plus(KeRecordType::Error, critical, bytes({0, 1})),
        KeBadRequest::ForbiddenRecord);
    add("warning_record", good_plus(KeRecordType::Warning, critical, bytes({0, 1})),
        KeBadRequest::ForbiddenRecord);
    add("new_cookie_record", good_plus(KeRecordType::NewCookie, critical, bytes({1, 2, 3, 4})),
        KeBadRequest::ForbiddenRecord);
  }

  // Next Protocol.
  add("no_next_protocol", Message().aead({15}).end().get(), KeBadRequest::NextProtocolCount);
  add("no_records", Message().end().get(), KeBadRequest::NextProtocolCount);
  add("two_next_protocol", Message().next_protocol({0}).next_protocol({0}).aead({15}).end().get(),
      KeBadRequest::NextProtocolCount);
  add("empty_next_protocol", Message().next_protocol({}).aead({15}).end().get(),
      KeBadRequest::NextProtocolBody);
  add("odd_next_protocol",
      Message().record(true, KeRecordType::NextProtocol, bytes({0, 0, 0})).aead({15}).end().get(),
      KeBadRequest::NextProtocolBody);
  add("one_byte_next_protocol",
      Message().record(true, KeRecordType::NextProtocol, bytes({0})).aead({15}).end().get(),
      KeBadRequest::NextProtocolBody);

  // AEAD.
  add("no_aead", Message().next_protocol({0}).end().get(), KeBadRequest::AeadCount);
  add("two_aead", Message().next_protocol({0}).aead({15}).aead({15}).end().get(),
      KeBadRequest::AeadCount);
  add("empty_aead", Message().next_protocol({0}).aead({}).end().get(), KeBadRequest::AeadBody);
  add("odd_aead",
      Message()
          .next_protocol({0})
          .record(true, KeRecordType::AeadAlgorithm, bytes({0, 15, 0}))
          .end()
          .get(),
      KeBadRequest::AeadBody);
  add("empty_aead_without_ntpv4", Message().next_protocol({0x8001}).aead({}).end().get(),
      KeBadRequest::AeadBody);
  add("one_good_one_empty_aead", Message().next_protocol({0}).aead({15}).aead({}).end().get(),
      KeBadRequest::AeadBody);

  // Server and Port hints.
  add("empty_server", good_plus(KeRecordType::NtpServer, false, {}), KeBadRequest::BadServerOrPort);
  add("server_with_space", good_plus(KeRecordType::NtpServer, false, bytes({'a', ' ', 'b'})),
      KeBadRequest::BadServerOrPort);
  add("server_with_nul", good_plus(KeRecordType::NtpServer, false, bytes({'a', 0})),
      KeBadRequest::BadServerOrPort);
  add("server_non_ascii", good_plus(KeRecordType::NtpServer, false, bytes({'a', 0xc3, 0xa9})),
      KeBadRequest::BadServerOrPort);
  add("port_one_byte", good_plus(KeRecordType::NtpPort, false, bytes({1})),
      KeBadRequest::BadServerOrPort);
  add("port_three_bytes", good_plus(KeRecordType::NtpPort, true, bytes({0, 123, 0})),
      KeBadRequest::BadServerOrPort);
  add("port_empty", good_plus(KeRecordType::NtpPort, false, {}), KeBadRequest::BadServerOrPort);
  {
    Message m = good_request();
    m.record(false, KeRecordType::NtpServer, text("a.example"))
        .record(false, KeRecordType::NtpServer, text("b.example"))
        .end();
    add("two_servers", m.get(), KeBadRequest::BadServerOrPort);
    Message p = good_request();
    p.u16s(false, KeRecordType::NtpPort, {123}).u16s(false, KeRecordType::NtpPort, {124}).end();
    add("two_ports", p.get(), KeBadRequest::BadServerOrPort);
  }
  return cases;
}

TEST(KeServer, EveryBadRequestHasItsReasonAndError1) {
  const auto cases = bad_cases();
  std::set<KeBadRequest> covered;
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    const auto d = decide(c.request);
    EXPECT_EQ(d.decision.outcome, KeOutcome::BadRequest);
    EXPECT_EQ(d.decision.bad_request, c.reason)
        << "got " << ke_bad_request_name(d.decision.bad_request);
    EXPECT_FALSE(d.decision.aead);
    EXPECT_EQ(d.response, kError1);
    covered.insert(c.reason);
  }
  // Every reason the message itself can cause is exercised (Timeout comes from the caller).
  EXPECT_EQ(covered.size(), 8u);
}

TEST(KeServer, IncompleteMessageIsMalformed) {
  const Bytes r = good_request().get();  // no End of Message
  const KeMessage message = parse_ke_message(r);
  ASSERT_EQ(message.status, KeMessageStatus::Incomplete);
  const KeDecision d = decide_ke_request(message, false, default_policy());
  EXPECT_EQ(d.outcome, KeOutcome::BadRequest);
  EXPECT_EQ(d.bad_request, KeBadRequest::Malformed);
}

TEST(KeServer, TooManyRecordsIsMalformed) {
  Message m = good_request();
  for (int i = 0; i < 20; ++i) m.record(false, type(0x1000), {});
  m.end();
  const KeMessage message = parse_ke_message(m.get(), 16);
  const KeDecision d = decide_ke_request(message, false, default_policy());
  EXPECT_EQ(d.bad_request, KeBadRequest::Malformed);
}

TEST(KeServer, TimeoutIsError1) {
  const KeDecision d = ke_bad_request(KeBadRequest::Timeout);
  EXPECT_EQ(d.outcome, KeOutcome::BadRequest);
  EXPECT_EQ(d.bad_request, KeBadRequest::Timeout);
  EXPECT_FALSE(d.aead);
  EXPECT_EQ(build_ke_response(d, {}, default_policy()), kError1);
}

TEST(KeServer, UnrecognizedCriticalIsError0) {
  for (int t : {8, 0x1234, 0x4000, 0x7fff}) {
    Message m = good_request();
    m.record(true, type(static_cast<std::uint16_t>(t)), bytes({1})).end();
    const auto d = decide(m.get());
    EXPECT_EQ(d.decision.outcome, KeOutcome::UnrecognizedCritical) << t;
    EXPECT_EQ(d.decision.bad_request, KeBadRequest::None);
    EXPECT_EQ(d.response, kError0);
  }
}

// The documented precedence holds whatever order the records come in.
TEST(KeServer, CheckOrder) {
  // Framing beats everything.
  {
    Message m;
    m.record(true, type(0x1234), {}).record(true, KeRecordType::EndOfMessage, bytes({1}));
    EXPECT_EQ(decide(m.get()).decision.bad_request, KeBadRequest::Malformed);
  }
  // Trailing data beats an unknown critical record.
  {
    Message m;
    m.record(true, type(0x1234), {}).end();
    Bytes r = m.get();
    r.push_back(0);
    const auto d = decide(r);
    EXPECT_EQ(d.decision.outcome, KeOutcome::BadRequest);
    EXPECT_EQ(d.decision.bad_request, KeBadRequest::TrailingData);
  }
  // Unknown critical beats every bad-request rule, before or after it.
  for (bool before : {true, false}) {
    Message m;
    if (before) m.record(true, type(0x1234), {});
    m.u16s(false, KeRecordType::Warning, {1});
    if (!before) m.record(true, type(0x1234), {});
    m.end();  // also: no Next Protocol, no AEAD
    EXPECT_EQ(decide(m.get()).decision.outcome, KeOutcome::UnrecognizedCritical) << before;
  }
  // Forbidden record beats Next Protocol count.
  EXPECT_EQ(
      decide(Message().u16s(false, KeRecordType::Error, {0}).end().get()).decision.bad_request,
      KeBadRequest::ForbiddenRecord);
  // Next Protocol count beats Next Protocol body.
  EXPECT_EQ(decide(Message().next_protocol({}).next_protocol({}).end().get()).decision.bad_request,
            KeBadRequest::NextProtocolCount);
  // Next Protocol body beats AEAD body.
  EXPECT_EQ(decide(Message().next_protocol({}).aead({}).end().get()).decision.bad_request,
            KeBadRequest::NextProtocolBody);
  // AEAD body beats AEAD count.
  EXPECT_EQ(decide(Message().next_protocol({0}).aead({}).aead({}).end().get()).decision.bad_request,
            KeBadRequest::AeadBody);
  // AEAD count beats Server/Port.
  EXPECT_EQ(
      decide(Message().next_protocol({0}).record(false, KeRecordType::NtpServer, {}).end().get())
          .decision.bad_request,
      KeBadRequest::AeadCount);
  // Server/Port beats "no common protocol".
  EXPECT_EQ(
      decide(
          Message().next_protocol({9}).record(false, KeRecordType::NtpPort, bytes({1})).end().get())
          .decision.bad_request,
      KeBadRequest::BadServerOrPort);
}

TEST(KeServer, OkWithoutAeadOrCookiesIsInternalError) {
  KeDecision ok{.outcome = KeOutcome::Ok, .bad_request = KeBadRequest::None, .aead = k256};
  EXPECT_EQ(build_ke_response(ok, {}, default_policy()), kError2);
  ok.aead.reset();
  const std::vector<Bytes> cookies = {bytes({1})};
  EXPECT_EQ(build_ke_response(ok, cookies, default_policy()), kError2);
}

TEST(KeServer, ErrorResponses) {
  EXPECT_EQ(build_ke_error_response(KeErrorCode::UnrecognizedCriticalRecord), kError0);
  EXPECT_EQ(build_ke_error_response(KeErrorCode::BadRequest), kError1);
  EXPECT_EQ(build_ke_error_response(KeErrorCode::InternalServerError), kError2);
}

TEST(KeServer, RandomRequestsAlwaysGetAWellFormedAnswer) {
  std::mt19937 rng(123);
  const KeServerPolicy policy = default_policy();
  const std::vector<Bytes> cookies = {Bytes(8, 1)};
  for (int round = 0; round < 20000; ++round) {
    // Random records from a small alphabet, so that valid shapes come up often.
    Message m;
    const int records = static_cast<int>(rng() % 5);
    for (int i = 0; i < records; ++i) {
      const std::uint16_t t = static_cast<std::uint16_t>(rng() % 10);
      if (t == 0) continue;
      Bytes body(rng() % 5);
      for (auto& b : body) b = static_cast<std::uint8_t>(rng() % 3 == 0 ? 15 : 0);
      m.record(rng() % 2 == 0, type(t), body);
    }
    m.end();
    const auto d = decide(m.get(), policy, cookies);
    const KeMessage response = parse_ke_message(d.response);
    ASSERT_EQ(response.status, KeMessageStatus::Complete);
    ASSERT_FALSE(response.trailing_data(d.response.size()));
    EXPECT_EQ(d.decision.outcome == KeOutcome::BadRequest,
              d.decision.bad_request != KeBadRequest::None);
    EXPECT_EQ(d.decision.outcome == KeOutcome::Ok, d.decision.aead.has_value());
  }
}

// ------------------------------------------------------------------ client

TEST(KeClient, RequestBytes) {
  const AeadAlgorithm offered[] = {k512, k256};
  EXPECT_EQ(build_ke_request(offered),
            bytes({0x80, 0x01, 0x00, 0x02, 0x00, 0x00,              // Next Protocol {0}
                   0x80, 0x04, 0x00, 0x04, 0x00, 0x11, 0x00, 0x0f,  // AEAD {17, 15}
                   0x80, 0x00, 0x00, 0x00}));
}

const AeadAlgorithm kOffered[] = {k256, k512};

// A good response with adjustable parts.
struct Response {
  bool next_protocol = true;
  bool aead = true;
  int cookies = 2;
  Message extra;

  [[nodiscard]] Bytes build() const {
    Message m;
    if (next_protocol) m.next_protocol({0});
    if (aead) m.aead({15});
    for (int i = 0; i < cookies; ++i) {
      m.record(false, KeRecordType::NewCookie, Bytes(40, static_cast<std::uint8_t>(i + 1)));
    }
    Bytes out = m.get();
    out.insert(out.end(), extra.get().begin(), extra.get().end());
    append_ke_record(out, true, KeRecordType::EndOfMessage, {});
    return out;
  }
};

KeClientResult interpret(const Bytes& response, std::span<const AeadAlgorithm> offered = kOffered) {
  return interpret_ke_response(parse_ke_message(response), offered);
}

TEST(KeClient, GoodResponse) {
  Response r;
  r.extra.record(true, KeRecordType::NtpServer, text("ntp1.example.net"))
      .u16s(true, KeRecordType::NtpPort, {1234})
      .u16s(false, KeRecordType::Warning, {5})
      .u16s(false, KeRecordType::Warning, {6})
      .record(false, type(0x2222), bytes({1, 2}));
  const KeClientResult result = interpret(r.build());
  EXPECT_EQ(result.error, KeClientError::None);
  EXPECT_EQ(result.error_code, 0);
  ASSERT_TRUE(result.aead);
  EXPECT_EQ(*result.aead, k256);
  ASSERT_EQ(result.cookies.size(), 2u);
  EXPECT_EQ(result.cookies[0], Bytes(40, 1));
  EXPECT_EQ(result.cookies[1], Bytes(40, 2));
  EXPECT_EQ(result.ntp_server, "ntp1.example.net");
  EXPECT_EQ(result.ntp_port, 1234);
  EXPECT_EQ(result.warnings, (std::vector<std::uint16_t>{5, 6}));
}

TEST(KeClient, NoServerOrPortMeansNone) {
  const KeClientResult result = interpret(Response{}.build());
  EXPECT_EQ(result.error, KeClientError::None);
  EXPECT_FALSE(result.ntp_server);
  EXPECT_FALSE(result.ntp_port);
  EXPECT_TRUE(result.warnings.empty());
}

TEST(KeClient, ServerErrors) {
  for (int code : {0, 1, 2, 0x1234}) {
    const Bytes response = bytes({0x80, 0x02, 0x00, 0x02, code >> 8, code & 0xff, 0x80, 0, 0, 0});
    const KeClientResult result = interpret(response);
    EXPECT_EQ(result.error, KeClientError::ServerError) << code;
    EXPECT_EQ(result.error_code, code);
    EXPECT_FALSE(result.aead);
    EXPECT_TRUE(result.cookies.empty());
  }
  // An Error record wins even inside an otherwise good response.
  Response r;
  r.extra.u16s(true, KeRecordType::Error, {2});
  const KeClientResult result = interpret(r.build());
  EXPECT_EQ(result.error, KeClientError::ServerError);
  EXPECT_EQ(result.error_code, 2);
  EXPECT_TRUE(result.cookies.empty());
}

TEST(KeClient, ErrorRecordWithBadBodyIsMalformed) {
  for (const Bytes& body : {Bytes{}, bytes({1}), bytes({0, 1, 0})}) {
    Message m;
    m.record(true, KeRecordType::Error, body).end();
    EXPECT_EQ(interpret(m.get()).error, KeClientError::Malformed) << body.size();
  }
}

TEST(KeClient, UnrecognizedCritical) {
  Response r;
  r.extra.record(true, type(0x1234), {});
  EXPECT_EQ(interpret(r.build()).error, KeClientError::UnrecognizedCritical);
}

TEST(KeClient, FramingProblemsAreMalformed) {
  const Bytes good = Response{}.build();
  EXPECT_EQ(interpret(Bytes(good.begin(), good.end() - 1)).error, KeClientError::Malformed);
  Bytes eom_body = Response{}.build();
  eom_body.back() = 1;  // End of Message body length 1
  EXPECT_EQ(interpret(eom_body).error, KeClientError::Malformed);
}

// Exactly one Next Protocol and one AEAD record: none, or two, is a malformed response.
TEST(KeClient, MissingOrRepeatedNextProtocolOrAeadIsMalformed) {
  std::vector<Response> bad(4);
  bad[0].next_protocol = false;
  bad[1].extra.next_protocol({0});
  bad[2].aead = false;
  bad[3].extra.aead({15});
  for (std::size_t i = 0; i < bad.size(); ++i) {
    EXPECT_EQ(interpret(bad[i].build()).error, KeClientError::Malformed) << i;
  }
}

TEST(KeClient, NextProtocolProblems) {
  Message odd;
  odd.record(true, KeRecordType::NextProtocol, bytes({0, 0, 0})).aead({15}).end();
  EXPECT_EQ(interpret(odd.get()).error, KeClientError::Malformed);

  // The server's answer when it supports nothing we offered.
  EXPECT_EQ(interpret(bytes({0x80, 0x01, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00})).error,
            KeClientError::NoCommonProtocol);
  Message other;
  other.next_protocol({0x8001}).aead({15}).end();
  EXPECT_EQ(interpret(other.get()).error, KeClientError::NoCommonProtocol);
}

TEST(KeClient, AeadProblems) {
  // The server's answer when it supports no algorithm we offered.
  EXPECT_EQ(interpret(bytes({0x80, 0x01, 0x00, 0x02, 0x00, 0x00, 0x80, 0x04, 0x00, 0x00, 0x80, 0x00,
                             0x00, 0x00}))
                .error,
            KeClientError::NoCommonAead);

  Message two_values;
  two_values.next_protocol({0}).aead({15, 17}).record(false, KeRecordType::NewCookie, bytes({1}));
  two_values.end();
  EXPECT_EQ(interpret(two_values.get()).error, KeClientError::Malformed);

  Message odd;
  odd.next_protocol({0}).record(true, KeRecordType::AeadAlgorithm, bytes({0})).end();
  EXPECT_EQ(interpret(odd.get()).error, KeClientError::Malformed);

  Message not_offered;
  not_offered.next_protocol({0}).aead({16}).record(false, KeRecordType::NewCookie, bytes({1}));
  not_offered.end();
  const KeClientResult result = interpret(not_offered.get());
  EXPECT_EQ(result.error, KeClientError::UnsupportedAead);
  EXPECT_FALSE(result.aead);

  // 17 is fine when we offered it, and the result says which one.
  Message chose_512;
  chose_512.next_protocol({0}).aead({17}).record(false, KeRecordType::NewCookie, bytes({1}));
  chose_512.end();
  const KeClientResult ok = interpret(chose_512.get());
  EXPECT_EQ(ok.error, KeClientError::None);
  EXPECT_EQ(ok.aead, k512);
}

TEST(KeClient, CookieProblems) {
  Response none;
  none.cookies = 0;
  EXPECT_EQ(interpret(none.build()).error, KeClientError::NoCookies);

  Response empty_cookie;
  empty_cookie.extra.record(false, KeRecordType::NewCookie, {});
  EXPECT_EQ(interpret(empty_cookie.build()).error, KeClientError::Malformed);
}

TEST(KeClient, ServerPortWarningProblems) {
  auto with = [](auto add) {
    Response r;
    add(r.extra);
    return interpret(r.build()).error;
  };
  EXPECT_EQ(with([](Message& m) { m.record(true, KeRecordType::NtpServer, {}); }),
            KeClientError::Malformed);
  EXPECT_EQ(with([](Message& m) { m.record(true, KeRecordType::NtpServer, text("a b")); }),
            KeClientError::Malformed);
  EXPECT_EQ(with([](Message& m) {
              m.record(true, KeRecordType::NtpServer, bytes({'a', 0x7f}));
            }),
            KeClientError::Malformed);
  EXPECT_EQ(with([](Message& m) {
              m.record(true, KeRecordType::NtpServer, text("a"))
                  .record(true, KeRecordType::NtpServer, text("b"));
            }),
            KeClientError::Malformed);
  EXPECT_EQ(with([](Message& m) { m.record(true, KeRecordType::NtpPort, bytes({1})); }),
            KeClientError::Malformed);
  EXPECT_EQ(with([](Message& m) {
              m.record(true, KeRecordType::NtpPort, bytes({0, 1, 2}));
            }),
            KeClientError::Malformed);
  EXPECT_EQ(with([](Message& m) {
              m.u16s(true, KeRecordType::NtpPort, {1}).u16s(true, KeRecordType::NtpPort, {1});
            }),
            KeClientError::Malformed);
  EXPECT_EQ(with([](Message& m) { m.record(false, KeRecordType::Warning, bytes({1})); }),
            KeClientError::Malformed);
  // IPv6 literal is fine.
  EXPECT_EQ(with([](Message& m) { m.record(true, KeRecordType::NtpServer, text("2001:db8::1")); }),
            KeClientError::None);
}

TEST(KeClient, WarningsAreCollectedEvenOnError) {
  Message m;
  m.u16s(false, KeRecordType::Warning, {9}).u16s(true, KeRecordType::Error, {1}).end();
  const KeClientResult result = interpret(m.get());
  EXPECT_EQ(result.error, KeClientError::ServerError);
  EXPECT_EQ(result.warnings, std::vector<std::uint16_t>{9});
}

TEST(KeClient, ResponseSplitAtEveryOffset) {
  Response r;
  r.cookies = 8;
  r.extra.record(true, KeRecordType::NtpServer, text("ntp.example"));
  const Bytes response = r.build();
  for (std::size_t cut = 0; cut < response.size(); ++cut) {
    const KeMessage prefix = parse_ke_message(ByteView(response).first(cut));
    ASSERT_EQ(prefix.status, KeMessageStatus::Incomplete) << cut;
    EXPECT_EQ(interpret_ke_response(prefix, kOffered).error, KeClientError::Malformed);
  }
  EXPECT_EQ(interpret(response).error, KeClientError::None);
}

// ------------------------------------------------------------- round trips

struct RoundTrip {
  KeDecision decision;
  KeClientResult client;
};

RoundTrip round_trip(std::span<const AeadAlgorithm> offered, const KeServerPolicy& policy,
                     const std::vector<Bytes>& cookies) {
  const Bytes request = build_ke_request(offered);
  const KeMessage server_view = parse_ke_message(request);
  RoundTrip rt;
  rt.decision = decide_ke_request(server_view, server_view.trailing_data(request.size()), policy);
  const Bytes response = build_ke_response(rt.decision, cookies, policy);
  rt.client = interpret_ke_response(parse_ke_message(response), offered);
  return rt;
}

std::vector<Bytes> fake_cookies() {
  std::vector<Bytes> cookies;
  for (int i = 0; i < 8; ++i) {
    Bytes c(4 + 16 + 64 + 16);
    for (std::size_t j = 0; j < c.size(); ++j) c[j] = static_cast<std::uint8_t>(i * 31 + j);
    cookies.push_back(std::move(c));
  }
  return cookies;
}

TEST(KeRoundTrip, ClientAndServerAgree) {
  KeServerPolicy policy = policy_with({k512, k256});
  policy.ntp_server = "ntp.example.org";
  policy.ntp_port = 10123;
  const auto cookies = fake_cookies();
  const AeadAlgorithm offered[] = {k256, k512};
  const RoundTrip rt = round_trip(offered, policy, cookies);
  ASSERT_EQ(rt.decision.outcome, KeOutcome::Ok);
  EXPECT_EQ(rt.client.error, KeClientError::None) << ke_client_error_name(rt.client.error);
  EXPECT_EQ(rt.client.aead, k256);  // the client's first choice, though the server lists 17 first
  EXPECT_EQ(rt.client.aead, rt.decision.aead);
  EXPECT_EQ(rt.client.cookies, cookies);
  EXPECT_EQ(rt.client.ntp_server, "ntp.example.org");
  EXPECT_EQ(rt.client.ntp_port, 10123);
  EXPECT_TRUE(rt.client.warnings.empty());
}

TEST(KeRoundTrip, EveryAlgorithmPair) {
  const AeadAlgorithm all[] = {k256, k384, k512};
  for (AeadAlgorithm client : all) {
    for (AeadAlgorithm server : all) {
      const AeadAlgorithm offered[] = {client};
      const KeServerPolicy policy = policy_with({server});
      const RoundTrip rt = round_trip(offered, policy, fake_cookies());
      if (client == server) {
        EXPECT_EQ(rt.client.error, KeClientError::None);
        EXPECT_EQ(rt.client.aead, client);
      } else {
        EXPECT_EQ(rt.decision.outcome, KeOutcome::NoCommonAead);
        EXPECT_EQ(rt.client.error, KeClientError::NoCommonAead);
      }
    }
  }
}

TEST(KeRoundTrip, EmptyOfferIsABadRequest) {
  const RoundTrip rt = round_trip({}, default_policy(), fake_cookies());
  EXPECT_EQ(rt.decision.bad_request, KeBadRequest::AeadBody);
  EXPECT_EQ(rt.client.error, KeClientError::ServerError);
  EXPECT_EQ(rt.client.error_code, 1);
}

TEST(KeRoundTrip, ServerOutcomesAsTheClientSeesThem) {
  const KeServerPolicy policy = default_policy();
  auto client_view = [&policy](const Bytes& request) {
    const KeMessage m = parse_ke_message(request);
    const KeDecision d = decide_ke_request(m, m.trailing_data(request.size()), policy);
    return interpret_ke_response(parse_ke_message(build_ke_response(d, fake_cookies(), policy)),
                                 kOffered);
  };
  EXPECT_EQ(client_view(Message().next_protocol({3}).end().get()).error,
            KeClientError::NoCommonProtocol);
  const KeClientResult unknown = client_view(
      Message().next_protocol({0}).aead({15}).record(true, type(0x4444), {}).end().get());
  EXPECT_EQ(unknown.error, KeClientError::ServerError);
  EXPECT_EQ(unknown.error_code, 0);
  const KeClientResult bad = client_view(Message().next_protocol({0}).end().get());
  EXPECT_EQ(bad.error, KeClientError::ServerError);
  EXPECT_EQ(bad.error_code, 1);
}

// ---------------------------------------------------------- small helpers

TEST(KeNegotiation, ExporterContext) {
  EXPECT_EQ(exporter_context(k256, false), (std::array<std::uint8_t, 5>{0, 0, 0, 15, 0}));
  EXPECT_EQ(exporter_context(k256, true), (std::array<std::uint8_t, 5>{0, 0, 0, 15, 1}));
  EXPECT_EQ(exporter_context(k384, true), (std::array<std::uint8_t, 5>{0, 0, 0, 16, 1}));
  EXPECT_EQ(exporter_context(k512, false), (std::array<std::uint8_t, 5>{0, 0, 0, 17, 0}));
  EXPECT_EQ(kNtsExporterLabel, "EXPORTER-network-time-security");
  EXPECT_EQ(kNtsKeAlpn, "ntske/1");
}

TEST(KeNegotiation, ServerNameValidation) {
  EXPECT_TRUE(is_valid_ke_server_name("ntp.example.com"));
  EXPECT_TRUE(is_valid_ke_server_name("192.0.2.10"));
  EXPECT_TRUE(is_valid_ke_server_name("2001:db8::123"));
  EXPECT_TRUE(is_valid_ke_server_name("xn--bcher-kva.example."));
  EXPECT_FALSE(is_valid_ke_server_name(""));
  EXPECT_FALSE(is_valid_ke_server_name(" ntp"));
  EXPECT_FALSE(is_valid_ke_server_name("ntp\n"));
  EXPECT_FALSE(is_valid_ke_server_name(std::string("a\0b", 3)));
  EXPECT_FALSE(
      is_valid_ke_server_name("b\xc3\xbc"
                              "cher.example"));
}

bool is_snake_case(std::string_view s) {
  if (s.empty() || !std::islower(static_cast<unsigned char>(s.front()))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) ||
           std::isdigit(static_cast<unsigned char>(c)) || c == '_';
  });
}

// Every value's name is snake_case and no two values share one.
template <typename Enum, typename NameOf>
void expect_distinct_snake_case(std::initializer_list<Enum> values, NameOf name_of) {
  std::set<std::string_view> names;
  for (Enum value : values) {
    EXPECT_TRUE(is_snake_case(name_of(value))) << name_of(value);
    names.insert(name_of(value));
  }
  EXPECT_EQ(names.size(), values.size());
}

TEST(KeNegotiation, NamesAreDistinctSnakeCase) {
  expect_distinct_snake_case({KeOutcome::Ok, KeOutcome::NoCommonProtocol, KeOutcome::NoCommonAead,
                              KeOutcome::UnrecognizedCritical, KeOutcome::BadRequest},
                             ke_outcome_name);
  EXPECT_EQ(ke_outcome_name(KeOutcome::NoCommonAead), "no_common_aead");

  expect_distinct_snake_case(
      {KeBadRequest::None, KeBadRequest::Malformed, KeBadRequest::ForbiddenRecord,
       KeBadRequest::NextProtocolCount, KeBadRequest::NextProtocolBody, KeBadRequest::AeadCount,
       KeBadRequest::AeadBody, KeBadRequest::BadServerOrPort, KeBadRequest::TrailingData,
       KeBadRequest::Timeout, KeBadRequest::CompliantExportBody},
      ke_bad_request_name);
  EXPECT_EQ(ke_bad_request_name(KeBadRequest::TrailingData), "trailing_data");

  expect_distinct_snake_case(
      {KeClientError::None, KeClientError::Malformed, KeClientError::ServerError,
       KeClientError::NoCommonProtocol, KeClientError::NoCommonAead, KeClientError::UnsupportedAead,
       KeClientError::NoCookies, KeClientError::UnrecognizedCritical},
      ke_client_error_name);
  EXPECT_EQ(ke_client_error_name(KeClientError::NoCookies), "no_cookies");
}

}  // namespace
}  // namespace ntsd::core
