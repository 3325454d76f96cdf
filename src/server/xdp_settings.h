// The AF_XDP fast path's settings (--xdp, --xdp-mode; TOML ntp.xdp, ntp.xdp-mode).
// Kept apart from config.h so that the fast path's settings stay in one place.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ntsd::server {

// How the XDP program is attached: in the driver (native), in the generic
// network stack (generic, any interface, slower), or native where the driver
// takes it and generic elsewhere (auto).
enum class XdpMode { Auto, Native, Generic };

struct XdpSettings {
  std::vector<std::string> interfaces;  // empty: no XDP, sockets only
  XdpMode mode = XdpMode::Auto;
  bool operator==(const XdpSettings&) const = default;
  [[nodiscard]] bool enabled() const { return !interfaces.empty(); }
};

inline std::optional<XdpMode> parse_xdp_mode(std::string_view text) {
  if (text == "auto") return XdpMode::Auto;
  if (text == "native") return XdpMode::Native;
  if (text == "generic") return XdpMode::Generic;
  return std::nullopt;
}

inline std::string_view xdp_mode_name(XdpMode mode) {
  switch (mode) {
    case XdpMode::Auto:
      return "auto";
    case XdpMode::Native:
      return "native";
    case XdpMode::Generic:
      return "generic";
  }
  return "auto";
}

}  // namespace ntsd::server
