#include "core/nts_client_codec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/extension_field.h"
#include "core/ntp_handler.h"
#include "support/deterministic_random.h"
#include "support/ntp_packets.h"

namespace ntsd::core {
namespace {

using test_support::append;
using test_support::DeterministicRandom;
using test_support::kAuth;
using test_support::kClientTx;
using test_support::kCookie;
using test_support::kPlaceholder;
using test_support::kUid;
using test_support::kUnknown;

Bytes pattern(std::size_t n, std::uint8_t seed) { return test_support::pattern(n, seed, 13); }

Aead make_aead(AeadAlgorithm algorithm, std::uint8_t seed) {
  auto aead = Aead::create(algorithm, pattern(aead_key_length(algorithm), seed));
  EXPECT_TRUE(aead.has_value());
  return std::move(*aead);
}

// ---------------------------------------------------------------- requests

TEST(BuildPlainRequest, IsAClientModeV4HeaderWithOnlyTheTransmitTime) {
  const Bytes packet = build_plain_request(kClientTx);
  ASSERT_EQ(packet.size(), kNtpHeaderLength);
  EXPECT_EQ(packet[0], 0x23);  // LI 0, VN 4, mode 3
  for (std::size_t i = 1; i < 40; ++i) EXPECT_EQ(packet[i], 0) << i;
  EXPECT_EQ(load_be64(packet.data() + 40), kClientTx.raw);
}

struct RequestCase {
  AeadAlgorithm algorithm;
  std::size_t cookie_length;
  std::size_t placeholders;
};

class BuildNtsRequest : public ::testing::TestWithParam<RequestCase> {};

TEST_P(BuildNtsRequest, HasTheRfc8915Layout) {
  const auto [algorithm, cookie_length, placeholders] = GetParam();
  DeterministicRandom random(1);
  const Aead c2s = make_aead(algorithm, 0x10);
  const Bytes cookie = pattern(cookie_length, 0x33);
  const NtsRequest request = build_nts_request(c2s, cookie, placeholders, kClientTx, random);
  const Bytes& packet = request.packet;

  EXPECT_EQ(request.transmit_time, kClientTx);
  ASSERT_EQ(request.unique_identifier.size(), 32U);
  auto header = NtpHeader::parse(packet);
  ASSERT_TRUE(header.has_value());
  EXPECT_EQ(header->version, 4);
  EXPECT_EQ(header->mode, NtpMode::Client);
  EXPECT_EQ(header->leap, LeapIndicator::NoWarning);
  EXPECT_EQ(header->transmit_time, kClientTx);
  EXPECT_EQ(header->origin_time.raw, 0U);
  EXPECT_EQ(header->receive_time.raw, 0U);

  const std::size_t cookie_field = extension_field_length(cookie_length);
  EXPECT_EQ(packet.size(), kNtpHeaderLength + 36 + (1 + placeholders) * cookie_field + 40);
  auto fields = parse_extension_fields(packet, kNtpHeaderLength);
  ASSERT_TRUE(fields.ok());
  ASSERT_EQ(fields.count, 3 + placeholders);
  EXPECT_EQ(fields.fields[0].type, kUid);
  EXPECT_TRUE(std::ranges::equal(fields.fields[0].body, request.unique_identifier));
  EXPECT_EQ(fields.fields[1].type, kCookie);
  EXPECT_TRUE(std::equal(cookie.begin(), cookie.end(), fields.fields[1].body.begin()));
  for (std::size_t i = 0; i < placeholders; ++i) {
    const ExtensionField& p = fields.fields[2 + i];
    EXPECT_EQ(p.type, kPlaceholder);
    EXPECT_EQ(p.body.size(), fields.fields[1].body.size());
    EXPECT_TRUE(std::all_of(p.body.begin(), p.body.end(), [](std::uint8_t b) { return b == 0; }));
  }
  const ExtensionField& auth = fields.fields[fields.count - 1];
  EXPECT_EQ(auth.type, kAuth);
  NtsAuthenticatorParts parts;
  ASSERT_EQ(parse_nts_authenticator(auth.body, parts), NtsAuthenticatorError::None);
  EXPECT_EQ(parts.nonce.size(), 16U);
  EXPECT_EQ(parts.ciphertext.size(), kAeadTagLength);  // empty plaintext
  std::uint8_t unused = 0;
  EXPECT_TRUE(
      c2s.open(parts.nonce, ByteView(packet).first(auth.offset), parts.ciphertext, &unused));
  // The associated data is everything before the authenticator, header included.
  Bytes tampered = packet;
  tampered[2] ^= 1;
  EXPECT_FALSE(
      c2s.open(parts.nonce, ByteView(tampered).first(auth.offset), parts.ciphertext, &unused));
}

std::vector<RequestCase> request_cases() {
  std::vector<RequestCase> cases;
  for (auto algorithm :
       {AeadAlgorithm::AesSivCmac256, AeadAlgorithm::AesSivCmac384, AeadAlgorithm::AesSivCmac512}) {
    for (std::size_t p : {0U, 1U, 7U}) {
      cases.push_back({algorithm, cookie_length(algorithm), p});
      cases.push_back({algorithm, 100, p});  // a foreign server's cookie, already aligned
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Layouts, BuildNtsRequest, ::testing::ValuesIn(request_cases()),
                         [](const ::testing::TestParamInfo<RequestCase>& param_info) {
                           return "aead" +
                                  std::to_string(static_cast<int>(param_info.param.algorithm)) +
                                  "_cookie" + std::to_string(param_info.param.cookie_length) +
                                  "_placeholders" + std::to_string(param_info.param.placeholders);
                         });

TEST(BuildNtsRequestFreshness, EveryRequestHasItsOwnUidAndNonce) {
  DeterministicRandom random(5);
  const Aead c2s = make_aead(AeadAlgorithm::AesSivCmac256, 1);
  const Bytes cookie = pattern(102, 1);
  std::set<Bytes> uids;
  std::set<Bytes> packets;
  for (int i = 0; i < 20; ++i) {
    const NtsRequest r = build_nts_request(c2s, cookie, 1, kClientTx, random);
    uids.insert(r.unique_identifier);
    packets.insert(r.packet);
  }
  EXPECT_EQ(uids.size(), 20U);
  EXPECT_EQ(packets.size(), 20U);
}

// ---------------------------------------------------------------- responses

// Builds server responses by hand so that each can be wrong in exactly one way.
class ParseNtsResponse : public ::testing::Test {
 protected:
  ParseNtsResponse()
      : random_(9),
        c2s_(make_aead(AeadAlgorithm::AesSivCmac256, 0x10)),
        s2c_(make_aead(AeadAlgorithm::AesSivCmac256, 0x20)),
        request_(build_nts_request(c2s_, pattern(102, 0x55), 2, kClientTx, random_)) {
    for (std::size_t i = 0; i < 3; ++i) {
      cookies_.push_back(pattern(100 + 4 * i, static_cast<std::uint8_t>(i)));
    }
  }

  struct Options {
    NtpMode mode = NtpMode::Server;
    std::uint8_t stratum = 2;
    ReferenceId refid{'G', 'P', 'S', 0};
    std::optional<NtpTimestamp> origin;
    std::optional<Bytes> uid;  // defaults to the request's
    bool with_uid = true;
    bool with_auth = true;
    std::vector<std::pair<std::uint16_t, Bytes>> clear_before_auth;
    std::vector<std::pair<std::uint16_t, Bytes>> after_auth;
    std::optional<Bytes> plaintext;  // defaults to the cookies as fields
    const Aead* key = nullptr;
    bool uid_after_auth = false;
  };

  // An unauthenticated kiss-o'-death with this code (a NAK when it is NTSN).
  static Options unauthenticated_kiss(ReferenceId code) {
    Options o;
    o.stratum = 0;
    o.refid = code;
    o.with_auth = false;
    return o;
  }

  Bytes plaintext_with_cookies() const {
    Bytes out;
    for (const Bytes& c : cookies_) append(out, kCookie, c);
    return out;
  }

  Bytes response(const Options& o) {
    NtpHeader h;
    h.mode = o.mode;
    h.stratum = o.stratum;
    h.reference_id = o.refid;
    h.origin_time = o.origin.value_or(request_.transmit_time);
    h.receive_time.raw = 11;
    h.transmit_time.raw = 12;
    Bytes packet(kNtpHeaderLength);
    h.write(packet.data());
    const Bytes uid = o.uid.value_or(request_.unique_identifier);
    if (o.with_uid && !o.uid_after_auth) append(packet, kUid, uid);
    for (const auto& [type, body] : o.clear_before_auth) append(packet, type, body);
    if (o.with_auth) {
      const Bytes plaintext = o.plaintext.value_or(plaintext_with_cookies());
      const Bytes nonce = random_.bytes(16);
      Bytes sealed(kAeadTagLength + plaintext.size());
      (o.key ? *o.key : s2c_).seal(nonce, packet, plaintext, sealed.data());
      Bytes body;
      ByteWriter w(body);
      w.u16(16);
      w.u16(static_cast<std::uint16_t>(sealed.size()));
      w.bytes(nonce);
      w.bytes(sealed);
      w.zeros(padded_to_4(sealed.size()) - sealed.size());
      append(packet, kAuth, body);
    }
    if (o.with_uid && o.uid_after_auth) append(packet, kUid, uid);
    for (const auto& [type, body] : o.after_auth) append(packet, type, body);
    return packet;
  }

  NtsResponse parse(ByteView packet) { return parse_nts_response(packet, s2c_, request_); }

  void expect_error(ByteView packet, NtsResponseError error) {
    const NtsResponse r = parse(packet);
    EXPECT_EQ(r.error, error) << "got " << nts_response_error_name(r.error) << ", want "
                              << nts_response_error_name(error);
    EXPECT_TRUE(r.cookies.empty());
  }

  DeterministicRandom random_;
  Aead c2s_;
  Aead s2c_;
  NtsRequest request_;
  std::vector<Bytes> cookies_;
};

TEST_F(ParseNtsResponse, AcceptsAnAuthenticResponseAndCollectsItsCookies) {
  const NtsResponse r = parse(response({}));
  ASSERT_EQ(r.error, NtsResponseError::None);
  EXPECT_EQ(r.header.mode, NtpMode::Server);
  EXPECT_EQ(r.header.stratum, 2);
  EXPECT_EQ(r.header.receive_time.raw, 11U);
  EXPECT_EQ(r.header.transmit_time.raw, 12U);
  ASSERT_EQ(r.cookies.size(), cookies_.size());
  for (std::size_t i = 0; i < cookies_.size(); ++i) EXPECT_EQ(r.cookies[i], cookies_[i]);
}

TEST_F(ParseNtsResponse, KeepsTheCookieFieldBodyAsIs) {
  Options o;
  o.plaintext = Bytes();
  append(*o.plaintext, kCookie, pattern(102, 3));  // padded to 104 in the field
  const NtsResponse r = parse(response(o));
  ASSERT_EQ(r.error, NtsResponseError::None);
  ASSERT_EQ(r.cookies.size(), 1U);
  EXPECT_EQ(r.cookies[0].size(), 104U);
  EXPECT_TRUE(
      std::equal(r.cookies[0].begin(), r.cookies[0].begin() + 102, pattern(102, 3).begin()));
}

TEST_F(ParseNtsResponse, IgnoresOtherEncryptedFields) {
  Options o;
  o.plaintext = plaintext_with_cookies();
  append(*o.plaintext, kUnknown, Bytes(20, 1));
  append(*o.plaintext, kPlaceholder, Bytes(100, 0));
  const NtsResponse r = parse(response(o));
  ASSERT_EQ(r.error, NtsResponseError::None);
  EXPECT_EQ(r.cookies.size(), cookies_.size());
}

TEST_F(ParseNtsResponse, AcceptsAResponseWithoutCookies) {
  Options o;
  o.plaintext = Bytes();
  const NtsResponse r = parse(response(o));
  EXPECT_EQ(r.error, NtsResponseError::None);
  EXPECT_TRUE(r.cookies.empty());
}

TEST_F(ParseNtsResponse, ShorterThanAHeaderIsMalformed) {
  Bytes packet = response({});
  packet.resize(kNtpHeaderLength - 1);
  expect_error(packet, NtsResponseError::Malformed);
}

TEST_F(ParseNtsResponse, BrokenFieldsAreMalformed) {
  Bytes packet = response({});
  packet.erase(packet.end() - 4, packet.end());
  expect_error(packet, NtsResponseError::Malformed);
}

TEST_F(ParseNtsResponse, BrokenAuthenticatorLayoutIsMalformed) {
  Bytes packet = response({});
  auto fields = parse_extension_fields(packet, kNtpHeaderLength);
  ASSERT_TRUE(fields.ok());
  store_be16(packet.data() + fields.fields[1].offset + 6, 0x0FFF);  // ciphertext length
  expect_error(packet, NtsResponseError::Malformed);
}

TEST_F(ParseNtsResponse, BrokenEncryptedFieldsAreMalformed) {
  Options o;
  o.plaintext = Bytes{0x02, 0x04, 0x00, 0x06, 1, 2, 3, 4};
  expect_error(response(o), NtsResponseError::Malformed);
}

TEST_F(ParseNtsResponse, TwoUidsAreMalformed) {
  Options o;
  o.clear_before_auth = {{kUid, request_.unique_identifier}};
  expect_error(response(o), NtsResponseError::Malformed);
}

TEST_F(ParseNtsResponse, OtherModesAreRejected) {
  for (auto mode :
       {NtpMode::Client, NtpMode::Broadcast, NtpMode::SymmetricActive, NtpMode::Control}) {
    Options o;
    o.mode = mode;
    expect_error(response(o), NtsResponseError::NotServerMode);
  }
}

TEST_F(ParseNtsResponse, OriginOtherThanOurTransmitIsRejected) {
  Options o;
  o.origin = NtpTimestamp{kClientTx.raw + 1};
  expect_error(response(o), NtsResponseError::OriginMismatch);
}

TEST_F(ParseNtsResponse, AnotherUidIsRejected) {
  Options o;
  o.uid = random_.bytes(32);
  expect_error(response(o), NtsResponseError::UidMismatch);
  Options longer;
  Bytes uid = request_.unique_identifier;
  uid.resize(36, 0);
  longer.uid = uid;
  expect_error(response(longer), NtsResponseError::UidMismatch);
}

TEST_F(ParseNtsResponse, MissingUidIsRejected) {
  Options o;
  o.with_uid = false;
  expect_error(response(o), NtsResponseError::UidMismatch);
}

TEST_F(ParseNtsResponse, NakWithOurUidNeedsNoAuthenticator) {
  const NtsResponse r = parse(response(unauthenticated_kiss(kRefIdNtsNak)));
  EXPECT_EQ(r.error, NtsResponseError::Nak);
  EXPECT_EQ(r.header.stratum, 0);
  EXPECT_EQ(r.header.reference_id, kRefIdNtsNak);
}

TEST_F(ParseNtsResponse, NakWithAnotherUidIsNotOurs) {
  Options o = unauthenticated_kiss(kRefIdNtsNak);
  o.uid = random_.bytes(32);
  expect_error(response(o), NtsResponseError::UidMismatch);
}

TEST_F(ParseNtsResponse, NtsnWithNonZeroStratumIsNoNak) {
  Options o;
  o.refid = kRefIdNtsNak;
  o.with_auth = false;
  expect_error(response(o), NtsResponseError::MissingAuthenticator);
}

TEST_F(ParseNtsResponse, OtherKissCodesMustBeAuthenticated) {
  Options o = unauthenticated_kiss(kRefIdRateKod);
  expect_error(response(o), NtsResponseError::MissingAuthenticator);
  o.with_auth = true;
  const NtsResponse r = parse(response(o));
  EXPECT_EQ(r.error, NtsResponseError::None);  // authentic: the caller reads the kiss code
  EXPECT_EQ(r.header.reference_id, kRefIdRateKod);
}

TEST_F(ParseNtsResponse, MissingAuthenticatorIsRejected) {
  Options o;
  o.with_auth = false;
  expect_error(response(o), NtsResponseError::MissingAuthenticator);
}

TEST_F(ParseNtsResponse, TamperedCiphertextFailsTheAuthenticator) {
  Bytes packet = response({});
  packet[packet.size() - 10] ^= 0x04;
  expect_error(packet, NtsResponseError::AuthenticatorFailed);
}

TEST_F(ParseNtsResponse, TamperedHeaderFailsTheAuthenticator) {
  Bytes packet = response({});
  packet[47] ^= 0x01;  // the transmit timestamp's last byte
  expect_error(packet, NtsResponseError::AuthenticatorFailed);
}

TEST_F(ParseNtsResponse, AnotherKeyFailsTheAuthenticator) {
  const Aead other = make_aead(AeadAlgorithm::AesSivCmac256, 0x21);
  Options o;
  o.key = &other;
  expect_error(response(o), NtsResponseError::AuthenticatorFailed);
  // The client's own C2S key is not the server's key either.
  o.key = &c2s_;
  expect_error(response(o), NtsResponseError::AuthenticatorFailed);
}

// Clear fields besides the UID, and anything after the authenticator.
TEST_F(ParseNtsResponse, FieldsOutsideTheAuthenticatorAreRejected) {
  std::vector<Options> cases(4);
  cases[0].clear_before_auth = {{kUnknown, Bytes(12, 0)}};
  cases[1].clear_before_auth = {{kCookie, Bytes(100, 7)}};
  cases[2].after_auth = {{kUnknown, Bytes(12, 0)}};
  cases[3].uid_after_auth = true;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(i);
    expect_error(response(cases[i]), NtsResponseError::UnauthenticatedField);
  }
}

TEST_F(ParseNtsResponse, SecondAuthenticatorIsRejected) {
  Bytes packet = response({});
  auto fields = parse_extension_fields(packet, kNtpHeaderLength);
  ASSERT_TRUE(fields.ok());
  const ExtensionField& auth = fields.fields[fields.count - 1];
  const Bytes copy(packet.begin() + static_cast<std::ptrdiff_t>(auth.offset), packet.end());
  packet.insert(packet.end(), copy.begin(), copy.end());
  expect_error(packet, NtsResponseError::UnauthenticatedField);
}

TEST(NtsResponseErrorNames, AreDistinctSnakeCase) {
  std::set<std::string> names;
  for (int e = 0; e <= static_cast<int>(NtsResponseError::UnauthenticatedField); ++e) {
    const std::string name(nts_response_error_name(static_cast<NtsResponseError>(e)));
    EXPECT_NE(name, "unknown");
    for (char c : name) EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_') << name;
    names.insert(name);
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(NtsResponseError::UnauthenticatedField) + 1);
  EXPECT_EQ(nts_response_error_name(NtsResponseError::Nak), "nak");
}

}  // namespace
}  // namespace ntsd::core
