#include "server/ke_server.h"

#include "server/ke_listeners.h"

namespace ntsd::server {

struct KeServer::Impl {
  KeServerCounters counters;
  NtpServerChooser ntp_servers;
  KeListeners listeners;  // after what its sessions refer to

  Impl(const std::shared_ptr<const CertificateStore>& certificates, KeServerSettings settings,
       const keys::PublishedKeyring& keyring)
      : ntp_servers(settings.ntp_servers, settings.server_choice),
        listeners(resolved(std::move(settings)), certificates, keyring, counters, ntp_servers) {}

  static KeServerSettings resolved(KeServerSettings settings) {
    if (settings.max_sessions == 0) settings.max_sessions = default_ke_max_sessions();
    return settings;
  }
};

KeServer::KeServer(std::shared_ptr<const CertificateStore> certificates, KeServerSettings settings,
                   const keys::PublishedKeyring& keyring)
    : impl_(std::make_unique<Impl>(std::move(certificates), std::move(settings), keyring)) {}

KeServer::~KeServer() { stop(); }

void KeServer::start() { impl_->listeners.start(); }

void KeServer::stop() {
  if (impl_) impl_->listeners.stop();
}

const KeServerCounters& KeServer::counters() const { return impl_->counters; }

std::vector<SocketAddress> KeServer::local_addresses() const {
  return impl_->listeners.local_addresses();
}

}  // namespace ntsd::server
