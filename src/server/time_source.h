// What ntsd tells clients about its clock. ntsd never steers the clock: a time
// source only describes the system clock that another daemon keeps right.
#pragma once

#include <memory>
#include <string>

#include "core/ntp_handler.h"

namespace ntsd::server {

class TimeSource {
 public:
  virtual ~TimeSource() = default;
  // The header fields for responses sent at about `now`. Called from every NTP
  // worker: implementations are thread-safe.
  [[nodiscard]] virtual core::ServerClock describe(core::NtpTimestamp now) const = 0;
  [[nodiscard]] virtual std::string name() const = 0;
};

// `local`: a configured stratum and reference id, leap indicator 0. Nothing
// vouches for the clock; it is for labs, tests, and hosts whose clock another
// daemon disciplines and that accept its word.
class LocalTimeSource final : public TimeSource {
 public:
  LocalTimeSource(std::uint8_t stratum, core::ReferenceId reference_id);
  [[nodiscard]] core::ServerClock describe(core::NtpTimestamp now) const override;
  [[nodiscard]] std::string name() const override { return "local"; }

 private:
  core::ServerClock clock_;
};

}  // namespace ntsd::server
