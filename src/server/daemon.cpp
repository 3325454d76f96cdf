#include "server/daemon.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <functional>
#include <iostream>

#include "keys/key_file.h"
#include "keys/key_service.h"
#include "server/certificate_store.h"
#include "server/ke_server.h"
#include "server/key_file_directory.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/metrics_http.h"
#include "server/ntp_exchange.h"
#include "server/ntp_server.h"
#include "server/seccomp_filter.h"
#include "server/start_checks.h"
#include "server/systemd_notify.h"
#include "server/time_source.h"
#include "server/traffic_summary.h"
#include "xdp/exchange_handler.h"
#include "xdp/xdp_path.h"

namespace ntsd::server {

namespace {

std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

std::string describe(const AdvertisedNtpServer& server) {
  std::string text = server.host ? *server.host : "(the NTS-KE host)";
  text += server.port ? " port " + std::to_string(*server.port) : " port 123";
  return text;
}

keys::KeySettings key_settings(const Config& config) {
  keys::KeySettings settings;
  settings.file = config.keys_file;
  settings.rotation_seconds = config.key_rotation_seconds;
  settings.kept = keys_kept_or_default(config);
  return settings;
}

KeServerSettings ke_server_settings(const Config& config) {
  KeServerSettings settings;
  settings.listen = config.ke_listen;
  settings.policy.aead_preference = config.aead_preference;
  settings.ntp_servers = advertised_ntp_servers(config);
  settings.server_choice = config.server_choice;
  settings.timeout = config.ke_timeout;
  settings.max_sessions = config.ke_max_sessions;
  settings.rate_limit = config.ke_rate_limit;
  settings.threads = config.ke_threads;
  return settings;
}

// The certificate in service that expires first: what the expiry gauge shows.
std::optional<std::int64_t> earliest_not_after(const CertificateStore* certificates) {
  std::optional<std::int64_t> earliest;
  if (certificates == nullptr) return earliest;
  for (const auto& [files, info] : certificates->in_service()) {
    if (!earliest || info.not_after < *earliest) earliest = info.not_after;
  }
  return earliest;
}

std::function<XdpMetrics()> xdp_metrics_source(const xdp::XdpPath* path) {
  if (path == nullptr) return {};
  return [path] { return path->metrics(); };
}

// Signals are taken by sigwait in run(), never delivered to a worker thread:
// blocked before any thread starts, so that every thread inherits the mask.
sigset_t block_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);  // reload certificates, reopen the log file; never stop
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

// Waits for one of `signals` until `due`; 0 when the time came first.
int wait_for_signal(const sigset_t& signals, std::chrono::steady_clock::time_point due) {
  int signal = 0;
  if (due == std::chrono::steady_clock::time_point::max()) {
    sigwait(&signals, &signal);
    return signal;
  }
  auto wait =
      std::max(std::chrono::steady_clock::duration::zero(), due - std::chrono::steady_clock::now());
  auto wait_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
  timespec interval{static_cast<time_t>(wait_ns / 1000000000),
                    static_cast<long>(wait_ns % 1000000000)};
  return std::max(sigtimedwait(&signals, nullptr, &interval), 0);
}

}  // namespace

Daemon::Daemon(const Config& config) : config_(config) {
  validate(config_);
  init_logging(config_.log_level, config_.log_file);
  privilege_target_ = resolve_privilege_target(config_.user, config_.group);
  raise_descriptor_limit();
  signals_ = block_signals();
  // The certificate first: a bad one must stop ntsd before the key file is created.
  if (!config_.ke_listen.empty()) {
    certificates_ = std::make_shared<CertificateStore>(certificate_files(config_),
                                                       config_.allow_expired_certificate);
  }
  // Key file problems are configuration errors: nothing has started yet.
  key_service_ =
      std::make_unique<keys::KeyService>(key_settings(config_), keys::unix_now(), key_random_);
  time_source_ = std::make_unique<TimeSource>(config_);
  build_servers();
  build_metrics();
}

Daemon::~Daemon() = default;

void Daemon::build_servers() {
  const keys::PublishedKeyring& keyring = key_service_->published();
  if (!config_.ke_listen.empty()) {
    ke_ = std::make_unique<KeServer>(certificates_, ke_server_settings(config_), keyring);
  }
  if (!config_.ntp_listen.empty()) {
    ntp_ = std::make_unique<NtpServer>(config_.ntp_listen, config_.ntp_workers,
                                       time_source_->published(), keyring, config_.ntp_rate_limit,
                                       config_.interleaved, config_.ntp_tx_compensation);
  }
  // The AF_XDP path (docs/xdp.md) takes NTP to the sockets' addresses on --xdp interfaces.
  if (config_.xdp.enabled()) {
    const NtpExchangeSettings exchange{config_.ntp_rate_limit, config_.interleaved,
                                       config_.ntp_tx_compensation};
    xdp_path_ = std::make_unique<xdp::XdpPath>(
        config_.xdp, ntp_->local_addresses(), config_.ntp_rate_limit, [this, exchange]() {
          return std::make_unique<xdp::ExchangeHandler>(time_source_->published(),
                                                        key_service_->published(), exchange);
        });
  }
}

void Daemon::build_metrics() {
  if (!config_.metrics_listen) return;
  metrics_ = std::make_unique<MetricsCollector>(
      MetricsCollector::Sources{ke_.get(), ntp_.get(), time_source_.get(), key_service_.get(),
                                xdp_metrics_source(xdp_path_.get())});
  metrics_->set_certificate_not_after(earliest_not_after(certificates_.get()));
  if (certificates_) metrics_->set_certificate_files_ok(certificates_->files_ok());
  metrics_http_ = std::make_unique<MetricsHttpServer>(
      *config_.metrics_listen, [collector = metrics_.get()] { return collector->render(); });
}

void Daemon::start() {
  // Every socket is bound and every key read: drop to the configured user.
  if (privilege_target_) drop_to_configured_user();
  log_configuration();
  // Before any thread starts: they all inherit the filter.
  if (config_.seccomp) {
    install_seccomp_filter();
    spdlog::info("seccomp allow-list installed: any other system call stops ntsd");
  }
  time_source_->start();  // publishes the first clock state before any worker runs
  if (ke_) ke_->start();
  if (ntp_) ntp_->start();
  if (xdp_path_) xdp_path_->start();
  key_service_->start();
  if (metrics_http_) metrics_http_->start();
  spdlog::info("ready");
  if (!notify_systemd("READY=1")) spdlog::warn("could not notify systemd of readiness");
}

void Daemon::drop_to_configured_user() {
  const auto& target = *privilege_target_;
  if (config_.keys_file) hand_over_key_file(*config_.keys_file, target);
  drop_privileges(target);
  if (config_.keys_file) check_key_directory_writable(*config_.keys_file, target);
  spdlog::info("running as user {} (uid {}), group {} (gid {}), without capabilities", target.user,
               target.uid, target.group, target.gid);
  for (const auto& files : certificate_files(config_)) {
    for (const auto* path : {&files.certificate_file, &files.private_key_file}) {
      if (!config_.ke_listen.empty() && access(path->c_str(), R_OK) != 0) {
        spdlog::warn("{}: user {} cannot read it, so a reload (SIGHUP or a renewal) will fail",
                     *path, target.user);
      }
    }
  }
  if (config_.log_file && access(config_.log_file->c_str(), W_OK) != 0) {
    spdlog::warn(
        "log file {}: user {} cannot write it, so reopening it on SIGHUP will fail "
        "unless the new file is made for that user (logrotate: create 0640 {} {})",
        *config_.log_file, target.user, target.user, target.group);
  }
}

void Daemon::log_configuration() const {
  if (certificates_) {
    for (const auto& [files, info] : certificates_->in_service()) {
      log_load_result({files, info, ""}, unix_now());
    }
    if (config_.cert_poll_seconds != 0) {
      spdlog::info("TLS certificate files checked for changes every {} s",
                   config_.cert_poll_seconds);
    }
  }
  if (ke_) {
    for (const auto& address : ke_->local_addresses()) {
      spdlog::info("NTS-KE listening on {} (TCP, {} thread{})", address.to_string(),
                   config_.ke_threads, config_.ke_threads == 1 ? "" : "s");
    }
    auto servers = advertised_ntp_servers(config_);
    for (const auto& advertised : servers) {
      spdlog::info("NTS-KE advertises NTPv4 server {}", describe(advertised));
    }
    if (servers.size() > 1) {
      spdlog::info("NTS-KE picks the NTPv4 server {}", config_.server_choice == ServerChoice::Hash
                                                           ? "by client address"
                                                           : "round robin");
    }
  } else {
    spdlog::info("NTS-KE disabled (--ke-listen none): serving NTP only");
  }
  if (ntp_) {
    for (const auto& address : ntp_->local_addresses()) {
      spdlog::info("NTP listening on {} (UDP, {} worker{})", address.to_string(),
                   config_.ntp_workers, config_.ntp_workers == 1 ? "" : "s");
    }
  } else {
    spdlog::info("NTP disabled (--ntp-listen none): serving NTS-KE only");
  }
  if (metrics_http_) {
    spdlog::info("metrics listening on {} (HTTP, GET /metrics)",
                 metrics_http_->local_address().to_string());
  }
  if (xdp_path_) xdp_path_->log_started();
  spdlog::info("time source {}; interleaved mode {}", time_source_->name(),
               config_.interleaved ? "on" : "off");
  spdlog::info("cookie keys: {}", key_service_->describe());
}

// SIGHUP and file changes: swap in the certificates that load, keep the others.
void Daemon::reload_certificates(bool only_changed) {
  auto results = only_changed ? certificates_->reload_changed() : certificates_->reload_all();
  for (const auto& result : results) log_load_result(result, unix_now());
  if (metrics_) metrics_->set_certificate_not_after(earliest_not_after(certificates_.get()));
  if (metrics_) metrics_->set_certificate_files_ok(certificates_->files_ok());
}

void Daemon::on_sighup() {
  // The log file first, so that what follows goes to the new one.
  auto log_error = reopen_log_file();
  spdlog::info("received SIGHUP: {}",
               certificates_ ? "reloading the TLS certificates" : "no certificates to reload");
  if (log_error) {
    spdlog::error("log file not reopened, still writing the old one: {}", *log_error);
  } else if (config_.log_file) {
    spdlog::info("log file {} reopened", *config_.log_file);
  }
  if (certificates_) reload_certificates(false);
}

void Daemon::run() {
  // Periodic work on this thread, each on its own schedule: the traffic summary,
  // the certificate file check and the daily expiry check.
  using Clock = std::chrono::steady_clock;
  using std::chrono::seconds;
  constexpr auto kNever = Clock::time_point::max();
  constexpr seconds kExpiryCheckInterval{86400};
  const seconds summary_every(config_.log_summary_seconds);
  const seconds poll_every(config_.cert_poll_seconds);
  const auto start = Clock::now();
  auto next_summary = summary_every.count() != 0 ? start + summary_every : kNever;
  auto next_poll = certificates_ && poll_every.count() != 0 ? start + poll_every : kNever;
  auto next_expiry_check = certificates_ ? start + kExpiryCheckInterval : kNever;
  TrafficTotals reported = traffic_totals(ke_.get(), ntp_.get(), xdp_path_.get());
  for (;;) {
    int signal = wait_for_signal(signals_, std::min({next_summary, next_poll, next_expiry_check}));
    if (signal == SIGHUP) {
      on_sighup();
      continue;
    }
    if (signal > 0) {
      spdlog::info("received {}, stopping", signal == SIGINT ? "SIGINT" : "SIGTERM");
      return;
    }
    auto now = Clock::now();
    if (now >= next_summary) {
      auto totals = traffic_totals(ke_.get(), ntp_.get(), xdp_path_.get());
      log_traffic(totals, reported, config_.log_summary_seconds);
      reported = totals;
      next_summary = now + summary_every;
    }
    if (now >= next_poll) {
      reload_certificates(true);
      next_poll = now + poll_every;
    }
    if (now >= next_expiry_check) {
      for (const auto& [files, info] : certificates_->in_service())
        log_expiry(files, info, unix_now());
      next_expiry_check = now + kExpiryCheckInterval;
    }
  }
}

void Daemon::stop() {
  notify_systemd("STOPPING=1");
  if (metrics_http_) metrics_http_->stop();
  key_service_->stop();
  if (ke_) ke_->stop();
  if (xdp_path_) xdp_path_->stop();
  if (ntp_) ntp_->stop();
  log_final_counters(ke_.get(), ntp_.get(), xdp_path_.get());
  time_source_->stop();
}

namespace {

// What the user ntsd runs as must be able to open: the certificates and keys,
// which it reloads as that user, and the cookie key file's directory.
std::vector<FileNeed> run_as_needs(const Config& config) {
  std::vector<FileNeed> needs;
  if (!config.ke_listen.empty()) {
    for (const auto& files : certificate_files(config)) {
      needs.push_back({files.certificate_setting, files.certificate_file, FileNeed::Access::Read});
      needs.push_back({files.key_setting, files.private_key_file, FileNeed::Access::Read});
    }
  }
  if (config.keys_file) {
    needs.push_back(
        {"--keys", key_file_directory(*config.keys_file), FileNeed::Access::WriteDirectory});
  }
  return needs;
}

}  // namespace

int check_config(const Config& config) {
  validate(config);
  if (config.keys_file) check_key_file_directory(*config.keys_file);
  // Before the certificates load: a file this process could read but the run-as
  // user cannot (root checking for --user ntsd) is an error too.
  check_files_as_run_as_user(run_as_needs(config),
                             resolve_privilege_target(config.user, config.group));
  if (!config.ke_listen.empty()) {
    CertificateStore check(certificate_files(config), config.allow_expired_certificate);
  }
  check_time_source_calls(config.time_source);
  if (config.keys_file) {
    auto state = keys::read_key_file(*config.keys_file);
    if (state && state->rotation_seconds != config.key_rotation_seconds) {
      throw ConfigError("--key-rotation", std::to_string(config.key_rotation_seconds) + " s, but " +
                                              *config.keys_file + " was made for " +
                                              std::to_string(state->rotation_seconds) + " s");
    }
  }
  std::cout << "ntsd: configuration OK\n";
  return 0;
}

}  // namespace ntsd::server
