// What an NTS-KE session answers once its read has ended, and how the session
// ends. No sockets or TLS here: the session hands in what it read and a way to
// export keys from its handshake, so that every outcome is unit-tested.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>

#include "common/socket_address.h"
#include "core/bytes.h"
#include "core/ke_negotiation.h"
#include "core/nts_keys.h"
#include "core/random.h"
#include "keys/published_keyring.h"
#include "server/ke_session_outcome.h"
#include "server/ntp_server_choice.h"

namespace ntsd::server {

struct KeRequestRead {
  core::KeMessage message;   // parse_ke_message() of the bytes received
  std::size_t received = 0;  // bytes received
  bool timed_out = false;    // the session's deadline ended the read
  bool peer_closed = false;  // end of stream or a read error ended it first
};

// C2S and S2C for an Ok decision's AEAD from the finished handshake (RFC 8915
// §5.1); none when the TLS library fails to export them.
using KeKeyExporter = std::function<std::optional<core::NtsKeys>(const core::KeDecision&)>;

struct KeReplyInputs {
  // AEAD preference; its ntp_server and ntp_port are sent when ntp_servers has none.
  const core::KeServerPolicy& policy;
  NtpServerChooser& ntp_servers;
  const SocketAddress& peer;
  const keys::PublishedKeyring& keyring;
  core::RandomSource& random;
  const KeKeyExporter& export_keys;
};

struct KeReply {
  KeSessionOutcome outcome = KeSessionOutcome::BadRequest;
  std::optional<core::Bytes> response;  // none: nothing to send, close
  core::KeDecision decision;            // what the request asked for, for the log
};

// The outcome a decided request ends with when nothing fails on our side.
KeSessionOutcome ke_session_outcome(const core::KeDecision& decision);

// Nothing is sent when the read ended with no byte or with the client gone
// (Timeout or ClosedEarly). A partial request that timed out gets Error 1 and
// ends as Timeout; one that fills the whole buffer gets Error 1 (BadRequest). A
// whole request is decided by core::decide_ke_request; an Ok decision is
// answered with cookies (keys exported, minted with the keyring's current key,
// one NTP server chosen) or, when key export fails, with Error 2 (InternalError).
KeReply reply_to_request(const KeRequestRead& read, const KeReplyInputs& in);

}  // namespace ntsd::server
