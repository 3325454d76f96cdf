// ntsd: the NTS-KE server and the NTS-protected NTP server in one process.
// Exit status: 0 after SIGINT/SIGTERM or a good --check-config, 2 for a setting
// that cannot be used (one line on stderr naming it), 1 for anything else.
#include <cstdlib>
#include <iostream>

#include "keys/key_file.h"
#include "server/config.h"
#include "server/daemon.h"

namespace {

constexpr int kExitConfigError = 2;

int serve(const ntsd::server::Config& config) {
  ntsd::server::Daemon daemon(config);
  daemon.start();
  daemon.run();
  daemon.stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ntsd;
  try {
    auto invocation = server::parse_invocation(argc, argv);
    if (invocation.exit_now) return invocation.exit_status;
    if (invocation.check_only) return server::check_config(invocation.config);
    return serve(invocation.config);
  } catch (const server::ConfigError& error) {
    std::cerr << "ntsd: " << error.what() << '\n';
    return kExitConfigError;
  } catch (const keys::KeyFileError& error) {
    std::cerr << "ntsd: " << error.what() << '\n';
    return kExitConfigError;
  } catch (const std::exception& error) {
    std::cerr << "ntsd: " << error.what() << '\n';
    return EXIT_FAILURE;
  }
}
