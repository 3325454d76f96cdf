#include "server/ntp_census.h"

#include <netinet/in.h>

#include <algorithm>

namespace ntsd::server {

namespace {

// One writer (the exchange's thread): a plain store, no locked read-modify-write.
void bump(std::atomic<std::uint64_t>& counter) {
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

template <std::size_t N>
void add_all(std::array<std::uint64_t, N>& total,
             const std::array<std::atomic<std::uint64_t>, N>& counters) {
  for (std::size_t i = 0; i < N; ++i) total[i] += counters[i].load(std::memory_order_relaxed);
}

}  // namespace

std::string_view placeholder_bucket_name(std::size_t bucket) {
  constexpr std::array<std::string_view, kPlaceholderBuckets> kNames = {"0", "1", "2", "3",
                                                                        "4", "5", "6", "7+"};
  return kNames.at(bucket);
}

std::size_t length_bucket(std::size_t length) {
  if (length < 48) return 0;
  if (length == 48) return 1;
  if (length < 128) return 2;
  if (length < 256) return 3;
  if (length < 512) return 4;
  if (length < 1024) return 5;
  return 6;
}

std::string_view length_bucket_name(std::size_t bucket) {
  constexpr std::array<std::string_view, kLengthBuckets> kNames = {
      "0-47", "48", "49-127", "128-255", "256-511", "512-1023", "1024+"};
  return kNames.at(bucket);
}

std::size_t version_bucket(core::ByteView request) {
  if (request.empty()) return kVersionBuckets - 1;
  const unsigned version = (request[0] >> 3) & 7U;
  return version >= 1 && version <= 4 ? version - 1 : kVersionBuckets - 1;
}

std::string_view version_bucket_name(std::size_t bucket) {
  constexpr std::array<std::string_view, kVersionBuckets> kNames = {"1", "2", "3", "4", "other"};
  return kNames.at(bucket);
}

std::size_t family_bucket(const sockaddr* peer) {
  if (peer->sa_family != AF_INET6) return 0;
  const auto* v6 = reinterpret_cast<const sockaddr_in6*>(peer);
  return IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr) ? 0 : 1;
}

std::string_view family_bucket_name(std::size_t bucket) {
  constexpr std::array<std::string_view, kFamilyBuckets> kNames = {"ipv4", "ipv6"};
  return kNames.at(bucket);
}

NtpCensusCounts& NtpCensusCounts::operator+=(const NtpCensusCounts& other) {
  for (std::size_t i = 0; i < kPlaceholderBuckets; ++i) placeholders[i] += other.placeholders[i];
  for (std::size_t k = 0; k < kReadKinds; ++k) {
    for (std::size_t i = 0; i < kLengthBuckets; ++i) length[k][i] += other.length[k][i];
    for (std::size_t i = 0; i < kVersionBuckets; ++i) version[k][i] += other.version[k][i];
    for (std::size_t i = 0; i < kFamilyBuckets; ++i) family[k][i] += other.family[k][i];
  }
  return *this;
}

void NtpCensus::count(core::ByteView request, const sockaddr* peer, core::NtpOutcome outcome,
                      std::size_t cookies) {
  std::size_t kind = 0;
  if (outcome.kind == core::RequestKind::Nts) {
    kind = 1;
    // An answered NTS response carries one cookie per placeholder plus one.
    if (outcome.reason == core::Reason::Answered && cookies != 0) {
      bump(placeholders_[std::min(cookies - 1, kPlaceholderBuckets - 1)]);
    }
  } else if (outcome.kind != core::RequestKind::Plain) {
    return;  // dropped unread
  }
  bump(length_[kind][length_bucket(request.size())]);
  bump(version_[kind][version_bucket(request)]);
  bump(family_[kind][family_bucket(peer)]);
}

void NtpCensus::add_to(NtpCensusCounts& total) const {
  add_all(total.placeholders, placeholders_);
  for (std::size_t k = 0; k < kReadKinds; ++k) {
    add_all(total.length[k], length_[k]);
    add_all(total.version[k], version_[k]);
    add_all(total.family[k], family_[k]);
  }
}

}  // namespace ntsd::server
