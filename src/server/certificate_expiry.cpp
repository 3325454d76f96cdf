#include "server/certificate_expiry.h"

#include <openssl/asn1.h>

#include <ctime>

namespace ntsd::server {

std::optional<std::int64_t> certificate_not_after(const X509* certificate) {
  if (certificate == nullptr) return std::nullopt;
  const ASN1_TIME* not_after = X509_get0_notAfter(certificate);
  std::tm tm{};
  if (not_after == nullptr || ASN1_TIME_to_tm(not_after, &tm) != 1) return std::nullopt;
  return static_cast<std::int64_t>(timegm(&tm));
}

std::optional<std::int64_t> certificate_not_after(const SSL_CTX* ctx) {
  if (ctx == nullptr) return std::nullopt;
  // SSL_CTX_get0_certificate() takes a non-const context but only reads it.
  return certificate_not_after(SSL_CTX_get0_certificate(const_cast<SSL_CTX*>(ctx)));
}

}  // namespace ntsd::server
