#include "xdp/udp_frame.h"

#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#include "core/bytes.h"

namespace ntsd::xdp {

namespace {

constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
constexpr std::uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr std::uint8_t kProtocolUdp = 17;
constexpr std::uint8_t kReplyHopLimit = 64;

using core::load_be16;
using core::store_be16;

template <std::size_t N>
void swap_bytes(std::uint8_t* a, std::uint8_t* b) {
  std::array<std::uint8_t, N> t{};
  std::memcpy(t.data(), a, N);
  std::memcpy(a, b, N);
  std::memcpy(b, t.data(), N);
}

ParseResult fail(FrameError error) { return {std::nullopt, error}; }

template <typename Sockaddr>
void store_peer(UdpFrame& out, const Sockaddr& peer) {
  std::memcpy(&out.peer, &peer, sizeof peer);
  out.peer_length = sizeof peer;
}

// The sender of a datagram: `source` is the IP source address (4 or 16 bytes).
void set_peer(UdpFrame& out, std::span<const std::uint8_t> source, std::uint16_t port) {
  if (source.size() == 16) {
    sockaddr_in6 peer{};
    peer.sin6_family = AF_INET6;
    peer.sin6_port = htons(port);
    std::memcpy(&peer.sin6_addr, source.data(), 16);
    store_peer(out, peer);
    return;
  }
  sockaddr_in peer{};
  peer.sin_family = AF_INET;
  peer.sin_port = htons(port);
  std::memcpy(&peer.sin_addr, source.data(), 4);
  store_peer(out, peer);
}

// The UDP datagram that is the IP packet's payload: `udp_offset` from the frame's
// start, `available` bytes by the IP length; `source` as for set_peer.
ParseResult parse_udp(std::span<const std::uint8_t> frame, std::size_t udp_offset,
                      std::size_t available, std::span<const std::uint8_t> source) {
  const std::uint8_t* udp = frame.data() + udp_offset;
  if (available < kUdpHeaderLength) return fail(FrameError::TooShort);
  const std::size_t length = load_be16(udp + 4);
  if (length < kUdpHeaderLength || length > available) return fail(FrameError::BadLength);
  const std::uint16_t port = load_be16(udp);
  if (port == 0) return fail(FrameError::BadSource);
  UdpFrame out;
  out.ipv6 = source.size() == 16;
  out.payload_offset = udp_offset + kUdpHeaderLength;
  out.payload_length = length - kUdpHeaderLength;
  set_peer(out, source, port);
  return {out, {}};
}

ParseResult parse_ipv4(std::span<const std::uint8_t> frame) {
  const std::uint8_t* ip = frame.data() + kEthernetHeaderLength;
  const std::size_t available = frame.size() - kEthernetHeaderLength;
  if (available < kIpv4HeaderLength) return fail(FrameError::TooShort);
  if ((ip[0] >> 4) != 4) return fail(FrameError::NotIp);
  if ((ip[0] & 0x0f) != 5) return fail(FrameError::IpOptions);
  if ((load_be16(ip + 6) & 0x3fff) != 0) return fail(FrameError::Fragment);
  if (ip[9] != kProtocolUdp) return fail(FrameError::NotUdp);
  // Ethernet may pad a short frame: the IP length, not the frame's, counts.
  const std::size_t total = load_be16(ip + 2);
  if (total < kIpv4HeaderLength || total > available) return fail(FrameError::BadLength);
  if (checksum_finish(checksum_add(0, {ip, kIpv4HeaderLength})) != 0) {
    return fail(FrameError::BadHeaderChecksum);
  }
  const std::uint8_t* source = ip + 12;
  if (source[0] >= 224 || (source[0] == 0 && source[1] == 0 && source[2] == 0 && source[3] == 0)) {
    return fail(FrameError::BadSource);  // multicast, broadcast, reserved or unspecified
  }
  return parse_udp(frame, kEthernetHeaderLength + kIpv4HeaderLength, total - kIpv4HeaderLength,
                   {source, 4});
}

ParseResult parse_ipv6(std::span<const std::uint8_t> frame) {
  const std::uint8_t* ip = frame.data() + kEthernetHeaderLength;
  const std::size_t available = frame.size() - kEthernetHeaderLength;
  if (available < kIpv6HeaderLength) return fail(FrameError::TooShort);
  if ((ip[0] >> 4) != 6) return fail(FrameError::NotIp);
  const std::uint8_t next = ip[6];
  if (next == 0 || next == 43 || next == 44 || next == 60) return fail(FrameError::ExtensionHeader);
  if (next != kProtocolUdp) return fail(FrameError::NotUdp);
  const std::size_t payload = load_be16(ip + 4);
  if (payload > available - kIpv6HeaderLength) return fail(FrameError::BadLength);
  const std::uint8_t* source = ip + 8;
  static constexpr std::array<std::uint8_t, 16> kUnspecified{};
  if (source[0] == 0xff || std::memcmp(source, kUnspecified.data(), 16) == 0) {
    return fail(FrameError::BadSource);
  }
  return parse_udp(frame, kEthernetHeaderLength + kIpv6HeaderLength, payload, {source, 16});
}

}  // namespace

std::string_view frame_error_name(FrameError error) {
  switch (error) {
    case FrameError::TooShort:
      return "too_short";
    case FrameError::NotIp:
      return "not_ip";
    case FrameError::IpOptions:
      return "ip_options";
    case FrameError::Fragment:
      return "fragment";
    case FrameError::ExtensionHeader:
      return "extension_header";
    case FrameError::NotUdp:
      return "not_udp";
    case FrameError::BadLength:
      return "bad_length";
    case FrameError::BadHeaderChecksum:
      return "bad_header_checksum";
    case FrameError::BadSource:
      return "bad_source";
  }
  return "unknown";
}

ParseResult parse_udp_frame(std::span<const std::uint8_t> frame) {
  if (frame.size() < kEthernetHeaderLength) return fail(FrameError::TooShort);
  switch (load_be16(frame.data() + 12)) {
    case kEtherTypeIpv4:
      return parse_ipv4(frame);
    case kEtherTypeIpv6:
      return parse_ipv6(frame);
    default:
      return fail(FrameError::NotIp);
  }
}

std::uint32_t checksum_add(std::uint32_t sum, std::span<const std::uint8_t> bytes) {
  // 32-bit words in the machine's byte order, summed in 64 bits (no carry is
  // lost below 2^32 words), then folded to 16 bits: the same one's-complement
  // sum as 16-bit words, and the sum of byte-swapped words is the byte-swapped
  // sum (RFC 1071, 2(B)), so one swap at the end gives the big-endian sum.
  const std::uint8_t* data = bytes.data();
  const std::size_t words = bytes.size() / 4;
  std::uint64_t wide = 0;
  for (std::size_t w = 0; w < words; ++w) {
    std::uint32_t word = 0;
    std::memcpy(&word, data + 4 * w, 4);
    wide += word;
  }
  while (wide >> 16) wide = (wide & 0xffff) + (wide >> 16);
  auto folded = static_cast<std::uint16_t>(wide);
  if constexpr (std::endian::native == std::endian::little) folded = __builtin_bswap16(folded);
  sum += folded;
  std::size_t i = 4 * words;
  for (; i + 1 < bytes.size(); i += 2) sum += load_be16(data + i);
  if (i < bytes.size()) sum += static_cast<std::uint32_t>(data[i]) << 8;
  // Fold now and then so that long inputs cannot overflow.
  return (sum & 0xffff) + (sum >> 16);
}

std::uint16_t checksum_finish(std::uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

std::uint16_t udp_checksum(std::span<const std::uint8_t> source,
                           std::span<const std::uint8_t> destination,
                           std::span<const std::uint8_t> udp) {
  std::uint32_t sum = checksum_add(0, source);
  sum = checksum_add(sum, destination);
  sum += kProtocolUdp;
  sum += static_cast<std::uint32_t>(udp.size() & 0xffff) +
         static_cast<std::uint32_t>(udp.size() >> 16);
  sum = checksum_add(sum, udp.first(6));
  sum = checksum_add(sum, udp.subspan(8));
  const std::uint16_t value = checksum_finish(sum);
  // A computed zero is sent as all ones: zero means "no checksum" (IPv4 only).
  return value == 0 ? 0xffff : value;
}

std::size_t build_reply(std::span<std::uint8_t> frame, const UdpFrame& request,
                        std::size_t payload_length) {
  std::uint8_t* eth = frame.data();
  swap_bytes<6>(eth, eth + 6);
  const std::size_t udp_length = kUdpHeaderLength + payload_length;
  std::uint8_t* udp = frame.data() + request.payload_offset - kUdpHeaderLength;
  swap_bytes<2>(udp, udp + 2);
  store_be16(udp + 4, static_cast<std::uint16_t>(udp_length));
  store_be16(udp + 6, 0);
  std::span<const std::uint8_t> udp_bytes{udp, udp_length};
  std::uint8_t* ip = eth + kEthernetHeaderLength;
  if (request.ipv6) {
    store_be16(ip + 4, static_cast<std::uint16_t>(udp_length));
    ip[7] = kReplyHopLimit;
    swap_bytes<16>(ip + 8, ip + 24);
    store_be16(udp + 6, udp_checksum({ip + 8, 16}, {ip + 24, 16}, udp_bytes));
  } else {
    store_be16(ip + 2, static_cast<std::uint16_t>(kIpv4HeaderLength + udp_length));
    store_be16(ip + 4, 0);       // identification: the datagram is never fragmented
    store_be16(ip + 6, 0x4000);  // don't fragment
    ip[8] = kReplyHopLimit;
    swap_bytes<4>(ip + 12, ip + 16);
    store_be16(ip + 10, 0);
    store_be16(ip + 10, checksum_finish(checksum_add(0, {ip, kIpv4HeaderLength})));
    store_be16(udp + 6, udp_checksum({ip + 12, 4}, {ip + 16, 4}, udp_bytes));
  }
  return request.payload_offset + payload_length;
}

}  // namespace ntsd::xdp
