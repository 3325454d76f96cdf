// Building blocks for hand-made NTP/NTS packets in tests and fuzz targets: the
// extension field types as numbers (so a test can also write unknown ones), fixed
// timestamps, reproducible byte patterns and the NTP header and field writers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/bytes.h"
#include "core/extension_field.h"
#include "core/ntp_packet.h"

namespace ntsd::test_support {

inline constexpr std::uint16_t kUid = 0x0104;
inline constexpr std::uint16_t kCookie = 0x0204;
inline constexpr std::uint16_t kPlaceholder = 0x0304;
inline constexpr std::uint16_t kAuth = 0x0404;
inline constexpr std::uint16_t kUnknown = 0x2005;

inline constexpr core::NtpTimestamp kClientTx{0xE98CA71000000001ULL};
inline constexpr core::NtpTimestamp kServerRx{0xE98CA71180000000ULL};
inline constexpr core::NtpTimestamp kServerTx{0xE98CA71180001000ULL};

// n bytes seed, seed + step, seed + 2 * step, ... (mod 256): keys and cookies that
// differ per seed and are the same on every run.
inline core::Bytes pattern(std::size_t n, std::uint8_t seed, std::size_t step = 7) {
  core::Bytes out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(seed + i * step);
  return out;
}

// A 48-byte NTP header with only version, mode, poll and transmit time set.
inline core::Bytes header(std::uint8_t version = 4, core::NtpMode mode = core::NtpMode::Client,
                          core::NtpTimestamp transmit = kClientTx, std::int8_t poll = 6) {
  core::NtpHeader h;
  h.version = version;
  h.mode = mode;
  h.poll = poll;
  h.transmit_time = transmit;
  core::Bytes out(core::kNtpHeaderLength);
  h.write(out.data());
  return out;
}

// Appends an extension field of any type number, known to the core or not.
inline void append(core::Bytes& packet, std::uint16_t type, core::ByteView body) {
  core::append_extension_field(packet, static_cast<core::ExtensionFieldType>(type), body);
}

}  // namespace ntsd::test_support
