// A setting that cannot be used: ntsd prints one line naming it and exits 2.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace ntsd::server {

class ConfigError : public std::runtime_error {
 public:
  // `setting` names it as the operator wrote it: "--cert", "tls.certificates[2].key".
  ConfigError(std::string setting, const std::string& message)
      : std::runtime_error(setting + ": " + message), setting_(std::move(setting)) {}
  [[nodiscard]] const std::string& setting() const { return setting_; }

 private:
  std::string setting_;
};

}  // namespace ntsd::server
