#include "server/openssl_error.h"

#include <openssl/err.h>

namespace ntsd::server {

std::string take_openssl_errors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    if (!text.empty()) text += "; ";
    text += buffer;
  }
  return text;
}

}  // namespace ntsd::server
