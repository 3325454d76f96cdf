// Interleaved mode bookkeeping (RFC 9769), sans-I/O: for recent responses, the
// server's receive timestamp of the request and the transmit timestamp of the
// response (first the one written into it, then the kernel's, once known),
// with the client's address. A client in interleaved mode names its previous
// exchange by putting our receive timestamp of it in its origin field; a
// request whose origin is not a receive timestamp we saved for that client
// address is answered in basic mode.
//
// Bounded memory, no allocation after construction: a ring of exchanges in the
// order they were saved, which is the order of their receive timestamps but
// for small reorderings (a socket's packets stamped on different CPUs, or a
// driver's timestamp beside a clock read). Every request saves one, and a save
// writes next to the previous one, in a cache line already at hand however
// many clients there are. Only interleaved-mode requests look one up: a binary
// search by receive timestamp, then a look at the entries around the place
// found, for the reordered ones.
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
  struct Handle {
    std::uint32_t index = 0;
    std::uint64_t sequence = 0;  // 0: nothing saved
  };

  // Room for at least `capacity` exchanges (rounded up to a power of two).
  explicit InterleavedTable(std::size_t capacity);

  // `rx`, or the next value after it not yet saved for this client: every saved
  // receive timestamp names one exchange. Without a search when `rx` is later
  // than every one saved (the usual case: receive timestamps only grow).
  [[nodiscard]] core::NtpTimestamp unique_receive(const ClientKey& client,
                                                  core::NtpTimestamp rx) const;
  // Saves the exchange in place of the oldest one once the ring is full. A
  // receive timestamp more than a second before the newest saved one means the
  // clock was stepped back: the exchanges saved before are forgotten, since a
  // search by time could no longer find its way among them.
  Handle save(const ClientKey& client, core::NtpTimestamp rx, core::NtpTimestamp tx);
  // Replaces the transmit timestamp of a saved exchange (the kernel's arrived);
  // false when the entry has been overwritten or forgotten since.
  bool update_transmit(Handle handle, core::NtpTimestamp tx);
  // The transmit timestamp of the response to the request this client sent and
  // we received at `origin`, if still saved and found.
  [[nodiscard]] std::optional<core::NtpTimestamp> lookup(const ClientKey& client,
                                                         core::NtpTimestamp origin) const;

  [[nodiscard]] std::size_t capacity() const { return entries_.size(); }
  // Saved exchanges overwritten by newer ones while still searchable.
  [[nodiscard]] std::uint64_t evictions() const { return evictions_; }

  // How far (in entries) a reordered exchange may sit from its place in time
  // order and still be found.
  static constexpr std::uint64_t kReorderReach = 16;

 private:
  struct Entry {
    ClientKey client;
    core::NtpTimestamp rx;
    core::NtpTimestamp tx;
    std::uint64_t sequence = 0;  // 0: empty; else the save's number
  };
  [[nodiscard]] const Entry& at(std::uint64_t sequence) const { return entries_[sequence & mask_]; }
  // The first sequence still searchable; next_sequence_ when there is none.
  [[nodiscard]] std::uint64_t oldest() const;
  [[nodiscard]] const Entry* find(const ClientKey& client, core::NtpTimestamp rx) const;

  std::vector<Entry> entries_;
  std::uint64_t mask_ = 0;
  std::uint64_t next_sequence_ = 1;
  // Exchanges saved before this one were forgotten (the clock was stepped back).
  std::uint64_t first_sequence_ = 1;
  // The latest receive timestamp saved (era-relative order); valid while
  // oldest() < next_sequence_.
  core::NtpTimestamp newest_rx_{};
  std::uint64_t evictions_ = 0;
};

}  // namespace ntsd::timesource
