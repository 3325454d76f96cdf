// NTS-KE negotiation (RFC 8915 §4.1), both sides, without I/O.
//
// Server: decide_ke_request() reads the client's request and says what to answer;
// the caller exports keys for the chosen AEAD, mints cookies and calls
// build_ke_response(). Client: build_ke_request() and interpret_ke_response().
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/aead.h"
#include "core/bytes.h"
#include "core/ke_record.h"

namespace ntsd::core {

struct KeServerPolicy {
  // The AEADs we allow. The client's order of preference decides among them (as
  // chrony's ntsaeads does on a server); this list's own order does not.
  std::vector<AeadAlgorithm> aead_preference;
  std::optional<std::string> ntp_server;  // advertised NTPv4 Server record
  std::optional<std::uint16_t> ntp_port;  // advertised NTPv4 Port record
};

// Why a request was answered as it was; shared by tests, metrics and logs.
enum class KeOutcome : std::uint8_t {
  Ok,                    // NTPv4 and an AEAD agreed: send cookies
  NoCommonProtocol,      // empty Next Protocol in the response, no cookies
  NoCommonAead,          // empty AEAD record in the response, no cookies
  UnrecognizedCritical,  // Error 0
  BadRequest,            // Error 1 (see KeBadRequest for which)
};

enum class KeBadRequest : std::uint8_t {
  None,
  Malformed,            // record framing broken
  ForbiddenRecord,      // Error, Warning or New Cookie from a client
  NextProtocolCount,    // not exactly one Next Protocol record
  NextProtocolBody,     // empty or odd-length Next Protocol body
  AeadCount,            // NTPv4 offered without exactly one AEAD record
  AeadBody,             // empty or odd-length AEAD body
  BadServerOrPort,      // malformed NTPv4 Server or Port record
  TrailingData,         // data after End of Message
  CompliantExportBody,  // a record 1024 with a body (chrony answers it so too)
  Timeout,              // the whole request did not arrive in time
};

std::string_view ke_outcome_name(KeOutcome outcome);
std::string_view ke_bad_request_name(KeBadRequest reason);

struct KeDecision {
  KeOutcome outcome = KeOutcome::BadRequest;
  KeBadRequest bad_request = KeBadRequest::None;
  std::optional<AeadAlgorithm> aead;  // set only when outcome == Ok
  // AEAD 30 was chosen and the client sent record 1024: the response echoes it and
  // the keys come from the RFC's exporter context (id 30). False for every other
  // choice.
  bool compliant_gcm_siv = false;
};

// The AEAD id that goes into the exporter context (RFC 8915 §5.1) for a choice.
// For AEAD 30 without record 1024 it is 15 (AES-SIV-CMAC-256), as chrony 4.4 to
// 4.6.0 derive it, on both sides; the key length stays the chosen AEAD's (16).
AeadAlgorithm exporter_context_aead(AeadAlgorithm chosen, bool compliant_gcm_siv);

// `message` must be Complete or Malformed (an Incomplete message is answered as
// Malformed); trailing_data says whether bytes followed End of Message in what
// was read.
//
// The first rule that applies decides, in this order:
//   1. status Malformed                                   -> BadRequest/Malformed
//   2. trailing_data                                      -> BadRequest/TrailingData
//   3. a critical record of a type RFC 8915 does not define -> UnrecognizedCritical
//   4. an Error, Warning or New Cookie record             -> BadRequest/ForbiddenRecord
//   5. not exactly one Next Protocol record               -> BadRequest/NextProtocolCount
//   6. Next Protocol body empty or odd-length             -> BadRequest/NextProtocolBody
//   7. any AEAD record with an empty or odd-length body   -> BadRequest/AeadBody
//   8. NTPv4 offered and not exactly one AEAD record      -> BadRequest/AeadCount
//   9. a Server record that is empty, not printable ASCII or repeated, or a Port
//      record that is not 2 bytes or is repeated          -> BadRequest/BadServerOrPort
//  10. a record 1024 with a body                          -> BadRequest/CompliantExportBody
//  11. NTPv4 not offered                                  -> NoCommonProtocol
//  12. no algorithm of policy.aead_preference offered     -> NoCommonAead
//  13. otherwise Ok, with the first algorithm in the client's AEAD record that
//      policy.aead_preference allows (the client's preference, as chrony does);
//      compliant_gcm_siv when that is 30 and a record 1024 came.
// Critical bits on records we know (0 to 7 and 1024) are not checked; non-critical
// unknown records are ignored; the client's Server and Port hints are checked for
// shape and otherwise ignored.
KeDecision decide_ke_request(const KeMessage& message, bool trailing_data,
                             const KeServerPolicy& policy);

// A BadRequest decision for a reason found outside the message, e.g. Timeout.
KeDecision ke_bad_request(KeBadRequest reason);

// The whole response: Next Protocol, AEAD, record 1024 (when compliant_gcm_siv),
// Server/Port, cookies, End of Message; or an Error record and End of Message.
// cookies are used only when outcome == Ok. Critical: Next Protocol, AEAD, Server,
// Port, Error, End of Message. Not critical: record 1024, New Cookie. Server and
// Port are sent only with Ok.
// An Ok decision without an AEAD or without any cookie is a caller bug; it is
// answered with Error 2 (internal server error) rather than a response the
// client could not use.
Bytes build_ke_response(const KeDecision& decision, std::span<const Bytes> cookies,
                        const KeServerPolicy& policy);

// Error record with `code` and End of Message, e.g. Error 2 when key export or
// cookie minting failed.
Bytes build_ke_error_response(KeErrorCode code);

// An NTPv4 Server record body we accept or send: non-empty printable ASCII
// without spaces (0x21 to 0x7e), as an address or host name must be. Use it to
// validate configuration before it reaches KeServerPolicy.
bool is_valid_ke_server_name(std::string_view name);

// Client side.
// Next Protocol {NTPv4} and AEAD {offered, best first}, both critical, a
// non-critical empty record 1024 when 30 is offered (as chrony 4.6.1 sends it),
// then End of Message. An empty `offered` yields an empty AEAD record, which
// servers reject as a bad request: offer at least one.
Bytes build_ke_request(std::span<const AeadAlgorithm> offered);

enum class KeClientError : std::uint8_t {
  None,
  Malformed,
  ServerError,  // the server sent an Error record (see error_code)
  NoCommonProtocol,
  NoCommonAead,
  UnsupportedAead,  // the server chose something we did not offer
  NoCookies,
  UnrecognizedCritical,
};

std::string_view ke_client_error_name(KeClientError error);

struct KeClientResult {
  KeClientError error = KeClientError::Malformed;
  std::uint16_t error_code = 0;  // from an Error record
  std::optional<AeadAlgorithm> aead;
  // The server chose 30 and echoed record 1024: derive the keys with id 30 in the
  // exporter context; otherwise, for 30, with 15 (exporter_context_aead()).
  bool compliant_gcm_siv = false;
  std::vector<Bytes> cookies;
  std::optional<std::string> ntp_server;
  std::optional<std::uint16_t> ntp_port;
  std::vector<std::uint16_t> warnings;
};

// The first rule that applies decides, in this order:
//   1. status not Complete                                -> Malformed
//   2. an Error record (error_code = its code; body not 2 bytes -> Malformed)
//                                                         -> ServerError
//   3. a critical record of a type RFC 8915 does not define -> UnrecognizedCritical
//   4. not exactly one Next Protocol record, or odd body  -> Malformed
//   5. Next Protocol does not contain NTPv4 (e.g. empty)  -> NoCommonProtocol
//   6. not exactly one AEAD record                        -> Malformed
//   7. AEAD record empty                                  -> NoCommonAead
//   8. AEAD record not exactly one value                  -> Malformed
//   9. the value is not one we offered                    -> UnsupportedAead
//  10. an empty cookie, a Warning not 2 bytes, a Server record not valid
//      (is_valid_ke_server_name) or repeated, a Port record not 2 bytes or
//      repeated, a record 1024 with a body                -> Malformed
//  11. no cookie                                          -> NoCookies
// warnings are collected whenever the message is Complete; aead, cookies, ntp_server and
// ntp_port are filled only when error == None. Unknown non-critical records are
// ignored; critical bits on records we know are not checked.
KeClientResult interpret_ke_response(const KeMessage& message,
                                     std::span<const AeadAlgorithm> offered);

// TLS exporter inputs (RFC 8915 §5.1).
inline constexpr std::string_view kNtsExporterLabel = "EXPORTER-network-time-security";
inline constexpr std::string_view kNtsKeAlpn = "ntske/1";
// 00 00 | AEAD id (u16, big-endian) | 00 for client-to-server, 01 for server-to-client.
std::array<std::uint8_t, 5> exporter_context(AeadAlgorithm aead, bool server_to_client);

}  // namespace ntsd::core
