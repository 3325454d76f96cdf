// NTS-KE negotiation (RFC 8915 §4.1), both sides, without I/O.
//
// Server: decide_ke_request() reads the client's request and says what to answer;
// the caller exports keys for the chosen AEAD, mints cookies and calls
// build_ke_response(). Client: build_ke_request() and interpret_ke_response().
#pragma once

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
  std::vector<AeadAlgorithm> aead_preference;  // ours, best first
  std::optional<std::string> ntp_server;       // advertised NTPv4 Server record
  std::optional<std::uint16_t> ntp_port;       // advertised NTPv4 Port record
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
  Malformed,                // record framing broken
  ForbiddenRecord,          // Error, Warning or New Cookie from a client
  NextProtocolCount,        // not exactly one Next Protocol record
  NextProtocolBody,         // empty or odd-length Next Protocol body
  AeadCount,                // NTPv4 offered without exactly one AEAD record
  AeadBody,                 // empty or odd-length AEAD body
  BadServerOrPort,          // malformed NTPv4 Server or Port record
  TrailingData,             // data after End of Message
  Timeout,                  // the whole request did not arrive in time
};

std::string_view ke_outcome_name(KeOutcome outcome);
std::string_view ke_bad_request_name(KeBadRequest reason);

struct KeDecision {
  KeOutcome outcome = KeOutcome::BadRequest;
  KeBadRequest bad_request = KeBadRequest::None;
  std::optional<AeadAlgorithm> aead;  // set only when outcome == Ok
};

// `message` must be Complete or Malformed; trailing_data says whether bytes
// followed End of Message in what was read.
KeDecision decide_ke_request(const KeMessage& message, bool trailing_data,
                             const KeServerPolicy& policy);

// The whole response: Next Protocol, AEAD, cookies, Server/Port, End of Message;
// or an Error record and End of Message. cookies are used only when outcome == Ok.
Bytes build_ke_response(const KeDecision& decision, std::span<const Bytes> cookies,
                        const KeServerPolicy& policy);

// Client side.
Bytes build_ke_request(std::span<const AeadAlgorithm> offered);

enum class KeClientError : std::uint8_t {
  None,
  Malformed,
  ServerError,         // the server sent an Error record (see error_code)
  NoCommonProtocol,
  NoCommonAead,
  UnsupportedAead,     // the server chose something we did not offer
  NoCookies,
  UnrecognizedCritical,
};

std::string_view ke_client_error_name(KeClientError error);

struct KeClientResult {
  KeClientError error = KeClientError::Malformed;
  std::uint16_t error_code = 0;  // from an Error record
  std::optional<AeadAlgorithm> aead;
  std::vector<Bytes> cookies;
  std::optional<std::string> ntp_server;
  std::optional<std::uint16_t> ntp_port;
  std::vector<std::uint16_t> warnings;
};

KeClientResult interpret_ke_response(const KeMessage& message,
                                     std::span<const AeadAlgorithm> offered);

// TLS exporter inputs (RFC 8915 §5.1).
inline constexpr std::string_view kNtsExporterLabel = "EXPORTER-network-time-security";
inline constexpr std::string_view kNtsKeAlpn = "ntske/1";
std::array<std::uint8_t, 5> exporter_context(AeadAlgorithm aead, bool server_to_client);

}  // namespace ntsd::core
