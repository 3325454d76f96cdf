#include "core/ke_negotiation.h"

#include <algorithm>

namespace ntsd::core {

namespace {

constexpr std::uint16_t raw(KeRecordType type) { return static_cast<std::uint16_t>(type); }
constexpr std::uint16_t raw(AeadAlgorithm aead) { return static_cast<std::uint16_t>(aead); }

// A body that is a list of u16 values: even length (possibly empty).
bool is_u16_list(ByteView body) { return body.size() % 2 == 0; }

bool u16_list_contains(ByteView body, std::uint16_t value) {
  for (std::size_t i = 0; i + 1 < body.size(); i += 2) {
    if (load_be16(body.data() + i) == value) return true;
  }
  return false;
}

std::string_view as_chars(ByteView body) {
  return {reinterpret_cast<const char*>(body.data()), body.size()};
}

KeDecision decision(KeOutcome outcome, KeBadRequest reason = KeBadRequest::None,
                    std::optional<AeadAlgorithm> aead = std::nullopt) {
  return KeDecision{.outcome = outcome, .bad_request = reason, .aead = aead};
}

void append_end_of_message(Bytes& out) {
  append_ke_record(out, true, KeRecordType::EndOfMessage, {});
}

void append_u16_record(Bytes& out, bool critical, KeRecordType type, std::uint16_t value) {
  std::uint8_t body[2];
  store_be16(body, value);
  append_ke_record(out, critical, type, body);
}

}  // namespace

std::string_view ke_outcome_name(KeOutcome outcome) {
  switch (outcome) {
    case KeOutcome::Ok:
      return "ok";
    case KeOutcome::NoCommonProtocol:
      return "no_common_protocol";
    case KeOutcome::NoCommonAead:
      return "no_common_aead";
    case KeOutcome::UnrecognizedCritical:
      return "unrecognized_critical";
    case KeOutcome::BadRequest:
      return "bad_request";
  }
  return "unknown";
}

std::string_view ke_bad_request_name(KeBadRequest reason) {
  switch (reason) {
    case KeBadRequest::None:
      return "none";
    case KeBadRequest::Malformed:
      return "malformed";
    case KeBadRequest::ForbiddenRecord:
      return "forbidden_record";
    case KeBadRequest::NextProtocolCount:
      return "next_protocol_count";
    case KeBadRequest::NextProtocolBody:
      return "next_protocol_body";
    case KeBadRequest::AeadCount:
      return "aead_count";
    case KeBadRequest::AeadBody:
      return "aead_body";
    case KeBadRequest::BadServerOrPort:
      return "bad_server_or_port";
    case KeBadRequest::TrailingData:
      return "trailing_data";
    case KeBadRequest::Timeout:
      return "timeout";
    case KeBadRequest::CompliantExportBody:
      return "compliant_export_body";
  }
  return "unknown";
}

std::string_view ke_client_error_name(KeClientError error) {
  switch (error) {
    case KeClientError::None:
      return "none";
    case KeClientError::Malformed:
      return "malformed";
    case KeClientError::ServerError:
      return "server_error";
    case KeClientError::NoCommonProtocol:
      return "no_common_protocol";
    case KeClientError::NoCommonAead:
      return "no_common_aead";
    case KeClientError::UnsupportedAead:
      return "unsupported_aead";
    case KeClientError::NoCookies:
      return "no_cookies";
    case KeClientError::UnrecognizedCritical:
      return "unrecognized_critical";
  }
  return "unknown";
}

bool is_valid_ke_server_name(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte >= 0x21 && byte <= 0x7e;
  });
}

KeDecision ke_bad_request(KeBadRequest reason) { return decision(KeOutcome::BadRequest, reason); }

namespace {

// What one pass over the request's records found.
struct KeRequestScan {
  bool unrecognized_critical = false;
  bool forbidden = false;
  bool bad_server_or_port = false;
  bool bad_aead_body = false;
  bool compliant_export = false;
  bool bad_compliant_export = false;
  std::size_t next_protocol_records = 0;
  std::size_t aead_records = 0;
  std::size_t server_records = 0;
  std::size_t port_records = 0;
  ByteView next_protocol;
  ByteView aead;
};

void scan_record(const KeRecord& record, KeRequestScan& scan) {
  switch (record.type) {
    case raw(KeRecordType::NextProtocol):
      ++scan.next_protocol_records;
      scan.next_protocol = record.body;
      break;
    case raw(KeRecordType::AeadAlgorithm):
      ++scan.aead_records;
      scan.aead = record.body;
      if (record.body.empty() || !is_u16_list(record.body)) scan.bad_aead_body = true;
      break;
    case raw(KeRecordType::Error):
    case raw(KeRecordType::Warning):
    case raw(KeRecordType::NewCookie):
      scan.forbidden = true;
      break;
    case raw(KeRecordType::NtpServer):
      ++scan.server_records;
      if (!is_valid_ke_server_name(as_chars(record.body))) scan.bad_server_or_port = true;
      break;
    case raw(KeRecordType::NtpPort):
      ++scan.port_records;
      if (record.body.size() != 2) scan.bad_server_or_port = true;
      break;
    case raw(KeRecordType::CompliantGcmSivExport):
      scan.compliant_export = true;
      if (!record.body.empty()) scan.bad_compliant_export = true;
      break;
    default:
      if (record.critical) scan.unrecognized_critical = true;
      break;
  }
}

bool offers_ntpv4(const KeRequestScan& scan) {
  return u16_list_contains(scan.next_protocol, kNextProtocolNtpV4);
}

// The first rule, in the documented order, that the request breaks.
std::optional<KeDecision> first_broken_rule(const KeRequestScan& scan) {
  if (scan.unrecognized_critical) return decision(KeOutcome::UnrecognizedCritical);
  if (scan.forbidden) return ke_bad_request(KeBadRequest::ForbiddenRecord);
  if (scan.next_protocol_records != 1) return ke_bad_request(KeBadRequest::NextProtocolCount);
  if (scan.next_protocol.empty() || !is_u16_list(scan.next_protocol)) {
    return ke_bad_request(KeBadRequest::NextProtocolBody);
  }
  if (scan.bad_aead_body) return ke_bad_request(KeBadRequest::AeadBody);
  if (offers_ntpv4(scan) && scan.aead_records != 1) return ke_bad_request(KeBadRequest::AeadCount);
  if (scan.bad_server_or_port || scan.server_records > 1 || scan.port_records > 1) {
    return ke_bad_request(KeBadRequest::BadServerOrPort);
  }
  if (scan.bad_compliant_export) return ke_bad_request(KeBadRequest::CompliantExportBody);
  return std::nullopt;
}

// The client's first offered AEAD that the policy allows.
KeDecision choose_aead(const KeRequestScan& scan, const KeServerPolicy& policy) {
  for (std::size_t i = 0; i + 1 < scan.aead.size(); i += 2) {
    const std::uint16_t offered = load_be16(scan.aead.data() + i);
    const bool allowed = std::any_of(policy.aead_preference.begin(), policy.aead_preference.end(),
                                     [offered](AeadAlgorithm a) { return raw(a) == offered; });
    if (!allowed) continue;
    KeDecision ok = decision(KeOutcome::Ok, KeBadRequest::None, aead_from_id(offered));
    ok.compliant_gcm_siv = scan.compliant_export && *ok.aead == AeadAlgorithm::AesGcmSiv128;
    return ok;
  }
  return decision(KeOutcome::NoCommonAead);
}

}  // namespace

KeDecision decide_ke_request(const KeMessage& message, bool trailing_data,
                             const KeServerPolicy& policy) {
  if (message.status != KeMessageStatus::Complete) return ke_bad_request(KeBadRequest::Malformed);
  if (trailing_data) return ke_bad_request(KeBadRequest::TrailingData);

  // One pass to gather; the rules then apply in their documented order,
  // whatever order the records came in.
  KeRequestScan scan;
  for (const KeRecord& record : message.records) scan_record(record, scan);
  if (auto broken = first_broken_rule(scan)) return *broken;
  if (!offers_ntpv4(scan)) return decision(KeOutcome::NoCommonProtocol);
  return choose_aead(scan, policy);
}

AeadAlgorithm exporter_context_aead(AeadAlgorithm chosen, bool compliant_gcm_siv) {
  if (chosen == AeadAlgorithm::AesGcmSiv128 && !compliant_gcm_siv) {
    return AeadAlgorithm::AesSivCmac256;
  }
  return chosen;
}

Bytes build_ke_error_response(KeErrorCode code) {
  Bytes out;
  out.reserve(2 * kKeRecordHeaderLength + 2);
  append_u16_record(out, true, KeRecordType::Error, static_cast<std::uint16_t>(code));
  append_end_of_message(out);
  return out;
}

Bytes build_ke_response(const KeDecision& decision, std::span<const Bytes> cookies,
                        const KeServerPolicy& policy) {
  switch (decision.outcome) {
    case KeOutcome::UnrecognizedCritical:
      return build_ke_error_response(KeErrorCode::UnrecognizedCriticalRecord);
    case KeOutcome::BadRequest:
      return build_ke_error_response(KeErrorCode::BadRequest);
    case KeOutcome::NoCommonProtocol: {
      Bytes out;
      append_ke_record(out, true, KeRecordType::NextProtocol, {});
      append_end_of_message(out);
      return out;
    }
    case KeOutcome::NoCommonAead: {
      Bytes out;
      append_u16_record(out, true, KeRecordType::NextProtocol, kNextProtocolNtpV4);
      append_ke_record(out, true, KeRecordType::AeadAlgorithm, {});
      append_end_of_message(out);
      return out;
    }
    case KeOutcome::Ok:
      break;
  }
  if (!decision.aead || cookies.empty()) {
    return build_ke_error_response(KeErrorCode::InternalServerError);
  }

  std::size_t size = 6 * kKeRecordHeaderLength + 2 + 2 + 2;
  if (policy.ntp_server) size += policy.ntp_server->size();
  for (const Bytes& cookie : cookies) size += kKeRecordHeaderLength + cookie.size();
  Bytes out;
  out.reserve(size);
  append_u16_record(out, true, KeRecordType::NextProtocol, kNextProtocolNtpV4);
  append_u16_record(out, true, KeRecordType::AeadAlgorithm, raw(*decision.aead));
  if (decision.compliant_gcm_siv && *decision.aead == AeadAlgorithm::AesGcmSiv128) {
    append_ke_record(out, false, KeRecordType::CompliantGcmSivExport, {});
  }
  if (policy.ntp_server) {
    const std::string& name = *policy.ntp_server;
    append_ke_record(out, true, KeRecordType::NtpServer,
                     ByteView(reinterpret_cast<const std::uint8_t*>(name.data()), name.size()));
  }
  if (policy.ntp_port) append_u16_record(out, true, KeRecordType::NtpPort, *policy.ntp_port);
  for (const Bytes& cookie : cookies) append_ke_record(out, false, KeRecordType::NewCookie, cookie);
  append_end_of_message(out);
  return out;
}

Bytes build_ke_request(std::span<const AeadAlgorithm> offered) {
  std::vector<std::uint16_t> ids;
  ids.reserve(offered.size());
  for (const AeadAlgorithm aead : offered) ids.push_back(raw(aead));
  Bytes out;
  append_u16_record(out, true, KeRecordType::NextProtocol, kNextProtocolNtpV4);
  append_ke_record_u16s(out, true, KeRecordType::AeadAlgorithm, ids);
  if (std::find(offered.begin(), offered.end(), AeadAlgorithm::AesGcmSiv128) != offered.end()) {
    append_ke_record(out, false, KeRecordType::CompliantGcmSivExport, {});
  }
  append_end_of_message(out);
  return out;
}

namespace {

// A response's records, gathered in one pass; interpret_ke_response's rules then
// apply in their documented order, whatever order the records came in.
struct ResponseRecords {
  const KeRecord* error = nullptr;  // the first Error record
  bool unrecognized_critical = false;
  bool malformed_extra = false;  // rule 10
  std::size_t next_protocol_records = 0;
  std::size_t aead_records = 0;
  std::size_t server_records = 0;
  std::size_t port_records = 0;
  ByteView next_protocol;
  ByteView aead;
  std::vector<ByteView> cookies;
  std::optional<ByteView> server;
  std::optional<std::uint16_t> port;
  std::vector<std::uint16_t> warnings;
  bool compliant_export = false;
};

void gather_response_record(const KeRecord& record, ResponseRecords& r) {
  switch (record.type) {
    case raw(KeRecordType::Error):
      if (r.error == nullptr) r.error = &record;
      break;
    case raw(KeRecordType::Warning):
      if (record.body.size() == 2) {
        r.warnings.push_back(load_be16(record.body.data()));
      } else {
        r.malformed_extra = true;
      }
      break;
    case raw(KeRecordType::NextProtocol):
      ++r.next_protocol_records;
      r.next_protocol = record.body;
      break;
    case raw(KeRecordType::AeadAlgorithm):
      ++r.aead_records;
      r.aead = record.body;
      break;
    case raw(KeRecordType::NewCookie):
      if (record.body.empty()) r.malformed_extra = true;
      r.cookies.push_back(record.body);
      break;
    case raw(KeRecordType::NtpServer):
      ++r.server_records;
      r.server = record.body;
      if (!is_valid_ke_server_name(as_chars(record.body))) r.malformed_extra = true;
      break;
    case raw(KeRecordType::NtpPort):
      ++r.port_records;
      if (record.body.size() == 2) {
        r.port = load_be16(record.body.data());
      } else {
        r.malformed_extra = true;
      }
      break;
    case raw(KeRecordType::CompliantGcmSivExport):
      r.compliant_export = true;
      if (!record.body.empty()) r.malformed_extra = true;
      break;
    default:
      if (record.critical) r.unrecognized_critical = true;
      break;
  }
}

}  // namespace

KeClientResult interpret_ke_response(const KeMessage& message,
                                     std::span<const AeadAlgorithm> offered) {
  KeClientResult result;
  auto fail = [&result](KeClientError error) {
    result.error = error;
    return std::move(result);
  };
  if (message.status != KeMessageStatus::Complete) return fail(KeClientError::Malformed);

  ResponseRecords r;
  for (const KeRecord& record : message.records) gather_response_record(record, r);
  result.warnings = std::move(r.warnings);

  if (r.error != nullptr) {
    if (r.error->body.size() != 2) return fail(KeClientError::Malformed);
    result.error_code = load_be16(r.error->body.data());
    return fail(KeClientError::ServerError);
  }
  if (r.unrecognized_critical) return fail(KeClientError::UnrecognizedCritical);
  if (r.next_protocol_records != 1 || !is_u16_list(r.next_protocol)) {
    return fail(KeClientError::Malformed);
  }
  if (!u16_list_contains(r.next_protocol, kNextProtocolNtpV4)) {
    return fail(KeClientError::NoCommonProtocol);
  }
  if (r.aead_records != 1) return fail(KeClientError::Malformed);
  if (r.aead.empty()) return fail(KeClientError::NoCommonAead);
  if (r.aead.size() != 2) return fail(KeClientError::Malformed);
  const std::uint16_t chosen = load_be16(r.aead.data());
  const auto offered_it = std::find_if(offered.begin(), offered.end(),
                                       [chosen](AeadAlgorithm a) { return raw(a) == chosen; });
  if (offered_it == offered.end()) return fail(KeClientError::UnsupportedAead);
  if (r.malformed_extra || r.server_records > 1 || r.port_records > 1) {
    return fail(KeClientError::Malformed);
  }
  if (r.cookies.empty()) return fail(KeClientError::NoCookies);

  result.error = KeClientError::None;
  result.aead = *offered_it;
  result.compliant_gcm_siv = r.compliant_export && *offered_it == AeadAlgorithm::AesGcmSiv128;
  result.cookies.reserve(r.cookies.size());
  for (const ByteView cookie : r.cookies) result.cookies.emplace_back(cookie.begin(), cookie.end());
  if (r.server) result.ntp_server = std::string(as_chars(*r.server));
  result.ntp_port = r.port;
  return result;
}

std::array<std::uint8_t, 5> exporter_context(AeadAlgorithm aead, bool server_to_client) {
  std::array<std::uint8_t, 5> context{};
  store_be16(context.data() + 2, raw(aead));
  context[4] = server_to_client ? 1 : 0;
  return context;
}

}  // namespace ntsd::core
