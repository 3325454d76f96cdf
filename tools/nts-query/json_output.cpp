#include "json_output.h"

#include <fmt/core.h>

#include "json.h"

namespace nts_query {

using ntsd::client::CertificateInfo;
using ntsd::client::KeResult;
using ntsd::client::NtpExchangeResult;

namespace {

std::string json_ms(const std::optional<std::chrono::microseconds>& d) {
  return d ? fmt::format("{:.3f}", ms(*d)) : "null";
}

std::string certificate_json(const CertificateInfo& c) {
  JsonObject o;
  o.string("subject", c.subject).string("issuer", c.issuer);
  o.raw("dns_names", json_strings(c.dns_names));
  o.raw("ip_addresses", json_strings(c.ip_addresses));
  o.string("not_before", c.not_before).string("not_after", c.not_after);
  o.integer("days_left", c.days_left);
  o.string("key", c.key).string("signature_algorithm", c.signature_algorithm);
  return o.str();
}

std::optional<std::string> nonempty(const std::string& s) {
  if (s.empty()) return std::nullopt;
  return s;
}

std::string ke_json(const KeResult& ke) {
  const auto& s = ke.session;
  JsonObject o;
  o.string("host", s.host).integer("port", s.port);
  o.optional_string("tls_version", nonempty(s.tls_version));
  o.optional_string("tls_cipher", nonempty(s.tls_cipher));
  o.optional_string("alpn", nonempty(s.alpn));
  o.optional_string("certificate_subject", s.certificate_subject);
  o.optional_string("certificate_not_after", s.certificate_not_after);
  o.raw("certificate_days_left",
        s.certificate_days_left ? std::to_string(*s.certificate_days_left) : "null");
  std::vector<std::string> chain;
  for (const auto& c : s.certificates) chain.push_back(certificate_json(c));
  o.raw("certificates", json_array(chain));
  o.optional_string("aead",
                    s.aead ? std::optional<std::string>(std::string(ntsd::core::aead_name(*s.aead)))
                           : std::nullopt);
  o.raw("aead_id", s.aead ? std::to_string(static_cast<unsigned>(*s.aead)) : "null");
  // AEAD 30 only: whether the keys came from the RFC's exporter context (id 30,
  // the server echoed record 1024) or chrony 4.4-4.6.0's (id 15).
  o.raw("compliant_keys", s.aead == ntsd::core::AeadAlgorithm::AesGcmSiv128
                              ? (s.compliant_gcm_siv ? "true" : "false")
                              : "null");
  o.integer("cookies", static_cast<std::int64_t>(s.cookies.size()));
  o.raw("cookie_length", s.cookies.empty() ? "null" : std::to_string(s.cookies.front().size()));
  o.optional_string("ntp_server", nonempty(s.ntp_server));
  o.raw("ntp_port", s.ntp_port != 0 ? std::to_string(s.ntp_port) : "null");
  return o.str();
}

std::string exchange_json(const NtpExchangeResult& e) {
  JsonObject o;
  o.boolean("ok", e.ok);
  if (e.sample) {
    o.raw("offset", json_seconds(e.sample->offset));
    o.raw("delay", json_seconds(e.sample->delay));
    o.integer("stratum", e.sample->stratum);
    o.string("refid", e.sample->refid);
    o.integer("leap", static_cast<int>(e.sample->leap));
  } else {
    o.raw("offset", "null").raw("delay", "null").raw("stratum", "null");
    o.raw("refid", "null").raw("leap", "null");
  }
  o.raw("round_trip_ms", json_ms(e.round_trip));
  o.integer("cookies_received", static_cast<std::int64_t>(e.cookies_received));
  o.optional_string("error", e.ok ? std::nullopt : std::optional<std::string>(e.error));
  return o.str();
}

std::string warnings_json(const std::vector<Warning>& warnings) {
  std::vector<std::string> items;
  items.reserve(warnings.size());
  for (const auto& w : warnings) {
    items.push_back(JsonObject().string("kind", w.kind).string("message", w.message).str());
  }
  return json_array(items);
}

}  // namespace

std::string report_json(const Report& report) {
  const auto& t = report.ke.session.timings;
  JsonObject o;
  o.boolean("ok", report.ok());
  if (!report.ok()) o.string("error", report.error);
  o.raw("ke", ke_json(report.ke));
  std::vector<std::string> list;
  for (const auto& exchange : report.exchanges) list.push_back(exchange_json(exchange));
  o.raw("exchanges", json_array(list));
  o.raw("timings_ms", JsonObject()
                          .raw("dns", json_ms(t.dns))
                          .raw("tcp", json_ms(t.connect))
                          .raw("tls", json_ms(t.handshake))
                          .raw("ke", json_ms(t.exchange))
                          .raw("ntp", json_ms(report.first_ntp()))
                          .str());
  o.raw("warnings", warnings_json(report.warnings));
  return o.str();
}

}  // namespace nts_query
