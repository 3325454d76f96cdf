// The cookie key file (--keys FILE): the one secret a fleet shares.
//
// It holds only what the keys still in force need: the oldest epoch of the window
// and its key. Every later key is derived from it (keys/ratchet.h), so any copy,
// however old, lets a host ratchet forward to the present, and nothing in it opens
// a cookie older than the window. The format is a small TOML document:
//
//   version = 1
//   rotation-seconds = 86400
//   epoch = 19875
//   key = "<64 hex digits>"
//
// The parser accepts exactly this shape (comments and blank lines allowed) and
// reads the key into buffers it wipes; a general TOML parser would leave copies of
// the key in memory it cannot reach.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "keys/ratchet.h"

namespace ntsd::keys {

inline constexpr std::uint32_t kKeyFileVersion = 1;
inline constexpr std::size_t kMaxKeyFileSize = std::size_t{64} * 1024;

// A key file or key setting that cannot be used. `setting` names the flag the
// operator should look at ("--keys", "--key-rotation"); ntsd exits 2 with
// "ntsd: <setting>: <message>".
class KeyFileError : public std::runtime_error {
 public:
  KeyFileError(std::string setting, const std::string& message)
      : std::runtime_error(setting + ": " + message), setting_(std::move(setting)) {}
  [[nodiscard]] const std::string& setting() const { return setting_; }
  [[nodiscard]] std::string message() const {
    std::string what = std::runtime_error::what();
    return what.substr(setting_.size() + 2);
  }

 private:
  std::string setting_;
};

struct KeyFileState {
  std::uint32_t rotation_seconds = 0;
  Ratchet ratchet;  // the oldest epoch still in the window, and its key
};

// A string that wipes its buffer when destroyed; for text holding key material.
class SecretText {
 public:
  explicit SecretText(std::size_t reserve) { text_.reserve(reserve); }
  SecretText(const SecretText&) = delete;
  SecretText& operator=(const SecretText&) = delete;
  ~SecretText() { core::secure_wipe(text_.data(), text_.capacity()); }
  // Appending beyond the reserved capacity would leave a copy in freed memory.
  void append(std::string_view part);
  [[nodiscard]] const std::string& str() const { return text_; }
  [[nodiscard]] std::size_t capacity() const { return text_.capacity(); }

 private:
  std::string text_;
};

// The file's text. Pure: no I/O.
void format_key_file(const KeyFileState& state, SecretText& out);
// Parses the file's text; throws KeyFileError("--keys", "<path>:<line>: ...").
KeyFileState parse_key_file(std::string_view text, const std::string& path);

// Reads and parses FILE. nullopt when it does not exist. Throws KeyFileError when
// it is a symbolic link, not a regular file, accessible by group or others, not
// readable, larger than kMaxKeyFileSize, or malformed. Never modifies the file.
std::optional<KeyFileState> read_key_file(const std::string& path);

// Replaces FILE atomically: a temporary file in the same directory (mode 0600),
// written and fsync'd, renamed over FILE, the directory fsync'd. The previous
// file's blocks are then overwritten with zeros through a descriptor opened
// before the rename (best effort: a copy-on-write or flash file system may keep
// old blocks). Throws KeyFileError("--keys", ...) and leaves FILE as it was when
// anything fails before the rename.
void write_key_file(const std::string& path, const KeyFileState& state);

// Removes the temporary files write_key_file() leaves behind when the process is
// killed between creating and renaming one (FILE.tmp.XXXXXX, regular files
// only). Returns how many it removed; errors are ignored (the next start tries
// again).
std::size_t remove_stale_temp_files(const std::string& path);

}  // namespace ntsd::keys
