// Polls one upstream NTP server for the `upstream` time source: plain NTPv4
// (RFC 5905 client mode) or NTS (NTS-KE, then authenticated exchanges, with the
// client library in src/client). One thread per upstream; every answer, good or
// bad, goes to the sink.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "server/time_source_settings.h"
#include "time/upstream.h"

namespace ntsd::client {
class NtsNtpClient;
}

namespace ntsd::server {

struct PollResult {
  std::optional<timesource::UpstreamSample> sample;  // a response arrived
  core::ReferenceId reference_id{};                  // of the address that answered
  std::string address;                               // "127.0.0.1:123"
  std::string error;                                 // when no sample
};

// One plain NTPv4 client exchange with host:port (connected UDP socket, random
// transmit timestamp checked against the origin of the answer). Never throws.
PollResult poll_plain_ntp(const std::string& host, std::uint16_t port,
                          std::chrono::milliseconds timeout);

class UpstreamPoller {
 public:
  using Sink = std::function<void(const PollResult&)>;

  UpstreamPoller(UpstreamEntry entry, std::optional<std::string> ca_file,
                 std::chrono::seconds interval, Sink sink);
  ~UpstreamPoller();
  UpstreamPoller(const UpstreamPoller&) = delete;
  UpstreamPoller& operator=(const UpstreamPoller&) = delete;

  void start();
  void stop();
  [[nodiscard]] std::string name() const;

 private:
  void run();
  PollResult poll_once();
  PollResult poll_nts();

  UpstreamEntry entry_;
  std::optional<std::string> ca_file_;
  std::chrono::seconds interval_;
  Sink sink_;
  std::unique_ptr<client::NtsNtpClient> nts_;
  std::string nts_address_;
  core::ReferenceId nts_reference_id_{};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace ntsd::server
