// CPU cost of the server's per-request work in the core: the whole
// prepare_response() + complete_response() for NTS and plain requests (and the NAK
// path), its crypto steps on their own, the NTS-KE work after the TLS handshake,
// and the client side that nts-bench and nts-query pay. See bench/README.md.
#include <benchmark/benchmark.h>

#include <array>
#include <vector>

#include "core/aead.h"
#include "core/cookie.h"
#include "core/ke_negotiation.h"
#include "core/ke_record.h"
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
    request = new_session(algorithm, placeholders);
    clock.stratum = 2;
  }

  // A request of another client: new C2S and S2C keys in a cookie of this keyring.
  // client_c2s holds the latest session's C2S key.
  NtsRequest new_session(AeadAlgorithm algorithm, std::size_t placeholders = 0) {
    std::vector<std::uint8_t> c2s(aead_key_length(algorithm));
    std::vector<std::uint8_t> s2c(aead_key_length(algorithm));
    random.fill(c2s);
    random.fill(s2c);
    auto nts_keys = *NtsKeys::create(algorithm, c2s, s2c);
    client_c2s.emplace(*Aead::create(algorithm, c2s));
    Bytes cookie(cookie_length(algorithm));
    seal_cookie(keyring->current(), nts_keys, random, cookie);
    return build_nts_request(*client_c2s, cookie, placeholders, NtpTimestamp{0x1234}, random);
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

// One NTS request as the NTP workers run it (nonces from a per-worker
// BufferedRandom). Arguments: the AEAD id, and how many client sessions take turns.
// With 1, every request carries the C2S and S2C keys of the one before, which the
// server's contexts keep instead of expanding again; with 64, each request re-keys
// both contexts, as on a server whose consecutive requests come from different clients.
void BM_HandleNtsBufferedRandom(benchmark::State& state) {
  const auto algorithm = *aead_from_id(static_cast<std::uint16_t>(state.range(0)));
  Fixture f(algorithm);
  std::vector<NtsRequest> requests{f.request};
  while (requests.size() < static_cast<std::size_t>(state.range(1))) {
    requests.push_back(f.new_session(algorithm));
  }
  BufferedRandom random;
  std::size_t next = 0;
  for (auto _ : state) {
    auto decision = prepare_response(requests[next].packet, NtpTimestamp{1}, f.clock, *f.keyring,
                                     random, f.pending);
    if (decision.reason != Reason::Answered) state.SkipWithError("request not answered");
    benchmark::DoNotOptimize(complete_response(f.pending, NtpTimestamp{2}, f.out));
    if (++next == requests.size()) next = 0;
  }
}
BENCHMARK(BM_HandleNtsBufferedRandom)
    ->ArgNames({"aead", "sessions"})
    ->ArgsProduct({{15, 30}, {1, 64}});

void BM_HandleNts256(benchmark::State& state) { handle(state, AeadAlgorithm::AesSivCmac256, 0); }
void BM_HandleNts256FourPlaceholders(benchmark::State& state) {
  handle(state, AeadAlgorithm::AesSivCmac256, 4);
}
void BM_HandleNts512(benchmark::State& state) { handle(state, AeadAlgorithm::AesSivCmac512, 0); }
// AEAD 30: GCM-SIV for the authenticators; the 72-byte cookie has the SIV-CMAC master.
void BM_HandleNts30(benchmark::State& state) { handle(state, AeadAlgorithm::AesGcmSiv128, 0); }

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

// Opening and sealing a cookie (AES-SIV-CMAC-256 master for every AEAD; cookie.h).
void open_cookie_bench(benchmark::State& state, AeadAlgorithm algorithm) {
  Fixture f(algorithm);
  // The cookie is the second field of the request: after the 48-byte header and
  // the 36-byte unique identifier field, behind its own 4-byte header.
  ByteView cookie{f.request.packet.data() + 48 + 36 + 4, cookie_length(algorithm)};
  for (auto _ : state) {
    auto opened = open_cookie(*f.keyring, cookie);
    if (!opened.keys) state.SkipWithError("cookie did not open");
    benchmark::DoNotOptimize(opened);
  }
}

void seal_cookie_bench(benchmark::State& state, AeadAlgorithm algorithm) {
  Fixture f(algorithm);
  std::vector<std::uint8_t> key(aead_key_length(algorithm), 1);
  auto keys = *NtsKeys::create(algorithm, key, key);
  Bytes cookie(cookie_length(algorithm));
  for (auto _ : state) {
    seal_cookie(f.keyring->current(), keys, f.random, cookie);
    benchmark::DoNotOptimize(cookie.data());
  }
}

void BM_OpenCookie(benchmark::State& state) {
  open_cookie_bench(state, AeadAlgorithm::AesSivCmac256);
}
void BM_OpenCookie30(benchmark::State& state) {
  open_cookie_bench(state, AeadAlgorithm::AesGcmSiv128);
}
void BM_SealCookie(benchmark::State& state) {
  seal_cookie_bench(state, AeadAlgorithm::AesSivCmac256);
}
void BM_SealCookie30(benchmark::State& state) {
  seal_cookie_bench(state, AeadAlgorithm::AesGcmSiv128);
}

// A request whose cookie was sealed under a key the server does not have: the
// server answers with an NTS NAK after failing to find the key.
void BM_HandleNtsUnknownKeyNak(benchmark::State& state) {
  Fixture f(AeadAlgorithm::AesSivCmac256);
  Fixture other(AeadAlgorithm::AesSivCmac256);
  // other's keyring has a different master key under the same id: the cookie
  // does not open (bad tag), the path a stale or forged cookie takes.
  for (auto _ : state) {
    auto decision = prepare_response(f.request.packet, NtpTimestamp{1}, f.clock, *other.keyring,
                                     f.random, f.pending);
    if (decision.sent() != Sent::Nak) state.SkipWithError("request not NAKed");
    benchmark::DoNotOptimize(complete_response(f.pending, NtpTimestamp{2}, f.out));
  }
}

// The NTS-KE server's work after the TLS handshake and key export: parse the
// request, decide, mint 8 cookies, write the response (ke_server.cpp's path).
void BM_KeResponseEightCookies(benchmark::State& state) {
  Fixture f(AeadAlgorithm::AesSivCmac256);
  std::array<AeadAlgorithm, 1> offered{AeadAlgorithm::AesSivCmac256};
  Bytes request = build_ke_request(offered);
  KeServerPolicy policy;
  policy.aead_preference = {AeadAlgorithm::AesSivCmac256, AeadAlgorithm::AesSivCmac512};
  std::vector<std::uint8_t> key(32, 1);
  auto keys = *NtsKeys::create(AeadAlgorithm::AesSivCmac256, key, key);
  std::vector<Bytes> cookies(8, Bytes(cookie_length(AeadAlgorithm::AesSivCmac256)));
  for (auto _ : state) {
    auto message = parse_ke_message(request);
    auto decision = decide_ke_request(message, message.trailing_data(request.size()), policy);
    if (decision.outcome != KeOutcome::Ok) state.SkipWithError("KE request refused");
    for (auto& cookie : cookies) seal_cookie(f.keyring->current(), keys, f.random, cookie);
    benchmark::DoNotOptimize(build_ke_response(decision, cookies, policy));
  }
}

// Client side: what nts-bench pre-computes per request, and what --verify costs.
void BM_ClientBuildNtsRequest(benchmark::State& state) {
  Fixture f(AeadAlgorithm::AesSivCmac256);
  Bytes cookie(cookie_length(AeadAlgorithm::AesSivCmac256), 7);
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        build_nts_request(*f.client_c2s, cookie, 0, NtpTimestamp{0x1234}, f.random));
  }
}

void BM_ClientParseNtsResponse(benchmark::State& state) {
  // The server's S2C equals the client's: both come from NtsKeys in the cookie.
  std::array<std::uint8_t, 32> master{};
  SystemRandom random;
  random.fill(master);
  std::vector<CookieKey> ring;
  ring.push_back(*CookieKey::create(CookieKeyId{7}, master));
  StaticCookieKeyring keyring(std::move(ring));
  std::vector<std::uint8_t> c2s(32), s2c(32);
  random.fill(c2s);
  random.fill(s2c);
  auto keys = *NtsKeys::create(AeadAlgorithm::AesSivCmac256, c2s, s2c);
  auto client_c2s = *Aead::create(AeadAlgorithm::AesSivCmac256, c2s);
  auto client_s2c = *Aead::create(AeadAlgorithm::AesSivCmac256, s2c);
  Bytes cookie(cookie_length(AeadAlgorithm::AesSivCmac256));
  seal_cookie(keyring.current(), keys, random, cookie);
  auto request = build_nts_request(client_c2s, cookie, 0, NtpTimestamp{0x1234}, random);
  ServerClock clock;
  clock.stratum = 2;
  PendingResponse pending;
  std::array<std::uint8_t, kMaxNtpPacketLength> out{};
  auto decision =
      prepare_response(request.packet, NtpTimestamp{1}, clock, keyring, random, pending);
  if (decision.reason != Reason::Answered) state.SkipWithError("request not answered");
  auto length = complete_response(pending, NtpTimestamp{2}, out);
  ByteView response{out.data(), length};
  for (auto _ : state) {
    auto parsed = parse_nts_response(response, client_s2c, request);
    if (parsed.error != NtsResponseError::None) state.SkipWithError("response did not verify");
    benchmark::DoNotOptimize(parsed);
  }
}

// The choice of the cookie master: seal and open an AEAD-30 cookie's plaintext
// (36 bytes, AD = the 4-byte key id) with a master keyed once, AES-SIV-CMAC-256
// (Nettle, 16-byte nonce) against AES-128-GCM-SIV (libgcrypt, 12-byte nonce).
void cookie_master_bench(benchmark::State& state, AeadAlgorithm master, bool open) {
  std::vector<std::uint8_t> key(aead_key_length(master), 3);
  auto aead = *Aead::create(master, key);
  const Bytes nonce(aead_nonce_length(master), 5);
  const Bytes ad(4, 7);
  const Bytes plaintext(36, 9);
  Bytes sealed(plaintext.size() + kAeadTagLength);
  aead.seal(nonce, ad, plaintext, sealed.data());
  Bytes out(plaintext.size());
  for (auto _ : state) {
    if (open) {
      if (!aead.open(nonce, ad, sealed, out.data())) state.SkipWithError("open failed");
      benchmark::DoNotOptimize(out.data());
    } else {
      aead.seal(nonce, ad, plaintext, sealed.data());
      benchmark::DoNotOptimize(sealed.data());
    }
  }
}
void BM_CookieMasterSealSiv(benchmark::State& s) {
  cookie_master_bench(s, AeadAlgorithm::AesSivCmac256, false);
}
void BM_CookieMasterSealGcmSiv(benchmark::State& s) {
  cookie_master_bench(s, AeadAlgorithm::AesGcmSiv128, false);
}
void BM_CookieMasterOpenSiv(benchmark::State& s) {
  cookie_master_bench(s, AeadAlgorithm::AesSivCmac256, true);
}
void BM_CookieMasterOpenGcmSiv(benchmark::State& s) {
  cookie_master_bench(s, AeadAlgorithm::AesGcmSiv128, true);
}

void BM_AeadKeySetup256(benchmark::State& state) {
  std::vector<std::uint8_t> key(32, 1);
  for (auto _ : state) benchmark::DoNotOptimize(Aead::create(AeadAlgorithm::AesSivCmac256, key));
}

// What the NTP path does per request and direction: re-key a context it keeps.
void rekey_bench(benchmark::State& state, AeadAlgorithm algorithm) {
  std::vector<std::uint8_t> key(aead_key_length(algorithm), 1);
  Aead aead = Aead::empty();
  for (auto _ : state) {
    key[0]++;
    if (!aead.set_key(algorithm, key)) state.SkipWithError("set_key failed");
    benchmark::DoNotOptimize(aead);
  }
}
void BM_AeadRekey256(benchmark::State& state) { rekey_bench(state, AeadAlgorithm::AesSivCmac256); }
void BM_AeadRekey30(benchmark::State& state) { rekey_bench(state, AeadAlgorithm::AesGcmSiv128); }

}  // namespace

BENCHMARK(BM_HandleNts256);
BENCHMARK(BM_HandleNts256FourPlaceholders);
BENCHMARK(BM_HandleNts512);
BENCHMARK(BM_HandleNts30);
BENCHMARK(BM_HandleNtsUnknownKeyNak);
BENCHMARK(BM_HandlePlain);
BENCHMARK(BM_OpenCookie);
BENCHMARK(BM_SealCookie);
BENCHMARK(BM_OpenCookie30);
BENCHMARK(BM_SealCookie30);
BENCHMARK(BM_CookieMasterSealSiv);
BENCHMARK(BM_CookieMasterSealGcmSiv);
BENCHMARK(BM_CookieMasterOpenSiv);
BENCHMARK(BM_CookieMasterOpenGcmSiv);
BENCHMARK(BM_AeadKeySetup256);
BENCHMARK(BM_AeadRekey256);
BENCHMARK(BM_AeadRekey30);
BENCHMARK(BM_KeResponseEightCookies);
BENCHMARK(BM_ClientBuildNtsRequest);
BENCHMARK(BM_ClientParseNtsResponse);

BENCHMARK_MAIN();
