// Interleaved mode in the core (RFC 9769): make_interleaved() between the two
// phases turns an answered request into an interleaved response, and nothing else.
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "core/cookie.h"
#include "core/ntp_handler.h"
#include "core/ntp_packet.h"
#include "core/nts_client_codec.h"
#include "support/deterministic_random.h"

namespace ntsd::core {
namespace {

using FixedRandom = test_support::CountingRandom;

constexpr NtpTimestamp kServerReceive{0xE000000100000000ULL};
constexpr NtpTimestamp kServerTransmit{0xE000000180000000ULL};
constexpr NtpTimestamp kPreviousTransmit{0xE0000000F0000000ULL};

class InterleavedTest : public ::testing::Test {
 protected:
  InterleavedTest() {
    std::vector<CookieKey> keys;
    keys.push_back(*CookieKey::create(CookieKeyId{1}, std::array<std::uint8_t, 32>{}));
    keyring_.emplace(std::move(keys));
    clock_.stratum = 2;
  }

  // A client request whose origin, receive and transmit fields are as given.
  static Bytes request(NtpTimestamp origin, NtpTimestamp receive, NtpTimestamp transmit) {
    NtpHeader header;
    header.mode = NtpMode::Client;
    header.origin_time = origin;
    header.receive_time = receive;
    header.transmit_time = transmit;
    Bytes packet(kNtpHeaderLength);
    header.write(packet.data());
    return packet;
  }

  NtpHeader answer(const Bytes& packet, bool interleave, bool* accepted = nullptr) {
    auto decision = prepare_response(packet, kServerReceive, clock_, *keyring_, random_, pending_);
    EXPECT_NE(decision.sent(), Sent::Nothing);
    bool ok = false;
    if (interleave) ok = make_interleaved(pending_, kPreviousTransmit);
    if (accepted != nullptr) *accepted = ok;
    std::array<std::uint8_t, kMaxNtpPacketLength> out{};
    auto length = complete_response(pending_, kServerTransmit, out);
    EXPECT_EQ(length, packet.size());
    return *NtpHeader::parse({out.data(), length});
  }

  FixedRandom random_{1};
  std::optional<StaticCookieKeyring> keyring_;
  ServerClock clock_;
  PendingResponse pending_;
};

TEST_F(InterleavedTest, InterleavedRequestGetsPreviousTransmitAndItsReceiveAsOrigin) {
  // RFC 9769: the client's origin field names our previous receive time, its receive
  // field holds the receive time of our previous response.
  const NtpTimestamp client_receive{0xE0000000F8000000ULL};
  const auto packet =
      request(NtpTimestamp{0xE0000000E0000000ULL}, client_receive, NtpTimestamp{0x1234});
  bool accepted = false;
  auto header = answer(packet, true, &accepted);
  EXPECT_TRUE(accepted);
  EXPECT_TRUE(pending_.interleaved());
  EXPECT_EQ(header.origin_time, client_receive);
  EXPECT_EQ(header.transmit_time, kPreviousTransmit);
  EXPECT_EQ(header.receive_time, kServerReceive);
}

TEST_F(InterleavedTest, PreviousTransmitIsNeverLaterThanThisReceive) {
  // A basic answer's saved transmit time is the clock read plus the running
  // transmit gap when no kernel timestamp came for it; the request naming that
  // answer can arrive before the estimate. The response left before this
  // request arrived: the receive time is the nearer bound.
  const auto packet = request(NtpTimestamp{0xE0000000E0000000ULL},
                              NtpTimestamp{0xE0000000F8000000ULL}, NtpTimestamp{0x1234});
  prepare_response(packet, kServerReceive, clock_, *keyring_, random_, pending_);
  ASSERT_TRUE(make_interleaved(pending_, NtpTimestamp{kServerReceive.raw + 20}));
  std::array<std::uint8_t, kMaxNtpPacketLength> out{};
  const auto length = complete_response(pending_, kServerTransmit, out);
  const auto header = *NtpHeader::parse({out.data(), length});
  EXPECT_EQ(header.transmit_time, kServerReceive);
  EXPECT_EQ(header.receive_time, kServerReceive);
}

TEST_F(InterleavedTest, BasicRequestIsNotACandidate) {
  // Basic mode: receive and transmit fields equal (chrony sends both as the same
  // random cookie), or a zero origin.
  for (const auto& packet : {request(NtpTimestamp{7}, NtpTimestamp{9}, NtpTimestamp{9}),
                             request(NtpTimestamp{0}, NtpTimestamp{8}, NtpTimestamp{9})}) {
    bool accepted = true;
    auto header = answer(packet, true, &accepted);
    EXPECT_FALSE(accepted);
    EXPECT_FALSE(pending_.interleaved());
    EXPECT_EQ(header.transmit_time, kServerTransmit);
    EXPECT_EQ(header.origin_time, NtpHeader::parse(packet)->transmit_time);
  }
}

TEST_F(InterleavedTest, StateDoesNotLeakIntoTheNextRequest) {
  answer(request(NtpTimestamp{5}, NtpTimestamp{6}, NtpTimestamp{7}), true);
  ASSERT_TRUE(pending_.interleaved());
  const auto basic = request(NtpTimestamp{5}, NtpTimestamp{6}, NtpTimestamp{7});
  auto header = answer(basic, false);
  EXPECT_FALSE(pending_.interleaved());
  EXPECT_EQ(header.transmit_time, kServerTransmit);
  EXPECT_EQ(header.origin_time, NtpTimestamp{7});
}

TEST_F(InterleavedTest, NakAndDroppedRequestsStayBasic) {
  // An NTS request with a cookie under an unknown key gets a NAK: never interleaved.
  std::vector<CookieKey> other;
  other.push_back(*CookieKey::create(CookieKeyId{99}, std::array<std::uint8_t, 32>{}));
  StaticCookieKeyring foreign(std::move(other));
  std::array<std::uint8_t, 32> key{};
  auto keys = *NtsKeys::create(AeadAlgorithm::AesSivCmac256, key, key);
  Bytes cookie(cookie_length(AeadAlgorithm::AesSivCmac256));
  seal_cookie(foreign.current(), keys, random_, cookie);
  auto c2s = *Aead::create(AeadAlgorithm::AesSivCmac256, key);
  auto nts = build_nts_request(c2s, cookie, 0, NtpTimestamp{0x42}, random_);
  auto decision =
      prepare_response(nts.packet, kServerReceive, clock_, *keyring_, random_, pending_);
  ASSERT_EQ(decision.sent(), Sent::Nak);
  EXPECT_FALSE(make_interleaved(pending_, kPreviousTransmit));

  Bytes mode6 = request(NtpTimestamp{5}, NtpTimestamp{6}, NtpTimestamp{7});
  mode6[0] = static_cast<std::uint8_t>((mode6[0] & 0xf8) | 6);
  decision = prepare_response(mode6, kServerReceive, clock_, *keyring_, random_, pending_);
  ASSERT_EQ(decision.sent(), Sent::Nothing);
  EXPECT_FALSE(make_interleaved(pending_, kPreviousTransmit));
}

}  // namespace
}  // namespace ntsd::core
