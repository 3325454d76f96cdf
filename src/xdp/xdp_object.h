// The compiled XDP program (ntsd_xdp.bpf.c), embedded in the binary at build
// time: without, or with, the receive-timestamp kfunc (NTSD_XDP_RX_TIMESTAMP).
#pragma once

#include <span>

namespace ntsd::xdp {

std::span<const unsigned char> xdp_program_object(bool rx_timestamp);

}  // namespace ntsd::xdp
