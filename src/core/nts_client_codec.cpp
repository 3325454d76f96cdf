#include "core/nts_client_codec.h"

#include <algorithm>
#include <array>

#include "core/extension_field.h"
#include "core/ntp_handler.h"

namespace ntsd::core {

namespace {

constexpr std::size_t kUniqueIdentifierLength = 32;
constexpr std::size_t kMaxRequestNonceLength = 16;

constexpr std::uint16_t type_value(ExtensionFieldType type) {
  return static_cast<std::uint16_t>(type);
}

void append_client_header(Bytes& out, NtpTimestamp transmit_time) {
  NtpHeader header;
  header.leap = LeapIndicator::NoWarning;
  header.version = 4;
  header.mode = NtpMode::Client;
  header.transmit_time = transmit_time;
  const std::size_t old_size = out.size();
  out.resize(old_size + kNtpHeaderLength);
  header.write(out.data() + old_size);
}

}  // namespace

NtsRequest build_nts_request(const Aead& c2s, ByteView cookie, std::size_t placeholders,
                             NtpTimestamp transmit_time, RandomSource& random) {
  NtsRequest request;
  request.transmit_time = transmit_time;
  request.unique_identifier.resize(kUniqueIdentifierLength);
  random.fill(request.unique_identifier);

  Bytes& packet = request.packet;
  const std::size_t cookie_field = extension_field_length(cookie.size());
  packet.reserve(kNtpHeaderLength + extension_field_length(kUniqueIdentifierLength) +
                 (1 + placeholders) * cookie_field +
                 nts_authenticator_field_length(kMaxRequestNonceLength, 0));
  append_client_header(packet, transmit_time);
  append_extension_field(packet, ExtensionFieldType::UniqueIdentifier, request.unique_identifier);
  append_extension_field(packet, ExtensionFieldType::NtsCookie, cookie);
  const Bytes placeholder_body(cookie.size(), 0);
  for (std::size_t i = 0; i < placeholders; ++i) {
    append_extension_field(packet, ExtensionFieldType::NtsCookiePlaceholder, placeholder_body);
  }

  // 16 bytes for SIV-CMAC, 12 (its only length) for GCM-SIV; both multiples of 4.
  const std::size_t nonce_length = aead_nonce_length(c2s.algorithm());
  std::array<std::uint8_t, kMaxRequestNonceLength> nonce_bytes{};
  const std::span<std::uint8_t> nonce = std::span(nonce_bytes).first(nonce_length);
  random.fill(nonce);
  const std::size_t associated_length = packet.size();
  const std::size_t field_length = nts_authenticator_field_length(nonce_length, 0);
  packet.resize(associated_length + field_length, 0);
  std::uint8_t* field = packet.data() + associated_length;
  store_be16(field, type_value(ExtensionFieldType::NtsAuthenticator));
  store_be16(field + 2, static_cast<std::uint16_t>(field_length));
  store_be16(field + 4, static_cast<std::uint16_t>(nonce_length));
  store_be16(field + 6, static_cast<std::uint16_t>(kAeadTagLength));
  std::copy(nonce.begin(), nonce.end(), field + 8);
  c2s.seal(nonce, ByteView(packet.data(), associated_length), ByteView(), field + 8 + nonce_length);
  return request;
}

std::string_view nts_response_error_name(NtsResponseError error) {
  switch (error) {
    case NtsResponseError::None:
      return "none";
    case NtsResponseError::Malformed:
      return "malformed";
    case NtsResponseError::NotServerMode:
      return "not_server_mode";
    case NtsResponseError::OriginMismatch:
      return "origin_mismatch";
    case NtsResponseError::UidMismatch:
      return "uid_mismatch";
    case NtsResponseError::Nak:
      return "nak";
    case NtsResponseError::MissingAuthenticator:
      return "missing_authenticator";
    case NtsResponseError::AuthenticatorFailed:
      return "authenticator_failed";
    case NtsResponseError::UnauthenticatedField:
      return "unauthenticated_field";
  }
  return "unknown";
}

NtsResponse parse_nts_response(ByteView packet, const Aead& s2c, const NtsRequest& request) {
  NtsResponse response;
  auto fail = [&](NtsResponseError error) {
    response.error = error;
    response.cookies.clear();
    return response;
  };

  const std::optional<NtpHeader> header = NtpHeader::parse(packet);
  if (!header) return fail(NtsResponseError::Malformed);
  response.header = *header;
  if (header->mode != NtpMode::Server) return fail(NtsResponseError::NotServerMode);
  if (header->origin_time != request.transmit_time) {
    return fail(NtsResponseError::OriginMismatch);
  }

  const ExtensionFieldList fields = parse_extension_fields(packet, kNtpHeaderLength);
  if (!fields.ok()) return fail(NtsResponseError::Malformed);

  const ExtensionField* uid = nullptr;
  const ExtensionField* authenticator = nullptr;
  for (std::size_t i = 0; i < fields.count; ++i) {
    const ExtensionField& field = fields.fields[i];
    if (field.type == type_value(ExtensionFieldType::UniqueIdentifier)) {
      if (uid != nullptr) return fail(NtsResponseError::Malformed);
      uid = &field;
    } else if (field.type == type_value(ExtensionFieldType::NtsAuthenticator) &&
               authenticator == nullptr) {
      authenticator = &field;
    }
  }
  if (uid == nullptr ||
      !std::equal(uid->body.begin(), uid->body.end(), request.unique_identifier.begin(),
                  request.unique_identifier.end())) {
    return fail(NtsResponseError::UidMismatch);
  }
  // RFC 8915 §5.7: a NAK carries no authenticator; the echoed unique identifier is
  // what ties it to our request.
  if (header->stratum == 0 && header->reference_id == kRefIdNtsNak) {
    return fail(NtsResponseError::Nak);
  }
  if (authenticator == nullptr) return fail(NtsResponseError::MissingAuthenticator);
  for (const ExtensionField& field : fields) {
    if (&field != uid && &field != authenticator) {
      return fail(NtsResponseError::UnauthenticatedField);
    }
  }
  // Nothing may follow the authenticator: the UID must come before it, too.
  if (authenticator != &fields.fields[fields.count - 1]) {
    return fail(NtsResponseError::UnauthenticatedField);
  }

  NtsAuthenticatorParts parts;
  if (parse_nts_authenticator(authenticator->body, parts, aead_min_nonce_space(s2c.algorithm())) !=
      NtsAuthenticatorError::None) {
    return fail(NtsResponseError::Malformed);
  }
  Bytes plaintext(parts.ciphertext.size() - kAeadTagLength);
  if (!s2c.open(parts.nonce, packet.first(authenticator->offset), parts.ciphertext,
                plaintext.data())) {
    return fail(NtsResponseError::AuthenticatorFailed);
  }
  const ExtensionFieldList encrypted = parse_extension_fields(plaintext, 0);
  if (!encrypted.ok()) return fail(NtsResponseError::Malformed);
  for (const ExtensionField& field : encrypted) {
    if (field.type == type_value(ExtensionFieldType::NtsCookie)) {
      response.cookies.emplace_back(field.body.begin(), field.body.end());
    }
  }
  response.error = NtsResponseError::None;
  return response;
}

Bytes build_plain_request(NtpTimestamp transmit_time) {
  Bytes packet;
  packet.reserve(kNtpHeaderLength);
  append_client_header(packet, transmit_time);
  return packet;
}

}  // namespace ntsd::core
