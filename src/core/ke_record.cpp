#include "core/ke_record.h"

#include <stdexcept>

namespace ntsd::core {

bool is_known_ke_record_type(std::uint16_t type) {
  return type <= static_cast<std::uint16_t>(KeRecordType::NtpPort);
}

KeMessage parse_ke_message(ByteView buffer, std::size_t max_records) {
  KeMessage message;

  // Pass 1: walk the headers only, to find End of Message (or a reason to give
  // up) without allocating. A server re-parses its growing buffer after every
  // read, so the common Incomplete answer must cost nothing but this walk.
  std::size_t offset = 0;
  std::size_t count = 0;
  bool found_end = false;
  while (buffer.size() - offset >= kKeRecordHeaderLength) {
    const std::uint16_t word = load_be16(buffer.data() + offset);
    const std::uint16_t type = word & kKeMaxRecordType;
    const std::size_t body_length = load_be16(buffer.data() + offset + 2);

    if (type == static_cast<std::uint16_t>(KeRecordType::EndOfMessage)) {
      offset += kKeRecordHeaderLength;
      if (body_length != 0) {
        message.status = KeMessageStatus::Malformed;
        message.length = offset;
        return message;
      }
      found_end = true;
      break;
    }
    if (count == max_records) {
      message.status = KeMessageStatus::Malformed;
      message.length = offset + kKeRecordHeaderLength;
      return message;
    }
    if (buffer.size() - offset - kKeRecordHeaderLength < body_length) break;  // body not here yet
    offset += kKeRecordHeaderLength + body_length;
    ++count;
  }
  if (!found_end) return message;  // Incomplete

  // Pass 2: the message is whole; record every record before End of Message.
  message.status = KeMessageStatus::Complete;
  message.length = offset;
  message.records.reserve(count);
  std::size_t position = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint16_t word = load_be16(buffer.data() + position);
    const std::size_t body_length = load_be16(buffer.data() + position + 2);
    message.records.push_back(KeRecord{
        .critical = (word & kKeCriticalBit) != 0,
        .type = static_cast<std::uint16_t>(word & kKeMaxRecordType),
        .body = buffer.subspan(position + kKeRecordHeaderLength, body_length),
    });
    position += kKeRecordHeaderLength + body_length;
  }
  return message;
}

void append_ke_record(Bytes& out, bool critical, KeRecordType type, ByteView body) {
  const auto raw_type = static_cast<std::uint16_t>(type);
  if (raw_type > kKeMaxRecordType) {
    throw std::length_error("NTS-KE record type does not fit in 15 bits");
  }
  if (body.size() > kKeMaxBodyLength) {
    throw std::length_error("NTS-KE record body longer than 65535 bytes");
  }
  out.reserve(out.size() + kKeRecordHeaderLength + body.size());
  ByteWriter writer(out);
  writer.u16(static_cast<std::uint16_t>(raw_type | (critical ? kKeCriticalBit : 0)));
  writer.u16(static_cast<std::uint16_t>(body.size()));
  writer.bytes(body);
}

void append_ke_record_u16s(Bytes& out, bool critical, KeRecordType type,
                           const std::vector<std::uint16_t>& values) {
  Bytes body;
  body.reserve(values.size() * 2);
  ByteWriter writer(body);
  for (const std::uint16_t value : values) writer.u16(value);
  append_ke_record(out, critical, type, body);
}

}  // namespace ntsd::core
