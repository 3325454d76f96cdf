// Ethernet/IPv4/IPv6/UDP frames as the AF_XDP path sees them: parsing a request
// and turning its frame into the reply in place. No I/O: bytes in, bytes out.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace ntsd::xdp {

inline constexpr std::size_t kEthernetHeaderLength = 14;
inline constexpr std::size_t kIpv4HeaderLength = 20;
inline constexpr std::size_t kIpv6HeaderLength = 40;
inline constexpr std::size_t kUdpHeaderLength = 8;

// Why a frame is not a UDP datagram this path answers.
enum class FrameError : std::uint8_t {
  TooShort,           // shorter than its headers say
  NotIp,              // neither IPv4 nor IPv6 (VLAN tags included)
  IpOptions,          // IPv4 header with options
  Fragment,           // an IPv4 fragment
  ExtensionHeader,    // IPv6 with something other than UDP next
  NotUdp,             // another transport protocol
  BadLength,          // IP or UDP length fields disagree with the frame
  BadHeaderChecksum,  // IPv4 header checksum wrong
  BadSource,          // a source no reply may go to (multicast, unspecified, port 0)
};

std::string_view frame_error_name(FrameError error);

// Where the UDP payload of a parsed frame lies, and who sent it.
struct UdpFrame {
  bool ipv6 = false;
  std::size_t payload_offset = 0;  // from the frame's start
  std::size_t payload_length = 0;
  sockaddr_storage peer{};  // the source address and port
  socklen_t peer_length = 0;
};

struct ParseResult {
  std::optional<UdpFrame> frame;
  FrameError error = FrameError::TooShort;  // when !frame
};

ParseResult parse_udp_frame(std::span<const std::uint8_t> frame);

// Turns the request frame `frame` (as parsed into `request`) into its reply,
// whose UDP payload of `payload_length` bytes is already written at
// request.payload_offset: MAC addresses, IP addresses and ports swapped, lengths,
// hop limit, the IPv4 header checksum and the UDP checksum set. `frame` must hold
// payload_offset + payload_length bytes. Returns the reply frame's length.
std::size_t build_reply(std::span<std::uint8_t> frame, const UdpFrame& request,
                        std::size_t payload_length);

// The Internet checksum (RFC 1071) of `bytes`, added to `sum` (a running 32-bit
// sum of 16-bit big-endian words): not yet folded or inverted.
std::uint32_t checksum_add(std::uint32_t sum, std::span<const std::uint8_t> bytes);
// Folds a running sum into the one's-complement checksum field value.
std::uint16_t checksum_finish(std::uint32_t sum);

// The UDP checksum of the datagram at `udp` (header and payload) between `source`
// and `destination` (4 or 16 bytes each): the value for the checksum field, the
// UDP header's own checksum field counted as zero.
std::uint16_t udp_checksum(std::span<const std::uint8_t> source,
                           std::span<const std::uint8_t> destination,
                           std::span<const std::uint8_t> udp);

}  // namespace ntsd::xdp
