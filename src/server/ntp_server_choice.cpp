#include "server/ntp_server_choice.h"

#include <netinet/in.h>

namespace ntsd::server {

namespace {

// 64-bit FNV-1a, then a finalizer so that addresses differing in one low bit
// spread over the servers.
std::uint64_t address_hash(const std::uint8_t* bytes, std::size_t size) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::size_t i = 0; i < size; ++i) {
    h ^= bytes[i];
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

}  // namespace

std::size_t choose_ntp_server(ServerChoice choice, const SocketAddress& peer, std::size_t count,
                              std::uint64_t turn) {
  if (count <= 1) return 0;
  if (choice == ServerChoice::RoundRobin) return static_cast<std::size_t>(turn % count);
  std::uint64_t h = 0;
  if (peer.family() == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(peer.get());
    h = address_hash(reinterpret_cast<const std::uint8_t*>(&v4->sin_addr), 4);
  } else if (peer.family() == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(peer.get());
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(&v6->sin6_addr);
    h = IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr) ? address_hash(bytes + 12, 4)
                                             : address_hash(bytes, 16);
  }
  return static_cast<std::size_t>(h % count);
}

const AdvertisedNtpServer* NtpServerChooser::choose(const SocketAddress& peer) {
  if (servers_.empty()) return nullptr;
  const auto turn = turn_.fetch_add(1, std::memory_order_relaxed);
  return &servers_[choose_ntp_server(choice_, peer, servers_.size(), turn)];
}

}  // namespace ntsd::server
