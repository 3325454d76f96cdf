// --check-config: the cookie key file can be written where it is configured.
// ntsd writes the file atomically (a temporary file in the same directory, then
// rename), at the first start and at every rotation, so the directory must exist
// and be writable by the user that runs the check (run it as the unit's user,
// `runuser -u ntsd -- ntsd --check-config ...`).
#pragma once

#include <string>

namespace ntsd::server {

// The directory the key file is written through ("." for a bare name).
std::string key_file_directory(const std::string& key_file);

// Throws ConfigError naming --keys when the key file's directory is missing,
// not a directory, or not writable and searchable by this process.
void check_key_file_directory(const std::string& key_file);

}  // namespace ntsd::server
