// The NTP packet parsers: NtpHeader::parse(), parse_extension_fields(),
// parse_nts_authenticator() and cookie_from_field_body().
//
// Input: a packet as received (either direction).
//
// Checked:
//   - the header parses exactly when there are 48 bytes, and write() gives back
//     exactly those 48 bytes;
//   - extension fields (from 48, as in a packet, and from 0, as in decrypted
//     plaintext) tile the packet from the start without gaps or overlap, each at least
//     16 bytes and a multiple of 4, at most 32 of them; parsed_end is where the last
//     one ends and equals the packet's end exactly when there is no error;
//     write_extension_field() re-encodes each field to the same bytes;
//   - a start past the end is Truncated;
//   - an authenticator body that parses yields a non-empty nonce and a ciphertext of
//     at least a tag, both inside the body, with the lengths it declares;
//   - cookie_from_field_body() returns a prefix of the body.
#include <cstring>

#include "fuzz_common.h"

namespace {

using namespace ntsd;
using namespace ntsd::fuzz;
using core::ExtensionFieldError;

bool inside(ByteView part, ByteView whole) {
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

void check_authenticator(ByteView body) {
  core::NtsAuthenticatorParts parts;
  const core::NtsAuthenticatorError error = core::parse_nts_authenticator(body, parts);
  if (error != core::NtsAuthenticatorError::None) return;
  FUZZ_CHECK(body.size() >= 4);
  const std::size_t nonce_length = core::load_be16(body.data());
  const std::size_t ciphertext_length = core::load_be16(body.data() + 2);
  FUZZ_CHECK(!parts.nonce.empty());
  FUZZ_CHECK(parts.nonce.size() == nonce_length);
  FUZZ_CHECK(parts.ciphertext.size() == ciphertext_length);
  FUZZ_CHECK(parts.ciphertext.size() >= core::kAeadTagLength);
  FUZZ_CHECK(inside(parts.nonce, body));
  FUZZ_CHECK(inside(parts.ciphertext, body));
  FUZZ_CHECK(parts.nonce.data() == body.data() + 4);
  FUZZ_CHECK(parts.ciphertext.data() == body.data() + 4 + core::padded_to_4(nonce_length));
  // Nonce, its padding and the additional padding reach N_REQ (RFC 8915 §5.6).
  FUZZ_CHECK(body.size() - 4 - core::padded_to_4(ciphertext_length) >= core::kMinNonceLength);
  FUZZ_CHECK(parts.nonce_space == body.size() - 4 - core::padded_to_4(ciphertext_length));
}

void check_fields(ByteView packet, std::size_t start) {
  const core::ExtensionFieldList list = core::parse_extension_fields(packet, start);
  FUZZ_CHECK(list.count <= core::kMaxExtensionFields);
  FUZZ_CHECK(list.ok() == (list.error == ExtensionFieldError::None));
  if (start > packet.size()) {
    FUZZ_CHECK(list.error == ExtensionFieldError::Truncated);
    FUZZ_CHECK(list.count == 0);
    return;
  }
  std::size_t offset = start;
  for (const core::ExtensionField& field : list) {
    FUZZ_CHECK(field.offset == offset);
    FUZZ_CHECK(field.length >= core::kMinExtensionFieldLength);
    FUZZ_CHECK(field.length % 4 == 0);
    FUZZ_CHECK(field.length <= packet.size() - offset);
    FUZZ_CHECK(field.type == core::load_be16(packet.data() + offset));
    FUZZ_CHECK(field.length == core::load_be16(packet.data() + offset + 2));
    FUZZ_CHECK(field.body.data() == packet.data() + offset + core::kExtensionFieldHeaderLength);
    FUZZ_CHECK(field.body.size() == field.length - core::kExtensionFieldHeaderLength);

    // Round trip through the writer.
    std::array<std::uint8_t, core::kMaxExtensionFieldLength> out;
    const std::size_t written = core::write_extension_field(out, field.type, field.body);
    FUZZ_CHECK(written == field.length);
    FUZZ_CHECK(std::memcmp(out.data(), packet.data() + offset, written) == 0);
    FUZZ_CHECK(core::write_extension_field(std::span(out).first(field.length - 1), field.type,
                                           field.body) == 0);

    if (field.type == static_cast<std::uint16_t>(core::ExtensionFieldType::NtsAuthenticator)) {
      check_authenticator(field.body);
    }
    if (field.type == static_cast<std::uint16_t>(core::ExtensionFieldType::NtsCookie)) {
      const ByteView cookie = core::cookie_from_field_body(field.body);
      FUZZ_CHECK(cookie.data() == field.body.data() && cookie.size() <= field.body.size());
    }
    offset += field.length;
  }
  FUZZ_CHECK(list.parsed_end == offset);
  if (list.ok()) {
    FUZZ_CHECK(offset == packet.size());
  } else {
    FUZZ_CHECK(offset < packet.size());
    if (list.error == ExtensionFieldError::TooManyFields) {
      FUZZ_CHECK(list.count == core::kMaxExtensionFields);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView packet(data, size);

  const std::optional<core::NtpHeader> header = core::NtpHeader::parse(packet);
  FUZZ_CHECK(header.has_value() == (size >= core::kNtpHeaderLength));
  if (header) {
    std::array<std::uint8_t, core::kNtpHeaderLength> out{};
    header->write(out.data());
    FUZZ_CHECK(std::memcmp(out.data(), data, core::kNtpHeaderLength) == 0);
    FUZZ_CHECK(header->version <= 7);
  }

  check_fields(packet, core::kNtpHeaderLength);
  check_fields(packet, 0);
  check_fields(packet, size + 1);

  // Whole inputs as authenticator bodies and cookie field bodies, too.
  check_authenticator(packet);
  const ByteView cookie = core::cookie_from_field_body(packet);
  FUZZ_CHECK(cookie.data() == packet.data() && cookie.size() <= packet.size());
  return 0;
}
