// ntsd's command line as a test writes it (a list of arguments, the program name
// added), and the setting a refused configuration names.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "server/config.h"

namespace ntsd::test_support {

inline server::Invocation invocation(std::vector<std::string> args) {
  args.insert(args.begin(), "ntsd");
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  return server::parse_invocation(static_cast<int>(argv.size()), argv.data());
}

// The setting the ConfigError thrown by f named, or "" when f throws none.
inline std::string config_error_setting(const std::function<void()>& f) {
  try {
    f();
  } catch (const server::ConfigError& error) {
    return error.setting();
  }
  return "";
}

}  // namespace ntsd::test_support
