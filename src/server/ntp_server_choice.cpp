#include "server/ntp_server_choice.h"

#include "server/peer_address.h"

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
  return mix64(h);
}

}  // namespace

std::size_t choose_ntp_server(ServerChoice choice, const SocketAddress& peer, std::size_t count,
                              std::uint64_t turn) {
  if (count <= 1) return 0;
  if (choice == ServerChoice::RoundRobin) return static_cast<std::size_t>(turn % count);
  const auto address = peer_address_bytes(peer.get());
  const std::uint64_t h = address.empty() ? 0 : address_hash(address.data(), address.size());
  return static_cast<std::size_t>(h % count);
}

const AdvertisedNtpServer* NtpServerChooser::choose(const SocketAddress& peer) {
  if (servers_.empty()) return nullptr;
  const auto turn = turn_.fetch_add(1, std::memory_order_relaxed);
  return &servers_[choose_ntp_server(choice_, peer, servers_.size(), turn)];
}

}  // namespace ntsd::server
