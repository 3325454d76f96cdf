// When the certificate NTS-KE presents stops being valid, for the metrics
// endpoint. Cheap enough to call again whenever the certificate is reloaded.
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdint>
#include <optional>

namespace ntsd::server {

// notAfter as Unix seconds; none when there is no certificate or its time is unreadable.
std::optional<std::int64_t> certificate_not_after(const X509* certificate);
// Of the leaf certificate loaded into `ctx`.
std::optional<std::int64_t> certificate_not_after(const SSL_CTX* ctx);

}  // namespace ntsd::server
