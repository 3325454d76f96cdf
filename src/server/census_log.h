// The research log (docs/metrics.md, "Research log"): one JSON line per NTS-KE
// session with what the census counts, the AEAD chosen, the outcome, and the
// client's address cut to a prefix. Off by default (--census-log).
//
// This file holds the record and its formatting, without I/O;
// census_log_writer.h queues records and writes them.
#pragma once

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "server/ke_census.h"
#include "server/ke_session_outcome.h"

namespace ntsd::server {

// Text of at most N bytes, held in place: a record in the queue owns no heap
// memory, whatever the network sent. Longer text is cut.
template <std::size_t N>
class BoundedText {
 public:
  BoundedText() = default;
  explicit BoundedText(std::string_view text) { assign(text); }
  void assign(std::string_view text) {
    size_ = std::min(text.size(), N);
    std::copy_n(text.data(), size_, bytes_.data());
  }
  [[nodiscard]] std::string_view view() const { return {bytes_.data(), size_}; }

 private:
  std::array<char, N> bytes_{};
  std::size_t size_ = 0;
};

// The census labels are bounded (ke_census.h); these hold the longest whole.
inline constexpr std::size_t kAeadTextBytes = kMaxAeadsInLabel * 6 + 4;  // "65535," ... ",..."
inline constexpr std::size_t kAlpnTextBytes = kMaxAlpnInLabel * (kMaxAlpnNameLength + 1) + 4;
inline constexpr std::size_t kTlsNameBytes = 48;  // OpenSSL's names are shorter

// How much of a client's address is logged: prefix lengths, 0 for no address.
struct CensusLogPrefixes {
  unsigned ipv4 = 24;  // 0-32
  unsigned ipv6 = 48;  // 0-128
  bool operator==(const CensusLogPrefixes&) const = default;
};

// A client address with the bits beyond its prefix zeroed.
struct ClientPrefix {
  int family = AF_UNSPEC;  // AF_INET, AF_INET6; AF_UNSPEC: nothing logged
  std::array<std::uint8_t, 16> bytes{};
  unsigned length = 0;
};

// IPv4-mapped IPv6 addresses (::ffff:192.0.2.1, a dual-stack listener's IPv4
// clients) are cut as IPv4. A prefix length of 0, or an unknown family, logs none.
ClientPrefix truncate_client_address(const sockaddr* address, socklen_t length,
                                     CensusLogPrefixes prefixes);

// "192.0.2.0/24", "2001:db8:1::/48"; empty for none.
std::string format_client_prefix(const ClientPrefix& prefix);

// What the TLS layer negotiated (a completed handshake).
struct CensusTls {
  BoundedText<kTlsNameBytes> version;
  BoundedText<kTlsNameBytes> cipher;
  BoundedText<kTlsNameBytes> group;  // empty: unknown
  bool sni = false;
};

// A request read whole (complete or malformed).
struct CensusRequest {
  unsigned tls_records = 0;           // TLS records carrying application data
  unsigned reads = 0;                 // reads that returned some of it
  BoundedText<kAeadTextBytes> aeads;  // ke_aead_list_label: "30,15", "none"
  std::array<bool, kKeRecordSeenCount> records{};
};

// One session. Parts the session never reached are none.
struct CensusRecord {
  std::chrono::system_clock::time_point time;  // when the session ended
  ClientPrefix client;
  KeSessionOutcome outcome = KeSessionOutcome::Ok;
  std::optional<BoundedText<kAlpnTextBytes>> alpn;  // ke_alpn_label; none: no ClientHello
  std::optional<CensusTls> tls;                     // none: no completed handshake
  std::optional<CensusRequest> request;             // none: no whole request
  std::optional<std::uint16_t> aead;                // the AEAD chosen; none: no cookies
};

// One JSON object and '\n'. Every key is always present (null when the session
// did not get that far), so that each line has the same shape.
std::string format_census_line(const CensusRecord& record);

// "2026-11-29T22:56:12.123Z"
std::string format_rfc3339_ms(std::chrono::system_clock::time_point time);

// ntsd_census_log_lines_total{result}: what became of each session's line.
struct CensusLogCounts {
  std::uint64_t written = 0;
  std::uint64_t dropped_rate = 0;   // over the lines-per-second cap
  std::uint64_t dropped_queue = 0;  // the writer was behind: queue full
  std::uint64_t error = 0;          // the write failed (disk full, ...)
};

}  // namespace ntsd::server
