// OpenSSL's error queue as text, for messages an operator can act on.
#pragma once

#include <string>

namespace ntsd::server {

// Drains the thread's OpenSSL error queue into one line ("" when empty).
std::string take_openssl_errors();

}  // namespace ntsd::server
