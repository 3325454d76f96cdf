#include "core/ntp_packet.h"

namespace ntsd::core {

namespace {

// Byte offsets of the RFC 5905 §7.3 header fields.
constexpr std::size_t kOffsetFlags = 0;
constexpr std::size_t kOffsetStratum = 1;
constexpr std::size_t kOffsetPoll = 2;
constexpr std::size_t kOffsetPrecision = 3;
constexpr std::size_t kOffsetRootDelay = 4;
constexpr std::size_t kOffsetRootDispersion = 8;
constexpr std::size_t kOffsetReferenceId = 12;
constexpr std::size_t kOffsetReferenceTime = 16;
constexpr std::size_t kOffsetOriginTime = 24;
constexpr std::size_t kOffsetReceiveTime = 32;
constexpr std::size_t kOffsetTransmitTime = 40;

}  // namespace

std::optional<NtpHeader> NtpHeader::parse(ByteView packet) {
  if (packet.size() < kNtpHeaderLength) return std::nullopt;
  const std::uint8_t* p = packet.data();
  NtpHeader h;
  const std::uint8_t flags = p[kOffsetFlags];
  h.leap = static_cast<LeapIndicator>(flags >> 6);
  h.version = static_cast<std::uint8_t>((flags >> 3) & 0x07);
  h.mode = static_cast<NtpMode>(flags & 0x07);
  h.stratum = p[kOffsetStratum];
  h.poll = static_cast<std::int8_t>(p[kOffsetPoll]);
  h.precision = static_cast<std::int8_t>(p[kOffsetPrecision]);
  h.root_delay.raw = load_be32(p + kOffsetRootDelay);
  h.root_dispersion.raw = load_be32(p + kOffsetRootDispersion);
  for (std::size_t i = 0; i < h.reference_id.size(); ++i) {
    h.reference_id[i] = p[kOffsetReferenceId + i];
  }
  h.reference_time.raw = load_be64(p + kOffsetReferenceTime);
  h.origin_time.raw = load_be64(p + kOffsetOriginTime);
  h.receive_time.raw = load_be64(p + kOffsetReceiveTime);
  h.transmit_time.raw = load_be64(p + kOffsetTransmitTime);
  return h;
}

void NtpHeader::write(std::uint8_t* out) const {
  out[kOffsetFlags] =
      static_cast<std::uint8_t>(((static_cast<unsigned>(leap) & 0x03U) << 6) |
                                ((version & 0x07U) << 3) | (static_cast<unsigned>(mode) & 0x07U));
  out[kOffsetStratum] = stratum;
  out[kOffsetPoll] = static_cast<std::uint8_t>(poll);
  out[kOffsetPrecision] = static_cast<std::uint8_t>(precision);
  store_be32(out + kOffsetRootDelay, root_delay.raw);
  store_be32(out + kOffsetRootDispersion, root_dispersion.raw);
  for (std::size_t i = 0; i < reference_id.size(); ++i) {
    out[kOffsetReferenceId + i] = reference_id[i];
  }
  store_be64(out + kOffsetReferenceTime, reference_time.raw);
  store_be64(out + kOffsetOriginTime, origin_time.raw);
  store_be64(out + kOffsetReceiveTime, receive_time.raw);
  store_be64(out + kOffsetTransmitTime, transmit_time.raw);
}

NtpTimestamp to_ntp(const timespec& unix_time) {
  auto seconds = static_cast<std::uint64_t>(unix_time.tv_sec) + kNtpUnixOffset;
  auto fraction = (static_cast<std::uint64_t>(unix_time.tv_nsec) << 32) / 1'000'000'000ULL;
  return NtpTimestamp{(seconds << 32) | (fraction & 0xffffffffULL)};
}

}  // namespace ntsd::core
