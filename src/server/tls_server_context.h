// The TLS 1.3 server context for NTS-KE: certificate, key, and ALPN "ntske/1".
#pragma once

#include <openssl/ssl.h>

#include <string>

#include "common/openssl_ptr.h"

namespace ntsd::server {

struct CertificateFiles;

// Loads the chain and key; throws ConfigError naming the setting (--cert, --key,
// tls.certificates[N].cert, ...) when either cannot be used, so ntsd refuses to
// start rather than serve a broken handshake.
SslCtxPtr make_tls_server_context(const CertificateFiles& files);

// True when the handshake on `ssl` agreed on ALPN "ntske/1" (RFC 8915 §4: required).
bool negotiated_ntske_alpn(const SSL* ssl);

}  // namespace ntsd::server
