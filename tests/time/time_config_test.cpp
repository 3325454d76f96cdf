// The time settings: flags and TOML keys of issue #3.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "server/config.h"
#include "support/invocation.h"

namespace ntsd::server {
namespace {

Config parse(std::vector<std::string> args) {
  return test_support::invocation(std::move(args)).config;
}

std::string write_file(const std::string& name, const std::string& content) {
  std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << content;
  return path;
}

TEST(TimeConfig, Defaults) {
  auto c = parse({});
  EXPECT_EQ(c.time_source, TimeSourceKind::Local);
  EXPECT_TRUE(c.upstreams.empty());
  EXPECT_EQ(c.unsync_after_seconds, 600u);
  EXPECT_FALSE(c.leap_file);
  EXPECT_TRUE(c.interleaved);
  EXPECT_TRUE(c.answer_unsynchronised);
}

TEST(TimeConfig, Flags) {
  auto c = parse({"--time-source", "upstream", "--upstream", "127.0.0.1:11123", "--upstream",
                  "nts:time.example.net", "--upstream", "[::1]", "--unsync-after", "5",
                  "--leap-file", "/usr/share/zoneinfo/leap-seconds.list", "--interleaved", "off",
                  "--unsynchronised", "drop", "--max-error-ms", "250"});
  EXPECT_EQ(c.time_source, TimeSourceKind::Upstream);
  ASSERT_EQ(c.upstreams.size(), 3u);
  EXPECT_EQ(c.upstreams[0], (UpstreamEntry{false, "127.0.0.1", 11123}));
  EXPECT_EQ(c.upstreams[1], (UpstreamEntry{true, "time.example.net", 4460}));
  EXPECT_EQ(c.upstreams[2], (UpstreamEntry{false, "::1", 123}));
  EXPECT_EQ(c.unsync_after_seconds, 5u);
  EXPECT_EQ(c.leap_file, std::optional<std::string>("/usr/share/zoneinfo/leap-seconds.list"));
  EXPECT_FALSE(c.interleaved);
  EXPECT_FALSE(c.answer_unsynchronised);
  EXPECT_EQ(c.max_error_ms, 250u);
}

TEST(TimeConfig, TomlKeys) {
  auto path = write_file("time.toml", R"(
[ntp]
interleaved = false
[time]
source = "kernel"
stratum = 1
refid = "GPS"
unsync-after = 90
leap-file = "/usr/share/zoneinfo/leap-seconds.list"
max-error-ms = 500
unsynchronised = "drop"
)");
  auto c = parse({"--config", path});
  EXPECT_EQ(c.time_source, TimeSourceKind::Kernel);
  EXPECT_FALSE(c.interleaved);
  EXPECT_EQ(c.unsync_after_seconds, 90u);
  EXPECT_EQ(c.max_error_ms, 500u);
  EXPECT_FALSE(c.answer_unsynchronised);
  // A flag overrides the file.
  EXPECT_TRUE(parse({"--config", path, "--interleaved", "on"}).interleaved);

  auto upstream = write_file("upstream.toml", R"(
[time]
source = "upstream"
upstreams = ["127.0.0.1:123", "nts:ntp.example.org:4461"]
)");
  auto u = parse({"--config", upstream});
  ASSERT_EQ(u.upstreams.size(), 2u);
  EXPECT_EQ(u.upstreams[1], (UpstreamEntry{true, "ntp.example.org", 4461}));
}

TEST(TimeConfig, BadValuesNameTheSetting) {
  auto setting_of = [](std::vector<std::string> args) -> std::string {
    try {
      auto c = parse(std::move(args));
      validate(c);
    } catch (const ConfigError& e) {
      return e.setting();
    }
    return "(accepted)";
  };
  EXPECT_EQ(setting_of({"--time-source", "gps"}), "--time-source");
  EXPECT_EQ(setting_of({"--upstream", "nts:"}), "--upstream");
  EXPECT_EQ(setting_of({"--unsync-after", "0"}), "--unsync-after");
  EXPECT_EQ(setting_of({"--unsync-after", "soon"}), "--unsync-after");
  EXPECT_EQ(setting_of({"--interleaved", "yes"}), "--interleaved");
  EXPECT_EQ(setting_of({"--unsynchronised", "maybe"}), "--unsynchronised");
  EXPECT_EQ(setting_of({"--ke-listen", "none", "--time-source", "upstream"}), "--upstream");
  EXPECT_EQ(setting_of({"--ke-listen", "none", "--upstream", "127.0.0.1"}), "--upstream");
  EXPECT_EQ(setting_of({"--ke-listen", "none", "--leap-file", "/nonexistent"}), "--leap-file");
  auto bad = write_file("bad.toml", "[ntp]\ninterleaved = \"on\"\n");
  EXPECT_EQ(setting_of({"--config", bad}), "ntp.interleaved");
  EXPECT_EQ(setting_of({"--upstream-offset-margin-ms", "60001"}), "--upstream-offset-margin-ms");
  EXPECT_EQ(setting_of({"--upstream-offset-margin-ms", "-1"}), "--upstream-offset-margin-ms");
}

TEST(TimeConfig, UpstreamOffsetMargin) {
  EXPECT_EQ(parse({}).upstream_offset_margin_ms, 128u);
  EXPECT_EQ(parse({"--upstream-offset-margin-ms", "0"}).upstream_offset_margin_ms, 0u);
  auto path = write_file("margin.toml", "[time]\nupstream-offset-margin-ms = 500\n");
  EXPECT_EQ(parse({"--config", path}).upstream_offset_margin_ms, 500u);
}

TEST(TimeConfig, TxCompensation) {
  EXPECT_TRUE(parse({}).ntp_tx_compensation);
  EXPECT_FALSE(parse({"--ntp-tx-compensation", "off"}).ntp_tx_compensation);
  auto path = write_file("txcomp.toml", "[ntp]\ntx-compensation = false\n");
  EXPECT_FALSE(parse({"--config", path}).ntp_tx_compensation);
  // A flag overrides the file.
  EXPECT_TRUE(parse({"--config", path, "--ntp-tx-compensation", "on"}).ntp_tx_compensation);
  try {
    parse({"--ntp-tx-compensation", "maybe"});
    ADD_FAILURE() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.setting(), "--ntp-tx-compensation");
  }
  auto bad = write_file("txcomp-bad.toml", "[ntp]\ntx-compensation = \"on\"\n");
  try {
    parse({"--config", bad});
    ADD_FAILURE() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.setting(), "ntp.tx-compensation");
  }
}

}  // namespace
}  // namespace ntsd::server
