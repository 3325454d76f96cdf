#include "xdp/xdp_path.h"

#include "server/log.h"

namespace ntsd::xdp {

XdpPath::XdpPath(const server::XdpSettings& settings, const std::vector<SocketAddress>& listen,
                 const server::RateLimitSettings& rate_limit, const HandlerFactory& make_handler) {
  for (const auto& interface : settings.interfaces) {
    programs_.push_back(std::make_unique<XdpProgram>(interface, settings.mode, listen, rate_limit));
    auto& program = *programs_.back();
    for (unsigned queue = 0; queue < program.queue_count(); ++queue) {
      workers_.push_back(std::make_unique<XskWorker>(program, queue, make_handler()));
    }
  }
}

// Workers first: their sockets leave the XSKMAP before the program goes.
XdpPath::~XdpPath() {
  stop();
  workers_.clear();
  programs_.clear();
}

void XdpPath::start() {
  for (auto& worker : workers_) worker->start();
}

void XdpPath::stop() {
  for (auto& worker : workers_) worker->stop();
}

void XdpPath::log_started() const {
  std::size_t next = 0;
  for (const auto& program : programs_) {
    unsigned zero_copy = 0;
    for (unsigned q = 0; q < program->queue_count(); ++q)
      zero_copy += workers_[next + q]->zero_copy() ? 1 : 0;
    const auto& source = program->rx_timestamps();
    const std::string timestamps =
        source.driver ? "the driver's (XDP metadata kfunc) where it gives one, else the clock "
                        "read as each batch leaves the RX ring"
                      : "the clock read as each batch leaves the RX ring (" + source.why_not + ")";
    spdlog::info(
        "xdp: {}: program attached in {} mode, {} AF_XDP socket{} ({} zero-copy, {} copy mode); "
        "receive timestamps: {}",
        program->interface(), server::xdp_mode_name(program->attached_mode()),
        program->queue_count(), program->queue_count() == 1 ? "" : "s", zero_copy,
        program->queue_count() - zero_copy, timestamps);
    next += program->queue_count();
  }
}

server::XdpMetrics XdpPath::metrics() const {
  XskStats stats;
  for (const auto& worker : workers_) stats += worker->stats();
  XdpCounterArray program{};
  for (const auto& p : programs_) {
    const auto counters = p->counters();
    for (std::size_t i = 0; i < program.size(); ++i) program[i] += counters[i];
  }
  server::XdpMetrics m;
  m.rx_packets = stats.rx_packets;
  m.tx_packets = stats.tx_packets;
  m.dropped = {{"rate", program[NTSD_XDP_DROP_RATE]},
               {"invalid_frame", stats.invalid_frames},
               {"tx_ring_full", stats.tx_ring_full},
               {"rx_ring_full", stats.kernel_rx_ring_full},
               {"rx_kernel", stats.kernel_rx_dropped}};
  for (unsigned c : {NTSD_XDP_RATE_TO_USER, NTSD_XDP_PASS_FRAGMENT, NTSD_XDP_PASS_IP_OPTIONS,
                     NTSD_XDP_PASS_IPV6_EXT, NTSD_XDP_PASS_VLAN, NTSD_XDP_PASS_NO_SOCKET}) {
    m.passed.emplace_back(xdp_counter_name(c), program[c]);
  }
  m.fill_ring_empty = stats.kernel_fill_ring_empty;
  m.rx_timestamps = {{"driver", stats.rx_time_driver},
                     {"clock", stats.rx_time_clock},
                     {"clock_driver_implausible", stats.rx_time_driver_implausible}};
  for (const auto& worker : workers_) worker->add_counters(m.requests);
  return m;
}

}  // namespace ntsd::xdp
