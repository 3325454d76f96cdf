// NTS keys from a finished NTS-KE TLS handshake (RFC 8915 §5.1).
#pragma once

#include <openssl/ssl.h>

#include <optional>

#include "core/ke_negotiation.h"
#include "core/nts_keys.h"

namespace ntsd::server {

// C2S and S2C for the AEAD an Ok decision chose, through the TLS exporter;
// none when OpenSSL refuses (its error queue then says why).
std::optional<core::NtsKeys> export_nts_keys(SSL* ssl, const core::KeDecision& decision);

}  // namespace ntsd::server
