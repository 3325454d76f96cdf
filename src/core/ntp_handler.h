// The NTP server's decision: request bytes in, response bytes and an outcome
// (core/ntp_outcome.h) out.
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
#include "core/extension_field.h"
#include "core/ntp_outcome.h"
#include "core/ntp_packet.h"
#include "core/random.h"

namespace ntsd::core {

// Larger requests are dropped; no legitimate NTS request comes near it.
inline constexpr std::size_t kMaxNtpPacketLength = 2048;
inline constexpr std::size_t kMaxCookiesPerResponse = 8;
inline constexpr std::size_t kMinUniqueIdentifierLength = 32;
// RFC 8915 §5.6: the nonce (at least one byte) plus its padding plus the
// Additional Padding must span at least N_REQ = min(16, N_MAX) bytes; N_MAX is
// unbounded for AES-SIV-CMAC, so 16. A client may use a shorter nonce as long as
// it pads, which guarantees room for the server's own 16-byte nonce.
inline constexpr std::size_t kMinNonceLength = 16;
// N_REQ is 12 for AES-128-GCM-SIV (N_MAX = 12): the least any AEAD of ours needs,
// checked before the cookie names the AEAD; the AEAD's own N_REQ after.
inline constexpr std::size_t kMinNonceSpaceAnyAead = 12;
inline constexpr std::size_t kResponseNonceLength = 16;  // the longest we send

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

// How prepare_response() answers a request that would be answered.
enum class Reply : std::uint8_t {
  Normal,
  // The client is over its rate limit: answer a valid request with a RATE kiss
  // (no new cookies), and drop what would otherwise get an NTS NAK
  // (Reason::RateLimitedDrop).
  RateKiss,
};

// Per-request working memory, reused from request to request: fixed-size, so
// handling a request allocates nothing.
class PendingResponse {
 public:
  PendingResponse() = default;

  [[nodiscard]] const NtpOutcome& outcome() const { return outcome_; }
  // Number of new cookies the response will carry (0 unless an answered NTS request).
  [[nodiscard]] std::size_t cookie_count() const { return cookie_count_; }
  // Length complete_response() will write (0 when nothing is to be sent).
  [[nodiscard]] std::size_t response_length() const { return response_length_; }
  // The request's origin timestamp, and whether the request could be an
  // interleaved-mode one (RFC 9769: its receive and transmit fields differ and
  // its origin is not zero). Valid after prepare_response() parsed the header.
  [[nodiscard]] NtpTimestamp request_origin() const { return request_origin_; }
  [[nodiscard]] bool interleaved_candidate() const;
  [[nodiscard]] bool interleaved() const { return interleaved_transmit_.has_value(); }

 private:
  friend NtpOutcome prepare_response(ByteView, NtpTimestamp, const ServerClock&,
                                     const CookieKeyring&, RandomSource&, PendingResponse&, Reply);
  friend std::size_t complete_response(PendingResponse&, NtpTimestamp, std::span<std::uint8_t>);
  friend bool make_interleaved(PendingResponse&, NtpTimestamp);

  // The steps of prepare_response().
  void reset(std::size_t request_length);
  NtpOutcome decide(RequestKind kind, Reason reason);
  void make_rate_kiss(std::int8_t request_poll);
  NtpOutcome answer_plain(Reply reply, std::int8_t request_poll);
  NtpOutcome prepare_nts(ByteView request, const ExtensionFieldList& fields,
                         const CookieKeyring& keyring, RandomSource& random, Reply reply,
                         std::int8_t request_poll);
  NtpOutcome answer_nts(std::size_t request_length, const CookieKey& cookie_key,
                        const NtsKeys& keys, RandomSource& random, std::size_t placeholders);

  NtpOutcome outcome_;
  std::size_t request_length_ = 0;
  std::size_t response_length_ = 0;
  NtpHeader header_;                                           // all but the transmit time
  std::array<std::uint8_t, kMaxNtpPacketLength> uid_field_{};  // echoed verbatim
  std::size_t uid_field_length_ = 0;
  // The request's keys, in contexts kept from request to request and re-keyed:
  // a pair per algorithm, so that a worker opens each libgcrypt handle (GCM-SIV)
  // once, not whenever consecutive clients negotiated different AEADs.
  struct KeyedPair {
    Aead c2s = Aead::empty();
    Aead s2c = Aead::empty();
  };
  std::array<KeyedPair, kAeadAlgorithmCount> keyed_{};
  std::size_t keyed_index_ = 0;  // keyed_[keyed_index_] holds this request's keys
  std::array<std::uint8_t, kResponseNonceLength> nonce_{};
  std::size_t nonce_length_ = 0;
  // Decrypted request fields while verifying, then the new cookie fields.
  std::array<std::uint8_t, kMaxNtpPacketLength> plaintext_{};
  std::size_t plaintext_length_ = 0;
  std::size_t cookie_count_ = 0;
  // Interleaved mode (RFC 9769): the request's own origin and receive fields,
  // and, once make_interleaved() accepted it, the previous transmit timestamp.
  NtpTimestamp request_origin_;
  NtpTimestamp request_receive_;
  NtpTimestamp request_transmit_;
  std::optional<NtpTimestamp> interleaved_transmit_;
};

// The parts of an NTS Authenticator and Encrypted Extension Fields body (RFC 8915 §5.6).
struct NtsAuthenticatorParts {
  ByteView nonce;               // without its padding
  ByteView ciphertext;          // the sealed message (ciphertext and tag), without padding
  std::size_t nonce_space = 0;  // nonce + its padding + Additional Padding
};

enum class NtsAuthenticatorError : std::uint8_t {
  None,
  Malformed,       // lengths do not fit the field, or ciphertext shorter than a tag
  BadNonceLength,  // empty nonce, or nonce + padding + additional padding < min_nonce_space
};

// Splits the body of an authenticator field (the field's value, header excluded).
// min_nonce_space: N_REQ of the AEAD in use (aead_min_nonce_space()), or
// kMinNonceSpaceAnyAead before the AEAD is known.
NtsAuthenticatorError parse_nts_authenticator(ByteView body, NtsAuthenticatorParts& parts,
                                              std::size_t min_nonce_space = kMinNonceLength);

// Length of an authenticator field holding a nonce_length-byte nonce and a
// plaintext_length-byte plaintext, without additional padding.
std::size_t nts_authenticator_field_length(std::size_t nonce_length, std::size_t plaintext_length);

// The cookie inside a Cookie field's body: the field pads the cookie to a multiple
// of 4 (RFC 7822), and ours are 2 mod 4 long, so a body whose length is a padded
// cookie length is trimmed back to that cookie length; any other body is returned
// whole (open_cookie() then rejects it if it is no cookie of ours).
ByteView cookie_from_field_body(ByteView body);

// Phase one. The caller calls complete_response() only when the outcome sends
// something (sent() != Sent::Nothing).
// `reply` RateKiss turns an answer into a RATE kiss-o'-death (see Reply).
NtpOutcome prepare_response(ByteView request, NtpTimestamp receive_time, const ServerClock& clock,
                            const CookieKeyring& keyring, RandomSource& random,
                            PendingResponse& pending, Reply reply = Reply::Normal);

// Phase two: writes the response with transmit_time into out (at least as large as
// the request) and returns its length, which never exceeds the request's. Returns
// 0 and writes nothing when the outcome sends nothing or out is too small.
// Interleaved mode (RFC 9769), between the two phases: answer with the request's
// receive field as origin and `previous_transmit` (the precise transmit time of
// the response to the exchange the request's origin names, which the caller
// looked up) as transmit, but never later than this request's receive time;
// complete_response() then ignores its transmit_time.
// Only an answered request that is an interleaved candidate qualifies; returns
// false and changes nothing otherwise (NAKs and kisses stay basic).
bool make_interleaved(PendingResponse& pending, NtpTimestamp previous_transmit);

std::size_t complete_response(PendingResponse& pending, NtpTimestamp transmit_time,
                              std::span<std::uint8_t> out);

}  // namespace ntsd::core
