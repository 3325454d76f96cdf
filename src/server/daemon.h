// The running ntsd: every part built from the configuration, then started,
// run until SIGINT or SIGTERM, and stopped.
//
// build (the constructor) keeps "nothing half-started": it checks every
// setting, loads the certificates, reads the key file and binds every socket,
// and starts no thread; a failure there is a ConfigError (exit 2). start()
// drops privileges and starts the threads; run() waits for signals and does
// the periodic work on the calling thread; stop() stops the threads.
#pragma once

#include <csignal>
#include <memory>
#include <optional>

#include "core/random.h"
#include "server/config.h"
#include "server/privileges.h"

namespace ntsd::keys {
class KeyService;
}
namespace ntsd::xdp {
class XdpPath;
}

namespace ntsd::server {

class CensusLog;
class CertificateStore;
class KeServer;
class MetricsCollector;
class MetricsHttpServer;
class NtpServer;
class TimeSource;

class Daemon {
 public:
  explicit Daemon(const Config& config);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  void start();
  // Until SIGINT or SIGTERM; SIGHUP reloads the certificates and reopens the log
  // file and the research log.
  void run();
  void stop();

 private:
  void build_servers();
  void build_metrics();
  void drop_to_configured_user();
  void log_configuration() const;
  void reload_certificates(bool only_changed);
  void on_sighup();
  void reopen_census_log();

  Config config_;
  std::optional<PrivilegeTarget> privilege_target_;
  sigset_t signals_{};
  std::shared_ptr<CertificateStore> certificates_;  // none without NTS-KE
  core::SystemRandom key_random_;
  std::unique_ptr<keys::KeyService> key_service_;
  std::unique_ptr<TimeSource> time_source_;
  std::unique_ptr<CensusLog> census_log_;   // none without --census-log; outlives ke_
  std::unique_ptr<KeServer> ke_;            // none with --ke-listen none
  std::unique_ptr<NtpServer> ntp_;          // none with --ntp-listen none
  std::unique_ptr<xdp::XdpPath> xdp_path_;  // none without --xdp
  std::unique_ptr<MetricsCollector> metrics_;
  std::unique_ptr<MetricsHttpServer> metrics_http_;
};

// --check-config: everything start-up would check, without binding or writing.
// Prints "configuration OK" and returns 0, or throws ConfigError.
int check_config(const Config& config);

}  // namespace ntsd::server
