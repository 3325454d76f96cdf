// Writes the seed corpora of the fuzz targets: OUT_DIR/<target>/<name>, a few valid
// (and a few instructively invalid) messages each, all reproducible.
//
//   make_seeds OUT_DIR
//
// scripts/run-fuzzers.sh runs it on every run (into the build directory, so that
// the fuzzers start from seeds matching the current code) and, with --update-seeds,
// into tests/fuzz/corpus. Each seed is checked here to have the outcome it is meant
// to exercise; the structured seeds are checked by the targets' own oracles on replay.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>

#include "core/ke_negotiation.h"
#include "core/ke_record.h"
#include "fuzz_common.h"

namespace {

using namespace ntsd;
using namespace ntsd::fuzz;
namespace fs = std::filesystem;

fs::path g_out;
int g_failures = 0;

void expect(bool ok, std::string_view target, std::string_view name, std::string_view what) {
  if (ok) return;
  std::cerr << "make_seeds: " << target << "/" << name << ": " << what << "\n";
  ++g_failures;
}

void write_seed(std::string_view target, std::string_view name, ByteView bytes) {
  const fs::path dir = g_out / target;
  fs::create_directories(dir);
  std::ofstream file(dir / name, std::ios::binary | std::ios::trunc);
  file.write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  if (!file) {
    std::cerr << "make_seeds: cannot write " << (dir / name) << "\n";
    ++g_failures;
  }
}

Bytes concat(std::initializer_list<ByteView> parts) {
  Bytes out;
  for (ByteView part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

Bytes bytes_of(std::initializer_list<std::uint8_t> list) { return Bytes(list); }

Bytes u16s(std::initializer_list<std::uint16_t> values) {
  Bytes out;
  for (auto v : values) {
    out.push_back(static_cast<std::uint8_t>(v >> 8));
    out.push_back(static_cast<std::uint8_t>(v));
  }
  return out;
}

Bytes string_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

// ---------------------------------------------------------------------------------
void ke_message_seeds() {
  using core::KeRecordType;
  constexpr std::string_view kTarget = "ke_message";
  const core::KeServerPolicy policy{
      {AeadAlgorithm::AesSivCmac512, AeadAlgorithm::AesSivCmac256}, "ntp.example.net", 4123};
  auto seed = [&](std::string_view name, const Bytes& bytes, core::KeOutcome outcome) {
    const core::KeMessage message = core::parse_ke_message(bytes);
    const bool trailing =
        message.status == core::KeMessageStatus::Complete && message.trailing_data(bytes.size());
    const core::KeDecision decision = core::decide_ke_request(message, trailing, policy);
    expect(decision.outcome == outcome, kTarget, name, "unexpected KE outcome");
    write_seed(kTarget, name, bytes);
  };
  auto request = [](std::initializer_list<AeadAlgorithm> offered) {
    const std::vector<AeadAlgorithm> list(offered);
    return core::build_ke_request(list);
  };
  const Bytes eom = bytes_of({0x80, 0, 0, 0});
  const Bytes next_protocol = concat({bytes_of({0x80, 1, 0, 2}), u16s({0})});
  const Bytes aead_256 = concat({bytes_of({0x80, 4, 0, 2}), u16s({15})});

  seed("aes256", request({AeadAlgorithm::AesSivCmac256}), core::KeOutcome::Ok);
  seed("all_aeads",
       request({AeadAlgorithm::AesSivCmac512, AeadAlgorithm::AesSivCmac384,
                AeadAlgorithm::AesSivCmac256}),
       core::KeOutcome::Ok);
  seed("aes384_only", request({AeadAlgorithm::AesSivCmac384}), core::KeOutcome::NoCommonAead);
  {
    Bytes m = concat({next_protocol, aead_256});
    core::append_ke_record(m, true, KeRecordType::NtpServer, string_bytes("192.0.2.1"));
    core::append_ke_record_u16s(m, true, KeRecordType::NtpPort, {123});
    seed("server_port_hints", concat({m, eom}), core::KeOutcome::Ok);
  }
  {
    Bytes m;
    core::append_ke_record_u16s(m, true, KeRecordType::NextProtocol, {0x8001});
    core::append_ke_record_u16s(m, true, KeRecordType::AeadAlgorithm, {15});
    seed("no_ntpv4", concat({m, eom}), core::KeOutcome::NoCommonProtocol);
  }
  seed("unknown_critical",
       concat({next_protocol, aead_256, bytes_of({0xC0, 0x00, 0, 3, 'a', 'b', 'c'}), eom}),
       core::KeOutcome::UnrecognizedCritical);
  seed("unknown_noncritical",
       concat({next_protocol, bytes_of({0x40, 0x00, 0, 1, 'x'}), aead_256, eom}),
       core::KeOutcome::Ok);
  seed("warning_from_client", concat({next_protocol, aead_256, bytes_of({0, 3, 0, 2, 0, 1}), eom}),
       core::KeOutcome::BadRequest);
  seed("trailing_data", concat({request({AeadAlgorithm::AesSivCmac256}), bytes_of({1, 2, 3})}),
       core::KeOutcome::BadRequest);
  seed("end_with_body", concat({next_protocol, aead_256, bytes_of({0x80, 0, 0, 2, 0, 0})}),
       core::KeOutcome::BadRequest);
  seed("two_next_protocol", concat({next_protocol, next_protocol, aead_256, eom}),
       core::KeOutcome::BadRequest);
  seed("odd_aead_body", concat({next_protocol, bytes_of({0x80, 4, 0, 3, 0, 15, 0}), eom}),
       core::KeOutcome::BadRequest);
  // Incomplete: what the server has after a first short read.
  seed("incomplete", concat({next_protocol, bytes_of({0x80, 4, 0, 2, 0})}),
       core::KeOutcome::BadRequest);
}

// ---------------------------------------------------------------------------------
void ke_response_client_seeds() {
  using core::KeRecordType;
  constexpr std::string_view kTarget = "ke_response_client";
  const std::array<AeadAlgorithm, 2> offered = {AeadAlgorithm::AesSivCmac256,
                                                AeadAlgorithm::AesSivCmac512};
  auto seed = [&](std::string_view name, const Bytes& bytes, core::KeClientError error) {
    const core::KeMessage message = core::parse_ke_message(bytes);
    const core::KeClientResult result = core::interpret_ke_response(message, offered);
    expect(result.error == error, kTarget, name, "unexpected client result");
    write_seed(kTarget, name, bytes);
  };
  auto cookies_for = [](AeadAlgorithm algorithm, std::size_t n) {
    std::vector<Bytes> cookies;
    DeterministicRandom random(5);
    for (std::size_t i = 0; i < n; ++i) {
      Bytes cookie(core::cookie_length(algorithm));
      core::seal_cookie(keyring().current(), session_keys(algorithm), random, cookie);
      cookies.push_back(std::move(cookie));
    }
    return cookies;
  };
  const core::KeServerPolicy advertising{{AeadAlgorithm::AesSivCmac256}, "ntp.example.net", 4123};
  const core::KeServerPolicy plain{{AeadAlgorithm::AesSivCmac512}, std::nullopt, std::nullopt};
  auto ok = [](AeadAlgorithm a) {
    return core::KeDecision{core::KeOutcome::Ok, core::KeBadRequest::None, a};
  };

  seed("ok_aes256_server_port",
       core::build_ke_response(ok(AeadAlgorithm::AesSivCmac256),
                               cookies_for(AeadAlgorithm::AesSivCmac256, 8), advertising),
       core::KeClientError::None);
  seed("ok_aes512_one_cookie",
       core::build_ke_response(ok(AeadAlgorithm::AesSivCmac512),
                               cookies_for(AeadAlgorithm::AesSivCmac512, 1), plain),
       core::KeClientError::None);
  {
    Bytes m;
    core::append_ke_record_u16s(m, true, KeRecordType::NextProtocol, {0});
    core::append_ke_record_u16s(m, true, KeRecordType::AeadAlgorithm, {15});
    core::append_ke_record_u16s(m, false, KeRecordType::Warning, {7});
    core::append_ke_record(m, false, KeRecordType::NewCookie, bytes_of({1, 2, 3, 4}));
    core::append_ke_record(m, false, static_cast<KeRecordType>(0x1234), bytes_of({9}));
    core::append_ke_record(m, true, KeRecordType::EndOfMessage, {});
    seed("ok_warning_unknown_noncritical", m, core::KeClientError::None);
  }
  seed("no_common_aead",
       core::build_ke_response({core::KeOutcome::NoCommonAead, core::KeBadRequest::None, {}}, {},
                               plain),
       core::KeClientError::NoCommonAead);
  seed("no_common_protocol",
       core::build_ke_response({core::KeOutcome::NoCommonProtocol, core::KeBadRequest::None, {}},
                               {}, plain),
       core::KeClientError::NoCommonProtocol);
  seed("error_bad_request", core::build_ke_error_response(core::KeErrorCode::BadRequest),
       core::KeClientError::ServerError);
  seed("error_unrecognized",
       core::build_ke_error_response(core::KeErrorCode::UnrecognizedCriticalRecord),
       core::KeClientError::ServerError);
  seed("error_internal", core::build_ke_error_response(core::KeErrorCode::InternalServerError),
       core::KeClientError::ServerError);
  {
    Bytes m;
    core::append_ke_record_u16s(m, true, KeRecordType::NextProtocol, {0});
    core::append_ke_record_u16s(m, true, KeRecordType::AeadAlgorithm, {16});
    core::append_ke_record(m, false, KeRecordType::NewCookie, bytes_of({1, 2, 3, 4}));
    core::append_ke_record(m, true, KeRecordType::EndOfMessage, {});
    seed("unsupported_aead", m, core::KeClientError::UnsupportedAead);
  }
}

// ---------------------------------------------------------------------------------
// A server answer to `request` (prepare + complete), with the expected reason.
Bytes serve(ByteView request, core::Reason expected, std::string_view target,
            std::string_view name) {
  static auto* pending = new core::PendingResponse();
  DeterministicRandom random(17);
  const core::NtpOutcome decision =
      core::prepare_response(request, kServerRx, server_clock(), keyring(), random, *pending);
  expect(decision.reason == expected, target, name, "unexpected server reason");
  Bytes out(request.size());
  out.resize(core::complete_response(*pending, kServerTx, out));
  return out;
}

// The request of client_request() with its cookie's key id replaced by an unknown one.
Bytes with_unknown_key(Bytes packet) {
  const std::size_t key_id = core::kNtpHeaderLength + 36 + core::kExtensionFieldHeaderLength;
  core::store_be32(packet.data() + key_id, kUnknownKeyId.value);
  return packet;
}

Bytes v3_request_with_mac() {
  Bytes p(core::kNtpHeaderLength);
  core::NtpHeader header;
  header.version = 3;
  header.mode = core::NtpMode::Client;
  header.transmit_time = kClientTx;
  header.write(p.data());
  const Bytes mac = concat({bytes_of({0, 0, 0, 1}), pattern(16, 3)});  // key id, MD5 digest
  return concat({p, mac});
}

Bytes plain_with_unknown_field() {
  Bytes p = core::build_plain_request(kClientTx);
  core::append_extension_field(p, static_cast<core::ExtensionFieldType>(0x2005), pattern(12, 1));
  return p;
}

void ntp_packet_seeds() {
  constexpr std::string_view kTarget = "ntp_packet";
  const core::NtsRequest r256 = client_request(AeadAlgorithm::AesSivCmac256, 0);
  const core::NtsRequest r512 = client_request(AeadAlgorithm::AesSivCmac512, 3);
  write_seed(kTarget, "plain_request", core::build_plain_request(kClientTx));
  write_seed(kTarget, "v3_request_md5_mac", v3_request_with_mac());
  write_seed(kTarget, "nts_request_aes256", r256.packet);
  write_seed(kTarget, "nts_request_aes512_3_placeholders", r512.packet);
  write_seed(kTarget, "nts_response_aes512_4_cookies",
             serve(r512.packet, core::Reason::Answered, kTarget, "nts_response_aes512_4_cookies"));
  write_seed(
      kTarget, "nts_nak",
      serve(with_unknown_key(r256.packet), core::Reason::UnknownCookieKey, kTarget, "nts_nak"));
}

// ---------------------------------------------------------------------------------
void ntp_server_decision_seeds() {
  constexpr std::string_view kTarget = "ntp_server_decision";
  auto raw = [&](std::string_view name, const Bytes& request, core::Reason expected) {
    serve(request, expected, kTarget, name);
    write_seed(kTarget, name, concat({bytes_of({0}), request}));
  };
  raw("raw_plain", core::build_plain_request(kClientTx), core::Reason::Answered);
  raw("raw_v3_md5_mac", v3_request_with_mac(), core::Reason::Answered);
  raw("raw_plain_unknown_field", plain_with_unknown_field(), core::Reason::Answered);
  raw("raw_nts_aes256", client_request(AeadAlgorithm::AesSivCmac256, 0).packet,
      core::Reason::Answered);
  raw("raw_nts_aes384_2_placeholders", client_request(AeadAlgorithm::AesSivCmac384, 2).packet,
      core::Reason::Answered);
  raw("raw_nts_aes512_7_placeholders", client_request(AeadAlgorithm::AesSivCmac512, 7).packet,
      core::Reason::Answered);
  raw("raw_nts_unknown_key",
      with_unknown_key(client_request(AeadAlgorithm::AesSivCmac256, 0).packet),
      core::Reason::UnknownCookieKey);

  // Mode 1: u8 algorithm, u8 key choice, u8 placeholders, mutation program.
  auto mode1 = [&](std::string_view name, const Bytes& params, core::Reason expected) {
    serve(build_mode1_request(params).packet, expected, kTarget, name);
    write_seed(kTarget, name, concat({bytes_of({1}), params}));
  };
  mode1("built_aes256", bytes_of({0, 0, 0}), core::Reason::Answered);
  mode1("built_aes384_old_key_3", bytes_of({1, 2, 3}), core::Reason::Answered);
  mode1("built_aes512_9", bytes_of({2, 0, 9}), core::Reason::Answered);
  mode1("built_unknown_key", bytes_of({0, 3, 1}), core::Reason::UnknownCookieKey);
  // One bit flipped in the transmit timestamp: the authenticator fails.
  mode1("built_flipped_tx", bytes_of({0, 0, 0, 0x00, 0x2f, 0x01}),
        core::Reason::AuthenticatorFailed);

  // Mode 2: u8 algorithm, u8 key choice, u8 UID length, u8 clear placeholders,
  // u8 placeholder shape, u8 layout (see build_mode2_request), u8 nonce length - 1,
  // u8 additional padding words, then the encrypted fields.
  auto mode2 = [&](std::string_view name, const Bytes& params, core::Reason expected) {
    serve(build_mode2_request(params).packet, expected, kTarget, name);
    write_seed(kTarget, name, concat({bytes_of({2}), params}));
  };
  auto placeholder_field = [](AeadAlgorithm a) {
    Bytes f;
    core::append_extension_field(f, core::ExtensionFieldType::NtsCookiePlaceholder,
                                 Bytes(core::cookie_length(a), 0));
    return f;
  };
  Bytes unknown_field;
  core::append_extension_field(unknown_field, static_cast<core::ExtensionFieldType>(0x3004),
                               pattern(24, 9));
  mode2("assembled_aes256", bytes_of({0, 0, 32, 0, 1, 0, 15, 0}), core::Reason::Answered);
  mode2("assembled_aes384_encrypted_placeholder",
        concat({bytes_of({1, 0, 40, 1, 1, 0x03, 15, 0}),
                placeholder_field(AeadAlgorithm::AesSivCmac384)}),
        core::Reason::Answered);
  mode2("assembled_aes512_short_nonce_padded",
        concat({bytes_of({2, 2, 64, 0, 1, 0, 3, 3}), unknown_field,
                placeholder_field(AeadAlgorithm::AesSivCmac512),
                placeholder_field(AeadAlgorithm::AesSivCmac512)}),
        core::Reason::Answered);
  mode2("assembled_short_nonce", bytes_of({0, 0, 32, 0, 1, 0, 0, 0}), core::Reason::BadNonceLength);
  mode2("assembled_short_uid", bytes_of({0, 0, 16, 0, 1, 0, 15, 0}),
        core::Reason::ShortUniqueIdentifier);
  mode2("assembled_bad_encrypted_fields", bytes_of({0, 0, 32, 0, 1, 0, 15, 0, 1, 2, 3}),
        core::Reason::MalformedExtensionField);
  mode2("assembled_field_after_authenticator", bytes_of({0, 0, 32, 0, 1, 0x04, 15, 0}),
        core::Reason::FieldAfterAuthenticator);
  mode2("assembled_truncated_cookie", bytes_of({1, 0, 32, 2, 1, 0x20, 15, 0}),
        core::Reason::MalformedCookie);
  mode2("assembled_corrupted_cookie", bytes_of({2, 0, 32, 1, 1, 0x40, 15, 0}),
        core::Reason::CookieTagFailed);
}

// ---------------------------------------------------------------------------------
void cookie_seeds() {
  constexpr std::string_view kTarget = "cookie";
  const std::array<std::string_view, 3> names = {"aes256", "aes384", "aes512"};
  for (std::size_t i = 0; i < kAllAeads.size(); ++i) {
    const Bytes cookie = seal_cookie_for(kAllAeads[i], KeyChoice::Current, 21);
    const core::OpenedCookie opened = core::open_cookie(keyring(), cookie);
    expect(opened.keys && same_keys(*opened.keys, session_keys(kAllAeads[i])), kTarget, names[i],
           "does not open");
    write_seed(kTarget, "raw_" + std::string(names[i]), concat({bytes_of({0}), cookie}));
    write_seed(kTarget, "sealed_" + std::string(names[i]),
               bytes_of({1, static_cast<std::uint8_t>(i), 0}));
  }
  {
    const Bytes cookie = seal_cookie_for(AeadAlgorithm::AesSivCmac256, KeyChoice::Old, 21);
    expect(core::open_cookie(keyring(), cookie).keys.has_value(), kTarget, "raw_old_key",
           "does not open");
    write_seed(kTarget, "raw_old_key", concat({bytes_of({0}), cookie}));
  }
  {
    const Bytes cookie = seal_cookie_for(AeadAlgorithm::AesSivCmac512, KeyChoice::Unknown, 21);
    expect(core::open_cookie(keyring(), cookie).error == core::CookieError::UnknownKey, kTarget,
           "raw_unknown_key", "not refused as unknown");
    write_seed(kTarget, "raw_unknown_key", concat({bytes_of({0}), cookie}));
  }
  write_seed(kTarget, "sealed_old_key", bytes_of({1, 1, 2}));
  write_seed(kTarget, "sealed_unknown_key", bytes_of({1, 2, 3}));
  write_seed(kTarget, "sealed_flipped_tag", bytes_of({1, 0, 0, 0x00, 0x20, 0x80}));
  write_seed(kTarget, "sealed_truncated", bytes_of({1, 1, 0, 0x00, 0x50, 0x00}));
}

// ---------------------------------------------------------------------------------
void nts_response_client_seeds() {
  constexpr std::string_view kTarget = "nts_response_client";
  const core::NtsRequest r0 = client_request(AeadAlgorithm::AesSivCmac256, 0);
  const core::NtsRequest r2 = client_request(AeadAlgorithm::AesSivCmac256, 2);
  const core::Aead s2c =
      make_aead(AeadAlgorithm::AesSivCmac256, session_keys(AeadAlgorithm::AesSivCmac256).s2c());
  auto raw = [&](std::string_view name, const Bytes& response, core::NtsResponseError expected) {
    expect(core::parse_nts_response(response, s2c, r0).error == expected, kTarget, name,
           "unexpected client result");
    write_seed(kTarget, name, concat({bytes_of({0}), response}));
  };
  raw("raw_answer", serve(r0.packet, core::Reason::Answered, kTarget, "raw_answer"),
      core::NtsResponseError::None);
  raw("raw_answer_3_cookies", serve(r2.packet, core::Reason::Answered, kTarget, "raw_answer_3"),
      core::NtsResponseError::None);
  raw("raw_nak",
      serve(with_unknown_key(r0.packet), core::Reason::UnknownCookieKey, kTarget, "raw_nak"),
      core::NtsResponseError::Nak);
  raw("raw_plain_answer",
      serve(core::build_plain_request(kClientTx), core::Reason::Answered, kTarget, "raw_plain"),
      core::NtsResponseError::UidMismatch);

  // Mode 1: u8 algorithm, u8 placeholders, mutation program.
  write_seed(kTarget, "server_aes256", bytes_of({1, 0, 0}));
  write_seed(kTarget, "server_aes384_3", bytes_of({1, 1, 3}));
  write_seed(kTarget, "server_aes512_8", bytes_of({1, 2, 8}));
  write_seed(kTarget, "server_flipped_ciphertext_byte", bytes_of({1, 0, 0, 0x00, 0x9f, 0x01}));

  // Mode 2: u8 algorithm, u16 flaws, u8 nonce length - 1, u8 padding words, plaintext.
  Bytes cookies;
  for (std::size_t i = 0; i < 2; ++i) {
    const Bytes cookie = seal_cookie_for(AeadAlgorithm::AesSivCmac256, KeyChoice::Current, 40 + i);
    core::append_extension_field(cookies, core::ExtensionFieldType::NtsCookie, cookie);
  }
  write_seed(kTarget, "built_two_cookies", concat({bytes_of({2, 0, 0, 0, 15, 0}), cookies}));
  write_seed(kTarget, "built_empty", bytes_of({2, 2, 0, 0, 15, 0}));
  write_seed(kTarget, "built_nak", bytes_of({2, 0, 0, 0x40, 15, 0}));
  write_seed(kTarget, "built_field_after_auth", concat({bytes_of({2, 0, 0, 0x20, 3, 3}), cookies}));
  write_seed(kTarget, "built_wrong_key", bytes_of({2, 1, 0x01, 0x00, 15, 0}));
  write_seed(kTarget, "built_uid_after_auth", bytes_of({2, 0, 0x04, 0x00, 15, 0}));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_seeds OUT_DIR\n";
    return 2;
  }
  g_out = argv[1];
  ke_message_seeds();
  ke_response_client_seeds();
  ntp_packet_seeds();
  ntp_server_decision_seeds();
  cookie_seeds();
  nts_response_client_seeds();
  if (g_failures != 0) {
    std::cerr << "make_seeds: " << g_failures << " seed(s) did not behave as intended\n";
    return 1;
  }
  return 0;
}
