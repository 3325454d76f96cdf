#include "server/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/invocation.h"

namespace ntsd::server {
namespace {

Invocation parse(std::vector<std::string> args) {
  return test_support::invocation(std::move(args));
}

// Runs parse() and returns the setting the ConfigError named ("" when none).
std::string failing_setting(std::vector<std::string> args) {
  return test_support::config_error_setting([&] { parse(std::move(args)); });
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

TEST(Config, AllowExpiredCertificateIsOffUnlessSet) {
  EXPECT_FALSE(parse({}).config.allow_expired_certificate);
  EXPECT_TRUE(parse({"--allow-expired-certificate"}).config.allow_expired_certificate);
  TempFile on("[tls]\nallow-expired-certificate = true\n");
  EXPECT_TRUE(parse({"--config", on.path()}).config.allow_expired_certificate);
  TempFile bad("[tls]\nallow-expired-certificate = 1\n");
  EXPECT_EQ(failing_setting({"--config", bad.path()}), "tls.allow-expired-certificate");
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
  ASSERT_EQ(config.ntp_servers.size(), 1U);
  EXPECT_EQ(config.ntp_servers[0], (NtpServerEntry{"time.example", std::nullopt}));
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
  EXPECT_EQ(failing_setting({"--ke-threads", "0"}), "--ke-threads");
  EXPECT_EQ(failing_setting({"--ke-threads", "257"}), "--ke-threads");
  EXPECT_EQ(failing_setting({"--ke-threads", "many"}), "--ke-threads");
  EXPECT_EQ(failing_setting({"--no-such-flag"}), "command line");
  EXPECT_EQ(failing_setting({"--metrics-listen", "localhost:9100"}), "--metrics-listen");
  EXPECT_EQ(failing_setting({"--metrics-listen", "127.0.0.1"}), "--metrics-listen");
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
           {"[nts-ke]\nthreads = 0\n", "nts-ke.threads"},
           {"[nts-ke]\nthreads = 257\n", "nts-ke.threads"},
           {"[nts-ke]\nthreads = \"4\"\n", "nts-ke.threads"},
           {"[clock]\n", "clock"},
           {"[metrics]\nlisten = \"nowhere:9100\"\n", "metrics.listen"},
           {"[metrics]\nlisten = [\"127.0.0.1:9100\"]\n", "metrics.listen"},
           {"[metrics]\nport = 9100\n", "metrics.port"},
           {"[tls\n", "--config"},
       }) {
    TempFile file(c.toml);
    EXPECT_EQ(failing_setting({"--config", file.path()}), c.setting) << c.toml;
  }
}

TEST(Config, KeThreadsDefaultToOnePerCpuAndAreSetByFileOrFlag) {
  EXPECT_EQ(parse({}).config.ke_threads, default_ntp_workers());
  TempFile file("[nts-ke]\nthreads = 3\n");
  EXPECT_EQ(parse({"--config", file.path()}).config.ke_threads, 3U);
  EXPECT_EQ(parse({"--config", file.path(), "--ke-threads", "256"}).config.ke_threads, 256U);
  EXPECT_EQ(parse({"--ke-threads", "1"}).config.ke_threads, 1U);
}

TEST(Config, MetricsAreOffByDefaultAndSetByFlagOrFile) {
  EXPECT_FALSE(parse({}).config.metrics_listen);
  auto flag = parse({"--metrics-listen", "[::1]:9100"}).config;
  ASSERT_TRUE(flag.metrics_listen);
  EXPECT_EQ(flag.metrics_listen->to_string(), "[::1]:9100");
  TempFile file("[metrics]\nlisten = \"127.0.0.1:9100\"\n");
  auto from_file = parse({"--config", file.path()}).config;
  ASSERT_TRUE(from_file.metrics_listen);
  EXPECT_EQ(from_file.metrics_listen->to_string(), "127.0.0.1:9100");
  EXPECT_FALSE(parse({"--config", file.path(), "--metrics-listen", "none"}).config.metrics_listen);
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

TEST(Config, ListenNoneDisablesAListener) {
  auto ntp_only = parse({"--ke-listen", "none", "--ntp-listen", "127.0.0.1:4123"}).config;
  EXPECT_TRUE(ntp_only.ke_listen.empty());
  ASSERT_EQ(ntp_only.ntp_listen.size(), 1U);
  // NTP only: no certificate needed.
  EXPECT_NO_THROW(validate(ntp_only));

  auto ke_only = parse({"--ntp-listen", "none"}).config;
  EXPECT_TRUE(ke_only.ntp_listen.empty());
  EXPECT_EQ(ke_only.ke_listen.size(), 2U);  // the default stays

  EXPECT_EQ(failing_setting({"--ke-listen", "none", "--ke-listen", "127.0.0.1:1"}), "--ke-listen");
  auto neither = parse({"--ke-listen", "none", "--ntp-listen", "none"}).config;
  try {
    validate(neither);
    FAIL() << "a configuration serving nothing was accepted";
  } catch (const ConfigError& error) {
    EXPECT_EQ(error.setting(), "--ke-listen");
  }
}

TEST(Config, ListenNoneInTheFile) {
  TempFile file("[nts-ke]\nlisten = []\n[ntp]\nlisten = [\"none\"]\n");
  auto config = parse({"--config", file.path()}).config;
  EXPECT_TRUE(config.ke_listen.empty());
  EXPECT_TRUE(config.ntp_listen.empty());
  // A flag still overrides the file.
  auto overridden = parse({"--config", file.path(), "--ntp-listen", "127.0.0.1:5"}).config;
  ASSERT_EQ(overridden.ntp_listen.size(), 1U);
  EXPECT_TRUE(overridden.ke_listen.empty());
}

TEST(Config, NtpServerHostAndPort) {
  EXPECT_EQ(parse_ntp_server("time.example"), (NtpServerEntry{"time.example", std::nullopt}));
  EXPECT_EQ(parse_ntp_server("time.example:4123"), (NtpServerEntry{"time.example", 4123}));
  EXPECT_EQ(parse_ntp_server("192.0.2.1:123"), (NtpServerEntry{"192.0.2.1", 123}));
  EXPECT_EQ(parse_ntp_server("[2001:db8::1]:8123"), (NtpServerEntry{"2001:db8::1", 8123}));
  EXPECT_EQ(parse_ntp_server("[2001:db8::1]"), (NtpServerEntry{"2001:db8::1", std::nullopt}));
  EXPECT_EQ(parse_ntp_server("2001:db8::1"), (NtpServerEntry{"2001:db8::1", std::nullopt}));
  EXPECT_FALSE(parse_ntp_server(""));
  EXPECT_FALSE(parse_ntp_server(":123"));
  EXPECT_FALSE(parse_ntp_server("host:"));
  EXPECT_FALSE(parse_ntp_server("host:0"));
  EXPECT_FALSE(parse_ntp_server("host:65536"));
  EXPECT_FALSE(parse_ntp_server("[nothex::zz]:1"));
  EXPECT_FALSE(parse_ntp_server("[::1]x"));
  EXPECT_FALSE(parse_ntp_server("1:2:zz"));
}

TEST(Config, SeveralNtpServersAreAdvertisedWithTheirPorts) {
  auto config =
      parse({"--ntp-server", "a.example:4123", "--ntp-server", "b.example", "--ntp-server",
             "[2001:db8::2]:5123", "--ntp-port", "6123", "--ntp-server-choice", "round-robin"})
          .config;
  EXPECT_EQ(config.server_choice, ServerChoice::RoundRobin);
  auto advertised = advertised_ntp_servers(config);
  ASSERT_EQ(advertised.size(), 3U);
  EXPECT_EQ(advertised[0], (AdvertisedNtpServer{"a.example", 4123}));
  // Without its own port a server gets --ntp-port.
  EXPECT_EQ(advertised[1], (AdvertisedNtpServer{"b.example", 6123}));
  EXPECT_EQ(advertised[2], (AdvertisedNtpServer{"2001:db8::2", 5123}));

  auto no_port = parse({"--ntp-server", "b.example"}).config;
  EXPECT_EQ(advertised_ntp_servers(no_port),
            (std::vector<AdvertisedNtpServer>{{"b.example", std::nullopt}}));
}

TEST(Config, WithoutNtpServerTheOwnPortIsAdvertised) {
  auto config = parse({"--ntp-listen", "127.0.0.1:4123"}).config;
  EXPECT_EQ(config.server_choice, ServerChoice::Hash);
  EXPECT_EQ(advertised_ntp_servers(config),
            (std::vector<AdvertisedNtpServer>{{std::nullopt, 4123}}));
  auto standard = parse({}).config;
  EXPECT_EQ(advertised_ntp_servers(standard),
            (std::vector<AdvertisedNtpServer>{{std::nullopt, std::nullopt}}));
}

TEST(Config, NtpServersInTheFile) {
  TempFile file(R"([nts-ke]
ntp-servers = ["ntp1.example:4123", "ntp2.example"]
server-choice = "round-robin"
ntp-port = 5000
)");
  auto config = parse({"--config", file.path()}).config;
  EXPECT_EQ(config.server_choice, ServerChoice::RoundRobin);
  EXPECT_EQ(advertised_ntp_servers(config),
            (std::vector<AdvertisedNtpServer>{{"ntp1.example", 4123}, {"ntp2.example", 5000}}));
  // The single-server key still works, with a port.
  TempFile single("[nts-ke]\nntp-server = \"ntp3.example:7\"\n");
  EXPECT_EQ(advertised_ntp_servers(parse({"--config", single.path()}).config),
            (std::vector<AdvertisedNtpServer>{{"ntp3.example", 7}}));
  // A flag replaces the file's list.
  auto flags = parse({"--config", file.path(), "--ntp-server", "x.example"}).config;
  ASSERT_EQ(flags.ntp_servers.size(), 1U);
  EXPECT_EQ(flags.ntp_servers[0].host, "x.example");
}

TEST(Config, KeySettingsDefaultsFlagsAndFile) {
  auto defaults = parse({}).config;
  EXPECT_FALSE(defaults.keys_file);
  EXPECT_EQ(defaults.key_rotation_seconds, 86400U);
  EXPECT_FALSE(defaults.keys_kept);
  // Daily rotation: one old key keeps a cookie minted at the end of a day valid for 24 h.
  EXPECT_EQ(keys_kept_or_default(defaults), 1U);

  auto hourly = parse({"--key-rotation", "3600"}).config;
  EXPECT_EQ(keys_kept_or_default(hourly), 24U);
  auto odd = parse({"--key-rotation", "7000"}).config;
  EXPECT_EQ(keys_kept_or_default(odd), 13U);  // ceil(86400 / 7000)

  auto flags =
      parse({"--keys", "/var/lib/ntsd/keys.toml", "--key-rotation", "4", "--keys-kept", "2"})
          .config;
  EXPECT_EQ(flags.keys_file, "/var/lib/ntsd/keys.toml");
  EXPECT_EQ(flags.key_rotation_seconds, 4U);
  EXPECT_EQ(keys_kept_or_default(flags), 2U);

  TempFile file("[keys]\nfile = \"k.toml\"\nrotation-seconds = 60\nkept = 5\n");
  auto from_file = parse({"--config", file.path(), "--keys-kept", "7"}).config;
  EXPECT_EQ(from_file.keys_file, "k.toml");
  EXPECT_EQ(from_file.key_rotation_seconds, 60U);
  EXPECT_EQ(from_file.keys_kept, 7U);
}

TEST(Config, BadKeyAndServerSettingsNameTheSetting) {
  EXPECT_EQ(failing_setting({"--key-rotation", "0"}), "--key-rotation");
  EXPECT_EQ(failing_setting({"--key-rotation", "daily"}), "--key-rotation");
  EXPECT_EQ(failing_setting({"--key-rotation", "99999999"}), "--key-rotation");
  EXPECT_EQ(failing_setting({"--keys-kept", "0"}), "--keys-kept");
  EXPECT_EQ(failing_setting({"--keys-kept", "1001"}), "--keys-kept");
  EXPECT_EQ(failing_setting({"--keys", ""}), "--keys");
  EXPECT_EQ(failing_setting({"--ntp-server", "host:0"}), "--ntp-server");
  EXPECT_EQ(failing_setting({"--ntp-server", "bad host"}), "--ntp-server");
  EXPECT_EQ(failing_setting({"--ntp-server-choice", "random"}), "--ntp-server-choice");
  struct Case {
    const char* toml;
    const char* setting;
  };
  for (const auto& c : std::vector<Case>{
           {"[keys]\nrotation-seconds = 0\n", "keys.rotation-seconds"},
           {"[keys]\nkept = 0\n", "keys.kept"},
           {"[keys]\nfile = 3\n", "keys.file"},
           {"[keys]\nrotation = 3\n", "keys.rotation"},
           {"[nts-ke]\nserver-choice = \"first\"\n", "nts-ke.server-choice"},
           {"[nts-ke]\nntp-servers = [\"a:0\"]\n", "nts-ke.ntp-servers"},
           {"[nts-ke]\nntp-server = \"a\"\nntp-servers = [\"b\"]\n", "nts-ke.ntp-servers"},
           {"[ntp]\nlisten = [\"none\", \"127.0.0.1:1\"]\n", "ntp.listen"},
       }) {
    TempFile file(c.toml);
    EXPECT_EQ(failing_setting({"--config", file.path()}), c.setting) << c.toml;
  }
}

TEST(Config, SeveralCertificatePairsFollowTheDefault) {
  TempFile file(R"([tls]
cert = "/etc/a.pem"
key = "/etc/a.key"
poll-seconds = 30

[[tls.certificates]]
cert = "/etc/b.pem"
key = "/etc/b.key"

[[tls.certificates]]
cert = "/etc/c.pem"
key = "/etc/c.key"

[log]
file = "/var/log/ntsd/ntsd.log"
)");
  auto config = parse({"--config", file.path()}).config;
  EXPECT_EQ(config.cert_poll_seconds, 30U);
  EXPECT_EQ(config.log_file, "/var/log/ntsd/ntsd.log");
  auto pairs = certificate_files(config);
  ASSERT_EQ(pairs.size(), 3U);
  EXPECT_EQ(pairs[0], (CertificateFiles{"/etc/a.pem", "/etc/a.key", "--cert", "--key"}));
  EXPECT_EQ(pairs[1], (CertificateFiles{"/etc/b.pem", "/etc/b.key", "tls.certificates[1].cert",
                                        "tls.certificates[1].key"}));
  EXPECT_EQ(pairs[2].certificate_setting, "tls.certificates[2].cert");

  // The flags replace the default pair and leave the others.
  config = parse({"--config", file.path(), "--cert", "/x.pem", "--key", "/x.key", "--cert-poll",
                  "0", "--log-file", "/tmp/ntsd.log"})
               .config;
  pairs = certificate_files(config);
  ASSERT_EQ(pairs.size(), 3U);
  EXPECT_EQ(pairs[0].certificate_file, "/x.pem");
  EXPECT_EQ(pairs[1].certificate_file, "/etc/b.pem");
  EXPECT_EQ(config.cert_poll_seconds, 0U);
  EXPECT_EQ(config.log_file, "/tmp/ntsd.log");
}

TEST(Config, CertificatePairsWithoutTheSinglePair) {
  TempFile file("[[tls.certificates]]\ncert = \"/b.pem\"\nkey = \"/b.key\"\n");
  auto config = parse({"--config", file.path()}).config;
  auto pairs = certificate_files(config);
  ASSERT_EQ(pairs.size(), 1U);
  EXPECT_EQ(pairs[0].key_setting, "tls.certificates[1].key");
  EXPECT_EQ(parse({}).config.cert_poll_seconds, 5U);
  EXPECT_FALSE(parse({}).config.log_file);
}

TEST(Config, CertificatePairErrorsNameTheKey) {
  struct Case {
    const char* toml;
    const char* setting;
  };
  for (const auto& c : std::vector<Case>{
           {"[[tls.certificates]]\ncert = \"/b.pem\"\n", "tls.certificates[1].key"},
           {"[[tls.certificates]]\nkey = \"/b.key\"\n", "tls.certificates[1].cert"},
           {"[[tls.certificates]]\ncert = \"/a\"\nkey = \"/b\"\n[[tls.certificates]]\ncert = 1\n",
            "tls.certificates[2].cert"},
           {"[[tls.certificates]]\ncert = \"/a\"\nkey = \"/b\"\nname = \"x\"\n",
            "tls.certificates[1].name"},
           {"[tls]\ncertificates = \"/a\"\n", "tls.certificates"},
           {"[tls]\npoll-seconds = -1\n", "tls.poll-seconds"},
           {"[log]\nfile = \"\"\n", "log.file"},
       }) {
    TempFile file(c.toml);
    EXPECT_EQ(failing_setting({"--config", file.path()}), c.setting) << c.toml;
  }
  EXPECT_EQ(failing_setting({"--cert-poll", "x"}), "--cert-poll");
  EXPECT_EQ(failing_setting({"--log-file", ""}), "--log-file");
}

TEST(Config, ValidateChecksEveryCertificatePair) {
  auto config = parse({"--ke-listen", "127.0.0.1:1"}).config;
  config.more_certificates.push_back({"/nonexistent/b.pem", "/nonexistent/b.key",
                                      "tls.certificates[1].cert", "tls.certificates[1].key"});
  try {
    validate(config);
    FAIL() << "missing certificate file accepted";
  } catch (const ConfigError& error) {
    EXPECT_EQ(error.setting(), "tls.certificates[1].cert");
  }
  // Half of the single pair is an error even beside other pairs.
  config.private_key_file = "/nonexistent/a.key";
  try {
    validate(config);
    FAIL() << "a key without a certificate accepted";
  } catch (const ConfigError& error) {
    EXPECT_EQ(error.setting(), "--cert");
  }
}

}  // namespace
}  // namespace ntsd::server
