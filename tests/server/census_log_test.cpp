// The research log: the line format (fields, nulls, escaping, time), client
// address truncation, the queue's caps, and the writer against real files.
#include "server/census_log.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "server/census_log_writer.h"
#include "server/config.h"
#include "server/config_error.h"
#include "server/config_values.h"
#include "support/invocation.h"

namespace ntsd::server {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;
using std::chrono::system_clock;

std::string prefix_of(const char* address, CensusLogPrefixes prefixes) {
  sockaddr_in v4{};
  sockaddr_in6 v6{};
  if (inet_pton(AF_INET, address, &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    return format_client_prefix(
        truncate_client_address(reinterpret_cast<sockaddr*>(&v4), sizeof v4, prefixes));
  }
  EXPECT_EQ(inet_pton(AF_INET6, address, &v6.sin6_addr), 1) << address;
  v6.sin6_family = AF_INET6;
  return format_client_prefix(
      truncate_client_address(reinterpret_cast<sockaddr*>(&v6), sizeof v6, prefixes));
}

TEST(CensusLogPrefix, Ipv4CutAtSeveralLengths) {
  EXPECT_EQ(prefix_of("192.0.2.201", {24, 48}), "192.0.2.0/24");
  EXPECT_EQ(prefix_of("192.0.2.201", {32, 48}), "192.0.2.201/32");
  EXPECT_EQ(prefix_of("192.0.2.201", {25, 48}), "192.0.2.128/25");
  EXPECT_EQ(prefix_of("192.0.2.201", {16, 48}), "192.0.0.0/16");
  EXPECT_EQ(prefix_of("203.0.113.77", {1, 48}), "128.0.0.0/1");
  EXPECT_EQ(prefix_of("203.0.113.77", {0, 48}), "");  // no address at all
}

TEST(CensusLogPrefix, Ipv6CutAtSeveralLengths) {
  const char* a = "2001:db8:abcd:1234:5678:9abc:def0:1";
  EXPECT_EQ(prefix_of(a, {24, 48}), "2001:db8:abcd::/48");
  EXPECT_EQ(prefix_of(a, {24, 56}), "2001:db8:abcd:1200::/56");
  EXPECT_EQ(prefix_of(a, {24, 64}), "2001:db8:abcd:1234::/64");
  EXPECT_EQ(prefix_of(a, {24, 32}), "2001:db8::/32");
  EXPECT_EQ(prefix_of(a, {24, 33}), "2001:db8:8000::/33");
  EXPECT_EQ(prefix_of(a, {24, 128}), "2001:db8:abcd:1234:5678:9abc:def0:1/128");
  EXPECT_EQ(prefix_of(a, {24, 0}), "");
  EXPECT_EQ(prefix_of("::1", {24, 48}), "::/48");
}

TEST(CensusLogPrefix, Ipv4MappedIsCutAsIpv4) {
  EXPECT_EQ(prefix_of("::ffff:192.0.2.201", {24, 48}), "192.0.2.0/24");
  EXPECT_EQ(prefix_of("::ffff:192.0.2.201", {0, 48}), "");
}

TEST(CensusLogPrefix, UnknownFamilyOrShortAddressIsNone) {
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  EXPECT_EQ(truncate_client_address(reinterpret_cast<sockaddr*>(&v4), 4, {24, 48}).family,
            AF_UNSPEC);
  EXPECT_EQ(truncate_client_address(nullptr, 0, {24, 48}).family, AF_UNSPEC);
}

TEST(CensusLogPrefix, SettingParses) {
  EXPECT_EQ(parse_census_log_prefixes("--census-log-prefix", "24,48"), (CensusLogPrefixes{24, 48}));
  EXPECT_EQ(parse_census_log_prefixes("--census-log-prefix", "0,0"), (CensusLogPrefixes{0, 0}));
  EXPECT_EQ(parse_census_log_prefixes("--census-log-prefix", "32,128"),
            (CensusLogPrefixes{32, 128}));
  for (const char* bad :
       {"", "24", "33,48", "24,129", "24,", ",48", "-1,48", "24,48,1", " 24,48"}) {
    EXPECT_THROW(parse_census_log_prefixes("--census-log-prefix", bad), ConfigError) << bad;
  }
}

Config parse(std::vector<std::string> args) {
  return test_support::invocation(std::move(args)).config;
}

TEST(CensusLogSettings, OffByDefaultAndSetByFlagsOrFile) {
  const Config defaults = parse({});
  EXPECT_FALSE(defaults.census_log.has_value());
  EXPECT_EQ(defaults.census_log_prefixes, (CensusLogPrefixes{24, 48}));
  EXPECT_EQ(defaults.census_log_rate, 100U);

  const Config flags = parse({"--census-log", "/x/census.jsonl", "--census-log-prefix", "16,32",
                              "--census-log-rate", "7"});
  EXPECT_EQ(flags.census_log, "/x/census.jsonl");
  EXPECT_EQ(flags.census_log_prefixes, (CensusLogPrefixes{16, 32}));
  EXPECT_EQ(flags.census_log_rate, 7U);

  const std::string toml =
      ::testing::TempDir() + "census_log_settings_" + std::to_string(getpid()) + ".toml";
  std::ofstream(toml) << "[metrics]\ncensus-log = \"/y/c.jsonl\"\ncensus-log-prefix = \"0,0\"\n"
                         "census-log-rate = 9\n";
  const Config file = parse({"--config", toml});
  std::remove(toml.c_str());
  EXPECT_EQ(file.census_log, "/y/c.jsonl");
  EXPECT_EQ(file.census_log_prefixes, (CensusLogPrefixes{0, 0}));
  EXPECT_EQ(file.census_log_rate, 9U);
  EXPECT_THROW(parse({"--census-log", ""}), ConfigError);
}

CensusRecord full_record() {
  CensusRecord r;
  r.time = system_clock::time_point(milliseconds(1764456972123));  // 2025-11-29T22:56:12.123Z
  r.client = {AF_INET, {192, 0, 2, 0}, 24};
  r.outcome = KeSessionOutcome::Ok;
  r.alpn.emplace("ntske/1");
  r.tls.emplace();
  r.tls->version.assign("TLSv1.3");
  r.tls->cipher.assign("TLS_AES_256_GCM_SHA384");
  r.tls->group.assign("x25519");
  r.tls->sni = true;
  r.request.emplace();
  r.request->tls_records = 3;
  r.request->reads = 2;
  r.request->aeads.assign("30,15");
  r.request->records[static_cast<std::size_t>(KeRecordSeen::NtpServer)] = true;
  r.request->records[static_cast<std::size_t>(KeRecordSeen::Record1024)] = true;
  r.aead = 30;
  return r;
}

TEST(CensusLogFormat, WholeSession) {
  EXPECT_EQ(format_census_line(full_record()),
            R"({"time":"2025-11-29T22:56:12.123Z","client":"192.0.2.0/24","outcome":"ok",)"
            R"("alpn":"ntske/1","tls_version":"TLSv1.3","tls_cipher":"TLS_AES_256_GCM_SHA384",)"
            R"("tls_group":"x25519","sni":true,"tls_records":3,"reads":2,"aeads":"30,15",)"
            R"("records":["ntp_server","1024"],"aead":30})"
            "\n");
}

TEST(CensusLogFormat, SessionCutShortHasNulls) {
  CensusRecord r;
  r.time = system_clock::time_point(milliseconds(5));
  r.outcome = KeSessionOutcome::TlsFailed;
  EXPECT_EQ(format_census_line(r),
            R"({"time":"1970-01-01T00:00:00.005Z","client":null,"outcome":"tls_failed",)"
            R"("alpn":null,"tls_version":null,"tls_cipher":null,"tls_group":null,"sni":null,)"
            R"("tls_records":null,"reads":null,"aeads":null,"records":null,"aead":null})"
            "\n");
}

TEST(CensusLogFormat, RequestWithoutRecordsAndUnknownGroup) {
  CensusRecord r = full_record();
  r.request->records = {};
  r.tls->group.assign("");
  r.tls->sni = false;
  r.aead.reset();
  r.outcome = KeSessionOutcome::NegotiationFailed;
  const std::string line = format_census_line(r);
  EXPECT_NE(line.find(R"("records":[],)"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("tls_group":null,"sni":false,)"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("outcome":"negotiation_failed")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("aead":null})"), std::string::npos) << line;
}

TEST(CensusLogFormat, EveryOutcomeHasItsName) {
  for (std::size_t i = 0; i < kKeSessionOutcomeCount; ++i) {
    CensusRecord r;
    r.outcome = static_cast<KeSessionOutcome>(i);
    const std::string expected =
        std::string(R"("outcome":")") + std::string(ke_session_outcome_name(r.outcome)) + '"';
    EXPECT_NE(format_census_line(r).find(expected), std::string::npos) << expected;
  }
}

TEST(CensusLogFormat, StringsAreEscaped) {
  CensusRecord r = full_record();
  r.alpn.emplace(std::string("h\"2\\,x\ny\xff", 9));
  const std::string line = format_census_line(r);
  EXPECT_NE(line.find(R"("alpn":"h\"2\\,x\ny\ufffd")"), std::string::npos) << line;
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line, newline only at its end";
}

TEST(CensusLogFormat, LongTextIsCutToItsBound) {
  BoundedText<8> text(std::string(100, 'x'));
  EXPECT_EQ(text.view(), "xxxxxxxx");
  // The longest labels the census makes fit whole.
  EXPECT_GE(kAeadTextBytes, std::string("65535,65535,65535,65535,...").size());
  EXPECT_GE(kAlpnTextBytes, kMaxAlpnInLabel * kMaxAlpnNameLength + (kMaxAlpnInLabel - 1) + 4);
}

TEST(CensusLogFormat, Rfc3339Milliseconds) {
  EXPECT_EQ(format_rfc3339_ms(system_clock::time_point(milliseconds(0))),
            "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_rfc3339_ms(system_clock::time_point(milliseconds(951782400999))),
            "2000-02-29T00:00:00.999Z");
}

// ---- The queue ----------------------------------------------------------------

const steady_clock::time_point kT0 = steady_clock::time_point(seconds(1000));

TEST(CensusLogQueue, FullQueueDropsAndCounts) {
  CensusLogQueue queue(4, 1000);
  const CensusRecord r = full_record();
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(queue.push(r, kT0));
  EXPECT_FALSE(queue.push(r, kT0));
  EXPECT_FALSE(queue.push(r, kT0));
  EXPECT_EQ(queue.dropped_queue(), 2U);
  EXPECT_EQ(queue.dropped_rate(), 0U);
  std::vector<CensusRecord> out;
  out.reserve(queue.capacity());
  queue.take(out);
  EXPECT_EQ(out.size(), 4U);
  EXPECT_TRUE(queue.push(r, kT0));  // room again
}

TEST(CensusLogQueue, RateCapPerSecond) {
  CensusLogQueue queue(1000, 10);
  const CensusRecord r = full_record();
  int accepted = 0;
  for (int i = 0; i < 25; ++i) accepted += queue.push(r, kT0 + milliseconds(i)) ? 1 : 0;
  EXPECT_EQ(accepted, 10);
  EXPECT_EQ(queue.dropped_rate(), 15U);
  EXPECT_FALSE(queue.push(r, kT0 + milliseconds(999)));
  EXPECT_TRUE(queue.push(r, kT0 + milliseconds(1000)));  // the next second
  EXPECT_EQ(queue.dropped_queue(), 0U);
}

TEST(CensusLogQueue, ClosedQueueEndsTheWait) {
  CensusLogQueue queue(4, 10);
  ASSERT_TRUE(queue.push(full_record(), kT0));
  queue.close();
  std::vector<CensusRecord> out;
  EXPECT_TRUE(queue.wait_and_take(out));  // what is queued first
  EXPECT_EQ(out.size(), 1U);
  EXPECT_FALSE(queue.wait_and_take(out));
}

// ---- The writer -----------------------------------------------------------------

class CensusLogFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/census-log-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/census.jsonl";
  }
  void TearDown() override {
    std::remove(path_.c_str());
    std::remove((path_ + ".1").c_str());
    rmdir(dir_.c_str());
  }
  static std::vector<std::string> lines(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  CensusLogSettings settings() const {
    CensusLogSettings s;
    s.path = path_;
    return s;
  }
  std::string dir_;
  std::string path_;
};

TEST_F(CensusLogFile, WritesWholeLinesCreated0640) {
  CensusLog log(settings());
  log.start();
  for (int i = 0; i < 5; ++i) log.submit(full_record());
  log.stop();
  const auto written = lines(path_);
  ASSERT_EQ(written.size(), 5U);
  EXPECT_EQ(written[0] + "\n", format_census_line(full_record()));
  EXPECT_EQ(log.counts().written, 5U);
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640U);
}

TEST_F(CensusLogFile, AppendsToAnExistingFile) {
  { std::ofstream(path_) << "earlier\n"; }
  CensusLog log(settings());
  log.start();
  log.submit(full_record());
  log.stop();
  const auto written = lines(path_);
  ASSERT_EQ(written.size(), 2U);
  EXPECT_EQ(written[0], "earlier");
}

// The writer thread has written `n` lines (within a few seconds).
bool written_within(const CensusLog& log, std::uint64_t n) {
  for (int i = 0; i < 500 && log.counts().written < n; ++i) usleep(10000);
  return log.counts().written >= n;
}

TEST_F(CensusLogFile, ReopenAfterRenameWritesTheNewFile) {
  CensusLog log(settings());
  log.start();
  log.submit(full_record());
  ASSERT_TRUE(written_within(log, 1));  // written before the rename
  ASSERT_EQ(std::rename(path_.c_str(), (path_ + ".1").c_str()), 0);
  EXPECT_FALSE(log.reopen().has_value());
  log.submit(full_record());
  log.submit(full_record());
  log.stop();
  EXPECT_EQ(lines(path_ + ".1").size(), 1U);
  EXPECT_EQ(lines(path_).size(), 2U);
}

TEST_F(CensusLogFile, ReopenFailureKeepsTheOldFile) {
  // The log's directory goes away with the file moved out: nothing can be made
  // there, not even by root.
  const std::string sub = dir_ + "/sub";
  ASSERT_EQ(mkdir(sub.c_str(), 0700), 0);
  CensusLogSettings s = settings();
  s.path = sub + "/census.jsonl";
  CensusLog log(s);
  ASSERT_EQ(std::rename(s.path.c_str(), (path_ + ".1").c_str()), 0);
  ASSERT_EQ(rmdir(sub.c_str()), 0);
  const auto error = log.reopen();
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->find(s.path), std::string::npos) << *error;
  log.start();
  log.submit(full_record());
  log.stop();
  EXPECT_EQ(lines(path_ + ".1").size(), 1U);
  EXPECT_EQ(log.counts().written, 1U);
}

TEST_F(CensusLogFile, ConcurrentSubmitsAndReopensKeepEveryLineWhole) {
  CensusLogSettings s = settings();
  s.lines_per_second = 100000;
  CensusLog log(s);
  log.start();
  std::vector<std::thread> sessions;
  for (int t = 0; t < 4; ++t) {
    sessions.emplace_back([&log] {
      for (int i = 0; i < 250; ++i) log.submit(full_record());
    });
  }
  std::vector<std::string> rotated;
  for (int r = 0; r < 10; ++r) {
    rotated.push_back(path_ + "." + std::to_string(r));
    ASSERT_EQ(std::rename(path_.c_str(), rotated.back().c_str()), 0);
    ASSERT_FALSE(log.reopen().has_value());
  }
  for (auto& thread : sessions) thread.join();
  log.stop();
  const std::string expected = format_census_line(full_record());
  std::size_t total = 0;
  rotated.push_back(path_);
  for (const auto& file : rotated) {
    for (const auto& line : lines(file)) EXPECT_EQ(line + "\n", expected);
    total += lines(file).size();
    if (file != path_) std::remove(file.c_str());
  }
  const auto counts = log.counts();
  EXPECT_EQ(total, counts.written);
  EXPECT_EQ(counts.written + counts.dropped_queue, 1000U);
  EXPECT_EQ(counts.dropped_rate, 0U);
}

TEST_F(CensusLogFile, UnopenablePathNamesTheSetting) {
  CensusLogSettings s = settings();
  s.path = dir_ + "/missing-directory/census.jsonl";
  try {
    CensusLog log(s);
    FAIL() << "opened " << s.path;
  } catch (const ConfigError& error) {
    EXPECT_EQ(error.setting(), "--census-log");
    EXPECT_NE(std::string(error.what()).find(s.path), std::string::npos) << error.what();
  }
  EXPECT_THROW(check_census_log_path(s.path), ConfigError);
  EXPECT_THROW(check_census_log_path(dir_), ConfigError);  // a directory
  EXPECT_NO_THROW(check_census_log_path(path_));           // absent, directory writable
  EXPECT_NE(access(path_.c_str(), F_OK), 0) << "checking creates nothing";
}

TEST(CensusLogWriteErrors, DiskFullIsCountedAndServingGoesOn) {
  if (access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no /dev/full";
  CensusLogSettings s;
  s.path = "/dev/full";
  CensusLog log(s);
  log.start();
  for (int i = 0; i < 3; ++i) log.submit(full_record());
  log.stop();
  EXPECT_EQ(log.counts().error, 3U);
  EXPECT_EQ(log.counts().written, 0U);
}

TEST(CensusLogWriteErrors, SubmitBeforeStartOnlyQueues) {
  CensusLogSettings s;
  s.path = "/dev/null";
  s.queue_capacity = 2;
  CensusLog log(s);
  for (int i = 0; i < 5; ++i) log.submit(full_record());  // no writer yet: never waits
  EXPECT_EQ(log.counts().dropped_queue, 3U);
  log.start();
  log.stop();
  EXPECT_EQ(log.counts().written, 2U);
}

}  // namespace
}  // namespace ntsd::server
