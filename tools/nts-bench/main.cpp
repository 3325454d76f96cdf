// nts-bench: load generator for NTS and NTP servers (loopback benchmarks).
//
//   nts-bench ntp HOST:PORT [--nts --ke HOST:KEPORT [--ca FILE]] --duration S
//             (--rate R | --max) [--threads N] [--server-pid PID] [--json]
//   nts-bench ke HOST:PORT --duration S --concurrency C [--ca FILE] [--server-pid PID]
//
// Prints offered and answered rate, loss, latency percentiles and, with
// --server-pid, the server's CPU seconds per answered request (utime + stime of the
// process and its descendants, from /proc, over the run). Exit 0 when the run
// completed (whatever the loss), 1 on a setup failure, 2 on a usage error.

#include <fmt/core.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "client/ke_client.h"
#include "client/net.h"
#include "common/guarded_main.h"
#include "ke_load.h"
#include "ntp_load.h"
#include "proc_stats.h"

namespace {

using namespace ntsd;

struct Percentiles {
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;  // microseconds
};

Percentiles percentiles(std::vector<std::uint32_t>& ns) {
  Percentiles p;
  if (ns.empty()) return p;
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) {
    auto rank = static_cast<std::size_t>(q * static_cast<double>(ns.size()));
    return static_cast<double>(ns[std::min(rank, ns.size() - 1)]) / 1000.0;
  };
  p.p50 = at(0.50);
  p.p90 = at(0.90);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  p.max = static_cast<double>(ns.back()) / 1000.0;
  return p;
}

// What the run cost: the server (when a pid was given), this generator and the machine.
class CostMeter {
 public:
  explicit CostMeter(std::optional<pid_t> pid) : pid_(pid) {}
  void start() {
    if (pid_) {
      server_start_ = bench::process_tree_cpu_seconds(*pid_);
      sched_start_ = bench::process_tree_schedstat(*pid_);
    }
    self_start_ = bench::self_cpu_seconds();
    machine_start_ = bench::machine_cpu();
    drops_start_ = bench::udp_receive_buffer_drops();
    wall_start_ = std::chrono::steady_clock::now();
  }
  void stop() {
    wall_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start_).count();
    if (pid_ && server_start_) {
      if (auto end = bench::process_tree_cpu_seconds(*pid_)) server_cpu_ = *end - *server_start_;
      memory_ = bench::process_memory(*pid_);
      auto sched = bench::process_tree_schedstat(*pid_);
      if (sched && sched_start_) {
        sched_ = bench::SchedStat{sched->run_s - sched_start_->run_s,
                                  sched->wait_s - sched_start_->wait_s};
      }
    }
    self_cpu_ = bench::self_cpu_seconds() - self_start_;
    drops_ = bench::udp_receive_buffer_drops() - drops_start_;
    auto m = bench::machine_cpu();
    auto total = static_cast<double>(m.total - machine_start_.total);
    if (total > 0) {
      auto cores = static_cast<double>(sysconf(_SC_NPROCESSORS_ONLN));
      busy_cores_ = (total - static_cast<double>(m.idle - machine_start_.idle)) / total * cores;
      steal_cores_ = static_cast<double>(m.steal - machine_start_.steal) / total * cores;
    }
  }

  // Appends the cost fields; per = what the server CPU is divided by.
  void print(bool json, std::uint64_t per, const char* per_name, std::string& out) const {
    auto per_us = [&](double seconds) {
      return per > 0 ? seconds * 1e6 / static_cast<double>(per) : 0.0;
    };
    if (json) {
      out += fmt::format(
          R"(, "wall_s": {:.3f}, "client_cpu_s": {:.3f}, "client_cpu_us_per_{}": {:.3f})", wall_,
          self_cpu_, per_name, per_us(self_cpu_));
      out += fmt::format(
          ", \"machine_busy_cores\": {:.3f}, \"machine_steal_cores\": {:.3f}, "
          "\"udp_rcvbuf_drops\": {}",
          busy_cores_, steal_cores_, drops_);
      if (server_cpu_) {
        out += fmt::format(
            ", \"server_cpu_s\": {:.3f}, \"server_cores\": {:.3f}, \"server_cpu_us_per_{}\": "
            "{:.3f}",
            *server_cpu_, *server_cpu_ / wall_, per_name, per_us(*server_cpu_));
      }
      if (sched_) {
        out += fmt::format(R"(, "server_sched_run_s": {:.3f}, "server_runq_wait_s": {:.3f})",
                           sched_->run_s, sched_->wait_s);
      }
      if (memory_) {
        out += fmt::format(R"(, "server_rss_kib": {}, "server_hwm_kib": {})", memory_->rss_kib,
                           memory_->hwm_kib);
      }
      return;
    }
    if (server_cpu_) {
      out += fmt::format("server CPU   {:.2f} s over {:.2f} s ({:.2f} cores): {:.2f} us per {}\n",
                         *server_cpu_, wall_, *server_cpu_ / wall_, per_us(*server_cpu_), per_name);
    }
    if (sched_) {
      out += fmt::format("server sched {:.2f} s on CPU, {:.2f} s runnable but waiting for a CPU\n",
                         sched_->run_s, sched_->wait_s);
    }
    if (memory_) {
      out +=
          fmt::format("server RSS   {} KiB now, {} KiB peak\n", memory_->rss_kib, memory_->hwm_kib);
    }
    out += fmt::format("generator    {:.2f} s CPU ({:.2f} cores): {:.2f} us per {}\n", self_cpu_,
                       self_cpu_ / wall_, per_us(self_cpu_), per_name);
    out += fmt::format(
        "machine      {:.2f} of {} cores busy, {:.2f} stolen; {} UDP datagrams dropped on full "
        "receive buffers\n",
        busy_cores_, sysconf(_SC_NPROCESSORS_ONLN), steal_cores_, drops_);
  }

 private:
  std::optional<pid_t> pid_;
  std::optional<double> server_start_;
  std::optional<double> server_cpu_;
  std::optional<bench::MemoryStatus> memory_;
  std::optional<bench::SchedStat> sched_start_;
  std::optional<bench::SchedStat> sched_;
  std::uint64_t drops_start_ = 0, drops_ = 0;
  double self_start_ = 0, self_cpu_ = 0, wall_ = 0, busy_cores_ = 0, steal_cores_ = 0;
  bench::MachineCpu machine_start_;
  std::chrono::steady_clock::time_point wall_start_;
};

std::string latency_text(const Percentiles& p) {
  return fmt::format(
      "latency      p50 {:.1f} us, p90 {:.1f}, p99 {:.1f}, p99.9 {:.1f}, max {:.1f}\n", p.p50,
      p.p90, p.p99, p.p999, p.max);
}
std::string latency_json(const Percentiles& p) {
  return fmt::format(
      ", \"p50_us\": {:.2f}, \"p90_us\": {:.2f}, \"p99_us\": {:.2f}, \"p999_us\": {:.2f}, "
      "\"max_us\": {:.2f}",
      p.p50, p.p90, p.p99, p.p999, p.max);
}

struct Target {
  std::string host;
  std::uint16_t port;
};

Target parse_target(const std::string& text, std::uint16_t default_port) {
  auto hp = parse_host_port(text);
  if (!hp) throw CLI::ValidationError("HOST:PORT", "malformed: " + text);
  return {hp->host, hp->port.value_or(default_port)};
}

// Every command-line setting; the ntp and ke subcommands share the first group.
struct Args {
  std::string target;
  double duration = 5.0;
  std::optional<int> server_pid;
  std::optional<std::string> ca_file;
  bool json = false;

  bool nts = false, max = false, verify = false;
  std::string ke_target;
  double rate = 0;
  unsigned placeholders = 0;
  int timeout_ms = 200;
  // 15 by default, so that figures stay comparable with chrony 4.3 (which has only 15).
  std::string aead_list = "15";
  // ntp: the load's shape (count, window, threads, sockets, sources, stride, spin),
  // set by the options directly; run_ntp_bench adds the rest.
  bench::NtpLoadOptions load;

  unsigned concurrency = 1;
};

// What both loads report: whose CPU the work is charged to, and in which form.
void add_report_options(CLI::App* command, Args& a, const std::string& work) {
  command->add_option("--server-pid", a.server_pid,
                      "charge this process's CPU (and its children's) to the " + work);
  command->add_flag("--json", a.json, "one JSON object on stdout");
}

CLI::App* add_ntp_command(CLI::App& app, Args& a) {
  auto* ntp = app.add_subcommand("ntp", "NTP requests (plain, or NTS with --nts)");
  ntp->add_option("target", a.target, "NTP server HOST:PORT")->required();
  ntp->add_flag("--nts", a.nts, "NTS-protected requests (keys and cookies from one NTS-KE)");
  ntp->add_option("--ke", a.ke_target, "NTS-KE server HOST:PORT (with --nts)");
  ntp->add_option("--aead", a.aead_list, "AEAD ids to offer, preferred first (default 15; 30,15)");
  ntp->add_option("--ca", a.ca_file, "trust only this PEM certificate file for NTS-KE");
  ntp->add_option("--duration", a.duration, "seconds of load")->check(CLI::Range(0.1, 3600.0));
  ntp->add_option("--count", a.load.count,
                  "stop after sending this many requests (--duration still bounds the run)");
  auto* rate_opt = ntp->add_option("--rate", a.rate, "requests per second (open loop)")
                       ->check(CLI::Range(1.0, 1e8));
  auto* max_opt =
      ntp->add_flag("--max", a.max, "closed loop: keep --window requests in flight per thread");
  rate_opt->excludes(max_opt);
  ntp->add_option("--window", a.load.window, "requests in flight per thread with --max")
      ->check(CLI::Range(1, 1024));
  ntp->add_option("--threads", a.load.threads, "generator threads")->check(CLI::Range(1, 64));
  ntp->add_option("--sockets", a.load.sockets_per_thread, "UDP sockets (source ports) per thread")
      ->check(CLI::Range(1, 64));
  ntp->add_option("--sources", a.load.sources,
                  "distinct loopback source addresses 127.0.0.1 and up (0: one)")
      ->check(CLI::Range(0, 16000000));
  ntp->add_option(
         "--source-stride", a.load.source_stride,
         "source address k is 127.0.0.1 + k * stride (odd; > 256 spreads over /24 prefixes)")
      ->check(CLI::Range(1, 16777213));
  ntp->add_option("--placeholders", a.placeholders, "cookie placeholders per NTS request")
      ->check(CLI::Range(0, 7));
  ntp->add_flag("--spin", a.load.spin,
                "never sleep: precise pacing, costs the generator a whole CPU");
  ntp->add_flag("--verify", a.verify,
                "check each NTS response's authenticator (costs generator CPU)");
  ntp->add_option("--timeout-ms", a.timeout_ms, "an answer later than this counts as lost")
      ->check(CLI::Range(1, 10000));
  add_report_options(ntp, a, "answers");
  return ntp;
}

CLI::App* add_ke_command(CLI::App& app, Args& a) {
  auto* ke = app.add_subcommand("ke", "NTS-KE sessions");
  ke->add_option("target", a.target, "NTS-KE server HOST:PORT")->required();
  ke->add_option("--ca", a.ca_file, "trust only this PEM certificate file");
  ke->add_option("--duration", a.duration, "seconds of load")->check(CLI::Range(0.1, 3600.0));
  ke->add_option("--concurrency", a.concurrency, "sessions in parallel (one thread each)")
      ->check(CLI::Range(1, 1024));
  add_report_options(ke, a, "sessions");
  return ke;
}

int run_ke_bench(const Args& a, std::optional<pid_t> pid) {
  auto hp = parse_target(a.target, client::kDefaultKePort);
  bench::KeLoadOptions o;
  o.host = hp.host;
  o.port = hp.port;
  o.ca_file = a.ca_file;
  o.duration = std::chrono::duration<double>(a.duration);
  o.concurrency = a.concurrency;
  CostMeter cost(pid);
  cost.start();
  auto r = bench::run_ke_load(o);
  cost.stop();
  auto p = percentiles(r.latency_ns);
  std::string out;
  if (a.json) {
    out = fmt::format(R"({{"mode": "ke", "concurrency": {}, "sessions": {}, "failed": {}, "rate": )"
                      "{:.1f}",
                      a.concurrency, r.sessions, r.failed,
                      static_cast<double>(r.sessions) / r.seconds);
    out += latency_json(p);
    cost.print(true, r.sessions, "session", out);
    out += "}\n";
  } else {
    out = fmt::format(
        "NTS-KE       {} sessions in {:.2f} s ({:.1f}/s), {} failed, concurrency {}\n", r.sessions,
        r.seconds, static_cast<double>(r.sessions) / r.seconds, r.failed, a.concurrency);
    for (auto& [error, times] : r.errors)
      out += fmt::format("  failure    {} x {}\n", times, error);
    out += latency_text(p);
    cost.print(false, r.sessions, "session", out);
  }
  fmt::print("{}", out);
  return 0;
}

// One NTS-KE session whose keys and cookies every NTS request then uses; an exit
// status when it cannot be had.
std::optional<int> add_nts_session(const Args& a, std::uint16_t ntp_port,
                                   bench::NtpLoadOptions& o) {
  auto khp = parse_target(a.ke_target, client::kDefaultKePort);
  client::KeClientOptions kopt;
  const auto aeads = core::parse_aead_list(a.aead_list);
  if (!aeads) {
    fmt::print(stderr, "nts-bench: invalid --aead '{}'\n", a.aead_list);
    return 2;
  }
  kopt.aeads = *aeads;
  kopt.host = khp.host;
  kopt.port = khp.port;
  kopt.ca_file = a.ca_file;
  auto session = client::run_ke(kopt);
  if (!session.ok || !session.session.keys || session.session.cookies.empty()) {
    fmt::print(stderr, "nts-bench: NTS-KE with {} failed: {}\n", a.ke_target, session.error);
    return 1;
  }
  if (session.session.ntp_port != ntp_port) {
    fmt::print(stderr, "nts-bench: note: NTS-KE names NTP port {}, sending to {}\n",
               session.session.ntp_port, ntp_port);
  }
  o.keys = session.session.keys;
  o.cookies = session.session.cookies;
  o.placeholders = a.placeholders;
  o.verify = a.verify;
  return std::nullopt;
}

std::string ntp_report(const Args& a, bench::NtpLoadResult& r, CostMeter& cost) {
  auto p = percentiles(r.latency_ns);
  double offered = static_cast<double>(r.sent) / r.seconds;
  double answered = static_cast<double>(r.answered) / r.seconds;
  double loss = r.sent > 0 ? 100.0 * static_cast<double>(r.sent - std::min(r.sent, r.answered)) /
                                 static_cast<double>(r.sent)
                           : 0.0;
  const char* kind = a.nts ? "nts" : "plain";
  std::string out;
  if (a.json) {
    out = fmt::format(
        "{{\"mode\": \"ntp\", \"kind\": \"{}\", \"load\": \"{}\", \"threads\": {}, "
        "\"request_bytes\": {}, "
        "\"verify\": {}, \"sources\": {}, \"sent\": {}, \"answered\": {}, \"naks\": {}, "
        "\"invalid\": {}, "
        "\"unmatched\": {}, \"lost\": {}, \"send_errors\": {}, \"skipped\": {}, "
        "\"offered_rate\": {:.1f}, "
        "\"answered_rate\": {:.1f}, \"loss_pct\": {:.3f}",
        kind, a.max ? "max" : "rate", a.load.threads, r.request_length, a.verify ? "true" : "false",
        a.load.sources, r.sent, r.answered, r.naks, r.invalid, r.unmatched, r.lost, r.send_errors,
        r.skipped, offered, answered, loss);
    out += latency_json(p);
    cost.print(true, r.answered, "answer", out);
    out += "}\n";
    return out;
  }
  out = fmt::format(
      "NTP ({}{})   {}, {} threads x {} sockets, {}-byte requests{}\n", kind,
      a.nts ? (a.verify ? ", responses verified" : ", responses counted, not verified") : "",
      a.max ? fmt::format("closed loop, {} in flight per thread", a.load.window)
            : fmt::format("open loop at {:.0f}/s", a.rate),
      a.load.threads, a.load.sockets_per_thread, r.request_length,
      a.load.sources > 0
          ? fmt::format(", {} source addresses (stride {})", a.load.sources, a.load.source_stride)
          : "");
  out += fmt::format(
      "offered      {} in {:.2f} s = {:.0f}/s{}\n", r.sent, r.seconds, offered,
      r.skipped > 0 ? fmt::format(" ({} not sent: generator behind schedule)", r.skipped) : "");
  out += fmt::format(
      "answered     {} = {:.0f}/s, loss {:.3f}% (lost {}, NAK {}, invalid {}, unmatched {}, "
      "send errors {})\n",
      r.answered, answered, loss, r.lost, r.naks, r.invalid, r.unmatched, r.send_errors);
  out += latency_text(p);
  cost.print(false, r.answered, "answer", out);
  return out;
}

int run_ntp_bench(const Args& a, std::optional<pid_t> pid) {
  auto hp = parse_target(a.target, client::kDefaultNtpPort);
  bench::NtpLoadOptions o = a.load;
  o.server = client::resolve(hp.host, hp.port, SOCK_DGRAM).front();
  if (a.nts) {
    if (auto status = add_nts_session(a, hp.port, o)) return *status;
  }
  o.duration = std::chrono::duration<double>(a.duration);
  o.rate = a.max ? 0.0 : a.rate;
  o.timeout = std::chrono::milliseconds(a.timeout_ms);

  CostMeter cost(pid);
  cost.start();
  auto r = bench::run_ntp_load(o);
  cost.stop();
  fmt::print("{}", ntp_report(a, r, cost));
  return 0;
}

int run(int argc, char** argv) {
  CLI::App app{"nts-bench: load generator for NTS-KE, NTS NTP and plain NTP servers"};
  app.require_subcommand(1);
  Args args;
  auto* ntp = add_ntp_command(app, args);
  auto* ke = add_ke_command(app, args);

  try {
    app.parse(argc, argv);
    if (ntp->parsed() && !args.max && args.rate <= 0)
      throw CLI::ValidationError("ntp", "give --rate R or --max");
    if (ntp->parsed() && args.nts && args.ke_target.empty())
      throw CLI::ValidationError("--nts", "needs --ke HOST:PORT");
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  std::optional<pid_t> pid;
  if (args.server_pid) pid = static_cast<pid_t>(*args.server_pid);
  if (pid && !bench::process_tree_cpu_seconds(*pid)) {
    fmt::print(stderr, "nts-bench: no process {}\n", *pid);
    return 1;
  }

  return ke->parsed() ? run_ke_bench(args, pid) : run_ntp_bench(args, pid);
}

}  // namespace

int main(int argc, char** argv) {
  return ntsd::common::guarded_main("nts-bench", [&] { return run(argc, argv); });
}
