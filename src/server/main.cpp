// ntsd: the NTS-KE server and the NTS-protected NTP server in one process.
//
// Start-up order keeps "nothing half-started": read and check every setting,
// load the certificate, bind every socket, and only then start serving.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <iostream>

#include "core/cookie.h"
#include "core/random.h"
#include "keys/key_file.h"
#include "keys/key_service.h"
#include "server/certificate_store.h"
#include "server/config.h"
#include "server/ke_server.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/metrics_http.h"
#include "server/ntp_server.h"
#include "server/privileges.h"
#include "server/seccomp_filter.h"
#include "server/systemd_notify.h"
#include "server/time_source.h"

namespace {

using namespace ntsd;

constexpr int kExitConfigError = 2;

std::unique_ptr<server::TimeSource> make_time_source(const server::Config& config) {
  return std::make_unique<server::TimeSource>(config);
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

// One line per interval with what happened since the last (only when something
// did): what floods would otherwise write one line per packet for.
struct TrafficTotals {
  server::KeSessionCounts ke;
  std::uint64_t ntp_answered = 0, ntp_nak = 0, ntp_dropped = 0, ntp_rate_kissed = 0,
                ntp_rate_dropped = 0;
  bool operator==(const TrafficTotals&) const = default;
};

TrafficTotals traffic_totals(const server::KeServer* ke, const server::NtpServer* ntp) {
  TrafficTotals t;
  if (ke) {
    t.ke = ke->counters().sessions();
  }
  if (ntp) {
    auto c = ntp->counters();
    const auto rate_dropped = c.by_reason(core::Reason::RateLimitedDrop);
    t.ntp_answered = c.by_sent(core::Sent::Answer);
    t.ntp_nak = c.by_sent(core::Sent::Nak);
    t.ntp_rate_kissed = c.by_sent(core::Sent::RateKiss);
    t.ntp_dropped = c.by_sent(core::Sent::Nothing) - rate_dropped;
    t.ntp_rate_dropped = rate_dropped;
  }
  return t;
}

void log_traffic(const TrafficTotals& now, const TrafficTotals& before, unsigned seconds) {
  if (now == before) return;
  spdlog::info(
      "last {} s: NTS-KE {}; "
      "NTP {} answered, {} NTS NAKs, {} dropped, rate limit: {} dropped, {} RATE kisses",
      seconds, server::describe(now.ke - before.ke),
      now.ntp_answered - before.ntp_answered, now.ntp_nak - before.ntp_nak,
      now.ntp_dropped - before.ntp_dropped, now.ntp_rate_dropped - before.ntp_rate_dropped,
      now.ntp_rate_kissed - before.ntp_rate_kissed);
}

std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

// SIGHUP and file changes: swap in the certificates that load, keep the others.
void log_reloads(const std::vector<server::LoadResult>& results) {
  for (const auto& result : results) server::log_load_result(result, unix_now());
}

// The certificate in service that expires first: what the expiry gauge shows.
std::optional<std::int64_t> earliest_not_after(const server::CertificateStore* certificates) {
  std::optional<std::int64_t> earliest;
  if (certificates == nullptr) return earliest;
  for (const auto& [files, info] : certificates->in_service()) {
    if (!earliest || info.not_after < *earliest) earliest = info.not_after;
  }
  return earliest;
}

void check_certificate_expiry(const server::CertificateStore& certificates) {
  for (const auto& [files, info] : certificates.in_service()) {
    server::log_expiry(files, info, unix_now());
  }
}

// --check-config: everything start-up would check, without binding or writing.
int check_config(const server::Config& config) {
  server::validate(config);
  if (!config.ke_listen.empty()) server::CertificateStore check(server::certificate_files(config),
                                                             config.allow_expired_certificate);
  if (config.keys_file) {
    auto state = keys::read_key_file(*config.keys_file);
    if (state && state->rotation_seconds != config.key_rotation_seconds) {
      throw server::ConfigError("--key-rotation",
                                std::to_string(config.key_rotation_seconds) + " s, but " +
                                    *config.keys_file + " was made for " +
                                    std::to_string(state->rotation_seconds) + " s");
    }
  }
  std::cout << "ntsd: configuration OK\n";
  return 0;
}

int serve(const server::Config& config) {
  server::validate(config);
  server::init_logging(config.log_level, config.log_file);
  auto privilege_target = server::resolve_privilege_target(config.user, config.group);
  server::raise_descriptor_limit();

  // Signals are taken by sigwait below, never delivered to a worker thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);  // reload certificates, reopen the log file; never stop
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // The certificate first: a bad one must stop ntsd before the key file is created.
  std::shared_ptr<server::CertificateStore> certificates;
  if (!config.ke_listen.empty()) {
    certificates =
        std::make_shared<server::CertificateStore>(server::certificate_files(config),
                                                   config.allow_expired_certificate);
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
    settings.max_sessions = config.ke_max_sessions;
    settings.rate_limit = config.ke_rate_limit;
    settings.threads = config.ke_threads;
    ke = std::make_unique<server::KeServer>(certificates, std::move(settings), keyring);
  }
  std::unique_ptr<server::NtpServer> ntp;
  if (!config.ntp_listen.empty()) {
    ntp = std::make_unique<server::NtpServer>(config.ntp_listen, config.ntp_workers,
                                              time_source->published(), keyring,
                                              config.ntp_rate_limit, config.interleaved);
  }

  std::unique_ptr<server::MetricsCollector> metrics;
  std::unique_ptr<server::MetricsHttpServer> metrics_http;
  if (config.metrics_listen) {
    metrics = std::make_unique<server::MetricsCollector>(
        server::MetricsCollector::Sources{ke.get(), ntp.get(), time_source.get(), &key_service});
    metrics->set_certificate_not_after(earliest_not_after(certificates.get()));
    if (certificates) metrics->set_certificate_files_ok(certificates->files_ok());
    metrics_http = std::make_unique<server::MetricsHttpServer>(
        *config.metrics_listen, [collector = metrics.get()] { return collector->render(); });
  }

  // Every socket is bound and every key read: drop to the configured user.
  if (privilege_target) {
    if (config.keys_file) server::hand_over_key_file(*config.keys_file, *privilege_target);
    server::drop_privileges(*privilege_target);
    if (config.keys_file) server::check_key_directory_writable(*config.keys_file, *privilege_target);
    spdlog::info("running as user {} (uid {}), group {} (gid {}), without capabilities",
                 privilege_target->user, privilege_target->uid, privilege_target->group,
                 privilege_target->gid);
    for (const auto& files : server::certificate_files(config)) {
      for (const auto* path : {&files.certificate_file, &files.private_key_file}) {
        if (!config.ke_listen.empty() && access(path->c_str(), R_OK) != 0) {
          spdlog::warn("{}: user {} cannot read it, so a reload (SIGHUP or a renewal) will fail",
                       *path, privilege_target->user);
        }
      }
    }
    if (config.log_file && access(config.log_file->c_str(), W_OK) != 0) {
      spdlog::warn("log file {}: user {} cannot write it, so reopening it on SIGHUP will fail "
                   "unless the new file is made for that user (logrotate: create 0640 {} {})",
                   *config.log_file, privilege_target->user, privilege_target->user,
                   privilege_target->group);
    }
  }

  if (certificates) {
    for (const auto& [files, info] : certificates->in_service()) {
      server::log_load_result({files, info, ""}, unix_now());
    }
    if (config.cert_poll_seconds != 0) {
      spdlog::info("TLS certificate files checked for changes every {} s", config.cert_poll_seconds);
    }
  }
  if (ke) {
    for (const auto& address : ke->local_addresses()) {
      spdlog::info("NTS-KE listening on {} (TCP, {} thread{})", address.to_string(),
                   config.ke_threads, config.ke_threads == 1 ? "" : "s");
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
  if (metrics_http) {
    spdlog::info("metrics listening on {} (HTTP, GET /metrics)",
                 metrics_http->local_address().to_string());
  }
  spdlog::info("time source {}; interleaved mode {}", time_source->name(),
               config.interleaved ? "on" : "off");
  spdlog::info("cookie keys: {}", key_service.describe());

  // Before any thread starts: they all inherit the filter.
  if (config.seccomp) {
    server::install_seccomp_filter();
    spdlog::info("seccomp allow-list installed: any other system call stops ntsd");
  }
  time_source->start();  // publishes the first clock state before any worker runs
  if (ke) ke->start();
  if (ntp) ntp->start();
  key_service.start();
  if (metrics_http) metrics_http->start();
  spdlog::info("ready");
  if (!server::notify_systemd("READY=1")) spdlog::warn("could not notify systemd of readiness");

  int signal = 0;
  TrafficTotals reported = traffic_totals(ke.get(), ntp.get());
  // Periodic work on this thread, each on its own schedule: the traffic summary,
  // the certificate file check and the daily expiry check.
  using Clock = std::chrono::steady_clock;
  using std::chrono::seconds;
  constexpr auto kNever = Clock::time_point::max();
  constexpr seconds kExpiryCheckInterval{86400};
  auto start = Clock::now();
  auto next_summary = config.log_summary_seconds ? start + seconds(config.log_summary_seconds) : kNever;
  auto next_poll = certificates && config.cert_poll_seconds ? start + seconds(config.cert_poll_seconds) : kNever;
  auto next_expiry_check = certificates ? start + kExpiryCheckInterval : kNever;
  for (;;) {
    auto due = std::min({next_summary, next_poll, next_expiry_check});
    if (due == kNever) {
      sigwait(&signals, &signal);
    } else {
      auto wait = std::max(Clock::duration::zero(), due - Clock::now());
      auto wait_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
      timespec interval{static_cast<time_t>(wait_ns / 1000000000), static_cast<long>(wait_ns % 1000000000)};
      signal = sigtimedwait(&signals, nullptr, &interval);
    }
    if (signal == SIGHUP) {
      // The log file first, so that what follows goes to the new one.
      auto log_error = server::reopen_log_file();
      spdlog::info("received SIGHUP: {}",
                   certificates ? "reloading the TLS certificates" : "no certificates to reload");
      if (log_error) {
        spdlog::error("log file not reopened, still writing the old one: {}", *log_error);
      } else if (config.log_file) {
        spdlog::info("log file {} reopened", *config.log_file);
      }
      if (certificates) log_reloads(certificates->reload_all());
      if (metrics) metrics->set_certificate_not_after(earliest_not_after(certificates.get()));
      if (metrics && certificates) metrics->set_certificate_files_ok(certificates->files_ok());
      continue;
    }
    if (signal > 0) break;
    auto now = Clock::now();
    if (now >= next_summary) {
      auto totals = traffic_totals(ke.get(), ntp.get());
      log_traffic(totals, reported, config.log_summary_seconds);
      reported = totals;
      next_summary = now + seconds(config.log_summary_seconds);
    }
    if (now >= next_poll) {
      log_reloads(certificates->reload_changed());
      if (metrics) metrics->set_certificate_not_after(earliest_not_after(certificates.get()));
      if (metrics) metrics->set_certificate_files_ok(certificates->files_ok());
      next_poll = now + seconds(config.cert_poll_seconds);
    }
    if (now >= next_expiry_check) {
      check_certificate_expiry(*certificates);
      next_expiry_check = now + kExpiryCheckInterval;
    }
  }
  spdlog::info("received {}, stopping", signal == SIGINT ? "SIGINT" : "SIGTERM");
  server::notify_systemd("STOPPING=1");
  if (metrics_http) metrics_http->stop();
  key_service.stop();
  if (ke) ke->stop();
  if (ntp) ntp->stop();
  if (ke) {
    spdlog::info("NTS-KE sessions: {}", server::describe(ke->counters().sessions()));
  }
  if (ntp) {
    auto c = ntp->counters();
    std::uint64_t nts_answered = c.at(core::RequestKind::Nts, core::Reason::Answered);
    std::uint64_t plain_answered = c.at(core::RequestKind::Plain, core::Reason::Answered);
    spdlog::info("NTP requests answered: {} NTS, {} plain", nts_answered, plain_answered);
    auto gap = ntp->transmit_gap();
    spdlog::info("NTP interleaved answers: {}; kernel transmit timestamps: {} matched, {} unmatched; "
                 "transmit gap (kernel software TX - written transmit timestamp): median {:.1f} us, "
                 "p99 {:.1f} us over {} responses",
                 c.interleaved, c.tx_timestamps, c.tx_timestamps_unmatched, gap.median_seconds * 1e6,
                 gap.p99_seconds * 1e6, gap.count);
    if (auto unsynchronised = c.by_reason(core::Reason::Unsynchronised); unsynchronised != 0) {
      spdlog::info("NTP requests dropped while unsynchronised: {}", unsynchronised);
    }
  }
  time_source->stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    auto invocation = server::parse_invocation(argc, argv);
    if (invocation.exit_now) return invocation.exit_status;
    if (invocation.check_only) return check_config(invocation.config);
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
