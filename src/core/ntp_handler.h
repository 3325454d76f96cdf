// The NTP server's decision: request bytes in, response bytes and a reason out.
//
// Handling is split in two so that the transmit timestamp is read as late as
// possible: prepare() parses, opens the cookie, verifies the authenticator, mints
// the new cookies and draws the nonce; the caller then reads the clock and
// complete() writes the header and seals the authenticator over it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "core/aead.h"
#include "core/bytes.h"
#include "core/cookie.h"
#include "core/ntp_packet.h"
#include "core/random.h"

namespace ntsd::core {

// Larger requests are dropped; no legitimate NTS request comes near it.
inline constexpr std::size_t kMaxNtpPacketLength = 2048;
inline constexpr std::size_t kMaxCookiesPerResponse = 8;
inline constexpr std::size_t kMinUniqueIdentifierLength = 32;
inline constexpr std::size_t kMinNonceLength = 16;
inline constexpr std::size_t kResponseNonceLength = 16;

// What the server tells clients about its clock; filled by a time source.
struct ServerClock {
  LeapIndicator leap = LeapIndicator::NoWarning;
  std::uint8_t stratum = 16;
  std::int8_t precision = -20;
  NtpShort root_delay;
  NtpShort root_dispersion;
  ReferenceId reference_id{};
  NtpTimestamp reference_time;
};

enum class Action : std::uint8_t { Ignore, Respond };
enum class RequestKind : std::uint8_t { Plain, Nts };

// Every outcome has a name shared by tests, metrics and logs (reason_name()).
enum class Reason : std::uint8_t {
  Answered,
  // Dropped without a reply.
  TooShort,
  TooLong,
  UnsupportedVersion,
  NotClientMode,
  MalformedExtensionField,
  MissingUniqueIdentifier,
  ShortUniqueIdentifier,
  DuplicateUniqueIdentifier,
  MissingCookie,
  MultipleCookies,
  MissingAuthenticator,
  MalformedAuthenticator,
  BadNonceLength,
  FieldAfterAuthenticator,
  BadPlaceholderLength,
  UnknownCriticalField,
  // Answered with an NTS NAK (kiss-o'-death "NTSN").
  MalformedCookie,
  UnknownCookieKey,
  CookieTagFailed,
  AuthenticatorFailed,
};

std::string_view reason_name(Reason reason);

struct Decision {
  Action action = Action::Ignore;
  RequestKind kind = RequestKind::Plain;
  Reason reason = Reason::TooShort;
  [[nodiscard]] bool is_nak() const;
};

// Per-request working memory, reused from request to request: fixed-size, so
// handling a request allocates nothing.
class PendingResponse {
 public:
  PendingResponse() = default;

 private:
  friend Decision prepare_response(ByteView, NtpTimestamp, const ServerClock&,
                                   const CookieKeyring&, RandomSource&, PendingResponse&);
  friend std::size_t complete_response(PendingResponse&, NtpTimestamp, std::span<std::uint8_t>);

  Decision decision_;
  std::size_t request_length_ = 0;
  NtpHeader header_;
  std::array<std::uint8_t, kMaxNtpPacketLength> uid_field_{};  // echoed verbatim
  std::size_t uid_field_length_ = 0;
  std::optional<Aead> s2c_;
  std::array<std::uint8_t, kResponseNonceLength> nonce_{};
  std::array<std::uint8_t, kMaxNtpPacketLength> plaintext_{};  // new cookie fields
  std::size_t plaintext_length_ = 0;
};

// Phase one. Whatever the outcome, the caller calls complete_response() only when
// the decision's action is Respond.
Decision prepare_response(ByteView request, NtpTimestamp receive_time, const ServerClock& clock,
                          const CookieKeyring& keyring, RandomSource& random,
                          PendingResponse& pending);

// Phase two: writes the response with transmit_time into out (at least as large as
// the request) and returns its length, which never exceeds the request's.
std::size_t complete_response(PendingResponse& pending, NtpTimestamp transmit_time,
                              std::span<std::uint8_t> out);

}  // namespace ntsd::core
