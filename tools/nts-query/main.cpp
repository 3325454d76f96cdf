// nts-query: one NTS-KE session and N NTS-protected NTP exchanges against a server,
// for operators and tests. Exit 0 only when every exchange authenticated; 1 on any
// failure (one line on stderr); 2 on a usage error; 3 with --fail-on-warning when
// everything authenticated but a warning was raised. Warnings (a certificate close to
// expiry, answers that look unsynchronised) are information: without that flag they
// do not change the exit status.

#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "client/ke_client.h"
#include "client/net.h"
#include "client/ntp_client.h"
#include "common/version.h"
#include "core/aead.h"

namespace {

using ntsd::client::CertificateInfo;
using ntsd::client::KeResult;
using ntsd::client::NtpExchangeResult;

// Warning thresholds; --help and docs/operations.md state them.
constexpr std::int64_t kCertificateWarningDays = 14;
constexpr double kMaxRootDispersion = 1.0;    // seconds
constexpr double kMaxReferenceAge = 86400.0;  // seconds before the transmit timestamp
constexpr double kMaxOffset = 1.0;            // seconds, against the local clock
constexpr std::uint8_t kUnsynchronisedStratum = 16;

// --- JSON output -----------------------------------------------------------

// Decodes one UTF-8 sequence at s[i]; returns its length, or 0 when invalid.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char lead = byte(i);
  std::size_t length = 0;
  std::uint32_t code = 0;
  if (lead < 0x80) return 1;
  if ((lead & 0xe0) == 0xc0) {
    length = 2;
    code = lead & 0x1fu;
  } else if ((lead & 0xf0) == 0xe0) {
    length = 3;
    code = lead & 0x0fu;
  } else if ((lead & 0xf8) == 0xf0) {
    length = 4;
    code = lead & 0x07u;
  } else {
    return 0;
  }
  if (i + length > s.size()) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    code = (code << 6) | (byte(i + k) & 0x3fu);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not valid UTF-8.
  static constexpr std::uint32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < kMinimum[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return 0;
  return length;
}

// A JSON string literal; invalid UTF-8 becomes U+FFFD.
std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else if (c >= 0x80) {
          std::size_t length = utf8_sequence_length(s, i);
          if (length == 0) {
            out += "\\ufffd";
            ++i;
            continue;
          }
          out.append(s.substr(i, length));
          i += length;
          continue;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out += '"';
  return out;
}

// Builds one JSON object, keys in insertion order.
class JsonObject {
 public:
  JsonObject& raw(std::string_view key, std::string_view json) {
    if (!body_.empty()) body_ += ',';
    body_ += json_string(key);
    body_ += ':';
    body_ += json;
    return *this;
  }
  JsonObject& string(std::string_view key, std::string_view value) {
    return raw(key, json_string(value));
  }
  JsonObject& optional_string(std::string_view key, const std::optional<std::string>& value) {
    return raw(key, value ? json_string(*value) : "null");
  }
  JsonObject& integer(std::string_view key, std::int64_t value) {
    return raw(key, std::to_string(value));
  }
  JsonObject& boolean(std::string_view key, bool value) {
    return raw(key, value ? "true" : "false");
  }
  [[nodiscard]] std::string str() const { return "{" + body_ + "}"; }

 private:
  std::string body_;
};

std::string json_seconds(double value) { return fmt::format("{:.9f}", value); }

std::string json_array(const std::vector<std::string>& items_json) {
  std::string out = "[";
  for (std::size_t i = 0; i < items_json.size(); ++i) {
    if (i > 0) out += ',';
    out += items_json[i];
  }
  return out + "]";
}

std::string json_strings(const std::vector<std::string>& values) {
  std::vector<std::string> items;
  for (const auto& value : values) items.push_back(json_string(value));
  return json_array(items);
}

double ms(std::chrono::microseconds d) { return static_cast<double>(d.count()) / 1000.0; }

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

// --- warnings ----------------------------------------------------------------

struct Warning {
  std::string kind;  // "certificate_expiry", "unsynchronised", "clock_offset"
  std::string message;
};

std::vector<Warning> certificate_warnings(const KeResult& ke) {
  std::vector<Warning> out;
  const auto& chain = ke.session.certificates;
  for (std::size_t i = 0; i < chain.size(); ++i) {
    const auto& c = chain[i];
    if (c.not_after.empty() || c.days_left >= kCertificateWarningDays) continue;
    std::string which =
        i == 0 ? "server certificate" : fmt::format("certificate {} in the chain", i + 1);
    std::string when = c.days_left < 0
                           ? fmt::format("expired on {}", c.not_after)
                           : fmt::format("expires on {} ({} days left, warning below {})",
                                         c.not_after, c.days_left, kCertificateWarningDays);
    out.push_back({"certificate_expiry", fmt::format("{} ({}) {}", which, c.subject, when)});
  }
  return out;
}

// One check on the server's answers; reported once, with how many exchanges tripped it.
struct AnswerCheck {
  std::string kind;
  std::string first_message;
  std::size_t hits = 0;
};

enum AnswerCheckIndex : std::size_t { kLeap, kStratum, kDispersion, kReference, kOffset };

// Only authenticated answers count; a kiss-o'-death (stratum 0 with a code) already
// failed its exchange.
std::vector<Warning> answer_warnings(const std::vector<NtpExchangeResult>& exchanges) {
  std::vector<AnswerCheck> checks{{"unsynchronised", {}, 0},
                                  {"unsynchronised", {}, 0},
                                  {"unsynchronised", {}, 0},
                                  {"unsynchronised", {}, 0},
                                  {"clock_offset", {}, 0}};
  auto hit = [&](AnswerCheckIndex index, std::string message) {
    if (checks[index].hits++ == 0) checks[index].first_message = std::move(message);
  };
  std::size_t answered = 0;
  for (const auto& e : exchanges) {
    if (!e.ok || !e.sample) continue;
    ++answered;
    const auto& s = *e.sample;
    if (s.leap == ntsd::core::LeapIndicator::Unsynchronized) {
      hit(kLeap, "server is unsynchronised: leap indicator 3");
    }
    if (s.stratum == 0 || s.stratum >= kUnsynchronisedStratum) {
      hit(kStratum, fmt::format("server is unsynchronised: stratum {}", s.stratum));
    }
    if (s.root_dispersion > kMaxRootDispersion) {
      hit(kDispersion, fmt::format("server's root dispersion {:.3f} s exceeds {} s",
                                   s.root_dispersion, kMaxRootDispersion));
    }
    if (s.reference_time.raw == 0) {
      hit(kReference, "server's reference timestamp is zero (never synchronised)");
    } else {
      double age = ntsd::client::ntp_difference(s.reference_time, s.transmit_time);
      if (age > kMaxReferenceAge) {
        hit(kReference,
            fmt::format("server's reference timestamp is {:.0f} s older than its transmit "
                        "timestamp (more than {} s)",
                        age, kMaxReferenceAge));
      }
    }
    if (std::abs(s.offset) > kMaxOffset) {
      hit(kOffset, fmt::format("clock offset {:+.6f} s exceeds {} s: the server's clock or this "
                               "host's is wrong",
                               s.offset, kMaxOffset));
    }
  }
  std::vector<Warning> out;
  for (auto& check : checks) {
    if (check.hits == 0) continue;
    std::string message = std::move(check.first_message);
    if (answered > 1) message += fmt::format(" (in {} of {} answers)", check.hits, answered);
    out.push_back({check.kind, std::move(message)});
  }
  return out;
}

std::string warnings_json(const std::vector<Warning>& warnings) {
  std::vector<std::string> items;
  for (const auto& w : warnings) {
    items.push_back(JsonObject().string("kind", w.kind).string("message", w.message).str());
  }
  return json_array(items);
}

// --- human output ------------------------------------------------------------

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

// --- main ------------------------------------------------------------------

std::optional<std::vector<ntsd::core::AeadAlgorithm>> parse_aead_list(const std::string& text) {
  std::vector<ntsd::core::AeadAlgorithm> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    auto item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    unsigned id = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), id);
    if (item.empty() || ec != std::errc{} || end != item.data() + item.size() || id > 0xffff) {
      return std::nullopt;
    }
    auto aead = ntsd::core::aead_from_id(static_cast<std::uint16_t>(id));
    if (!aead) return std::nullopt;
    out.push_back(*aead);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (out.empty()) return std::nullopt;
  return out;
}

int usage_error(const std::string& message) {
  fmt::print(stderr, "nts-query: {}\nRun with --help for more information.\n", message);
  return 2;
}

std::chrono::milliseconds to_ms(double seconds) {
  return std::max(std::chrono::milliseconds(1),
                  std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000.0 + 0.5)));
}

}  // namespace

int main(int argc, char** argv) {
  // OpenSSL writes to sockets with write(2); a reset peer must not kill us.
  std::signal(SIGPIPE, SIG_IGN);

  CLI::App app{"Query an NTS (RFC 8915) server: NTS-KE, then NTS-protected NTP exchanges.",
               "nts-query"};
  app.set_version_flag("--version", std::string("nts-query ") + ntsd::kVersion);
  std::string target;
  std::optional<std::string> ca_file;
  int count = 1;
  bool json = false;
  std::optional<double> timeout;
  double interval = 1.0;
  std::string aead_list = "30,15,17";
  bool fail_on_warning = false;
  app.add_option("server", target, "HOST[:KEPORT], [IPv6]:KEPORT or IPv6 (NTS-KE port 4460)")
      ->required();
  app.add_option("--ca", ca_file, "trust only the CA certificates in this PEM file");
  app.add_option("--count", count, "number of NTP exchanges (default 1)")
      ->check(CLI::Range(1, 100000));
  app.add_flag("--json", json, "print one JSON object on stdout");
  app.add_option("--timeout", timeout,
                 "seconds to wait at each step (default 5 for NTS-KE, 2 per NTP exchange)")
      ->check(CLI::Range(0.001, 3600.0));
  app.add_option("--interval", interval, "seconds between exchanges (default 1)")
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option(
      "--aead", aead_list,
      "AEAD algorithm ids to offer, preferred first (30,15,17); record 1024 goes with 30");
  app.add_flag("--fail-on-warning", fail_on_warning,
               "exit with status 3 when everything authenticated but a warning was raised");
  app.footer(fmt::format(
      "Warnings (stderr; \"warnings\" in --json) do not change the exit status unless\n"
      "--fail-on-warning is given. They are raised when:\n"
      "  a certificate the server presented expires within {} days;\n"
      "  an answer looks unsynchronised: leap indicator 3, stratum 0 or 16 and above,\n"
      "  root dispersion above {} s, or a reference timestamp that is zero or more than\n"
      "  {} s older than the transmit timestamp;\n"
      "  the clock offset against this host's clock exceeds {} s.",
      kCertificateWarningDays, kMaxRootDispersion, kMaxReferenceAge, kMaxOffset));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usage_error(e.what());
  }

  auto host_port = ntsd::parse_host_port(target);
  if (!host_port) return usage_error("invalid server '" + target + "': expected HOST[:PORT]");
  auto aeads = parse_aead_list(aead_list);
  if (!aeads) {
    return usage_error("invalid --aead '" + aead_list + "': expected ids among 30, 15, 16, 17");
  }

  ntsd::client::KeClientOptions ke_options;
  ke_options.host = host_port->host;
  ke_options.port = host_port->port.value_or(ntsd::client::kDefaultKePort);
  ke_options.ca_file = ca_file;
  ke_options.aeads = *aeads;
  if (timeout) ke_options.timeout = to_ms(*timeout);
  ntsd::client::NtpClientOptions ntp_options;
  if (timeout) ntp_options.timeout = to_ms(*timeout);

  KeResult ke = ntsd::client::run_ke(ke_options);
  std::vector<NtpExchangeResult> exchanges;
  std::string error;
  if (!ke.ok) {
    error = ke.error;
  } else {
    try {
      ntsd::client::NtsNtpClient ntp(ke.session.ntp_server, ke.session.ntp_port, *ke.session.keys,
                                     ke.session.cookies, ntp_options);
      for (int i = 0; i < count; ++i) {
        if (i > 0 && interval > 0) std::this_thread::sleep_for(to_ms(interval));
        exchanges.push_back(ntp.exchange());
      }
    } catch (const std::exception& e) {
      error = e.what();
    }
    ke.session.keys.reset();
    std::size_t failed = 0;
    for (const auto& exchange : exchanges) {
      if (exchange.ok) continue;
      if (failed++ == 0 && error.empty()) error = exchange.error;
    }
    if (failed > 0 && count > 1) {
      error += fmt::format(" ({} of {} exchanges failed)", failed, count);
    }
  }
  bool ok = error.empty();
  std::vector<Warning> warnings = certificate_warnings(ke);
  for (auto& warning : answer_warnings(exchanges)) warnings.push_back(std::move(warning));
  const auto& t = ke.session.timings;
  std::optional<std::chrono::microseconds> first_ntp;
  if (!exchanges.empty()) first_ntp = exchanges.front().round_trip;

  if (json) {
    JsonObject o;
    o.boolean("ok", ok);
    if (!ok) o.string("error", error);
    o.raw("ke", ke_json(ke));
    std::vector<std::string> list;
    for (const auto& exchange : exchanges) list.push_back(exchange_json(exchange));
    o.raw("exchanges", json_array(list));
    o.raw("timings_ms", JsonObject()
                            .raw("dns", json_ms(t.dns))
                            .raw("tcp", json_ms(t.connect))
                            .raw("tls", json_ms(t.handshake))
                            .raw("ke", json_ms(t.exchange))
                            .raw("ntp", json_ms(first_ntp))
                            .str());
    o.raw("warnings", warnings_json(warnings));
    fmt::print("{}\n", o.str());
  } else {
    print_ke_human(ke);
    for (std::size_t i = 0; i < exchanges.size(); ++i) print_exchange_human(i + 1, exchanges[i]);
    fmt::print("Timings:              DNS {}, TCP {}, TLS {}, NTS-KE {}, first NTP {}\n",
               human_ms(t.dns), human_ms(t.connect), human_ms(t.handshake), human_ms(t.exchange),
               human_ms(first_ntp));
  }
  std::fflush(stdout);
  if (!json) {
    for (const auto& warning : warnings)
      fmt::print(stderr, "nts-query: warning: {}\n", warning.message);
  }
  if (!ok) {
    fmt::print(stderr, "nts-query: {}\n", error);
    return 1;
  }
  return fail_on_warning && !warnings.empty() ? 3 : 0;
}
