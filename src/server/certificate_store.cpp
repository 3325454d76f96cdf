#include "server/certificate_store.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cstring>
#include <ctime>

#include "common/openssl_ptr.h"
#include "server/openssl_error.h"
#include "server/tls_server_context.h"

namespace ntsd::server {

namespace {

std::int64_t nanoseconds(const timespec& t) {
  return static_cast<std::int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

// Called during the ClientHello, before ALPN: moves the session to the pair its
// server name asks for. All contexts share every setting but the certificate, so
// nothing else changes with SSL_set_SSL_CTX (which takes its own reference).
int select_by_server_name(SSL* ssl, int* /*alert*/, void* arg) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_NOACK;
  const auto* store = static_cast<const CertificateStore*>(arg);
  auto chosen = store->context_for(name);
  if (chosen && chosen.get() != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, chosen.get());
  return SSL_TLSEXT_ERR_OK;
}

std::string format_utc(std::int64_t unix_seconds) {
  auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  (void)std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out.empty() ? "none" : out;
}

}  // namespace

FileStamp stamp_file(const std::string& path) {
  struct stat st {};
  FileStamp stamp;
  if (stat(path.c_str(), &st) != 0) return stamp;
  stamp.exists = true;
  stamp.device = st.st_dev;
  stamp.inode = st.st_ino;
  stamp.size = st.st_size;
  stamp.mtime_ns = nanoseconds(st.st_mtim);
  stamp.ctime_ns = nanoseconds(st.st_ctim);
  return stamp;
}

CertificateInfo describe_certificate(X509* certificate) {
  CertificateInfo info;
  if (certificate == nullptr) return info;
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio &&
      X509_NAME_print_ex(bio.get(), X509_get_subject_name(certificate), 0, XN_FLAG_RFC2253) >= 0) {
    char* data = nullptr;
    long length = BIO_get_mem_data(bio.get(), &data);
    if (length > 0) info.subject.assign(data, static_cast<std::size_t>(length));
  }
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr)));
  if (names) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
      if (name->type != GEN_DNS) continue;
      const ASN1_IA5STRING* dns = name->d.dNSName;
      info.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                  static_cast<std::size_t>(ASN1_STRING_length(dns)));
    }
  }
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(certificate), &tm) == 1) info.not_after = timegm(&tm);
  BignumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(certificate), nullptr));
  if (serial) {
    OpensslStringPtr hex(BN_bn2hex(serial.get()));
    if (hex) info.serial = hex.get();
  }
  return info;
}

ExpiryState expiry_state(std::int64_t not_after, std::int64_t now, std::int64_t warn_before) {
  if (not_after <= now) return ExpiryState::Expired;
  if (not_after - now <= warn_before) return ExpiryState::ExpiresSoon;
  return ExpiryState::Valid;
}

CertificateStore::CertificateStore(std::vector<CertificateFiles> pairs, bool allow_expired)
    : allow_expired_(allow_expired) {
  if (pairs.empty()) throw ConfigError("--cert", "a certificate is required to serve NTS-KE");
  slots_.reserve(pairs.size());
  for (auto& files : pairs) {
    Slot slot;
    slot.certificate_stamp = stamp_file(files.certificate_file);
    slot.key_stamp = stamp_file(files.private_key_file);
    slot.context = load(files);
    slot.info = describe_certificate(SSL_CTX_get0_certificate(slot.context.get()));
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    if (!allow_expired_ && expiry_state(slot.info.not_after, now) == ExpiryState::Expired) {
      throw ConfigError(files.certificate_setting,
                        files.certificate_file + " expired at " + format_utc(slot.info.not_after) +
                            ": clients will refuse it. Renew it, or start with "
                            "--allow-expired-certificate (allow-expired-certificate = true in "
                            "[tls]) to serve it anyway");
    }
    slot.files = std::move(files);
    slots_.push_back(std::move(slot));
  }
}

std::shared_ptr<SSL_CTX> CertificateStore::load(const CertificateFiles& files) const {
  std::shared_ptr<SSL_CTX> context = make_tls_server_context(files);
  SSL_CTX_set_tlsext_servername_callback(context.get(), select_by_server_name);
  SSL_CTX_set_tlsext_servername_arg(context.get(), const_cast<CertificateStore*>(this));
  return context;
}

std::shared_ptr<SSL_CTX> CertificateStore::default_context() const {
  std::lock_guard lock(mutex_);
  return slots_.front().context;
}

std::shared_ptr<SSL_CTX> CertificateStore::context_for(std::string_view server_name) const {
  std::lock_guard lock(mutex_);
  if (slots_.size() > 1) {
    for (const auto& slot : slots_) {
      X509* leaf = SSL_CTX_get0_certificate(slot.context.get());
      if (leaf != nullptr &&
          X509_check_host(leaf, server_name.data(), server_name.size(), 0, nullptr) == 1) {
        return slot.context;
      }
    }
  }
  return slots_.front().context;
}

LoadResult CertificateStore::reload(std::size_t index, const FileStamp& certificate_stamp,
                                    const FileStamp& key_stamp) {
  Slot& slot = slots_[index];
  slot.certificate_stamp = certificate_stamp;
  slot.key_stamp = key_stamp;
  slot.pending.reset();
  LoadResult result;
  result.files = slot.files;
  try {
    auto context = load(slot.files);
    X509* leaf = SSL_CTX_get0_certificate(context.get());
    auto info = describe_certificate(leaf);
    std::string refused;
    {
      std::lock_guard lock(mutex_);
      refused = refuse_replacement(slot.info, info, leaf);
    }
    if (!refused.empty())
      throw ConfigError(slot.files.certificate_setting,
                        slot.files.certificate_file + ": " + refused);
    std::lock_guard lock(mutex_);
    slot.context = std::move(context);
    slot.info = info;
    slot.files_ok = true;
    result.info = std::move(info);
  } catch (const ConfigError& error) {
    result.error = error.what();
    std::lock_guard lock(mutex_);
    slot.files_ok = false;
  }
  return result;
}

std::string CertificateStore::refuse_replacement(const CertificateInfo& current,
                                                 const CertificateInfo& replacement,
                                                 X509* replacement_leaf) const {
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  if (!allow_expired_ && expiry_state(replacement.not_after, now) == ExpiryState::Expired) {
    return "expired at " + format_utc(replacement.not_after);
  }
  // A certificate for other names would make every client's name check fail.
  for (const auto& name : current.dns_names) {
    if (X509_check_host(replacement_leaf, name.data(), name.size(), 0, nullptr) != 1) {
      return "is for " + join(replacement.dns_names) + ", not for " + name +
             " as the one in service is";
    }
  }
  return {};
}

std::vector<LoadResult> CertificateStore::reload_all() {
  std::vector<LoadResult> results;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    results.push_back(reload(i, stamp_file(slots_[i].files.certificate_file),
                             stamp_file(slots_[i].files.private_key_file)));
  }
  return results;
}

std::vector<LoadResult> CertificateStore::reload_changed() {
  std::vector<LoadResult> results;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    Slot& slot = slots_[i];
    std::pair now{stamp_file(slot.files.certificate_file), stamp_file(slot.files.private_key_file)};
    if (now.first == slot.certificate_stamp && now.second == slot.key_stamp) {
      slot.pending.reset();
      continue;
    }
    if (slot.pending != now) {
      slot.pending = now;  // still being written, maybe: look again next time
      continue;
    }
    results.push_back(reload(i, now.first, now.second));
  }
  return results;
}

std::vector<std::pair<CertificateFiles, CertificateInfo>> CertificateStore::in_service() const {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<CertificateFiles, CertificateInfo>> out;
  for (const auto& slot : slots_) out.emplace_back(slot.files, slot.info);
  return out;
}

std::vector<std::pair<std::string, bool>> CertificateStore::files_ok() const {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<std::string, bool>> out;
  for (const auto& slot : slots_) out.emplace_back(slot.files.certificate_file, slot.files_ok);
  return out;
}

void log_expiry(const CertificateFiles& files, const CertificateInfo& info, std::int64_t now) {
  switch (expiry_state(info.not_after, now)) {
    case ExpiryState::Expired:
      spdlog::error("TLS certificate {} expired at {}: clients will refuse it",
                    files.certificate_file, format_utc(info.not_after));
      break;
    case ExpiryState::ExpiresSoon:
      spdlog::warn("TLS certificate {} expires in {} days, at {}: renew it", files.certificate_file,
                   (info.not_after - now) / 86400, format_utc(info.not_after));
      break;
    case ExpiryState::Valid:
      break;
  }
}

void log_load_result(const LoadResult& result, std::int64_t now) {
  if (!result.info) {
    spdlog::warn("TLS certificate not reloaded, the previous one stays in service: {}",
                 result.error);
    return;
  }
  const auto& info = *result.info;
  spdlog::info("TLS certificate {} loaded: subject {}, names {}, serial {}, valid until {}",
               result.files.certificate_file, info.subject, join(info.dns_names), info.serial,
               format_utc(info.not_after));
  log_expiry(result.files, info, now);
}

}  // namespace ntsd::server
