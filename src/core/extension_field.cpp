#include "core/extension_field.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace ntsd::core {

ExtensionFieldList parse_extension_fields(ByteView packet, std::size_t start) {
  ExtensionFieldList list;
  list.parsed_end = start;
  if (start > packet.size()) {
    list.error = ExtensionFieldError::Truncated;
    return list;
  }
  std::size_t offset = start;
  while (offset < packet.size()) {
    const std::size_t remaining = packet.size() - offset;
    if (remaining < kExtensionFieldHeaderLength) {
      list.error = ExtensionFieldError::Truncated;
      return list;
    }
    const std::uint16_t type = load_be16(packet.data() + offset);
    const std::size_t length = load_be16(packet.data() + offset + 2);
    if (length < kMinExtensionFieldLength || length % 4 != 0) {
      list.error = ExtensionFieldError::BadLength;
      return list;
    }
    if (length > remaining) {
      list.error = ExtensionFieldError::Truncated;
      return list;
    }
    if (list.count == kMaxExtensionFields) {
      list.error = ExtensionFieldError::TooManyFields;
      return list;
    }
    ExtensionField& field = list.fields[list.count++];
    field.type = type;
    field.offset = offset;
    field.length = length;
    field.body =
        packet.subspan(offset + kExtensionFieldHeaderLength, length - kExtensionFieldHeaderLength);
    offset += length;
    list.parsed_end = offset;
  }
  return list;
}

std::size_t extension_field_length(std::size_t body_length) {
  return std::max(kMinExtensionFieldLength, kExtensionFieldHeaderLength + padded_to_4(body_length));
}

std::size_t write_extension_field(std::span<std::uint8_t> out, std::uint16_t type, ByteView body) {
  if (body.size() > kMaxExtensionFieldLength) return 0;
  const std::size_t length = extension_field_length(body.size());
  if (length > kMaxExtensionFieldLength || length > out.size()) return 0;
  std::uint8_t* p = out.data();
  store_be16(p, type);
  store_be16(p + 2, static_cast<std::uint16_t>(length));
  if (!body.empty()) std::memcpy(p + kExtensionFieldHeaderLength, body.data(), body.size());
  const std::size_t used = kExtensionFieldHeaderLength + body.size();
  std::memset(p + used, 0, length - used);
  return length;
}

void append_extension_field(Bytes& out, ExtensionFieldType type, ByteView body) {
  if (body.size() > kMaxExtensionFieldLength ||
      extension_field_length(body.size()) > kMaxExtensionFieldLength) {
    throw std::length_error("extension field body too long");
  }
  const std::size_t old_size = out.size();
  out.resize(old_size + extension_field_length(body.size()));
  write_extension_field(std::span<std::uint8_t>(out).subspan(old_size),
                        static_cast<std::uint16_t>(type), body);
}

}  // namespace ntsd::core
