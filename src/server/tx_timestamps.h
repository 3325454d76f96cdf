// Kernel software transmit timestamps for NTP responses (SO_TIMESTAMPING).
//
// A timestamp costs the kernel a clone of the packet on the socket's error queue
// and us a read of it: about a microsecond per response here, a third of what a
// plain answer costs. So ntsd asks for one only where it is used: for clients in
// interleaved mode (RFC 9769), whose next request names this response, and for a
// sample of the others, which keeps the transmit gap statistic honest.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "core/ntp_packet.h"
#include "server/interleaved.h"

namespace ntsd::server {

class NtpExchange;

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

// The responses sent on one socket whose kernel transmit timestamp is awaited,
// by their SOF_TIMESTAMPING_OPT_ID number, and the reading of the socket's error
// queue that brings the timestamps to the NtpExchange that wrote the responses.
// Fixed size: no allocation after construction.
class TxTimestampQueue {
 public:
  // Turns timestamping on for `fd` (enable_tx_timestamps()); enabled() says
  // whether the kernel agreed.
  TxTimestampQueue(int fd, TxTimestampSupport support);

  [[nodiscard]] bool enabled() const { return enabled_; }

  // One response left on the socket, in send order: `stamped` when a kernel
  // timestamp was asked for it (or every packet gets one).
  // `clock_read`: the uncompensated clock read of the response (NtpReply).
  void note_sent(bool stamped, core::NtpTimestamp clock_read,
                 timesource::InterleavedTable::Handle handle);
  // Reads the kernel's transmit timestamps from the error queue.
  void drain(NtpExchange& exchange);
  // After a failed send nobody knows whether the kernel numbered the packet:
  // read what is queued, then restart the numbering from 0.
  void resync(NtpExchange& exchange);

 private:
  // Responses whose kernel transmit timestamp may still be on its way.
  static constexpr std::size_t kPending = 1024;
  static constexpr std::size_t kReadBatch = 32;
  struct Sent {
    std::uint32_t id = 0;
    bool valid = false;
    core::NtpTimestamp clock_read;
    timesource::InterleavedTable::Handle handle;
  };

  void read_one(msghdr& header, NtpExchange& exchange);

  int fd_;
  TxTimestampSupport support_;
  bool enabled_ = false;
  std::uint32_t next_id_ = 0;
  std::array<Sent, kPending> sent_{};
  std::array<std::array<std::uint8_t, 256>, kReadBatch> control_{};
  std::array<mmsghdr, kReadBatch> messages_{};
};

}  // namespace ntsd::server
