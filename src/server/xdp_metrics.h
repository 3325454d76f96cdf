// What the AF_XDP path reports to the metrics endpoint: a plain snapshot, so
// that metrics.cpp needs nothing of libbpf or libxdp.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "server/ntp_exchange.h"

namespace ntsd::server {

struct XdpMetrics {
  std::uint64_t rx_packets = 0;  // frames AF_XDP workers took off their RX rings
  std::uint64_t tx_packets = 0;  // replies they put on their TX rings
  // Frames for NTP not answered, by where and why: "rate" (the XDP program's
  // token bucket), "invalid_frame", "tx_ring_full", "rx_ring_full" (kernel), ...
  std::vector<std::pair<std::string, std::uint64_t>> dropped;
  // Frames for NTP the program left to the kernel's sockets, by why
  // ("fragment", "ip_options", "ipv6_extension_header", "vlan", "no_socket"),
  // and over-limit requests handed on so that user space may send a RATE kiss.
  std::vector<std::pair<std::string, std::uint64_t>> passed;
  std::uint64_t fill_ring_empty = 0;
  // Receive timestamps by source: "driver" (the XDP metadata kfunc), "clock"
  // (the clock read per batch; includes "clock_driver_implausible", where the
  // driver's was not on the system clock).
  std::vector<std::pair<std::string, std::uint64_t>> rx_timestamps;
  // The requests the XDP path's exchanges handled, by kind and outcome: added to
  // ntsd_ntp_requests_total and the rest of the NTP families.
  NtpCounters requests;  // kernel: frames arrived while the fill ring was empty
};

}  // namespace ntsd::server
