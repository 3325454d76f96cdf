// NTS-KE load generator: C threads, each running whole NTS-KE sessions (TCP connect,
// TLS 1.3 full handshake with certificate check, request, response, close_notify)
// back to back with src/client's run_ke until the duration ends.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ntsd::bench {

struct KeLoadOptions {
  std::string host;
  std::uint16_t port = 4460;
  std::optional<std::string> ca_file;
  std::chrono::duration<double> duration{5.0};
  unsigned concurrency = 1;
  std::chrono::milliseconds timeout{5000};
};

struct KeLoadResult {
  std::uint64_t sessions = 0;  // completed with keys and at least one cookie
  std::uint64_t failed = 0;
  std::map<std::string, std::uint64_t> errors;  // error line -> count
  double seconds = 0.0;
  std::vector<std::uint32_t> latency_ns;  // whole session, connect to close
};

KeLoadResult run_ke_load(const KeLoadOptions& options);

}  // namespace ntsd::bench
