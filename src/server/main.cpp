// ntsd: the NTS-KE server and the NTS-protected NTP server in one process.
//
// Start-up order keeps "nothing half-started": read and check every setting,
// load the certificate, bind every socket, and only then start serving.
#include <csignal>
#include <cstdlib>
#include <iostream>

#include "core/cookie.h"
#include "core/random.h"
#include "server/config.h"
#include "server/ke_server.h"
#include "server/log.h"
#include "server/ntp_server.h"
#include "server/time_source.h"
#include "server/tls_server_context.h"

namespace {

using namespace ntsd;

constexpr int kExitConfigError = 2;

// Until the key store arrives (rotation, persistence, sharing), each start draws
// a fresh master key: cookies issued before a restart are answered with a NAK and
// clients run NTS-KE again, as RFC 8915 §5.7 provides.
std::shared_ptr<const core::CookieKeyring> make_keyring() {
  core::SystemRandom random;
  std::array<std::uint8_t, 32> key{};
  random.fill(key);
  std::array<std::uint8_t, 4> id_bytes{};
  random.fill(id_bytes);
  auto cookie_key = core::CookieKey::create(core::CookieKeyId{core::load_be32(id_bytes.data())}, key);
  core::secure_wipe(key.data(), key.size());
  std::vector<core::CookieKey> keys;
  keys.push_back(std::move(*cookie_key));
  return std::make_shared<core::StaticCookieKeyring>(std::move(keys));
}

std::unique_ptr<server::TimeSource> make_time_source(const server::Config& config) {
  switch (config.time_source) {
    case server::TimeSourceKind::Local:
      return std::make_unique<server::LocalTimeSource>(config.stratum, config.reference_id);
  }
  return nullptr;
}

core::KeServerPolicy make_policy(const server::Config& config) {
  core::KeServerPolicy policy;
  policy.aead_preference = config.aead_preference;
  policy.ntp_server = config.ntp_server;
  policy.ntp_port = server::advertised_ntp_port(config);
  return policy;
}

int serve(const server::Config& config) {
  server::validate(config);
  server::init_logging(config.log_level);

  // Signals are taken by sigwait below, never delivered to a worker thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  keys::PublishedKeyring keyring(make_keyring());
  auto time_source = make_time_source(config);

  std::unique_ptr<server::KeServer> ke;
  if (!config.ke_listen.empty()) {
    server::KeServerSettings settings;
    settings.listen = config.ke_listen;
    settings.policy = make_policy(config);
    settings.timeout = config.ke_timeout;
    ke = std::make_unique<server::KeServer>(
        server::make_tls_server_context(config.certificate_file, config.private_key_file),
        std::move(settings), keyring);
  }
  std::unique_ptr<server::NtpServer> ntp;
  if (!config.ntp_listen.empty()) {
    ntp = std::make_unique<server::NtpServer>(config.ntp_listen, config.ntp_workers, *time_source,
                                              keyring);
  }

  if (ke) {
    for (const auto& address : ke->local_addresses()) {
      spdlog::info("NTS-KE listening on {} (TCP)", address.to_string());
    }
    auto policy = make_policy(config);
    if (policy.ntp_server) spdlog::info("NTS-KE advertises NTPv4 server {}", *policy.ntp_server);
    if (policy.ntp_port) spdlog::info("NTS-KE advertises NTPv4 port {}", *policy.ntp_port);
  }
  if (ntp) {
    for (const auto& address : ntp->local_addresses()) {
      spdlog::info("NTP listening on {} (UDP, {} worker{})", address.to_string(),
                   config.ntp_workers, config.ntp_workers == 1 ? "" : "s");
    }
  }
  spdlog::info("time source {}: stratum {}", time_source->name(), config.stratum);

  if (ke) ke->start();
  if (ntp) ntp->start();
  spdlog::info("ready");

  int signal = 0;
  sigwait(&signals, &signal);
  spdlog::info("received {}, stopping", signal == SIGINT ? "SIGINT" : "SIGTERM");
  if (ke) ke->stop();
  if (ntp) ntp->stop();
  if (ke) {
    const auto& c = ke->counters();
    spdlog::info("NTS-KE sessions: {} accepted, {} ok, {} TLS failed, {} without ALPN, {} errors, {} timeouts",
                 c.accepted.load(), c.ok.load(), c.tls_failed.load(), c.no_alpn.load(),
                 c.error_response.load(), c.timeout.load());
  }
  if (ntp) {
    auto c = ntp->counters();
    std::uint64_t nts_answered = c.nts[static_cast<std::size_t>(core::Reason::Answered)];
    std::uint64_t plain_answered = c.plain[static_cast<std::size_t>(core::Reason::Answered)];
    spdlog::info("NTP requests answered: {} NTS, {} plain", nts_answered, plain_answered);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    auto invocation = server::parse_invocation(argc, argv);
    if (invocation.exit_now) return invocation.exit_status;
    return serve(invocation.config);
  } catch (const server::ConfigError& error) {
    std::cerr << "ntsd: " << error.what() << '\n';
    return kExitConfigError;
  } catch (const std::exception& error) {
    std::cerr << "ntsd: " << error.what() << '\n';
    return EXIT_FAILURE;
  }
}
