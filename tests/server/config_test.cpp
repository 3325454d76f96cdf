#include "server/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace ntsd::server {
namespace {

Invocation parse(std::vector<std::string> args) {
  args.insert(args.begin(), "ntsd");
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  return parse_invocation(static_cast<int>(argv.size()), argv.data());
}

// Runs parse() and returns the setting the ConfigError named ("" when none).
std::string failing_setting(std::vector<std::string> args) {
  try {
    parse(std::move(args));
  } catch (const ConfigError& error) {
    return error.setting();
  }
  return "";
}

class TempFile {
 public:
  explicit TempFile(const std::string& contents) {
    char name[] = "/tmp/ntsd-config-test-XXXXXX";
    int fd = mkstemp(name);
    path_ = name;
    close(fd);
    std::ofstream(path_) << contents;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(Config, DefaultsListenOnAllAddressesOnStandardPorts) {
  auto config = parse({}).config;
  ASSERT_EQ(config.ke_listen.size(), 2U);
  EXPECT_EQ(config.ke_listen[0].to_string(), "0.0.0.0:4460");
  EXPECT_EQ(config.ke_listen[1].to_string(), "[::]:4460");
  ASSERT_EQ(config.ntp_listen.size(), 2U);
  EXPECT_EQ(config.ntp_listen[0].port(), 123);
  EXPECT_FALSE(advertised_ntp_port(config));
}

TEST(Config, FlagsAreRepeatableAndParsed) {
  auto config = parse({"--ke-listen", "127.0.0.1:1", "--ke-listen", "[::1]:2", "--ntp-listen",
                       "127.0.0.1:3", "--stratum", "2", "--refid", "GPS", "--ntp-server",
                       "time.example", "--ntp-port", "1234"})
                    .config;
  ASSERT_EQ(config.ke_listen.size(), 2U);
  EXPECT_EQ(config.ke_listen[1].to_string(), "[::1]:2");
  EXPECT_EQ(config.stratum, 2);
  EXPECT_EQ(config.reference_id, (core::ReferenceId{'G', 'P', 'S', 0}));
  EXPECT_EQ(config.ntp_server, "time.example");
  EXPECT_EQ(advertised_ntp_port(config), 1234);
}

TEST(Config, AdvertisesOwnNtpPortWhenNotStandard) {
  auto config = parse({"--ntp-listen", "127.0.0.1:4123"}).config;
  EXPECT_EQ(advertised_ntp_port(config), 4123);
}

TEST(Config, NoOwnPortAdvertisedForAnotherServer) {
  auto config = parse({"--ntp-listen", "127.0.0.1:4123", "--ntp-server", "other.example"}).config;
  EXPECT_FALSE(advertised_ntp_port(config));
}

TEST(Config, RefidAcceptsIpv4) {
  auto config = parse({"--refid", "192.0.2.1"}).config;
  EXPECT_EQ(config.reference_id, (core::ReferenceId{192, 0, 2, 1}));
}

TEST(Config, BadFlagValuesNameTheSetting) {
  EXPECT_EQ(failing_setting({"--ke-listen", "localhost:4460"}), "--ke-listen");
  EXPECT_EQ(failing_setting({"--ntp-listen", "1.2.3.4"}), "--ntp-listen");
  EXPECT_EQ(failing_setting({"--stratum", "0"}), "--stratum");
  EXPECT_EQ(failing_setting({"--stratum", "16"}), "--stratum");
  EXPECT_EQ(failing_setting({"--stratum", "two"}), "--stratum");
  EXPECT_EQ(failing_setting({"--refid", "TOOLONG"}), "--refid");
  EXPECT_EQ(failing_setting({"--ntp-port", "0"}), "--ntp-port");
  EXPECT_EQ(failing_setting({"--ntp-port", "70000"}), "--ntp-port");
  EXPECT_EQ(failing_setting({"--time-source", "sundial"}), "--time-source");
  EXPECT_EQ(failing_setting({"--log-level", "loud"}), "--log-level");
  EXPECT_EQ(failing_setting({"--ntp-workers", "0"}), "--ntp-workers");
  EXPECT_EQ(failing_setting({"--no-such-flag"}), "command line");
}

TEST(Config, FileIsReadAndFlagsOverrideIt) {
  TempFile file(R"([tls]
cert = "c.pem"
key = "k.pem"
[nts-ke]
listen = ["127.0.0.1:4460"]
ntp-port = 4123
timeout-ms = 500
[ntp]
listen = ["[::1]:4123"]
workers = 2
[time]
source = "local"
stratum = 3
refid = "ABCD"
[log]
level = "debug"
)");
  auto config = parse({"--config", file.path(), "--stratum", "4"}).config;
  EXPECT_EQ(config.certificate_file, "c.pem");
  EXPECT_EQ(config.private_key_file, "k.pem");
  ASSERT_EQ(config.ke_listen.size(), 1U);
  EXPECT_EQ(config.ntp_listen.front().to_string(), "[::1]:4123");
  EXPECT_EQ(config.ntp_workers, 2U);
  EXPECT_EQ(config.ke_timeout.count(), 500);
  EXPECT_EQ(config.stratum, 4);
  EXPECT_EQ(config.reference_id, (core::ReferenceId{'A', 'B', 'C', 'D'}));
  EXPECT_EQ(config.log_level, "debug");
  EXPECT_EQ(advertised_ntp_port(config), 4123);
}

TEST(Config, FileErrorsNameTheKey) {
  struct Case {
    const char* toml;
    const char* setting;
  };
  for (const auto& c : std::vector<Case>{
           {"[tls]\ncertificate = \"x\"\n", "tls.certificate"},
           {"[nts-ke]\nlisten = \"127.0.0.1:1\"\n", "nts-ke.listen"},
           {"[nts-ke]\nlisten = [\"nowhere\"]\n", "nts-ke.listen"},
           {"[nts-ke]\nntp-port = 0\n", "nts-ke.ntp-port"},
           {"[time]\nstratum = \"1\"\n", "time.stratum"},
           {"[time]\nstratum = 99\n", "time.stratum"},
           {"[ntp]\nworkers = 0\n", "ntp.workers"},
           {"[clock]\n", "clock"},
           {"[tls\n", "--config"},
       }) {
    TempFile file(c.toml);
    EXPECT_EQ(failing_setting({"--config", file.path()}), c.setting) << c.toml;
  }
}

TEST(Config, UnreadableConfigFile) {
  EXPECT_EQ(failing_setting({"--config", "/nonexistent/ntsd.toml"}), "--config");
}

TEST(Config, ValidateRequiresReadableCertificateAndKey) {
  auto config = parse({"--ke-listen", "127.0.0.1:1"}).config;
  try {
    validate(config);
    FAIL() << "no certificate accepted";
  } catch (const ConfigError& error) {
    EXPECT_EQ(error.setting(), "--cert");
  }
  config.certificate_file = "/nonexistent/cert.pem";
  config.private_key_file = "/nonexistent/key.pem";
  try {
    validate(config);
    FAIL() << "missing certificate file accepted";
  } catch (const ConfigError& error) {
    EXPECT_EQ(error.setting(), "--cert");
  }
}

}  // namespace
}  // namespace ntsd::server
