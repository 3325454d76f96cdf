#include "core/ntp_handler.h"

#include <algorithm>
#include <cstring>

#include "core/extension_field.h"

namespace ntsd::core {

namespace {

// RFC 5905 §7.3: a stratum of 16 (unsynchronized) or more goes on the wire as 0.
constexpr std::uint8_t kMaxStratum = 16;
constexpr std::size_t kAuthenticatorLengthsSize = 4;  // nonce length u16, ciphertext length u16

constexpr std::uint16_t type_value(ExtensionFieldType type) {
  return static_cast<std::uint16_t>(type);
}

bool is_nts_field(std::uint16_t type) {
  return type == type_value(ExtensionFieldType::UniqueIdentifier) ||
         type == type_value(ExtensionFieldType::NtsCookie) ||
         type == type_value(ExtensionFieldType::NtsCookiePlaceholder) ||
         type == type_value(ExtensionFieldType::NtsAuthenticator);
}

// What may follow the header (or the last extension field) as a legacy MAC: the
// 4-byte crypto-NAK, 20-byte MD5 and 24-byte SHA-1 MACs (RFC 5905 §7.3, RFC 7822
// §7.5), and in NTPv3 also the 12-byte DES MAC. Any other remainder that does not
// parse as fields is a malformed packet (a truncated field, say), dropped as chrony
// drops it.
bool is_legacy_mac_length(std::size_t length, std::uint8_t version) {
  return length == 4 || length == 20 || length == 24 || (version == 3 && length == 12);
}

void fill_server_header(NtpHeader& out, const NtpHeader& request, NtpTimestamp receive_time,
                        const ServerClock& clock) {
  out.leap = clock.leap;
  out.version = request.version;
  out.mode = NtpMode::Server;
  out.stratum = clock.stratum >= kMaxStratum ? 0 : clock.stratum;
  out.poll = request.poll;
  out.precision = clock.precision;
  out.root_delay = clock.root_delay;
  out.root_dispersion = clock.root_dispersion;
  out.reference_id = clock.reference_id;
  out.reference_time = clock.reference_time;
  out.origin_time = request.transmit_time;
  out.receive_time = receive_time;
  out.transmit_time = NtpTimestamp{};
}

Reason nak_reason(CookieError error) {
  switch (error) {
    case CookieError::UnknownKey:
      return Reason::UnknownCookieKey;
    case CookieError::BadTag:
      return Reason::CookieTagFailed;
    case CookieError::Malformed:
      break;
  }
  return Reason::MalformedCookie;
}

}  // namespace

std::string_view reason_name(Reason reason) {
  switch (reason) {
    case Reason::Answered:
      return "answered";
    case Reason::TooShort:
      return "too_short";
    case Reason::TooLong:
      return "too_long";
    case Reason::UnsupportedVersion:
      return "unsupported_version";
    case Reason::NotClientMode:
      return "not_client_mode";
    case Reason::MalformedExtensionField:
      return "malformed_extension_field";
    case Reason::MissingUniqueIdentifier:
      return "missing_unique_identifier";
    case Reason::ShortUniqueIdentifier:
      return "short_unique_identifier";
    case Reason::DuplicateUniqueIdentifier:
      return "duplicate_unique_identifier";
    case Reason::MissingCookie:
      return "missing_cookie";
    case Reason::MultipleCookies:
      return "multiple_cookies";
    case Reason::MissingAuthenticator:
      return "missing_authenticator";
    case Reason::MalformedAuthenticator:
      return "malformed_authenticator";
    case Reason::BadNonceLength:
      return "bad_nonce_length";
    case Reason::FieldAfterAuthenticator:
      return "field_after_authenticator";
    case Reason::BadPlaceholderLength:
      return "bad_placeholder_length";
    case Reason::MalformedCookie:
      return "malformed_cookie";
    case Reason::UnknownCookieKey:
      return "unknown_cookie_key";
    case Reason::CookieTagFailed:
      return "cookie_tag_failed";
    case Reason::AuthenticatorFailed:
      return "authenticator_failed";
    case Reason::RateLimited:
      return "rate_limited";
  }
  return "unknown";
}

bool Decision::is_nak() const {
  if (action != Action::Respond) return false;
  switch (reason) {
    case Reason::MalformedCookie:
    case Reason::UnknownCookieKey:
    case Reason::CookieTagFailed:
    case Reason::AuthenticatorFailed:
      return true;
    default:
      return false;
  }
}

NtsAuthenticatorError parse_nts_authenticator(ByteView body, NtsAuthenticatorParts& parts,
                                              std::size_t min_nonce_space) {
  if (body.size() < kAuthenticatorLengthsSize) return NtsAuthenticatorError::Malformed;
  const std::size_t nonce_length = load_be16(body.data());
  const std::size_t ciphertext_length = load_be16(body.data() + 2);
  const std::size_t available = body.size() - kAuthenticatorLengthsSize;
  if (padded_to_4(nonce_length) + padded_to_4(ciphertext_length) > available) {
    return NtsAuthenticatorError::Malformed;
  }
  if (ciphertext_length < kAeadTagLength) return NtsAuthenticatorError::Malformed;
  // The nonce, its padding and the Additional Padding all sit outside the padded
  // ciphertext; together they must reach N_REQ.
  const std::size_t nonce_space = available - padded_to_4(ciphertext_length);
  if (nonce_length == 0 || nonce_space < min_nonce_space) {
    return NtsAuthenticatorError::BadNonceLength;
  }
  parts.nonce_space = nonce_space;
  parts.nonce = body.subspan(kAuthenticatorLengthsSize, nonce_length);
  parts.ciphertext =
      body.subspan(kAuthenticatorLengthsSize + padded_to_4(nonce_length), ciphertext_length);
  return NtsAuthenticatorError::None;
}

std::size_t nts_authenticator_field_length(std::size_t nonce_length, std::size_t plaintext_length) {
  return kExtensionFieldHeaderLength + kAuthenticatorLengthsSize + padded_to_4(nonce_length) +
         padded_to_4(kAeadTagLength + plaintext_length);
}

ByteView cookie_from_field_body(ByteView body) {
  for (auto algorithm : {AeadAlgorithm::AesSivCmac256, AeadAlgorithm::AesSivCmac384,
                         AeadAlgorithm::AesSivCmac512, AeadAlgorithm::AesGcmSiv128}) {
    const std::size_t length = cookie_length(algorithm);
    if (body.size() == padded_to_4(length)) return body.first(length);
  }
  return body;
}

Decision prepare_response(ByteView request, NtpTimestamp receive_time, const ServerClock& clock,
                          const CookieKeyring& keyring, RandomSource& random,
                          PendingResponse& pending, Reply reply) {
  pending.interleaved_transmit_.reset();
  pending.request_origin_ = NtpTimestamp{};
  pending.request_receive_ = NtpTimestamp{};
  pending.request_transmit_ = NtpTimestamp{};
  pending.decision_ = Decision{};
  pending.request_length_ = request.size();
  pending.response_length_ = 0;
  pending.uid_field_length_ = 0;
  pending.nonce_length_ = 0;
  pending.plaintext_length_ = 0;
  pending.cookie_count_ = 0;

  auto decide = [&](Action action, RequestKind kind, Reason reason) {
    pending.decision_ = Decision{action, kind, reason};
    if (action == Action::Ignore) pending.response_length_ = 0;
    return pending.decision_;
  };
  auto ignore = [&](RequestKind kind, Reason reason) {
    return decide(Action::Ignore, kind, reason);
  };

  if (request.size() < kNtpHeaderLength) return ignore(RequestKind::Plain, Reason::TooShort);
  if (request.size() > kMaxNtpPacketLength) return ignore(RequestKind::Plain, Reason::TooLong);

  const NtpHeader header = *NtpHeader::parse(request);
  if (header.version != 3 && header.version != 4) {
    return ignore(RequestKind::Plain, Reason::UnsupportedVersion);
  }
  if (header.mode != NtpMode::Client) return ignore(RequestKind::Plain, Reason::NotClientMode);

  fill_server_header(pending.header_, header, receive_time, clock);
  pending.request_origin_ = header.origin_time;
  pending.request_receive_ = header.receive_time;
  pending.request_transmit_ = header.transmit_time;
  // A RATE kiss (RFC 5905 §7.4): stratum 0, the kiss code as reference id, and a
  // poll interval one step longer than the client's, as a hint.
  auto make_rate_kiss = [&]() {
    pending.header_.leap = LeapIndicator::Unsynchronized;
    pending.header_.stratum = 0;
    pending.header_.reference_id = kRefIdRateKiss;
    pending.header_.poll = static_cast<std::int8_t>(std::clamp<int>(header.poll + 1, 4, 17));
  };
  auto answer_plain = [&]() {
    pending.response_length_ = kNtpHeaderLength;
    if (reply == Reply::RateKiss) {
      make_rate_kiss();
      return decide(Action::Respond, RequestKind::Plain, Reason::RateLimited);
    }
    return decide(Action::Respond, RequestKind::Plain, Reason::Answered);
  };

  // Extension fields exist from NTPv4 on (RFC 5905 §7.5); after an NTPv3 header only
  // a MAC may follow.
  if (header.version == 3) {
    const std::size_t trailer = request.size() - kNtpHeaderLength;
    if (trailer != 0 && !is_legacy_mac_length(trailer, header.version)) {
      return ignore(RequestKind::Plain, Reason::MalformedExtensionField);
    }
    return answer_plain();
  }

  const ExtensionFieldList fields = parse_extension_fields(request, kNtpHeaderLength);
  const bool has_nts = std::any_of(fields.begin(), fields.end(),
                                   [](const ExtensionField& f) { return is_nts_field(f.type); });
  if (!fields.ok()) {
    // Plain fields (or none) followed by a legacy MAC: answered like any plain request,
    // without a MAC, as we hold no symmetric keys.
    if (!has_nts && fields.error != ExtensionFieldError::TooManyFields &&
        is_legacy_mac_length(request.size() - fields.parsed_end, header.version)) {
      return answer_plain();
    }
    return ignore(has_nts ? RequestKind::Nts : RequestKind::Plain, Reason::MalformedExtensionField);
  }
  // Fields of unknown types are ignored (RFC 7822 §3); without any NTS field the
  // request is a plain one.
  if (!has_nts) return answer_plain();

  auto ignore_nts = [&](Reason reason) { return ignore(RequestKind::Nts, reason); };

  const ExtensionField* uid = nullptr;
  const ExtensionField* cookie = nullptr;
  const ExtensionField* authenticator = nullptr;
  std::size_t uid_count = 0;
  std::size_t cookie_count = 0;
  std::size_t placeholders = 0;
  for (std::size_t i = 0; i < fields.count; ++i) {
    const ExtensionField& field = fields.fields[i];
    switch (static_cast<ExtensionFieldType>(field.type)) {
      case ExtensionFieldType::UniqueIdentifier:
        ++uid_count;
        uid = &field;
        break;
      case ExtensionFieldType::NtsCookie:
        ++cookie_count;
        cookie = &field;
        break;
      case ExtensionFieldType::NtsCookiePlaceholder:
        ++placeholders;
        break;
      case ExtensionFieldType::NtsAuthenticator:
        if (i + 1 != fields.count) return ignore_nts(Reason::FieldAfterAuthenticator);
        authenticator = &field;
        break;
      default:
        break;  // unknown fields are covered by the associated data and otherwise ignored
    }
  }
  if (uid_count == 0) return ignore_nts(Reason::MissingUniqueIdentifier);
  if (uid_count > 1) return ignore_nts(Reason::DuplicateUniqueIdentifier);
  if (uid->body.size() < kMinUniqueIdentifierLength) {
    return ignore_nts(Reason::ShortUniqueIdentifier);
  }
  if (cookie_count == 0) return ignore_nts(Reason::MissingCookie);
  if (cookie_count > 1) return ignore_nts(Reason::MultipleCookies);
  if (authenticator == nullptr) return ignore_nts(Reason::MissingAuthenticator);
  for (const ExtensionField& field : fields) {
    if (field.type == type_value(ExtensionFieldType::NtsCookiePlaceholder) &&
        field.body.size() != cookie->body.size()) {
      return ignore_nts(Reason::BadPlaceholderLength);
    }
  }
  NtsAuthenticatorParts parts;
  switch (parse_nts_authenticator(authenticator->body, parts, kMinNonceSpaceAnyAead)) {
    case NtsAuthenticatorError::None:
      break;
    case NtsAuthenticatorError::Malformed:
      return ignore_nts(Reason::MalformedAuthenticator);
    case NtsAuthenticatorError::BadNonceLength:
      return ignore_nts(Reason::BadNonceLength);
  }

  // From here on the request is well formed: failures are answered with a NAK
  // (RFC 8915 §5.7), which echoes the unique identifier and nothing else.
  std::memcpy(pending.uid_field_.data(), request.data() + uid->offset, uid->length);
  pending.uid_field_length_ = uid->length;
  auto nak = [&](Reason reason) {
    // Over the rate limit, a NAK (which costs nothing to provoke) is not sent.
    if (reply == Reply::RateKiss) return ignore_nts(reason);
    pending.header_.leap = LeapIndicator::Unsynchronized;
    pending.header_.stratum = 0;
    pending.header_.reference_id = kRefIdNtsNak;
    pending.response_length_ = kNtpHeaderLength + pending.uid_field_length_;
    return decide(Action::Respond, RequestKind::Nts, reason);
  };

  const OpenedCookie opened = open_cookie(keyring, cookie_from_field_body(cookie->body));
  if (!opened.keys) return nak(nak_reason(opened.error));
  const NtsKeys& keys = *opened.keys;
  // Now that the AEAD is known: its own N_REQ and nonce length (12 for GCM-SIV).
  if (parts.nonce_space < aead_min_nonce_space(keys.algorithm()) ||
      !aead_accepts_nonce_length(keys.algorithm(), parts.nonce.size())) {
    return ignore_nts(Reason::BadNonceLength);
  }
  Aead& s2c = pending.s2c_;
  if (!pending.c2s_.set_key(keys.algorithm(), keys.c2s()) ||
      !s2c.set_key(keys.algorithm(), keys.s2c())) {
    return nak(Reason::MalformedCookie);
  }
  pending.nonce_length_ = aead_nonce_length(keys.algorithm());

  const std::size_t decrypted_length = parts.ciphertext.size() - kAeadTagLength;
  if (!pending.c2s_.open(parts.nonce, request.first(authenticator->offset), parts.ciphertext,
                         pending.plaintext_.data())) {
    return nak(Reason::AuthenticatorFailed);
  }

  // Over the rate limit: an authenticated RATE kiss, the UID echoed, no cookies
  // (the client keeps the one it used; RFC 8915 §5.7 asks it to discard only
  // cookies it sent), shorter than the request.
  if (reply == Reply::RateKiss) {
    make_rate_kiss();
    pending.plaintext_length_ = 0;
    pending.cookie_count_ = 0;
    random.fill(std::span(pending.nonce_).first(pending.nonce_length_));
    pending.response_length_ = kNtpHeaderLength + pending.uid_field_length_ +
                               nts_authenticator_field_length(pending.nonce_length_, 0);
    // Never longer than the request (it cannot be: the request also carries a
    // cookie and an authenticator at least as long as ours).
    if (pending.response_length_ > request.size()) return ignore_nts(Reason::RateLimited);
    return decide(Action::Respond, RequestKind::Nts, Reason::RateLimited);
  }

  // Encrypted extension fields: count the placeholders among them, ignore the rest.
  {
    const ExtensionFieldList encrypted =
        parse_extension_fields(ByteView(pending.plaintext_.data(), decrypted_length), 0);
    if (!encrypted.ok()) return ignore_nts(Reason::MalformedExtensionField);
    for (const ExtensionField& field : encrypted) {
      if (field.type != type_value(ExtensionFieldType::NtsCookiePlaceholder)) continue;
      if (field.body.size() != cookie->body.size()) {
        return ignore_nts(Reason::BadPlaceholderLength);
      }
      ++placeholders;
    }
  }

  // As many new cookies as asked for, up to 8, and as fit in a response no longer
  // than the request.
  const std::size_t new_cookie_length = cookie_length(keys.algorithm());
  const std::size_t cookie_field_length = extension_field_length(new_cookie_length);
  const std::size_t fixed_length = kNtpHeaderLength + pending.uid_field_length_ +
                                   nts_authenticator_field_length(pending.nonce_length_, 0);
  if (fixed_length > request.size()) {
    // Unreachable for a request that passed the checks above (its cookie and
    // authenticator alone outweigh an empty response authenticator); kept so that
    // the length promise never rests on that argument.
    return ignore_nts(Reason::MalformedAuthenticator);
  }
  std::size_t count = std::min(kMaxCookiesPerResponse, 1 + placeholders);
  while (count > 0 && fixed_length + count * cookie_field_length > request.size()) --count;
  count = std::min(count, pending.plaintext_.size() / cookie_field_length);

  std::size_t offset = 0;
  for (std::size_t i = 0; i < count; ++i) {
    std::uint8_t* field = pending.plaintext_.data() + offset;
    store_be16(field, type_value(ExtensionFieldType::NtsCookie));
    store_be16(field + 2, static_cast<std::uint16_t>(cookie_field_length));
    seal_cookie(keyring.current(), keys, random,
                std::span<std::uint8_t>(field + kExtensionFieldHeaderLength, new_cookie_length));
    std::memset(field + kExtensionFieldHeaderLength + new_cookie_length, 0,
                cookie_field_length - kExtensionFieldHeaderLength - new_cookie_length);
    offset += cookie_field_length;
  }
  pending.plaintext_length_ = offset;
  pending.cookie_count_ = count;
  random.fill(std::span(pending.nonce_).first(pending.nonce_length_));
  // Pad the authenticator so that the response is exactly as long as the request,
  // as chrony does: both lengths are multiples of 4 (every field is).
  pending.response_length_ = request.size();
  return decide(Action::Respond, RequestKind::Nts, Reason::Answered);
}

bool PendingResponse::interleaved_candidate() const {
  return request_origin_.raw != 0 && request_receive_ != request_transmit_;
}

bool make_interleaved(PendingResponse& pending, NtpTimestamp previous_transmit) {
  const Decision& decision = pending.decision_;
  if (decision.action != Action::Respond || decision.reason != Reason::Answered ||
      !pending.interleaved_candidate()) {
    return false;
  }
  pending.interleaved_transmit_ = previous_transmit;
  return true;
}

std::size_t complete_response(PendingResponse& pending, NtpTimestamp transmit_time,
                              std::span<std::uint8_t> out) {
  const Decision& decision = pending.decision_;
  const std::size_t length = pending.response_length_;
  if (decision.action != Action::Respond || length == 0 || out.size() < length) return 0;

  NtpHeader header = pending.header_;
  header.transmit_time = transmit_time;
  if (pending.interleaved_transmit_) {
    header.origin_time = pending.request_receive_;
    header.transmit_time = *pending.interleaved_transmit_;
  }
  header.write(out.data());
  std::size_t offset = kNtpHeaderLength;
  if (decision.kind == RequestKind::Nts) {
    std::memcpy(out.data() + offset, pending.uid_field_.data(), pending.uid_field_length_);
    offset += pending.uid_field_length_;
  }
  if (decision.kind == RequestKind::Nts &&
      (decision.reason == Reason::Answered || decision.reason == Reason::RateLimited)) {
    std::uint8_t* field = out.data() + offset;
    const std::size_t field_length = length - offset;
    const std::size_t ciphertext_length = kAeadTagLength + pending.plaintext_length_;
    store_be16(field, type_value(ExtensionFieldType::NtsAuthenticator));
    store_be16(field + 2, static_cast<std::uint16_t>(field_length));
    const std::size_t nonce_length = pending.nonce_length_;  // 16 or 12: already padded
    store_be16(field + 4, static_cast<std::uint16_t>(nonce_length));
    store_be16(field + 6, static_cast<std::uint16_t>(ciphertext_length));
    std::uint8_t* nonce = field + kExtensionFieldHeaderLength + kAuthenticatorLengthsSize;
    std::memcpy(nonce, pending.nonce_.data(), nonce_length);
    std::uint8_t* ciphertext = nonce + nonce_length;
    pending.s2c_.seal(ByteView(pending.nonce_.data(), nonce_length), ByteView(out.data(), offset),
                      ByteView(pending.plaintext_.data(), pending.plaintext_length_), ciphertext);
    const std::size_t used = static_cast<std::size_t>(ciphertext - field) + ciphertext_length;
    std::memset(field + used, 0, field_length - used);
  }
  return length;
}

}  // namespace ntsd::core
