// One NTS-KE session (RFC 8915 §4) as one coroutine: TLS handshake, read and
// reassemble the request, decide (ke_reply.h), one write, close_notify.
// Included only by the two files that use Asio (ke_session.cpp, ke_listeners.cpp).
#pragma once

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>
#include <memory>

#include "core/random.h"
#include "keys/published_keyring.h"
#include "server/certificate_store.h"
#include "server/ke_admission.h"
#include "server/ke_server.h"
#include "server/ke_session_outcome.h"
#include "server/log.h"
#include "server/ntp_server_choice.h"

namespace ntsd::server {

class CensusLog;

// What the sessions of one KE thread share; lives as long as the thread's io_context.
struct KeSessionContext {
  const KeServerSettings& settings;
  const std::shared_ptr<const CertificateStore>& certificates;
  const keys::PublishedKeyring& keyring;
  KeServerCounters& counters;
  NtpServerChooser& ntp_servers;
  KeAdmission& admission;
  core::RandomSource& random;
  LogLimiter& log;
  asio::io_context& io;
  CensusLog* census_log = nullptr;  // the research log; none: off
};

// Serves an admitted connection to its end and counts its outcome once.
asio::awaitable<void> run_ke_session(KeSessionContext& context, asio::ip::tcp::socket socket,
                                     KeAdmission::Ticket ticket,
                                     std::chrono::steady_clock::time_point accepted_at);

}  // namespace ntsd::server
