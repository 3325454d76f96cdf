// The client side of NTS-protected NTP (RFC 8915 §5): build a request, check a response.
// Used by nts-query, nts-bench and upstream polling.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/aead.h"
#include "core/bytes.h"
#include "core/ntp_packet.h"
#include "core/random.h"

namespace ntsd::core {

struct NtsRequest {
  Bytes packet;
  Bytes unique_identifier;  // to match the response
  NtpTimestamp transmit_time;
};

// A client-mode NTPv4 request with a fresh 32-byte unique identifier, the cookie
// in the clear, `placeholders` cookie placeholders of the cookie's length, and an
// authenticator sealed with C2S over everything before it (empty plaintext).
NtsRequest build_nts_request(const Aead& c2s, ByteView cookie, std::size_t placeholders,
                             NtpTimestamp transmit_time, RandomSource& random);

enum class NtsResponseError : std::uint8_t {
  None,
  Malformed,  // not a valid NTP packet with extension fields
  NotServerMode,
  OriginMismatch,  // origin timestamp is not our transmit timestamp
  UidMismatch,
  Nak,  // kiss-o'-death NTSN with our UID
  MissingAuthenticator,
  AuthenticatorFailed,
  UnauthenticatedField,  // a field other than the UID outside the authenticator
};

std::string_view nts_response_error_name(NtsResponseError error);

struct NtsResponse {
  NtsResponseError error = NtsResponseError::Malformed;
  NtpHeader header;
  std::vector<Bytes> cookies;  // new cookies from the encrypted fields
};

NtsResponse parse_nts_response(ByteView packet, const Aead& s2c, const NtsRequest& request);

// A plain NTPv4 client request (48 bytes).
Bytes build_plain_request(NtpTimestamp transmit_time);

}  // namespace ntsd::core
