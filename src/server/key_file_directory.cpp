#include "server/key_file_directory.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "server/config.h"

namespace ntsd::server {

std::string key_file_directory(const std::string& key_file) {
  auto slash = key_file.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return key_file.substr(0, slash);
}

void check_key_file_directory(const std::string& key_file) {
  const std::string dir = key_file_directory(key_file);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    throw ConfigError("--keys", key_file + ": directory " + dir + ": " + std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) {
    throw ConfigError("--keys", key_file + ": " + dir + " is not a directory");
  }
  // access() answers for the real user and group: those the unit (or root) runs with.
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    throw ConfigError(
        "--keys", key_file + ": cannot write to directory " + dir + ": " + std::strerror(errno));
  }
}

}  // namespace ntsd::server
