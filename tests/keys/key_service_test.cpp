// The key service with a fake clock: creation, loading, restart safety, stale and
// future files, rotation rewriting the file, errors leaving the file untouched.
#include "keys/key_service.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/cookie.h"
#include "core/nts_keys.h"
#include "support/key_file_error.h"
#include "support/temp_dir.h"

namespace ntsd::keys {
namespace {

using test_support::slurp;
using test_support::TempDir;

namespace fs = std::filesystem;

constexpr std::uint32_t kRotation = 60;
constexpr std::uint32_t kKept = 2;
constexpr std::int64_t kT0 = 1'700'000'000;  // 20 s into epoch kE0 of a 60 s rotation
constexpr std::uint32_t kE0 = kT0 / kRotation;

// path: none for keys in memory only.
KeySettings settings_for(std::optional<std::string> path, std::uint32_t rotation = kRotation,
                         std::uint32_t kept = kKept) {
  KeySettings s;
  s.file = path;
  s.rotation_seconds = rotation;
  s.kept = kept;
  return s;
}

core::Bytes mint(const KeyService& service) {
  core::SystemRandom random;
  std::array<std::uint8_t, 32> c2s{};
  std::array<std::uint8_t, 32> s2c{};
  c2s.fill(0x33);
  s2c.fill(0x44);
  auto keys = *core::NtsKeys::create(core::AeadAlgorithm::AesSivCmac256, c2s, s2c);
  core::Bytes cookie(core::cookie_length(keys.algorithm()));
  core::seal_cookie(service.published().load()->current(), keys, random, cookie);
  return cookie;
}

// Running `start` is refused with a KeyFileError naming `setting`, with `part` in its
// message, and leaves the file at `path` as it was.
void expect_refused_leaving_file(const std::string& path, const std::function<void()>& start,
                                 const std::string& setting, const std::string& part) {
  const auto before = slurp(path);
  auto [got, message] = test_support::key_file_error_of(start);
  EXPECT_EQ(got, setting);
  EXPECT_NE(message.find(part), std::string::npos) << message;
  EXPECT_EQ(slurp(path), before);
}

bool opens(const KeyService& service, const core::Bytes& cookie) {
  auto opened = core::open_cookie(*service.published().load(), cookie);
  return opened.keys && opened.keys->c2s()[0] == 0x33;
}

TEST(KeyService, CreatesTheFileOnFirstStart) {
  TempDir dir;
  auto path = dir.file("keys.toml");
  core::SystemRandom random;
  KeyService service(settings_for(path), kT0, random);
  EXPECT_TRUE(service.created_file());
  EXPECT_EQ(service.current_epoch(), kE0);
  EXPECT_EQ(service.oldest_epoch(), kE0);  // no key existed before this one
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600U);
  auto state = read_key_file(path);
  ASSERT_TRUE(state);
  EXPECT_EQ(state->ratchet.epoch(), kE0);
  EXPECT_EQ(state->rotation_seconds, kRotation);
  auto cookie = mint(service);
  EXPECT_EQ(core::load_be32(cookie.data()), kE0);
}

TEST(KeyService, MemoryOnlyKeysTouchNoFile) {
  core::SystemRandom random;
  const KeySettings settings = settings_for(std::nullopt);
  KeyService a(settings, kT0, random);
  KeyService b(settings, kT0, random);
  EXPECT_FALSE(a.created_file());
  // Two starts without a file do not share keys: a restart means NAKs.
  EXPECT_FALSE(opens(b, mint(a)));
  EXPECT_TRUE(opens(a, mint(a)));
}

TEST(KeyService, ARestartAcceptsEveryCookieAcceptedBefore) {
  TempDir dir;
  auto path = dir.file("keys.toml");
  core::SystemRandom random;
  std::vector<core::Bytes> cookies;
  {
    KeyService before(settings_for(path), kT0, random);
    cookies.push_back(mint(before));
    before.rotate(kT0 + kRotation);
    cookies.push_back(mint(before));
    before.rotate(kT0 + 2 * kRotation);
    cookies.push_back(mint(before));
    for (const auto& c : cookies) ASSERT_TRUE(opens(before, c));
  }
  KeyService after(settings_for(path), kT0 + 2 * kRotation + 1, random);
  EXPECT_FALSE(after.created_file());
  for (const auto& c : cookies) EXPECT_TRUE(opens(after, c)) << core::load_be32(c.data());
}

TEST(KeyService, RotationRewritesTheFileAndForgetsOldKeys) {
  TempDir dir;
  auto path = dir.file("keys.toml");
  core::SystemRandom random;
  KeyService service(settings_for(path), kT0, random);
  auto first = mint(service);
  auto original = slurp(path);

  EXPECT_FALSE(service.rotate(kT0 + 1));  // same epoch: nothing happens
  for (std::uint32_t step = 1; step <= kKept; ++step) {
    EXPECT_TRUE(service.rotate(kT0 + step * kRotation));
    EXPECT_TRUE(opens(service, first)) << step;
    EXPECT_EQ(read_key_file(path)->ratchet.epoch(), kE0);  // window not full yet
  }
  EXPECT_TRUE(service.rotate(kT0 + (kKept + 1) * kRotation));
  EXPECT_FALSE(opens(service, first));
  EXPECT_EQ(service.oldest_epoch(), kE0 + 1);
  auto state = read_key_file(path);
  EXPECT_EQ(state->ratchet.epoch(), kE0 + 1);
  EXPECT_NE(slurp(path), original);
  // The file's key is the original key ratcheted one step: nothing else.
  auto original_state = parse_key_file(original, path);
  original_state.ratchet.advance_to(kE0 + 1);
  EXPECT_TRUE(original_state.ratchet.key() == state->ratchet.key());

  // A jump over several epochs (a suspended host) lands on the right window.
  EXPECT_TRUE(service.rotate(kT0 + 10 * kRotation));
  EXPECT_EQ(service.current_epoch(), kE0 + 10);
  EXPECT_EQ(service.oldest_epoch(), kE0 + 10 - kKept);
  EXPECT_EQ(read_key_file(path)->ratchet.epoch(), kE0 + 10 - kKept);
  // The clock going back changes nothing.
  EXPECT_FALSE(service.rotate(kT0));
  EXPECT_EQ(service.current_epoch(), kE0 + 10);
}

TEST(KeyService, AStaleCopyRatchetsForwardAndAgrees) {
  TempDir dir;
  auto path = dir.file("keys.toml");
  auto stale_copy = dir.file("stale.toml");
  core::SystemRandom random;
  KeyService running(settings_for(path), kT0, random);
  fs::copy_file(path, stale_copy);  // copy_file keeps the 0600 mode
  for (int step = 1; step <= 100; ++step) running.rotate(kT0 + step * kRotation);
  auto cookie = mint(running);

  KeyService late(settings_for(stale_copy), kT0 + 100 * kRotation, random);
  EXPECT_EQ(late.current_epoch(), running.current_epoch());
  EXPECT_EQ(late.oldest_epoch(), running.oldest_epoch());
  EXPECT_TRUE(opens(late, cookie));
  EXPECT_TRUE(opens(running, mint(late)));
  // The stale copy was brought forward on disk: it no longer holds the old key.
  EXPECT_EQ(slurp(stale_copy), slurp(path));
}

TEST(KeyService, ADifferentRotationIsRefusedAndTheFileUntouched) {
  TempDir dir;
  auto path = dir.file("keys.toml");
  core::SystemRandom random;
  { KeyService first(settings_for(path), kT0, random); }
  expect_refused_leaving_file(
      path,
      [&] { KeyService other(settings_for(path, kRotation * 2), kT0 + 10 * kRotation, random); },
      "--key-rotation", "rotation of 60 s");
}

TEST(KeyService, AFileFromTheFutureIsRefused) {
  TempDir dir;
  auto path = dir.file("keys.toml");
  core::SystemRandom random;
  { KeyService first(settings_for(path), kT0 + 5 * kRotation, random); }
  expect_refused_leaving_file(
      path, [&] { KeyService past(settings_for(path), kT0, random); }, "--keys",
      "later than the current epoch");
}

TEST(KeyService, CorruptOrExposedFilesAreRefusedAndLeftAlone) {
  TempDir dir;
  auto path = dir.file("keys.toml");
  core::SystemRandom random;
  { KeyService first(settings_for(path), kT0, random); }
  const auto good = slurp(path);

  // Truncated in the middle of the key.
  auto truncated = good.substr(0, good.size() - 20);
  { std::ofstream(path, std::ios::trunc) << truncated; }
  const auto start = [&] { KeyService s(settings_for(path), kT0 + 5 * kRotation, random); };
  expect_refused_leaving_file(path, start, "--keys", path);

  // Readable by others.
  { std::ofstream(path, std::ios::trunc) << good; }
  ::chmod(path.c_str(), 0644);
  expect_refused_leaving_file(path, start, "--keys", "mode 0644");
  struct stat st {};
  ::stat(path.c_str(), &st);
  EXPECT_EQ(st.st_mode & 07777, 0644U);
}

TEST(KeyService, TheThreadRotatesAtTheBoundary) {
  // Real clock, 1 s rotation: within ~2.5 s the thread must have rotated at least once.
  TempDir dir;
  auto path = dir.file("keys.toml");
  core::SystemRandom random;
  KeyService service(settings_for(path, 1, 2), unix_now(), random);
  auto start_epoch = service.current_epoch();
  auto generation = service.published().generation();
  service.start();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(2500);
  while (service.current_epoch() == start_epoch && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  service.stop();
  EXPECT_GT(service.current_epoch(), start_epoch);
  EXPECT_GT(service.published().generation(), generation);
}

TEST(KeyServiceSteps, AStepOfDaysRatchetsInBoundedPasses) {
  core::SystemRandom random;
  KeyService service(settings_for(std::nullopt, 1, 1), kT0, random);
  const auto before = service.published().load()->current().id().value;
  const std::int64_t later = kT0 + 2 * 86400;  // 172800 epochs at a 1 s rotation
  int passes = 0;
  while (!service.rotate(later)) {
    ++passes;
    ASSERT_LT(passes, 100);
    // The keys in force stay in use until the ratchet has caught up.
    EXPECT_EQ(service.published().load()->current().id().value, before);
  }
  EXPECT_EQ(passes, static_cast<int>((2 * 86400 - 1) / KeyService::kMaxStepsPerPass));
  EXPECT_EQ(service.current_epoch(), static_cast<std::uint32_t>(later));
  EXPECT_EQ(service.oldest_epoch(), static_cast<std::uint32_t>(later - 1));
}

TEST(KeyServiceSteps, AStepBackKeepsMintingOnTheNewestKey) {
  core::SystemRandom random;
  KeyService service(settings_for(std::nullopt, 60, 2), kT0, random);
  ASSERT_TRUE(service.rotate(kT0 + 120));
  const auto ring = service.published().load();
  EXPECT_FALSE(service.rotate(kT0 - 3 * 3600));  // three hours back
  EXPECT_EQ(service.published().load(), ring);   // same keys, same minting key
  EXPECT_EQ(service.current_epoch(), kE0 + 2);
  // Catching up again rotates normally, from the newest key.
  EXPECT_FALSE(service.rotate(kT0 + 130));
  EXPECT_TRUE(service.rotate(kT0 + 180));
  EXPECT_EQ(service.current_epoch(), kE0 + 3);
}

}  // namespace
}  // namespace ntsd::keys
