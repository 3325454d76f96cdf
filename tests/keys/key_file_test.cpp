// The key file: format, strict parsing, permissions, atomic replacement, wiping.
#include "keys/key_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "support/key_file_error.h"
#include "support/temp_dir.h"

namespace ntsd::keys {
namespace {

using test_support::slurp;
using test_support::TempDir;
constexpr auto& error_of = test_support::key_file_error_of;

namespace fs = std::filesystem;

void spit(const std::string& path, const std::string& text, mode_t mode = 0600) {
  { std::ofstream(path, std::ios::binary | std::ios::trunc) << text; }
  ::chmod(path.c_str(), mode);
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  ::lstat(path.c_str(), &st);
  return st.st_mode & 07777;
}

KeyFileState sample_state(std::uint32_t epoch = 19000) {
  core::SystemRandom random;
  return KeyFileState{86400, Ratchet(epoch, MasterKey::random(random))};
}

std::string valid_text() {
  return "version = 1\nrotation-seconds = 60\nepoch = 7\n"
         "key = \"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"\n";
}

TEST(KeyFile, FormatThenParseRoundTrips) {
  auto state = sample_state(123456);
  SecretText text(1024);
  format_key_file(state, text);
  auto parsed = parse_key_file(text.str(), "k.toml");
  EXPECT_EQ(parsed.rotation_seconds, 86400U);
  EXPECT_EQ(parsed.ratchet.epoch(), 123456U);
  EXPECT_TRUE(parsed.ratchet.key() == state.ratchet.key());
  EXPECT_NE(text.str().find("version = 1\n"), std::string::npos);
}

TEST(KeyFile, ParsesTheDocumentedShape) {
  auto parsed = parse_key_file("# comment\n\n" + valid_text() + "  # trailing comment\n", "k");
  EXPECT_EQ(parsed.rotation_seconds, 60U);
  EXPECT_EQ(parsed.ratchet.epoch(), 7U);
  std::array<std::uint8_t, 32> expected{};
  for (std::size_t i = 0; i < 32; ++i) expected[i] = static_cast<std::uint8_t>(i);
  EXPECT_TRUE(parsed.ratchet.key() == *MasterKey::from_bytes(expected));
  // Upper-case hex and a comment after a number are fine.
  auto upper = parse_key_file(
      "version = 1 # v\nrotation-seconds = 60\nepoch = 7\n"
      "key = \"000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F\"\n",
      "k");
  EXPECT_TRUE(upper.ratchet.key() == parsed.ratchet.key());
}

TEST(KeyFile, CorruptionIsAClearErrorNamingTheFileAndLine) {
  const std::string key_line =
      "key = \"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"\n";
  struct Case {
    std::string text;
    std::string expect;  // in the message
  };
  for (const auto& c : std::vector<Case>{
           {"", "'version' is missing"},
           {"\x7f"
            "ELF\x02\x01\x01",
            "k.toml:1: expected NAME = VALUE"},
           {"version = 1\nrotation-seconds = 60\nepoch = 7\n", "'key' is missing"},
           {"version = 1\nrotation-seconds = 60\n" + key_line, "'epoch' is missing"},
           {"version = 2\nrotation-seconds = 60\nepoch = 7\n" + key_line, "format version 2"},
           {"version = 1\nrotation-seconds = 0\nepoch = 7\n" + key_line, "rotation-seconds 0"},
           {"version = 1\nrotation-seconds = 60\nepoch = -7\n" + key_line,
            "k.toml:3: 'epoch' must be"},
           {"version = 1\nrotation-seconds = 60\nepoch = 4294967295\n" + key_line, "out of range"},
           {"version = 1\nrotation-seconds = 60\nepoch = 7\nepoch = 8\n" + key_line,
            "k.toml:4: 'epoch' appears twice"},
           {"version = 1\nrotation-seconds = 60\nepoch = 7\nkey = \"00\"\n", "64 hex digits"},
           {"version = 1\nrotation-seconds = 60\nepoch = 7\n"
            "key = \"zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"\n",
            "not a hex digit"},
           {"version = 1\nrotation-seconds = 60\nepoch = 7\n"
            "key = \"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e\n",
            "missing closing quote"},
           {"version = 1\nrotation-seconds = 60\nepoch = 7\nkey = 12\n", "quoted string"},
           {valid_text() + "owner = 1\n", "k.toml:5: unknown setting 'owner'"},
       }) {
    auto [setting, message] = error_of([&] { parse_key_file(c.text, "k.toml"); });
    EXPECT_EQ(setting, "--keys") << c.text;
    EXPECT_NE(message.find(c.expect), std::string::npos) << "message: " << message;
  }
}

TEST(KeyFile, MissingFileIsNotAnError) {
  TempDir dir;
  EXPECT_FALSE(read_key_file(dir.file("absent.toml")));
}

TEST(KeyFile, ReadsWhatWriteWrote) {
  TempDir dir;
  auto path = dir.file("keys.toml");
  auto state = sample_state();
  write_key_file(path, state);
  EXPECT_EQ(mode_of(path), 0600U);
  auto read = read_key_file(path);
  ASSERT_TRUE(read);
  EXPECT_EQ(read->ratchet.epoch(), state.ratchet.epoch());
  EXPECT_TRUE(read->ratchet.key() == state.ratchet.key());
  // Nothing but the file itself is left in the directory.
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1U);
}

TEST(KeyFile, GroupOrOtherAccessIsRefusedAndTheFileUntouched) {
  TempDir dir;
  auto path = dir.file("keys.toml");
  for (mode_t mode : {0640, 0604, 0660, 0620, 0602}) {
    spit(path, valid_text(), mode);
    auto [setting, message] = error_of([&] { (void)read_key_file(path); });
    EXPECT_EQ(setting, "--keys") << std::oct << mode;
    EXPECT_NE(message.find("accessible by group or others"), std::string::npos) << message;
    EXPECT_NE(message.find("chmod 600"), std::string::npos) << message;
    EXPECT_EQ(slurp(path), valid_text());
    EXPECT_EQ(mode_of(path), mode);
  }
  spit(path, valid_text(), 0400);  // read-only for the owner is fine
  EXPECT_TRUE(read_key_file(path));
}

TEST(KeyFile, SymlinksAndDirectoriesAreRefused) {
  TempDir dir;
  auto target = dir.file("real.toml");
  spit(target, valid_text());
  auto link = dir.file("link.toml");
  fs::create_symlink(target, link);
  auto [setting, message] = error_of([&] { (void)read_key_file(link); });
  EXPECT_EQ(setting, "--keys");
  EXPECT_NE(message.find("symbolic link"), std::string::npos) << message;

  auto [dir_setting, dir_message] = error_of([&] { (void)read_key_file(dir.path()); });
  EXPECT_EQ(dir_setting, "--keys");
  EXPECT_FALSE(dir_message.empty());
}

TEST(KeyFile, ReplacingWipesThePreviousContents) {
  TempDir dir;
  auto path = dir.file("keys.toml");
  write_key_file(path, sample_state(1));
  auto before = slurp(path);
  // A reader that opened the old file keeps its inode: after the rewrite that
  // inode holds zeros, not the old key.
  int old_fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(old_fd, 0);
  write_key_file(path, sample_state(2));
  std::string old_contents(before.size(), 'x');
  ASSERT_EQ(::pread(old_fd, old_contents.data(), old_contents.size(), 0),
            static_cast<ssize_t>(before.size()));
  ::close(old_fd);
  EXPECT_EQ(old_contents, std::string(before.size(), '\0'));
  EXPECT_EQ(read_key_file(path)->ratchet.epoch(), 2U);
}

TEST(KeyFile, AHardLinkedCopyIsNotWiped) {
  TempDir dir;
  auto path = dir.file("keys.toml");
  write_key_file(path, sample_state(1));
  auto before = slurp(path);
  auto backup = dir.file("backup.toml");
  fs::create_hard_link(path, backup);
  write_key_file(path, sample_state(2));
  EXPECT_EQ(slurp(backup), before);
}

TEST(KeyFile, WriteIntoAMissingDirectoryFailsCleanly) {
  TempDir dir;
  auto [setting, message] =
      error_of([&] { write_key_file(dir.file("no/such/keys.toml"), sample_state()); });
  EXPECT_EQ(setting, "--keys");
  EXPECT_NE(message.find("cannot create"), std::string::npos) << message;
}

TEST(KeyFile, SecretTextNeverReallocates) {
  SecretText text(40);
  const std::string full(text.capacity(), 'k');
  text.append(full);
  EXPECT_THROW(text.append("9"), std::length_error);
  EXPECT_EQ(text.str(), full);
}

}  // namespace
}  // namespace ntsd::keys
