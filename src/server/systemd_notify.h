// Readiness for systemd's Type=notify, without linking libsystemd: one datagram
// to $NOTIFY_SOCKET (sd_notify(3)'s protocol).
#pragma once

#include <string_view>

namespace ntsd::server {

// Sends `state` (e.g. "READY=1") when ntsd runs under systemd; does nothing
// otherwise. Returns false only when the socket is named but the send failed.
bool notify_systemd(std::string_view state);

}  // namespace ntsd::server
