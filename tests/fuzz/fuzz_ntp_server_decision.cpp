// The NTP server's whole decision: prepare_response() and, when it sends something,
// complete_response(), with a fixed keyring and reproducible randomness.
//
// Input: byte 0 picks how the rest becomes a request (see fuzz_common.h):
//   0 (and 3..255 % 3 == 0): the rest is the request, as received;
//   1: build_nts_request() with a cookie from our keyring, then mutated;
//   2: a request assembled field by field with fuzzer bytes as encrypted fields.
//
// Checked for every request:
//   - a response exists exactly when the outcome sends something, is never longer than
//     the request (no amplification), and complete_response() writes nothing else;
//   - a plain answer is the 48-byte header with our clock and the request's times;
//   - a NAK is the header (LI 3, stratum 0, "NTSN") and the request's UID field verbatim,
//     and a client sees it as a NAK;
//   - an NTS answer authenticates under the S2C key inside the request's cookie, carries
//     the UID, and 1..8 new cookies that open to the same keys;
//   - the outcome does not depend on what a previous request left in the reused
//     PendingResponse (the server reuses one per worker);
//   - for structured requests, the outcome the request was built for.
#include <cstring>

#include "fuzz_common.h"

namespace {

using namespace ntsd;
using namespace ntsd::fuzz;
using core::Reason;
using core::RequestKind;
using core::Sent;

struct Outcome {
  core::NtpOutcome outcome;
  std::size_t cookie_count = 0;
  Bytes response;  // what complete_response() wrote (empty when it returned 0)
};

constexpr std::uint8_t kSentinel = 0xA5;

Outcome handle(ByteView request, core::PendingResponse& pending) {
  DeterministicRandom random(0x5eed);
  Outcome out;
  out.outcome =
      core::prepare_response(request, kServerRx, server_clock(), keyring(), random, pending);
  out.cookie_count = pending.cookie_count();
  FUZZ_CHECK(pending.outcome().sent() == out.outcome.sent());
  FUZZ_CHECK(pending.outcome().reason == out.outcome.reason);

  // complete_response() is called for a drop too: it must write nothing then.
  Bytes buffer(request.size() + 64, kSentinel);
  const std::size_t length = core::complete_response(pending, kServerTx, buffer);
  FUZZ_CHECK(length == pending.response_length());
  FUZZ_CHECK(length <= request.size());
  for (std::size_t i = length; i < buffer.size(); ++i) FUZZ_CHECK(buffer[i] == kSentinel);
  if (out.outcome.sent() != Sent::Nothing) {
    FUZZ_CHECK(length >= core::kNtpHeaderLength);
    // A buffer as long as the request is enough; a shorter one gets nothing.
    Bytes exact(request.size());
    FUZZ_CHECK(core::complete_response(pending, kServerTx, exact) == length);
    FUZZ_CHECK(std::memcmp(exact.data(), buffer.data(), length) == 0);
    Bytes tiny(length - 1, kSentinel);
    FUZZ_CHECK(core::complete_response(pending, kServerTx, tiny) == 0);
    for (auto b : tiny) FUZZ_CHECK(b == kSentinel);
  } else {
    FUZZ_CHECK(length == 0);
    FUZZ_CHECK(out.cookie_count == 0);
  }
  out.response.assign(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(length));
  return out;
}

void check_header(const core::NtpHeader& response, const core::NtpHeader& request, bool nak) {
  const core::ServerClock clock = server_clock();
  FUZZ_CHECK(response.mode == core::NtpMode::Server);
  FUZZ_CHECK(response.version == request.version);
  FUZZ_CHECK(response.poll == request.poll);
  FUZZ_CHECK(response.precision == clock.precision);
  FUZZ_CHECK(response.root_delay == clock.root_delay);
  FUZZ_CHECK(response.root_dispersion == clock.root_dispersion);
  FUZZ_CHECK(response.reference_time == clock.reference_time);
  FUZZ_CHECK(response.origin_time == request.transmit_time);
  FUZZ_CHECK(response.receive_time == kServerRx);
  FUZZ_CHECK(response.transmit_time == kServerTx);
  if (nak) {
    FUZZ_CHECK(response.leap == core::LeapIndicator::Unsynchronized);
    FUZZ_CHECK(response.stratum == 0);
    FUZZ_CHECK(response.reference_id == core::kRefIdNtsNak);
  } else {
    FUZZ_CHECK(response.leap == clock.leap);
    FUZZ_CHECK(response.stratum == clock.stratum);
    FUZZ_CHECK(response.reference_id == clock.reference_id);
  }
}

// The request's own cookie field body, which an answered NTS request must have.
ByteView request_cookie_body(ByteView request) {
  const core::ExtensionFieldList fields =
      core::parse_extension_fields(request, core::kNtpHeaderLength);
  FUZZ_CHECK(fields.ok());
  for (const core::ExtensionField& field : fields) {
    if (field.type == static_cast<std::uint16_t>(core::ExtensionFieldType::NtsCookie)) {
      return field.body;
    }
  }
  FUZZ_CHECK(false && "answered NTS request without a cookie");
  return {};
}

void check_response(ByteView request, const Outcome& out) {
  if (out.outcome.sent() == Sent::Nothing) return;
  FUZZ_CHECK(request.size() >= core::kNtpHeaderLength);
  FUZZ_CHECK(request.size() <= core::kMaxNtpPacketLength);
  const core::NtpHeader request_header = *core::NtpHeader::parse(request);
  FUZZ_CHECK(request_header.mode == core::NtpMode::Client);
  FUZZ_CHECK(request_header.version == 3 || request_header.version == 4);
  const auto response_header = core::NtpHeader::parse(out.response);
  FUZZ_CHECK(response_header.has_value());
  const bool nak = out.outcome.sent() == Sent::Nak;
  check_header(*response_header, request_header, nak);

  if (out.outcome.kind == RequestKind::Plain) {
    FUZZ_CHECK(out.outcome.reason == Reason::Answered);
    FUZZ_CHECK(out.response.size() == core::kNtpHeaderLength);
    return;
  }

  const auto uid = unique_identifier_body(request);
  FUZZ_CHECK(uid.has_value());
  FUZZ_CHECK(uid->size() >= core::kMinUniqueIdentifierLength);
  core::NtsRequest client;
  client.unique_identifier.assign(uid->begin(), uid->end());
  client.transmit_time = request_header.transmit_time;

  if (nak) {
    // Header and the UID field, byte for byte as the request had it.
    const std::size_t uid_field = core::kExtensionFieldHeaderLength + uid->size();
    FUZZ_CHECK(out.response.size() == core::kNtpHeaderLength + uid_field);
    const auto* request_uid_field = uid->data() - core::kExtensionFieldHeaderLength;
    FUZZ_CHECK(std::memcmp(out.response.data() + core::kNtpHeaderLength, request_uid_field,
                           uid_field) == 0);
    const core::Aead any =
        make_aead(AeadAlgorithm::AesSivCmac256, session_keys(AeadAlgorithm::AesSivCmac256).s2c());
    FUZZ_CHECK(core::parse_nts_response(out.response, any, client).error ==
               core::NtsResponseError::Nak);
    FUZZ_CHECK(out.cookie_count == 0);
    return;
  }

  // An NTS answer: exactly as long as the request, sealed with the S2C key the
  // request's cookie holds, with fresh cookies holding the same keys.
  FUZZ_CHECK(out.outcome.reason == Reason::Answered);
  FUZZ_CHECK(out.response.size() == request.size());
  const core::OpenedCookie opened =
      core::open_cookie(keyring(), core::cookie_from_field_body(request_cookie_body(request)));
  FUZZ_CHECK(opened.keys.has_value());
  const core::NtsKeys& keys = *opened.keys;
  const core::Aead s2c = make_aead(keys.algorithm(), keys.s2c());
  const core::NtsResponse parsed = core::parse_nts_response(out.response, s2c, client);
  FUZZ_CHECK(parsed.error == core::NtsResponseError::None);
  FUZZ_CHECK(out.cookie_count >= 1);
  FUZZ_CHECK(out.cookie_count <= core::kMaxCookiesPerResponse);
  FUZZ_CHECK(parsed.cookies.size() == out.cookie_count);
  for (const Bytes& cookie : parsed.cookies) {
    // The field pads the cookie to 4 bytes.
    const core::OpenedCookie fresh =
        core::open_cookie(keyring(), core::cookie_from_field_body(cookie));
    FUZZ_CHECK(fresh.keys.has_value());
    FUZZ_CHECK(same_keys(*fresh.keys, keys));
    // New cookies are minted with the current key.
    FUZZ_CHECK(core::load_be32(cookie.data()) == keyring().current().id().value);
  }
}

// What a structured request must get, when its construction makes it certain.
// The NAK reason a well-formed request with a bad cookie must get, in the order the
// server checks the cookie.
std::optional<Reason> expected_nak(const BuiltRequest& built) {
  if (built.cookie_truncated) return Reason::MalformedCookie;
  if (built.key == KeyChoice::Unknown) return Reason::UnknownCookieKey;
  if (built.cookie_corrupted) return Reason::CookieTagFailed;
  return std::nullopt;
}

void check_expected(const BuiltRequest& built, const Outcome& out) {
  if (built.mutated || !built.well_formed) return;
  if (built.packet.size() > core::kMaxNtpPacketLength) {
    FUZZ_CHECK(out.outcome.sent() == Sent::Nothing);
    FUZZ_CHECK(out.outcome.reason == Reason::TooLong);
    return;
  }
  if (const auto nak = expected_nak(built)) {
    FUZZ_CHECK(out.outcome.sent() != Sent::Nothing);
    FUZZ_CHECK(out.outcome.reason == *nak);
    return;
  }
  if (!built.encrypted_fields_ok) {
    FUZZ_CHECK(out.outcome.sent() == Sent::Nothing);
    FUZZ_CHECK(out.outcome.reason == Reason::MalformedExtensionField);
    return;
  }
  if (!built.encrypted_placeholders_ok) {
    FUZZ_CHECK(out.outcome.sent() == Sent::Nothing);
    FUZZ_CHECK(out.outcome.reason == Reason::BadPlaceholderLength);
    return;
  }
  FUZZ_CHECK(out.outcome.sent() != Sent::Nothing);
  FUZZ_CHECK(out.outcome.kind == RequestKind::Nts);
  FUZZ_CHECK(out.outcome.reason == Reason::Answered);
  // Every placeholder is as long as a new cookie field, so all fit, up to 8.
  FUZZ_CHECK(out.cookie_count ==
             std::min<std::size_t>(core::kMaxCookiesPerResponse, 1 + built.placeholders));
}

// Leaves a PendingResponse in the fullest state a request can: an answered NTS request
// with 8 AES-SIV-CMAC-512 cookies.
void prime(core::PendingResponse& pending) {
  static const Bytes request = [] {
    const std::array<std::uint8_t, 3> params = {2, 0, 9};
    return build_mode1_request(params).packet;
  }();
  DeterministicRandom random(0xfeed);
  const core::NtpOutcome decision =
      core::prepare_response(request, kServerRx, server_clock(), keyring(), random, pending);
  FUZZ_CHECK(decision.reason == Reason::Answered);
  FUZZ_CHECK(pending.cookie_count() == core::kMaxCookiesPerResponse);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const ByteView input(data, size);
  std::optional<BuiltRequest> built;
  switch (data[0] % 3) {
    case 1:
      built = build_mode1_request(input.subspan(1));
      break;
    case 2:
      built = build_mode2_request(input.subspan(1));
      break;
    default:
      break;
  }
  const ByteView request = built ? ByteView(built->packet) : input.subspan(1);

  // PendingResponse is large: keep them off the stack, as the server does.
  static auto* fresh = new core::PendingResponse();
  static auto* reused = new core::PendingResponse();
  *fresh = core::PendingResponse();
  const Outcome first = handle(request, *fresh);
  check_response(request, first);
  if (built) check_expected(*built, first);

  prime(*reused);
  const Outcome second = handle(request, *reused);
  FUZZ_CHECK(second.outcome.sent() == first.outcome.sent());
  FUZZ_CHECK(second.outcome.kind == first.outcome.kind);
  FUZZ_CHECK(second.outcome.reason == first.outcome.reason);
  FUZZ_CHECK(second.cookie_count == first.cookie_count);
  FUZZ_CHECK(second.response == first.response);
  return 0;
}
