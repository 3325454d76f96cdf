#include "core/ke_cookies.h"

namespace ntsd::core {

std::vector<Bytes> mint_ke_cookies(const CookieKeyring& keyring, const NtsKeys& keys,
                                   RandomSource& random, std::size_t count) {
  const CookieKey& key = keyring.current();
  std::vector<Bytes> cookies;
  cookies.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    Bytes cookie(cookie_length(keys.algorithm()));
    seal_cookie(key, keys, random, cookie);
    cookies.push_back(std::move(cookie));
  }
  return cookies;
}

}  // namespace ntsd::core
