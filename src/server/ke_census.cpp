#include "server/ke_census.h"

#include <fmt/format.h>

namespace ntsd::server {

namespace {

constexpr std::uint16_t kRecord1024 = 1024;

void add(std::atomic<std::uint64_t>& counter) { counter.fetch_add(1, std::memory_order_relaxed); }

template <std::size_t N>
std::array<std::uint64_t, N> load(const std::array<std::atomic<std::uint64_t>, N>& counters) {
  std::array<std::uint64_t, N> out{};
  for (std::size_t i = 0; i < N; ++i) out[i] = counters[i].load(std::memory_order_relaxed);
  return out;
}

char printable(std::uint8_t byte) {
  return byte >= 0x21 && byte <= 0x7e && byte != ',' ? static_cast<char>(byte) : '?';
}

}  // namespace

std::size_t ke_piece_bucket(unsigned pieces) { return pieces <= 1 ? 0 : pieces == 2 ? 1 : 2; }

std::string_view ke_piece_bucket_name(std::size_t bucket) {
  constexpr std::array<std::string_view, kKePieceBuckets> kNames = {"1", "2", "3+"};
  return kNames.at(bucket);
}

std::string_view ke_record_seen_name(KeRecordSeen seen) {
  constexpr std::array<std::string_view, kKeRecordSeenCount> kNames = {
      "ntp_server", "ntp_port", "1024", "unknown_noncritical", "unknown_critical"};
  return kNames.at(static_cast<std::size_t>(seen));
}

std::array<bool, kKeRecordSeenCount> ke_records_seen(const core::KeMessage& message) {
  std::array<bool, kKeRecordSeenCount> seen{};
  auto mark = [&seen](KeRecordSeen s) { seen[static_cast<std::size_t>(s)] = true; };
  for (const auto& record : message.records) {
    if (record.type == static_cast<std::uint16_t>(core::KeRecordType::NtpServer)) {
      mark(KeRecordSeen::NtpServer);
    } else if (record.type == static_cast<std::uint16_t>(core::KeRecordType::NtpPort)) {
      mark(KeRecordSeen::NtpPort);
    } else if (record.type == kRecord1024) {
      mark(KeRecordSeen::Record1024);
    } else if (!core::is_known_ke_record_type(record.type)) {
      mark(record.critical ? KeRecordSeen::UnknownCritical : KeRecordSeen::UnknownNonCritical);
    }
  }
  return seen;
}

std::string ke_aead_list_label(const core::KeMessage& message) {
  for (const auto& record : message.records) {
    if (record.type != static_cast<std::uint16_t>(core::KeRecordType::AeadAlgorithm)) continue;
    std::string label;
    const auto& body = record.body;
    for (std::size_t i = 0; i + 1 < body.size(); i += 2) {
      if (i / 2 == kMaxAeadsInLabel) return label + ",...";
      if (!label.empty()) label += ',';
      label += fmt::format("{}", (body[i] << 8) | body[i + 1]);
    }
    return label.empty() ? std::string("empty") : label;
  }
  return "none";
}

std::string ke_alpn_label(const std::uint8_t* wire, std::size_t length) {
  std::string label;
  std::size_t names = 0;
  for (std::size_t i = 0; i < length;) {
    const std::size_t n = wire[i++];
    if (n == 0 || n > length - i) return "malformed";
    if (names == kMaxAlpnInLabel) return label + ",...";
    if (names++ != 0) label += ',';
    for (std::size_t j = 0; j < n && j < kMaxAlpnNameLength; ++j) label += printable(wire[i + j]);
    i += n;
  }
  return label.empty() ? std::string("none") : label;
}

void KeCensus::count_request(const core::KeMessage& message, unsigned tls_records, unsigned reads) {
  add(requests_);
  add(tls_records_[ke_piece_bucket(tls_records)]);
  add(reads_[ke_piece_bucket(reads)]);
  const auto seen = ke_records_seen(message);
  for (std::size_t i = 0; i < kKeRecordSeenCount; ++i) {
    if (seen[i]) add(records_seen_[i]);
  }
  aeads_.add(ke_aead_list_label(message));
}

void KeCensus::count_tls(const KeTlsCensus& tls) {
  tls_versions_.add(tls.version.empty() ? "unknown" : tls.version);
  ciphers_.add(tls.cipher.empty() ? "unknown" : tls.cipher);
  groups_.add(tls.group.empty() ? "unknown" : tls.group);
  add(sni_[tls.sni ? 1 : 0]);
}

void KeCensus::count_alpn(std::string_view offered_label) { alpn_.add(offered_label); }

KeCensusSnapshot KeCensus::snapshot() const {
  KeCensusSnapshot s;
  s.requests = requests_.load(std::memory_order_relaxed);
  s.tls_records = load(tls_records_);
  s.reads = load(reads_);
  s.records_seen = load(records_seen_);
  s.sni = load(sni_);
  s.aeads = aeads_.snapshot();
  s.tls_versions = tls_versions_.snapshot();
  s.ciphers = ciphers_.snapshot();
  s.groups = groups_.snapshot();
  s.alpn = alpn_.snapshot();
  return s;
}

}  // namespace ntsd::server
