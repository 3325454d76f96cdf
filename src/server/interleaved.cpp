#include "server/interleaved.h"

#include <netinet/in.h>

#include <algorithm>
#include <bit>
#include <cstring>

namespace ntsd::timesource {

namespace {

// A receive timestamp this far before the newest saved one: the clock was
// stepped back (reorderings stay far below it; a driver's timestamp is used
// only up to a second behind the clock read, xdp/rx_timestamp.h).
constexpr std::int64_t kStepBackUnits = std::int64_t{1} << 32;  // 1 s in 32.32

bool later(core::NtpTimestamp a, core::NtpTimestamp b) { return core::units_between(b, a) > 0; }

}  // namespace

ClientKey client_key(const sockaddr* address) {
  ClientKey key;
  key.family = static_cast<std::uint8_t>(address->sa_family);
  if (address->sa_family == AF_INET) {
    std::memcpy(key.address.data(), &reinterpret_cast<const sockaddr_in*>(address)->sin_addr, 4);
  } else if (address->sa_family == AF_INET6) {
    std::memcpy(key.address.data(), &reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr, 16);
  }
  return key;
}

InterleavedTable::InterleavedTable(std::size_t capacity)
    : entries_(std::bit_ceil(std::max<std::size_t>(capacity, 1))), mask_(entries_.size() - 1) {}

std::uint64_t InterleavedTable::oldest() const {
  const std::uint64_t ring_start =
      next_sequence_ > entries_.size() ? next_sequence_ - entries_.size() : 1;
  return std::max(ring_start, first_sequence_);
}

const InterleavedTable::Entry* InterleavedTable::find(const ClientKey& client,
                                                      core::NtpTimestamp rx) const {
  const std::uint64_t first = oldest();
  const std::uint64_t end = next_sequence_;
  if (first == end || later(rx, newest_rx_)) return nullptr;
  // The first exchange not received before rx, as if the ring were in time
  // order: a binary search whose step is a conditional move, not a branch the
  // processor could only guess.
  std::uint64_t low = first;
  for (std::uint64_t n = end - first; n > 1; n -= n / 2) {
    low = later(rx, at(low + n / 2).rx) ? low + n / 2 : low;
  }
  if (later(rx, at(low).rx)) ++low;
  auto is_it = [&](const Entry& e) { return e.rx == rx && e.client == client; };
  if (low < end && is_it(at(low))) return &at(low);
  // A reordered exchange sits near its place in time order, on either side.
  const std::uint64_t from = low - std::min(low - first, kReorderReach);
  const std::uint64_t to = std::min(end, low + kReorderReach + 1);
  for (std::uint64_t sequence = from; sequence < to; ++sequence) {
    if (is_it(at(sequence))) return &at(sequence);
  }
  return nullptr;
}

core::NtpTimestamp InterleavedTable::unique_receive(const ClientKey& client,
                                                    core::NtpTimestamp rx) const {
  while (find(client, rx) != nullptr) ++rx.raw;
  return rx;
}

InterleavedTable::Handle InterleavedTable::save(const ClientKey& client, core::NtpTimestamp rx,
                                                core::NtpTimestamp tx) {
  if (oldest() == next_sequence_ || later(rx, newest_rx_)) {
    newest_rx_ = rx;
  } else if (core::units_between(rx, newest_rx_) > kStepBackUnits) {
    first_sequence_ = next_sequence_;
    newest_rx_ = rx;
  }
  const std::uint64_t sequence = next_sequence_++;
  Entry& e = entries_[sequence & mask_];
  if (e.sequence != 0 && e.sequence >= first_sequence_) ++evictions_;
  e = Entry{client, rx, tx, sequence};
  return Handle{static_cast<std::uint32_t>(sequence & mask_), sequence};
}

bool InterleavedTable::update_transmit(Handle handle, core::NtpTimestamp tx) {
  if (handle.sequence < first_sequence_ || handle.index >= entries_.size()) return false;
  Entry& e = entries_[handle.index];
  if (e.sequence != handle.sequence) return false;
  e.tx = tx;
  return true;
}

std::optional<core::NtpTimestamp> InterleavedTable::lookup(const ClientKey& client,
                                                           core::NtpTimestamp origin) const {
  const Entry* e = find(client, origin);
  if (e == nullptr) return std::nullopt;
  return e->tx;
}

}  // namespace ntsd::timesource
