#include "server/ke_session.h"

#include <asio/experimental/as_tuple.hpp>
#include <asio/ssl.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <string>

#include "core/ke_record.h"
#include "server/census_log_writer.h"
#include "server/ke_census_tls.h"
#include "server/ke_key_export.h"
#include "server/ke_reply.h"
#include "server/openssl_error.h"
#include "server/tls_server_context.h"

namespace ntsd::server {

namespace {

using asio::ip::tcp;
using SslStream = asio::ssl::stream<tcp::socket>;

// Awaited operations return (error_code, ...) instead of throwing: a failing
// client is an ordinary event, not an exception.
constexpr auto kAwaitTuple = asio::experimental::as_tuple(asio::use_awaitable);

// Bounds a session's operations in time: when it fires, the socket's pending
// operation is cancelled and the coroutine sees operation_aborted. The state is
// shared with the timer's handler, which may run after the session has ended.
class SessionDeadline {
 public:
  SessionDeadline(asio::io_context& io, tcp::socket& socket, std::chrono::milliseconds after)
      : timer_(io, after), state_(std::make_shared<State>()) {
    state_->socket = &socket;
    timer_.async_wait([state = state_](const asio::error_code& ec) {
      if (ec || state->socket == nullptr) return;
      state->fired = true;
      asio::error_code ignored;
      state->socket->cancel(ignored);
    });
  }
  ~SessionDeadline() {
    // Cancelling a timer only fails when the reactor is gone, and a destructor
    // must not throw. disarm() clears the socket before it cancels, so a timer
    // that outlives its session finds none to cancel.
    try {
      disarm();
    } catch (...) {
    }
  }
  SessionDeadline(const SessionDeadline&) = delete;
  SessionDeadline& operator=(const SessionDeadline&) = delete;

  [[nodiscard]] bool fired() const { return state_->fired; }
  void disarm() {
    state_->socket = nullptr;
    timer_.cancel();
  }

 private:
  struct State {
    tcp::socket* socket = nullptr;
    bool fired = false;
  };
  asio::steady_timer timer_;
  std::shared_ptr<State> state_;
};

// The session's place on its thread's waiting list until its whole request is in.
class WaitingSocket final : public KeWaitingSession {
 public:
  WaitingSocket(KeAdmission& admission, tcp::socket& socket)
      : KeWaitingSession(admission), socket_(socket) {}
  ~WaitingSocket() override = default;

 private:
  void close_connection() override {
    asio::error_code ignored;
    socket_.set_option(asio::socket_base::linger(true, 0), ignored);  // reset, no TIME_WAIT
    socket_.close(ignored);
  }
  tcp::socket& socket_;
};

// The session's line in the research log (census_log.h), when there is one:
// filled in as the session goes, queued when it ends. A session cut short by
// shutdown has no outcome and no line.
class ResearchLogEntry {
 public:
  // Takes memory only with the log on: a session's frame stays small without it.
  ResearchLogEntry(CensusLog* log, const SocketAddress& peer)
      : log_(log), record_(log != nullptr ? std::make_unique<CensusRecord>() : nullptr) {
    if (record_) {
      record_->client = truncate_client_address(peer.get(), peer.length(), log_->prefixes());
    }
  }
  ~ResearchLogEntry() {
    if (!record_ || !ended_) return;
    record_->time = std::chrono::system_clock::now();
    log_->submit(*record_);
  }
  ResearchLogEntry(const ResearchLogEntry&) = delete;
  ResearchLogEntry& operator=(const ResearchLogEntry&) = delete;

  void handshake(const KeSessionObserver& observer, SSL* ssl, bool completed) {
    if (!record_) return;
    if (observer.client_hello_seen()) record_->alpn.emplace(observer.offered_alpn());
    if (!completed) return;
    const KeTlsCensus tls = read_tls_census(ssl);
    auto& out = record_->tls.emplace();
    out.version.assign(tls.version);
    out.cipher.assign(tls.cipher);
    out.group.assign(tls.group);
    out.sni = tls.sni;
  }
  void request(const core::KeMessage& message, unsigned tls_records, unsigned reads) {
    if (!record_) return;
    auto& request = record_->request.emplace();
    request.tls_records = tls_records;
    request.reads = reads;
    request.aeads.assign(ke_aead_list_label(message));
    request.records = ke_records_seen(message);
  }
  void ended(KeSessionOutcome outcome, std::optional<core::AeadAlgorithm> aead = std::nullopt) {
    ended_ = true;
    if (!record_) return;
    record_->outcome = outcome;
    if (aead) record_->aead = static_cast<std::uint16_t>(*aead);
  }

 private:
  CensusLog* log_;
  std::unique_ptr<CensusRecord> record_;  // none: the log is off
  bool ended_ = false;
};

// Counts how the session ended, and notes it for the research log.
void end(KeSessionContext& context, ResearchLogEntry& entry, KeSessionOutcome outcome) {
  context.counters.count(outcome);
  entry.ended(outcome);
}

SocketAddress peer_of(const tcp::socket& socket) {
  asio::error_code ec;
  const auto endpoint = socket.remote_endpoint(ec);
  return SocketAddress::from_sockaddr(endpoint.data(), static_cast<socklen_t>(endpoint.size()));
}

// Sends close_notify and waits for the peer's, within the caller's deadline.
asio::awaitable<void> close(SslStream& stream) {
  auto [ec] = co_await stream.async_shutdown(kAwaitTuple);
  (void)ec;
  asio::error_code ignored;
  stream.lowest_layer().close(ignored);
}

// The TLS handshake and the ALPN check; false when the session ends here (its
// outcome counted, unless it was evicted).
asio::awaitable<bool> handshake(KeSessionContext& context, SslStream& stream,
                                SessionDeadline& deadline, WaitingSocket& waiting,
                                const std::string& peer, ResearchLogEntry& entry,
                                std::chrono::steady_clock::time_point accepted_at) {
  auto [ec] = co_await stream.async_handshake(SslStream::server, kAwaitTuple);
  if (ec) {
    deadline.disarm();
    if (waiting.evicted()) {
      entry.ended(KeSessionOutcome::Evicted);  // counted by admission
      co_return false;
    }
    end(context, entry, deadline.fired() ? KeSessionOutcome::Timeout : KeSessionOutcome::TlsFailed);
    if (context.log.allow()) {
      spdlog::debug("nts-ke: {}: TLS handshake failed: {}", peer,
                    deadline.fired() ? "timeout" : ec.message());
    }
    co_return false;
  }
  context.counters.handshake.observe(std::chrono::steady_clock::now() - accepted_at);
  if (!negotiated_ntske_alpn(stream.native_handle())) {
    waiting.stop_waiting();  // ended: no longer one to evict
    end(context, entry, KeSessionOutcome::NoAlpn);
    if (context.log.allow()) spdlog::debug("nts-ke: {}: no ALPN ntske/1, closing", peer);
    co_await close(stream);
    co_return false;
  }
  co_return true;
}

// Reads until a whole request, a full buffer, the end of the stream or the
// deadline: the request may arrive in several TLS records and segments.
// `reads` counts the reads that returned data, for the census.
asio::awaitable<KeRequestRead> read_request(SslStream& stream, core::Bytes& buffer,
                                            const SessionDeadline& deadline, unsigned& reads) {
  KeRequestRead read;
  while (read.received < buffer.size()) {
    auto [ec, n] = co_await stream.async_read_some(
        asio::buffer(buffer.data() + read.received, buffer.size() - read.received), kAwaitTuple);
    read.received += n;
    if (n != 0) ++reads;
    read.message = core::parse_ke_message({buffer.data(), read.received});
    if (read.message.status != core::KeMessageStatus::Incomplete) break;
    if (ec) {
      read.timed_out = deadline.fired();
      read.peer_closed = !read.timed_out;
      break;
    }
  }
  co_return read;
}

void log_reply(KeSessionContext& context, const std::string& peer, const KeReply& reply) {
  if (reply.outcome == KeSessionOutcome::InternalError) {
    const std::string errors = take_openssl_errors();  // emptied whether logged or not
    if (context.log.allow()) spdlog::error("nts-ke: {}: key export failed: {}", peer, errors);
    return;
  }
  if (reply.outcome == KeSessionOutcome::Ok || !context.log.allow()) return;
  if (!reply.response) {
    spdlog::debug("nts-ke: {}: {} before a whole request", peer,
                  ke_session_outcome_name(reply.outcome));
  } else {
    spdlog::debug("nts-ke: {}: {} ({} {})", peer, ke_session_outcome_name(reply.outcome),
                  core::ke_outcome_name(reply.decision.outcome),
                  core::ke_bad_request_name(reply.decision.bad_request));
  }
}

// The whole response in one write: some clients (NTPsec 1.2) read only once.
asio::awaitable<void> send(KeSessionContext& context, SslStream& stream,
                           const core::Bytes& response) {
  SessionDeadline deadline(context.io, stream.next_layer(), context.settings.timeout);
  auto [ec, written] = co_await asio::async_write(stream, asio::buffer(response), kAwaitTuple);
  (void)written;
  if (!ec) co_await close(stream);
  deadline.disarm();
}

}  // namespace

asio::awaitable<void> run_ke_session(KeSessionContext& context, tcp::socket socket,
                                     KeAdmission::Ticket ticket,
                                     std::chrono::steady_clock::time_point accepted_at) {
  const KeAdmission::Ticket held = std::move(ticket);
  asio::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  const SocketAddress peer_address = peer_of(socket);
  const std::string peer = peer_address.to_string();
  ResearchLogEntry entry(context.census_log, peer_address);
  // The SSL holds its own reference to the context: a reload after this point
  // leaves this session on the certificate it started with.
  SSL* ssl = SSL_new(context.certificates->default_context().get());
  if (ssl == nullptr) {
    end(context, entry, KeSessionOutcome::InternalError);
    const std::string errors = take_openssl_errors();
    if (context.log.allow()) spdlog::error("nts-ke: SSL_new failed: {}", errors);
    co_return;
  }
  const KeSessionObserver observer(ssl);     // outlives the stream, which frees ssl
  SslStream stream(std::move(socket), ssl);  // owns ssl from here
  WaitingSocket waiting(context.admission, stream.next_layer());
  // One deadline for the handshake and the whole request.
  SessionDeadline deadline(context.io, stream.next_layer(), context.settings.timeout);
  const bool shook =
      co_await handshake(context, stream, deadline, waiting, peer, entry, accepted_at);
  const bool completed = SSL_is_init_finished(stream.native_handle()) == 1;
  observer.count_handshake(context.counters.census, stream.native_handle(), completed);
  entry.handshake(observer, stream.native_handle(), completed);
  if (!shook) co_return;

  core::Bytes buffer(context.settings.max_request_length);
  unsigned reads = 0;
  const KeRequestRead read = co_await read_request(stream, buffer, deadline, reads);
  deadline.disarm();
  waiting.stop_waiting();
  if (waiting.evicted()) {
    entry.ended(KeSessionOutcome::Evicted);  // counted by admission
    co_return;
  }
  if (read.message.status != core::KeMessageStatus::Incomplete) {
    context.counters.census.count_request(read.message, observer.application_records(), reads);
    entry.request(read.message, observer.application_records(), reads);
  }

  const KeKeyExporter export_keys = [&stream](const core::KeDecision& decision) {
    return export_nts_keys(stream.native_handle(), decision);
  };
  const KeReply reply =
      reply_to_request(read, {context.settings.policy, context.ntp_servers, peer_address,
                              context.keyring, context.random, export_keys});
  core::secure_wipe(buffer.data(), read.received);
  context.counters.count(reply.outcome);
  entry.ended(reply.outcome, reply.decision.aead);
  log_reply(context, peer, reply);
  if (reply.response) co_await send(context, stream, *reply.response);
}

}  // namespace ntsd::server
