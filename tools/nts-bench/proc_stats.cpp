#include "proc_stats.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

namespace ntsd::bench {

namespace {

struct StatLine {
  pid_t ppid = 0;
  std::uint64_t ticks = 0;  // utime + stime
};

// /proc/PID/stat: "pid (comm) state ppid ... utime(14) stime(15) ...". comm may hold
// spaces and parentheses, so fields are counted from the last ')'.
std::optional<StatLine> read_stat(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(close + 2));
  std::vector<std::string> f;
  std::string word;
  while (fields >> word) f.push_back(word);
  // f[0] is field 3 (state); field n is f[n - 3].
  if (f.size() < 13) return std::nullopt;
  StatLine out;
  out.ppid = static_cast<pid_t>(std::strtol(f[1].c_str(), nullptr, 10));
  out.ticks = std::strtoull(f[11].c_str(), nullptr, 10) + std::strtoull(f[12].c_str(), nullptr, 10);
  return out;
}

// pid and every process descended from it, with utime + stime ticks of each.
std::vector<std::pair<pid_t, std::uint64_t>> process_tree(pid_t pid) {
  std::vector<std::pair<pid_t, std::uint64_t>> tree;
  auto root = read_stat(pid);
  if (!root) return tree;
  tree.emplace_back(pid, root->ticks);
  // One pass over /proc for the parent links, then walk down from pid.
  std::multimap<pid_t, std::pair<pid_t, std::uint64_t>> children;
  if (DIR* dir = opendir("/proc")) {
    while (dirent* entry = readdir(dir)) {
      char* end = nullptr;
      long value = std::strtol(entry->d_name, &end, 10);
      if (end == entry->d_name || *end != '\0' || value == pid) continue;
      if (auto stat = read_stat(static_cast<pid_t>(value))) {
        children.emplace(stat->ppid, std::make_pair(static_cast<pid_t>(value), stat->ticks));
      }
    }
    closedir(dir);
  }
  std::vector<pid_t> todo{pid};
  while (!todo.empty()) {
    pid_t parent = todo.back();
    todo.pop_back();
    auto [first, last] = children.equal_range(parent);
    for (auto it = first; it != last; ++it) {
      tree.push_back(it->second);
      todo.push_back(it->second.first);
    }
  }
  return tree;
}

}  // namespace

std::optional<double> process_tree_cpu_seconds(pid_t pid) {
  auto tree = process_tree(pid);
  if (tree.empty()) return std::nullopt;
  std::uint64_t ticks = 0;
  for (auto& [p, t] : tree) ticks += t;
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::optional<SchedStat> process_tree_schedstat(pid_t pid) {
  auto tree = process_tree(pid);
  if (tree.empty()) return std::nullopt;
  SchedStat out;
  for (auto& [p, ticks] : tree) {
    std::string base = "/proc/" + std::to_string(p) + "/task";
    DIR* dir = opendir(base.c_str());
    if (dir == nullptr) continue;
    while (dirent* entry = readdir(dir)) {
      if (entry->d_name[0] == '.') continue;
      std::ifstream in(base + "/" + entry->d_name + "/schedstat");
      std::uint64_t run = 0, wait = 0;
      if (in >> run >> wait) {
        out.run_s += static_cast<double>(run) / 1e9;
        out.wait_s += static_cast<double>(wait) / 1e9;
      }
    }
    closedir(dir);
  }
  return out;
}

std::optional<MemoryStatus> process_memory(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  if (!in) return std::nullopt;
  MemoryStatus out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) out.rss_kib = std::strtoull(line.c_str() + 6, nullptr, 10);
    if (line.rfind("VmHWM:", 0) == 0) out.hwm_kib = std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return out;
}

MachineCpu machine_cpu() {
  std::ifstream in("/proc/stat");
  std::string label;
  in >> label;  // "cpu"
  // user nice system idle iowait irq softirq steal guest guest_nice
  std::uint64_t v[8] = {};
  for (auto& x : v) in >> x;
  MachineCpu out;
  for (auto x : v) out.total += x;
  out.idle = v[3] + v[4];
  out.steal = v[7];
  return out;
}

std::uint64_t udp_receive_buffer_drops() {
  // Two "Udp:" lines: the field names, then the values.
  std::ifstream in("/proc/net/snmp");
  std::string line;
  std::vector<std::string> names;
  while (std::getline(in, line)) {
    if (line.rfind("Udp: ", 0) != 0) continue;
    std::istringstream words(line.substr(5));
    std::vector<std::string> fields;
    std::string word;
    while (words >> word) fields.push_back(word);
    if (names.empty()) {
      names = fields;
      continue;
    }
    for (std::size_t i = 0; i < names.size() && i < fields.size(); ++i) {
      if (names[i] == "RcvbufErrors") return std::strtoull(fields[i].c_str(), nullptr, 10);
    }
  }
  return 0;
}

double self_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

}  // namespace ntsd::bench
