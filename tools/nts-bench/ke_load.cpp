#include "ke_load.h"

#include <algorithm>
#include <mutex>
#include <thread>

#include "client/ke_client.h"

namespace ntsd::bench {

KeLoadResult run_ke_load(const KeLoadOptions& options) {
  KeLoadResult result;
  std::mutex mutex;
  using Clock = std::chrono::steady_clock;
  auto start = Clock::now();
  auto end = start + std::chrono::duration_cast<Clock::duration>(options.duration);
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < options.concurrency; ++i) {
    threads.emplace_back([&] {
      client::KeClientOptions ke;
      // AEAD 15, as before AEAD 30 existed: KE rates stay comparable with chrony 4.3.
      ke.aeads = {core::AeadAlgorithm::AesSivCmac256};
      ke.host = options.host;
      ke.port = options.port;
      ke.ca_file = options.ca_file;
      ke.timeout = options.timeout;
      KeLoadResult local;
      while (Clock::now() < end) {
        auto begin = Clock::now();
        auto r = client::run_ke(ke);
        auto took = Clock::now() - begin;
        if (r.ok && r.session.keys && !r.session.cookies.empty()) {
          ++local.sessions;
          local.latency_ns.push_back(static_cast<std::uint32_t>(std::min<std::int64_t>(
              std::chrono::duration_cast<std::chrono::nanoseconds>(took).count(), UINT32_MAX)));
        } else {
          ++local.failed;
          ++local.errors[r.ok ? std::string("no keys or cookies") : r.error];
        }
      }
      std::lock_guard lock(mutex);
      result.sessions += local.sessions;
      result.failed += local.failed;
      for (auto& [k, v] : local.errors) result.errors[k] += v;
      result.latency_ns.insert(result.latency_ns.end(), local.latency_ns.begin(),
                               local.latency_ns.end());
    });
  }
  for (auto& t : threads) t.join();
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return result;
}

}  // namespace ntsd::bench
