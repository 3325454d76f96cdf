// What the time source is told: which source, what it announces, the upstreams
// it polls. Part of Config (which derives from it) and all the time source sees.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ntp_packet.h"

namespace ntsd::server {

enum class TimeSourceKind { Local, Kernel, Upstream };

// As --time-source and [time] source spell it: "local", "kernel", "upstream".
constexpr std::string_view time_source_name(TimeSourceKind kind) {
  constexpr std::array<std::string_view, 3> kNames{"local", "kernel", "upstream"};
  return kNames.at(static_cast<std::size_t>(kind));
}

// One --upstream: an NTP server ntsd polls for the `upstream` time source.
// "HOST[:PORT]" plain NTP (port 123), "nts:HOST[:KEPORT]" NTS (NTS-KE port 4460).
struct UpstreamEntry {
  bool nts = false;
  std::string host;
  std::uint16_t port = 123;  // NTP port, or the NTS-KE port with nts
  bool operator==(const UpstreamEntry&) const = default;
};

struct TimeSourceSettings {
  TimeSourceKind time_source = TimeSourceKind::Local;
  std::uint8_t stratum = 10;  // local and kernel sources
  core::ReferenceId reference_id{'L', 'O', 'C', 'L'};
  std::vector<UpstreamEntry> upstreams;  // --upstream (time source `upstream`)
  std::uint32_t unsync_after_seconds =
      600;                               // no good upstream sample for this long: unsynchronised
  std::optional<std::string> leap_file;  // leap-seconds.list
  std::uint32_t max_error_ms = 1000;     // kernel maxerror past this: unsynchronised
  std::uint32_t upstream_offset_margin_ms = 128;  // system clock vs upstream beyond root distance
  bool answer_unsynchronised = true;              // --unsynchronised answer|drop
  std::optional<std::string> upstream_ca;  // CA file for nts: upstreams (else the system store)
};

}  // namespace ntsd::server
