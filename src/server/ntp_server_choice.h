// Which NTP server an NTS-KE response hands a client: the configured entries
// (--ntp-server, --ntp-server-choice) and the choice among them per session.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/socket_address.h"

namespace ntsd::server {

// How NTS-KE picks among several advertised NTP servers.
enum class ServerChoice {
  Hash,        // by a hash of the client's IP address: the same client, the same server
  RoundRobin,  // each session the next one in turn
};

// One --ntp-server HOST[:PORT]: HOST goes into the NTPv4 Server record; PORT, when
// given, into the Port record (else --ntp-port, else none: the client uses 123).
struct NtpServerEntry {
  std::string host;
  std::optional<std::uint16_t> port;
  bool operator==(const NtpServerEntry&) const = default;
};

// What one NTS-KE response advertises.
struct AdvertisedNtpServer {
  std::optional<std::string> host;    // Server record; none: the client uses the KE host
  std::optional<std::uint16_t> port;  // Port record; none: the client uses 123
  bool operator==(const AdvertisedNtpServer&) const = default;
};

// Which of `count` (> 0) NTP servers a session gets. Hash: a hash of the client's
// IP address alone (not its port; an IPv4-mapped IPv6 address counts as the IPv4
// address), the same on every KE host and across restarts. RoundRobin: `turn`
// modulo count, the caller counting sessions.
std::size_t choose_ntp_server(ServerChoice choice, const SocketAddress& peer, std::size_t count,
                              std::uint64_t turn);

// The advertised servers and the round-robin turn, shared by every KE thread.
class NtpServerChooser {
 public:
  NtpServerChooser(std::vector<AdvertisedNtpServer> servers, ServerChoice choice)
      : servers_(std::move(servers)), choice_(choice) {}

  // The server for a session answered with cookies; none when none is
  // configured. Each call takes a round-robin turn.
  const AdvertisedNtpServer* choose(const SocketAddress& peer);

 private:
  std::vector<AdvertisedNtpServer> servers_;
  ServerChoice choice_;
  std::atomic<std::uint64_t> turn_{0};
};

}  // namespace ntsd::server
