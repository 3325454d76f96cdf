// The seccomp allow-list, installed in a forked child: what serving needs still
// works, and what an attacker would want (a new program, a new process) kills it.
#include "server/seccomp_filter.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <functional>
#include <thread>

namespace ntsd::server {
namespace {

// Runs `body` in a child under the filter; returns the child's wait status.
int run_filtered(const std::function<int()>& body) {
  pid_t child = fork();
  if (child == 0) {
    try {
      install_seccomp_filter();
    } catch (...) {
      _exit(99);
    }
    _exit(body());  // _exit: no atexit handlers, nothing but the body's own calls
  }
  int status = 0;
  waitpid(child, &status, 0);
  return status;
}

TEST(SeccompFilter, ServingCallsAndThreadsAreAllowed) {
  int status = run_filtered([] {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in self{};
    self.sin_family = AF_INET;
    self.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof self;
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&self), sizeof self) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&self), &length) != 0) {
      return 1;
    }
    char byte = 'x';
    if (sendto(fd, &byte, 1, 0, reinterpret_cast<sockaddr*>(&self), sizeof self) != 1 ||
        recv(fd, &byte, 1, 0) != 1) {
      return 2;
    }
    int from_thread = 0;
    std::thread worker([&] { from_thread = 7; });
    worker.join();
    if (from_thread != 7) return 3;
    timespec now{};
    if (clock_gettime(CLOCK_REALTIME, &now) != 0) return 4;
    return 0;
  });
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(SeccompFilter, ExecKillsTheProcess) {
  int status = run_filtered([] {
    char* const argv[] = {const_cast<char*>("/bin/true"), nullptr};
    execv("/bin/true", argv);
    return 0;  // not reached: execve is not allowed
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_EQ(WTERMSIG(status), SIGSYS);
}

TEST(SeccompFilter, ForkKillsTheProcess) {
  int status = run_filtered([] {
    pid_t grandchild = fork();
    if (grandchild == 0) _exit(0);
    return 0;  // not reached: a clone without CLONE_THREAD is not allowed
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_EQ(WTERMSIG(status), SIGSYS);
}

// bpf() with `command` on no map or program at all: the kernel refuses it, or the
// filter kills the process first.
int bpf_command(int command) {
  bpf_attr attr{};
  attr.map_fd = static_cast<__u32>(-1);
  const long result = syscall(SYS_bpf, command, &attr, sizeof attr);
  return result < 0 ? errno : 0;
}

TEST(SeccompFilter, BpfMayOnlyReadMapElements) {
  // How --xdp reads its program's counters: allowed (EBADF: no such map).
  int status = run_filtered([] { return bpf_command(BPF_MAP_LOOKUP_ELEM) == EBADF ? 0 : 1; });
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  // Loading a program or changing a map is not.
  for (int command : {BPF_PROG_LOAD, BPF_MAP_UPDATE_ELEM, BPF_LINK_CREATE}) {
    status = run_filtered([command] {
      bpf_command(command);
      return 0;  // not reached
    });
    ASSERT_TRUE(WIFSIGNALED(status)) << command << " " << status;
    EXPECT_EQ(WTERMSIG(status), SIGSYS) << command;
  }
}

}  // namespace
}  // namespace ntsd::server
