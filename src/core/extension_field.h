// NTP extension fields (RFC 7822) and the NTS field types (RFC 8915 §5.7).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/bytes.h"

namespace ntsd::core {

enum class ExtensionFieldType : std::uint16_t {
  UniqueIdentifier = 0x0104,
  NtsCookie = 0x0204,
  NtsCookiePlaceholder = 0x0304,
  NtsAuthenticator = 0x0404,
};

inline constexpr std::size_t kExtensionFieldHeaderLength = 4;
// RFC 7822 §3: fields are at least 16 bytes and a multiple of 4.
inline constexpr std::size_t kMinExtensionFieldLength = 16;
// A bound on how many fields one packet may carry; more is a malformed packet.
inline constexpr std::size_t kMaxExtensionFields = 32;
// The field length is a u16 and includes the header.
inline constexpr std::size_t kMaxExtensionFieldLength = 0xFFFC;

struct ExtensionField {
  std::uint16_t type = 0;
  ByteView body;           // the value, without the 4-byte header (padding included)
  std::size_t offset = 0;  // where the field's header starts in the packet
  std::size_t length = 0;  // the field's whole length, header included
};

enum class ExtensionFieldError : std::uint8_t {
  None,
  Truncated,      // a field's length runs past the end of the packet
  BadLength,      // shorter than 16, or not a multiple of 4
  TooManyFields,  // more than kMaxExtensionFields
};

// The fields of one packet, without heap allocation.
struct ExtensionFieldList {
  std::array<ExtensionField, kMaxExtensionFields> fields{};
  std::size_t count = 0;
  ExtensionFieldError error = ExtensionFieldError::None;
  // Offset just past the last field parsed successfully (== start when none was).
  // On error, the bytes from here on are the ones that did not parse; the NTP
  // handler uses this to recognise a legacy MAC after the fields (RFC 7822 §7.5).
  std::size_t parsed_end = 0;

  [[nodiscard]] bool ok() const { return error == ExtensionFieldError::None; }
  [[nodiscard]] const ExtensionField* begin() const { return fields.data(); }
  [[nodiscard]] const ExtensionField* end() const { return fields.data() + count; }
};

// Parses every field in `packet` from `start` (normally kNtpHeaderLength) to its end.
// start > packet.size() is reported as Truncated. Field contents are not looked at:
// unknown types are listed like any other (RFC 7822 §3 leaves them to the caller).
ExtensionFieldList parse_extension_fields(ByteView packet, std::size_t start);

// Appends one field, padding the body with zeros to a multiple of 4 and to the
// 16-byte minimum. Throws std::length_error when the field would exceed
// kMaxExtensionFieldLength.
void append_extension_field(Bytes& out, ExtensionFieldType type, ByteView body);
// Length of the field append_extension_field would write for a body of body_length.
std::size_t extension_field_length(std::size_t body_length);
// The same field written into caller memory without allocating: returns its
// length, or 0 (nothing written) when it does not fit in out or exceeds
// kMaxExtensionFieldLength.
std::size_t write_extension_field(std::span<std::uint8_t> out, std::uint16_t type, ByteView body);

}  // namespace ntsd::core
