// Least privilege: ntsd starts as root only to bind privileged ports and read
// root-only key material, then runs as an ordinary user with no capabilities.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace ntsd::server {

// Who to become after binding (--user, --group).
struct PrivilegeTarget {
  std::string user;
  std::string group;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Looks the names up; the group defaults to the user's primary group. Throws
// ConfigError naming --user or --group for an unknown name, or naming --user when
// a group is given without a user. Returns none when neither is set.
std::optional<PrivilegeTarget> resolve_privilege_target(const std::optional<std::string>& user,
                                                        const std::optional<std::string>& group);

// Raises the soft RLIMIT_NOFILE to the hard limit, so that NTS-KE can hold as
// many sessions as the administrator allows. Best effort.
void raise_descriptor_limit();

// Hands the cookie key file to the target user, so that rotation (which replaces
// it and zeroes the previous one) keeps working after the switch. Throws
// ConfigError naming --keys when that fails.
void hand_over_key_file(const std::string& path, const PrivilegeTarget& target);

// Becomes target: drops every capability from the bounding and ambient sets,
// sets the supplementary groups to the target group alone, then the gid and the
// uid, sets no_new_privs, and checks that no capability and no way back to root
// remains. Throws ConfigError naming --user on any failure (including not being
// root to begin with, unless already running as the target).
void drop_privileges(const PrivilegeTarget& target);

// After drop_privileges(): the key file's directory must be writable by the
// target, or the next rotation would fail. Throws ConfigError naming --keys.
void check_key_directory_writable(const std::string& path, const PrivilegeTarget& target);

}  // namespace ntsd::server
