// How an NTS-KE session ends and what it answers, from what it read
// (server::reply_to_request): every KeSessionOutcome a read request can end with.
#include "server/ke_reply.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/ke_cookies.h"
#include "core/ke_record.h"

namespace ntsd::server {
namespace {

using core::AeadAlgorithm;

std::shared_ptr<const core::CookieKeyring> keyring() {
  std::vector<core::CookieKey> keys;
  keys.push_back(*core::CookieKey::create(core::CookieKeyId{3}, core::Bytes(32, 0x33)));
  return std::make_shared<core::StaticCookieKeyring>(std::move(keys));
}

std::optional<core::NtsKeys> fixed_keys(const core::KeDecision& decision) {
  const std::size_t length = core::aead_key_length(*decision.aead);
  return core::NtsKeys::create(*decision.aead, core::Bytes(length, 1), core::Bytes(length, 2));
}

// A session's surroundings: policy, two NTP servers in turn, keys, exporter.
class KeReplyTest : public ::testing::Test {
 protected:
  KeReplyTest() { policy_.aead_preference = {AeadAlgorithm::AesSivCmac256}; }

  KeReply reply(const core::Bytes& bytes, bool timed_out = false, bool peer_closed = false) {
    buffer_ = bytes;
    KeRequestRead read;
    read.received = buffer_.size();
    read.message = core::parse_ke_message(buffer_);
    read.timed_out = timed_out;
    read.peer_closed = peer_closed;
    const KeKeyExporter exporter = [this](const core::KeDecision& decision) {
      ++exports_;
      return export_fails_ ? std::nullopt : fixed_keys(decision);
    };
    return reply_to_request(read, {policy_, servers_, peer_, published_, random_, exporter});
  }

  static core::KeClientResult interpret(const KeReply& r) {
    EXPECT_TRUE(r.response.has_value());
    const std::vector<AeadAlgorithm> offered{AeadAlgorithm::AesSivCmac256,
                                             AeadAlgorithm::AesSivCmac512};
    return core::interpret_ke_response(core::parse_ke_message(*r.response), offered);
  }

  static core::Bytes request(std::vector<AeadAlgorithm> offered) {
    return core::build_ke_request(offered);
  }

  core::KeServerPolicy policy_;
  NtpServerChooser servers_{{{"a.example", 1123}, {"b.example", std::nullopt}},
                            ServerChoice::RoundRobin};
  SocketAddress peer_ = *SocketAddress::parse("192.0.2.1:4460");
  keys::PublishedKeyring published_{keyring()};
  core::SystemRandom random_;
  core::Bytes buffer_;
  bool export_fails_ = false;
  int exports_ = 0;
};

TEST_F(KeReplyTest, AgreedRequestGetsCookiesAndAServer) {
  const KeReply r = reply(request({AeadAlgorithm::AesSivCmac256}));
  EXPECT_EQ(r.outcome, KeSessionOutcome::Ok);
  const auto client = interpret(r);
  ASSERT_EQ(client.error, core::KeClientError::None);
  EXPECT_EQ(client.aead, AeadAlgorithm::AesSivCmac256);
  EXPECT_EQ(client.cookies.size(), core::kKeCookiesPerResponse);
  EXPECT_EQ(client.ntp_server, "a.example");
  EXPECT_EQ(client.ntp_port, 1123);
  for (const auto& cookie : client.cookies) {
    EXPECT_TRUE(core::open_cookie(*published_.load(), cookie).keys.has_value());
  }
}

TEST_F(KeReplyTest, FailedKeyExportIsAnInternalErrorWithError2) {
  export_fails_ = true;
  const KeReply r = reply(request({AeadAlgorithm::AesSivCmac256}));
  EXPECT_EQ(r.outcome, KeSessionOutcome::InternalError);
  EXPECT_EQ(exports_, 1);
  const auto client = interpret(r);
  EXPECT_EQ(client.error, core::KeClientError::ServerError);
  EXPECT_EQ(client.error_code, 2);
  // No server was handed out: the next answered session gets the first in turn.
  export_fails_ = false;
  EXPECT_EQ(interpret(reply(request({AeadAlgorithm::AesSivCmac256}))).ntp_server, "a.example");
  EXPECT_EQ(interpret(reply(request({AeadAlgorithm::AesSivCmac256}))).ntp_server, "b.example");
}

TEST_F(KeReplyTest, NoCommonAeadIsANegotiationFailureWithoutKeys) {
  const KeReply r = reply(request({AeadAlgorithm::AesSivCmac512}));
  EXPECT_EQ(r.outcome, KeSessionOutcome::NegotiationFailed);
  EXPECT_EQ(exports_, 0);
  EXPECT_EQ(interpret(r).error, core::KeClientError::NoCommonAead);
}

TEST_F(KeReplyTest, NoCommonProtocolIsANegotiationFailure) {
  core::Bytes bytes;
  core::append_ke_record_u16s(bytes, true, core::KeRecordType::NextProtocol, {0x8000});
  core::append_ke_record(bytes, true, core::KeRecordType::EndOfMessage, {});
  const KeReply r = reply(bytes);
  EXPECT_EQ(r.outcome, KeSessionOutcome::NegotiationFailed);
  EXPECT_EQ(interpret(r).error, core::KeClientError::NoCommonProtocol);
}

TEST_F(KeReplyTest, BadAndUnrecognizedRequestsAreBadRequests) {
  core::Bytes trailing = request({AeadAlgorithm::AesSivCmac256});
  trailing.push_back(0);
  KeReply r = reply(trailing);
  EXPECT_EQ(r.outcome, KeSessionOutcome::BadRequest);
  EXPECT_EQ(r.decision.bad_request, core::KeBadRequest::TrailingData);
  EXPECT_EQ(interpret(r).error_code, 1);

  core::Bytes critical;
  core::append_ke_record(critical, true, static_cast<core::KeRecordType>(0x4321), {});
  core::append_ke_record(critical, true, core::KeRecordType::EndOfMessage, {});
  r = reply(critical);
  EXPECT_EQ(r.outcome, KeSessionOutcome::BadRequest);
  EXPECT_EQ(interpret(r).error_code, 0);
  EXPECT_EQ(exports_, 0);
}

TEST_F(KeReplyTest, NothingReadEndsWithoutAnswer) {
  KeReply r = reply({}, /*timed_out=*/true);
  EXPECT_EQ(r.outcome, KeSessionOutcome::Timeout);
  EXPECT_FALSE(r.response.has_value());
  r = reply({}, false, /*peer_closed=*/true);
  EXPECT_EQ(r.outcome, KeSessionOutcome::ClosedEarly);
  EXPECT_FALSE(r.response.has_value());
}

TEST_F(KeReplyTest, PartialRequests) {
  core::Bytes partial = request({AeadAlgorithm::AesSivCmac256});
  partial.resize(partial.size() - 2);
  // The client left in the middle: nothing to answer.
  KeReply r = reply(partial, false, /*peer_closed=*/true);
  EXPECT_EQ(r.outcome, KeSessionOutcome::ClosedEarly);
  EXPECT_FALSE(r.response.has_value());
  // The deadline came first: Error 1, counted as a timeout.
  r = reply(partial, /*timed_out=*/true);
  EXPECT_EQ(r.outcome, KeSessionOutcome::Timeout);
  EXPECT_EQ(r.decision.bad_request, core::KeBadRequest::Timeout);
  EXPECT_EQ(interpret(r).error_code, 1);
  // The buffer filled up without End of Message: Error 1.
  r = reply(partial);
  EXPECT_EQ(r.outcome, KeSessionOutcome::BadRequest);
  EXPECT_EQ(r.decision.bad_request, core::KeBadRequest::Malformed);
  EXPECT_EQ(interpret(r).error_code, 1);
}

TEST(KeSessionOutcome, FollowsTheDecision) {
  using core::KeBadRequest;
  using core::KeOutcome;
  const struct {
    KeOutcome outcome;
    KeBadRequest reason;
    KeSessionOutcome expected;
  } cases[] = {
      {KeOutcome::Ok, KeBadRequest::None, KeSessionOutcome::Ok},
      {KeOutcome::NoCommonAead, KeBadRequest::None, KeSessionOutcome::NegotiationFailed},
      {KeOutcome::NoCommonProtocol, KeBadRequest::None, KeSessionOutcome::NegotiationFailed},
      {KeOutcome::UnrecognizedCritical, KeBadRequest::None, KeSessionOutcome::BadRequest},
      {KeOutcome::BadRequest, KeBadRequest::Malformed, KeSessionOutcome::BadRequest},
      {KeOutcome::BadRequest, KeBadRequest::AeadCount, KeSessionOutcome::BadRequest},
      {KeOutcome::BadRequest, KeBadRequest::Timeout, KeSessionOutcome::Timeout},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ke_session_outcome({c.outcome, c.reason, std::nullopt}), c.expected)
        << core::ke_outcome_name(c.outcome) << " " << core::ke_bad_request_name(c.reason);
  }
}

}  // namespace
}  // namespace ntsd::server
