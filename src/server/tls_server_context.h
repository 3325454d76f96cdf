// The TLS 1.3 server context for NTS-KE: certificate, key, and ALPN "ntske/1".
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>

namespace ntsd::server {

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

// Loads the chain and key; throws ConfigError naming --cert or --key when either
// cannot be used, so ntsd refuses to start rather than serve a broken handshake.
SslCtxPtr make_tls_server_context(const std::string& certificate_file,
                                  const std::string& private_key_file);

// True when the handshake on `ssl` agreed on ALPN "ntske/1" (RFC 8915 §4: required).
bool negotiated_ntske_alpn(const SSL* ssl);

}  // namespace ntsd::server
