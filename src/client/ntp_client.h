// NTS-protected NTPv4 client exchanges (RFC 8915 §5) over a connected UDP socket,
// using the keys and cookies from NTS-KE.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "client/net.h"
#include "core/aead.h"
#include "core/bytes.h"
#include "core/ntp_packet.h"
#include "core/nts_keys.h"
#include "core/random.h"

namespace ntsd::client {

struct NtpClientOptions {
  std::chrono::milliseconds timeout{2000};  // per exchange
  // Ask for enough extra cookies (placeholders) to keep this many in the pool.
  std::size_t cookie_pool_target = 8;
};

// Time values from one authenticated response.
struct NtpSample {
  double offset = 0.0;  // seconds; positive when the server is ahead of us
  double delay = 0.0;   // seconds, round trip minus the server's processing time
  std::uint8_t stratum = 0;
  std::string refid;  // "GPS" for stratum <= 1 when ASCII, else dotted quad
  core::LeapIndicator leap = core::LeapIndicator::NoWarning;
  std::int8_t poll = 0;
  std::int8_t precision = 0;
  double root_delay = 0.0;       // seconds
  double root_dispersion = 0.0;  // seconds
  core::NtpTimestamp reference_time{};
  core::NtpTimestamp transmit_time{};
};

struct NtpExchangeResult {
  bool ok = false;                  // an authenticated response with usable time
  std::string error;                // one line, when !ok
  std::optional<NtpSample> sample;  // set when an authenticated response arrived
  std::size_t cookies_received = 0;
  std::size_t placeholders_sent = 0;
  // Steady-clock time from sending the request to receiving the accepted response.
  std::optional<std::chrono::microseconds> round_trip;
};

// CLOCK_REALTIME now, as an NTP timestamp (core::to_ntp).
core::NtpTimestamp ntp_now();
// What a server's answer says: offset and delay from our send (t1) and receive (t4)
// times and its receive and transmit times, and its header's clock fields.
NtpSample make_sample(const core::NtpHeader& header, core::NtpTimestamp t1, core::NtpTimestamp t4);
// b - a in seconds, correct across era boundaries for differences under 68 years.
double ntp_difference(core::NtpTimestamp a, core::NtpTimestamp b);
// Reference ID text: ASCII for stratum 0 and 1 ("GPS", "NTSN") when it is printable,
// dotted quad otherwise (also for stratum 1 IDs that are not text, e.g. 127.127.1.1).
std::string format_refid(const core::ReferenceId& refid, std::uint8_t stratum);

class NtsNtpClient {
 public:
  // Resolves server (name or address) and opens a UDP socket connected to it, so
  // the kernel drops datagrams from other addresses. Throws ClientError.
  NtsNtpClient(const std::string& server, std::uint16_t port, const core::NtsKeys& keys,
               std::vector<core::Bytes> cookies, NtpClientOptions options = {});

  // One request/response with a fresh cookie. Never throws for network or
  // protocol failures.
  NtpExchangeResult exchange();

  [[nodiscard]] std::size_t cookies_left() const { return cookies_.size(); }
  [[nodiscard]] const SocketAddress& server_address() const { return address_; }

 private:
  NtpExchangeResult exchange_once();

  SocketAddress address_;
  UniqueFd fd_;
  core::Aead c2s_;
  core::Aead s2c_;
  std::deque<core::Bytes> cookies_;
  NtpClientOptions options_;
  core::SystemRandom random_;
};

}  // namespace ntsd::client
