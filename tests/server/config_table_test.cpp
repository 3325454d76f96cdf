// Each whole-number setting has one range for the TOML key and the flag (the
// table in config.cpp): both accept the same ends and refuse one past them,
// each naming the setting as the operator wrote it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "keys/ratchet.h"
#include "server/config.h"
#include "support/invocation.h"

namespace ntsd::server {
namespace {

struct IntegerSetting {
  const char* flag;
  const char* table;
  const char* key;
  std::int64_t low;
  std::int64_t high;
};

// Written out here, independently of the table, so that a range changed in one
// place only is caught.
const IntegerSetting kIntegerSettings[] = {
    {"--cert-poll", "tls", "poll-seconds", 0, 86400},
    {"--ntp-port", "nts-ke", "ntp-port", 1, 65535},
    {"--ke-max-sessions", "nts-ke", "max-sessions", 1, 1000000},
    {"--ke-rate-limit", "nts-ke", "rate-limit", 0, 1000000},
    {"--ke-rate-burst", "nts-ke", "rate-burst", 1, 1000000},
    {"--ke-threads", "nts-ke", "threads", 1, 256},
    {"--ntp-workers", "ntp", "workers", 1, 256},
    {"--ntp-rate-limit", "ntp", "rate-limit", 0, 10000000},
    {"--ntp-rate-burst", "ntp", "rate-burst", 1, 10000000},
    {"--ntp-rate-prefix-v4", "ntp", "rate-prefix-v4", 1, 32},
    {"--ntp-rate-prefix-v6", "ntp", "rate-prefix-v6", 1, 64},
    {"--stratum", "time", "stratum", 1, 15},
    {"--unsync-after", "time", "unsync-after", 1, 86400},
    {"--max-error-ms", "time", "max-error-ms", 1, 16000},
    {"--log-summary", "log", "summary-seconds", 0, 86400},
    {"--key-rotation", "keys", "rotation-seconds", 1, keys::kMaxRotationSeconds},
    {"--keys-kept", "keys", "kept", 1, keys::kMaxKeysKept},
};

// One file per setting and process, in the test's temporary directory: ctest runs
// each test in its own process, several at once, and they must not share a file.
std::string write_toml(const IntegerSetting& s, std::int64_t value) {
  const std::string path = ::testing::TempDir() + "config_table_" + std::to_string(getpid()) + "_" +
                           s.table + "_" + s.key + ".toml";
  std::ofstream(path) << "[" << s.table << "]\n" << s.key << " = " << value << "\n";
  return path;
}

Config parse(std::vector<std::string> args) {
  return test_support::invocation(std::move(args)).config;
}

// The setting a ConfigError named, or "" when the value was accepted.
std::string refused_by_flag(const IntegerSetting& s, std::int64_t value) {
  return test_support::config_error_setting([&] { parse({s.flag, std::to_string(value)}); });
}

std::string refused_by_file(const IntegerSetting& s, std::int64_t value) {
  return test_support::config_error_setting([&] { parse({"--config", write_toml(s, value)}); });
}

TEST(ConfigTable, FlagAndFileShareEachRange) {
  for (const auto& s : kIntegerSettings) {
    const std::string key = std::string(s.table) + "." + s.key;
    for (auto value : {s.low, s.high}) {
      EXPECT_EQ(refused_by_flag(s, value), "") << s.flag << " " << value;
      EXPECT_EQ(refused_by_file(s, value), "") << key << " " << value;
    }
    for (auto value : {s.low - 1, s.high + 1}) {
      EXPECT_EQ(refused_by_flag(s, value), s.flag) << value;
      EXPECT_EQ(refused_by_file(s, value), key) << value;
    }
  }
}

TEST(ConfigTable, FlagAndFileSetTheSameMember) {
  // A value inside every range but no default, so that a setting that lands in
  // the wrong member (or nowhere) shows.
  const std::int64_t value = 7;
  for (const auto& s : kIntegerSettings) {
    auto from_flag = parse({s.flag, std::to_string(value)});
    auto from_file = parse({"--config", write_toml(s, value)});
    auto defaults = parse({});
    // The members the two set agree on every field this test can see.
    EXPECT_EQ(from_flag.cert_poll_seconds, from_file.cert_poll_seconds) << s.flag;
    EXPECT_EQ(from_flag.ntp_port, from_file.ntp_port) << s.flag;
    EXPECT_EQ(from_flag.ke_max_sessions, from_file.ke_max_sessions) << s.flag;
    EXPECT_EQ(from_flag.ke_rate_limit.rate, from_file.ke_rate_limit.rate) << s.flag;
    EXPECT_EQ(from_flag.ke_rate_limit.burst, from_file.ke_rate_limit.burst) << s.flag;
    EXPECT_EQ(from_flag.ke_threads, from_file.ke_threads) << s.flag;
    EXPECT_EQ(from_flag.ntp_workers, from_file.ntp_workers) << s.flag;
    EXPECT_EQ(from_flag.ntp_rate_limit.rate, from_file.ntp_rate_limit.rate) << s.flag;
    EXPECT_EQ(from_flag.ntp_rate_limit.burst, from_file.ntp_rate_limit.burst) << s.flag;
    EXPECT_EQ(from_flag.ntp_rate_limit.ipv4_prefix, from_file.ntp_rate_limit.ipv4_prefix);
    EXPECT_EQ(from_flag.ntp_rate_limit.ipv6_prefix, from_file.ntp_rate_limit.ipv6_prefix);
    EXPECT_EQ(from_flag.stratum, from_file.stratum) << s.flag;
    EXPECT_EQ(from_flag.unsync_after_seconds, from_file.unsync_after_seconds) << s.flag;
    EXPECT_EQ(from_flag.max_error_ms, from_file.max_error_ms) << s.flag;
    EXPECT_EQ(from_flag.log_summary_seconds, from_file.log_summary_seconds) << s.flag;
    EXPECT_EQ(from_flag.key_rotation_seconds, from_file.key_rotation_seconds) << s.flag;
    EXPECT_EQ(from_flag.keys_kept, from_file.keys_kept) << s.flag;
    // And the setting changed something.
    EXPECT_FALSE(from_flag.cert_poll_seconds == defaults.cert_poll_seconds &&
                 from_flag.ntp_port == defaults.ntp_port &&
                 from_flag.ke_max_sessions == defaults.ke_max_sessions &&
                 from_flag.ke_rate_limit.rate == defaults.ke_rate_limit.rate &&
                 from_flag.ke_rate_limit.burst == defaults.ke_rate_limit.burst &&
                 from_flag.ke_threads == defaults.ke_threads &&
                 from_flag.ntp_workers == defaults.ntp_workers &&
                 from_flag.ntp_rate_limit.rate == defaults.ntp_rate_limit.rate &&
                 from_flag.ntp_rate_limit.burst == defaults.ntp_rate_limit.burst &&
                 from_flag.ntp_rate_limit.ipv4_prefix == defaults.ntp_rate_limit.ipv4_prefix &&
                 from_flag.ntp_rate_limit.ipv6_prefix == defaults.ntp_rate_limit.ipv6_prefix &&
                 from_flag.stratum == defaults.stratum &&
                 from_flag.unsync_after_seconds == defaults.unsync_after_seconds &&
                 from_flag.max_error_ms == defaults.max_error_ms &&
                 from_flag.log_summary_seconds == defaults.log_summary_seconds &&
                 from_flag.key_rotation_seconds == defaults.key_rotation_seconds &&
                 from_flag.keys_kept == defaults.keys_kept)
        << s.flag << " changed nothing";
  }
}

TEST(ConfigTable, FlagsOnlyTakeWholeNumbers) {
  for (const auto& s : kIntegerSettings) {
    try {
      parse({s.flag, "7x"});
      ADD_FAILURE() << s.flag << " accepted 7x";
    } catch (const ConfigError& error) {
      EXPECT_EQ(error.setting(), s.flag);
      EXPECT_NE(std::string(error.what()).find("not a whole number"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace ntsd::server
