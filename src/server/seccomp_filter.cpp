#include "server/seccomp_filter.h"

#include <linux/audit.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace ntsd::server {

namespace {

#if defined(__x86_64__)
constexpr std::uint32_t kAuditArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr std::uint32_t kAuditArch = AUDIT_ARCH_AARCH64;
#else
#error "seccomp filter: unsupported architecture"
#endif

// What a running ntsd calls: serving (sockets, epoll, timers), threads and
// memory, the clock and the kernel's discipline state, files (certificate
// reload, key file rotation, log reopen), name resolution for upstreams, and
// what glibc, OpenSSL and the sanitizers call underneath.
// One line per group of calls:
// clang-format off
constexpr int kAllowed[] = {
    // files
    SYS_read, SYS_write, SYS_readv, SYS_writev, SYS_pread64, SYS_pwrite64, SYS_lseek, SYS_close,
    SYS_openat, SYS_newfstatat, SYS_fstat, SYS_statx, SYS_faccessat, SYS_renameat, SYS_unlinkat,
    SYS_fsync, SYS_fdatasync, SYS_fchmod, SYS_fchown, SYS_ftruncate, SYS_getdents64,
    SYS_readlinkat, SYS_fcntl, SYS_dup, SYS_dup3, SYS_pipe2,
#ifdef SYS_open
    SYS_open, SYS_stat, SYS_lstat, SYS_access, SYS_rename, SYS_unlink, SYS_readlink, SYS_dup2,
    SYS_pipe,
#endif
#ifdef SYS_faccessat2
    SYS_faccessat2,
#endif
#ifdef SYS_renameat2
    SYS_renameat2,
#endif
    // memory
    SYS_brk, SYS_mmap, SYS_munmap, SYS_mremap, SYS_mprotect, SYS_madvise, SYS_mincore,
    // threads, signals, scheduling
    SYS_futex, SYS_set_robust_list, SYS_get_robust_list, SYS_exit, SYS_exit_group, SYS_gettid,
    SYS_getpid, SYS_getppid, SYS_tgkill, SYS_sched_yield, SYS_sched_getaffinity, SYS_nanosleep,
    SYS_clock_nanosleep, SYS_restart_syscall, SYS_rt_sigreturn, SYS_rt_sigprocmask,
    SYS_rt_sigtimedwait, SYS_rt_sigaction, SYS_sigaltstack, SYS_prctl,
#ifdef SYS_rseq
    SYS_rseq,
#endif
    // time
    SYS_clock_gettime, SYS_clock_getres, SYS_gettimeofday, SYS_adjtimex, SYS_clock_adjtime,
#ifdef SYS_time
    SYS_time,
#endif
    // network
    SYS_socket, SYS_connect, SYS_accept, SYS_accept4, SYS_bind, SYS_listen, SYS_sendto,
    SYS_recvfrom, SYS_sendmsg, SYS_recvmsg, SYS_sendmmsg, SYS_recvmmsg, SYS_shutdown,
    SYS_getsockname, SYS_getpeername, SYS_setsockopt, SYS_getsockopt, SYS_ioctl, SYS_ppoll,
    SYS_pselect6, SYS_epoll_create1, SYS_epoll_ctl, SYS_epoll_pwait, SYS_eventfd2,
    SYS_timerfd_create, SYS_timerfd_settime, SYS_timerfd_gettime,
#ifdef SYS_poll
    SYS_poll, SYS_select, SYS_epoll_wait, SYS_epoll_create, SYS_eventfd,
#endif
#ifdef SYS_epoll_pwait2
    SYS_epoll_pwait2,
#endif
    // identity and limits
    SYS_getrandom, SYS_uname, SYS_sysinfo, SYS_prlimit64, SYS_getrlimit, SYS_getuid,
    SYS_geteuid, SYS_getgid, SYS_getegid, SYS_getresuid, SYS_getresgid, SYS_getgroups,
};
// clang-format on

// Threads only: a clone without CLONE_THREAD would be a new process.
constexpr std::uint32_t kThreadFlags = CLONE_VM | CLONE_THREAD;

sock_filter statement(std::uint16_t code, std::uint32_t k) { return BPF_STMT(code, k); }
sock_filter jump(std::uint16_t code, std::uint32_t k, std::uint8_t jt, std::uint8_t jf) {
  return BPF_JUMP(code, k, jt, jf);
}

std::vector<sock_filter> build_program() {
  std::vector<sock_filter> p;
  const auto allow = statement(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  const auto kill = statement(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  // Another architecture's numbers mean other calls: refuse them all.
  p.push_back(statement(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, kAuditArch, 1, 0));
  p.push_back(kill);
  p.push_back(statement(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
#if defined(__x86_64__)
  // x32 calls share the architecture but set this bit.
  p.push_back(jump(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1));
  p.push_back(kill);
#endif
  for (int call : kAllowed) {
    p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(call), 0, 1));
    p.push_back(allow);
  }
  // clone3 passes its flags in memory the filter cannot read: ENOSYS makes
  // glibc fall back to clone, whose flags it can.
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1));
  p.push_back(statement(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS));
  // bpf(): only reading a map element, how the AF_XDP path (--xdp) reads its XDP
  // program's counters. Loading, attaching and map updates happen before the
  // filter; no other command is needed afterwards.
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_bpf, 0, 4));
  p.push_back(statement(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0])));
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, BPF_MAP_LOOKUP_ELEM, 0, 1));
  p.push_back(allow);
  p.push_back(kill);
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 4));
  p.push_back(statement(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0])));
  p.push_back(statement(BPF_ALU | BPF_AND | BPF_K, kThreadFlags));
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, kThreadFlags, 0, 1));
  p.push_back(allow);
  p.push_back(kill);
  return p;
}

}  // namespace

void install_seccomp_filter() {
  // Without it an unprivileged process may not install a filter.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    throw std::runtime_error(std::string("seccomp: PR_SET_NO_NEW_PRIVS: ") + std::strerror(errno));
  }
  auto program = build_program();
  sock_fprog fprog{static_cast<unsigned short>(program.size()), program.data()};
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) != 0) {
    throw std::runtime_error(std::string("seccomp: ") + std::strerror(errno));
  }
}

}  // namespace ntsd::server
