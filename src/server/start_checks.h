// --check-config: what start needs from the system, checked without binding or
// writing. The files are checked as the user ntsd will run as: the --user target
// when the check runs as root (a forked child switches to it, as start would),
// otherwise this process's own user (run it as the unit's user: `runuser -u ntsd
// -- ntsd --check-config ...`).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "server/privileges.h"
#include "server/time_source_settings.h"

namespace ntsd::server {

// What a file must allow the run-as user. `setting` names it in the message.
struct FileNeed {
  enum class Access {
    Read,           // open it for reading: a certificate or private key
    WriteDirectory  // create and rename files in it: the cookie key file's directory
  };
  std::string setting;
  std::string path;
  Access access = Access::Read;
};

// Throws ConfigError naming the first need's setting that the run-as user cannot
// meet, or naming --user when the switch to the target fails.
void check_files_as_run_as_user(const std::vector<FileNeed>& needs,
                                const std::optional<PrivilegeTarget>& target);

// The time source's system calls work here: a read-only adjtimex (modes 0) for
// `kernel` (a seccomp filter, such as a unit's SystemCallFilter=, or a container
// may refuse it). Throws ConfigError naming --time-source.
void check_time_source_calls(TimeSourceKind kind);

}  // namespace ntsd::server
