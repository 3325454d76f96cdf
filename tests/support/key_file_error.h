// The setting a keys::KeyFileError named and its message, for tests of the key file
// and the key service that expect a refusal.
#pragma once

#include <functional>
#include <string>
#include <utility>

#include "keys/key_file.h"

namespace ntsd::test_support {

// ("", "") when f throws nothing.
inline std::pair<std::string, std::string> key_file_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const keys::KeyFileError& e) {
    return {e.setting(), e.message()};
  }
  return {"", ""};
}

}  // namespace ntsd::test_support
