// The client side of NTS NTP: parse_nts_response() with fixed keys, against a fixed
// request (client_request() in fuzz_common.h: same UID and transmit time whatever
// the algorithm and number of placeholders).
//
// Input: byte 0 picks the mode.
//   0 (% 3): the rest is a response as received, checked against the AES-SIV-CMAC-256
//            request;
//   1: our server's answer (prepare_response + complete_response) to the request
//      with u8 algorithm (% 3) and u8 placeholders (% 10), then a mutation program;
//   2: a response assembled field by field (see build_response below), with the rest
//      of the input as the encrypted extension fields.
//
// Checked:
//   - success means a server-mode header with our transmit time as origin, and
//     cookies that open (under our keyring) to the keys of the session;
//   - our server's unmodified answer succeeds with min(8, 1 + placeholders) cookies;
//   - a response built right succeeds exactly when its encrypted fields parse, with
//     exactly their cookies; with one thing wrong, it fails with that thing's error;
//     with anything wrong, it fails.
#include "fuzz_common.h"

namespace {

using namespace ntsd;
using namespace ntsd::fuzz;
using core::NtsResponseError;

void check_common(const core::NtsResponse& response, const core::NtsRequest& request,
                  AeadAlgorithm algorithm, bool cookies_are_ours) {
  if (response.error != NtsResponseError::None) {
    FUZZ_CHECK(response.cookies.empty());
    return;
  }
  FUZZ_CHECK(response.header.mode == core::NtpMode::Server);
  FUZZ_CHECK(response.header.origin_time == request.transmit_time);
  if (!cookies_are_ours) return;
  for (const Bytes& cookie : response.cookies) {
    const core::OpenedCookie opened =
        core::open_cookie(keyring(), core::cookie_from_field_body(cookie));
    FUZZ_CHECK(opened.keys.has_value());
    FUZZ_CHECK(same_keys(*opened.keys, session_keys(algorithm)));
  }
}

void raw_response(ByteView packet) {
  static const core::NtsRequest request = client_request(AeadAlgorithm::AesSivCmac256, 0);
  static const core::Aead s2c =
      make_aead(AeadAlgorithm::AesSivCmac256, session_keys(AeadAlgorithm::AesSivCmac256).s2c());
  const core::NtsResponse response = core::parse_nts_response(packet, s2c, request);
  // Only our server can seal under this S2C key, with cookies from our keyring.
  check_common(response, request, AeadAlgorithm::AesSivCmac256, true);
}

void server_response(ByteView params) {
  InputReader in(params);
  const AeadAlgorithm algorithm = aead_from(in.u8());
  const std::size_t placeholders = in.u8() % 10;
  const core::NtsRequest request = client_request(algorithm, placeholders);

  static auto* pending = new core::PendingResponse();
  DeterministicRandom random(17);
  const core::NtpOutcome decision = core::prepare_response(
      request.packet, kServerRx, server_clock(), keyring(), random, *pending);
  FUZZ_CHECK(decision.sent() != core::Sent::Nothing);
  FUZZ_CHECK(decision.reason == core::Reason::Answered);
  Bytes packet(request.packet.size());
  packet.resize(core::complete_response(*pending, kServerTx, packet));
  FUZZ_CHECK(!packet.empty());
  const bool mutated = apply_mutations(packet, in.rest());

  const core::Aead s2c = make_aead(algorithm, session_keys(algorithm).s2c());
  const core::NtsResponse response = core::parse_nts_response(packet, s2c, request);
  check_common(response, request, algorithm, true);
  if (!mutated) {
    FUZZ_CHECK(response.error == NtsResponseError::None);
    FUZZ_CHECK(response.cookies.size() == std::min<std::size_t>(8, 1 + placeholders));
    FUZZ_CHECK(response.header.transmit_time == kServerTx);
  }
}

// What can be wrong with an assembled response, one flag each.
enum Flaw : std::uint16_t {
  kClientMode = 1 << 0,       // NotServerMode
  kWrongOrigin = 1 << 1,      // OriginMismatch
  kAlteredUid = 1 << 2,       // UidMismatch
  kNoUid = 1 << 3,            // UidMismatch
  kFieldBeforeAuth = 1 << 4,  // UnauthenticatedField
  kFieldAfterAuth = 1 << 5,   // UnauthenticatedField
  kNakHeader = 1 << 6,        // Nak
  kNoAuthenticator = 1 << 7,  // MissingAuthenticator
  kWrongKey = 1 << 8,         // AuthenticatorFailed
  kSecondUid = 1 << 9,        // Malformed
  kUidAfterAuth = 1 << 10,    // UnauthenticatedField (nothing may follow it)
};

NtsResponseError error_for(std::uint16_t flaw) {
  switch (flaw) {
    case kClientMode:
      return NtsResponseError::NotServerMode;
    case kWrongOrigin:
      return NtsResponseError::OriginMismatch;
    case kAlteredUid:
    case kNoUid:
      return NtsResponseError::UidMismatch;
    case kFieldBeforeAuth:
    case kFieldAfterAuth:
      return NtsResponseError::UnauthenticatedField;
    case kNakHeader:
      return NtsResponseError::Nak;
    case kNoAuthenticator:
      return NtsResponseError::MissingAuthenticator;
    case kWrongKey:
      return NtsResponseError::AuthenticatorFailed;
    case kSecondUid:
      return NtsResponseError::Malformed;
    case kUidAfterAuth:
      return NtsResponseError::UnauthenticatedField;
    default:
      std::abort();
  }
}

// Mode 2 input: u8 algorithm, u16 flaws (bits above, the rest ignored), u8 nonce length (1 + % 32),
// u8 additional padding (% 8, in 4-byte words), rest: encrypted extension fields.
void built_response(ByteView params) {
  using core::ExtensionFieldType;
  InputReader in(params);
  const AeadAlgorithm algorithm = aead_from(in.u8());
  std::uint16_t flaws = in.u16() & 0x07FF;
  // Without a UID there is none to repeat or move.
  if (flaws & kNoUid) flaws &= static_cast<std::uint16_t>(~(kSecondUid | kUidAfterAuth));
  const std::size_t nonce_length = 1 + in.u8() % 32;
  const std::size_t additional_padding = 4 * (in.u8() % 8);
  const ByteView plaintext = in.rest();
  const core::NtsRequest request = client_request(algorithm, 0);
  constexpr auto kUnknownType = static_cast<ExtensionFieldType>(0x2005);
  const Bytes unknown_body = pattern(20, 0x77);

  Bytes p(core::kNtpHeaderLength);
  core::NtpHeader header;
  header.version = 4;
  header.mode = (flaws & kClientMode) ? core::NtpMode::Client : core::NtpMode::Server;
  header.stratum = (flaws & kNakHeader) ? 0 : 2;
  header.reference_id = (flaws & kNakHeader) ? core::kRefIdNtsNak : core::ReferenceId{192, 0, 2, 1};
  header.origin_time = request.transmit_time;
  if (flaws & kWrongOrigin) header.origin_time.raw ^= 1;
  header.receive_time = kServerRx;
  header.transmit_time = kServerTx;
  header.write(p.data());
  Bytes uid = request.unique_identifier;
  if (flaws & kAlteredUid) uid[uid.size() / 2] ^= 0xFF;
  if (!(flaws & (kNoUid | kUidAfterAuth))) {
    core::append_extension_field(p, ExtensionFieldType::UniqueIdentifier, uid);
  }
  if (flaws & kSecondUid)
    core::append_extension_field(p, ExtensionFieldType::UniqueIdentifier, uid);
  if (flaws & kFieldBeforeAuth) core::append_extension_field(p, kUnknownType, unknown_body);

  const bool fits =
      authenticator_field_length(nonce_length, plaintext.size(), additional_padding) <=
      core::kMaxExtensionFieldLength;
  if (!(flaws & kNoAuthenticator) && fits) {
    const core::NtsKeys& keys = session_keys(algorithm);
    const core::Aead sealer = make_aead(algorithm, (flaws & kWrongKey) ? keys.c2s() : keys.s2c());
    append_sealed_authenticator(p, sealer, nonce_length, additional_padding, plaintext);
  }
  if (flaws & kFieldAfterAuth) core::append_extension_field(p, kUnknownType, unknown_body);
  if (flaws & kUidAfterAuth)
    core::append_extension_field(p, ExtensionFieldType::UniqueIdentifier, uid);

  const core::Aead s2c = make_aead(algorithm, session_keys(algorithm).s2c());
  const core::NtsResponse response = core::parse_nts_response(p, s2c, request);
  // The plaintext is the fuzzer's: cookies in it are not ours.
  check_common(response, request, algorithm, false);
  if (!fits) return;
  const bool nonce_ok =
      core::padded_to_4(nonce_length) + additional_padding >= core::kMinNonceLength;
  const core::ExtensionFieldList encrypted = core::parse_extension_fields(plaintext, 0);

  if (flaws != 0) {
    FUZZ_CHECK(response.error != NtsResponseError::None);
    const bool single = (flaws & (flaws - 1)) == 0;
    if (single && (flaws != kWrongKey || nonce_ok)) FUZZ_CHECK(response.error == error_for(flaws));
    return;
  }
  if (!nonce_ok || !encrypted.ok()) {
    FUZZ_CHECK(response.error == NtsResponseError::Malformed);
    return;
  }
  FUZZ_CHECK(response.error == NtsResponseError::None);
  std::vector<Bytes> cookies;
  for (const core::ExtensionField& field : encrypted) {
    if (field.type == static_cast<std::uint16_t>(ExtensionFieldType::NtsCookie)) {
      cookies.emplace_back(field.body.begin(), field.body.end());
    }
  }
  FUZZ_CHECK(response.cookies == cookies);
  FUZZ_CHECK(response.header.transmit_time == kServerTx);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const ByteView rest = ByteView(data, size).subspan(1);
  switch (data[0] % 3) {
    case 1:
      server_response(rest);
      break;
    case 2:
      built_response(rest);
      break;
    default:
      raw_response(rest);
      break;
  }
  return 0;
}
