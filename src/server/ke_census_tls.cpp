#include "server/ke_census_tls.h"

namespace ntsd::server {

namespace {

int observer_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

}  // namespace

KeSessionObserver::KeSessionObserver(SSL* ssl) {
  SSL_set_ex_data(ssl, observer_index(), this);
  SSL_set_msg_callback(ssl, &KeSessionObserver::on_message);
  SSL_set_msg_callback_arg(ssl, this);
}

void KeSessionObserver::on_message(int write_p, int /*version*/, int content_type, const void* buf,
                                   std::size_t length, SSL* /*ssl*/, void* arg) {
  if (write_p != 0 || arg == nullptr || length == 0) return;
  auto* self = static_cast<KeSessionObserver*>(arg);
  const auto first = *static_cast<const unsigned char*>(buf);
  if (content_type == SSL3_RT_INNER_CONTENT_TYPE && first == SSL3_RT_APPLICATION_DATA) {
    ++self->application_records_;
  } else if (content_type == SSL3_RT_HANDSHAKE && first == SSL3_MT_CLIENT_HELLO) {
    self->client_hello_seen_ = true;
  }
}

void KeSessionObserver::count_handshake(KeCensus& census, SSL* ssl, bool completed) const {
  if (client_hello_seen_) census.count_alpn(offered_alpn_);
  if (completed) census.count_tls(read_tls_census(ssl));
}

KeTlsCensus read_tls_census(SSL* ssl) {
  KeTlsCensus tls;
  tls.version = SSL_get_version(ssl);
  const char* cipher = SSL_get_cipher_name(ssl);
  if (cipher != nullptr) tls.cipher = cipher;
  const char* group = SSL_group_to_name(ssl, static_cast<int>(SSL_get_negotiated_group(ssl)));
  if (group != nullptr) tls.group = group;
  tls.sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) != nullptr;
  return tls;
}

void note_offered_alpn(SSL* ssl, const unsigned char* offered, unsigned int length) {
  auto* self = static_cast<KeSessionObserver*>(SSL_get_ex_data(ssl, observer_index()));
  if (self != nullptr) self->offered_alpn_ = ke_alpn_label(offered, length);
}

}  // namespace ntsd::server
