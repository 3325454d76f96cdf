// A temporary directory that a test owns and removes with everything in it, and a
// whole-file reader for checking what the code under test wrote there.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace ntsd::test_support {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "ntsd-test") {
    std::string name = "/tmp/" + prefix + "-XXXXXX";
    if (const char* made = ::mkdtemp(name.data())) path_ = made;
  }
  ~TempDir() {
    if (!path_.empty()) std::filesystem::remove_all(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] std::string file(const std::string& name) const { return path_ + "/" + name; }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace ntsd::test_support
