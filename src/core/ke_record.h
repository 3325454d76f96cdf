// NTS-KE records (RFC 8915 §4): 1 critical bit, 15-bit type, u16 body length, body.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/bytes.h"

namespace ntsd::core {

enum class KeRecordType : std::uint16_t {
  EndOfMessage = 0,
  NextProtocol = 1,
  Error = 2,
  Warning = 3,
  AeadAlgorithm = 4,
  NewCookie = 5,
  NtpServer = 6,
  NtpPort = 7,
};

enum class KeErrorCode : std::uint16_t {
  UnrecognizedCriticalRecord = 0,
  BadRequest = 1,
  InternalServerError = 2,
};

inline constexpr std::uint16_t kNextProtocolNtpV4 = 0;
inline constexpr std::size_t kKeRecordHeaderLength = 4;

struct KeRecord {
  bool critical = false;
  std::uint16_t type = 0;  // 15 bits; may be a type we do not know
  ByteView body;
};

enum class KeMessageStatus : std::uint8_t {
  Incomplete,  // no End of Message yet: read more
  Complete,    // records up to and including End of Message
  Malformed,   // End of Message with a body
};

// A message read from a stream. Records point into the buffer passed to
// parse_ke_message, which must outlive them.
struct KeMessage {
  KeMessageStatus status = KeMessageStatus::Incomplete;
  std::vector<KeRecord> records;  // End of Message excluded
  std::size_t length = 0;         // bytes up to and including End of Message
  [[nodiscard]] bool trailing_data(std::size_t buffer_size) const { return buffer_size > length; }
};

// Parses records from the start of `buffer` until End of Message. Stops at
// max_records (status Malformed) so a hostile peer cannot make it allocate freely.
KeMessage parse_ke_message(ByteView buffer, std::size_t max_records = 1024);

void append_ke_record(Bytes& out, bool critical, KeRecordType type, ByteView body);
void append_ke_record_u16s(Bytes& out, bool critical, KeRecordType type,
                           const std::vector<std::uint16_t>& values);

}  // namespace ntsd::core
