// The cookies an NTS-KE response hands a client (RFC 8915 §4.1.6), one New
// Cookie record each. The NTP side mints its cookies in place in the response
// packet (ntp_handler.cpp); a KE response wants them as separate buffers.
#pragma once

#include <cstddef>
#include <vector>

#include "core/bytes.h"
#include "core/cookie.h"
#include "core/nts_keys.h"
#include "core/random.h"

namespace ntsd::core {

// Eight, as chrony and ntpd-rs send: one per NTP exchange until the client
// holds a full set again.
inline constexpr std::size_t kKeCookiesPerResponse = 8;

// `count` cookies carrying `keys`, each sealed with keyring.current() under a
// nonce of its own from `random`.
std::vector<Bytes> mint_ke_cookies(const CookieKeyring& keyring, const NtsKeys& keys,
                                   RandomSource& random, std::size_t count = kKeCookiesPerResponse);

}  // namespace ntsd::core
