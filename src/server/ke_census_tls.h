// What one NTS-KE session's TLS connection tells the census (ke_census.h),
// read from OpenSSL. Included by ke_session.cpp and tls_server_context.cpp.
#pragma once

#include <openssl/ssl.h>

#include <string>

#include "server/ke_census.h"

namespace ntsd::server {

// Watches one SSL from before its handshake: a message callback counts the TLS
// records received that carry application data (the inner content type of TLS
// 1.3, so exactly the records of the request, whatever the TCP segmentation or
// how SSL_read hands them out) and notes the ClientHello; the ALPN selection
// (note_offered_alpn) records what the client offered. Must outlive the SSL's
// last read; it never touches the SSL after the constructor.
class KeSessionObserver {
 public:
  explicit KeSessionObserver(SSL* ssl);
  KeSessionObserver(const KeSessionObserver&) = delete;
  KeSessionObserver& operator=(const KeSessionObserver&) = delete;

  [[nodiscard]] unsigned application_records() const { return application_records_; }
  [[nodiscard]] bool client_hello_seen() const { return client_hello_seen_; }
  // ke_alpn_label of the ClientHello's offer ("none" before one arrived).
  [[nodiscard]] const std::string& offered_alpn() const { return offered_alpn_; }

  // After the handshake: the offered ALPN (once a ClientHello arrived) and,
  // when it completed, version, cipher, group and SNI.
  void count_handshake(KeCensus& census, SSL* ssl, bool completed) const;

 private:
  friend void note_offered_alpn(SSL* ssl, const unsigned char* offered, unsigned int length);
  static void on_message(int write_p, int version, int content_type, const void* buf,
                         std::size_t length, SSL* ssl, void* arg);

  unsigned application_records_ = 0;
  bool client_hello_seen_ = false;
  std::string offered_alpn_ = "none";
};

// What a completed handshake negotiated (names are OpenSSL's static strings).
KeTlsCensus read_tls_census(SSL* ssl);

// Called by the ALPN select callback with the client's offer (wire form).
// Does nothing for an SSL without an observer.
void note_offered_alpn(SSL* ssl, const unsigned char* offered, unsigned int length);

}  // namespace ntsd::server
