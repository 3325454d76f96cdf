#include "time/refid.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>

#include <cstring>

namespace ntsd::timesource {

namespace {
core::ReferenceId from_ipv6(const in6_addr& address) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  core::ReferenceId id{};
  if (EVP_Digest(address.s6_addr, sizeof address.s6_addr, digest, &length, EVP_md5(), nullptr) ==
          1 &&
      length >= 4) {
    std::memcpy(id.data(), digest, 4);
  }
  return id;
}
}  // namespace

core::ReferenceId reference_id_for_address(const sockaddr* address) {
  core::ReferenceId id{};
  if (address->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
    std::memcpy(id.data(), &v4->sin_addr, 4);
  } else if (address->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address);
    id = from_ipv6(v6->sin6_addr);
  }
  return id;
}

std::optional<core::ReferenceId> reference_id_for_ip(const std::string& ip) {
  in_addr v4{};
  if (inet_pton(AF_INET, ip.c_str(), &v4) == 1) {
    core::ReferenceId id{};
    std::memcpy(id.data(), &v4, 4);
    return id;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, ip.c_str(), &v6) == 1) return from_ipv6(v6);
  return std::nullopt;
}

}  // namespace ntsd::timesource
