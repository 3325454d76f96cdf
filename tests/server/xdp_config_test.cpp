// --xdp and --xdp-mode, and their TOML keys ntp.xdp and ntp.xdp-mode.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "server/config.h"
#include "support/invocation.h"

namespace ntsd::server {
namespace {

Invocation parse(std::vector<std::string> args) {
  return test_support::invocation(std::move(args));
}

std::string failing_setting(const std::vector<std::string>& args) {
  return test_support::config_error_setting([&] { validate(parse(args).config); });
}

std::string write_file(const std::string& contents) {
  char name[] = "/tmp/ntsd-xdp-config-test-XXXXXX";
  const int fd = mkstemp(name);
  close(fd);
  std::ofstream(name) << contents;
  return name;
}

TEST(XdpConfig, OffByDefault) {
  auto config = parse({}).config;
  EXPECT_FALSE(config.xdp.enabled());
  EXPECT_EQ(config.xdp.mode, XdpMode::Auto);
}

TEST(XdpConfig, FlagsAreRepeatable) {
  auto config = parse({"--xdp", "eth0", "--xdp", "eth1", "--xdp-mode", "generic"}).config;
  EXPECT_EQ(config.xdp.interfaces, (std::vector<std::string>{"eth0", "eth1"}));
  EXPECT_EQ(config.xdp.mode, XdpMode::Generic);
  EXPECT_EQ(parse({"--xdp-mode", "native"}).config.xdp.mode, XdpMode::Native);
}

TEST(XdpConfig, FileSetsThemAndFlagsOverride) {
  const auto path = write_file("[ntp]\nxdp = [\"veth0\"]\nxdp-mode = \"native\"\n");
  auto config = parse({"--config", path}).config;
  EXPECT_EQ(config.xdp.interfaces, std::vector<std::string>{"veth0"});
  EXPECT_EQ(config.xdp.mode, XdpMode::Native);
  config = parse({"--config", path, "--xdp", "eth2", "--xdp-mode", "auto"}).config;
  EXPECT_EQ(config.xdp.interfaces, std::vector<std::string>{"eth2"});
  EXPECT_EQ(config.xdp.mode, XdpMode::Auto);
  std::filesystem::remove(path);
}

TEST(XdpConfig, GoesWithSeccomp) {
  const auto config = parse({"--xdp", "eth0", "--seccomp", "on"}).config;
  EXPECT_TRUE(config.seccomp);
  EXPECT_EQ(config.xdp.interfaces, std::vector<std::string>{"eth0"});
}

TEST(XdpConfig, BadValuesNameTheSetting) {
  EXPECT_EQ(failing_setting({"--xdp-mode", "fast"}), "--xdp-mode");
  EXPECT_EQ(failing_setting({"--xdp", "a-name-far-too-long-for-linux"}), "--xdp");
  EXPECT_EQ(failing_setting({"--xdp", "a/b"}), "--xdp");
  EXPECT_EQ(failing_setting({"--xdp", "eth0", "--ntp-listen", "none"}), "--xdp");
  const auto path = write_file("[ntp]\nxdp-mode = \"turbo\"\n");
  EXPECT_NE(failing_setting({"--config", path}).find("xdp-mode"), std::string::npos);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace ntsd::server
