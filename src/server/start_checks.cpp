#include "server/start_checks.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "common/unique_fd.h"
#include "server/config_error.h"
#include "time/kernel_clock.h"

namespace ntsd::server {

namespace {

// 0, or the errno of the attempt. Only async-signal-safe calls: it also runs in
// the forked child.
int probe(const FileNeed& need) {
  if (need.access == FileNeed::Access::WriteDirectory) {
    // access() answers for the real uid and gid: the user being checked.
    return ::access(need.path.c_str(), W_OK | X_OK) == 0 ? 0 : errno;
  }
  int fd = ::open(need.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return errno;
  ::close(fd);
  return 0;
}

// What the child reports through its pipe when something fails.
struct ChildFailure {
  std::int32_t need = -1;  // index into needs; -1: the switch to the target failed
  std::int32_t error = 0;
};

[[noreturn]] void child_checks(int report_fd, const std::vector<FileNeed>& needs,
                               const PrivilegeTarget& target) {
  ChildFailure failure;
  // As drop_privileges() does it, minus what cannot matter for file access. Once
  // the uid is no longer 0 the kernel clears every capability (CAP_DAC_OVERRIDE too).
  if (::setgroups(1, &target.gid) != 0 || ::setresgid(target.gid, target.gid, target.gid) != 0 ||
      ::setresuid(target.uid, target.uid, target.uid) != 0) {
    failure.error = errno;
  } else {
    for (std::size_t i = 0; i < needs.size() && failure.error == 0; ++i) {
      failure.error = probe(needs[i]);
      if (failure.error != 0) failure.need = static_cast<std::int32_t>(i);
    }
  }
  if (failure.error != 0) {
    [[maybe_unused]] auto written = ::write(report_fd, &failure, sizeof failure);
  }
  ::_exit(failure.error == 0 ? 0 : 1);
}

// The first failure of `needs` for `target`, checked in a child that becomes it.
std::optional<ChildFailure> probe_as(const std::vector<FileNeed>& needs,
                                     const PrivilegeTarget& target) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw ConfigError("--user", std::string("pipe: ") + std::strerror(errno));
  }
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  pid_t child = ::fork();
  if (child < 0) throw ConfigError("--user", std::string("fork: ") + std::strerror(errno));
  if (child == 0) child_checks(write_end.get(), needs, target);
  write_end.reset();
  ChildFailure failure;
  ssize_t got = 0;
  do {
    got = ::read(read_end.get(), &failure, sizeof failure);
  } while (got < 0 && errno == EINTR);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (got == static_cast<ssize_t>(sizeof failure)) return failure;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return std::nullopt;
  throw ConfigError("--user", "the check of the files as user " + target.user + " did not finish");
}

std::string current_user_name() {
  std::vector<char> buffer(16384);
  passwd pw{};
  passwd* found = nullptr;
  const uid_t uid = ::geteuid();
  if (getpwuid_r(uid, &pw, buffer.data(), buffer.size(), &found) == 0 && found != nullptr) {
    return pw.pw_name;
  }
  return "uid " + std::to_string(uid);
}

bool already_target(const PrivilegeTarget& target) {
  return ::getuid() == target.uid && ::geteuid() == target.uid && ::getgid() == target.gid &&
         ::getegid() == target.gid;
}

[[noreturn]] void throw_need_failure(const FileNeed& need, const std::string& user, int error) {
  const std::string why = std::strerror(error);
  if (need.access == FileNeed::Access::WriteDirectory) {
    // Each rotation replaces the key file there.
    throw ConfigError(need.setting, "directory " + need.path + ": user " + user +
                                        " cannot create files in it: " + why);
  }
  throw ConfigError(need.setting,
                    need.path + ": not readable by user " + user + ", which ntsd runs as: " + why);
}

}  // namespace

void check_files_as_run_as_user(const std::vector<FileNeed>& needs,
                                const std::optional<PrivilegeTarget>& target) {
  if (target && !already_target(*target)) {
    if (::geteuid() != 0) {
      throw ConfigError("--user", "switching to " + target->user + " needs ntsd to start as root");
    }
    if (auto failure = probe_as(needs, *target)) {
      if (failure->need < 0) {
        const std::string why = std::strerror(failure->error);
        throw ConfigError("--user", "cannot switch to " + target->user + " to check files: " + why);
      }
      throw_need_failure(needs.at(static_cast<std::size_t>(failure->need)), target->user,
                         failure->error);
    }
    return;
  }
  for (const auto& need : needs) {
    if (int error = probe(need); error != 0) throw_need_failure(need, current_user_name(), error);
  }
}

void check_time_source_calls(TimeSourceKind kind) {
  if (kind != TimeSourceKind::Kernel) return;
  std::string error;
  if (!timesource::read_kernel_clock(error)) {
    throw ConfigError("--time-source",
                      "kernel: the kernel time source cannot read the clock state (" + error +
                          "); a seccomp filter (the unit's SystemCallFilter=) or the container "
                          "refuses adjtimex, and ntsd would serve only unsynchronised answers");
  }
}

}  // namespace ntsd::server
