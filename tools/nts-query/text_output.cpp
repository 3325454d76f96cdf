#include "text_output.h"

#include <fmt/core.h>

#include <algorithm>
#include <cstdint>
#include <string_view>

#include "common/host_port.h"
#include "core/aead.h"

namespace nts_query {

using ntsd::client::CertificateInfo;
using ntsd::client::KeResult;
using ntsd::client::NtpExchangeResult;

namespace {

std::string_view leap_name(ntsd::core::LeapIndicator leap) {
  switch (leap) {
    case ntsd::core::LeapIndicator::NoWarning:
      return "no warning";
    case ntsd::core::LeapIndicator::InsertSecond:
      return "insert second";
    case ntsd::core::LeapIndicator::DeleteSecond:
      return "delete second";
    case ntsd::core::LeapIndicator::Unsynchronized:
      return "unsynchronised";
  }
  return "?";
}

void print_certificate_human(std::size_t index, std::size_t total, const CertificateInfo& c) {
  std::string label = total == 1 ? "Certificate:" : fmt::format("Certificate {}/{}:", index, total);
  fmt::print("{:<22}{}\n", label, c.subject);
  fmt::print("  issuer:             {}\n", c.issuer);
  std::string names;
  for (const auto& name : c.dns_names) names += (names.empty() ? "DNS:" : ", DNS:") + name;
  for (const auto& ip : c.ip_addresses) names += (names.empty() ? "IP:" : ", IP:") + ip;
  if (!names.empty()) fmt::print("  names:              {}\n", names);
  fmt::print("  valid:              {} to {} ({} days left)\n", c.not_before, c.not_after,
             c.days_left);
  fmt::print("  key:                {}, signed with {}\n", c.key, c.signature_algorithm);
}

std::string human_ms(const std::optional<std::chrono::microseconds>& d) {
  return d ? fmt::format("{:.3f} ms", ms(*d)) : "-";
}

void print_ke_human(const KeResult& ke) {
  const auto& s = ke.session;
  std::string peer = s.peer_address.empty() ? "" : " (" + s.peer_address + ")";
  fmt::print("NTS-KE server:        {}{}\n", ntsd::format_host_port(s.host, s.port), peer);
  if (s.tls_version.empty()) return;
  fmt::print("TLS:                  {}, {}, ALPN {}\n", s.tls_version, s.tls_cipher, s.alpn);
  for (std::size_t i = 0; i < s.certificates.size(); ++i) {
    print_certificate_human(i + 1, s.certificates.size(), s.certificates[i]);
  }
  if (s.aead) {
    fmt::print("AEAD:                 {} ({}){}\n", ntsd::core::aead_name(*s.aead),
               static_cast<unsigned>(*s.aead),
               *s.aead != ntsd::core::AeadAlgorithm::AesGcmSiv128 ? ""
               : s.compliant_gcm_siv                              ? ", compliant keys (record 1024)"
                                     : ", keys with id 15 (no record 1024)");
  }
  for (auto warning : s.warnings) fmt::print("NTS-KE warning:       {}\n", warning);
  if (!ke.ok) return;
  std::size_t shortest = SIZE_MAX;
  std::size_t longest = 0;
  for (const auto& cookie : s.cookies) {
    shortest = std::min(shortest, cookie.size());
    longest = std::max(longest, cookie.size());
  }
  if (shortest == longest) {
    fmt::print("Cookies:              {} received, {} bytes each\n", s.cookies.size(), longest);
  } else {
    fmt::print("Cookies:              {} received, {} to {} bytes\n", s.cookies.size(), shortest,
               longest);
  }
  fmt::print("NTP server:           {}\n", ntsd::format_host_port(s.ntp_server, s.ntp_port));
}

void print_exchange_human(std::size_t index, const NtpExchangeResult& e) {
  std::string label = fmt::format("Exchange {}:", index);
  if (!e.ok) {
    fmt::print("{:<22}FAILED: {}\n", label, e.error);
    return;
  }
  const auto& s = *e.sample;
  fmt::print(
      "{:<22}offset {:+.9f} s, delay {:.9f} s, stratum {}, refid {}, leap {} ({}), "
      "cookies received {}\n",
      label, s.offset, s.delay, s.stratum, s.refid, static_cast<int>(s.leap), leap_name(s.leap),
      e.cookies_received);
}

}  // namespace

void print_report_text(const Report& report) {
  const auto& t = report.ke.session.timings;
  print_ke_human(report.ke);
  for (std::size_t i = 0; i < report.exchanges.size(); ++i) {
    print_exchange_human(i + 1, report.exchanges[i]);
  }
  fmt::print("Timings:              DNS {}, TCP {}, TLS {}, NTS-KE {}, first NTP {}\n",
             human_ms(t.dns), human_ms(t.connect), human_ms(t.handshake), human_ms(t.exchange),
             human_ms(report.first_ntp()));
}

}  // namespace nts_query
