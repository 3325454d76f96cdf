#include "server/privileges.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "server/config_error.h"

namespace ntsd::server {

namespace {

std::string error_text() { return std::strerror(errno); }

std::string directory_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Effective, permitted and inheritable capability sets are all empty.
bool holds_no_capability() {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  for (const auto& d : data) {
    if (d.effective != 0 || d.permitted != 0 || d.inheritable != 0) return false;
  }
  return true;
}

}  // namespace

std::optional<PrivilegeTarget> resolve_privilege_target(const std::optional<std::string>& user,
                                                        const std::optional<std::string>& group) {
  if (!user) {
    if (group) throw ConfigError("--group", "needs --user (ntsd switches user and group together)");
    return std::nullopt;
  }
  PrivilegeTarget target;
  target.user = *user;
  std::vector<char> buffer(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (user->empty() || getpwnam_r(user->c_str(), &pw, buffer.data(), buffer.size(), &found) != 0 ||
      found == nullptr) {
    throw ConfigError("--user", "'" + *user + "' is not a user on this system");
  }
  target.uid = pw.pw_uid;
  target.gid = pw.pw_gid;
  if (target.uid == 0)
    throw ConfigError("--user", "'" + *user + "' is root: name an unprivileged user");
  if (group) {
    ::group gr{};
    ::group* found_group = nullptr;
    if (group->empty() ||
        getgrnam_r(group->c_str(), &gr, buffer.data(), buffer.size(), &found_group) != 0 ||
        found_group == nullptr) {
      throw ConfigError("--group", "'" + *group + "' is not a group on this system");
    }
    target.gid = gr.gr_gid;
    target.group = *group;
  } else {
    ::group gr{};
    ::group* found_group = nullptr;
    if (getgrgid_r(target.gid, &gr, buffer.data(), buffer.size(), &found_group) == 0 &&
        found_group != nullptr) {
      target.group = gr.gr_name;
    } else {
      target.group = std::to_string(target.gid);
    }
  }
  if (target.gid == 0) throw ConfigError("--group", "group 0 (root) is not an unprivileged group");
  return target;
}

void raise_descriptor_limit() {
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) != 0) return;
  constexpr rlim_t kCeiling = 1 << 20;
  rlim_t wanted = files.rlim_max == RLIM_INFINITY ? kCeiling : std::min(files.rlim_max, kCeiling);
  if (files.rlim_cur != RLIM_INFINITY && files.rlim_cur < wanted) {
    files.rlim_cur = wanted;
    setrlimit(RLIMIT_NOFILE, &files);
  }
}

void hand_over_key_file(const std::string& path, const PrivilegeTarget& target) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) throw ConfigError("--keys", path + ": " + error_text());
  int rc = fchown(fd, target.uid, target.gid);
  std::string why = rc == 0 ? "" : error_text();
  ::close(fd);
  if (rc != 0) {
    throw ConfigError("--keys", path + ": cannot hand it to user " + target.user + ": " + why);
  }
}

void drop_privileges(const PrivilegeTarget& target) {
  if (getuid() == target.uid && geteuid() == target.uid && getgid() == target.gid &&
      getegid() == target.gid) {
    // Already the target (started by a service manager as that user).
  } else {
    if (geteuid() != 0) {
      throw ConfigError("--user", "switching to " + target.user + " needs ntsd to start as root");
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    for (unsigned long cap = 0; cap <= CAP_LAST_CAP; ++cap) {
      if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) {
        throw ConfigError("--user", "cannot drop capability " + std::to_string(cap) +
                                        " from the bounding set: " + error_text());
      }
    }
    if (setgroups(1, &target.gid) != 0) {
      throw ConfigError("--user", "setgroups(" + target.group + "): " + error_text());
    }
    if (setresgid(target.gid, target.gid, target.gid) != 0) {
      throw ConfigError("--group", "setresgid(" + target.group + "): " + error_text());
    }
    if (setresuid(target.uid, target.uid, target.uid) != 0) {
      throw ConfigError("--user", "setresuid(" + target.user + "): " + error_text());
    }
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    throw ConfigError("--user", std::string("PR_SET_NO_NEW_PRIVS: ") + error_text());
  }
  // No way back: root must be out of reach, and no capability left.
  if (setuid(0) == 0 || seteuid(0) == 0) {
    throw ConfigError("--user", "could become root again after switching to " + target.user);
  }
  if (!holds_no_capability()) {
    throw ConfigError("--user", "capabilities remain after switching to " + target.user);
  }
}

void check_key_directory_writable(const std::string& path, const PrivilegeTarget& target) {
  auto dir = directory_of(path);
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    throw ConfigError("--keys", "directory " + dir + " is not writable by user " + target.user +
                                    " (each rotation replaces the key file there): chown " +
                                    target.user + " " + dir);
  }
  if (access(path.c_str(), R_OK | W_OK) != 0) {
    throw ConfigError("--keys", path + " is not readable and writable by user " + target.user);
  }
}

}  // namespace ntsd::server
