// Shared by the libFuzzer targets and the seed generator (make_seeds.cpp): fixed keys,
// a reproducible RandomSource, the decoding of structured fuzz inputs, and the
// FUZZ_CHECK assertion. Everything here is deterministic, so a crashing input
// replays the same way anywhere.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <vector>

#include "core/aead.h"
#include "core/bytes.h"
#include "core/cookie.h"
#include "core/extension_field.h"
#include "core/ntp_handler.h"
#include "core/ntp_packet.h"
#include "core/nts_client_codec.h"
#include "core/nts_keys.h"
#include "core/random.h"
#include "support/deterministic_random.h"
#include "support/ntp_packets.h"

// An invariant of the code under test: abort (libFuzzer reports a crash and keeps
// the input) with the failed expression. Active in every build type.
#define FUZZ_CHECK(condition)                                                                 \
  do {                                                                                        \
    if (!(condition)) {                                                                       \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                           \
    }                                                                                         \
  } while (false)

namespace ntsd::fuzz {

using core::AeadAlgorithm;
using core::Bytes;
using core::ByteView;

inline constexpr std::array<AeadAlgorithm, 3> kAllAeads = {
    AeadAlgorithm::AesSivCmac256, AeadAlgorithm::AesSivCmac384, AeadAlgorithm::AesSivCmac512};

// Cookie master keys: id 1 is current, id 2 an older one still accepted. Id 99 is a
// key the keyring does not hold (cookies sealed with it must be refused as unknown).
inline constexpr core::CookieKeyId kCurrentKeyId{1};
inline constexpr core::CookieKeyId kOldKeyId{2};
inline constexpr core::CookieKeyId kUnknownKeyId{99};

using test_support::DeterministicRandom;
using test_support::kClientTx;
using test_support::kServerRx;
using test_support::kServerTx;
using test_support::pattern;

inline core::CookieKey make_cookie_key(core::CookieKeyId id, std::uint8_t seed) {
  auto key = core::CookieKey::create(id, pattern(core::aead_key_length(core::kCookieAead), seed));
  FUZZ_CHECK(key.has_value());
  return std::move(*key);
}

// The server's keyring: current (id 1) and old (id 2).
inline const core::StaticCookieKeyring& keyring() {
  static const core::StaticCookieKeyring ring = [] {
    std::vector<core::CookieKey> keys;
    keys.push_back(make_cookie_key(kCurrentKeyId, 0x11));
    keys.push_back(make_cookie_key(kOldKeyId, 0x22));
    return core::StaticCookieKeyring(std::move(keys));
  }();
  return ring;
}

// A master key outside the keyring.
inline const core::CookieKey& unknown_key() {
  static const core::CookieKey key = make_cookie_key(kUnknownKeyId, 0x33);
  return key;
}

// Which master key seals a structured input's cookie.
enum class KeyChoice : std::uint8_t { Current, Old, Unknown };

inline KeyChoice key_choice_from(std::uint8_t byte) {
  switch (byte % 4) {
    case 2:
      return KeyChoice::Old;
    case 3:
      return KeyChoice::Unknown;
    default:
      return KeyChoice::Current;
  }
}

inline const core::CookieKey& cookie_key(KeyChoice choice) {
  switch (choice) {
    case KeyChoice::Old:
      return *keyring().find(kOldKeyId);
    case KeyChoice::Unknown:
      return unknown_key();
    case KeyChoice::Current:
      break;
  }
  return keyring().current();
}

inline AeadAlgorithm aead_from(std::uint8_t byte) { return kAllAeads[byte % kAllAeads.size()]; }

// The C2S/S2C keys a client holds after NTS-KE, fixed per algorithm.
inline const core::NtsKeys& session_keys(AeadAlgorithm algorithm) {
  static const std::array<core::NtsKeys, 3> keys = [] {
    std::array<core::NtsKeys, 3> out;
    for (std::size_t i = 0; i < kAllAeads.size(); ++i) {
      const std::size_t length = core::aead_key_length(kAllAeads[i]);
      const auto seed = static_cast<std::uint8_t>(0x40 + 16 * i);
      auto created = core::NtsKeys::create(kAllAeads[i], pattern(length, seed),
                                           pattern(length, static_cast<std::uint8_t>(seed + 1)));
      FUZZ_CHECK(created.has_value());
      out[i] = *created;
    }
    return out;
  }();
  for (std::size_t i = 0; i < kAllAeads.size(); ++i) {
    if (kAllAeads[i] == algorithm) return keys[i];
  }
  std::abort();
}

inline core::Aead make_aead(AeadAlgorithm algorithm, ByteView key) {
  auto aead = core::Aead::create(algorithm, key);
  FUZZ_CHECK(aead.has_value());
  return std::move(*aead);
}

inline bool same_keys(const core::NtsKeys& a, const core::NtsKeys& b) {
  return a.algorithm() == b.algorithm() && std::ranges::equal(a.c2s(), b.c2s()) &&
         std::ranges::equal(a.s2c(), b.s2c());
}

inline Bytes seal_cookie_for(AeadAlgorithm algorithm, KeyChoice choice, std::uint64_t seed) {
  DeterministicRandom random(seed);
  Bytes cookie(core::cookie_length(algorithm));
  core::seal_cookie(cookie_key(choice), session_keys(algorithm), random, cookie);
  return cookie;
}

inline core::ServerClock server_clock() {
  core::ServerClock clock;
  clock.leap = core::LeapIndicator::NoWarning;
  clock.stratum = 2;
  clock.precision = -23;
  clock.root_delay = core::NtpShort{0x00000123};
  clock.root_dispersion = core::NtpShort{0x00000456};
  clock.reference_id = {192, 0, 2, 1};
  clock.reference_time = core::NtpTimestamp{0xE98CA70000000000ULL};
  return clock;
}

// Reads a structured input front to back; past the end every read yields zeros.
class InputReader {
 public:
  explicit InputReader(ByteView in) : in_(in) {}
  std::uint8_t u8() { return pos_ < in_.size() ? in_[pos_++] : 0; }
  std::uint16_t u16() {
    const auto hi = u8();
    return static_cast<std::uint16_t>((hi << 8) | u8());
  }
  ByteView rest() {
    ByteView out = in_.subspan(std::min(pos_, in_.size()));
    pos_ = in_.size();
    return out;
  }

 private:
  ByteView in_;
  std::size_t pos_ = 0;
};

// Mutation program: 3 bytes per step, offset (u16, taken modulo the current size) and
// a value; a non-zero value is XORed into the byte at the offset, a zero value cuts
// the message at the offset. Returns whether the message differs from what it was.
inline bool apply_mutations(Bytes& message, ByteView program) {
  const Bytes original = message;
  for (std::size_t i = 0; i + 3 <= program.size() && !message.empty(); i += 3) {
    const std::size_t offset =
        static_cast<std::size_t>((program[i] << 8) | program[i + 1]) % message.size();
    const std::uint8_t value = program[i + 2];
    if (value == 0) {
      message.resize(offset);
    } else {
      message[offset] ^= value;
    }
  }
  return message != original;
}

// ---------------------------------------------------------------------------------
// Structured NTS requests, shared by fuzz_ntp_server_decision and make_seeds.

// Length of an authenticator field with this nonce, plaintext and Additional Padding.
inline std::size_t authenticator_field_length(std::size_t nonce_length,
                                              std::size_t plaintext_length,
                                              std::size_t additional_padding) {
  return core::nts_authenticator_field_length(nonce_length, plaintext_length) + additional_padding;
}

// Appends an authenticator field (nonce length, ciphertext length, the nonce
// pattern(nonce_length, 0x99) padded, tag ‖ ciphertext padded, Additional Padding)
// sealing all of `p` before it; the caller checked that it fits in a field.
inline void append_sealed_authenticator(Bytes& p, const core::Aead& sealer,
                                        std::size_t nonce_length, std::size_t additional_padding,
                                        ByteView plaintext) {
  const std::size_t ciphertext_length = core::kAeadTagLength + plaintext.size();
  const std::size_t field_length =
      authenticator_field_length(nonce_length, plaintext.size(), additional_padding);
  const std::size_t ad_length = p.size();
  p.resize(ad_length + field_length, 0);
  std::uint8_t* field = p.data() + ad_length;
  core::store_be16(field, static_cast<std::uint16_t>(core::ExtensionFieldType::NtsAuthenticator));
  core::store_be16(field + 2, static_cast<std::uint16_t>(field_length));
  core::store_be16(field + 4, static_cast<std::uint16_t>(nonce_length));
  core::store_be16(field + 6, static_cast<std::uint16_t>(ciphertext_length));
  const Bytes nonce = pattern(nonce_length, 0x99);
  std::copy(nonce.begin(), nonce.end(), field + 8);
  sealer.seal(nonce, ByteView(p.data(), ad_length), plaintext,
              field + 8 + core::padded_to_4(nonce_length));
}

// Mode 1: build_nts_request() with a cookie sealed by our keyring (or an unknown key),
// then the mutation program.
//   u8 algorithm (% 3), u8 key choice (% 4: 0,1 current, 2 old, 3 unknown),
//   u8 placeholders (% 10), rest: mutation program.
struct BuiltRequest {
  Bytes packet;
  AeadAlgorithm algorithm = AeadAlgorithm::AesSivCmac256;
  KeyChoice key = KeyChoice::Current;
  std::size_t placeholders = 0;  // clear plus encrypted
  bool mutated = false;
  // Mode 2 only: whether every choice made the request one the server must answer
  // (it may still be too long, or its encrypted fields malformed; see below).
  bool well_formed = true;
  bool encrypted_fields_ok = true;  // the plaintext parses as extension fields
  bool encrypted_placeholders_ok = true;
  bool cookie_truncated = false;  // not a cookie length: the cookie is Malformed
  bool cookie_corrupted = false;  // its tag does not verify
};

inline BuiltRequest build_mode1_request(ByteView params) {
  InputReader in(params);
  BuiltRequest out;
  out.algorithm = aead_from(in.u8());
  out.key = key_choice_from(in.u8());
  out.placeholders = in.u8() % 10;
  const Bytes cookie = seal_cookie_for(out.algorithm, out.key, 7);
  const core::Aead c2s = make_aead(out.algorithm, session_keys(out.algorithm).c2s());
  DeterministicRandom random(11);
  out.packet = core::build_nts_request(c2s, cookie, out.placeholders, kClientTx, random).packet;
  out.mutated = apply_mutations(out.packet, in.rest());
  return out;
}

// Mode 2: a request assembled field by field, so that fuzzer bytes reach the
// encrypted extension fields (only reachable behind a valid authenticator), odd nonce
// and padding lengths, unknown and misplaced fields.
//   u8 algorithm, u8 key choice,
//   u8 unique identifier body length (% 96; < 32 is too short),
//   u8 clear placeholders (% 10), u8 placeholder shape (% 8 == 0: 4 bytes too long),
//   u8 layout flags: bit 0 unknown field before the UID, bit 1 unknown field between
//                    cookie and authenticator, bit 2 unknown field after the
//                    authenticator, bit 3 a second UID, bit 4 a second cookie,
//                    bit 5 the cookie cut by 4 bytes (no cookie length: MalformedCookie),
//                    bit 6 a bit of the cookie's tag flipped (CookieTagFailed),
//   u8 nonce length (1 + % 32), u8 additional padding (% 8, in 4-byte words),
//   rest: the plaintext of the encrypted extension fields.
inline BuiltRequest build_mode2_request(ByteView params) {
  using core::ExtensionFieldType;
  InputReader in(params);
  BuiltRequest out;
  out.algorithm = aead_from(in.u8());
  out.key = key_choice_from(in.u8());
  const std::size_t uid_length = in.u8() % 96;
  const std::size_t clear_placeholders = in.u8() % 10;
  const bool placeholder_too_long = in.u8() % 8 == 0;
  const std::uint8_t layout = in.u8();
  const std::size_t nonce_length = 1 + in.u8() % 32;
  const std::size_t additional_padding = 4 * (in.u8() % 8);
  const ByteView plaintext = in.rest();

  Bytes cookie = seal_cookie_for(out.algorithm, out.key, 7);
  if (layout & 0x20) cookie.resize(cookie.size() - 4);
  if (layout & 0x40) cookie[core::kCookieKeyIdLength + core::kCookieNonceLength] ^= 0x01;
  out.cookie_truncated = (layout & 0x20) != 0;
  out.cookie_corrupted = (layout & 0x40) != 0;
  const core::Aead c2s = make_aead(out.algorithm, session_keys(out.algorithm).c2s());
  const Bytes uid = pattern(uid_length, 0x5a);
  const Bytes unknown_body = pattern(20, 0x77);
  constexpr auto kUnknownType = static_cast<ExtensionFieldType>(0x2005);

  Bytes& p = out.packet;
  p.resize(core::kNtpHeaderLength);
  core::NtpHeader header;
  header.version = 4;
  header.mode = core::NtpMode::Client;
  header.transmit_time = kClientTx;
  header.write(p.data());
  if (layout & 0x01) core::append_extension_field(p, kUnknownType, unknown_body);
  core::append_extension_field(p, ExtensionFieldType::UniqueIdentifier, uid);
  if (layout & 0x08) core::append_extension_field(p, ExtensionFieldType::UniqueIdentifier, uid);
  core::append_extension_field(p, ExtensionFieldType::NtsCookie, cookie);
  if (layout & 0x10) core::append_extension_field(p, ExtensionFieldType::NtsCookie, cookie);
  const Bytes placeholder(cookie.size() + (placeholder_too_long ? 4 : 0), 0);
  for (std::size_t i = 0; i < clear_placeholders; ++i) {
    core::append_extension_field(p, ExtensionFieldType::NtsCookiePlaceholder, placeholder);
  }
  if (layout & 0x02) core::append_extension_field(p, kUnknownType, unknown_body);

  const bool fits =
      authenticator_field_length(nonce_length, plaintext.size(), additional_padding) <=
      core::kMaxExtensionFieldLength;
  if (fits) append_sealed_authenticator(p, c2s, nonce_length, additional_padding, plaintext);
  if (layout & 0x04) core::append_extension_field(p, kUnknownType, unknown_body);

  // What the server must make of it (checked by the target when well_formed).
  out.well_formed = fits && uid_length >= core::kMinUniqueIdentifierLength &&
                    !placeholder_too_long && (layout & 0x1c) == 0 &&
                    core::padded_to_4(nonce_length) + additional_padding >= core::kMinNonceLength;
  // The cookie field's body is the cookie padded to 4: placeholders must match that.
  const std::size_t cookie_body = core::padded_to_4(cookie.size());
  std::size_t encrypted_placeholders = 0;
  const core::ExtensionFieldList encrypted = core::parse_extension_fields(plaintext, 0);
  out.encrypted_fields_ok = encrypted.ok();
  for (const core::ExtensionField& field : encrypted) {
    if (field.type != static_cast<std::uint16_t>(ExtensionFieldType::NtsCookiePlaceholder)) {
      continue;
    }
    if (field.body.size() != cookie_body) out.encrypted_placeholders_ok = false;
    ++encrypted_placeholders;
  }
  out.placeholders = clear_placeholders + encrypted_placeholders;
  return out;
}

// The unique identifier body of a request or response, if it has exactly one.
inline std::optional<ByteView> unique_identifier_body(ByteView packet) {
  const core::ExtensionFieldList fields =
      core::parse_extension_fields(packet, core::kNtpHeaderLength);
  std::optional<ByteView> uid;
  for (const core::ExtensionField& field : fields) {
    if (field.type != static_cast<std::uint16_t>(core::ExtensionFieldType::UniqueIdentifier)) {
      continue;
    }
    if (uid) return std::nullopt;
    uid = field.body;
  }
  return uid;
}

// ---------------------------------------------------------------------------------
// The client request fuzz_nts_response_client checks responses against: built from a
// fixed seed, so its unique identifier and transmit time do not depend on the number
// of placeholders or the algorithm.
inline core::NtsRequest client_request(AeadAlgorithm algorithm, std::size_t placeholders) {
  const Bytes cookie = seal_cookie_for(algorithm, KeyChoice::Current, 7);
  const core::Aead c2s = make_aead(algorithm, session_keys(algorithm).c2s());
  DeterministicRandom random(13);
  return core::build_nts_request(c2s, cookie, placeholders, kClientTx, random);
}

}  // namespace ntsd::fuzz
