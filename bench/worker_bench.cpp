// CPU cost of the NTP worker's per-request work without its sockets: the whole
// NtpExchange (server/ntp_exchange.h) per request, and its bookkeeping beside
// the core on its own: the interleaved-mode table (server/interleaved.h) and the
// rate limiter (server/rate_limit.h), at the sizes ntsd uses. See bench/README.md.
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "core/nts_client_codec.h"
#include "keys/ratchet.h"
#include "server/interleaved.h"
#include "server/ntp_exchange.h"
#include "server/rate_limit.h"
#include "time/clock.h"
#include "time/clock_state.h"

namespace {

using ntsd::core::NtpTimestamp;
using ntsd::server::RateLimiter;
using ntsd::timesource::ClientKey;
using ntsd::timesource::InterleavedTable;

// As in server/ntp_exchange.cpp.
constexpr std::size_t kInterleavedEntries = 16384;
// Distinct clients per benchmark: more than the table holds, so saves evict as
// on a busy server, and lookups walk memory beyond the caches' nearest levels.
constexpr std::size_t kClients = 65536;

// Client i: 10.x.y.z, one per /24 (rate limiter buckets are per /24).
sockaddr_in ipv4_peer(std::size_t i) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(40000);
  const std::uint32_t address = (10U << 24) | (static_cast<std::uint32_t>(i) << 8) | 7U;
  in.sin_addr.s_addr = htonl(address);
  return in;
}

sockaddr_in6 ipv6_peer(std::size_t i) {
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(40000);
  std::uint8_t address[16] = {0x20, 0x01, 0x0d, 0xb8};
  address[4] = static_cast<std::uint8_t>(i >> 8);
  address[5] = static_cast<std::uint8_t>(i);  // one per /56
  address[15] = 1;
  std::memcpy(&in6.sin6_addr, address, sizeof address);
  return in6;
}

std::vector<ClientKey> client_keys(std::size_t n) {
  std::vector<ClientKey> keys;
  keys.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto peer = ipv4_peer(i);
    keys.push_back(ntsd::timesource::client_key(reinterpret_cast<const sockaddr*>(&peer)));
  }
  return keys;
}

NtpTimestamp rx_of(std::size_t i, std::uint64_t round) {
  return NtpTimestamp{0xE98CA71000000000ULL + (round << 32) + i * 4096};
}

void BM_InterleavedClientKey(benchmark::State& state) {
  const auto peer = ipv6_peer(1);
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        ntsd::timesource::client_key(reinterpret_cast<const sockaddr*>(&peer)));
  }
}

// A table that saw one exchange of each of kClients clients (receive at round 0,
// transmit at `transmit_round`); the later ones evicted some of the earlier.
struct SavedClients {
  InterleavedTable table{kInterleavedEntries};
  std::vector<ClientKey> keys = client_keys(kClients);

  explicit SavedClients(std::uint64_t transmit_round) {
    for (std::size_t i = 0; i < kClients; ++i) {
      table.save(keys[i], rx_of(i, 0), rx_of(i, transmit_round));
    }
  }
};

// Runs f(i) once per benchmark iteration, i cycling through 0 .. n - 1.
template <typename F>
void cycle(benchmark::State& state, std::size_t n, F f) {
  std::size_t i = 0;
  for (auto _ : state) {
    f(i);
    i = (i + 1) % n;
  }
}

// A receive timestamp no other exchange of this client has: returned as is.
void BM_InterleavedUniqueReceive(benchmark::State& state) {
  SavedClients saved(0);
  cycle(state, kClients, [&](std::size_t i) {
    benchmark::DoNotOptimize(saved.table.unique_receive(saved.keys[i], rx_of(i, 1)));
  });
}

// Saving exchanges of more clients than the table holds: each save evicts.
void BM_InterleavedSave(benchmark::State& state) {
  InterleavedTable table(kInterleavedEntries);
  const auto keys = client_keys(kClients);
  std::size_t i = 0;
  std::uint64_t round = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(table.save(keys[i], rx_of(i, round), rx_of(i, round + 1)));
    if (++i == kClients) {
      i = 0;
      ++round;
    }
  }
}

// The request of a client in interleaved mode names its previous exchange, still saved.
void BM_InterleavedLookupHit(benchmark::State& state) {
  InterleavedTable table(kInterleavedEntries);
  const auto keys = client_keys(kInterleavedEntries / 2);
  for (std::size_t i = 0; i < keys.size(); ++i) table.save(keys[i], rx_of(i, 0), rx_of(i, 1));
  // All of them (the ring holds twice as many); checked, so the loop below measures hits.
  std::vector<std::size_t> saved;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (table.lookup(keys[i], rx_of(i, 0))) saved.push_back(i);
  }
  std::size_t k = 0;
  for (auto _ : state) {
    const std::size_t i = saved[k];
    auto found = table.lookup(keys[i], rx_of(i, 0));
    if (!found) state.SkipWithError("saved exchange not found");
    benchmark::DoNotOptimize(found);
    k = (k + 1) % saved.size();
  }
  state.counters["clients"] = static_cast<double>(saved.size());
}

// An origin later than every exchange saved: the request is answered in basic mode.
void BM_InterleavedLookupMiss(benchmark::State& state) {
  SavedClients saved(1);
  cycle(state, kClients, [&](std::size_t i) {
    benchmark::DoNotOptimize(saved.table.lookup(saved.keys[i], rx_of(i, 7)));
  });
}

// An origin among the saved exchanges' receive timestamps that names none of
// them (one unit off): the whole search, then basic mode.
void BM_InterleavedLookupMissWithinSaved(benchmark::State& state) {
  SavedClients saved(1);
  const std::size_t first_kept = kClients - kInterleavedEntries;
  cycle(state, kInterleavedEntries, [&](std::size_t i) {
    const std::size_t client = first_kept + i;
    const NtpTimestamp off_by_one{rx_of(client, 0).raw + 1};
    benchmark::DoNotOptimize(saved.table.lookup(saved.keys[client], off_by_one));
  });
}

// The kernel's transmit timestamp replacing the written one.
void BM_InterleavedUpdateTransmit(benchmark::State& state) {
  InterleavedTable table(kInterleavedEntries);
  const auto keys = client_keys(kInterleavedEntries / 2);
  std::vector<InterleavedTable::Handle> handles;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    handles.push_back(table.save(keys[i], rx_of(i, 0), rx_of(i, 1)));
  }
  cycle(state, handles.size(), [&](std::size_t i) {
    benchmark::DoNotOptimize(table.update_transmit(handles[i], rx_of(i, 2)));
  });
}

// The default NTP limit (16/s, burst 64, per /24 and /56) for many prefixes,
// each under its limit, at a given time (no clock read).
template <typename Peer>
void rate_limit_check(benchmark::State& state, Peer (*make_peer)(std::size_t)) {
  RateLimiter limiter(ntsd::server::default_ntp_rate_limit());
  std::vector<Peer> peers;
  for (std::size_t i = 0; i < kClients; ++i) peers.push_back(make_peer(i));
  std::size_t i = 0;
  std::int64_t now_ns = 1'000'000'000;
  for (auto _ : state) {
    const auto verdict = limiter.check(reinterpret_cast<const sockaddr*>(&peers[i]), now_ns);
    benchmark::DoNotOptimize(verdict);
    if (++i == kClients) {
      i = 0;
      now_ns += 1'000'000'000;  // a second per round: every prefix stays under its limit
    }
  }
}

void BM_RateLimitCheckIpv4(benchmark::State& state) { rate_limit_check(state, ipv4_peer); }
void BM_RateLimitCheckIpv6(benchmark::State& state) { rate_limit_check(state, ipv6_peer); }

// The clock read the worker's check(peer) adds (CLOCK_MONOTONIC_COARSE).
void BM_RateLimitClock(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(RateLimiter::monotonic_ns());
}

// An exchange as a worker holds it: a keyring, a synchronised clock, the
// default rate limit with a rate no benchmark reaches (its check is paid, its
// drops are not), interleaved mode on.
struct ExchangeFixture {
  ExchangeFixture()
      : keyring(keyring_of(0x5a)),
        clock(std::make_shared<const ntsd::timesource::ClockState>(synchronised())),
        exchange(std::make_unique<ntsd::server::NtpExchange>(clock, keyring, settings())) {}

  static std::shared_ptr<const ntsd::core::CookieKeyring> keyring_of(std::uint8_t seed) {
    auto master =
        ntsd::keys::MasterKey::from_bytes(ntsd::core::Bytes(ntsd::keys::kMasterKeyLength, seed));
    return ntsd::keys::build_keyring(ntsd::keys::Ratchet(100, std::move(*master)), 101);
  }
  static ntsd::timesource::ClockState synchronised() {
    ntsd::timesource::ClockState state;
    state.clock.stratum = 2;
    state.measured_at = ntsd::server::realtime_now();
    state.clock.reference_time = state.measured_at;
    return state;
  }
  static ntsd::server::NtpExchangeSettings settings() {
    auto limit = ntsd::server::default_ntp_rate_limit();
    limit.rate = 1'000'000'000;
    limit.burst = 1'000'000'000;
    return {limit, true};
  }
  // An NTS request with a cookie sealed under `ring`'s current key.
  ntsd::core::Bytes nts_request(const ntsd::core::CookieKeyring& ring) {
    const auto algorithm = ntsd::core::AeadAlgorithm::AesSivCmac256;
    ntsd::core::Bytes c2s(32, 1);
    ntsd::core::Bytes s2c(32, 2);
    auto keys = *ntsd::core::NtsKeys::create(algorithm, c2s, s2c);
    auto aead = *ntsd::core::Aead::create(algorithm, c2s);
    ntsd::core::Bytes cookie(ntsd::core::cookie_length(algorithm));
    ntsd::core::seal_cookie(ring.current(), keys, random, cookie);
    return ntsd::core::build_nts_request(aead, cookie, 0, NtpTimestamp{0x1234}, random).packet;
  }

  ntsd::core::SystemRandom random;
  ntsd::keys::PublishedKeyring keyring;
  ntsd::timesource::PublishedClock clock;
  std::unique_ptr<ntsd::server::NtpExchange> exchange;
  std::array<std::uint8_t, ntsd::core::kMaxNtpPacketLength> out{};
};

// The exchange's whole per-request work for `request` from kClients peers in
// turn (one /24 each), one batch per 32 requests; `want` is the outcome's reason.
void exchange_handle(benchmark::State& state, const ntsd::core::Bytes& request, ExchangeFixture& f,
                     ntsd::core::Reason want) {
  std::vector<sockaddr_in> peers;
  for (std::size_t i = 0; i < kClients; ++i) peers.push_back(ipv4_peer(i));
  std::size_t i = 0;
  std::uint64_t rx = ntsd::server::realtime_now().raw;
  ntsd::server::NtpReply reply;
  for (auto _ : state) {
    if (i % 32 == 0) f.exchange->begin_batch();
    const auto outcome = f.exchange->handle(request, reinterpret_cast<const sockaddr*>(&peers[i]),
                                            NtpTimestamp{rx += 4096}, f.out, reply);
    if (outcome.reason != want) state.SkipWithError("unexpected outcome");
    benchmark::DoNotOptimize(reply);
    i = (i + 1) % kClients;
  }
}

ntsd::core::Bytes plain_request() {
  ntsd::core::NtpHeader h;
  h.version = 4;
  h.mode = ntsd::core::NtpMode::Client;
  h.transmit_time = NtpTimestamp{0x1234};
  ntsd::core::Bytes out(ntsd::core::kNtpHeaderLength);
  h.write(out.data());
  return out;
}

void BM_ExchangePlain(benchmark::State& state) {
  ExchangeFixture f;
  exchange_handle(state, plain_request(), f, ntsd::core::Reason::Answered);
}

void BM_ExchangeNts256(benchmark::State& state) {
  ExchangeFixture f;
  const auto request = f.nts_request(*f.keyring.load());
  exchange_handle(state, request, f, ntsd::core::Reason::Answered);
}

void BM_ExchangeNtsUnknownKeyNak(benchmark::State& state) {
  ExchangeFixture f;
  std::vector<ntsd::core::CookieKey> stranger;
  stranger.push_back(
      *ntsd::core::CookieKey::create(ntsd::core::CookieKeyId{7}, ntsd::core::Bytes(32, 0x77)));
  const auto request = f.nts_request(ntsd::core::StaticCookieKeyring(std::move(stranger)));
  exchange_handle(state, request, f, ntsd::core::Reason::UnknownCookieKey);
}

}  // namespace

BENCHMARK(BM_ExchangePlain);
BENCHMARK(BM_ExchangeNts256);
BENCHMARK(BM_ExchangeNtsUnknownKeyNak);
BENCHMARK(BM_InterleavedClientKey);
BENCHMARK(BM_InterleavedUniqueReceive);
BENCHMARK(BM_InterleavedSave);
BENCHMARK(BM_InterleavedLookupHit);
BENCHMARK(BM_InterleavedLookupMiss);
BENCHMARK(BM_InterleavedLookupMissWithinSaved);
BENCHMARK(BM_InterleavedUpdateTransmit);
BENCHMARK(BM_RateLimitCheckIpv4);
BENCHMARK(BM_RateLimitCheckIpv6);
BENCHMARK(BM_RateLimitClock);

BENCHMARK_MAIN();
