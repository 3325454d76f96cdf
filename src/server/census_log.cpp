#include "server/census_log.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>

#include <ctime>
#include <span>

#include "common/json_string.h"
#include "server/peer_address.h"

namespace ntsd::server {

using common::append_json_string;

namespace {

// Keeps the first `length` bits of `bytes` (of `size` bytes), zeroes the rest.
void keep_bits(std::array<std::uint8_t, 16>& bytes, std::size_t size, unsigned length) {
  for (std::size_t i = 0; i < size; ++i) {
    const unsigned first_bit = static_cast<unsigned>(i) * 8;
    if (first_bit >= length) {
      bytes[i] = 0;
    } else if (length - first_bit < 8) {
      bytes[i] &= static_cast<std::uint8_t>(0xff << (8 - (length - first_bit)));
    }
  }
}

ClientPrefix cut(int family, std::span<const std::uint8_t> address, unsigned length) {
  ClientPrefix prefix;
  if (length == 0) return prefix;
  prefix.family = family;
  prefix.length = std::min(length, static_cast<unsigned>(address.size() * 8));
  std::copy(address.begin(), address.end(), prefix.bytes.begin());
  keep_bits(prefix.bytes, address.size(), prefix.length);
  return prefix;
}

void append_key(std::string& out, std::string_view key) {
  out += out.size() == 1 ? "\"" : ",\"";
  out += key;  // our own names: nothing to escape
  out += "\":";
}

void append_string_or_null(std::string& out, std::string_view key,
                           std::optional<std::string_view> value) {
  append_key(out, key);
  if (value) {
    append_json_string(out, *value);
  } else {
    out += "null";
  }
}

template <typename T>
void append_number_or_null(std::string& out, std::string_view key, std::optional<T> value) {
  append_key(out, key);
  out += value ? fmt::format("{}", *value) : std::string("null");
}

void append_tls(std::string& out, const std::optional<CensusTls>& tls) {
  using Text = std::optional<std::string_view>;
  const auto group = tls && !tls->group.view().empty() ? Text(tls->group.view()) : std::nullopt;
  append_string_or_null(out, "tls_version", tls ? Text(tls->version.view()) : std::nullopt);
  append_string_or_null(out, "tls_cipher", tls ? Text(tls->cipher.view()) : std::nullopt);
  append_string_or_null(out, "tls_group", group);
  append_key(out, "sni");
  out += !tls ? "null" : tls->sni ? "true" : "false";
}

void append_request(std::string& out, const std::optional<CensusRequest>& request) {
  using Text = std::optional<std::string_view>;
  using Count = std::optional<unsigned>;
  append_number_or_null(out, "tls_records", request ? Count(request->tls_records) : std::nullopt);
  append_number_or_null(out, "reads", request ? Count(request->reads) : std::nullopt);
  append_string_or_null(out, "aeads", request ? Text(request->aeads.view()) : std::nullopt);
  append_key(out, "records");
  if (!request) {
    out += "null";
    return;
  }
  out += '[';
  bool first = true;
  for (std::size_t i = 0; i < kKeRecordSeenCount; ++i) {
    if (!request->records[i]) continue;
    if (!first) out += ',';
    first = false;
    append_json_string(out, ke_record_seen_name(static_cast<KeRecordSeen>(i)));
  }
  out += ']';
}

}  // namespace

ClientPrefix truncate_client_address(const sockaddr* address, socklen_t length,
                                     CensusLogPrefixes prefixes) {
  if (address == nullptr) return {};
  const bool whole =
      (address->sa_family == AF_INET && length >= static_cast<socklen_t>(sizeof(sockaddr_in))) ||
      (address->sa_family == AF_INET6 && length >= static_cast<socklen_t>(sizeof(sockaddr_in6)));
  if (!whole) return {};
  const auto bytes = peer_address_bytes(address);  // IPv4-mapped: the IPv4 address
  if (bytes.size() == 4) return cut(AF_INET, bytes, prefixes.ipv4);
  if (bytes.size() == 16) return cut(AF_INET6, bytes, prefixes.ipv6);
  return {};
}

std::string format_client_prefix(const ClientPrefix& prefix) {
  if (prefix.family != AF_INET && prefix.family != AF_INET6) return {};
  char text[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(prefix.family, prefix.bytes.data(), text, sizeof text) == nullptr) return {};
  return fmt::format("{}/{}", text, prefix.length);
}

std::string format_rfc3339_ms(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(time.time_since_epoch()).count();
  // Floor division: times before 1970 keep a milliseconds field of 0-999.
  const auto seconds = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  const auto millis = ms - static_cast<std::int64_t>(seconds) * 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, millis);
}

std::string format_census_line(const CensusRecord& record) {
  using Text = std::optional<std::string_view>;
  std::string out = "{";
  out.reserve(512);
  append_string_or_null(out, "time", format_rfc3339_ms(record.time));
  const std::string client = format_client_prefix(record.client);
  append_string_or_null(out, "client", client.empty() ? std::nullopt : Text(client));
  append_string_or_null(out, "outcome", ke_session_outcome_name(record.outcome));
  append_string_or_null(out, "alpn", record.alpn ? Text(record.alpn->view()) : std::nullopt);
  append_tls(out, record.tls);
  append_request(out, record.request);
  append_number_or_null(out, "aead", record.aead);
  out += "}\n";
  return out;
}

}  // namespace ntsd::server
