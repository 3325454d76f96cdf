// The compiled XDP program (ntsd_xdp.bpf.c), embedded in the binary at build time.
#pragma once

#include <span>

namespace ntsd::xdp {

std::span<const unsigned char> xdp_program_object();

}  // namespace ntsd::xdp
