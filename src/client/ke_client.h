// NTS-KE client (RFC 8915 §4): one blocking TLS 1.3 exchange that yields the
// negotiated AEAD, the C2S/S2C keys, cookies and the NTP server to use.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "client/tls_client.h"
#include "core/aead.h"
#include "core/bytes.h"
#include "core/nts_keys.h"

namespace ntsd::client {

inline constexpr std::uint16_t kDefaultKePort = 4460;
inline constexpr std::uint16_t kDefaultNtpPort = 123;
inline constexpr std::size_t kMaxKeResponseSize = std::size_t{64} * 1024;

struct KeClientOptions {
  std::string host;  // name or IP literal (no brackets)
  std::uint16_t port = kDefaultKePort;
  std::optional<std::string> ca_file;       // trust only this file; else the system store
  std::chrono::milliseconds timeout{5000};  // for each of connect, handshake, exchange
  // Offered AEAD algorithms, preferred first; with 30, record 1024 is sent too.
  // The default is chrony 4.6's: 30, then 15, then 17.
  std::vector<core::AeadAlgorithm> aeads{core::AeadAlgorithm::AesGcmSiv128,
                                         core::AeadAlgorithm::AesSivCmac256,
                                         core::AeadAlgorithm::AesSivCmac512};
};

// Steady-clock durations of the stages that completed.
struct KeTimings {
  std::optional<std::chrono::microseconds> dns;  // getaddrinfo (also for address literals)
  std::optional<std::chrono::microseconds> connect;
  std::optional<std::chrono::microseconds> handshake;
  std::optional<std::chrono::microseconds> exchange;  // request written to End of Message read
};

// What the session learned; filled as far as it got, also when it failed.
struct KeSession {
  std::string host;
  std::uint16_t port = 0;
  std::string peer_address;  // the IP address connected to, without port

  // TLS (set once the handshake succeeded)
  std::string tls_version;
  std::string tls_cipher;
  std::string alpn;
  std::optional<std::string> certificate_subject;
  std::optional<std::string> certificate_not_after;  // ISO 8601, UTC
  std::optional<std::int64_t> certificate_days_left;
  std::vector<CertificateInfo> certificates;  // as presented, leaf first

  // NTS-KE (set once the response was interpreted)
  std::optional<core::AeadAlgorithm> aead;
  // AEAD 30 with the RFC's exporter context (the server echoed record 1024).
  bool compliant_gcm_siv = false;
  std::vector<core::Bytes> cookies;
  std::vector<std::uint16_t> warnings;
  std::string ntp_server;  // Server record, else the KE server's address
  std::uint16_t ntp_port = 0;
  std::optional<core::NtsKeys> keys;

  KeTimings timings;
};

struct KeResult {
  bool ok = false;
  std::string error;  // one line, when !ok
  KeSession session;
};

// Connects, handshakes (TLS 1.3, ALPN ntske/1, certificate checked against the host
// name or address), sends the request, reads the response, exports the keys and
// sends close_notify. Never throws for network or protocol failures.
KeResult run_ke(const KeClientOptions& options);

}  // namespace ntsd::client
