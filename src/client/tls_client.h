// A blocking TLS 1.3 client connection with deadlines, on OpenSSL.
//
// OpenSSL writes to the socket with write(2): a peer that resets the connection
// raises SIGPIPE. Programs using this must ignore SIGPIPE (nts-query does).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "client/net.h"
#include "common/openssl_ptr.h"

namespace ntsd::client {

struct TlsClientConfig {
  std::string host;                    // for SNI and the certificate name/IP check
  std::optional<std::string> ca_file;  // trust only this PEM file; else the system store
  std::string alpn;                    // required: the handshake fails without it
  bool verify = true;                  // false only for tests that say so explicitly
};

// One certificate as the server presented it. Text from the certificate is made
// safe to print: names are RFC 2253-escaped, SAN entries lose control characters.
struct CertificateInfo {
  std::string subject;                    // RFC 2253, UTF-8
  std::string issuer;                     // RFC 2253, UTF-8
  std::vector<std::string> dns_names;     // subjectAltName dNSName entries
  std::vector<std::string> ip_addresses;  // subjectAltName iPAddress entries
  std::string not_before;                 // "2026-01-31T12:00:00Z"
  std::string not_after;                  // "2027-01-31T12:00:00Z"
  std::int64_t days_left = 0;             // whole days until notAfter; negative once expired
  std::string key;                        // "EC P-256", "RSA 2048", "ED25519"
  std::string signature_algorithm;        // "ecdsa-with-SHA256", "sha256WithRSAEncryption"
};

class TlsConnection {
 public:
  // Performs the TLS 1.3 handshake over `tcp` (non-blocking, connected) before
  // `deadline`. Throws ClientError: "TLS handshake failed: <reason>".
  static TlsConnection handshake(UniqueFd tcp, const TlsClientConfig& config, Deadline deadline);

  TlsConnection(TlsConnection&&) noexcept = default;
  TlsConnection& operator=(TlsConnection&&) noexcept = default;
  ~TlsConnection();

  // Writes all of data (one SSL_write) before deadline, or throws ClientError.
  void write_all(std::span<const std::uint8_t> data, Deadline deadline);
  // Reads what is available (at least one byte) into out; returns 0 when the
  // peer closed the connection cleanly. Throws ClientError on timeout or error.
  std::size_t read_some(std::span<std::uint8_t> out, Deadline deadline);
  // Sends close_notify (best effort, bounded by deadline).
  void shutdown(Deadline deadline);

  // TLS exporter (RFC 8446 §7.5) with a context; throws ClientError on failure.
  void export_keying_material(std::span<std::uint8_t> out, std::string_view label,
                              std::span<const std::uint8_t> context) const;

  [[nodiscard]] std::string version() const;  // "TLSv1.3"
  [[nodiscard]] std::string cipher() const;   // "TLS_AES_256_GCM_SHA384"
  [[nodiscard]] std::string alpn() const;     // negotiated protocol
  // The chain the server sent, leaf first; empty when it sent none.
  [[nodiscard]] std::vector<CertificateInfo> peer_chain() const;

 private:
  TlsConnection(UniqueFd fd, SslCtxPtr ctx, SslPtr ssl);

  // Handles SSL_ERROR_WANT_*: waits for the socket; false when the deadline passed.
  // Throws ClientError (prefixed with `what`) for any other error.
  bool wait_for_retry(int ssl_result, Deadline deadline, std::string_view what);

  UniqueFd fd_;  // closed last
  SslCtxPtr ctx_;
  SslPtr ssl_;
};

}  // namespace ntsd::client
