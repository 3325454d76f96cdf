#include "core/bytes.h"

#include <openssl/crypto.h>

namespace ntsd::core {

void secure_wipe(void* data, std::size_t size) { OPENSSL_cleanse(data, size); }

}  // namespace ntsd::core
