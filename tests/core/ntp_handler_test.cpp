// core/ntp_handler: every answer, NAK, RATE kiss and drop reason of the NTP server's
// decision, plain NTP and NTS. Long (one test file per source file, as the tree
// mirrors src): each reject path of the handler has its own case here.
#include "core/ntp_handler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/extension_field.h"
#include "core/nts_client_codec.h"
#include "core/nts_keys.h"
#include "support/counting_allocator.h"
#include "support/deterministic_random.h"
#include "support/ntp_packets.h"

namespace ntsd::core {
namespace {

using test_support::append;
using test_support::DeterministicRandom;
using test_support::header;
using test_support::kAuth;
using test_support::kClientTx;
using test_support::kCookie;
using test_support::kPlaceholder;
using test_support::kServerRx;
using test_support::kServerTx;
using test_support::kUid;
using test_support::kUnknown;
using test_support::pattern;

CookieKey make_cookie_key(std::uint32_t id, std::uint8_t seed) {
  auto key = CookieKey::create(CookieKeyId{id}, pattern(aead_key_length(kCookieAead), seed));
  EXPECT_TRUE(key.has_value());
  return std::move(*key);
}

StaticCookieKeyring make_keyring() {
  std::vector<CookieKey> keys;
  keys.push_back(make_cookie_key(1, 0x11));  // current
  keys.push_back(make_cookie_key(2, 0x22));  // older, still accepted
  return StaticCookieKeyring(std::move(keys));
}

// What a client holds after NTS-KE: keys and a cookie.
struct Session {
  NtsKeys keys;
  std::optional<Aead> c2s;
  std::optional<Aead> s2c;
  Bytes cookie;
};

Session make_session(AeadAlgorithm algorithm, const CookieKey& minting_key, RandomSource& random,
                     std::uint8_t seed = 0x40) {
  const std::size_t key_length = aead_key_length(algorithm);
  Session s;
  s.keys = *NtsKeys::create(algorithm, pattern(key_length, seed),
                            pattern(key_length, static_cast<std::uint8_t>(seed + 1)));
  s.c2s = Aead::create(algorithm, s.keys.c2s());
  s.s2c = Aead::create(algorithm, s.keys.s2c());
  s.cookie.resize(cookie_length(algorithm));
  seal_cookie(minting_key, s.keys, random, s.cookie);
  return s;
}

struct Field {
  std::uint16_t type;
  Bytes body;
};

void append(Bytes& packet, const Field& field) { append(packet, field.type, field.body); }

// How to write the authenticator of a hand-made request.
struct AuthSpec {
  std::size_t nonce_length = 16;
  std::size_t extra_padding = 0;  // Additional Padding, a multiple of 4
  Bytes plaintext;                // encrypted extension fields
  const Aead* key = nullptr;      // defaults to the session's C2S
};

void append_authenticator(Bytes& packet, const Aead& c2s, const AuthSpec& spec,
                          DeterministicRandom& random) {
  const Bytes nonce = random.bytes(spec.nonce_length);
  Bytes sealed(kAeadTagLength + spec.plaintext.size(), 0);
  if (!nonce.empty())
    (spec.key ? *spec.key : c2s).seal(nonce, packet, spec.plaintext, sealed.data());
  Bytes body;
  ByteWriter w(body);
  w.u16(static_cast<std::uint16_t>(nonce.size()));
  w.u16(static_cast<std::uint16_t>(sealed.size()));
  w.bytes(nonce);
  w.zeros(padded_to_4(nonce.size()) - nonce.size());
  w.bytes(sealed);
  w.zeros(padded_to_4(sealed.size()) - sealed.size());
  w.zeros(spec.extra_padding);
  append(packet, {kAuth, body});
}

Bytes encrypted_placeholders(std::size_t n, std::size_t body_length) {
  Bytes out;
  for (std::size_t i = 0; i < n; ++i) append(out, {kPlaceholder, Bytes(body_length, 0)});
  return out;
}

// A response's authenticator: where it starts (what it seals ends there) and its parts.
struct ResponseAuthenticator {
  std::size_t offset = 0;
  NtsAuthenticatorParts parts;
};

// Checks that an NTS response holds the request's UID field verbatim, then an
// authenticator, and nothing else outside it.
std::optional<ResponseAuthenticator> response_authenticator(
    ByteView response, ByteView request, std::size_t min_nonce_space = kMinNonceLength) {
  auto fields = parse_extension_fields(response, kNtpHeaderLength);
  if (!fields.ok() || fields.count != 2) {
    ADD_FAILURE() << "want a UID field and an authenticator, got " << fields.count << " fields";
    return std::nullopt;
  }
  EXPECT_EQ(fields.fields[0].type, kUid);
  EXPECT_TRUE(std::equal(response.begin() + 48, response.begin() + 48 + 36, request.begin() + 48));
  const ExtensionField& auth = fields.fields[1];
  EXPECT_EQ(auth.type, kAuth);
  ResponseAuthenticator out{.offset = auth.offset, .parts = {}};
  const auto error = parse_nts_authenticator(auth.body, out.parts, min_nonce_space);
  if (error != NtsAuthenticatorError::None || out.parts.ciphertext.size() < kAeadTagLength) {
    ADD_FAILURE() << "unreadable authenticator";
    return std::nullopt;
  }
  return out;
}

// What the authenticator seals, if it opens with `s2c` over `response` (which a test
// may have changed).
std::optional<Bytes> open_response(const Aead& s2c, ByteView response,
                                   const ResponseAuthenticator& auth) {
  const std::size_t length = auth.parts.ciphertext.size() - kAeadTagLength;
  Bytes plaintext(std::max<std::size_t>(length, 1));  // never a null data() for open()
  if (!s2c.open(auth.parts.nonce, response.first(auth.offset), auth.parts.ciphertext,
                plaintext.data())) {
    return std::nullopt;
  }
  plaintext.resize(length);
  return plaintext;
}

class NtpHandlerTest : public ::testing::Test {
 protected:
  NtpHandlerTest() : keyring_(make_keyring()), random_(7) {
    clock_.leap = LeapIndicator::NoWarning;
    clock_.stratum = 2;
    clock_.precision = -23;
    clock_.root_delay.raw = 0x00000123;
    clock_.root_dispersion.raw = 0x00000456;
    clock_.reference_id = {192, 0, 2, 1};
    clock_.reference_time.raw = 0xE98CA70000000000ULL;
  }

  Session session(AeadAlgorithm algorithm = AeadAlgorithm::AesSivCmac256) {
    return make_session(algorithm, keyring_.current(), random_);
  }

  Bytes uid() { return random_.bytes(32); }

  // uid, cookie, then `fields`, then the authenticator, then `after`.
  Bytes nts_request(const Session& s, const std::vector<Field>& fields = {},
                    const AuthSpec& auth = {}, const std::vector<Field>& after = {},
                    Bytes packet = header()) {
    append(packet, {kUid, uid()});
    append(packet, {kCookie, s.cookie});
    for (const auto& f : fields) append(packet, f);
    append_authenticator(packet, *s.c2s, auth, random_);
    for (const auto& f : after) append(packet, f);
    return packet;
  }

  NtpOutcome prepare(ByteView request) {
    return prepare_response(request, kServerRx, clock_, keyring_, random_, pending_);
  }

  // Runs both phases; the response is empty when the request was ignored.
  Bytes handle(ByteView request, NtpOutcome* decision = nullptr, Reply reply = Reply::Normal) {
    const NtpOutcome d =
        prepare_response(request, kServerRx, clock_, keyring_, random_, pending_, reply);
    if (decision) *decision = d;
    if (d.sent() == Sent::Nothing) return {};
    Bytes out(kMaxNtpPacketLength, 0xCC);
    const std::size_t n = complete_response(pending_, kServerTx, out);
    EXPECT_GT(n, 0U);
    EXPECT_LE(n, request.size());
    out.resize(n);
    return out;
  }

  // Runs both phases expecting a response other than a NAK, of `kind` for `reason`.
  Bytes expect_response(ByteView request, RequestKind kind, Reason reason,
                        Reply reply = Reply::Normal) {
    NtpOutcome d;
    const Bytes response = handle(request, &d, reply);
    EXPECT_NE(d.sent(), Sent::Nothing);
    EXPECT_EQ(d.kind, kind);
    EXPECT_EQ(d.reason, reason) << reason_name(d.reason);
    EXPECT_NE(d.sent(), Sent::Nak);
    return response;
  }

  // An answer that tells the client off (NAK or RATE kiss): LI 3, stratum 0 and
  // the kiss code, in the request's version.
  static void expect_kiss_header(const NtpHeader& h, const ReferenceId& code,
                                 std::uint8_t version) {
    EXPECT_EQ(h.leap, LeapIndicator::Unsynchronized);
    EXPECT_EQ(h.stratum, 0);
    EXPECT_EQ(h.reference_id, code);
    EXPECT_EQ(h.mode, NtpMode::Server);
    EXPECT_EQ(h.version, version);
    EXPECT_EQ(h.origin_time, kClientTx);
  }

  // How many cookies the answer to `request` carries (checking that it was answered).
  std::size_t cookies_asked(ByteView request) {
    NtpOutcome d;
    EXPECT_EQ(handle(request, &d).size(), request.size());
    EXPECT_EQ(d.reason, Reason::Answered);
    return pending_.cookie_count();
  }

  void expect_dropped(ByteView request, Reason reason, RequestKind kind) {
    const NtpOutcome d = prepare(request);
    EXPECT_EQ(d.sent(), Sent::Nothing) << reason_name(d.reason);
    EXPECT_EQ(d.reason, reason) << "got " << reason_name(d.reason) << ", want "
                                << reason_name(reason);
    EXPECT_EQ(d.kind, kind);
    EXPECT_NE(d.sent(), Sent::Nak);
    std::array<std::uint8_t, kMaxNtpPacketLength> out{};
    EXPECT_EQ(complete_response(pending_, kServerTx, out), 0U);
  }

  // A NAK: LI 3, stratum 0, NTSN, the request's UID field verbatim and nothing else.
  void expect_nak(ByteView request, Reason reason) {
    NtpOutcome d;
    const Bytes response = handle(request, &d);
    EXPECT_NE(d.sent(), Sent::Nothing);
    EXPECT_EQ(d.reason, reason) << "got " << reason_name(d.reason) << ", want "
                                << reason_name(reason);
    EXPECT_EQ(d.kind, RequestKind::Nts);
    EXPECT_EQ(d.sent(), Sent::Nak);
    auto request_fields = parse_extension_fields(request, kNtpHeaderLength);
    ASSERT_TRUE(request_fields.ok());
    const ExtensionField& uid_field = request_fields.fields[0];
    ASSERT_EQ(uid_field.type, kUid);
    ASSERT_EQ(response.size(), kNtpHeaderLength + uid_field.length);
    auto h = NtpHeader::parse(response);
    ASSERT_TRUE(h.has_value());
    expect_kiss_header(*h, kRefIdNtsNak, 4);
    EXPECT_EQ(h->receive_time, kServerRx);
    EXPECT_EQ(h->transmit_time, kServerTx);
    EXPECT_TRUE(std::equal(response.begin() + kNtpHeaderLength, response.end(),
                           request.begin() + static_cast<std::ptrdiff_t>(uid_field.offset)));
  }

  StaticCookieKeyring keyring_;
  DeterministicRandom random_;
  ServerClock clock_;
  PendingResponse pending_;
};

// ---------------------------------------------------------------- names

TEST(ReasonNames, AreDistinctSnakeCase) {
  std::set<std::string> names;
  for (std::size_t r = 0; r < kReasonCount; ++r) {
    const std::string name(reason_name(static_cast<Reason>(r)));
    EXPECT_FALSE(name.empty());
    EXPECT_NE(name, "unknown");
    EXPECT_NE(name, "nak");  // the metrics' outcome for every NAK reason
    for (char c : name) EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_') << name;
    names.insert(name);
  }
  EXPECT_EQ(names.size(), kReasonCount);
  EXPECT_EQ(reason_name(Reason::RateLimited), "rate_limited");
  EXPECT_EQ(reason_name(Reason::Answered), "answered");
  EXPECT_EQ(reason_name(Reason::TooShort), "too_short");
  EXPECT_EQ(reason_name(Reason::AuthenticatorFailed), "authenticator_failed");
  EXPECT_EQ(reason_name(Reason::FieldAfterAuthenticator), "field_after_authenticator");
  // Metric label values that existed before these were reasons.
  EXPECT_EQ(reason_name(Reason::RateLimitedDrop), "rate_limited_dropped");
  EXPECT_EQ(reason_name(Reason::Unsynchronised), "unsynchronised_dropped");
  EXPECT_EQ(kind_name(RequestKind::Unknown), "unknown");
  EXPECT_EQ(kind_name(RequestKind::Plain), "plain");
  EXPECT_EQ(kind_name(RequestKind::Nts), "nts");
}

TEST(OutcomeSent, FollowsFromTheReason) {
  for (std::size_t r = 0; r < kReasonCount; ++r) {
    const auto reason = static_cast<Reason>(r);
    const bool nak_reason =
        reason == Reason::MalformedCookie || reason == Reason::UnknownCookieKey ||
        reason == Reason::CookieTagFailed || reason == Reason::AuthenticatorFailed;
    Sent want = Sent::Nothing;
    if (reason == Reason::Answered) want = Sent::Answer;
    if (reason == Reason::RateLimited) want = Sent::RateKiss;
    if (nak_reason) want = Sent::Nak;
    EXPECT_EQ(sent_for(reason), want) << reason_name(reason);
    for (auto kind : {RequestKind::Unknown, RequestKind::Plain, RequestKind::Nts}) {
      EXPECT_EQ((NtpOutcome{kind, reason}.sent()), want) << reason_name(reason);
    }
  }
}

// ---------------------------------------------------------------- plain NTP

TEST_F(NtpHandlerTest, PlainV4AndV3AreAnsweredWithEveryHeaderField) {
  for (int v : {3, 4}) {
    const auto version = static_cast<std::uint8_t>(v);
    const Bytes request = header(version, NtpMode::Client, kClientTx, -3);
    const Bytes response = expect_response(request, RequestKind::Plain, Reason::Answered);
    ASSERT_EQ(response.size(), kNtpHeaderLength);
    auto h = NtpHeader::parse(response);
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(h->leap, clock_.leap);
    EXPECT_EQ(h->version, version);
    EXPECT_EQ(h->mode, NtpMode::Server);
    EXPECT_EQ(h->stratum, 2);
    EXPECT_EQ(h->poll, -3);
    EXPECT_EQ(h->precision, -23);
    EXPECT_EQ(h->root_delay, clock_.root_delay);
    EXPECT_EQ(h->root_dispersion, clock_.root_dispersion);
    EXPECT_EQ(h->reference_id, clock_.reference_id);
    EXPECT_EQ(h->reference_time, clock_.reference_time);
    EXPECT_EQ(h->origin_time, kClientTx);
    EXPECT_EQ(h->receive_time, kServerRx);
    EXPECT_EQ(h->transmit_time, kServerTx);
  }
}

TEST_F(NtpHandlerTest, LeapIndicatorComesFromTheClock) {
  clock_.leap = LeapIndicator::InsertSecond;
  const Bytes response = handle(header());
  EXPECT_EQ(response[0] >> 6, 1);
}

TEST_F(NtpHandlerTest, UnsynchronizedStratumGoesOutAsZero) {
  clock_.stratum = 16;
  clock_.leap = LeapIndicator::Unsynchronized;
  auto h = NtpHeader::parse(handle(header()));
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->stratum, 0);
  EXPECT_EQ(h->leap, LeapIndicator::Unsynchronized);
}

TEST_F(NtpHandlerTest, EveryVersionButThreeAndFourIsDropped) {
  for (int version : {0, 1, 2, 5, 6, 7}) {
    expect_dropped(header(static_cast<std::uint8_t>(version)), Reason::UnsupportedVersion,
                   RequestKind::Plain);
  }
}

TEST_F(NtpHandlerTest, EveryModeButClientIsDropped) {
  for (auto mode : {NtpMode::Reserved, NtpMode::SymmetricActive, NtpMode::SymmetricPassive,
                    NtpMode::Server, NtpMode::Broadcast, NtpMode::Control, NtpMode::Private}) {
    for (int version : {3, 4}) {
      expect_dropped(header(static_cast<std::uint8_t>(version), mode), Reason::NotClientMode,
                     RequestKind::Plain);
    }
  }
}

TEST_F(NtpHandlerTest, ShorterThanAHeaderIsDropped) {
  Bytes request = header();
  request.pop_back();
  expect_dropped(request, Reason::TooShort, RequestKind::Plain);
  expect_dropped(ByteView(), Reason::TooShort, RequestKind::Plain);
}

TEST_F(NtpHandlerTest, LongerThanTheLimitIsDropped) {
  Bytes request = header();
  append(request, {kUnknown, Bytes(kMaxNtpPacketLength - kNtpHeaderLength - 4, 0)});
  ASSERT_EQ(request.size(), kMaxNtpPacketLength);
  NtpOutcome d;
  EXPECT_EQ(handle(request, &d).size(), kNtpHeaderLength);
  EXPECT_EQ(d.reason, Reason::Answered);
  request.push_back(0);
  expect_dropped(request, Reason::TooLong, RequestKind::Plain);
}

TEST_F(NtpHandlerTest, MoreFieldsThanTheBoundAreDropped) {
  Bytes request = header();
  for (std::size_t i = 0; i < kMaxExtensionFields; ++i) append(request, {kUnknown, Bytes(12, 0)});
  NtpOutcome d;
  EXPECT_EQ(handle(request, &d).size(), kNtpHeaderLength);
  EXPECT_EQ(d.reason, Reason::Answered);
  append(request, {kUnknown, Bytes(12, 0)});
  expect_dropped(request, Reason::MalformedExtensionField, RequestKind::Plain);
}

TEST_F(NtpHandlerTest, UnknownFieldsAloneMakeAPlainRequest) {
  Bytes request = header();
  append(request, {kUnknown, Bytes(24, 1)});
  append(request, {0x0002, Bytes(12, 2)});
  NtpOutcome d;
  const Bytes response = handle(request, &d);
  EXPECT_EQ(d.reason, Reason::Answered);
  EXPECT_EQ(d.kind, RequestKind::Plain);
  EXPECT_EQ(response.size(), kNtpHeaderLength);
}

TEST_F(NtpHandlerTest, LegacyMacAfterTheHeaderIsAnsweredPlain) {
  // crypto-NAK, MD5 (key id + 16) and SHA-1 (key id + 20) MACs.
  for (std::size_t mac : {4U, 20U, 24U}) {
    Bytes request = header();
    Bytes m = pattern(mac, 0x90);
    m[0] = 0;
    m[1] = 0;
    m[2] = 0;
    m[3] = 1;  // key id 1: as a field header, type 0 and length 1, which does not parse
    request.insert(request.end(), m.begin(), m.end());
    NtpOutcome d;
    const Bytes response = handle(request, &d);
    EXPECT_EQ(d.reason, Reason::Answered) << mac;
    EXPECT_EQ(d.kind, RequestKind::Plain);
    EXPECT_EQ(response.size(), kNtpHeaderLength);
  }
}

TEST_F(NtpHandlerTest, LegacyMacAfterPlainFieldsIsAnsweredPlain) {
  Bytes request = header();
  append(request, {kUnknown, Bytes(28, 3)});
  Bytes mac(20, 0xAB);
  request.insert(request.end(), mac.begin(), mac.end());
  NtpOutcome d;
  EXPECT_EQ(handle(request, &d).size(), kNtpHeaderLength);
  EXPECT_EQ(d.reason, Reason::Answered);
}

TEST_F(NtpHandlerTest, NtpV3WithAMacIsAnsweredPlain) {
  for (std::size_t mac : {12U, 20U}) {
    Bytes request = header(3);
    request.resize(request.size() + mac, 0x5A);
    NtpOutcome d;
    EXPECT_EQ(handle(request, &d).size(), kNtpHeaderLength);
    EXPECT_EQ(d.reason, Reason::Answered);
  }
}

TEST_F(NtpHandlerTest, TrailingBytesThatAreNeitherFieldsNorAMacAreDropped) {
  Bytes request = header();
  request.resize(request.size() + 28, 0x5A);  // 0x5A5A: length not a multiple of 4
  expect_dropped(request, Reason::MalformedExtensionField, RequestKind::Plain);
  Bytes v3 = header(3);
  v3.resize(v3.size() + 30, 0);
  expect_dropped(v3, Reason::MalformedExtensionField, RequestKind::Plain);
  Bytes odd = header();
  odd.resize(odd.size() + 6, 0);  // not a multiple of 4
  expect_dropped(odd, Reason::MalformedExtensionField, RequestKind::Plain);
  // A field that claims 36 bytes of which only 12 arrived: not a MAC length, so
  // a truncated field, dropped (chrony drops it too).
  Bytes truncated = header();
  const Bytes field{0x12, 0x34, 0x00, 0x24, 1, 2, 3, 4, 5, 6, 7, 8};
  truncated.insert(truncated.end(), field.begin(), field.end());
  expect_dropped(truncated, Reason::MalformedExtensionField, RequestKind::Plain);
  // NTPv4 has no 12-byte MAC (NTPv3's DES MAC is the only one).
  Bytes twelve = header();
  twelve.resize(twelve.size() + 12, 0x5A);
  expect_dropped(twelve, Reason::MalformedExtensionField, RequestKind::Plain);
}

// ---------------------------------------------------------------- NTS answered

TEST_F(NtpHandlerTest, NtsRequestIsAnsweredWithUidEchoAndSealedCookie) {
  Session s = session();
  const Bytes request = nts_request(s);
  const Bytes response = expect_response(request, RequestKind::Nts, Reason::Answered);
  EXPECT_EQ(pending_.cookie_count(), 1U);
  ASSERT_EQ(response.size(), request.size());

  auto h = NtpHeader::parse(response);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->mode, NtpMode::Server);
  EXPECT_EQ(h->stratum, 2);
  EXPECT_EQ(h->reference_id, clock_.reference_id);
  EXPECT_EQ(h->origin_time, kClientTx);
  EXPECT_EQ(h->receive_time, kServerRx);
  EXPECT_EQ(h->transmit_time, kServerTx);

  const auto auth = response_authenticator(response, request);
  ASSERT_TRUE(auth.has_value());
  EXPECT_EQ(auth->parts.nonce.size(), kResponseNonceLength);
  const auto plaintext = open_response(*s.s2c, response, *auth);
  ASSERT_TRUE(plaintext.has_value());
  auto inner = parse_extension_fields(*plaintext, 0);
  ASSERT_TRUE(inner.ok());
  ASSERT_EQ(inner.count, 1U);
  EXPECT_EQ(inner.fields[0].type, kCookie);
  // The new cookie is ours, minted with the current key, for the same keys.
  const ByteView new_cookie = cookie_from_field_body(inner.fields[0].body);
  EXPECT_EQ(load_be32(new_cookie.data()), keyring_.current().id().value);
  auto opened = open_cookie(keyring_, new_cookie);
  ASSERT_TRUE(opened.keys.has_value());
  EXPECT_EQ(opened.keys->algorithm(), s.keys.algorithm());
  EXPECT_TRUE(std::ranges::equal(opened.keys->c2s(), s.keys.c2s()));
  EXPECT_TRUE(std::ranges::equal(opened.keys->s2c(), s.keys.s2c()));
}

TEST_F(NtpHandlerTest, CookieFromAnOlderKeyIsAcceptedAndReplacedWithACurrentOne) {
  const CookieKey* old_key = keyring_.find(CookieKeyId{2});
  ASSERT_NE(old_key, nullptr);
  Session s = make_session(AeadAlgorithm::AesSivCmac256, *old_key, random_);
  NtpOutcome d;
  handle(nts_request(s), &d);
  EXPECT_EQ(d.reason, Reason::Answered);
}

TEST_F(NtpHandlerTest, VersionAndPollAreEchoedInNtsAnswersAndNaks) {
  for (bool tampered : {false, true}) {
    Session s = session();
    if (tampered) s.cookie[50] ^= 1;
    const auto poll = static_cast<std::int8_t>(tampered ? 4 : 10);
    NtpOutcome d;
    auto h = NtpHeader::parse(
        handle(nts_request(s, {}, {}, {}, header(4, NtpMode::Client, kClientTx, poll)), &d));
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(d.sent(), tampered ? Sent::Nak : Sent::Answer);
    EXPECT_EQ(h->poll, poll);
    EXPECT_EQ(h->version, 4);
  }
}

TEST_F(NtpHandlerTest, UnknownFieldsInsideAndOutsideAreIgnoredAndPaddedAway) {
  Session s = session();
  AuthSpec auth;
  append(auth.plaintext, {kUnknown, Bytes(40, 1)});
  const Bytes request = nts_request(s, {{kUnknown, Bytes(100, 2)}}, auth);
  NtpOutcome d;
  const Bytes response = handle(request, &d);
  EXPECT_EQ(d.reason, Reason::Answered);
  EXPECT_EQ(response.size(), request.size());
  EXPECT_EQ(pending_.cookie_count(), 1U);
}

TEST_F(NtpHandlerTest, ClearPlaceholdersAskForMoreCookies) {
  Session s = session();
  const std::size_t body = padded_to_4(s.cookie.size());
  const Bytes request =
      nts_request(s, {{kPlaceholder, Bytes(body, 0)}, {kPlaceholder, Bytes(body, 0)}});
  EXPECT_EQ(cookies_asked(request), 3U);
}

TEST_F(NtpHandlerTest, EncryptedPlaceholdersAreCountedToo) {
  Session s = session();
  const std::size_t body = padded_to_4(s.cookie.size());
  AuthSpec auth;
  auth.plaintext = encrypted_placeholders(3, body);
  const Bytes request = nts_request(s, {{kPlaceholder, Bytes(body, 0)}}, auth);
  EXPECT_EQ(cookies_asked(request), 5U);
}

TEST_F(NtpHandlerTest, AtMostEightCookies) {
  Session s = session();
  const std::size_t body = padded_to_4(s.cookie.size());
  std::vector<Field> placeholders(10, Field{kPlaceholder, Bytes(body, 0)});
  const Bytes request = nts_request(s, placeholders);
  EXPECT_EQ(cookies_asked(request), kMaxCookiesPerResponse);
}

TEST_F(NtpHandlerTest, ShortNonceWithAdditionalPaddingIsAccepted) {
  // RFC 8915 §5.6: a nonce shorter than 16 bytes is fine when padding makes up the
  // difference; the server still answers with a 16-byte nonce in a same-size packet.
  for (std::size_t nonce : {1U, 4U, 8U, 12U, 15U}) {
    Session s = session();
    AuthSpec auth;
    auth.nonce_length = nonce;
    auth.extra_padding = 16 - padded_to_4(nonce);
    const Bytes request = nts_request(s, {}, auth);
    NtpOutcome d;
    const Bytes response = handle(request, &d);
    EXPECT_EQ(d.reason, Reason::Answered) << nonce;
    EXPECT_EQ(response.size(), request.size());
  }
}

TEST_F(NtpHandlerTest, LongerNoncesAreAccepted) {
  Session s = session();
  AuthSpec auth;
  auth.nonce_length = 33;
  NtpOutcome d;
  handle(nts_request(s, {}, auth), &d);
  EXPECT_EQ(d.reason, Reason::Answered);
}

TEST_F(NtpHandlerTest, LongerUniqueIdentifierIsEchoedVerbatim) {
  Session s = session();
  Bytes request = header();
  const Bytes long_uid = random_.bytes(61);  // padded to 64 in the field
  append(request, {kUid, long_uid});
  append(request, {kCookie, s.cookie});
  append_authenticator(request, *s.c2s, {}, random_);
  const Bytes response = handle(request);
  ASSERT_EQ(response.size(), request.size());
  EXPECT_TRUE(std::equal(request.begin() + 48, request.begin() + 48 + 68, response.begin() + 48));
}

TEST_F(NtpHandlerTest, PaddedCookieBodyIsAccepted) {
  // Clients (chrony among them) keep a cookie as the whole field body, padding
  // included, and send it back that way.
  Session s = session();
  s.cookie.resize(padded_to_4(s.cookie.size()), 0);
  NtpOutcome d;
  handle(nts_request(s), &d);
  EXPECT_EQ(d.reason, Reason::Answered);
}

TEST_F(NtpHandlerTest, FieldOrderBeforeTheAuthenticatorDoesNotMatter) {
  Session s = session();
  const std::size_t body = padded_to_4(s.cookie.size());
  Bytes request = header();
  append(request, {kPlaceholder, Bytes(body, 0)});
  append(request, {kCookie, s.cookie});
  append(request, {kUnknown, Bytes(12, 0)});
  append(request, {kUid, uid()});
  append_authenticator(request, *s.c2s, {}, random_);
  NtpOutcome d;
  const Bytes response = handle(request, &d);
  EXPECT_EQ(d.reason, Reason::Answered);
  EXPECT_EQ(pending_.cookie_count(), 2U);
  EXPECT_EQ(response.size(), request.size());
}

// ---------------------------------------------------------------- NTS dropped

TEST_F(NtpHandlerTest, TruncatedFieldInAnNtsRequestIsDropped) {
  Session s = session();
  Bytes request = nts_request(s);
  request.erase(request.end() - 8,
                request.end());  // the authenticator's length now runs past the end
  expect_dropped(request, Reason::MalformedExtensionField, RequestKind::Nts);
}

TEST_F(NtpHandlerTest, BadFieldLengthInAnNtsRequestIsDropped) {
  Session s = session();
  Bytes request = nts_request(s);
  request.insert(request.end(), {0x20, 0x05, 0x00, 0x0E});  // 14: not a multiple of 4
  request.resize(request.size() + 12, 0);
  expect_dropped(request, Reason::MalformedExtensionField, RequestKind::Nts);
}

TEST_F(NtpHandlerTest, NtsFieldFollowedByAMacLikeTrailerIsDropped) {
  Session s = session();
  Bytes request = nts_request(s);
  request.resize(request.size() + 20, 0xAB);
  expect_dropped(request, Reason::MalformedExtensionField, RequestKind::Nts);
}

TEST_F(NtpHandlerTest, MissingUniqueIdentifierIsDropped) {
  Session s = session();
  Bytes request = header();
  append(request, {kCookie, s.cookie});
  append_authenticator(request, *s.c2s, {}, random_);
  expect_dropped(request, Reason::MissingUniqueIdentifier, RequestKind::Nts);
}

TEST_F(NtpHandlerTest, ShortUniqueIdentifierIsDropped) {
  Session s = session();
  Bytes request = header();
  append(request, {kUid, random_.bytes(28)});
  append(request, {kCookie, s.cookie});
  append_authenticator(request, *s.c2s, {}, random_);
  expect_dropped(request, Reason::ShortUniqueIdentifier, RequestKind::Nts);
}

TEST_F(NtpHandlerTest, DuplicateUniqueIdentifierIsDropped) {
  Session s = session();
  expect_dropped(nts_request(s, {{kUid, uid()}}), Reason::DuplicateUniqueIdentifier,
                 RequestKind::Nts);
}

TEST_F(NtpHandlerTest, MissingCookieIsDropped) {
  Session s = session();
  Bytes request = header();
  append(request, {kUid, uid()});
  append(request, {kPlaceholder, Bytes(s.cookie.size(), 0)});
  append_authenticator(request, *s.c2s, {}, random_);
  expect_dropped(request, Reason::MissingCookie, RequestKind::Nts);
}

TEST_F(NtpHandlerTest, OnlyAUniqueIdentifierIsAnNtsRequestWithoutCookie) {
  Bytes request = header();
  append(request, {kUid, uid()});
  expect_dropped(request, Reason::MissingCookie, RequestKind::Nts);
}

TEST_F(NtpHandlerTest, MultipleCookiesAreDropped) {
  Session s = session();
  expect_dropped(nts_request(s, {{kCookie, s.cookie}}), Reason::MultipleCookies, RequestKind::Nts);
}

TEST_F(NtpHandlerTest, MissingAuthenticatorIsDropped) {
  Session s = session();
  Bytes request = header();
  append(request, {kUid, uid()});
  append(request, {kCookie, s.cookie});
  append(request, {kUnknown, Bytes(40, 0)});
  expect_dropped(request, Reason::MissingAuthenticator, RequestKind::Nts);
}

TEST_F(NtpHandlerTest, FieldAfterTheAuthenticatorIsDropped) {
  Session s = session();
  expect_dropped(nts_request(s, {}, {}, {{kUnknown, Bytes(12, 0)}}),
                 Reason::FieldAfterAuthenticator, RequestKind::Nts);
}

TEST_F(NtpHandlerTest, SecondAuthenticatorIsAFieldAfterTheFirst) {
  Session s = session();
  Bytes request = nts_request(s);
  append_authenticator(request, *s.c2s, {}, random_);
  expect_dropped(request, Reason::FieldAfterAuthenticator, RequestKind::Nts);
}

TEST_F(NtpHandlerTest, PlaceholderOfAnotherLengthIsDropped) {
  Session s = session();
  const std::size_t body = padded_to_4(s.cookie.size());
  expect_dropped(nts_request(s, {{kPlaceholder, Bytes(body + 4, 0)}}), Reason::BadPlaceholderLength,
                 RequestKind::Nts);
  expect_dropped(nts_request(s, {{kPlaceholder, Bytes(body - 4, 0)}}), Reason::BadPlaceholderLength,
                 RequestKind::Nts);
}

TEST_F(NtpHandlerTest, EncryptedPlaceholderOfAnotherLengthIsDropped) {
  Session s = session();
  AuthSpec auth;
  auth.plaintext = encrypted_placeholders(1, padded_to_4(s.cookie.size()) + 8);
  expect_dropped(nts_request(s, {}, auth), Reason::BadPlaceholderLength, RequestKind::Nts);
}

TEST_F(NtpHandlerTest, MalformedEncryptedFieldsAreDropped) {
  Session s = session();
  AuthSpec auth;
  auth.plaintext = {0x03, 0x04, 0x00, 0x08, 0, 0, 0, 0};  // an 8-byte field
  expect_dropped(nts_request(s, {}, auth), Reason::MalformedExtensionField, RequestKind::Nts);
}

// Replaces the body of the last field (the authenticator) of a request.
Bytes with_authenticator_body(Bytes request, const Bytes& body) {
  auto fields = parse_extension_fields(request, kNtpHeaderLength);
  EXPECT_TRUE(fields.ok());
  const ExtensionField& auth = fields.fields[fields.count - 1];
  request.resize(auth.offset);
  append(request, {kAuth, body});
  return request;
}

Bytes authenticator_body(std::uint16_t nonce_length, std::uint16_t ciphertext_length,
                         std::size_t total) {
  Bytes body(total, 0x77);
  store_be16(body.data(), nonce_length);
  store_be16(body.data() + 2, ciphertext_length);
  return body;
}

TEST_F(NtpHandlerTest, AuthenticatorLengthsPastTheFieldAreDropped) {
  Session s = session();
  const Bytes request = nts_request(s);
  expect_dropped(with_authenticator_body(request, authenticator_body(16, 20, 36)),
                 Reason::MalformedAuthenticator, RequestKind::Nts);
  expect_dropped(with_authenticator_body(request, authenticator_body(20, 16, 36)),
                 Reason::MalformedAuthenticator, RequestKind::Nts);
  expect_dropped(with_authenticator_body(request, authenticator_body(0xFFFF, 16, 36)),
                 Reason::MalformedAuthenticator, RequestKind::Nts);
}

TEST_F(NtpHandlerTest, CiphertextShorterThanATagIsDropped) {
  Session s = session();
  expect_dropped(with_authenticator_body(nts_request(s), authenticator_body(16, 12, 36)),
                 Reason::MalformedAuthenticator, RequestKind::Nts);
}

TEST_F(NtpHandlerTest, EmptyNonceIsDropped) {
  Session s = session();
  AuthSpec auth;
  auth.nonce_length = 0;
  auth.extra_padding = 16;
  expect_dropped(nts_request(s, {}, auth), Reason::BadNonceLength, RequestKind::Nts);
}

TEST_F(NtpHandlerTest, ShortNonceWithoutPaddingIsDropped) {
  for (std::size_t nonce : {1U, 8U, 12U}) {
    Session s = session();
    AuthSpec auth;
    auth.nonce_length = nonce;
    expect_dropped(nts_request(s, {}, auth), Reason::BadNonceLength, RequestKind::Nts);
  }
  Session s = session();
  AuthSpec auth;
  auth.nonce_length = 8;
  auth.extra_padding = 4;  // 12 < 16
  expect_dropped(nts_request(s, {}, auth), Reason::BadNonceLength, RequestKind::Nts);
}

// ---------------------------------------------------------------- NTS NAK

TEST_F(NtpHandlerTest, CookieOfNoKnownLengthIsNaked) {
  Session s = session();
  s.cookie = random_.bytes(60);
  expect_nak(nts_request(s), Reason::MalformedCookie);
}

TEST_F(NtpHandlerTest, CookieUnderAnUnknownKeyIsNaked) {
  const CookieKey stranger = make_cookie_key(99, 0x99);
  Session s = make_session(AeadAlgorithm::AesSivCmac256, stranger, random_);
  expect_nak(nts_request(s), Reason::UnknownCookieKey);
}

TEST_F(NtpHandlerTest, TamperedCookieIsNaked) {
  for (std::size_t at : {4U, 20U, 40U, 101U}) {  // nonce, tag, ciphertext, last byte
    Session s = session();
    s.cookie[at] ^= 0x01;
    expect_nak(nts_request(s), Reason::CookieTagFailed);
  }
}

TEST_F(NtpHandlerTest, TamperedAuthenticatorIsNaked) {
  Session s = session();
  Bytes request = nts_request(s);
  request.back() ^= 0x80;  // last byte of the tag
  expect_nak(request, Reason::AuthenticatorFailed);
}

TEST_F(NtpHandlerTest, TamperedHeaderFailsTheAuthenticator) {
  Session s = session();
  Bytes request = nts_request(s);
  request[3] ^= 0x01;  // precision: covered by the associated data
  expect_nak(request, Reason::AuthenticatorFailed);
}

TEST_F(NtpHandlerTest, TamperedUnknownFieldFailsTheAuthenticator) {
  Session s = session();
  Bytes request = nts_request(s, {{kUnknown, Bytes(12, 0)}});
  request[48 + 36 + 108 + 8] ^= 0x01;
  expect_nak(request, Reason::AuthenticatorFailed);
}

TEST_F(NtpHandlerTest, AuthenticatorUnderAnotherKeyIsNaked) {
  Session s = session();
  auto wrong = Aead::create(AeadAlgorithm::AesSivCmac256, pattern(32, 0xEE));
  AuthSpec auth;
  auth.key = &*wrong;
  expect_nak(nts_request(s, {}, auth), Reason::AuthenticatorFailed);
}

TEST_F(NtpHandlerTest, NakHasNoAuthenticatorAndDrawsNoRandomness) {
  Session s = session();
  s.cookie[50] ^= 1;
  const Bytes request = nts_request(s);
  const std::size_t before = random_.drawn();
  const NtpOutcome d = prepare(request);
  EXPECT_EQ(d.sent(), Sent::Nak);
  EXPECT_EQ(random_.drawn(), before);
  EXPECT_EQ(pending_.cookie_count(), 0U);
  EXPECT_EQ(pending_.response_length(), kNtpHeaderLength + 36);
}

// ---------------------------------------------------------------- complete_response

TEST_F(NtpHandlerTest, CompleteRefusesAnOutputShorterThanTheResponse) {
  Session s = session();
  const Bytes request = nts_request(s);
  ASSERT_EQ(prepare(request).reason, Reason::Answered);
  Bytes out(request.size() - 1, 0xCC);
  EXPECT_EQ(complete_response(pending_, kServerTx, out), 0U);
  EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](std::uint8_t b) { return b == 0xCC; }));
  out.resize(request.size());
  EXPECT_EQ(complete_response(pending_, kServerTx, out), request.size());
}

TEST_F(NtpHandlerTest, CompleteAfterAnIgnoredRequestWritesNothing) {
  Session s = session();
  ASSERT_EQ(prepare(nts_request(s)).reason, Reason::Answered);
  ASSERT_EQ(prepare(header(2)).sent(), Sent::Nothing);  // the pending state is replaced
  Bytes out(kMaxNtpPacketLength, 0xCC);
  EXPECT_EQ(complete_response(pending_, kServerTx, out), 0U);
  EXPECT_EQ(out[0], 0xCC);
}

TEST_F(NtpHandlerTest, PlainAfterNtsUsesNoLeftoverState) {
  Session s = session();
  handle(nts_request(s));
  const Bytes response = handle(header());
  EXPECT_EQ(response.size(), kNtpHeaderLength);
  EXPECT_EQ(pending_.cookie_count(), 0U);
}

TEST_F(NtpHandlerTest, TransmitTimeIsWrittenInPhaseTwoAndCovered) {
  Session s = session();
  const Bytes request = nts_request(s);
  ASSERT_EQ(prepare(request).reason, Reason::Answered);
  Bytes a(request.size()), b(request.size());
  ASSERT_EQ(complete_response(pending_, NtpTimestamp{1}, a), request.size());
  ASSERT_EQ(complete_response(pending_, NtpTimestamp{2}, b), request.size());
  EXPECT_EQ(NtpHeader::parse(a)->transmit_time.raw, 1U);
  EXPECT_EQ(NtpHeader::parse(b)->transmit_time.raw, 2U);
  // Different transmit times seal to different tags: the header is authenticated.
  EXPECT_FALSE(std::equal(a.end() - 16, a.end(), b.end() - 16));
}

TEST_F(NtpHandlerTest, SameRandomnessGivesTheSameResponse) {
  Bytes first, second;
  for (Bytes* out : {&first, &second}) {
    DeterministicRandom random(42);
    StaticCookieKeyring keyring = make_keyring();
    Session s = make_session(AeadAlgorithm::AesSivCmac256, keyring.current(), random);
    NtsRequest request = build_nts_request(*s.c2s, s.cookie, 2, kClientTx, random);
    PendingResponse pending;
    prepare_response(request.packet, kServerRx, clock_, keyring, random, pending);
    out->resize(request.packet.size());
    ASSERT_EQ(complete_response(pending, kServerTx, *out), request.packet.size());
  }
  EXPECT_EQ(first, second);
}

TEST_F(NtpHandlerTest, HandlingARequestAllocatesNothing) {
  Session s = session(AeadAlgorithm::AesSivCmac512);
  const std::size_t body = padded_to_4(s.cookie.size());
  AuthSpec auth;
  auth.plaintext = encrypted_placeholders(2, body);
  const Bytes answered = nts_request(s, {{kPlaceholder, Bytes(body, 0)}}, auth);
  Session bad = session();
  bad.cookie[30] ^= 1;
  const Bytes naked = nts_request(bad);
  Bytes forged = nts_request(s);
  forged.back() ^= 1;
  const Bytes plain = header();
  const Bytes dropped = nts_request(s, {}, {}, {{kUnknown, Bytes(12, 0)}});
  std::array<std::uint8_t, kMaxNtpPacketLength> out{};

  // Another client's AEAD between two requests must not reopen the handles.
  AuthSpec gcm_siv_auth;
  gcm_siv_auth.nonce_length = kGcmSivNonceLength;
  gcm_siv_auth.extra_padding = 4;  // N_REQ is 12 for GCM-SIV, and fields are padded to 4
  const Bytes other_aead = nts_request(session(AeadAlgorithm::AesGcmSiv128), {}, gcm_siv_auth);
  const std::array<const Bytes*, 7> requests = {&answered, &naked,    &forged,    &plain,
                                                &dropped,  &answered, &other_aead};
  // A worker opens its libgcrypt handles on its first request of an algorithm (and
  // this thread its cookie master's on the first cookie), never again after that.
  for (const Bytes* request : requests) {
    prepare(*request);
    complete_response(pending_, kServerTx, out);
  }
  for (const Bytes* request : requests) {
    const std::size_t before = test_support::allocations();
    const NtpOutcome d = prepare(*request);
    const std::size_t n = complete_response(pending_, kServerTx, out);
    const std::size_t allocations = test_support::allocations() - before;
    EXPECT_EQ(allocations, 0U) << reason_name(d.reason);
    EXPECT_EQ(n > 0, d.sent() != Sent::Nothing);
  }
  EXPECT_EQ(prepare(other_aead).reason, Reason::Answered);
  EXPECT_EQ(prepare(answered).reason, Reason::Answered);
  EXPECT_EQ(pending_.cookie_count(), 4U);
}

// ---------------------------------------------------------------- client <-> server

struct RoundTripCase {
  AeadAlgorithm algorithm;
  std::size_t placeholders;
};

class NtsRoundTrip : public NtpHandlerTest, public ::testing::WithParamInterface<RoundTripCase> {};

TEST_P(NtsRoundTrip, ClientGetsOneCookiePerPlaceholderPlusOne) {
  const auto [algorithm, placeholders] = GetParam();
  Session s = session(algorithm);
  const NtsRequest request = build_nts_request(*s.c2s, s.cookie, placeholders, kClientTx, random_);
  NtpOutcome d;
  const Bytes response = handle(request.packet, &d);
  ASSERT_EQ(d.reason, Reason::Answered) << reason_name(d.reason);
  EXPECT_EQ(response.size(), request.packet.size());

  const NtsResponse parsed = parse_nts_response(response, *s.s2c, request);
  ASSERT_EQ(parsed.error, NtsResponseError::None) << nts_response_error_name(parsed.error);
  EXPECT_EQ(parsed.header.transmit_time, kServerTx);
  EXPECT_EQ(parsed.header.receive_time, kServerRx);
  ASSERT_EQ(parsed.cookies.size(), std::min<std::size_t>(8, 1 + placeholders));
  std::set<Bytes> distinct;
  for (const Bytes& cookie : parsed.cookies) {
    distinct.insert(cookie);
    auto opened = open_cookie(keyring_, cookie_from_field_body(cookie));
    ASSERT_TRUE(opened.keys.has_value());
    EXPECT_EQ(opened.keys->algorithm(), algorithm);
    EXPECT_TRUE(std::ranges::equal(opened.keys->c2s(), s.keys.c2s()));
    EXPECT_TRUE(std::ranges::equal(opened.keys->s2c(), s.keys.s2c()));

    // Each new cookie works for the next request, too.
    const NtsRequest next = build_nts_request(*s.c2s, cookie, placeholders, kClientTx, random_);
    EXPECT_EQ(next.packet.size(), request.packet.size());
    NtpOutcome again;
    const Bytes reply = handle(next.packet, &again);
    EXPECT_EQ(again.reason, Reason::Answered);
    EXPECT_EQ(parse_nts_response(reply, *s.s2c, next).error, NtsResponseError::None);
  }
  EXPECT_EQ(distinct.size(), parsed.cookies.size());
}

std::vector<RoundTripCase> round_trip_cases() {
  std::vector<RoundTripCase> cases;
  for (auto algorithm :
       {AeadAlgorithm::AesSivCmac256, AeadAlgorithm::AesSivCmac384, AeadAlgorithm::AesSivCmac512}) {
    for (std::size_t p = 0; p <= 9; ++p) cases.push_back({algorithm, p});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllAlgorithms, NtsRoundTrip, ::testing::ValuesIn(round_trip_cases()),
                         [](const ::testing::TestParamInfo<RoundTripCase>& param_info) {
                           return "aead" +
                                  std::to_string(static_cast<int>(param_info.param.algorithm)) +
                                  "_placeholders" + std::to_string(param_info.param.placeholders);
                         });

TEST_F(NtpHandlerTest, NakRoundTripIsSeenByTheClient) {
  const CookieKey stranger = make_cookie_key(77, 0x77);
  Session s = make_session(AeadAlgorithm::AesSivCmac256, stranger, random_);
  const NtsRequest request = build_nts_request(*s.c2s, s.cookie, 3, kClientTx, random_);
  NtpOutcome d;
  const Bytes response = handle(request.packet, &d);
  EXPECT_EQ(d.reason, Reason::UnknownCookieKey);
  EXPECT_EQ(response.size(), kNtpHeaderLength + 36);
  const NtsResponse parsed = parse_nts_response(response, *s.s2c, request);
  EXPECT_EQ(parsed.error, NtsResponseError::Nak);
  EXPECT_TRUE(parsed.cookies.empty());
}

TEST_F(NtpHandlerTest, AuthenticatorFailureNakRoundTrip) {
  Session s = session();
  NtsRequest request = build_nts_request(*s.c2s, s.cookie, 0, kClientTx, random_);
  request.packet.back() ^= 1;
  NtpOutcome d;
  const Bytes response = handle(request.packet, &d);
  EXPECT_EQ(d.reason, Reason::AuthenticatorFailed);
  EXPECT_EQ(parse_nts_response(response, *s.s2c, request).error, NtsResponseError::Nak);
}

// ---------------------------------------------------------------- randomized

TEST_F(NtpHandlerTest, RandomWellFormedRequestsGetSameLengthVerifiableAnswers) {
  std::mt19937 rng(20240607);
  auto pick = [&](std::size_t lo, std::size_t hi) {
    return std::uniform_int_distribution<std::size_t>(lo, hi)(rng);
  };
  const std::array algorithms = {AeadAlgorithm::AesSivCmac256, AeadAlgorithm::AesSivCmac384,
                                 AeadAlgorithm::AesSivCmac512};
  int answered = 0;
  for (int iteration = 0; iteration < 300; ++iteration) {
    Session s = session(algorithms[pick(0, 2)]);
    const std::size_t cookie_body = padded_to_4(s.cookie.size());
    const std::size_t clear = pick(0, 9);
    const std::size_t encrypted = pick(0, 3);
    std::vector<Field> fields;
    for (std::size_t i = 0; i < clear; ++i) fields.push_back({kPlaceholder, Bytes(cookie_body, 0)});
    for (std::size_t i = pick(0, 3); i > 0; --i) {
      fields.push_back(
          {static_cast<std::uint16_t>(0x1000 + pick(0, 0x0FFF)), random_.bytes(4 * pick(3, 20))});
    }
    std::shuffle(fields.begin(), fields.end(), rng);
    AuthSpec auth;
    auth.nonce_length = pick(1, 40);
    auth.extra_padding =
        (padded_to_4(auth.nonce_length) < 16 ? 16 - padded_to_4(auth.nonce_length) : 0) +
        4 * pick(0, 3);
    auth.plaintext = encrypted_placeholders(encrypted, cookie_body);
    if (pick(0, 1)) append(auth.plaintext, {kUnknown, random_.bytes(4 * pick(3, 10))});

    Bytes packet = header(4, NtpMode::Client, NtpTimestamp{rng()}, 6);
    const Bytes the_uid = random_.bytes(4 * pick(8, 16));
    append(packet, {kUid, the_uid});
    append(packet, {kCookie, s.cookie});
    for (const auto& f : fields) append(packet, f);
    append_authenticator(packet, *s.c2s, auth, random_);
    if (packet.size() > kMaxNtpPacketLength) continue;

    NtpOutcome d;
    const Bytes response = handle(packet, &d);
    ASSERT_EQ(d.reason, Reason::Answered) << iteration << " " << reason_name(d.reason);
    ASSERT_EQ(response.size(), packet.size()) << iteration;
    const NtsRequest as_sent{packet, the_uid, NtpHeader::parse(packet)->transmit_time};
    const NtsResponse parsed = parse_nts_response(response, *s.s2c, as_sent);
    ASSERT_EQ(parsed.error, NtsResponseError::None) << iteration;
    EXPECT_EQ(parsed.cookies.size(), std::min<std::size_t>(8, 1 + clear + encrypted));
    ++answered;
  }
  EXPECT_GT(answered, 250);  // few requests exceed kMaxNtpPacketLength and are skipped
}

TEST_F(NtpHandlerTest, MutatedRequestsNeverGetALongerAnswer) {
  std::mt19937 rng(99);
  auto pick = [&](std::size_t lo, std::size_t hi) {
    return std::uniform_int_distribution<std::size_t>(lo, hi)(rng);
  };
  Session s = session();
  std::array<std::size_t, kReasonCount> seen{};
  for (int iteration = 0; iteration < 2000; ++iteration) {
    NtsRequest request = build_nts_request(*s.c2s, s.cookie, pick(0, 4), kClientTx, random_);
    Bytes& packet = request.packet;
    switch (pick(0, 3)) {
      case 0:  // flip bytes
        for (std::size_t i = pick(1, 3); i > 0; --i) {
          packet[pick(0, packet.size() - 1)] ^= static_cast<std::uint8_t>(pick(1, 255));
        }
        break;
      case 1:  // truncate
        packet.resize(pick(0, packet.size()));
        break;
      case 2:  // append junk
        for (std::size_t i = pick(1, 64); i > 0; --i) {
          packet.push_back(static_cast<std::uint8_t>(pick(0, 255)));
        }
        break;
      default:  // overwrite a length field somewhere after the header
        if (packet.size() > 60) {
          store_be16(packet.data() + 4 * pick(13, (packet.size() - 2) / 4 - 1),
                     static_cast<std::uint16_t>(pick(0, 0xFFFF)));
        }
        break;
    }
    NtpOutcome d;
    const Bytes response = handle(packet, &d);
    ++seen[static_cast<std::size_t>(d.reason)];
    if (d.sent() != Sent::Nothing) {
      ASSERT_LE(response.size(), packet.size()) << iteration;
      if (d.sent() == Sent::Nak) {
        EXPECT_EQ(NtpHeader::parse(response)->reference_id, kRefIdNtsNak);
      }
    } else {
      EXPECT_TRUE(response.empty());
    }
  }
  // The mutations reach both drops and NAKs, not just one path.
  EXPECT_GT(seen[static_cast<std::size_t>(Reason::AuthenticatorFailed)], 0U);
  EXPECT_GT(seen[static_cast<std::size_t>(Reason::MalformedExtensionField)], 0U);
  EXPECT_GT(seen[static_cast<std::size_t>(Reason::TooShort)], 0U);
}

// ---------------------------------------------------------------- RATE kiss

class RateKissTest : public NtpHandlerTest {
 protected:
  Bytes kiss(ByteView request, NtpOutcome* decision) {
    return handle(request, decision, Reply::RateKiss);
  }
};

TEST_F(RateKissTest, PlainRequestGetsABareRateKiss) {
  for (std::uint8_t version : {std::uint8_t{3}, std::uint8_t{4}}) {
    const Bytes request = header(version, NtpMode::Client, kClientTx, 6);
    const Bytes response =
        expect_response(request, RequestKind::Plain, Reason::RateLimited, Reply::RateKiss);
    ASSERT_EQ(response.size(), kNtpHeaderLength);
    auto h = NtpHeader::parse(response);
    ASSERT_TRUE(h.has_value());
    expect_kiss_header(*h, kRefIdRateKiss, version);
    EXPECT_EQ(h->poll, 7);  // one step longer than the client's
  }
}

TEST_F(RateKissTest, PollHintIsBounded) {
  NtpOutcome d;
  auto low = NtpHeader::parse(kiss(header(4, NtpMode::Client, kClientTx, -3), &d));
  ASSERT_TRUE(low.has_value());
  EXPECT_EQ(low->poll, 4);
  auto high = NtpHeader::parse(kiss(header(4, NtpMode::Client, kClientTx, 40), &d));
  ASSERT_TRUE(high.has_value());
  EXPECT_EQ(high->poll, 17);
}

TEST_F(RateKissTest, NtsRequestGetsAnAuthenticatedRateKissWithoutCookies) {
  Session s = session();
  const Bytes request = nts_request(s, {{kPlaceholder, Bytes(s.cookie.size(), 0)}});
  const Bytes response =
      expect_response(request, RequestKind::Nts, Reason::RateLimited, Reply::RateKiss);
  EXPECT_EQ(pending_.cookie_count(), 0U);
  EXPECT_LT(response.size(), request.size());

  auto h = NtpHeader::parse(response);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->stratum, 0);
  EXPECT_EQ(h->reference_id, kRefIdRateKiss);
  EXPECT_EQ(h->origin_time, kClientTx);
  const auto auth = response_authenticator(response, request);
  ASSERT_TRUE(auth.has_value());
  EXPECT_EQ(auth->parts.ciphertext.size(), kAeadTagLength);  // nothing encrypted: no cookies
  EXPECT_TRUE(open_response(*s.s2c, response, *auth).has_value());
  // Any change to the header breaks the seal: the kiss is authenticated.
  Bytes forged = response;
  forged[1] = 3;
  EXPECT_FALSE(open_response(*s.s2c, forged, *auth).has_value());
}

TEST_F(RateKissTest, WhatWouldBeANakIsDropped) {
  const CookieKey stranger = make_cookie_key(99, 0x99);
  Session unknown = make_session(AeadAlgorithm::AesSivCmac256, stranger, random_);
  NtpOutcome d;
  EXPECT_TRUE(kiss(nts_request(unknown), &d).empty());
  EXPECT_EQ(d.sent(), Sent::Nothing);
  // Counted as what happened (a drop for the rate limit), never as a NAK.
  EXPECT_EQ(d.reason, Reason::RateLimitedDrop);
  EXPECT_EQ(d.kind, RequestKind::Nts);

  Session s = session();
  Bytes tampered = nts_request(s);
  tampered.back() ^= 1;
  EXPECT_TRUE(kiss(tampered, &d).empty());
  EXPECT_EQ(d.sent(), Sent::Nothing);
  EXPECT_EQ(d.reason, Reason::RateLimitedDrop);
}

TEST_F(RateKissTest, MalformedRequestsAreStillDropped) {
  NtpOutcome d;
  EXPECT_TRUE(kiss(Bytes(47, 0x23), &d).empty());
  EXPECT_EQ(d.reason, Reason::TooShort);
  EXPECT_TRUE(kiss(header(4, NtpMode::Server), &d).empty());
  EXPECT_EQ(d.reason, Reason::NotClientMode);
  EXPECT_TRUE(kiss(header(2), &d).empty());
  EXPECT_EQ(d.reason, Reason::UnsupportedVersion);
}

TEST_F(RateKissTest, NormalReplyAfterAKissIsUnaffected) {
  Session s = session();
  NtpOutcome d;
  kiss(nts_request(s), &d);
  ASSERT_EQ(d.reason, Reason::RateLimited);
  const Bytes request = nts_request(s);
  const Bytes response = handle(request, &d);
  EXPECT_EQ(d.reason, Reason::Answered);
  EXPECT_EQ(response.size(), request.size());
  auto h = NtpHeader::parse(response);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->stratum, 2);
  EXPECT_EQ(h->reference_id, clock_.reference_id);
}

// ---------------------------------------------------------------------------------------
// AEAD 30 (AES-128-GCM-SIV): 12-byte nonces both ways, N_REQ = 12, 72-byte cookies.

constexpr auto k30 = AeadAlgorithm::AesGcmSiv128;

TEST_F(NtpHandlerTest, GcmSivRequestWithATwelveByteNonceIsAnswered) {
  Session s = session(k30);
  ASSERT_EQ(s.cookie.size(), 72U);
  AuthSpec auth;
  auth.nonce_length = 12;  // chrony 4.6: N_MAX = 12, no Additional Padding
  auth.plaintext = encrypted_placeholders(2, s.cookie.size());
  const Bytes request = nts_request(s, {}, auth);
  NtpOutcome d;
  const Bytes response = handle(request, &d);
  ASSERT_EQ(d.reason, Reason::Answered) << reason_name(d.reason);
  EXPECT_EQ(response.size(), request.size());
  const auto sealed = response_authenticator(response, request, aead_min_nonce_space(k30));
  ASSERT_TRUE(sealed.has_value());
  EXPECT_EQ(sealed->parts.nonce.size(), 12U);
  const auto plaintext = open_response(*s.s2c, response, *sealed);
  ASSERT_TRUE(plaintext.has_value());
  auto inner = parse_extension_fields(*plaintext, 0);
  ASSERT_TRUE(inner.ok());
  ASSERT_EQ(inner.count, 3U);
  for (const auto& cookie : inner) {
    EXPECT_EQ(cookie.type, kCookie);
    const OpenedCookie opened = open_cookie(keyring_, cookie.body);
    ASSERT_TRUE(opened.keys.has_value());
    EXPECT_EQ(opened.keys->algorithm(), k30);
  }
}

TEST_F(NtpHandlerTest, GcmSivRequestWithAnotherNonceLengthIsDropped) {
  for (std::size_t nonce : {8U, 16U}) {
    Session s = session(k30);
    AuthSpec auth;
    auth.nonce_length = nonce;
    auth.extra_padding = nonce < 12 ? 4 : 0;
    // The client cannot seal with it; hand it an SIV key so that only the length is wrong.
    auto siv = Aead::create(AeadAlgorithm::AesSivCmac256, Bytes(32, 1));
    auth.key = &*siv;
    expect_dropped(nts_request(s, {}, auth), Reason::BadNonceLength, RequestKind::Nts);
  }
}

TEST_F(NtpHandlerTest, GcmSivRequestSealedWithTheOtherKeySetIsNaked) {
  // The cookie holds keys exported with one context (id 15 or 30); a client that
  // derived the other set seals with a different C2S: an NTS NAK, after which
  // chrony 4.6.1 switches key sets.
  Session s = session(k30);
  auto other = Aead::create(k30, pattern(16, 0x99));
  AuthSpec auth;
  auth.nonce_length = 12;
  auth.key = &*other;
  expect_nak(nts_request(s, {}, auth), Reason::AuthenticatorFailed);
}

}  // namespace
}  // namespace ntsd::core
