#include "server/ntp_exchange.h"

#include <netinet/in.h>

#include <algorithm>

#include "common/socket_address.h"
#include "time/clock.h"

namespace ntsd::server {

namespace {

// Exchanges kept for interleaved mode (48 bytes each).
constexpr std::size_t kInterleavedEntries = 16384;
// A kernel transmit timestamp this much later than the written one belongs to
// another packet (the per-socket ids lost step): it is not used.
constexpr std::int64_t kMaxPlausibleGapNs = 1'000'000'000;

// Counters have one writer, the exchange's thread: a plain store is enough, and
// costs less than a locked read-modify-write on every request.
void bump(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

socklen_t sockaddr_length(const sockaddr* peer) {
  return peer->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

}  // namespace

std::uint64_t NtpCounters::by_reason(core::Reason reason) const {
  std::uint64_t total = 0;
  for (const auto& kind : requests) total += kind[static_cast<std::size_t>(reason)];
  return total;
}

std::uint64_t NtpCounters::by_sent(core::Sent sent) const {
  std::uint64_t total = 0;
  for (std::size_t r = 0; r < core::kReasonCount; ++r) {
    if (core::kReasons[r].sent == sent) total += by_reason(static_cast<core::Reason>(r));
  }
  return total;
}

NtpExchange::NtpExchange(const timesource::PublishedClock& clock,
                         const keys::PublishedKeyring& keyring, const NtpExchangeSettings& settings)
    : clock_reader_(clock),
      keyring_reader_(keyring),
      rate_limiter_(settings.rate_limit),
      interleaved_(settings.interleaved),
      table_(settings.interleaved ? kInterleavedEntries : 1),
      compensation_(settings.tx_compensation) {
  begin_batch();
}

void NtpExchange::begin_batch() {
  keyring_ = &keyring_reader_.current();
  clock_ = &clock_reader_.current();
}

core::NtpOutcome NtpExchange::handle(core::ByteView request, const sockaddr* peer,
                                     core::NtpTimestamp rx_time, std::span<std::uint8_t> out,
                                     NtpReply& reply) {
  using core::Reason;
  using core::RequestKind;
  reply = NtpReply{};
  auto done = [&](core::NtpOutcome outcome) {
    count(outcome);
    census_.count(request, peer, outcome, pending_.cookie_count());
    const auto sent = outcome.sent();
    if (sent == core::Sent::Nothing || sent == core::Sent::Nak) log_reject(outcome, peer);
    return outcome;
  };
  // Unsynchronised, and the operator asked for silence (--unsynchronised drop).
  if (!clock_->answer) return done({RequestKind::Unknown, Reason::Unsynchronised});
  // Rate limit (server/rate_limit.h): over it, mostly dropped unread, sometimes a RATE kiss.
  const auto verdict = rate_limiter_.check(peer);
  if (verdict == RateVerdict::Drop) return done({RequestKind::Unknown, Reason::RateLimitedDrop});
  if (request.size() > out.size()) return done({RequestKind::Plain, Reason::TooLong});

  const auto client = timesource::client_key(peer);
  // Every saved receive timestamp names one exchange (RFC 9769).
  if (interleaved_) rx_time = table_.unique_receive(client, rx_time);
  const auto outcome = core::prepare_response(
      request, rx_time, clock_->at(rx_time), *keyring_, random_, pending_,
      verdict == RateVerdict::Kiss ? core::Reply::RateKiss : core::Reply::Normal);
  if (outcome.sent() == core::Sent::Nothing) return done(outcome);

  const bool answered = outcome.reason == Reason::Answered;
  const bool interleaved_client = interleaved_ && answered && pending_.interleaved_candidate();
  if (answered && pending_.cookie_count() != 0) bump(cookies_issued_, pending_.cookie_count());
  if (interleaved_client) try_interleaved(client);
  // The clock is read as late as possible: cookies and nonce are ready, only
  // the header and the authenticator's seal remain.
  auto clock_read = realtime_now();
  // A transmit timestamp is never at or before the receive one, which on the
  // AF_XDP path is the batch's clock read plus the request's index in it.
  if (core::units_between(rx_time, clock_read) <= 0) clock_read.raw = rx_time.raw + 1;
  // Basic mode only: an interleaved answer carries the previous response's
  // (kernel) timestamp, and this one's is saved for the next as read.
  auto tx_time = clock_read;
  if (!pending_.interleaved()) tx_time.raw += compensation_.ntp_units();
  reply.length = core::complete_response(pending_, tx_time, out);
  reply.transmit = tx_time;
  reply.clock_read = clock_read;
  if (interleaved_ && answered) reply.handle = table_.save(client, rx_time, tx_time);
  reply.interleaved_client = interleaved_client;
  return done(outcome);
}

void NtpExchange::try_interleaved(const timesource::ClientKey& client) {
  // The request's origin names an earlier exchange of this client: answer with
  // that response's transmit timestamp (the kernel's, once it arrived).
  // Anything else is basic mode.
  if (auto previous = table_.lookup(client, pending_.request_origin())) {
    if (core::make_interleaved(pending_, *previous)) {
      bump(interleaved_answers_);
    }
  }
}

void NtpExchange::transmit_timestamp(core::NtpTimestamp clock_read,
                                     timesource::InterleavedTable::Handle handle,
                                     core::NtpTimestamp kernel) {
  const std::int64_t gap_ns = core::nanoseconds_between(clock_read, kernel);
  if (gap_ns > kMaxPlausibleGapNs || gap_ns < -kMaxPlausibleGapNs) {
    transmit_timestamp_unmatched();
    return;
  }
  bump(tx_timestamps_);
  measured_gap(gap_ns);
  // A kernel timestamp before the written one means the clock was stepped in
  // between: keep the written one.
  if (gap_ns >= 0 && handle.sequence != 0) table_.update_transmit(handle, kernel);
}

void NtpExchange::measured_gap(std::int64_t gap_ns) {
  gaps_.add(gap_ns);
  compensation_.add_gap(gap_ns);
  compensation_ns_.store(compensation_.nanoseconds(), std::memory_order_relaxed);
}

void NtpExchange::transmit_timestamp_unmatched() { bump(tx_unmatched_); }

void NtpExchange::add_counters(NtpCounters& total) const {
  for (std::size_t k = 0; k < core::kRequestKindCount; ++k) {
    for (std::size_t r = 0; r < core::kReasonCount; ++r) {
      total.requests[k][r] += requests_[k][r].load(std::memory_order_relaxed);
    }
  }
  total.interleaved += interleaved_answers_.load(std::memory_order_relaxed);
  total.cookies_issued += cookies_issued_.load(std::memory_order_relaxed);
  total.tx_timestamps += tx_timestamps_.load(std::memory_order_relaxed);
  total.tx_timestamps_unmatched += tx_unmatched_.load(std::memory_order_relaxed);
  census_.add_to(total.census);
  total.tx_compensation_ns = std::max(total.tx_compensation_ns, tx_compensation_ns());
}

void NtpExchange::count(core::NtpOutcome outcome) {
  bump(requests_[static_cast<std::size_t>(outcome.kind)][static_cast<std::size_t>(outcome.reason)]);
}

void NtpExchange::log_reject(core::NtpOutcome outcome, const sockaddr* peer) {
  // Requests dropped unread would only feed the limiter.
  if (outcome.kind == core::RequestKind::Unknown) return;
  if (!spdlog::should_log(spdlog::level::debug) || !reject_log_.allow()) return;
  const auto address = SocketAddress::from_sockaddr(peer, sockaddr_length(peer));
  spdlog::debug("ntp: {}: {} request {}: {}", address.to_string(), core::kind_name(outcome.kind),
                core::sent_name(outcome.sent()), core::reason_name(outcome.reason));
}

}  // namespace ntsd::server
