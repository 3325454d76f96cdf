// The NTS-KE server side: parse_ke_message() on what a client sent, decide_ke_request()
// and build_ke_response(), as ke_server.cpp strings them together.
//
// Input: the bytes a client sent, as the server has them after reading.
//
// Checked:
//   - parse_ke_message(): a Complete message re-encodes to exactly the bytes it was
//     parsed from; every prefix shorter than a Complete message is Incomplete (the
//     server re-parses its growing buffer); a lower max_records limit turns exactly the
//     messages with more records Malformed at the right offset;
//   - decide_ke_request(): Malformed and trailing data win over everything; an Ok
//     decision picks the best algorithm of ours the client offered;
//   - build_ke_response(): the response parses back Complete with nothing after it and
//     a client (interpret_ke_response) reads the same outcome from it: the algorithm,
//     the very cookies minted, the server and port, or the error code.
#include "core/ke_negotiation.h"
#include "core/ke_record.h"
#include "fuzz_common.h"

namespace {

using namespace ntsd;
using namespace ntsd::fuzz;
using core::KeMessage;
using core::KeMessageStatus;
using core::KeOutcome;

constexpr std::size_t kSmallMaxRecords = 8;

std::uint16_t type_value(core::KeRecordType type) { return static_cast<std::uint16_t>(type); }

void check_parse(ByteView input, const KeMessage& message) {
  switch (message.status) {
    case KeMessageStatus::Incomplete:
      FUZZ_CHECK(message.records.empty());
      FUZZ_CHECK(message.length == 0);
      return;
    case KeMessageStatus::Malformed: {
      FUZZ_CHECK(message.records.empty());
      FUZZ_CHECK(message.length >= core::kKeRecordHeaderLength);
      FUZZ_CHECK(message.length <= input.size());
      // The verdict needs nothing past message.length.
      const KeMessage again = core::parse_ke_message(input.first(message.length));
      FUZZ_CHECK(again.status == KeMessageStatus::Malformed);
      FUZZ_CHECK(again.length == message.length);
      return;
    }
    case KeMessageStatus::Complete:
      break;
  }
  FUZZ_CHECK(message.length >= core::kKeRecordHeaderLength);
  FUZZ_CHECK(message.length <= input.size());
  // Re-encode: every record, then End of Message (whose critical bit the parser ignores).
  Bytes encoded;
  for (const core::KeRecord& record : message.records) {
    FUZZ_CHECK(record.type <= core::kKeMaxRecordType);
    FUZZ_CHECK(record.type != type_value(core::KeRecordType::EndOfMessage));
    core::append_ke_record(encoded, record.critical, static_cast<core::KeRecordType>(record.type),
                           record.body);
  }
  const bool end_critical = (input[message.length - 4] & 0x80) != 0;
  core::append_ke_record(encoded, end_critical, core::KeRecordType::EndOfMessage, {});
  FUZZ_CHECK(encoded.size() == message.length);
  FUZZ_CHECK(std::ranges::equal(encoded, input.first(message.length)));

  // Read as it arrives: any shorter prefix is Incomplete.
  FUZZ_CHECK(core::parse_ke_message(input.first(message.length - 1)).status ==
             KeMessageStatus::Incomplete);
  const std::size_t cut = input[0] % message.length;
  FUZZ_CHECK(core::parse_ke_message(input.first(cut)).status == KeMessageStatus::Incomplete);

  // A lower record limit: Malformed exactly when there are more records, at the header
  // of the first record over the limit.
  const KeMessage limited = core::parse_ke_message(input, kSmallMaxRecords);
  if (message.records.size() <= kSmallMaxRecords) {
    FUZZ_CHECK(limited.status == KeMessageStatus::Complete);
    FUZZ_CHECK(limited.length == message.length);
    FUZZ_CHECK(limited.records.size() == message.records.size());
  } else {
    std::size_t offset = 0;
    for (std::size_t i = 0; i < kSmallMaxRecords; ++i) {
      offset += core::kKeRecordHeaderLength + message.records[i].body.size();
    }
    FUZZ_CHECK(limited.status == KeMessageStatus::Malformed);
    FUZZ_CHECK(limited.length == offset + core::kKeRecordHeaderLength);
  }
}

// The AEAD ids of the client's AEAD records.
std::vector<std::uint16_t> offered_aeads(const KeMessage& message) {
  std::vector<std::uint16_t> ids;
  for (const core::KeRecord& record : message.records) {
    if (record.type != type_value(core::KeRecordType::AeadAlgorithm)) continue;
    for (std::size_t i = 0; i + 2 <= record.body.size(); i += 2) {
      ids.push_back(core::load_be16(record.body.data() + i));
    }
  }
  return ids;
}

void check_decision(const KeMessage& message, bool trailing, const core::KeDecision& decision,
                    const core::KeServerPolicy& policy) {
  if (message.status != KeMessageStatus::Complete) {
    FUZZ_CHECK(decision.outcome == KeOutcome::BadRequest);
    FUZZ_CHECK(decision.bad_request == core::KeBadRequest::Malformed);
  } else if (trailing) {
    FUZZ_CHECK(decision.outcome == KeOutcome::BadRequest);
    FUZZ_CHECK(decision.bad_request == core::KeBadRequest::TrailingData);
  }
  FUZZ_CHECK(decision.aead.has_value() == (decision.outcome == KeOutcome::Ok));
  FUZZ_CHECK((decision.outcome == KeOutcome::BadRequest) ==
             (decision.bad_request != core::KeBadRequest::None));
  if (decision.outcome != KeOutcome::Ok) return;
  // Allowed, offered by the client, and nothing the client listed before it is allowed
  // (the client's preference decides). Record 1024 only ever goes with 30.
  const std::vector<std::uint16_t> offered = offered_aeads(message);
  auto is_allowed = [&](std::uint16_t id) {
    return std::ranges::find_if(policy.aead_preference, [id](AeadAlgorithm a) {
             return static_cast<std::uint16_t>(a) == id;
           }) != policy.aead_preference.end();
  };
  const auto chosen = std::ranges::find(offered, static_cast<std::uint16_t>(*decision.aead));
  FUZZ_CHECK(chosen != offered.end());
  for (auto it = offered.begin(); it != chosen; ++it) FUZZ_CHECK(!is_allowed(*it));
  FUZZ_CHECK(!decision.compliant_gcm_siv || *decision.aead == AeadAlgorithm::AesGcmSiv128);
  FUZZ_CHECK(std::ranges::find(policy.aead_preference, *decision.aead) !=
             policy.aead_preference.end());
}

void check_response(const core::KeDecision& decision, const std::vector<Bytes>& cookies,
                    const core::KeServerPolicy& policy) {
  const Bytes response = core::build_ke_response(decision, cookies, policy);
  const KeMessage parsed = core::parse_ke_message(response);
  FUZZ_CHECK(parsed.status == KeMessageStatus::Complete);
  FUZZ_CHECK(parsed.length == response.size());
  // Critical: everything but New Cookie.
  for (const core::KeRecord& record : parsed.records) {
    FUZZ_CHECK(record.critical == (record.type != type_value(core::KeRecordType::NewCookie)));
  }
  FUZZ_CHECK((response[response.size() - 4] & 0x80) != 0);

  const core::KeClientResult client = core::interpret_ke_response(parsed, kAllAeads);
  switch (decision.outcome) {
    case KeOutcome::Ok:
      FUZZ_CHECK(client.error == core::KeClientError::None);
      FUZZ_CHECK(client.aead == decision.aead);
      FUZZ_CHECK(client.cookies == cookies);
      FUZZ_CHECK(client.ntp_server == policy.ntp_server);
      FUZZ_CHECK(client.ntp_port == policy.ntp_port);
      break;
    case KeOutcome::NoCommonProtocol:
      FUZZ_CHECK(client.error == core::KeClientError::NoCommonProtocol);
      break;
    case KeOutcome::NoCommonAead:
      FUZZ_CHECK(client.error == core::KeClientError::NoCommonAead);
      break;
    case KeOutcome::UnrecognizedCritical:
      FUZZ_CHECK(client.error == core::KeClientError::ServerError);
      FUZZ_CHECK(client.error_code ==
                 static_cast<std::uint16_t>(core::KeErrorCode::UnrecognizedCriticalRecord));
      break;
    case KeOutcome::BadRequest:
      FUZZ_CHECK(client.error == core::KeClientError::ServerError);
      FUZZ_CHECK(client.error_code == static_cast<std::uint16_t>(core::KeErrorCode::BadRequest));
      break;
  }
}

void serve(const KeMessage& message, bool trailing, const core::KeServerPolicy& policy) {
  const core::KeDecision decision = core::decide_ke_request(message, trailing, policy);
  check_decision(message, trailing, decision, policy);
  std::vector<Bytes> cookies;
  if (decision.outcome == KeOutcome::Ok) {
    // As ke_server.cpp: eight cookies minted with the current key for the agreed keys.
    DeterministicRandom random(3);
    for (int i = 0; i < 8; ++i) {
      Bytes cookie(core::cookie_length(*decision.aead));
      core::seal_cookie(keyring().current(), session_keys(*decision.aead), random, cookie);
      cookies.push_back(std::move(cookie));
    }
  }
  check_response(decision, cookies, policy);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const core::KeServerPolicy advertising{
      {AeadAlgorithm::AesSivCmac512, AeadAlgorithm::AesSivCmac256}, "ntp.example.net", 4123};
  static const core::KeServerPolicy plain{
      {AeadAlgorithm::AesSivCmac256, AeadAlgorithm::AesSivCmac384, AeadAlgorithm::AesSivCmac512},
      std::nullopt,
      std::nullopt};

  const ByteView input(data, size);
  const KeMessage message = core::parse_ke_message(input);
  check_parse(input, message);
  const bool trailing = message.status == KeMessageStatus::Complete && message.trailing_data(size);
  serve(message, trailing, advertising);
  serve(message, trailing, plain);
  return 0;
}
