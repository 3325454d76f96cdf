#include "client/ke_client.h"

#include <array>
#include <exception>
#include <string_view>

#include "client/net.h"
#include "client/tls_client.h"
#include "core/ke_negotiation.h"
#include "core/ke_record.h"

namespace ntsd::client {

namespace {

std::chrono::microseconds since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
}

std::string describe_ke_error(const core::KeClientResult& result) {
  using core::KeClientError;
  switch (result.error) {
    case KeClientError::None:
      return {};
    case KeClientError::ServerError: {
      std::string name;
      switch (static_cast<core::KeErrorCode>(result.error_code)) {
        case core::KeErrorCode::UnrecognizedCriticalRecord:
          name = "unrecognized critical record";
          break;
        case core::KeErrorCode::BadRequest:
          name = "bad request";
          break;
        case core::KeErrorCode::InternalServerError:
          name = "internal server error";
          break;
        default:
          name = "unknown error code";
          break;
      }
      return "server answered NTS-KE Error " + std::to_string(result.error_code) + " (" + name +
             ")";
    }
    case KeClientError::NoCommonProtocol:
      return "server does not support NTPv4 (empty Next Protocol record)";
    case KeClientError::NoCommonAead:
      return "server supports none of the offered AEAD algorithms";
    case KeClientError::UnsupportedAead:
      return "server chose an AEAD algorithm that was not offered";
    case KeClientError::NoCookies:
      return "server sent no cookies";
    case KeClientError::UnrecognizedCritical:
      return "server sent an unrecognized critical record";
    case KeClientError::Malformed:
      return "malformed NTS-KE response";
  }
  return "NTS-KE response rejected: " + std::string(core::ke_client_error_name(result.error));
}

// The Server record may carry an IPv6 address in brackets; getaddrinfo wants none.
std::string strip_brackets(std::string host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

// Exports one direction's key and wipes the temporary buffer.
class ExportedKey {
 public:
  ExportedKey(const TlsConnection& tls, core::AeadAlgorithm aead, core::AeadAlgorithm context_aead,
              bool server_to_client)
      : length_(core::aead_key_length(aead)) {
    auto context = core::exporter_context(context_aead, server_to_client);
    tls.export_keying_material({key_.data(), length_}, core::kNtsExporterLabel, context);
  }
  ExportedKey(const ExportedKey&) = delete;
  ExportedKey& operator=(const ExportedKey&) = delete;
  ~ExportedKey() { core::secure_wipe(key_.data(), key_.size()); }
  [[nodiscard]] core::ByteView view() const { return {key_.data(), length_}; }

 private:
  std::array<std::uint8_t, core::kMaxAeadKeyLength> key_{};
  std::size_t length_;
};

void check_offered_aeads(const KeClientOptions& options) {
  if (options.aeads.empty()) throw ClientError("no AEAD algorithm to offer");
  for (auto aead : options.aeads) {
    if (!core::aead_from_id(static_cast<std::uint16_t>(aead))) {
      throw ClientError("invalid AEAD algorithm " + std::to_string(static_cast<unsigned>(aead)));
    }
  }
}

TlsConnection tls_handshake(const KeClientOptions& options, TcpConnection& tcp) {
  TlsClientConfig config;
  config.host = options.host;
  config.ca_file = options.ca_file;
  config.alpn = std::string(core::kNtsKeAlpn);
  try {
    return TlsConnection::handshake(std::move(tcp.fd), config, Clock::now() + options.timeout);
  } catch (const TimeoutError&) {
    throw TimeoutError("TLS handshake failed: no answer within " + format_seconds(options.timeout));
  }
}

void record_tls_details(const TlsConnection& tls, KeSession& session) {
  session.tls_version = tls.version();
  session.tls_cipher = tls.cipher();
  session.alpn = tls.alpn();
  session.certificates = tls.peer_chain();
  if (!session.certificates.empty()) {
    const auto& leaf = session.certificates.front();
    session.certificate_subject = leaf.subject;
    if (!leaf.not_after.empty()) {
      session.certificate_not_after = leaf.not_after;
      session.certificate_days_left = leaf.days_left;
    }
  }
}

// The message refers into buffer, which must outlive it.
core::KeMessage read_ke_response(TlsConnection& tls, const KeClientOptions& options,
                                 Clock::time_point deadline, core::Bytes& buffer) {
  std::array<std::uint8_t, 4096> chunk{};
  for (;;) {
    std::size_t got = 0;
    try {
      got = tls.read_some(chunk, deadline);
    } catch (const TimeoutError&) {
      throw TimeoutError("no complete NTS-KE response within " + format_seconds(options.timeout));
    }
    if (got == 0) {
      throw ClientError(buffer.empty() ? "server closed the connection without answering"
                                       : "server closed the connection before End of Message");
    }
    buffer.insert(buffer.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(got));
    if (buffer.size() > kMaxKeResponseSize) {
      throw ClientError("NTS-KE response larger than " + std::to_string(kMaxKeResponseSize) +
                        " bytes");
    }
    core::KeMessage message = core::parse_ke_message(buffer);
    if (message.status == core::KeMessageStatus::Complete) return message;
    if (message.status == core::KeMessageStatus::Malformed) {
      throw ClientError("malformed NTS-KE response");
    }
  }
}

void derive_session_keys(TlsConnection& tls, const core::KeClientResult& result,
                         KeSession& session) {
  {
    // AEAD 30 without record 1024 from the server: id 15 in the context, as the
    // chrony 4.4 to 4.6.0 servers that do not echo it derive their keys.
    const auto context_aead = core::exporter_context_aead(*result.aead, result.compliant_gcm_siv);
    session.compliant_gcm_siv = result.compliant_gcm_siv;
    ExportedKey c2s(tls, *result.aead, context_aead, false);
    ExportedKey s2c(tls, *result.aead, context_aead, true);
    session.keys = core::NtsKeys::create(*result.aead, c2s.view(), s2c.view());
  }
  if (!session.keys) throw ClientError("cannot use the exported keys");
}

void apply_ke_response(TlsConnection& tls, const KeClientOptions& options,
                       const core::KeMessage& message, KeSession& session) {
  core::KeClientResult result = core::interpret_ke_response(message, options.aeads);
  session.warnings = result.warnings;
  if (result.aead) session.aead = result.aead;
  if (result.error != core::KeClientError::None) {
    tls.shutdown(Clock::now() + options.timeout);
    throw ClientError(describe_ke_error(result));
  }
  if (!result.aead) throw ClientError("server chose no AEAD algorithm");
  session.cookies = std::move(result.cookies);
  session.ntp_server =
      result.ntp_server ? strip_brackets(*result.ntp_server) : session.peer_address;
  session.ntp_port = result.ntp_port.value_or(kDefaultNtpPort);
  if (session.ntp_server.empty()) throw ClientError("server sent an empty NTPv4 Server record");
  if (session.ntp_port == 0) throw ClientError("server sent NTPv4 Port 0");
  derive_session_keys(tls, result, session);
}

void run_ke_session(const KeClientOptions& options, KeSession& session) {
  check_offered_aeads(options);

  auto start = Clock::now();
  auto addresses = resolve(options.host, options.port, SOCK_STREAM);
  session.timings.dns = since(start);

  start = Clock::now();
  TcpConnection tcp = connect_tcp(addresses, options.timeout);
  session.peer_address = tcp.peer.host_string();
  session.timings.connect = since(start);

  start = Clock::now();
  TlsConnection tls = tls_handshake(options, tcp);
  session.timings.handshake = since(start);
  record_tls_details(tls, session);

  start = Clock::now();
  auto deadline = start + options.timeout;
  core::Bytes request = core::build_ke_request(options.aeads);
  tls.write_all(request, deadline);
  core::Bytes buffer;
  core::KeMessage message = read_ke_response(tls, options, deadline, buffer);
  session.timings.exchange = since(start);
  // Data after End of Message is not ours to interpret; ignore it (RFC 8915 §4).

  apply_ke_response(tls, options, message, session);
  tls.shutdown(Clock::now() + options.timeout);
}

}  // namespace

KeResult run_ke(const KeClientOptions& options) {
  KeResult result;
  result.session.host = options.host;
  result.session.port = options.port;
  try {
    run_ke_session(options, result.session);
    result.ok = true;
  } catch (const ClientError& e) {
    result.error = e.what();
  } catch (const std::exception& e) {
    result.error = std::string("NTS-KE failed: ") + e.what();
  }
  if (!result.ok) result.session.keys.reset();
  return result;
}

}  // namespace ntsd::client
