#include "xdp/udp_frame.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace ntsd::xdp {
namespace {

using Bytes = std::vector<std::uint8_t>;

const Bytes kServerMac{0x02, 0, 0, 0, 0, 0x01};
const Bytes kClientMac{0x02, 0, 0, 0, 0, 0x02};

void put16(Bytes& b, std::size_t at, unsigned v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v);
}
unsigned get16(const Bytes& b, std::size_t at) { return (b[at] << 8) | b[at + 1]; }

// An independent reference: the RFC 1071 sum, written the plain way.
unsigned reference_sum(const Bytes& bytes, std::size_t from, std::size_t length) {
  unsigned long sum = 0;
  for (std::size_t i = 0; i < length; i += 2) {
    unsigned word = bytes[from + i] << 8;
    if (i + 1 < length) word |= bytes[from + i + 1];
    sum += word;
  }
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<unsigned>(sum);
}

Bytes ethernet(unsigned ether_type) {
  Bytes frame;
  frame.insert(frame.end(), kServerMac.begin(), kServerMac.end());  // destination
  frame.insert(frame.end(), kClientMac.begin(), kClientMac.end());  // source
  frame.push_back(static_cast<std::uint8_t>(ether_type >> 8));
  frame.push_back(static_cast<std::uint8_t>(ether_type));
  return frame;
}

void append_udp(Bytes& frame, unsigned source_port, unsigned destination_port,
                const Bytes& payload) {
  const std::size_t at = frame.size();
  frame.resize(at + 8);
  put16(frame, at, source_port);
  put16(frame, at + 2, destination_port);
  put16(frame, at + 4, static_cast<unsigned>(8 + payload.size()));
  frame.insert(frame.end(), payload.begin(), payload.end());
}

// 10.201.1.2:40000 -> 10.201.1.1:123 with a valid header checksum.
Bytes ipv4_request(const Bytes& payload) {
  Bytes frame = ethernet(0x0800);
  const std::size_t ip = frame.size();
  Bytes header{0x45, 0, 0, 0, 0x12, 0x34, 0, 0, 17, 17, 0, 0, 10, 201, 1, 2, 10, 201, 1, 1};
  frame.insert(frame.end(), header.begin(), header.end());
  put16(frame, ip + 2, static_cast<unsigned>(20 + 8 + payload.size()));
  put16(frame, ip + 10, ~reference_sum(frame, ip, 20) & 0xffff);
  append_udp(frame, 40000, 123, payload);
  return frame;
}

// [fd00:201::2]:40000 -> [fd00:201::1]:123.
Bytes ipv6_request(const Bytes& payload) {
  Bytes frame = ethernet(0x86dd);
  const std::size_t ip = frame.size();
  frame.resize(ip + 40);
  frame[ip] = 0x60;
  put16(frame, ip + 4, static_cast<unsigned>(8 + payload.size()));
  frame[ip + 6] = 17;
  frame[ip + 7] = 3;
  const Bytes source{0xfd, 0, 0x02, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  const Bytes destination{0xfd, 0, 0x02, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  std::copy(source.begin(), source.end(), frame.begin() + static_cast<long>(ip + 8));
  std::copy(destination.begin(), destination.end(), frame.begin() + static_cast<long>(ip + 24));
  append_udp(frame, 40000, 123, payload);
  return frame;
}

// Verifies a UDP checksum the receiver's way: pseudo header plus datagram,
// checksum field included, sums to all ones.
bool udp_checksum_ok(const Bytes& frame, std::size_t address_at, std::size_t address_length,
                     std::size_t udp_at) {
  const std::size_t udp_length = get16(frame, udp_at + 4);
  unsigned long sum = reference_sum(frame, address_at, 2 * address_length);
  sum += 17 + udp_length;
  sum += reference_sum(frame, udp_at, udp_length);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum == 0xffff && get16(frame, udp_at + 6) != 0;
}

Bytes payload_of(std::size_t n, std::uint8_t first) {
  Bytes p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::uint8_t>(first + i);
  return p;
}

TEST(ChecksumTest, KnownIpv4HeaderAnswer) {
  // The header of the usual worked example: its checksum is 0xb861.
  const std::uint8_t header[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                                 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_EQ(checksum_finish(checksum_add(0, header)), 0xb861);
}

TEST(ChecksumTest, OddLengthPadsWithZero) {
  const std::uint8_t odd[] = {0x01, 0x02, 0x03};
  const std::uint8_t padded[] = {0x01, 0x02, 0x03, 0x00};
  EXPECT_EQ(checksum_finish(checksum_add(0, odd)), checksum_finish(checksum_add(0, padded)));
}

TEST(ChecksumTest, AgreesWithTheWordByWordSumForEveryLengthAndAlignment) {
  // The sum runs over 32-bit words in the machine's order; the reference adds
  // 16-bit big-endian words one by one.
  Bytes data(300);
  std::uint32_t state = 12345;
  for (auto& byte : data) {
    state = state * 1103515245 + 12345;
    byte = static_cast<std::uint8_t>(state >> 16);
  }
  std::fill(data.begin() + 200, data.end(), 0xff);  // long runs of all ones
  for (std::size_t offset = 0; offset < 4; ++offset) {
    for (std::size_t length = 0; offset + length <= data.size(); ++length) {
      std::uint32_t expected = 7;
      std::size_t i = 0;
      for (; i + 1 < length; i += 2) expected += get16(data, offset + i);
      if (i < length) expected += static_cast<std::uint32_t>(data[offset + i]) << 8;
      const std::uint32_t got = checksum_add(7, {data.data() + offset, length});
      ASSERT_EQ(checksum_finish(got), checksum_finish(expected)) << offset << " " << length;
    }
  }
}

// The parsed sender as "address port N", through the system's own sockaddr
// readers; the family must match the frame's.
std::string peer_of(const UdpFrame& frame) {
  char text[INET6_ADDRSTRLEN] = {};
  const int family = reinterpret_cast<const sockaddr*>(&frame.peer)->sa_family;
  if (family != (frame.ipv6 ? AF_INET6 : AF_INET)) return "wrong family";
  const void* address = nullptr;
  std::uint16_t port = 0;
  if (frame.ipv6) {
    const auto* peer = reinterpret_cast<const sockaddr_in6*>(&frame.peer);
    address = &peer->sin6_addr;
    port = peer->sin6_port;
  } else {
    const auto* peer = reinterpret_cast<const sockaddr_in*>(&frame.peer);
    address = &peer->sin_addr;
    port = peer->sin_port;
  }
  inet_ntop(family, address, text, sizeof text);
  return std::string(text) + " port " + std::to_string(ntohs(port));
}

TEST(UdpFrameTest, ParsesIpv4AndIpv6Requests) {
  struct Case {
    Bytes frame;
    bool ipv6;
    std::size_t payload_offset;
    const char* peer;
  };
  const Case cases[] = {
      {ipv4_request(payload_of(48, 0x23)), false, 14U + 20 + 8, "10.201.1.2 port 40000"},
      {ipv6_request(payload_of(48, 0x23)), true, 14U + 40 + 8, "fd00:201::2 port 40000"},
  };
  for (const auto& c : cases) {
    auto result = parse_udp_frame(c.frame);
    ASSERT_TRUE(result.frame.has_value()) << frame_error_name(result.error);
    EXPECT_EQ(result.frame->ipv6, c.ipv6);
    EXPECT_EQ(result.frame->payload_offset, c.payload_offset);
    EXPECT_EQ(result.frame->payload_length, 48U);
    EXPECT_EQ(peer_of(*result.frame), c.peer);
  }
}

TEST(UdpFrameTest, EthernetPaddingIsNotPayload) {
  Bytes frame = ipv4_request(payload_of(4, 1));
  frame.resize(60, 0);  // the minimum Ethernet frame
  auto result = parse_udp_frame(frame);
  ASSERT_TRUE(result.frame.has_value());
  EXPECT_EQ(result.frame->payload_length, 4U);
}

TEST(UdpFrameTest, RejectsWhatTheKernelMustHandle) {
  const Bytes good = ipv4_request(payload_of(48, 0));
  auto with = [&](auto change) {
    Bytes frame = good;
    change(frame);
    return parse_udp_frame(frame);
  };
  EXPECT_EQ(with([](Bytes& f) { f[14] = 0x46; }).error, FrameError::IpOptions);
  EXPECT_EQ(with([](Bytes& f) { put16(f, 14 + 6, 0x2000); }).error, FrameError::Fragment);
  EXPECT_EQ(with([](Bytes& f) { put16(f, 14 + 6, 0x0001); }).error, FrameError::Fragment);
  EXPECT_EQ(with([](Bytes& f) { put16(f, 12, 0x8100); }).error, FrameError::NotIp);
  EXPECT_EQ(with([](Bytes& f) { f[14 + 10] ^= 1; }).error, FrameError::BadHeaderChecksum);
  EXPECT_EQ(with([](Bytes& f) { f.resize(30); }).error, FrameError::TooShort);
  EXPECT_EQ(with([](Bytes& f) { f.resize(f.size() - 1); }).error, FrameError::BadLength);
  EXPECT_EQ(with([](Bytes& f) { put16(f, 34 + 4, 7); }).error, FrameError::BadLength);
  EXPECT_EQ(with([](Bytes& f) { put16(f, 34, 0); }).error, FrameError::BadSource);
  Bytes v6 = ipv6_request(payload_of(48, 0));
  for (unsigned next : {0U, 43U, 44U, 60U}) {
    Bytes frame = v6;
    frame[14 + 6] = static_cast<std::uint8_t>(next);
    EXPECT_EQ(parse_udp_frame(frame).error, FrameError::ExtensionHeader) << int(next);
  }
  v6[14 + 6] = 6;
  EXPECT_EQ(parse_udp_frame(v6).error, FrameError::NotUdp);
}

TEST(UdpFrameTest, RejectsMulticastAndUnspecifiedSources) {
  Bytes frame = ipv4_request(payload_of(48, 0));
  frame[14 + 12] = 224;
  put16(frame, 14 + 10, 0);
  put16(frame, 14 + 10, ~reference_sum(frame, 14, 20) & 0xffff);
  EXPECT_EQ(parse_udp_frame(frame).error, FrameError::BadSource);
  Bytes v6 = ipv6_request(payload_of(48, 0));
  v6[14 + 8] = 0xff;
  EXPECT_EQ(parse_udp_frame(v6).error, FrameError::BadSource);
}

TEST(UdpFrameTest, Ipv4ReplySwapsAndChecksums) {
  Bytes frame = ipv4_request(payload_of(48, 0x23));
  auto request = parse_udp_frame(frame).frame;
  ASSERT_TRUE(request);
  // A longer reply than the request, written where the request was.
  const Bytes reply = payload_of(100, 0x40);
  frame.resize(request->payload_offset + reply.size());
  std::copy(reply.begin(), reply.end(), frame.begin() + static_cast<long>(request->payload_offset));
  const std::size_t length = build_reply(frame, *request, reply.size());
  EXPECT_EQ(length, 14U + 20 + 8 + 100);
  EXPECT_EQ(Bytes(frame.begin(), frame.begin() + 6), kClientMac);
  EXPECT_EQ(Bytes(frame.begin() + 6, frame.begin() + 12), kServerMac);
  EXPECT_EQ(get16(frame, 14 + 2), 20U + 8 + 100);
  EXPECT_EQ(Bytes(frame.begin() + 26, frame.begin() + 30), (Bytes{10, 201, 1, 1}));
  EXPECT_EQ(Bytes(frame.begin() + 30, frame.begin() + 34), (Bytes{10, 201, 1, 2}));
  EXPECT_EQ(reference_sum(frame, 14, 20), 0xffffU) << "IPv4 header checksum";
  EXPECT_EQ(get16(frame, 34), 123U);
  EXPECT_EQ(get16(frame, 36), 40000U);
  EXPECT_EQ(get16(frame, 38), 108U);
  EXPECT_TRUE(udp_checksum_ok(frame, 26, 4, 34));
  // And what we sent parses as a valid frame the other way round.
  auto back = parse_udp_frame(Bytes(frame.begin(), frame.begin() + static_cast<long>(length)));
  ASSERT_TRUE(back.frame);
  EXPECT_EQ(back.frame->payload_length, 100U);
}

TEST(UdpFrameTest, Ipv6ReplySwapsAndChecksums) {
  Bytes frame = ipv6_request(payload_of(68, 0x11));
  auto request = parse_udp_frame(frame).frame;
  ASSERT_TRUE(request);
  const Bytes reply = payload_of(49, 0x77);  // odd: the checksum pads
  std::copy(reply.begin(), reply.end(), frame.begin() + static_cast<long>(request->payload_offset));
  const std::size_t length = build_reply(frame, *request, reply.size());
  frame.resize(length);
  EXPECT_EQ(length, 14U + 40 + 8 + 49);
  EXPECT_EQ(get16(frame, 14 + 4), 8U + 49);
  EXPECT_EQ(frame[14 + 7], 64);
  EXPECT_EQ(frame[14 + 8 + 15], 1) << "source is the server";
  EXPECT_EQ(frame[14 + 24 + 15], 2) << "destination is the client";
  EXPECT_TRUE(udp_checksum_ok(frame, 14 + 8, 16, 54));
  // Corrupt one payload byte: the checksum must catch it.
  frame.back() ^= 0x01;
  EXPECT_FALSE(udp_checksum_ok(frame, 14 + 8, 16, 54));
}

TEST(UdpFrameTest, ComputedZeroIsSentAsAllOnes) {
  // Search payloads until the UDP checksum field would be 0: it must read 0xffff.
  Bytes frame = ipv4_request(payload_of(2, 0));
  auto request = parse_udp_frame(frame).frame;
  ASSERT_TRUE(request);
  bool found = false;
  for (unsigned v = 0; v <= 0xffff && !found; ++v) {
    Bytes copy = frame;
    put16(copy, request->payload_offset, v);
    build_reply(copy, *request, 2);
    if (get16(copy, 34 + 6) == 0xffff) {
      found = true;
      EXPECT_TRUE(udp_checksum_ok(copy, 26, 4, 34));
    }
    EXPECT_NE(get16(copy, 34 + 6), 0U);
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace ntsd::xdp
