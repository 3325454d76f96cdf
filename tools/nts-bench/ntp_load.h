// NTP load generator: plain or NTS-protected NTPv4 requests over UDP, open loop at a
// fixed rate or closed loop at a fixed number in flight, from several threads and
// sockets, with sendmmsg/recvmmsg. Measures what was sent and answered and the
// latency of every answer.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "client/net.h"
#include "core/bytes.h"
#include "core/nts_keys.h"

namespace ntsd::bench {

struct NtpLoadOptions {
  SocketAddress server;
  // NTS: keys and cookies from one NTS-KE session. Servers keep no per-client state,
  // so the same few cookies are sent again and again; each request still carries its
  // own unique identifier and is sealed with C2S.
  std::optional<core::NtsKeys> keys;
  std::vector<core::Bytes> cookies;
  std::size_t placeholders = 0;
  // Check each NTS response's authenticator with S2C (core::parse_nts_response).
  // Costs generator CPU; without it a response counts as answered when it is a
  // server-mode reply to one of our requests and not a NAK (stratum 0).
  bool verify = false;

  std::chrono::duration<double> duration{5.0};
  std::uint64_t count = 0;  // stop after this many requests (0: when the duration ends)
  double rate = 0.0;        // requests per second over all threads; 0 = closed loop
  unsigned window = 64;     // closed loop: requests in flight per thread
  unsigned threads = 1;
  unsigned sockets_per_thread = 4;  // distinct source ports, for SO_REUSEPORT spreading
  // Never sleep: poll the sockets without blocking. Sends go out on time and answers
  // are seen at once, at the price of a whole CPU (pin the generator apart).
  bool spin = false;
  std::chrono::milliseconds timeout{200};  // an answer later than this counts as lost
  // When > 0, requests come from this many distinct loopback addresses 127.0.0.1 and
  // up (IP_PKTINFO on unbound sockets): for servers that keep per-client state.
  std::uint32_t sources = 0;
  // Source address k is 127.0.0.1 + (k * stride mod (2^24 - 2)): an odd stride not
  // divisible by 47 or 178481 keeps them distinct, and a stride above 256 puts
  // neighbours in different /24 prefixes (for per-prefix rate limiters).
  std::uint32_t source_stride = 1;
};

struct NtpLoadResult {
  std::uint64_t sent = 0;
  std::uint64_t answered = 0;   // matched (and authenticated, when verifying)
  std::uint64_t naks = 0;       // NTS NAK (kiss-o'-death) to one of our requests
  std::uint64_t invalid = 0;    // matched but malformed, or failed verification
  std::uint64_t unmatched = 0;  // late (after timeout), duplicate or foreign
  std::uint64_t lost = 0;       // no answer within the timeout
  std::uint64_t send_errors = 0;
  // Open loop: requests the schedule called for that were never sent because the
  // generator fell more than ~0.5 ms behind (it sends no catch-up bursts, which
  // would overflow the server's receive buffer and measure the generator).
  std::uint64_t skipped = 0;
  std::size_t request_length = 0;
  double seconds = 0.0;                   // the sending phase
  std::vector<std::uint32_t> latency_ns;  // send (user space) to kernel receive timestamp
};

// Runs the load; throws client::ClientError when sockets cannot be set up.
NtpLoadResult run_ntp_load(const NtpLoadOptions& options);

}  // namespace ntsd::bench
