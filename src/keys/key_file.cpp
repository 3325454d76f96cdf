#include "keys/key_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <utility>
#include <vector>

namespace ntsd::keys {

namespace {

constexpr char kHex[] = "0123456789abcdef";

std::string errno_text(int error) { return std::strerror(error); }

std::string mode_text(mode_t mode) {
  char text[8];
  (void)std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A name from the file, fit for an error message: printable ASCII, short.
std::string shown(std::string_view name) {
  bool printable =
      !name.empty() && name.size() <= 40 && std::all_of(name.begin(), name.end(), [](char c) {
        return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f;
      });
  return printable ? "'" + std::string(name) + "'" : "(unprintable)";
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// Closes a descriptor on every way out.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  [[nodiscard]] int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

std::string directory_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Overwrites a file's contents with zeros through an open descriptor and syncs it.
// Only once no name refers to it any more: a hard link elsewhere is somebody's copy.
void zero_fill(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 0) return;
  std::array<char, 4096> zeros{};
  off_t offset = 0;
  while (offset < st.st_size) {
    auto chunk = static_cast<std::size_t>(std::min<off_t>(st.st_size - offset, zeros.size()));
    ssize_t n = ::pwrite(fd, zeros.data(), chunk, offset);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return;
    }
    offset += n;
  }
  ::fdatasync(fd);
}

}  // namespace

void SecretText::append(std::string_view part) {
  if (text_.size() + part.size() > text_.capacity()) {
    // A caller bug; never let the string reallocate with key material in it.
    throw std::length_error("SecretText: capacity exceeded");
  }
  text_.append(part);
}

void format_key_file(const KeyFileState& state, SecretText& out) {
  const Ratchet& r = state.ratchet;
  std::string header =
      "# ntsd cookie keys (RFC 8915 section 6). SECRET: keep it mode 0600, owned by ntsd.\n"
      "# Hosts that share this file (or any older copy of it) share cookie keys: see\n"
      "# docs/fleet.md. ntsd rewrites it at every rotation; the oldest key still\n"
      "# accepted is kept here and every later key is derived from it.\n"
      "# epoch " +
      std::to_string(r.epoch()) + " began at " +
      format_utc(epoch_start(r.epoch(), state.rotation_seconds)) +
      "\n"
      "version = " +
      std::to_string(kKeyFileVersion) +
      "\n"
      "rotation-seconds = " +
      std::to_string(state.rotation_seconds) +
      "\n"
      "epoch = " +
      std::to_string(r.epoch()) + "\n";
  out.append(header);
  std::array<char, 2 * kMasterKeyLength> hex{};
  auto bytes = r.key().bytes();
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    hex[2 * i] = kHex[bytes[i] >> 4];
    hex[2 * i + 1] = kHex[bytes[i] & 0xf];
  }
  out.append("key = \"");
  out.append({hex.data(), hex.size()});
  out.append("\"\n");
  core::secure_wipe(hex.data(), hex.size());
}

namespace {

using KeyBytes = std::array<std::uint8_t, kMasterKeyLength>;
using Integers = std::map<std::string, std::uint64_t, std::less<>>;

// What is wrong with one line; parse_key_file adds the path and line number.
struct LineProblem {
  std::string message;
};

struct Setting {
  std::string_view name;
  std::string_view value;
};

// NAME = VALUE with an optional comment after an unquoted value; nothing for a
// blank or comment line.
std::optional<Setting> split_setting(std::string_view line) {
  line = trim(line);
  if (line.empty() || line.front() == '#') return std::nullopt;
  auto equals = line.find('=');
  if (equals == std::string_view::npos) throw LineProblem{"expected NAME = VALUE"};
  std::string_view name = trim(line.substr(0, equals));
  std::string_view value = trim(line.substr(equals + 1));
  // A comment after the value.
  if (!value.empty() && value.front() != '"') {
    auto hash = value.find('#');
    if (hash != std::string_view::npos) value = trim(value.substr(0, hash));
  }
  return Setting{name, value};
}

void parse_key_value(std::string_view value, KeyBytes& key) {
  if (value.size() < 2 || value.front() != '"') throw LineProblem{"'key' must be a quoted string"};
  auto close = value.find('"', 1);
  if (close == std::string_view::npos) throw LineProblem{"'key': missing closing quote"};
  auto rest = trim(value.substr(close + 1));
  if (!rest.empty() && rest.front() != '#') {
    throw LineProblem{"'key': unexpected text after the value"};
  }
  auto hex = value.substr(1, close - 1);
  if (hex.size() != 2 * kMasterKeyLength) {
    throw LineProblem{"'key' must be " + std::to_string(2 * kMasterKeyLength) +
                      " hex digits, not " + std::to_string(hex.size()) + " characters"};
  }
  for (std::size_t i = 0; i < kMasterKeyLength; ++i) {
    int high = hex_value(hex[2 * i]);
    int low = hex_value(hex[2 * i + 1]);
    if (high < 0 || low < 0) throw LineProblem{"'key' holds a character that is not a hex digit"};
    key[i] = static_cast<std::uint8_t>((high << 4) | low);
  }
}

void parse_integer_setting(const Setting& setting, Integers& integers) {
  const std::string_view name = setting.name;
  const std::string_view value = setting.value;
  if (name != "version" && name != "rotation-seconds" && name != "epoch") {
    throw LineProblem{"unknown setting " + shown(name)};
  }
  if (integers.contains(name)) throw LineProblem{"'" + std::string(name) + "' appears twice"};
  std::uint64_t number = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (value.empty() || ec != std::errc{} || ptr != value.data() + value.size() ||
      number > std::numeric_limits<std::uint32_t>::max()) {
    throw LineProblem{"'" + std::string(name) + "' must be a whole number from 0 to 4294967295"};
  }
  integers.emplace(std::string(name), number);
}

void check_complete(const Integers& integers, bool have_key, const std::string& path) {
  for (const char* required : {"version", "rotation-seconds", "epoch"}) {
    if (!integers.contains(std::string_view(required))) {
      throw KeyFileError("--keys", path + ": '" + required +
                                       "' is missing (not an ntsd key file, or damaged: restore "
                                       "it from another host or a backup)");
    }
  }
  if (!have_key) {
    throw KeyFileError("--keys", path +
                                     ": 'key' is missing (not an ntsd key file, or damaged: "
                                     "restore it from another host or a backup)");
  }
}

KeyFileState checked_state(const Integers& integers, const KeyBytes& key, const std::string& path) {
  auto version = integers.find("version")->second;
  if (version != kKeyFileVersion) {
    throw KeyFileError("--keys", path + ": format version " + std::to_string(version) +
                                     " is not supported (this ntsd reads version " +
                                     std::to_string(kKeyFileVersion) + ")");
  }
  auto rotation = integers.find("rotation-seconds")->second;
  if (rotation < 1 || rotation > kMaxRotationSeconds) {
    throw KeyFileError("--keys", path + ": rotation-seconds " + std::to_string(rotation) +
                                     " is out of range (1-" + std::to_string(kMaxRotationSeconds) +
                                     ")");
  }
  auto epoch = integers.find("epoch")->second;
  if (epoch >= std::numeric_limits<std::uint32_t>::max()) {
    throw KeyFileError("--keys", path + ": epoch " + std::to_string(epoch) + " is out of range");
  }
  auto master = MasterKey::from_bytes(key);
  return KeyFileState{static_cast<std::uint32_t>(rotation),
                      Ratchet(static_cast<std::uint32_t>(epoch), std::move(*master))};
}

}  // namespace

KeyFileState parse_key_file(std::string_view text, const std::string& path) {
  Integers integers;
  KeyBytes key{};
  bool have_key = false;
  struct Wipe {
    KeyBytes& bytes;
    ~Wipe() { core::secure_wipe(bytes.data(), bytes.size()); }
  } wipe{key};

  std::size_t line_number = 0;
  try {
    while (!text.empty()) {
      ++line_number;
      auto end = text.find('\n');
      std::string_view line = text.substr(0, end);
      text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);

      auto setting = split_setting(line);
      if (!setting) continue;
      if (setting->name == "key") {
        if (have_key) throw LineProblem{"'key' appears twice"};
        parse_key_value(setting->value, key);
        have_key = true;
      } else {
        parse_integer_setting(*setting, integers);
      }
    }
  } catch (const LineProblem& problem) {
    throw KeyFileError("--keys", path + ":" + std::to_string(line_number) + ": " + problem.message +
                                     " (not an ntsd key file, or damaged: restore it from "
                                     "another host or a backup)");
  }
  check_complete(integers, have_key, path);
  return checked_state(integers, key, path);
}

std::optional<KeyFileState> read_key_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) {
    int error = errno;
    if (error == ENOENT) return std::nullopt;
    if (error == ELOOP) {
      throw KeyFileError("--keys", path + " is a symbolic link: give the path of the file itself");
    }
    throw KeyFileError("--keys", "cannot open " + path + ": " + errno_text(error));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    throw KeyFileError("--keys", "cannot stat " + path + ": " + errno_text(errno));
  }
  if (!S_ISREG(st.st_mode)) throw KeyFileError("--keys", path + " is not a regular file");
  if ((st.st_mode & 077) != 0) {
    throw KeyFileError("--keys", path + " is accessible by group or others (mode " +
                                     mode_text(st.st_mode) +
                                     "): it holds the cookie keys; run chmod 600 " + path);
  }
  if (st.st_size > static_cast<off_t>(kMaxKeyFileSize)) {
    throw KeyFileError("--keys", path + " is " + std::to_string(st.st_size) +
                                     " bytes, too large for an ntsd key file");
  }

  // Read into a buffer that is wiped on every way out.
  std::vector<char> buffer(kMaxKeyFileSize + 1);
  struct Wipe {
    std::vector<char>& bytes;
    ~Wipe() { core::secure_wipe(bytes.data(), bytes.size()); }
  } wipe{buffer};
  std::size_t size = 0;
  while (size < buffer.size()) {
    ssize_t n = ::read(fd.get(), buffer.data() + size, buffer.size() - size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw KeyFileError("--keys", "cannot read " + path + ": " + errno_text(errno));
    }
    if (n == 0) break;
    size += static_cast<std::size_t>(n);
  }
  if (size > kMaxKeyFileSize) {
    throw KeyFileError("--keys", path + " is too large for an ntsd key file");
  }
  return parse_key_file({buffer.data(), size}, path);
}

void write_key_file(const std::string& path, const KeyFileState& state) {
  SecretText text(1024);
  format_key_file(state, text);

  std::string dir = directory_of(path);
  std::string temp = path + ".tmp.XXXXXX";
  std::vector<char> temp_name(temp.begin(), temp.end());
  temp_name.push_back('\0');
  Fd out(::mkostemp(temp_name.data(), O_CLOEXEC));  // mode 0600
  if (out.get() < 0) {
    throw KeyFileError("--keys", "cannot create a file in " + dir + " to write " + path + ": " +
                                     errno_text(errno));
  }
  temp.assign(temp_name.data());
  auto abandon = [&](const std::string& what, int error) {
    out.reset();
    ::unlink(temp.c_str());
    return KeyFileError("--keys", what + " " + temp + ": " + errno_text(error));
  };
  if (::fchmod(out.get(), S_IRUSR | S_IWUSR) != 0) throw abandon("cannot chmod", errno);
  if (!write_all(out.get(), text.str().data(), text.str().size()))
    throw abandon("cannot write", errno);
  if (::fsync(out.get()) != 0) throw abandon("cannot fsync", errno);
  if (::close(out.release()) != 0) {
    int error = errno;
    ::unlink(temp.c_str());
    throw KeyFileError("--keys", "cannot write " + temp + ": " + errno_text(error));
  }

  // Keep a descriptor on the previous file so its blocks can be zeroed once the
  // new file has replaced it under its name.
  Fd previous(::open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    int error = errno;
    ::unlink(temp.c_str());
    throw KeyFileError("--keys",
                       "cannot rename " + temp + " to " + path + ": " + errno_text(error));
  }
  Fd directory(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (directory.get() >= 0) ::fsync(directory.get());
  if (previous.get() >= 0) zero_fill(previous.get());
}

}  // namespace ntsd::keys

namespace ntsd::keys {

std::size_t remove_stale_temp_files(const std::string& path) {
  const std::string dir = directory_of(path);
  const auto slash = path.find_last_of('/');
  const std::string prefix = (slash == std::string::npos ? path : path.substr(slash + 1)) + ".tmp.";
  std::unique_ptr<DIR, int (*)(DIR*)> listing(::opendir(dir.c_str()), ::closedir);
  if (!listing) return 0;
  std::size_t removed = 0;
  const int dir_fd = ::dirfd(listing.get());
  while (const dirent* entry = ::readdir(listing.get())) {
    const std::string_view name(entry->d_name);
    // mkostemp's suffix: exactly six characters.
    if (name.size() != prefix.size() + 6 || !name.starts_with(prefix)) continue;
    struct stat st {};
    if (::fstatat(dir_fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
      continue;
    }
    if (::unlinkat(dir_fd, entry->d_name, 0) == 0) ++removed;
  }
  return removed;
}

}  // namespace ntsd::keys
