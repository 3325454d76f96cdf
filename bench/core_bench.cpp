// CPU cost of the NTP server's per-request work in the core: the whole
// prepare_response() + complete_response() for NTS and plain requests, and its
// crypto steps on their own.
#include <benchmark/benchmark.h>

#include <array>
#include <vector>

#include "core/aead.h"
#include "core/cookie.h"
#include "core/ntp_handler.h"
#include "core/nts_client_codec.h"
#include "core/random.h"

namespace {

using namespace ntsd::core;

struct Fixture {
  explicit Fixture(AeadAlgorithm algorithm, std::size_t placeholders = 0) {
    std::array<std::uint8_t, 32> master{};
    random.fill(master);
    std::vector<CookieKey> keys;
    keys.push_back(*CookieKey::create(CookieKeyId{7}, master));
    keyring.emplace(std::move(keys));

    std::vector<std::uint8_t> c2s(aead_key_length(algorithm));
    std::vector<std::uint8_t> s2c(aead_key_length(algorithm));
    random.fill(c2s);
    random.fill(s2c);
    auto nts_keys = *NtsKeys::create(algorithm, c2s, s2c);
    client_c2s.emplace(*Aead::create(algorithm, c2s));
    Bytes cookie(cookie_length(algorithm));
    seal_cookie(keyring->current(), nts_keys, random, cookie);
    request = build_nts_request(*client_c2s, cookie, placeholders, NtpTimestamp{0x1234}, random);
    clock.stratum = 2;
  }

  SystemRandom random;
  std::optional<StaticCookieKeyring> keyring;
  std::optional<Aead> client_c2s;
  NtsRequest request;
  ServerClock clock;
  PendingResponse pending;
  std::array<std::uint8_t, kMaxNtpPacketLength> out{};
};

void handle(benchmark::State& state, AeadAlgorithm algorithm, std::size_t placeholders) {
  Fixture f(algorithm, placeholders);
  for (auto _ : state) {
    auto decision = prepare_response(f.request.packet, NtpTimestamp{1}, f.clock, *f.keyring,
                                     f.random, f.pending);
    if (decision.reason != Reason::Answered) state.SkipWithError("request not answered");
    benchmark::DoNotOptimize(complete_response(f.pending, NtpTimestamp{2}, f.out));
  }
}

void BM_HandleNts256(benchmark::State& state) { handle(state, AeadAlgorithm::AesSivCmac256, 0); }
void BM_HandleNts256FourPlaceholders(benchmark::State& state) {
  handle(state, AeadAlgorithm::AesSivCmac256, 4);
}
void BM_HandleNts512(benchmark::State& state) { handle(state, AeadAlgorithm::AesSivCmac512, 0); }

void BM_HandlePlain(benchmark::State& state) {
  Fixture f(AeadAlgorithm::AesSivCmac256);
  auto request = build_plain_request(NtpTimestamp{0x1234});
  for (auto _ : state) {
    auto decision =
        prepare_response(request, NtpTimestamp{1}, f.clock, *f.keyring, f.random, f.pending);
    if (decision.reason != Reason::Answered) state.SkipWithError("request not answered");
    benchmark::DoNotOptimize(complete_response(f.pending, NtpTimestamp{2}, f.out));
  }
}

void BM_OpenCookie(benchmark::State& state) {
  Fixture f(AeadAlgorithm::AesSivCmac256);
  // The cookie is the second field of the request: after the 48-byte header and
  // the 36-byte unique identifier field, behind its own 4-byte header.
  ByteView cookie{f.request.packet.data() + 48 + 36 + 4,
                  cookie_length(AeadAlgorithm::AesSivCmac256)};
  for (auto _ : state) {
    auto opened = open_cookie(*f.keyring, cookie);
    if (!opened.keys) state.SkipWithError("cookie did not open");
    benchmark::DoNotOptimize(opened);
  }
}

void BM_SealCookie(benchmark::State& state) {
  Fixture f(AeadAlgorithm::AesSivCmac256);
  std::vector<std::uint8_t> key(32, 1);
  auto keys = *NtsKeys::create(AeadAlgorithm::AesSivCmac256, key, key);
  Bytes cookie(cookie_length(AeadAlgorithm::AesSivCmac256));
  for (auto _ : state) {
    seal_cookie(f.keyring->current(), keys, f.random, cookie);
    benchmark::DoNotOptimize(cookie.data());
  }
}

void BM_AeadKeySetup256(benchmark::State& state) {
  std::vector<std::uint8_t> key(32, 1);
  for (auto _ : state) benchmark::DoNotOptimize(Aead::create(AeadAlgorithm::AesSivCmac256, key));
}

}  // namespace

BENCHMARK(BM_HandleNts256);
BENCHMARK(BM_HandleNts256FourPlaceholders);
BENCHMARK(BM_HandleNts512);
BENCHMARK(BM_HandlePlain);
BENCHMARK(BM_OpenCookie);
BENCHMARK(BM_SealCookie);
BENCHMARK(BM_AeadKeySetup256);

BENCHMARK_MAIN();
