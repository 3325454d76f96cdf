#include "server/reuseport_steering.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

#include "common/unique_fd.h"

namespace ntsd::server {

bool address_in_use(const SocketAddress& address, int type) {
  if (address.port() == 0) return false;
  UniqueFd fd(::socket(address.family(), type | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return false;  // the real bind will report it
  int on = 1;
  if (type == SOCK_STREAM) setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (address.family() == AF_INET6) setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  return ::bind(fd.get(), address.get(), address.length()) != 0 && errno == EADDRINUSE;
}

unsigned steering_prefix_bits(const RateLimitSettings& rate_limit, int family) {
  const bool v4 = family == AF_INET;
  if (!rate_limit.enabled()) return v4 ? 32 : 128;
  return v4 ? rate_limit.ipv4_prefix : rate_limit.ipv6_prefix;
}

std::vector<sock_filter> source_prefix_program(int family, unsigned prefix_bits, unsigned members) {
  constexpr std::uint32_t kMultiplier = 0x9e3779b1;  // Fibonacci hashing spreads close prefixes
  const std::uint32_t source_offset = family == AF_INET ? 12 : 8;
  std::vector<sock_filter> program;
  for (unsigned word = 0; word * 32 < prefix_bits; ++word) {
    if (word > 0) program.push_back(BPF_STMT(BPF_MISC | BPF_TAX, 0));  // X = fold so far
    const std::uint32_t offset = static_cast<std::uint32_t>(SKF_NET_OFF) + source_offset + 4 * word;
    program.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offset));
    const unsigned bits = std::min(32u, prefix_bits - word * 32);
    if (bits < 32) program.push_back(BPF_STMT(BPF_ALU | BPF_AND | BPF_K, ~0u << (32 - bits)));
    if (word > 0) program.push_back(BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0));
  }
  program.push_back(BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, kMultiplier));
  program.push_back(BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16));
  program.push_back(BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, members));
  program.push_back(BPF_STMT(BPF_RET | BPF_A, 0));
  return program;
}

bool steer_by_source_prefix(int fd, int family, unsigned prefix_bits, unsigned members) {
  auto program = source_prefix_program(family, prefix_bits, members);
  sock_fprog fprog{static_cast<unsigned short>(program.size()), program.data()};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &fprog, sizeof fprog) == 0;
}

}  // namespace ntsd::server
