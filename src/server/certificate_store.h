// The certificates NTS-KE serves: one SSL_CTX per certificate/key pair, chosen
// per handshake by SNI, replaced while serving when the files change.
//
// A replacement is loaded into a new SSL_CTX and swapped in only once it is
// whole (chain and matching key); a session already running keeps the SSL_CTX
// its SSL holds a reference to and finishes with the old certificate.
#pragma once

#include <openssl/ssl.h>
#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/config_error.h"

namespace ntsd::server {

// One TLS certificate chain and its private key, and how the operator named
// them (for errors: "--cert", "tls.certificates[2].key", ...).
struct CertificateFiles {
  std::string certificate_file;
  std::string private_key_file;
  std::string certificate_setting = "--cert";
  std::string key_setting = "--key";
  bool operator==(const CertificateFiles&) const = default;
};

// What identifies one version of a file: a rename (certbot moves a symlink to a
// new file in archive/), a rewrite in place or a touch all change it.
struct FileStamp {
  bool exists = false;
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

// stat() of path, following symlinks; exists is false when it cannot be read.
FileStamp stamp_file(const std::string& path);

// What an operator wants to know about a loaded certificate (the chain's leaf).
struct CertificateInfo {
  std::string subject;                 // RFC 2253
  std::vector<std::string> dns_names;  // subjectAltName DNS entries
  std::int64_t not_after = 0;          // Unix seconds
  std::string serial;                  // hex
};

CertificateInfo describe_certificate(X509* certificate);

enum class ExpiryState { Valid, ExpiresSoon, Expired };

// Fourteen days: time for a renewal job that failed once to be noticed and run again.
constexpr std::int64_t kExpiryWarningSeconds = std::int64_t{14} * 86400;

ExpiryState expiry_state(std::int64_t not_after, std::int64_t now,
                         std::int64_t warn_before = kExpiryWarningSeconds);

// The outcome of loading one pair: info when it is now in service, else why not.
struct LoadResult {
  CertificateFiles files;
  std::optional<CertificateInfo> info;
  std::string error;  // names the file and why; empty on success
};

class CertificateStore {
 public:
  // Loads every pair (the first is the default); throws ConfigError naming the
  // setting of the first pair that cannot be used. An expired certificate is
  // refused unless allow_expired (--allow-expired-certificate): the operator decides.
  explicit CertificateStore(std::vector<CertificateFiles> pairs, bool allow_expired = false);
  CertificateStore(const CertificateStore&) = delete;
  CertificateStore& operator=(const CertificateStore&) = delete;

  // The SSL_CTX a new session starts with. Its SNI callback moves the session to
  // the pair whose certificate matches the client's server name.
  [[nodiscard]] std::shared_ptr<SSL_CTX> default_context() const;
  // The first pair whose certificate matches server_name (subjectAltName DNS
  // names, wildcards as X509_check_host allows them), else the default.
  [[nodiscard]] std::shared_ptr<SSL_CTX> context_for(std::string_view server_name) const;

  // Loads every pair again (SIGHUP). A pair that fails keeps its old certificate.
  // A replacement fails too when it has expired (unless allow_expired) or when it
  // no longer covers every DNS name of the certificate it would replace.
  std::vector<LoadResult> reload_all();
  // Loads again the pairs whose files changed and then stayed unchanged for one
  // more call, so that a renewal caught halfway (new certificate, old key) is not
  // reported as an error. A pair that failed is tried again only when its files
  // change again. Call reload_all and reload_changed from one thread only.
  std::vector<LoadResult> reload_changed();

  // What is in service now, in configuration order.
  [[nodiscard]] std::vector<std::pair<CertificateFiles, CertificateInfo>> in_service() const;
  // Per pair, in configuration order: its certificate file and whether the files
  // on disk loaded at the last attempt (false: an older pair is still serving).
  [[nodiscard]] std::vector<std::pair<std::string, bool>> files_ok() const;

 private:
  struct Slot {
    CertificateFiles files;
    std::shared_ptr<SSL_CTX> context;
    CertificateInfo info;
    // The files as they were when last loaded (successfully or not).
    FileStamp certificate_stamp, key_stamp;
    // A change seen by the last reload_changed, waiting to be seen again.
    std::optional<std::pair<FileStamp, FileStamp>> pending;
    bool files_ok = true;  // the last load of these files succeeded
  };

  // Builds a context for files, with the SNI callback; throws ConfigError.
  std::shared_ptr<SSL_CTX> load(const CertificateFiles& files) const;
  LoadResult reload(std::size_t index, const FileStamp& certificate_stamp,
                    const FileStamp& key_stamp);

  // Why a loaded replacement must not take over from `current`; empty if it may.
  [[nodiscard]] std::string refuse_replacement(const CertificateInfo& current,
                                               const CertificateInfo& replacement,
                                               X509* replacement_leaf) const;

  mutable std::mutex mutex_;  // guards each Slot's context, info and files_ok
  std::vector<Slot> slots_;
  bool allow_expired_ = false;
};

// Log lines for a load: info with subject, names and notAfter, then the expiry
// warning; or an error naming the file.
void log_load_result(const LoadResult& result, std::int64_t now);
// A warning for a certificate expiring within 14 days, an error for an expired one.
void log_expiry(const CertificateFiles& files, const CertificateInfo& info, std::int64_t now);

}  // namespace ntsd::server
