#include "server/certificate_store.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "common/openssl_ptr.h"
#include "support/temp_dir.h"

namespace ntsd::server {
namespace {

using test_support::TempDir;

std::int64_t now() { return static_cast<std::int64_t>(std::time(nullptr)); }

// Writes a new self-signed certificate for `dns_names` and its key to temporary
// names, then renames them over cert_path and key_path (as renewal tools do).
void write_pair(const std::string& cert_path, const std::string& key_path,
                const std::vector<std::string>& dns_names, long serial, long days = 30) {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  ASSERT_TRUE(key);
  X509Ptr x(X509_new());
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), days * 86400);
  X509_set_pubkey(x.get(), key.get());
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(dns_names.front().c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(x.get(), name);
  std::string san;
  for (const auto& dns : dns_names) san += (san.empty() ? "DNS:" : ",DNS:") + dns;
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x.get(), x.get(), nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str());
  ASSERT_NE(ext, nullptr);
  X509_add_ext(x.get(), ext, -1);
  X509_EXTENSION_free(ext);
  ASSERT_GT(X509_sign(x.get(), key.get(), EVP_sha256()), 0);

  std::string cert_tmp = cert_path + ".tmp", key_tmp = key_path + ".tmp";
  FILE* f = std::fopen(cert_tmp.c_str(), "w");
  ASSERT_NE(f, nullptr);
  PEM_write_X509(f, x.get());
  std::fclose(f);
  f = std::fopen(key_tmp.c_str(), "w");
  ASSERT_NE(f, nullptr);
  PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  std::filesystem::rename(key_tmp, key_path);
  std::filesystem::rename(cert_tmp, cert_path);
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path + ".tmp") << text;
  std::filesystem::rename(path + ".tmp", path);
}

std::string serial_of(const std::shared_ptr<SSL_CTX>& ctx) {
  return describe_certificate(SSL_CTX_get0_certificate(ctx.get())).serial;
}

CertificateFiles pair_files(const TempDir& dir, const std::string& stem,
                            const std::string& setting = "") {
  CertificateFiles files{dir.file(stem + ".pem"), dir.file(stem + ".key"), "--cert", "--key"};
  if (!setting.empty()) {
    files.certificate_setting = setting + ".cert";
    files.key_setting = setting + ".key";
  }
  return files;
}

// Two pairs written in dir: "a" for a.test (serial 1), then "b" for b_names (serial 2),
// the second entry of tls.certificates.
struct TwoPairs {
  CertificateFiles a;
  CertificateFiles b;
};

TwoPairs two_pairs(const TempDir& dir, const std::vector<std::string>& b_names = {"b.test"}) {
  auto a = pair_files(dir, "a");
  auto b = pair_files(dir, "b", "tls.certificates[1]");
  write_pair(a.certificate_file, a.private_key_file, {"a.test"}, 1);
  write_pair(b.certificate_file, b.private_key_file, b_names, 2);
  return {a, b};
}

TEST(CertificateStore, LoadsAndDescribesTheCertificate) {
  TempDir dir;
  auto files = pair_files(dir, "a");
  write_pair(files.certificate_file, files.private_key_file, {"a.test", "alt.test"}, 0x1234, 10);
  CertificateStore store({files});
  auto in_service = store.in_service();
  ASSERT_EQ(in_service.size(), 1U);
  const auto& info = in_service[0].second;
  EXPECT_EQ(info.subject, "CN=a.test");
  EXPECT_EQ(info.dns_names, (std::vector<std::string>{"a.test", "alt.test"}));
  EXPECT_EQ(info.serial, "1234");
  EXPECT_NEAR(static_cast<double>(info.not_after), static_cast<double>(now() + 10 * 86400), 60.0);
  EXPECT_EQ(expiry_state(info.not_after, now()), ExpiryState::ExpiresSoon);
}

TEST(CertificateStore, ChoosesThePairByServerName) {
  TempDir dir;
  auto [a, b] = two_pairs(dir, {"*.example.net", "b.test"});
  CertificateStore store({a, b});
  EXPECT_EQ(serial_of(store.default_context()), "01");
  EXPECT_EQ(serial_of(store.context_for("a.test")), "01");
  EXPECT_EQ(serial_of(store.context_for("b.test")), "02");
  EXPECT_EQ(serial_of(store.context_for("ntp.example.net")), "02");
  EXPECT_EQ(serial_of(store.context_for("NTP.Example.Net")), "02");
  // A wildcard covers one label, not the bare domain nor two labels.
  EXPECT_EQ(serial_of(store.context_for("example.net")), "01");
  EXPECT_EQ(serial_of(store.context_for("a.b.example.net")), "01");
  EXPECT_EQ(serial_of(store.context_for("unknown.test")), "01");
}

TEST(CertificateStore, StartupNamesTheBrokenSetting) {
  TempDir dir;
  auto [a, b] = two_pairs(dir);
  write_text(b.certificate_file, "not a certificate\n");
  try {
    CertificateStore store({a, b});
    FAIL() << "a broken pair was accepted";
  } catch (const ConfigError& error) {
    EXPECT_EQ(error.setting(), "tls.certificates[1].cert");
  }
  // A key that belongs to another certificate.
  write_pair(b.certificate_file, dir.file("other.key"), {"b.test"}, 3);
  try {
    CertificateStore store({a, b});
    FAIL() << "a mismatched key was accepted";
  } catch (const ConfigError& error) {
    EXPECT_EQ(error.setting(), "tls.certificates[1].key");
  }
}

TEST(CertificateStore, ReloadSwapsInANewContextAndKeepsTheOldAlive) {
  TempDir dir;
  auto a = pair_files(dir, "a");
  write_pair(a.certificate_file, a.private_key_file, {"a.test"}, 1);
  CertificateStore store({a});
  auto before = store.default_context();  // what a running session holds

  write_pair(a.certificate_file, a.private_key_file, {"a.test"}, 2);
  auto results = store.reload_all();
  ASSERT_EQ(results.size(), 1U);
  ASSERT_TRUE(results[0].info) << results[0].error;
  EXPECT_EQ(results[0].info->serial, "02");
  EXPECT_EQ(serial_of(store.default_context()), "02");
  EXPECT_NE(store.default_context(), before);
  EXPECT_EQ(serial_of(before), "01");  // still whole for the session that holds it
}

TEST(CertificateStore, AFailedReloadKeepsTheOldCertificate) {
  TempDir dir;
  auto a = pair_files(dir, "a");
  write_pair(a.certificate_file, a.private_key_file, {"a.test"}, 1);
  CertificateStore store({a});

  write_text(a.certificate_file,
             "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n");
  auto results = store.reload_all();
  ASSERT_EQ(results.size(), 1U);
  EXPECT_FALSE(results[0].info);
  EXPECT_NE(results[0].error.find(a.certificate_file), std::string::npos) << results[0].error;
  EXPECT_EQ(serial_of(store.default_context()), "01");

  // New certificate, old key: the key does not match.
  write_pair(a.certificate_file, dir.file("elsewhere.key"), {"a.test"}, 2);
  results = store.reload_all();
  ASSERT_EQ(results.size(), 1U);
  EXPECT_FALSE(results[0].info);
  EXPECT_NE(results[0].error.find(a.private_key_file), std::string::npos) << results[0].error;
  EXPECT_EQ(serial_of(store.default_context()), "01");
  EXPECT_EQ(store.in_service()[0].second.serial, "01");
}

TEST(CertificateStore, AnExpiredCertificateIsTheOperatorsChoiceAtStart) {
  TempDir dir;
  auto a = pair_files(dir, "a");
  write_pair(a.certificate_file, a.private_key_file, {"a.test"}, 1, -1);
  try {
    CertificateStore store({a});
    FAIL() << "an expired certificate was accepted";
  } catch (const ConfigError& error) {
    EXPECT_EQ(error.setting(), "--cert");
    EXPECT_NE(std::string(error.what()).find("--allow-expired-certificate"), std::string::npos)
        << error.what();
  }
  CertificateStore store({a}, /*allow_expired=*/true);
  EXPECT_EQ(serial_of(store.default_context()), "01");
}

TEST(CertificateStore, AnExpiredOrOtherNameReplacementIsRefused) {
  TempDir dir;
  auto a = pair_files(dir, "a");
  write_pair(a.certificate_file, a.private_key_file, {"a.test", "b.test"}, 1);
  CertificateStore store({a});
  EXPECT_EQ(store.files_ok(),
            (std::vector<std::pair<std::string, bool>>{{a.certificate_file, true}}));

  write_pair(a.certificate_file, a.private_key_file, {"a.test", "b.test"}, 2, -1);
  auto results = store.reload_all();
  ASSERT_EQ(results.size(), 1U);
  EXPECT_FALSE(results[0].info);
  EXPECT_NE(results[0].error.find("expired at"), std::string::npos) << results[0].error;
  EXPECT_FALSE(store.files_ok()[0].second);
  EXPECT_EQ(serial_of(store.default_context()), "01");

  // Covers a.test but not b.test any more.
  write_pair(a.certificate_file, a.private_key_file, {"a.test", "c.test"}, 3);
  results = store.reload_all();
  EXPECT_FALSE(results[0].info);
  EXPECT_NE(results[0].error.find("not for b.test"), std::string::npos) << results[0].error;
  EXPECT_EQ(serial_of(store.default_context()), "01");

  // More names are fine.
  write_pair(a.certificate_file, a.private_key_file, {"a.test", "b.test", "c.test"}, 4);
  results = store.reload_all();
  ASSERT_TRUE(results[0].info) << results[0].error;
  EXPECT_TRUE(store.files_ok()[0].second);
  EXPECT_EQ(serial_of(store.default_context()), "04");
}

TEST(CertificateStore, ReloadChangedWaitsForFilesToSettle) {
  TempDir dir;
  auto [a, b] = two_pairs(dir);
  CertificateStore store({a, b});
  EXPECT_TRUE(store.reload_changed().empty());

  write_pair(b.certificate_file, b.private_key_file, {"b.test"}, 3);
  EXPECT_TRUE(store.reload_changed().empty());  // seen once: maybe still being written
  auto results = store.reload_changed();
  ASSERT_EQ(results.size(), 1U);
  EXPECT_EQ(results[0].files, b);
  ASSERT_TRUE(results[0].info) << results[0].error;
  EXPECT_EQ(serial_of(store.context_for("b.test")), "03");
  EXPECT_EQ(serial_of(store.context_for("a.test")), "01");
  EXPECT_TRUE(store.reload_changed().empty());

  // A change that keeps changing is not loaded until it stops.
  write_text(a.certificate_file, "half");
  EXPECT_TRUE(store.reload_changed().empty());
  write_text(a.certificate_file, "half written");
  EXPECT_TRUE(store.reload_changed().empty());
  // Broken and settled: one error, then silence until the files change again.
  results = store.reload_changed();
  ASSERT_EQ(results.size(), 1U);
  EXPECT_FALSE(results[0].info);
  EXPECT_TRUE(store.reload_changed().empty());
  EXPECT_TRUE(store.reload_changed().empty());
  EXPECT_EQ(serial_of(store.default_context()), "01");

  write_pair(a.certificate_file, a.private_key_file, {"a.test"}, 4);
  EXPECT_TRUE(store.reload_changed().empty());
  results = store.reload_changed();
  ASSERT_EQ(results.size(), 1U);
  ASSERT_TRUE(results[0].info) << results[0].error;
  EXPECT_EQ(serial_of(store.default_context()), "04");
}

TEST(CertificateStore, FileStampSeesARenameAndARewrite) {
  TempDir dir;
  auto path = dir.file("f");
  EXPECT_FALSE(stamp_file(path).exists);
  write_text(path, "one");
  auto first = stamp_file(path);
  EXPECT_TRUE(first.exists);
  EXPECT_EQ(stamp_file(path), first);
  write_text(path, "one");  // same size and maybe the same mtime, but a new inode
  EXPECT_NE(stamp_file(path), first);
  // Through a symlink that moves (certbot's live/ -> archive/).
  write_text(dir.file("target1"), "x");
  write_text(dir.file("target2"), "x");
  std::filesystem::create_symlink(dir.file("target1"), dir.file("link"));
  auto linked = stamp_file(dir.file("link"));
  std::filesystem::create_symlink(dir.file("target2"), dir.file("link.new"));
  std::filesystem::rename(dir.file("link.new"), dir.file("link"));
  EXPECT_NE(stamp_file(dir.file("link")), linked);
}

TEST(CertificateExpiry, ThresholdsAreFourteenDaysAndNow) {
  const std::int64_t t = 1'800'000'000;
  EXPECT_EQ(expiry_state(t + 15 * 86400, t), ExpiryState::Valid);
  EXPECT_EQ(expiry_state(t + 14 * 86400 + 1, t), ExpiryState::Valid);
  EXPECT_EQ(expiry_state(t + 14 * 86400, t), ExpiryState::ExpiresSoon);
  EXPECT_EQ(expiry_state(t + 1, t), ExpiryState::ExpiresSoon);
  EXPECT_EQ(expiry_state(t, t), ExpiryState::Expired);
  EXPECT_EQ(expiry_state(t - 86400, t), ExpiryState::Expired);
}

}  // namespace
}  // namespace ntsd::server
