// Interleaved mode bookkeeping (RFC 9769), sans-I/O: for recent responses, the
// server's receive timestamp of the request and the transmit timestamp of the
// response (first the one written into it, then the kernel's, once known),
// keyed by client address and receive timestamp. A client in interleaved mode
// names its previous exchange by putting our receive timestamp of it in its
// origin field; a request whose origin is not a receive timestamp we saved for
// that client address is answered in basic mode.
//
// Bounded memory, no allocation after construction: a set-associative table
// (4 entries per bucket); a new entry replaces the oldest of its bucket.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/ntp_packet.h"

namespace ntsd::timesource {

// A client's IP address (the port is left out: chrony sends each request from
// a new port).
struct ClientKey {
  std::array<std::uint8_t, 16> address{};
  std::uint8_t family = 0;
  bool operator==(const ClientKey&) const = default;
};

ClientKey client_key(const sockaddr* address);

class InterleavedTable {
 public:
  static constexpr std::size_t kWays = 4;

  struct Handle {
    std::uint32_t index = 0;
    std::uint64_t sequence = 0;  // 0: nothing saved
  };

  // Room for at least `capacity` entries (rounded up to a power of two buckets).
  explicit InterleavedTable(std::size_t capacity);

  // `rx`, or the next value after it not yet saved for this client: every saved
  // receive timestamp names one exchange. Without a probe when `rx` is later
  // than every one saved (the usual case: receive timestamps only grow).
  [[nodiscard]] core::NtpTimestamp unique_receive(const ClientKey& client,
                                                  core::NtpTimestamp rx) const;
  // An exchange about to be saved, with its bucket: hashed once per request.
  struct Slot {
    ClientKey client;
    core::NtpTimestamp rx;
    std::size_t first = 0;  // the bucket's first entry
  };
  [[nodiscard]] Slot slot(const ClientKey& client, core::NtpTimestamp rx) const;
  // Starts fetching the bucket save() will touch for this exchange: the table
  // is larger than the caches, so that touch misses unless the fetch overlaps
  // other work (the request's cryptography).
  void prefetch(const Slot& exchange) const;
  // Saves the exchange; evicts the oldest entry of the bucket when it is full.
  Handle save(const Slot& exchange, core::NtpTimestamp tx);
  Handle save(const ClientKey& client, core::NtpTimestamp rx, core::NtpTimestamp tx) {
    return save(slot(client, rx), tx);
  }
  // Replaces the transmit timestamp of a saved exchange (the kernel's arrived);
  // false when the entry has been evicted since.
  bool update_transmit(Handle handle, core::NtpTimestamp tx);
  // The transmit timestamp of the response to the request this client sent and
  // we received at `origin`, if still saved.
  [[nodiscard]] std::optional<core::NtpTimestamp> lookup(const ClientKey& client,
                                                         core::NtpTimestamp origin) const;

  [[nodiscard]] std::size_t capacity() const { return entries_.size(); }
  [[nodiscard]] std::uint64_t evictions() const { return evictions_; }

 private:
  struct Entry {
    ClientKey client;
    core::NtpTimestamp rx;
    core::NtpTimestamp tx;
    std::uint64_t sequence = 0;  // 0: empty; else insertion order
  };
  [[nodiscard]] std::size_t bucket(const ClientKey& client, core::NtpTimestamp rx) const;
  [[nodiscard]] const Entry* find(const ClientKey& client, core::NtpTimestamp rx) const;

  std::vector<Entry> entries_;
  std::size_t bucket_mask_ = 0;
  std::uint64_t next_sequence_ = 1;
  // The latest receive timestamp saved (era-relative order); valid once
  // next_sequence_ > 1.
  core::NtpTimestamp newest_rx_{};
  std::uint64_t evictions_ = 0;
};

}  // namespace ntsd::timesource
