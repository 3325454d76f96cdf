// What the NTP server did with one request and why, in one value.
//
// The reason decides what was sent (an answer, an NTS NAK, a RATE kiss or
// nothing), so an outcome cannot claim a NAK that was never sent. The reasons
// include the server's own drops (over the rate limit, clock unsynchronised)
// so that every request is counted once, by one table: counters, metrics, logs
// and the summary line all index and name by it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ntsd::core {

// What went back to the client.
enum class Sent : std::uint8_t { Answer, Nak, RateKiss, Nothing };

// Unknown: dropped unread (rate limit, unsynchronised), so not known to be
// either. Names (kind_name) are metric label values.
enum class RequestKind : std::uint8_t { Unknown, Plain, Nts, kCount };
inline constexpr std::size_t kRequestKindCount = static_cast<std::size_t>(RequestKind::kCount);

enum class Reason : std::uint8_t {
  Answered,
  // Answered with a RATE kiss-o'-death: authenticated for a valid NTS request,
  // a bare header for a plain one.
  RateLimited,
  // Answered with an NTS NAK (kiss-o'-death "NTSN").
  MalformedCookie,
  UnknownCookieKey,
  CookieTagFailed,
  AuthenticatorFailed,
  // Dropped without a reply: malformed requests.
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
  // Dropped by the server's policy: over the rate limit (unread, or read and
  // found to deserve only a NAK, which costs nothing to provoke), or while the
  // clock is unsynchronised (--unsynchronised drop; always unread).
  RateLimitedDrop,
  Unsynchronised,
  kCount
};
inline constexpr std::size_t kReasonCount = static_cast<std::size_t>(Reason::kCount);

struct ReasonInfo {
  std::string_view name;  // shared by tests, metrics and logs
  Sent sent;
};

// Indexed by Reason; the static_assert below keeps it in step with the enum.
inline constexpr std::array<ReasonInfo, kReasonCount> kReasons = {{
    {"answered", Sent::Answer},
    {"rate_limited", Sent::RateKiss},
    {"malformed_cookie", Sent::Nak},
    {"unknown_cookie_key", Sent::Nak},
    {"cookie_tag_failed", Sent::Nak},
    {"authenticator_failed", Sent::Nak},
    {"too_short", Sent::Nothing},
    {"too_long", Sent::Nothing},
    {"unsupported_version", Sent::Nothing},
    {"not_client_mode", Sent::Nothing},
    {"malformed_extension_field", Sent::Nothing},
    {"missing_unique_identifier", Sent::Nothing},
    {"short_unique_identifier", Sent::Nothing},
    {"duplicate_unique_identifier", Sent::Nothing},
    {"missing_cookie", Sent::Nothing},
    {"multiple_cookies", Sent::Nothing},
    {"missing_authenticator", Sent::Nothing},
    {"malformed_authenticator", Sent::Nothing},
    {"bad_nonce_length", Sent::Nothing},
    {"field_after_authenticator", Sent::Nothing},
    {"bad_placeholder_length", Sent::Nothing},
    {"rate_limited_dropped", Sent::Nothing},
    {"unsynchronised_dropped", Sent::Nothing},
}};
constexpr bool every_reason_named() {
  for (const auto& info : kReasons) {
    if (info.name.empty()) return false;
  }
  return true;
}
static_assert(every_reason_named() && kReasons.back().name == "unsynchronised_dropped",
              "kReasons must list every Reason, in order");

constexpr std::string_view reason_name(Reason reason) {
  return kReasons[static_cast<std::size_t>(reason)].name;
}
constexpr Sent sent_for(Reason reason) { return kReasons[static_cast<std::size_t>(reason)].sent; }

constexpr std::string_view kind_name(RequestKind kind) {
  constexpr std::array<std::string_view, kRequestKindCount> kNames = {"unknown", "plain", "nts"};
  return kNames[static_cast<std::size_t>(kind)];
}

// For logs: "answered", "answered with NTS NAK", ...
constexpr std::string_view sent_name(Sent sent) {
  constexpr std::array<std::string_view, 4> kNames = {"answered", "answered with NTS NAK",
                                                      "answered with RATE kiss", "dropped"};
  return kNames[static_cast<std::size_t>(sent)];
}

struct NtpOutcome {
  RequestKind kind = RequestKind::Unknown;
  Reason reason = Reason::TooShort;

  [[nodiscard]] constexpr Sent sent() const { return sent_for(reason); }
  bool operator==(const NtpOutcome&) const = default;
};

}  // namespace ntsd::core
