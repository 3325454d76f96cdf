// ntsd: the NTS-KE server and the NTS-protected NTP server in one process.
//
// Start-up order keeps "nothing half-started": read and check every setting,
// load the certificate, bind every socket, and only then start serving.
#include <csignal>
#include <cstdlib>
#include <iostream>

#include "core/cookie.h"
#include "core/random.h"
#include "keys/key_service.h"
#include "server/config.h"
#include "server/ke_server.h"
#include "server/log.h"
#include "server/ntp_server.h"
#include "server/time_source.h"
#include "server/tls_server_context.h"

namespace {

using namespace ntsd;

constexpr int kExitConfigError = 2;

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
  return policy;
}

std::string describe(const server::AdvertisedNtpServer& server) {
  std::string text = server.host ? *server.host : "(the NTS-KE host)";
  text += server.port ? " port " + std::to_string(*server.port) : " port 123";
  return text;
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

  // The certificate first: a bad one must stop ntsd before the key file is created.
  server::SslCtxPtr tls;
  if (!config.ke_listen.empty()) {
    tls = server::make_tls_server_context(config.certificate_file, config.private_key_file);
  }
  // Key file problems are configuration errors: nothing has started yet.
  keys::KeySettings key_settings;
  key_settings.file = config.keys_file;
  key_settings.rotation_seconds = config.key_rotation_seconds;
  key_settings.kept = server::keys_kept_or_default(config);
  core::SystemRandom key_random;
  keys::KeyService key_service(key_settings, keys::unix_now(), key_random);
  const keys::PublishedKeyring& keyring = key_service.published();
  auto time_source = make_time_source(config);

  std::unique_ptr<server::KeServer> ke;
  if (!config.ke_listen.empty()) {
    server::KeServerSettings settings;
    settings.listen = config.ke_listen;
    settings.policy = make_policy(config);
    settings.ntp_servers = server::advertised_ntp_servers(config);
    settings.server_choice = config.server_choice;
    settings.timeout = config.ke_timeout;
    ke = std::make_unique<server::KeServer>(std::move(tls), std::move(settings), keyring);
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
    auto servers = server::advertised_ntp_servers(config);
    for (const auto& advertised : servers) {
      spdlog::info("NTS-KE advertises NTPv4 server {}", describe(advertised));
    }
    if (servers.size() > 1) {
      spdlog::info("NTS-KE picks the NTPv4 server {}",
                   config.server_choice == server::ServerChoice::Hash ? "by client address"
                                                                      : "round robin");
    }
  } else {
    spdlog::info("NTS-KE disabled (--ke-listen none): serving NTP only");
  }
  if (ntp) {
    for (const auto& address : ntp->local_addresses()) {
      spdlog::info("NTP listening on {} (UDP, {} worker{})", address.to_string(),
                   config.ntp_workers, config.ntp_workers == 1 ? "" : "s");
    }
  } else {
    spdlog::info("NTP disabled (--ntp-listen none): serving NTS-KE only");
  }
  spdlog::info("time source {}: stratum {}", time_source->name(), config.stratum);
  spdlog::info("cookie keys: {}", key_service.describe());

  if (ke) ke->start();
  if (ntp) ntp->start();
  key_service.start();
  spdlog::info("ready");

  int signal = 0;
  sigwait(&signals, &signal);
  spdlog::info("received {}, stopping", signal == SIGINT ? "SIGINT" : "SIGTERM");
  key_service.stop();
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
  } catch (const keys::KeyFileError& error) {
    std::cerr << "ntsd: " << error.what() << '\n';
    return kExitConfigError;
  } catch (const std::exception& error) {
    std::cerr << "ntsd: " << error.what() << '\n';
    return EXIT_FAILURE;
  }
}
