#include "server/interleaved.h"

#include <netinet/in.h>

#include <cstring>

namespace ntsd::timesource {

namespace {
std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

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

InterleavedTable::InterleavedTable(std::size_t capacity) {
  std::size_t buckets = 1;
  while (buckets * kWays < capacity) buckets <<= 1;
  entries_.resize(buckets * kWays);
  bucket_mask_ = buckets - 1;
}

std::size_t InterleavedTable::bucket(const ClientKey& client, core::NtpTimestamp rx) const {
  std::uint64_t a = 0, b = 0;
  std::memcpy(&a, client.address.data(), 8);
  std::memcpy(&b, client.address.data() + 8, 8);
  const std::uint64_t h = mix(mix(a ^ client.family) ^ b) ^ mix(rx.raw);
  return static_cast<std::size_t>(mix(h)) & bucket_mask_;
}

const InterleavedTable::Entry* InterleavedTable::find(const ClientKey& client,
                                                      core::NtpTimestamp rx) const {
  const std::size_t first = bucket(client, rx) * kWays;
  for (std::size_t i = first; i < first + kWays; ++i) {
    const Entry& e = entries_[i];
    if (e.sequence != 0 && e.rx == rx && e.client == client) return &e;
  }
  return nullptr;
}

core::NtpTimestamp InterleavedTable::unique_receive(const ClientKey& client,
                                                    core::NtpTimestamp rx) const {
  if (next_sequence_ == 1 || later(rx, newest_rx_)) return rx;
  while (find(client, rx) != nullptr) ++rx.raw;
  return rx;
}

InterleavedTable::Slot InterleavedTable::slot(const ClientKey& client,
                                              core::NtpTimestamp rx) const {
  return Slot{client, rx, bucket(client, rx) * kWays};
}

void InterleavedTable::prefetch(const Slot& exchange) const {
  const auto* first = reinterpret_cast<const char*>(&entries_[exchange.first]);
  for (std::size_t at = 0; at < kWays * sizeof(Entry); at += 64) __builtin_prefetch(first + at, 1);
  __builtin_prefetch(first + kWays * sizeof(Entry) - 1, 1);
}

InterleavedTable::Handle InterleavedTable::save(const Slot& exchange, core::NtpTimestamp tx) {
  const ClientKey& client = exchange.client;
  const core::NtpTimestamp rx = exchange.rx;
  const std::size_t first = exchange.first;
  std::size_t victim = first;
  for (std::size_t i = first; i < first + kWays; ++i) {
    const Entry& e = entries_[i];
    if (e.sequence == 0 || (e.rx == rx && e.client == client)) {
      victim = i;
      break;
    }
    if (e.sequence < entries_[victim].sequence) victim = i;
  }
  Entry& e = entries_[victim];
  if (e.sequence != 0 && !(e.rx == rx && e.client == client)) ++evictions_;
  e.client = client;
  e.rx = rx;
  e.tx = tx;
  if (next_sequence_ == 1 || later(rx, newest_rx_)) newest_rx_ = rx;
  e.sequence = next_sequence_++;
  return Handle{static_cast<std::uint32_t>(victim), e.sequence};
}

bool InterleavedTable::update_transmit(Handle handle, core::NtpTimestamp tx) {
  if (handle.sequence == 0 || handle.index >= entries_.size()) return false;
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
