// The NTS-KE server (RFC 8915 §4): TLS 1.3 on TCP, one request, one response,
// close_notify. Asio stays inside ke_server.cpp.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

#include "common/socket_address.h"
#include "core/cookie.h"
#include "core/ke_negotiation.h"
#include "keys/published_keyring.h"
#include "server/certificate_store.h"
#include "server/config.h"
#include "server/duration_histogram.h"
#include "server/rate_limit.h"

namespace ntsd::server {

struct KeServerSettings {
  std::vector<SocketAddress> listen;
  // AEAD preference. Its ntp_server/ntp_port are filled per session from
  // ntp_servers when that is not empty.
  core::KeServerPolicy policy;
  // The NTP servers handed out, one per session, picked by server_choice.
  std::vector<AdvertisedNtpServer> ntp_servers;
  ServerChoice server_choice = ServerChoice::Hash;
  // From accept to the end of the request: the handshake and the whole request
  // must arrive within it (a partial request then gets Error 1).
  std::chrono::milliseconds timeout{2000};
  // RFC 8915 §4 asks servers to accept requests of at least 1024 bytes.
  std::size_t max_request_length = 16 * 1024;
  // Sessions open at once (TLS handshake to close). A connection beyond it
  // closes the oldest session still waiting for its request, or, when none
  // waits, is closed at once. 0: default_ke_max_sessions().
  std::size_t max_sessions = 0;
  // New connections per client address (server/rate_limit.h); over it the
  // connection is closed at once. Disabled unless rate_limit.rate > 0.
  RateLimitSettings rate_limit;
  // Threads serving sessions, each with its own listeners (one SO_REUSEPORT
  // group per address, clients steered to a thread by address), rate limiter
  // and share of max_sessions (ke_shard_max_sessions).
  unsigned threads = 1;
};

// Concurrent NTS-KE sessions this machine can hold: bounded by the descriptors
// left under RLIMIT_NOFILE and by a share of physical memory (about 64 KiB per
// session), between 16 and 65536.
std::size_t default_ke_max_sessions();

// Each of `threads` KE threads' share of max_sessions: an equal part, at least 1.
std::size_t ke_shard_max_sessions(std::size_t max_sessions, unsigned threads);

struct KeServerCounters {
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> ok{0};
  std::atomic<std::uint64_t> tls_failed{0};
  std::atomic<std::uint64_t> no_alpn{0};
  std::atomic<std::uint64_t> error_response{0};
  std::atomic<std::uint64_t> negotiation_failed{0};  // empty Next Protocol or AEAD
  std::atomic<std::uint64_t> timeout{0};
  std::atomic<std::uint64_t> closed_early{0};
  std::atomic<std::uint64_t> refused_busy{0};  // max_sessions reached, none of them waiting
  std::atomic<std::uint64_t> evicted{0};  // closed before its request, for a new connection
  std::atomic<std::uint64_t> refused_rate{0};  // over the per-address rate limit
  std::atomic<std::uint64_t> active{0};        // sessions open now
  // From accept to the end of a successful TLS handshake (failed ones are not timed).
  DurationHistogram handshake;
};

// Which of `count` (> 0) NTP servers a session gets. Hash: a hash of the client's
// IP address alone (not its port; an IPv4-mapped IPv6 address counts as the IPv4
// address), the same on every KE host and across restarts. RoundRobin: `turn`
// modulo count, the caller counting sessions.
std::size_t choose_ntp_server(ServerChoice choice, const SocketAddress& peer, std::size_t count,
                              std::uint64_t turn);

class KeServer {
 public:
  // Binds every listen address; throws ConfigError naming --ke-listen on failure.
  // Each session takes its certificate from `certificates` when it starts, so a
  // reload there reaches every later session.
  KeServer(std::shared_ptr<const CertificateStore> certificates, KeServerSettings settings,
           const keys::PublishedKeyring& keyring);
  ~KeServer();
  KeServer(const KeServer&) = delete;
  KeServer& operator=(const KeServer&) = delete;

  void start();  // serves on settings.threads threads of its own
  void stop();   // closes listeners and sessions, joins the threads

  [[nodiscard]] const KeServerCounters& counters() const;
  // The bound addresses (port 0 in a listen address is resolved here).
  [[nodiscard]] std::vector<SocketAddress> local_addresses() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ntsd::server
