// Kernel software transmit timestamps for NTP responses (SO_TIMESTAMPING).
//
// A timestamp costs the kernel a clone of the packet on the socket's error queue
// and us a read of it: about a microsecond per response here, a third of what a
// plain answer costs. So ntsd asks for one only where it is used: for clients in
// interleaved mode (RFC 9769), whose next request names this response, and for a
// sample of the others, which keeps the transmit gap statistic honest.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>

namespace ntsd::server {

enum class TxTimestamping : std::uint8_t {
  None,         // the kernel refused: interleaved answers carry the daemon's timestamps
  EveryPacket,  // on for every packet sent (kernels without per-packet requests)
  OnRequest,    // only for packets sent with request_tx_timestamp()
};

// What this kernel does, found once at start by sending two datagrams to a
// loopback socket of our own.
struct TxTimestampSupport {
  TxTimestamping mode = TxTimestamping::None;
  // SOF_TIMESTAMPING_OPT_ID numbers: older kernels count every packet sent,
  // newer ones only the packets that asked for a timestamp.
  bool ids_count_every_packet = true;
};

TxTimestampSupport probe_tx_timestamping();

// Turns timestamping on for `fd` as `mode` asks; the numbering of timestamps
// (SOF_TIMESTAMPING_OPT_ID) restarts from 0. False when the kernel refuses.
bool enable_tx_timestamps(int fd, TxTimestamping mode);

// Room for the control message request_tx_timestamp() writes.
inline constexpr std::size_t kTxRequestControlLength = CMSG_SPACE(sizeof(std::uint32_t));

// Asks for a software transmit timestamp of the packet `header` sends, in
// `control` (kTxRequestControlLength bytes, aligned for cmsghdr).
void request_tx_timestamp(msghdr& header, std::uint8_t* control);

}  // namespace ntsd::server
