// What the kernel says about a process and the machine, read from /proc: CPU time
// (utime + stime, of a process and all its descendants), resident memory, and how
// busy every CPU was. Used to charge a server's CPU to the requests it answered.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace ntsd::bench {

// utime + stime in seconds of `pid` and every process descended from it (chronyd
// answers NTS-KE in a helper process), from /proc/PID/stat (clock-tick resolution).
// nullopt when pid does not exist.
std::optional<double> process_tree_cpu_seconds(pid_t pid);

// Scheduler accounting summed over every thread of `pid` and its descendants, from
// /proc/PID/task/TID/schedstat (nanoseconds): time on a CPU, and time runnable but
// waiting for one. A server that waits a lot was starved of CPU, so its throughput
// and latency say more about the machine than about the server.
struct SchedStat {
  double run_s = 0.0;
  double wait_s = 0.0;
};
std::optional<SchedStat> process_tree_schedstat(pid_t pid);

struct MemoryStatus {
  std::uint64_t rss_kib = 0;  // VmRSS
  std::uint64_t hwm_kib = 0;  // VmHWM: peak RSS
};
std::optional<MemoryStatus> process_memory(pid_t pid);

// Aggregate CPU time of the machine (the "cpu" line of /proc/stat), in ticks.
struct MachineCpu {
  std::uint64_t total = 0;
  std::uint64_t idle = 0;   // idle + iowait
  std::uint64_t steal = 0;  // taken by the hypervisor
};
MachineCpu machine_cpu();

// UDP datagrams the kernel dropped machine-wide because a socket's receive buffer
// was full (RcvbufErrors in /proc/net/snmp).
std::uint64_t udp_receive_buffer_drops();

// CPU seconds used by this process so far (user + system, all threads).
double self_cpu_seconds();

}  // namespace ntsd::bench
