// The body of a command-line tool's main(): whatever escapes it (memory
// exhausted, an output error) ends in one line on stderr and status 1, as the
// tool's other failures do, instead of std::terminate and a core dump.
#pragma once

#include <csignal>
#include <cstdio>
#include <exception>

namespace ntsd::common {

template <typename Run>
int guarded_main(const char* program, Run&& run) noexcept {
  // Sockets (and OpenSSL on them) write with write(2): a peer that resets must
  // give an error, not kill the tool.
  (void)std::signal(SIGPIPE, SIG_IGN);
  try {
    return run();
  } catch (const std::exception& e) {
    std::fputs(program, stderr);
    std::fputs(": ", stderr);
    std::fputs(e.what(), stderr);
    std::fputs("\n", stderr);
  } catch (...) {
    std::fputs(program, stderr);
    std::fputs(": unexpected error\n", stderr);
  }
  return 1;
}

}  // namespace ntsd::common
