// Reference identifiers for upstream servers (RFC 5905 §7.3).
#pragma once

#include <sys/socket.h>

#include <string>

#include "core/ntp_packet.h"

namespace ntsd::timesource {

// IPv4: the address. IPv6: the first four octets of the MD5 hash of the address.
core::ReferenceId reference_id_for_address(const sockaddr* address);
// The same from an address literal; nullopt if it is none.
std::optional<core::ReferenceId> reference_id_for_ip(const std::string& ip);

}  // namespace ntsd::timesource
