// udp_flood: floods an NTP port with hostile packets for a while, then prints
// one JSON line with what it sent and what came back.
//
//   udp_flood HOST PORT SECONDS SOURCE_ADDRESS...
//
// Every SOURCE_ADDRESS (IPv4 or IPv6, e.g. 127.0.1.1 127.0.2.1) gets its own
// socket; packets go out round robin in sendmmsg batches, as fast as the kernel
// takes them. The packets, in turn: random bytes of random length, headers in
// every non-client mode and unsupported versions, truncated and overlong
// extension fields, and well-formed NTS requests whose cookie no server knows
// (each would cost the server a cookie decryption and earn a NAK). Replies are
// drained without blocking and counted, so the caller can check that the server
// never answered with more bytes than it was sent.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

constexpr std::size_t kBatch = 64;
constexpr std::size_t kMaxPacket = 1500;

struct Packet {
  std::array<std::uint8_t, kMaxPacket> bytes{};
  std::size_t length = 0;
};

void put16(std::uint8_t* p, unsigned v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}

// Appends an extension field with `body_length` random bytes; returns the new length.
std::size_t field(Packet& p, std::size_t at, unsigned type, std::size_t body_length,
                  std::mt19937_64& rng) {
  const std::size_t length = 4 + ((body_length + 3) / 4) * 4;
  put16(&p.bytes[at], type);
  put16(&p.bytes[at + 2], static_cast<unsigned>(length));
  for (std::size_t i = 0; i < length - 4; ++i)
    p.bytes[at + 4 + i] = static_cast<std::uint8_t>(rng());
  return at + length;
}

void header(Packet& p, unsigned version, unsigned mode, std::mt19937_64& rng) {
  for (std::size_t i = 0; i < 48; ++i) p.bytes[i] = static_cast<std::uint8_t>(rng());
  p.bytes[0] = static_cast<std::uint8_t>((version << 3) | mode);
}

void make(Packet& p, std::uint64_t n, std::mt19937_64& rng) {
  switch (n % 6) {
    case 0:  // random bytes, 0 to 1400 long
      p.length = rng() % 1401;
      for (std::size_t i = 0; i < p.length; ++i) p.bytes[i] = static_cast<std::uint8_t>(rng());
      break;
    case 1:  // a header in a mode or version nobody answers
      header(p, (rng() % 2) ? 4 : static_cast<unsigned>(rng() % 8), 0, rng);
      p.bytes[0] =
          static_cast<std::uint8_t>((p.bytes[0] & 0xF8) | (rng() % 8 == 3 ? 4 : rng() % 8));
      if ((p.bytes[0] & 7) == 3 && ((p.bytes[0] >> 3) & 7) >= 3 && ((p.bytes[0] >> 3) & 7) <= 4) {
        p.bytes[0] = static_cast<std::uint8_t>((4 << 3) | 4);  // never a valid client packet
      }
      p.length = 48;
      break;
    case 2: {  // a field whose length runs past the packet
      header(p, 4, 3, rng);
      std::size_t end = field(p, 48, 0x0104, 32, rng);
      put16(&p.bytes[end], 0x0204);
      put16(&p.bytes[end + 2], 1000);
      p.length = end + 8;
      break;
    }
    case 3: {  // NTS fields without an authenticator
      header(p, 4, 3, rng);
      std::size_t end = field(p, 48, 0x0104, 32, rng);
      p.length = field(p, end, 0x0204, 100, rng);
      break;
    }
    default: {  // a well-formed NTS request with a cookie no server can open
      header(p, 4, 3, rng);
      std::size_t end = field(p, 48, 0x0104, 32, rng);
      end = field(p, end, 0x0204, 100, rng);  // key id random: unknown key
      for (int i = 0; i < static_cast<int>(rng() % 3); ++i) end = field(p, end, 0x0304, 100, rng);
      // Authenticator: nonce 16, ciphertext 16 (a tag), random.
      put16(&p.bytes[end], 0x0404);
      put16(&p.bytes[end + 2], 4 + 4 + 16 + 16);
      put16(&p.bytes[end + 4], 16);
      put16(&p.bytes[end + 6], 16);
      for (std::size_t i = 0; i < 32; ++i) p.bytes[end + 8 + i] = static_cast<std::uint8_t>(rng());
      p.length = end + 40;
      break;
    }
  }
}

bool parse(const std::string& host, std::uint16_t port, sockaddr_storage& out, socklen_t& length) {
  std::memset(&out, 0, sizeof out);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    length = sizeof *v4;
    return true;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    length = sizeof *v6;
    return true;
  }
  return false;
}

// What came back: how many replies, their bytes and the largest.
struct Replies {
  std::uint64_t count = 0;
  std::uint64_t bytes = 0;
  std::uint64_t largest = 0;

  // Reads whatever is queued on fd, without waiting.
  void drain(int fd, std::array<std::uint8_t, 65536>& buffer) {
    for (;;) {
      const ssize_t got = recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
      if (got < 0) return;
      ++count;
      bytes += static_cast<std::uint64_t>(got);
      if (static_cast<std::uint64_t>(got) > largest) largest = static_cast<std::uint64_t>(got);
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: udp_flood HOST PORT SECONDS SOURCE_ADDRESS...\n");
    return 2;
  }
  sockaddr_storage target{};
  socklen_t target_length = 0;
  if (!parse(argv[1], static_cast<std::uint16_t>(std::atoi(argv[2])), target, target_length)) {
    std::fprintf(stderr, "udp_flood: bad host %s\n", argv[1]);
    return 2;
  }
  const double seconds = std::atof(argv[3]);
  std::vector<int> sockets;
  for (int i = 4; i < argc; ++i) {
    sockaddr_storage source{};
    socklen_t source_length = 0;
    if (!parse(argv[i], 0, source, source_length)) {
      std::fprintf(stderr, "udp_flood: bad source %s\n", argv[i]);
      return 2;
    }
    int fd = socket(source.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&source), source_length) != 0) {
      std::perror("udp_flood: bind");
      return 2;
    }
    sockets.push_back(fd);
  }

  std::mt19937_64 rng(0x5eed);
  std::vector<Packet> packets(kBatch);
  std::array<mmsghdr, kBatch> messages{};
  std::array<iovec, kBatch> iov{};
  std::uint64_t sent = 0, sent_bytes = 0;
  Replies replies;
  std::uint64_t n = 0;
  std::array<std::uint8_t, 65536> reply{};
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  std::size_t turn = 0;
  while (std::chrono::steady_clock::now() < end) {
    for (std::size_t i = 0; i < kBatch; ++i) {
      make(packets[i], n++, rng);
      iov[i] = {packets[i].bytes.data(), packets[i].length};
      messages[i].msg_hdr = msghdr{};
      messages[i].msg_hdr.msg_name = &target;
      messages[i].msg_hdr.msg_namelen = target_length;
      messages[i].msg_hdr.msg_iov = &iov[i];
      messages[i].msg_hdr.msg_iovlen = 1;
    }
    int fd = sockets[turn++ % sockets.size()];
    int done = sendmmsg(fd, messages.data(), kBatch, 0);
    if (done > 0) {
      sent += static_cast<std::uint64_t>(done);
      for (int i = 0; i < done; ++i) sent_bytes += packets[static_cast<std::size_t>(i)].length;
    }
    for (int s : sockets) replies.drain(s, reply);
  }
  // Late replies.
  usleep(200000);
  for (int s : sockets) {
    replies.drain(s, reply);
    close(s);
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "{\"sent\": %llu, \"sent_bytes\": %llu, \"received\": %llu, \"received_bytes\": %llu, "
      "\"largest_reply\": %llu, \"seconds\": %.3f}\n",
      static_cast<unsigned long long>(sent), static_cast<unsigned long long>(sent_bytes),
      static_cast<unsigned long long>(replies.count),
      static_cast<unsigned long long>(replies.bytes),
      static_cast<unsigned long long>(replies.largest), elapsed);
  return 0;
}
