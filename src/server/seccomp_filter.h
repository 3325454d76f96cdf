// An optional seccomp allow-list (--seccomp on): once ntsd has bound its
// sockets, read its files and dropped privileges, the process may only make the
// system calls serving needs. Anything else (execve, fork, ptrace, mount, ...)
// kills the process, so that a bug an attacker found cannot be turned into a
// shell. Off by default: a library update that starts using a new system call
// would stop the server.
#pragma once

namespace ntsd::server {

// Installs the filter for this thread and every thread it starts afterwards
// (call it before starting any). Throws std::runtime_error when the kernel
// refuses.
void install_seccomp_filter();

}  // namespace ntsd::server
