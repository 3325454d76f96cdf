#include "server/ke_reply.h"

#include "core/ke_cookies.h"

namespace ntsd::server {

namespace {

core::KeServerPolicy advertised_policy(const KeReplyInputs& in) {
  core::KeServerPolicy policy = in.policy;
  if (const AdvertisedNtpServer* chosen = in.ntp_servers.choose(in.peer)) {
    policy.ntp_server = chosen->host;
    policy.ntp_port = chosen->port;
  }
  return policy;
}

KeReply answer(const core::KeDecision& decision, const KeReplyInputs& in) {
  KeReply reply{ke_session_outcome(decision), std::nullopt, decision};
  if (decision.outcome != core::KeOutcome::Ok) {
    reply.response = core::build_ke_response(decision, {}, in.policy);
    return reply;
  }
  const auto keys = in.export_keys(decision);
  if (!keys) {
    reply.outcome = KeSessionOutcome::InternalError;
    reply.response = core::build_ke_error_response(core::KeErrorCode::InternalServerError);
    return reply;
  }
  const auto keyring = in.keyring.load();
  const auto cookies = core::mint_ke_cookies(*keyring, *keys, in.random);
  reply.response = core::build_ke_response(decision, cookies, advertised_policy(in));
  return reply;
}

}  // namespace

KeSessionOutcome ke_session_outcome(const core::KeDecision& decision) {
  switch (decision.outcome) {
    case core::KeOutcome::Ok:
      return KeSessionOutcome::Ok;
    case core::KeOutcome::NoCommonProtocol:
    case core::KeOutcome::NoCommonAead:
      return KeSessionOutcome::NegotiationFailed;
    case core::KeOutcome::UnrecognizedCritical:
    case core::KeOutcome::BadRequest:
      break;
  }
  return decision.bad_request == core::KeBadRequest::Timeout ? KeSessionOutcome::Timeout
                                                             : KeSessionOutcome::BadRequest;
}

KeReply reply_to_request(const KeRequestRead& read, const KeReplyInputs& in) {
  if (read.message.status != core::KeMessageStatus::Incomplete) {
    const bool trailing = read.message.trailing_data(read.received);
    return answer(core::decide_ke_request(read.message, trailing, in.policy), in);
  }
  const auto reason = read.timed_out ? core::KeBadRequest::Timeout : core::KeBadRequest::Malformed;
  if (read.received == 0 || read.peer_closed) {
    // Nothing to answer: the client went away or never asked.
    return KeReply{read.timed_out ? KeSessionOutcome::Timeout : KeSessionOutcome::ClosedEarly,
                   std::nullopt, core::ke_bad_request(reason)};
  }
  return answer(core::ke_bad_request(reason), in);
}

}  // namespace ntsd::server
