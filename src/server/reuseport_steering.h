// Steering of an SO_REUSEPORT group by client address, shared by the NTP
// workers (UDP) and the NTS-KE shards (TCP).
#pragma once

#include <linux/filter.h>

#include <vector>

#include "common/socket_address.h"
#include "server/rate_limit.h"

namespace ntsd::server {

// The prefix a group is steered by: the one `rate_limit` counts by, so that each
// member's limiter sees all of a prefix's traffic, else the whole address.
unsigned steering_prefix_bits(const RateLimitSettings& rate_limit, int family);

// A classic BPF program returning `hash(leading prefix_bits of the source
// address) % members`. Run by the kernel on each UDP packet or TCP SYN, it sees
// the transport payload; SKF_NET_OFF reaches the IP header.
std::vector<sock_filter> source_prefix_program(int family, unsigned prefix_bits, unsigned members);

// Steers every packet or connection from one client prefix to the same member
// of the SO_REUSEPORT group `fd` is in (the member's index in the order the
// members joined: bind for UDP, listen for TCP). The kernel's default hashes
// the source port too. False (errno set) when the kernel refuses the program.
bool steer_by_source_prefix(int fd, int family, unsigned prefix_bits, unsigned members);

// Whether another socket already holds `address` (SOCK_DGRAM or SOCK_STREAM).
// SO_REUSEPORT lets a socket of the same user join another process's group
// without an error, so a second ntsd on the same port would silently share its
// traffic: ask once without SO_REUSEPORT before binding a group. For TCP,
// connections in TIME_WAIT do not count. False for port 0.
bool address_in_use(const SocketAddress& address, int type);

}  // namespace ntsd::server
