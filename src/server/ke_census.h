// Census of the NTS-KE clients that call (docs/metrics.md): how their request
// arrived (TLS records, reads), what it holds (AEAD list, records) and what TLS
// they spoke (version, cipher, group, SNI, ALPN offered). Counted once per
// session; label sets are fixed or bounded (bounded_labels.h). No OpenSSL here:
// ke_census_tls.h reads the session's SSL and feeds these counters.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/ke_record.h"
#include "server/bounded_labels.h"

namespace ntsd::server {

// "1", "2", "3+": requests taking one, two, or three or more records (or reads).
inline constexpr std::size_t kKePieceBuckets = 3;
std::size_t ke_piece_bucket(unsigned pieces);  // 0 and 1 -> 0, 2 -> 1, more -> 2
std::string_view ke_piece_bucket_name(std::size_t bucket);

// Records of a request worth knowing about beside the mandatory ones.
enum class KeRecordSeen : std::uint8_t {
  NtpServer,           // NTPv4 Server Negotiation (6)
  NtpPort,             // NTPv4 Port Negotiation (7)
  Record1024,          // 1024: asks for the RFC's AEAD-30 exporter context
  UnknownNonCritical,  // a type RFC 8915 does not define, critical bit clear
  UnknownCritical,     // the same with the critical bit set (answered with Error 0)
  kCount
};
inline constexpr std::size_t kKeRecordSeenCount = static_cast<std::size_t>(KeRecordSeen::kCount);
std::string_view ke_record_seen_name(KeRecordSeen seen);

// Which of them a request holds (each at most once per request).
std::array<bool, kKeRecordSeenCount> ke_records_seen(const core::KeMessage& message);

// The AEAD ids of the request's first AEAD Algorithm Negotiation record, in the
// client's order: "30,15". At most kMaxAeadsInLabel ids, then ",...";
// "none" without such a record.
inline constexpr std::size_t kMaxAeadsInLabel = 4;
std::string ke_aead_list_label(const core::KeMessage& message);

// The ALPN protocols a ClientHello offered (wire form: length-prefixed names),
// comma-separated: "ntske/1", "h2,http/1.1". At most kMaxAlpnInLabel names of
// at most kMaxAlpnNameLength bytes; bytes outside printable ASCII and ',' become
// '?'; a malformed list is "malformed".
inline constexpr std::size_t kMaxAlpnInLabel = 4;
inline constexpr std::size_t kMaxAlpnNameLength = 16;
std::string ke_alpn_label(const std::uint8_t* wire, std::size_t length);

// What the TLS layer negotiated, for one session.
struct KeTlsCensus {
  std::string_view version;  // "TLSv1.3"
  std::string_view cipher;   // "TLS_AES_256_GCM_SHA384"
  std::string_view group;    // "x25519"; empty when unknown
  bool sni = false;          // the client sent a server name
};

struct KeCensusSnapshot {
  std::uint64_t requests = 0;  // requests read whole (complete or malformed)
  std::array<std::uint64_t, kKePieceBuckets> tls_records{};
  std::array<std::uint64_t, kKePieceBuckets> reads{};
  std::array<std::uint64_t, kKeRecordSeenCount> records_seen{};
  LabelCounts aeads;
  LabelCounts tls_versions;
  LabelCounts ciphers;
  LabelCounts groups;
  std::array<std::uint64_t, 2> sni{};  // [false, true]
  LabelCounts alpn;
};

// Shared by the KE threads: relaxed atomics, and a lock per bounded label set
// (taken a few times per session, next to a TLS handshake).
class KeCensus {
 public:
  static constexpr std::size_t kAeadListSlots = 16;
  static constexpr std::size_t kAlpnSlots = 8;
  static constexpr std::size_t kTlsNameSlots = 8;

  // A request the session read whole, in `tls_records` TLS records carrying
  // application data and `reads` reads that returned some of it.
  void count_request(const core::KeMessage& message, unsigned tls_records, unsigned reads);
  void count_tls(const KeTlsCensus& tls);
  void count_alpn(std::string_view offered_label);

  [[nodiscard]] KeCensusSnapshot snapshot() const;

 private:
  std::atomic<std::uint64_t> requests_{0};
  std::array<std::atomic<std::uint64_t>, kKePieceBuckets> tls_records_{};
  std::array<std::atomic<std::uint64_t>, kKePieceBuckets> reads_{};
  std::array<std::atomic<std::uint64_t>, kKeRecordSeenCount> records_seen_{};
  std::array<std::atomic<std::uint64_t>, 2> sni_{};
  BoundedLabelCounter aeads_{kAeadListSlots};
  BoundedLabelCounter tls_versions_{kTlsNameSlots};
  BoundedLabelCounter ciphers_{kTlsNameSlots};
  BoundedLabelCounter groups_{kTlsNameSlots};
  BoundedLabelCounter alpn_{kAlpnSlots};
};

}  // namespace ntsd::server
