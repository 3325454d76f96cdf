// Issue 7: "per-request allocations: zero" on the NTP path. Runs many requests
// through the NtpExchange an NTP worker hands every packet to (server/
// ntp_exchange.h: the rate limiter, the interleaved table, the sans-I/O core
// with a reused PendingResponse, BufferedRandom, counting), and feeds it a
// kernel transmit timestamp per response as the worker's TxTimestampQueue does
// (the transmit gap histogram). Once warm, not one heap allocation may happen,
// OpenSSL's included: malloc itself is counted, not only operator new.
//
// Beyond this test's reach: OpenSSL's per-thread DRBG reseeds from its parent
// every 2^16 RAND_bytes calls and every 7 minutes, with one malloc each time.
// BufferedRandom draws 4 KiB per call (28 to 128 NTS answers), so that is one
// allocation per 2 to 8 million NTS answers, not one per request.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <vector>

#include "core/cookie.h"
#include "core/extension_field.h"
#include "core/ntp_handler.h"
#include "core/nts_client_codec.h"
#include "core/nts_keys.h"
#include "core/random.h"
#include "keys/published_keyring.h"
#include "keys/ratchet.h"
#include "server/ntp_exchange.h"
#include "server/rate_limit.h"
#include "support/counting_allocator.h"
#include "time/clock.h"
#include "time/clock_state.h"

namespace ntsd {
namespace {

using core::Bytes;
using core::ByteView;
using core::NtpTimestamp;

// One prefix per client (/24 and /56 apart), so that only the flooders meet
// the rate limit.
sockaddr_storage ipv4_peer(std::uint8_t third_octet) {
  sockaddr_storage storage{};
  auto* in = reinterpret_cast<sockaddr_in*>(&storage);
  in->sin_family = AF_INET;
  in->sin_port = htons(40000);
  const std::uint8_t address[4] = {198, 51, third_octet, 7};
  std::memcpy(&in->sin_addr, address, sizeof address);
  return storage;
}

sockaddr_storage ipv6_peer(std::uint8_t subnet) {
  sockaddr_storage storage{};
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(40001);
  std::uint8_t address[16] = {0x20, 0x01, 0x0d, 0xb8, 0, subnet};
  address[15] = 1;
  std::memcpy(&in6->sin6_addr, address, sizeof address);
  return storage;
}

Bytes plain_request(NtpTimestamp origin, NtpTimestamp receive, NtpTimestamp transmit) {
  core::NtpHeader h;
  h.version = 4;
  h.mode = core::NtpMode::Client;
  h.poll = 6;
  h.origin_time = origin;
  h.receive_time = receive;
  h.transmit_time = transmit;
  Bytes out(core::kNtpHeaderLength);
  h.write(out.data());
  return out;
}

// A request as nts_client_codec builds it, with origin and receive fields set
// as a client in interleaved mode sets them (then sealed again).
Bytes nts_request(const core::Aead& c2s, ByteView cookie, std::size_t placeholders,
                  NtpTimestamp origin, NtpTimestamp receive, NtpTimestamp transmit,
                  core::RandomSource& random) {
  Bytes packet = core::build_nts_request(c2s, cookie, placeholders, transmit, random).packet;
  if (origin.raw == 0) return packet;
  const Bytes header = plain_request(origin, receive, transmit);
  std::copy(header.begin(), header.end(), packet.begin());
  const std::size_t field_length = core::nts_authenticator_field_length(16, 0);
  const std::size_t associated = packet.size() - field_length;
  std::uint8_t* nonce = packet.data() + associated + 8;
  c2s.seal(ByteView(nonce, 16), ByteView(packet.data(), associated), ByteView(), nonce + 16);
  return packet;
}

// What a client holds after NTS-KE.
struct Session {
  std::optional<core::Aead> c2s;
  Bytes cookie;
};

Session make_session(const core::CookieKey& key, std::uint8_t seed, core::RandomSource& random) {
  const auto algorithm = core::AeadAlgorithm::AesSivCmac256;
  Bytes c2s(core::aead_key_length(algorithm), seed);
  Bytes s2c(core::aead_key_length(algorithm), static_cast<std::uint8_t>(seed + 1));
  auto keys = core::NtsKeys::create(algorithm, c2s, s2c);
  Session s;
  s.c2s = core::Aead::create(algorithm, keys->c2s());
  s.cookie.resize(core::cookie_length(algorithm));
  core::seal_cookie(key, *keys, random, s.cookie);
  return s;
}

enum class Kind : std::uint8_t {
  PlainBasic,
  PlainInterleaved,
  NtsNoPlaceholder,
  NtsThreePlaceholders,
  NtsSevenPlaceholders,
  NtsInterleaved,
  NtsUnknownKey,      // NAK
  NtsForged,          // authenticator fails: NAK
  TooShort,           // dropped
  BadExtensionField,  // dropped
  PlainFlood,         // rate limited: kisses and drops
  NtsFlood,           // rate limited: authenticated kisses and drops
};
constexpr std::size_t kKinds = 12;
constexpr std::size_t kFloodPerRound = 24;

// An NTP worker's exchange with the default rate limit, and what the test
// tallies of its outcomes.
class WorkerPath {
 public:
  WorkerPath(const keys::PublishedKeyring& keyring, const timesource::PublishedClock& clock)
      : exchange_(clock, keyring, {server::default_ntp_rate_limit(), true}) {}

  struct Tally {
    std::array<std::uint64_t, core::kReasonCount> reasons{};
    std::uint64_t responses = 0;
    std::uint64_t naks = 0;
    std::uint64_t kisses = 0;
    std::uint64_t dropped = 0;  // by the rate limit
  };

  void begin_batch() { exchange_.begin_batch(); }

  // One packet, then the kernel transmit timestamp arriving for its response,
  // 5 µs after the written one.
  void serve(ByteView request, const sockaddr* peer, NtpTimestamp rx_time, Tally& tally) {
    server::NtpReply reply;
    const auto outcome = exchange_.handle(request, peer, rx_time, response_, reply);
    ++tally.reasons[static_cast<std::size_t>(outcome.reason)];
    if (outcome.sent() == core::Sent::Nak) ++tally.naks;
    if (outcome.sent() == core::Sent::RateKiss) ++tally.kisses;
    if (outcome.reason == core::Reason::RateLimitedDrop) ++tally.dropped;
    if (reply.length == 0) return;
    ++tally.responses;
    exchange_.transmit_timestamp(reply.clock_read, reply.handle,
                                 NtpTimestamp{reply.transmit.raw + 21475});
  }

  [[nodiscard]] server::NtpCounters counters() const {
    server::NtpCounters total;
    exchange_.add_counters(total);
    return total;
  }

 private:
  server::NtpExchange exchange_;
  std::array<std::uint8_t, core::kMaxNtpPacketLength> response_{};
};

class NtpPathAllocationTest : public ::testing::Test {
 protected:
  NtpPathAllocationTest()
      : keyring_(make_keyring()),
        clock_(std::make_shared<const timesource::ClockState>(synchronised_clock())) {}

  static std::shared_ptr<const core::CookieKeyring> make_keyring() {
    auto master = keys::MasterKey::from_bytes(Bytes(keys::kMasterKeyLength, 0x5a));
    return keys::build_keyring(keys::Ratchet(100, std::move(*master)), 101);
  }

  static timesource::ClockState synchronised_clock() {
    timesource::ClockState state;
    state.clock.leap = core::LeapIndicator::NoWarning;
    state.clock.stratum = 2;
    state.clock.precision = -23;
    state.clock.reference_id = {192, 0, 2, 1};
    state.measured_at = server::realtime_now();
    state.clock.reference_time = state.measured_at;
    state.dispersion_rate = timesource::kPhi;
    return state;
  }

  keys::PublishedKeyring keyring_;
  timesource::PublishedClock clock_;
};

// The counter sees what the test below must not find: C++ allocations and,
// where malloc itself is counted, OpenSSL's.
TEST(AllocationCounter, SeesCxxAndOpenSslAllocations) {
  const std::uint64_t before = test_support::allocations();
  auto cxx = std::make_unique<std::array<std::uint8_t, 64>>();
  void* volatile sink = cxx.get();
  EXPECT_EQ(test_support::allocations() - before, 1U);
#if !defined(__SANITIZE_ADDRESS__)
  const std::uint64_t c_before = test_support::allocations();
  sink = OPENSSL_malloc(64);
  EXPECT_EQ(test_support::allocations() - c_before, 1U);
  OPENSSL_free(sink);
#endif
  (void)sink;
}

TEST_F(NtpPathAllocationTest, WarmWorkerAllocatesNothingPerRequest) {
  core::SystemRandom client_random;
  const auto& ring = *keyring_.load();
  // A cookie under a key this server never had: NAK.
  auto stranger = core::CookieKey::create(core::CookieKeyId{7}, Bytes(32, 0x77));
  ASSERT_TRUE(stranger.has_value());

  constexpr std::size_t kWarmRounds = 4;
  constexpr std::size_t kRounds = 44;               // under the default burst of 64 per prefix
  constexpr std::uint64_t kRoundStep = 1ULL << 22;  // ~1 ms in NTP units
  const NtpTimestamp base = server::realtime_now();
  // Our receive timestamp of client c's request in round r: what its next
  // request names as origin in interleaved mode.
  auto rx_of = [&](std::size_t round, std::size_t client) {
    return NtpTimestamp{base.raw + round * kRoundStep + client * 4096};
  };

  struct Client {
    Kind kind;
    sockaddr_storage peer;
    Session session;
  };
  std::vector<Client> clients;
  for (std::size_t k = 0; k < kKinds; ++k) {
    for (int family = 0; family < 2; ++family) {
      const auto index = static_cast<std::uint8_t>(clients.size());
      Client c{static_cast<Kind>(k), family == 0 ? ipv4_peer(index) : ipv6_peer(index), {}};
      c.session =
          make_session(static_cast<Kind>(k) == Kind::NtsUnknownKey ? *stranger : ring.current(),
                       index, client_random);
      clients.push_back(std::move(c));
    }
  }

  // Every packet of every round, built before anything is counted. A round is
  // one batch of packets in the order the clients send them.
  struct Packet {
    Bytes bytes;
    std::size_t client;
    NtpTimestamp rx;
  };
  std::vector<std::vector<Packet>> rounds(kRounds);
  for (std::size_t r = 0; r < kRounds; ++r) {
    for (std::size_t c = 0; c < clients.size(); ++c) {
      const Client& client = clients[c];
      const NtpTimestamp transmit{base.raw - 1000 + r * kRoundStep + c};
      const NtpTimestamp origin = r == 0 ? NtpTimestamp{} : rx_of(r - 1, c);
      const NtpTimestamp client_receive{origin.raw + 3000};
      const auto& aead = *client.session.c2s;
      const ByteView cookie = client.session.cookie;
      Bytes bytes;
      std::size_t copies = 1;
      switch (client.kind) {
        case Kind::PlainBasic:
          bytes = plain_request({}, {}, transmit);
          break;
        case Kind::PlainInterleaved:
          bytes = plain_request(origin, client_receive, transmit);
          break;
        case Kind::NtsNoPlaceholder:
        case Kind::NtsUnknownKey:
          bytes = nts_request(aead, cookie, 0, {}, {}, transmit, client_random);
          break;
        case Kind::NtsThreePlaceholders:
          bytes = nts_request(aead, cookie, 3, {}, {}, transmit, client_random);
          break;
        case Kind::NtsSevenPlaceholders:
          bytes = nts_request(aead, cookie, 7, {}, {}, transmit, client_random);
          break;
        case Kind::NtsInterleaved:
          bytes = nts_request(aead, cookie, 1, origin, client_receive, transmit, client_random);
          break;
        case Kind::NtsForged:
          bytes = nts_request(aead, cookie, 2, {}, {}, transmit, client_random);
          bytes[core::kNtpHeaderLength - 1] ^= 1;  // the transmit time, under the seal
          break;
        case Kind::TooShort:
          bytes = plain_request({}, {}, transmit);
          bytes.resize(40);
          break;
        case Kind::BadExtensionField:
          bytes = plain_request({}, {}, transmit);
          bytes.insert(bytes.end(), {0x01, 0x04, 0x00, 0x07, 0, 0, 0, 0});  // length 7
          break;
        case Kind::PlainFlood:
          bytes = plain_request({}, {}, transmit);
          copies = kFloodPerRound;
          break;
        case Kind::NtsFlood:
          bytes = nts_request(aead, cookie, 0, {}, {}, transmit, client_random);
          copies = kFloodPerRound;
          break;
      }
      for (std::size_t i = 0; i < copies; ++i) {
        rounds[r].push_back({bytes, c, NtpTimestamp{rx_of(r, c).raw + i}});
      }
    }
  }

  auto worker = std::make_unique<WorkerPath>(keyring_, clock_);
  WorkerPath::Tally warm;
  WorkerPath::Tally tally;
  auto run = [&](std::size_t first, std::size_t end, WorkerPath::Tally& t) {
    for (std::size_t r = first; r < end; ++r) {
      worker->begin_batch();
      for (const Packet& p : rounds[r]) {
        worker->serve(p.bytes, reinterpret_cast<const sockaddr*>(&clients[p.client].peer), p.rx, t);
      }
    }
  };
  run(0, kWarmRounds, warm);
  const server::NtpCounters warm_counters = worker->counters();
  const std::uint64_t before = test_support::allocations();
  run(kWarmRounds, kRounds, tally);
  const std::uint64_t allocations = test_support::allocations() - before;
  const server::NtpCounters counters = worker->counters();

  std::uint64_t handled = 0;
  for (std::size_t r = kWarmRounds; r < kRounds; ++r) handled += rounds[r].size();
  EXPECT_EQ(allocations, 0U) << "over " << handled << " requests";

  // Every path named above was taken while counting.
  auto reason = [&](core::Reason which) { return tally.reasons[static_cast<std::size_t>(which)]; };
  const std::uint64_t measured_rounds = kRounds - kWarmRounds;
  EXPECT_GE(reason(core::Reason::Answered), 12 * measured_rounds);
  EXPECT_EQ(reason(core::Reason::UnknownCookieKey), 2 * measured_rounds);
  EXPECT_EQ(reason(core::Reason::AuthenticatorFailed), 2 * measured_rounds);
  EXPECT_EQ(reason(core::Reason::TooShort), 2 * measured_rounds);
  EXPECT_EQ(reason(core::Reason::MalformedExtensionField), 2 * measured_rounds);
  EXPECT_EQ(tally.naks, 4 * measured_rounds);
  // Plain and NTS interleaved clients, both families, from their second request on.
  EXPECT_EQ(counters.interleaved - warm_counters.interleaved, 4 * measured_rounds);
  EXPECT_GT(reason(core::Reason::RateLimited), 0U);
  EXPECT_GT(tally.kisses, 0U);
  EXPECT_GT(tally.dropped, 0U);
  // 1, 4 and 8 new cookies, and 2 per NTS interleaved answer, per family.
  EXPECT_GE(counters.cookies_issued - warm_counters.cookies_issued,
            2 * (1 + 4 + 8 + 2) * measured_rounds);
  // The exchange counted what it returned, and a kernel timestamp per response.
  EXPECT_EQ(counters.by_sent(core::Sent::Nak) - warm_counters.by_sent(core::Sent::Nak), tally.naks);
  EXPECT_EQ(counters.by_reason(core::Reason::RateLimitedDrop) -
                warm_counters.by_reason(core::Reason::RateLimitedDrop),
            tally.dropped);
  EXPECT_EQ(counters.tx_timestamps - warm_counters.tx_timestamps, tally.responses);
}

}  // namespace
}  // namespace ntsd
