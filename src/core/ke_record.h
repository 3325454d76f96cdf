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
  // chrony's "compliant AES-128-GCM-SIV exporter context" (not in the IANA registry
  // of RFC 8915; chrony 4.6.1, nts_ke.h NKE_RECORD_COMPLIANT_128GCM_EXPORT):
  // non-critical, empty. See ke_negotiation.h.
  CompliantGcmSivExport = 1024,
};

enum class KeErrorCode : std::uint16_t {
  UnrecognizedCriticalRecord = 0,
  BadRequest = 1,
  InternalServerError = 2,
};

inline constexpr std::uint16_t kNextProtocolNtpV4 = 0;
inline constexpr std::size_t kKeRecordHeaderLength = 4;
inline constexpr std::uint16_t kKeCriticalBit = 0x8000;
inline constexpr std::uint16_t kKeMaxRecordType = 0x7fff;
inline constexpr std::size_t kKeMaxBodyLength = 0xffff;

// True for the record types RFC 8915 defines (0 to 7); anything else is
// "unrecognised" and, when critical, answered with Error 0.
bool is_known_ke_record_type(std::uint16_t type);

struct KeRecord {
  bool critical = false;
  std::uint16_t type = 0;  // 15 bits; may be a type we do not know
  ByteView body;
};

enum class KeMessageStatus : std::uint8_t {
  Incomplete,  // no End of Message yet: read more
  Complete,    // records up to and including End of Message
  Malformed,   // End of Message with a body, or more than max_records records
};

// A message read from a stream. Records point into the buffer passed to
// parse_ke_message, which must outlive them.
//
// Complete:   records holds every record before End of Message, in order;
//             length is the number of bytes through End of Message.
// Incomplete: records is empty and length is 0 (nothing is allocated, so a
//             caller may re-parse a growing buffer after every read).
// Malformed:  records is empty; length is the number of bytes through the
//             offending record header.
struct KeMessage {
  KeMessageStatus status = KeMessageStatus::Incomplete;
  std::vector<KeRecord> records;  // End of Message excluded
  std::size_t length = 0;         // bytes up to and including End of Message
  [[nodiscard]] bool trailing_data(std::size_t buffer_size) const { return buffer_size > length; }
};

// Parses records from the start of `buffer` until End of Message. Stops at
// max_records (status Malformed) so a hostile peer cannot make it allocate freely:
// up to max_records records may precede End of Message; a further record header
// makes the message Malformed at once, without waiting for its body.
// End of Message is recognised by its type alone (0), whatever its critical bit;
// a non-zero body length in its header makes the message Malformed at once.
// Cost: one pass over the record headers (bodies are not read) plus, when
// Complete, one allocation for the records.
KeMessage parse_ke_message(ByteView buffer, std::size_t max_records = 1024);

// Append one record. Throws std::length_error when body.size() > 65535 or the
// type does not fit in 15 bits: both are caller bugs (configuration and cookie
// sizes are bounded long before this), never a reaction to peer input.
void append_ke_record(Bytes& out, bool critical, KeRecordType type, ByteView body);
void append_ke_record_u16s(Bytes& out, bool critical, KeRecordType type,
                           const std::vector<std::uint16_t>& values);

}  // namespace ntsd::core
