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

// The NTS fields of a request (RFC 8915 §5.7), found and checked by find_nts_fields().
struct NtsFields {
  const ExtensionField* uid = nullptr;
  const ExtensionField* cookie = nullptr;
  const ExtensionField* authenticator = nullptr;
  std::size_t placeholders = 0;
  NtsAuthenticatorParts parts;
};

// Fills `out` from a request's fields; the reason to drop it if they are not
// those of a well-formed NTS request.
std::optional<Reason> find_nts_fields(const ExtensionFieldList& fields, NtsFields& out) {
  std::size_t uid_count = 0;
  std::size_t cookie_count = 0;
  for (std::size_t i = 0; i < fields.count; ++i) {
    const ExtensionField& field = fields.fields[i];
    switch (static_cast<ExtensionFieldType>(field.type)) {
      case ExtensionFieldType::UniqueIdentifier:
        ++uid_count;
        out.uid = &field;
        break;
      case ExtensionFieldType::NtsCookie:
        ++cookie_count;
        out.cookie = &field;
        break;
      case ExtensionFieldType::NtsCookiePlaceholder:
        ++out.placeholders;
        break;
      case ExtensionFieldType::NtsAuthenticator:
        if (i + 1 != fields.count) return Reason::FieldAfterAuthenticator;
        out.authenticator = &field;
        break;
      default:
        break;  // unknown fields are covered by the associated data and otherwise ignored
    }
  }
  if (uid_count == 0) return Reason::MissingUniqueIdentifier;
  if (uid_count > 1) return Reason::DuplicateUniqueIdentifier;
  if (out.uid->body.size() < kMinUniqueIdentifierLength) return Reason::ShortUniqueIdentifier;
  if (cookie_count == 0) return Reason::MissingCookie;
  if (cookie_count > 1) return Reason::MultipleCookies;
  if (out.authenticator == nullptr) return Reason::MissingAuthenticator;
  for (const ExtensionField& field : fields) {
    if (field.type == type_value(ExtensionFieldType::NtsCookiePlaceholder) &&
        field.body.size() != out.cookie->body.size()) {
      return Reason::BadPlaceholderLength;
    }
  }
  // The AEAD (and with it N_REQ) is known only once the cookie opens: the least any
  // of ours needs here, the AEAD's own in prepare_nts().
  switch (parse_nts_authenticator(out.authenticator->body, out.parts, kMinNonceSpaceAnyAead)) {
    case NtsAuthenticatorError::None:
      return std::nullopt;
    case NtsAuthenticatorError::Malformed:
      return Reason::MalformedAuthenticator;
    case NtsAuthenticatorError::BadNonceLength:
      return Reason::BadNonceLength;
  }
  return Reason::MalformedAuthenticator;
}

// Encrypted extension fields: adds the placeholders among them to `placeholders`
// and ignores the rest; the reason to drop the request if they do not parse.
std::optional<Reason> count_encrypted_placeholders(ByteView decrypted,
                                                   std::size_t cookie_body_length,
                                                   std::size_t& placeholders) {
  const ExtensionFieldList encrypted = parse_extension_fields(decrypted, 0);
  if (!encrypted.ok()) return Reason::MalformedExtensionField;
  for (const ExtensionField& field : encrypted) {
    if (field.type != type_value(ExtensionFieldType::NtsCookiePlaceholder)) continue;
    if (field.body.size() != cookie_body_length) return Reason::BadPlaceholderLength;
    ++placeholders;
  }
  return std::nullopt;
}

}  // namespace

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

NtpOutcome PendingResponse::decide(RequestKind kind, Reason reason) {
  outcome_ = NtpOutcome{kind, reason};
  if (outcome_.sent() == Sent::Nothing) response_length_ = 0;
  return outcome_;
}

void PendingResponse::reset(std::size_t request_length) {
  interleaved_transmit_.reset();
  request_origin_ = NtpTimestamp{};
  request_receive_ = NtpTimestamp{};
  request_transmit_ = NtpTimestamp{};
  outcome_ = NtpOutcome{};
  request_length_ = request_length;
  response_length_ = 0;
  uid_field_length_ = 0;
  nonce_length_ = 0;
  plaintext_length_ = 0;
  cookie_count_ = 0;
}

// A RATE kiss (RFC 5905 §7.4): stratum 0, the kiss code as reference id, and a
// poll interval one step longer than the client's, as a hint.
void PendingResponse::make_rate_kiss(std::int8_t request_poll) {
  header_.leap = LeapIndicator::Unsynchronized;
  header_.stratum = 0;
  header_.reference_id = kRefIdRateKiss;
  header_.poll = static_cast<std::int8_t>(std::clamp<int>(request_poll + 1, 4, 17));
}

NtpOutcome PendingResponse::answer_plain(Reply reply, std::int8_t request_poll) {
  response_length_ = kNtpHeaderLength;
  if (reply == Reply::RateKiss) {
    make_rate_kiss(request_poll);
    return decide(RequestKind::Plain, Reason::RateLimited);
  }
  return decide(RequestKind::Plain, Reason::Answered);
}

NtpOutcome prepare_response(ByteView request, NtpTimestamp receive_time, const ServerClock& clock,
                            const CookieKeyring& keyring, RandomSource& random,
                            PendingResponse& pending, Reply reply) {
  pending.reset(request.size());
  auto ignore = [&](RequestKind kind, Reason reason) { return pending.decide(kind, reason); };

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

  // Extension fields exist from NTPv4 on (RFC 5905 §7.5); after an NTPv3 header only
  // a MAC may follow.
  if (header.version == 3) {
    const std::size_t trailer = request.size() - kNtpHeaderLength;
    if (trailer != 0 && !is_legacy_mac_length(trailer, header.version)) {
      return ignore(RequestKind::Plain, Reason::MalformedExtensionField);
    }
    return pending.answer_plain(reply, header.poll);
  }

  const ExtensionFieldList fields = parse_extension_fields(request, kNtpHeaderLength);
  const bool has_nts = std::any_of(fields.begin(), fields.end(),
                                   [](const ExtensionField& f) { return is_nts_field(f.type); });
  if (!fields.ok()) {
    // Plain fields (or none) followed by a legacy MAC: answered like any plain request,
    // without a MAC, as we hold no symmetric keys.
    if (!has_nts && fields.error != ExtensionFieldError::TooManyFields &&
        is_legacy_mac_length(request.size() - fields.parsed_end, header.version)) {
      return pending.answer_plain(reply, header.poll);
    }
    return ignore(has_nts ? RequestKind::Nts : RequestKind::Plain, Reason::MalformedExtensionField);
  }
  // Fields of unknown types are ignored (RFC 7822 §3); without any NTS field the
  // request is a plain one.
  if (!has_nts) return pending.answer_plain(reply, header.poll);
  return pending.prepare_nts(request, fields, keyring, random, reply, header.poll);
}

NtpOutcome PendingResponse::prepare_nts(ByteView request, const ExtensionFieldList& fields,
                                        const CookieKeyring& keyring, RandomSource& random,
                                        Reply reply, std::int8_t request_poll) {
  NtsFields nts;
  if (auto drop = find_nts_fields(fields, nts)) return decide(RequestKind::Nts, *drop);

  // From here on the request is well formed: failures are answered with a NAK
  // (RFC 8915 §5.7), which echoes the unique identifier and nothing else.
  std::memcpy(uid_field_.data(), request.data() + nts.uid->offset, nts.uid->length);
  uid_field_length_ = nts.uid->length;
  auto nak = [&](Reason reason) {
    // Over the rate limit, a NAK (which costs nothing to provoke) is not sent.
    if (reply == Reply::RateKiss) return decide(RequestKind::Nts, Reason::RateLimitedDrop);
    header_.leap = LeapIndicator::Unsynchronized;
    header_.stratum = 0;
    header_.reference_id = kRefIdNtsNak;
    response_length_ = kNtpHeaderLength + uid_field_length_;
    return decide(RequestKind::Nts, reason);
  };

  const OpenedCookie opened = open_cookie(keyring, cookie_from_field_body(nts.cookie->body));
  if (!opened.keys) return nak(nak_reason(opened.error));
  const NtsKeys& keys = *opened.keys;
  // Now that the AEAD is known: its own N_REQ and nonce length (12 for GCM-SIV).
  if (nts.parts.nonce_space < aead_min_nonce_space(keys.algorithm()) ||
      !aead_accepts_nonce_length(keys.algorithm(), nts.parts.nonce.size())) {
    return decide(RequestKind::Nts, Reason::BadNonceLength);
  }
  keyed_index_ = aead_index(keys.algorithm());
  KeyedPair& keyed = keyed_[keyed_index_];
  if (!keyed.c2s.set_key(keys.algorithm(), keys.c2s()) ||
      !keyed.s2c.set_key(keys.algorithm(), keys.s2c())) {
    return nak(Reason::MalformedCookie);
  }
  nonce_length_ = aead_nonce_length(keys.algorithm());
  if (!keyed.c2s.open(nts.parts.nonce, request.first(nts.authenticator->offset),
                      nts.parts.ciphertext, plaintext_.data())) {
    return nak(Reason::AuthenticatorFailed);
  }

  // Over the rate limit: an authenticated RATE kiss, the UID echoed, no cookies
  // (the client keeps the one it used; RFC 8915 §5.7 asks it to discard only
  // cookies it sent), shorter than the request.
  if (reply == Reply::RateKiss) {
    make_rate_kiss(request_poll);
    random.fill(std::span(nonce_).first(nonce_length_));
    response_length_ =
        kNtpHeaderLength + uid_field_length_ + nts_authenticator_field_length(nonce_length_, 0);
    // Never longer than the request (it cannot be: the request also carries a
    // cookie and an authenticator at least as long as ours).
    if (response_length_ > request.size()) return decide(RequestKind::Nts, Reason::RateLimitedDrop);
    return decide(RequestKind::Nts, Reason::RateLimited);
  }

  const ByteView decrypted(plaintext_.data(), nts.parts.ciphertext.size() - kAeadTagLength);
  if (auto drop =
          count_encrypted_placeholders(decrypted, nts.cookie->body.size(), nts.placeholders)) {
    return decide(RequestKind::Nts, *drop);
  }
  return answer_nts(request.size(), keyring.current(), keys, random, nts.placeholders);
}

NtpOutcome PendingResponse::answer_nts(std::size_t request_length, const CookieKey& cookie_key,
                                       const NtsKeys& keys, RandomSource& random,
                                       std::size_t placeholders) {
  // As many new cookies as asked for, up to 8, and as fit in a response no longer
  // than the request.
  const std::size_t new_cookie_length = cookie_length(keys.algorithm());
  const std::size_t cookie_field_length = extension_field_length(new_cookie_length);
  const std::size_t fixed_length =
      kNtpHeaderLength + uid_field_length_ + nts_authenticator_field_length(nonce_length_, 0);
  if (fixed_length > request_length) {
    // Unreachable for a request that passed the checks above (its cookie and
    // authenticator alone outweigh an empty response authenticator); kept so that
    // the length promise never rests on that argument.
    return decide(RequestKind::Nts, Reason::MalformedAuthenticator);
  }
  std::size_t count = std::min(kMaxCookiesPerResponse, 1 + placeholders);
  while (count > 0 && fixed_length + count * cookie_field_length > request_length) --count;
  count = std::min(count, plaintext_.size() / cookie_field_length);

  std::size_t offset = 0;
  for (std::size_t i = 0; i < count; ++i) {
    std::uint8_t* field = plaintext_.data() + offset;
    store_be16(field, type_value(ExtensionFieldType::NtsCookie));
    store_be16(field + 2, static_cast<std::uint16_t>(cookie_field_length));
    seal_cookie(cookie_key, keys, random,
                std::span<std::uint8_t>(field + kExtensionFieldHeaderLength, new_cookie_length));
    std::memset(field + kExtensionFieldHeaderLength + new_cookie_length, 0,
                cookie_field_length - kExtensionFieldHeaderLength - new_cookie_length);
    offset += cookie_field_length;
  }
  plaintext_length_ = offset;
  cookie_count_ = count;
  random.fill(std::span(nonce_).first(nonce_length_));
  // Pad the authenticator so that the response is exactly as long as the request,
  // as chrony does: both lengths are multiples of 4 (every field is).
  response_length_ = request_length;
  return decide(RequestKind::Nts, Reason::Answered);
}

bool PendingResponse::interleaved_candidate() const {
  return request_origin_.raw != 0 && request_receive_ != request_transmit_;
}

bool make_interleaved(PendingResponse& pending, NtpTimestamp previous_transmit) {
  if (pending.outcome_.reason != Reason::Answered || !pending.interleaved_candidate()) {
    return false;
  }
  // The previous response left before this request, which names it, arrived.
  // A saved transmit time later than that is the compensated estimate of a
  // response whose kernel timestamp never came: this receive time is nearer.
  const NtpTimestamp receive = pending.header_.receive_time;
  const bool after_receive = units_between(receive, previous_transmit) > 0;
  pending.interleaved_transmit_ = after_receive ? receive : previous_transmit;
  return true;
}

std::size_t complete_response(PendingResponse& pending, NtpTimestamp transmit_time,
                              std::span<std::uint8_t> out) {
  const NtpOutcome& outcome = pending.outcome_;
  const std::size_t length = pending.response_length_;
  if (outcome.sent() == Sent::Nothing || length == 0 || out.size() < length) return 0;

  NtpHeader header = pending.header_;
  header.transmit_time = transmit_time;
  if (pending.interleaved_transmit_) {
    header.origin_time = pending.request_receive_;
    header.transmit_time = *pending.interleaved_transmit_;
  }
  header.write(out.data());
  std::size_t offset = kNtpHeaderLength;
  if (outcome.kind == RequestKind::Nts) {
    std::memcpy(out.data() + offset, pending.uid_field_.data(), pending.uid_field_length_);
    offset += pending.uid_field_length_;
  }
  if (outcome.kind == RequestKind::Nts && outcome.sent() != Sent::Nak) {
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
    pending.keyed_[pending.keyed_index_].s2c.seal(
        ByteView(pending.nonce_.data(), nonce_length), ByteView(out.data(), offset),
        ByteView(pending.plaintext_.data(), pending.plaintext_length_), ciphertext);
    const std::size_t used = static_cast<std::size_t>(ciphertext - field) + ciphertext_length;
    std::memset(field + used, 0, field_length - used);
  }
  return length;
}

}  // namespace ntsd::core
