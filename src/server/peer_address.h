// What the per-address tables (rate limit buckets, NTS-KE server choice) key on: a
// peer's address bytes, with an IPv4-mapped IPv6 address counted as the IPv4
// address it carries, and a 64-bit hash finalizer to spread them.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <span>

namespace ntsd::server {

// 4 bytes for IPv4 (mapped or not), 16 for IPv6, empty for any other family.
inline std::span<const std::uint8_t> peer_address_bytes(const sockaddr* peer) {
  if (peer == nullptr) return {};
  if (peer->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(peer);
    return {reinterpret_cast<const std::uint8_t*>(&v4->sin_addr), 4};
  }
  if (peer->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(peer);
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(&v6->sin6_addr);
    if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) return {bytes + 12, 4};
    return {bytes, 16};
  }
  return {};
}

// MurmurHash3's 64-bit finalizer: every input bit flips about half the output bits,
// so addresses that differ in one low bit land far apart.
constexpr std::uint64_t mix64(std::uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

}  // namespace ntsd::server
