#include "client/tls_client.h"

#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <limits>

namespace ntsd::client {

namespace {

// The most specific reason OpenSSL queued, or `fallback`.
std::string openssl_reason(std::string_view fallback) {
  unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return std::string(fallback);
  const char* reason = ERR_reason_error_string(code);
  if (reason != nullptr) return reason;
  char buffer[256];
  ERR_error_string_n(code, buffer, sizeof buffer);
  return buffer;
}

// Why an SSL call that returned `result` failed, for messages.
std::string ssl_failure(SSL* ssl, int result) {
  int error = SSL_get_error(ssl, result);
  switch (error) {
    case SSL_ERROR_ZERO_RETURN:
      ERR_clear_error();
      return "connection closed by peer";
    case SSL_ERROR_SYSCALL: {
      int saved = errno;
      std::string reason = openssl_reason("");
      if (!reason.empty()) return reason;
      if (saved != 0) return std::strerror(saved);
      return "connection closed by peer";
    }
    case SSL_ERROR_SSL: {
      long verify = SSL_get_verify_result(ssl);
      if (verify != X509_V_OK) {
        ERR_clear_error();
        return std::string("certificate verify failed (") + X509_verify_cert_error_string(verify) +
               ")";
      }
      return openssl_reason("TLS protocol error");
    }
    default:
      return openssl_reason("SSL error " + std::to_string(error));
  }
}

std::string asn1_time_iso8601(const ASN1_TIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) return {};
  char buffer[32];
  if (std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) return {};
  return buffer;
}

std::string name_rfc2253(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || name == nullptr ||
      X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
    return {};
  }
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  if (data == nullptr || length <= 0) return {};
  return {data, static_cast<std::size_t>(length)};
}

// A dNSName is an IA5String; anything but printable ASCII becomes '?'.
std::string printable_ascii(const ASN1_STRING* text) {
  std::string out;
  const unsigned char* data = ASN1_STRING_get0_data(text);
  int length = ASN1_STRING_length(text);
  for (int i = 0; data != nullptr && i < length; ++i) {
    out.push_back(data[i] >= 0x20 && data[i] < 0x7f ? static_cast<char>(data[i]) : '?');
  }
  return out;
}

void add_subject_alt_names(X509* cert, CertificateInfo& info) {
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_DNS) {
      info.dns_names.push_back(printable_ascii(name->d.dNSName));
    } else if (name->type == GEN_IPADD) {
      const unsigned char* data = ASN1_STRING_get0_data(name->d.iPAddress);
      int length = ASN1_STRING_length(name->d.iPAddress);
      char text[INET6_ADDRSTRLEN] = {};
      int family = length == 4 ? AF_INET : length == 16 ? AF_INET6 : AF_UNSPEC;
      if (family != AF_UNSPEC && inet_ntop(family, data, text, sizeof text) != nullptr) {
        info.ip_addresses.emplace_back(text);
      }
    }
  }
}

// "EC P-256", "RSA 2048", "ED25519", else OpenSSL's short name and the size in bits.
std::string describe_key(X509* cert) {
  EVP_PKEY* key = X509_get0_pubkey(cert);
  if (key == nullptr) return "unknown";
  int bits = EVP_PKEY_get_bits(key);
  int id = EVP_PKEY_get_base_id(key);
  if (id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS) {
    return std::string(id == EVP_PKEY_RSA ? "RSA " : "RSA-PSS ") + std::to_string(bits);
  }
  if (id == EVP_PKEY_EC) {
    char group[80] = {};
    std::size_t length = 0;
    if (EVP_PKEY_get_group_name(key, group, sizeof group, &length) == 1) {
      int nid = OBJ_txt2nid(group);
      const char* nist = nid != NID_undef ? EC_curve_nid2nist(nid) : nullptr;
      return std::string("EC ") + (nist != nullptr ? nist : group);
    }
    return "EC " + std::to_string(bits);
  }
  if (id == EVP_PKEY_ED25519) return "ED25519";
  if (id == EVP_PKEY_ED448) return "ED448";
  const char* name = OBJ_nid2sn(id);
  return std::string(name != nullptr ? name : "unknown") + " " + std::to_string(bits);
}

CertificateInfo describe_certificate(X509* cert) {
  CertificateInfo info;
  info.subject = name_rfc2253(X509_get_subject_name(cert));
  info.issuer = name_rfc2253(X509_get_issuer_name(cert));
  add_subject_alt_names(cert, info);
  info.not_before = asn1_time_iso8601(X509_get0_notBefore(cert));
  const ASN1_TIME* not_after = X509_get0_notAfter(cert);
  info.not_after = asn1_time_iso8601(not_after);
  int days = 0;
  int seconds = 0;
  if (not_after != nullptr && ASN1_TIME_diff(&days, &seconds, nullptr, not_after) == 1) {
    // ASN1_TIME_diff gives days and seconds with the same sign: -0 days once expired
    // by less than a day is still expired.
    info.days_left = days < 0 || seconds < 0 ? std::min(days, -1) : days;
  }
  int signature = X509_get_signature_nid(cert);
  const char* signature_name = signature != NID_undef ? OBJ_nid2ln(signature) : nullptr;
  info.signature_algorithm = signature_name != nullptr ? signature_name : "unknown";
  info.key = describe_key(cert);
  return info;
}

constexpr std::string_view kHandshakeFailed = "TLS handshake failed: ";

std::string handshake_failure(std::string_view reason) {
  return std::string(kHandshakeFailed) + std::string(reason);
}

void load_trust_anchors(SSL_CTX* ctx, const TlsClientConfig& config) {
  if (!config.verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    return;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (config.ca_file) {
    // OpenSSL reports a missing file as "system lib"; say what went wrong.
    if (access(config.ca_file->c_str(), R_OK) != 0) {
      throw ClientError("cannot load CA file " + *config.ca_file + ": " + std::strerror(errno));
    }
    if (SSL_CTX_load_verify_locations(ctx, config.ca_file->c_str(), nullptr) != 1) {
      throw ClientError("cannot load CA file " + *config.ca_file + ": " +
                        openssl_reason("unreadable or not PEM"));
    }
  } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    throw ClientError(handshake_failure(openssl_reason("cannot load the system trust store")));
  }
}

void offer_alpn(SSL_CTX* ctx, const std::string& alpn) {
  if (alpn.empty() || alpn.size() > 255) {
    throw ClientError(handshake_failure("invalid ALPN protocol name"));
  }
  std::basic_string<unsigned char> alpn_wire;
  alpn_wire.push_back(static_cast<unsigned char>(alpn.size()));
  alpn_wire.append(alpn.begin(), alpn.end());
  // Returns 0 on success, unlike most of OpenSSL.
  if (SSL_CTX_set_alpn_protos(ctx, alpn_wire.data(), static_cast<unsigned>(alpn_wire.size())) !=
      0) {
    throw ClientError(handshake_failure(openssl_reason("cannot set ALPN")));
  }
}

SslCtxPtr make_client_context(const TlsClientConfig& config) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) throw ClientError(handshake_failure(openssl_reason("SSL_CTX_new failed")));
  if (SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION) != 1) {
    throw ClientError(handshake_failure(openssl_reason("cannot restrict to TLS 1.3")));
  }
  load_trust_anchors(ctx.get(), config);
  offer_alpn(ctx.get(), config.alpn);
  return ctx;
}

// SNI and the name the certificate must match.
void set_peer_name(SSL* ssl, const TlsClientConfig& config) {
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (is_ip_literal(config.host)) {
    // No SNI for addresses (RFC 6066 §3); match an iPAddress subjectAltName.
    if (config.verify && X509_VERIFY_PARAM_set1_ip_asc(param, config.host.c_str()) != 1) {
      throw ClientError(handshake_failure("cannot check certificate against " + config.host));
    }
    return;
  }
  if (SSL_set_tlsext_host_name(ssl, config.host.c_str()) != 1) {
    throw ClientError(handshake_failure(openssl_reason("cannot set SNI")));
  }
  if (config.verify) {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (X509_VERIFY_PARAM_set1_host(param, config.host.c_str(), config.host.size()) != 1) {
      throw ClientError(handshake_failure("cannot check certificate against " + config.host));
    }
  }
}

SslPtr make_client_ssl(SSL_CTX* ctx, int fd, const TlsClientConfig& config) {
  SslPtr ssl(SSL_new(ctx));
  if (!ssl) throw ClientError(handshake_failure(openssl_reason("SSL_new failed")));
  if (SSL_set_fd(ssl.get(), fd) != 1) {
    throw ClientError(handshake_failure(openssl_reason("SSL_set_fd failed")));
  }
  set_peer_name(ssl.get(), config);
  return ssl;
}

}  // namespace

TlsConnection::TlsConnection(UniqueFd fd, SslCtxPtr ctx, SslPtr ssl)
    : fd_(std::move(fd)), ctx_(std::move(ctx)), ssl_(std::move(ssl)) {}

TlsConnection::~TlsConnection() = default;

TlsConnection TlsConnection::handshake(UniqueFd tcp, const TlsClientConfig& config,
                                       Deadline deadline) {
  const std::string prefix(kHandshakeFailed);
  ERR_clear_error();
  SslCtxPtr ctx = make_client_context(config);
  SslPtr ssl = make_client_ssl(ctx.get(), tcp.get(), config);

  TlsConnection connection(std::move(tcp), std::move(ctx), std::move(ssl));
  for (;;) {
    ERR_clear_error();
    int rc = SSL_connect(connection.ssl_.get());
    if (rc == 1) break;
    int error = SSL_get_error(connection.ssl_.get(), rc);
    if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
      throw ClientError(prefix + ssl_failure(connection.ssl_.get(), rc));
    }
    if (!wait_fd(connection.fd_.get(), error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) {
      throw TimeoutError(prefix + "timed out");
    }
  }

  if (SSL_version(connection.ssl_.get()) != TLS1_3_VERSION) {
    throw ClientError(prefix + "server did not negotiate TLS 1.3");
  }
  if (config.verify && SSL_get_verify_result(connection.ssl_.get()) != X509_V_OK) {
    throw ClientError(prefix + "certificate verify failed");
  }
  if (connection.alpn() != config.alpn) {
    throw ClientError(prefix + "server did not negotiate ALPN " + config.alpn);
  }
  return connection;
}

bool TlsConnection::wait_for_retry(int ssl_result, Deadline deadline, std::string_view what) {
  int error = SSL_get_error(ssl_.get(), ssl_result);
  if (error == SSL_ERROR_WANT_READ) return wait_fd(fd_.get(), POLLIN, deadline);
  if (error == SSL_ERROR_WANT_WRITE) return wait_fd(fd_.get(), POLLOUT, deadline);
  throw ClientError(std::string(what) + ": " + ssl_failure(ssl_.get(), ssl_result));
}

void TlsConnection::write_all(std::span<const std::uint8_t> data, Deadline deadline) {
  if (data.empty()) return;
  for (;;) {
    ERR_clear_error();
    std::size_t written = 0;
    int rc = SSL_write_ex(ssl_.get(), data.data(), data.size(), &written);
    if (rc == 1) {
      // Without SSL_MODE_ENABLE_PARTIAL_WRITE a success means everything was written.
      return;
    }
    if (!wait_for_retry(rc, deadline, "TLS write failed")) {
      throw TimeoutError("TLS write failed: timed out");
    }
  }
}

std::size_t TlsConnection::read_some(std::span<std::uint8_t> out, Deadline deadline) {
  if (out.empty()) return 0;
  for (;;) {
    ERR_clear_error();
    std::size_t got = 0;
    int rc = SSL_read_ex(ssl_.get(), out.data(), out.size(), &got);
    if (rc == 1) return got;
    if (SSL_get_error(ssl_.get(), rc) == SSL_ERROR_ZERO_RETURN) return 0;
    if (!wait_for_retry(rc, deadline, "TLS read failed")) {
      throw TimeoutError("TLS read failed: timed out");
    }
  }
}

void TlsConnection::shutdown(Deadline deadline) {
  for (;;) {
    ERR_clear_error();
    int rc = SSL_shutdown(ssl_.get());
    if (rc >= 0) return;  // 0: ours sent, theirs not yet read; 1: both done
    int error = SSL_get_error(ssl_.get(), rc);
    if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
      ERR_clear_error();
      return;  // best effort: the peer may already be gone
    }
    if (!wait_fd(fd_.get(), error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) return;
  }
}

void TlsConnection::export_keying_material(std::span<std::uint8_t> out, std::string_view label,
                                           std::span<const std::uint8_t> context) const {
  ERR_clear_error();
  if (SSL_export_keying_material(ssl_.get(), out.data(), out.size(), label.data(), label.size(),
                                 context.data(), context.size(), 1) != 1) {
    throw ClientError("TLS key export failed: " + openssl_reason("SSL_export_keying_material"));
  }
}

std::string TlsConnection::version() const { return SSL_get_version(ssl_.get()); }

std::string TlsConnection::cipher() const {
  const char* name = SSL_get_cipher_name(ssl_.get());
  return name != nullptr ? name : "";
}

std::string TlsConnection::alpn() const {
  const unsigned char* data = nullptr;
  unsigned length = 0;
  SSL_get0_alpn_selected(ssl_.get(), &data, &length);
  if (data == nullptr) return {};
  return {reinterpret_cast<const char*>(data), length};
}

std::vector<CertificateInfo> TlsConnection::peer_chain() const {
  std::vector<CertificateInfo> chain;
  // On the client side the chain includes the leaf (unlike on the server side).
  STACK_OF(X509)* certificates = SSL_get_peer_cert_chain(ssl_.get());
  if (certificates != nullptr) {
    for (int i = 0; i < sk_X509_num(certificates); ++i) {
      chain.push_back(describe_certificate(sk_X509_value(certificates, i)));
    }
  } else if (X509Ptr leaf{SSL_get1_peer_certificate(ssl_.get())}) {
    chain.push_back(describe_certificate(leaf.get()));
  }
  ERR_clear_error();
  return chain;
}

}  // namespace ntsd::client
