#include "server/tls_server_context.h"

#include <openssl/err.h>

#include <cstring>

#include "core/ke_negotiation.h"
#include "server/certificate_store.h"
#include "server/ke_census_tls.h"
#include "server/openssl_error.h"

namespace ntsd::server {

namespace {

// Wire form of the one protocol we speak: length-prefixed "ntske/1".
constexpr unsigned char kAlpnWire[] = {7, 'n', 't', 's', 'k', 'e', '/', '1'};

int select_ntske_alpn(SSL* ssl, const unsigned char** out, unsigned char* out_length,
                      const unsigned char* offered, unsigned int offered_length, void* /*arg*/) {
  note_offered_alpn(ssl, offered, offered_length);  // for the census
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_length, kAlpnWire, sizeof kAlpnWire, offered,
                            offered_length) != OPENSSL_NPN_NEGOTIATED) {
    // The client offered ALPN without ntske/1: refuse with no_application_protocol.
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

SslCtxPtr make_tls_server_context(const CertificateFiles& files) {
  const auto& certificate_file = files.certificate_file;
  const auto& private_key_file = files.private_key_file;
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    throw ConfigError(files.certificate_setting,
                      "cannot create a TLS context: " + take_openssl_errors());
  }
  // RFC 8915 §3: NTS-KE runs over TLS 1.3 only.
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION);
  // Clients make one exchange per connection and come back rarely: tickets would
  // only cost a write per handshake.
  SSL_CTX_set_num_tickets(ctx.get(), 0);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  SSL_CTX_set_alpn_select_cb(ctx.get(), select_ntske_alpn, nullptr);

  if (SSL_CTX_use_certificate_chain_file(ctx.get(), certificate_file.c_str()) != 1) {
    throw ConfigError(
        files.certificate_setting,
        "cannot load certificate chain " + certificate_file + ": " + take_openssl_errors());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), private_key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    throw ConfigError(files.key_setting,
                      "cannot load private key " + private_key_file + ": " + take_openssl_errors());
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    ERR_clear_error();
    throw ConfigError(files.key_setting,
                      private_key_file + " does not match the certificate " + certificate_file);
  }
  return ctx;
}

bool negotiated_ntske_alpn(const SSL* ssl) {
  const unsigned char* protocol = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(ssl, &protocol, &length);
  return length == core::kNtsKeAlpn.size() &&
         std::memcmp(protocol, core::kNtsKeAlpn.data(), length) == 0;
}

}  // namespace ntsd::server
