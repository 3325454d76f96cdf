#include "server/ke_server.h"

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ssl.hpp>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <list>
#include <memory>
#include <optional>
#include <thread>

#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/ke_record.h"
#include "core/random.h"
#include "server/config.h"
#include "server/log.h"
#include "server/openssl_error.h"
#include "server/reuseport_steering.h"
#include "server/tls_server_context.h"

namespace ntsd::server {

namespace {

using asio::ip::tcp;
using SslStream = asio::ssl::stream<tcp::socket>;

constexpr std::size_t kCookiesPerResponse = 8;
// Awaited operations return (error_code, ...) instead of throwing: a failing
// client is an ordinary event, not an exception.
constexpr auto kAwaitTuple = asio::experimental::as_tuple(asio::use_awaitable);

tcp::endpoint to_endpoint(const SocketAddress& address) {
  tcp::endpoint endpoint;
  std::memcpy(endpoint.data(), address.get(), address.length());
  endpoint.resize(address.length());
  return endpoint;
}

SocketAddress from_endpoint(const tcp::endpoint& endpoint) {
  return SocketAddress::from_sockaddr(endpoint.data(), static_cast<socklen_t>(endpoint.size()));
}

// Exports C2S and S2C for `aead` from the finished handshake (RFC 8915 §5.1), with
// `context_aead` in the exporter context (core::exporter_context_aead()).
std::optional<core::NtsKeys> export_keys(SSL* ssl, core::AeadAlgorithm aead,
                                         core::AeadAlgorithm context_aead) {
  auto length = core::aead_key_length(aead);
  std::array<std::uint8_t, core::kMaxAeadKeyLength> c2s{};
  std::array<std::uint8_t, core::kMaxAeadKeyLength> s2c{};
  auto exported = [&](std::uint8_t* out, bool server_to_client) {
    auto context = core::exporter_context(context_aead, server_to_client);
    return SSL_export_keying_material(ssl, out, length, core::kNtsExporterLabel.data(),
                                      core::kNtsExporterLabel.size(), context.data(),
                                      context.size(), 1) == 1;
  };
  std::optional<core::NtsKeys> keys;
  if (exported(c2s.data(), false) && exported(s2c.data(), true)) {
    keys = core::NtsKeys::create(aead, {c2s.data(), length}, {s2c.data(), length});
  }
  core::secure_wipe(c2s.data(), c2s.size());
  core::secure_wipe(s2c.data(), s2c.size());
  return keys;
}

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
  ~SessionDeadline() { disarm(); }
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

// 64-bit FNV-1a, then a finalizer so that addresses differing in one low bit
// spread over the servers.
std::uint64_t address_hash(const std::uint8_t* bytes, std::size_t size) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::size_t i = 0; i < size; ++i) {
    h ^= bytes[i];
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

// Releases the session slot admit() took, however the session ends: in the
// server's count and in its shard's.
class ActiveSession {
 public:
  ActiveSession(std::atomic<std::uint64_t>& active, std::size_t& shard_active)
      : active_(active), shard_active_(shard_active) {}
  ~ActiveSession() {
    active_.fetch_sub(1, std::memory_order_relaxed);
    --shard_active_;
  }
  ActiveSession(const ActiveSession&) = delete;
  ActiveSession& operator=(const ActiveSession&) = delete;

 private:
  std::atomic<std::uint64_t>& active_;
  std::size_t& shard_active_;
};

// Sessions that have not yet received their whole request, oldest first. When
// max_sessions are open a new connection closes the oldest of them: idle and
// slow connections (slowloris) then cost an attacker a steady stream of new
// connections, while an honest client, which sends its request within a few
// round trips, is admitted at once. Only its shard's thread touches it.
class WaitingSessions {
 public:
  // Lives in a session's coroutine frame, listed until unlist() or eviction.
  struct Slot {
    tcp::socket* socket = nullptr;
    bool listed = false;
    bool evicted = false;
    std::list<Slot*>::iterator position;
  };

  void list(Slot& slot, tcp::socket& socket) {
    slot.socket = &socket;
    slot.position = slots_.insert(slots_.end(), &slot);
    slot.listed = true;
  }
  void unlist(Slot& slot) {
    if (!slot.listed) return;
    slots_.erase(slot.position);
    slot.listed = false;
  }
  // Closes the oldest waiting session's socket (its pending operation then
  // ends with operation_aborted); false when none waits.
  bool evict_oldest() {
    if (slots_.empty()) return false;
    Slot& oldest = *slots_.front();
    slots_.pop_front();
    oldest.listed = false;
    oldest.evicted = true;
    asio::error_code ignored;
    oldest.socket->set_option(asio::socket_base::linger(true, 0), ignored);  // reset, no TIME_WAIT
    oldest.socket->close(ignored);
    return true;
  }

 private:
  std::list<Slot*> slots_;
};

// Takes a session off the waiting list however its wait ends.
class WaitingGuard {
 public:
  WaitingGuard(WaitingSessions& sessions, WaitingSessions::Slot& slot, tcp::socket& socket)
      : sessions_(sessions), slot_(slot) {
    sessions_.list(slot_, socket);
  }
  ~WaitingGuard() { sessions_.unlist(slot_); }
  WaitingGuard(const WaitingGuard&) = delete;
  WaitingGuard& operator=(const WaitingGuard&) = delete;

 private:
  WaitingSessions& sessions_;
  WaitingSessions::Slot& slot_;
};

// Opens and binds (without listening) a listener for `endpoint`.
tcp::acceptor bind_acceptor(asio::io_context& io, const tcp::endpoint& endpoint, bool reuse_port,
                            const SocketAddress& address) {
  tcp::acceptor acceptor(io);
  asio::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  int on = 1;
  if (!ec && reuse_port &&
      setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
    ec = asio::error_code(errno, asio::system_category());
  }
  if (!ec && endpoint.protocol() == tcp::v6()) acceptor.set_option(asio::ip::v6_only(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (ec) throw ConfigError("--ke-listen", address.to_string() + ": " + ec.message());
  return acceptor;
}

constexpr std::size_t kSessionMemory = 64 * 1024;
constexpr std::size_t kReservedDescriptors = 128;  // listeners, NTP sockets, key files, logs

}  // namespace

std::size_t default_ke_max_sessions() {
  std::size_t by_descriptors = 65536;
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
    auto limit = static_cast<std::size_t>(files.rlim_cur);
    by_descriptors = limit > kReservedDescriptors + 16 ? limit - kReservedDescriptors : 16;
  }
  std::size_t by_memory = 65536;
  long pages = sysconf(_SC_PHYS_PAGES);
  long page_size = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page_size > 0) {
    // At most an eighth of physical memory for sessions.
    by_memory = static_cast<std::size_t>(pages) / 8 * static_cast<std::size_t>(page_size) /
                kSessionMemory;
  }
  return std::clamp<std::size_t>(std::min(by_descriptors, by_memory), 16, 65536);
}

std::size_t choose_ntp_server(ServerChoice choice, const SocketAddress& peer, std::size_t count,
                              std::uint64_t turn) {
  if (count <= 1) return 0;
  if (choice == ServerChoice::RoundRobin) return static_cast<std::size_t>(turn % count);
  std::uint64_t h = 0;
  if (peer.family() == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(peer.get());
    h = address_hash(reinterpret_cast<const std::uint8_t*>(&v4->sin_addr), 4);
  } else if (peer.family() == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(peer.get());
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(&v6->sin6_addr);
    h = IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr) ? address_hash(bytes + 12, 4) : address_hash(bytes, 16);
  }
  return static_cast<std::size_t>(h % count);
}

std::size_t ke_shard_max_sessions(std::size_t max_sessions, unsigned threads) {
  return std::max<std::size_t>(1, max_sessions / std::max(1u, threads));
}

namespace {

// One thread's part of the server: its own io_context, a listener per address
// (an SO_REUSEPORT group across shards), rate limiter, waiting list and share
// of max_sessions. The counters and the round-robin turn are the server's.
struct KeShard {
  KeShard(std::shared_ptr<const CertificateStore> c, KeServerSettings s,
          const keys::PublishedKeyring& k, KeServerCounters& counters_,
          std::atomic<std::uint64_t>& answered)
      : certificates(std::move(c)), settings(std::move(s)), keyring(k), counters(counters_),
        sessions_answered(answered), connection_limit(settings.rate_limit) {}

  std::shared_ptr<const CertificateStore> certificates;
  KeServerSettings settings;  // max_sessions: this shard's share
  const keys::PublishedKeyring& keyring;
  KeServerCounters& counters;
  std::atomic<std::uint64_t>& sessions_answered;  // the round-robin turn
  core::SystemRandom random;
  LogLimiter session_log{10.0, 50.0};
  RateLimiter connection_limit;  // per client address; only this shard's thread uses it
  // Declared before io: session frames, destroyed with io, still unlist themselves.
  WaitingSessions waiting;       // sessions before their whole request
  std::size_t active = 0;        // this shard's open sessions
  asio::io_context io{1};
  std::vector<tcp::acceptor> acceptors;
  std::thread thread;

  asio::awaitable<void> accept_loop(tcp::acceptor& acceptor) {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(kAwaitTuple);
      if (ec == asio::error::operation_aborted) co_return;
      if (ec) {
        // Out of descriptors or similar: back off briefly instead of spinning.
        if (session_log.allow()) spdlog::warn("nts-ke: accept failed: {}", ec.message());
        asio::steady_timer pause(io, std::chrono::milliseconds(50));
        co_await pause.async_wait(kAwaitTuple);
        continue;
      }
      const auto accepted_at = std::chrono::steady_clock::now();
      counters.accepted.fetch_add(1, std::memory_order_relaxed);
      if (!admit(socket)) continue;
      asio::co_spawn(io, session(std::move(socket), accepted_at), asio::detached);
    }
  }

  // Whether a just-accepted connection gets a session: not when its address is
  // over the connection rate limit, nor when max_sessions are open and none of
  // them still waits for its request (else the oldest waiting one is closed). A
  // refused one is reset at once (no TLS, no TIME_WAIT left here), counted,
  // never logged per connection.
  bool admit(tcp::socket& socket) {
    std::atomic<std::uint64_t>* refused = nullptr;
    if (connection_limit.settings().enabled()) {
      asio::error_code ec;
      auto peer = socket.remote_endpoint(ec);
      if (!ec && connection_limit.check(peer.data()) != RateVerdict::Allow) {
        refused = &counters.refused_rate;
      }
    }
    if (refused == nullptr && active >= settings.max_sessions) {
      if (waiting.evict_oldest()) {
        counters.evicted.fetch_add(1, std::memory_order_relaxed);
      } else {
        refused = &counters.refused_busy;
      }
    }
    if (refused == nullptr) {
      counters.active.fetch_add(1, std::memory_order_relaxed);  // released by ActiveSession
      ++active;
      return true;
    }
    refused->fetch_add(1, std::memory_order_relaxed);
    asio::error_code ignored;
    socket.set_option(asio::socket_base::linger(true, 0), ignored);
    socket.close(ignored);
    return false;
  }

  // Mints the cookies and builds the response for a decided request.
  // The response policy for a client at `peer`: the NTP server it is handed.
  core::KeServerPolicy policy_for(const SocketAddress& peer) {
    core::KeServerPolicy policy = settings.policy;
    if (!settings.ntp_servers.empty()) {
      auto turn = sessions_answered.fetch_add(1, std::memory_order_relaxed);
      const auto& chosen = settings.ntp_servers[choose_ntp_server(
          settings.server_choice, peer, settings.ntp_servers.size(), turn)];
      policy.ntp_server = chosen.host;
      policy.ntp_port = chosen.port;
    }
    return policy;
  }

  core::Bytes answer(core::KeDecision& decision, SSL* ssl, const SocketAddress& peer) {
    std::vector<core::Bytes> cookies;
    if (decision.outcome == core::KeOutcome::Ok) {
      auto keys = export_keys(
          ssl, *decision.aead,
          core::exporter_context_aead(*decision.aead, decision.compliant_gcm_siv));
      if (!keys) {
        spdlog::error("nts-ke: key export failed: {}", take_openssl_errors());
        decision = core::KeDecision{core::KeOutcome::BadRequest, core::KeBadRequest::None, {}};
        return core::build_ke_error_response(core::KeErrorCode::InternalServerError);
      }
      auto current_keys = keyring.load();
      const auto& key = current_keys->current();
      cookies.reserve(kCookiesPerResponse);
      for (std::size_t i = 0; i < kCookiesPerResponse; ++i) {
        core::Bytes cookie(core::cookie_length(keys->algorithm()));
        core::seal_cookie(key, *keys, random, cookie);
        cookies.push_back(std::move(cookie));
      }
    }
    if (decision.outcome != core::KeOutcome::Ok) {
      return core::build_ke_response(decision, cookies, settings.policy);
    }
    return core::build_ke_response(decision, cookies, policy_for(peer));
  }

  asio::awaitable<void> session(tcp::socket socket,
                                std::chrono::steady_clock::time_point accepted_at) {
    ActiveSession active_session(counters.active, active);
    asio::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto peer_address = from_endpoint(socket.remote_endpoint(ignored));
    auto peer = peer_address.to_string();
    // The SSL holds its own reference to the context: a reload after this point
    // leaves this session on the certificate it started with.
    SSL* ssl = SSL_new(certificates->default_context().get());
    if (ssl == nullptr) {
      counters.tls_failed.fetch_add(1, std::memory_order_relaxed);
      if (session_log.allow()) spdlog::error("nts-ke: SSL_new failed: {}", take_openssl_errors());
      co_return;
    }
    SslStream stream(std::move(socket), ssl);  // owns ssl from here
    WaitingSessions::Slot waiting_slot;
    std::optional<WaitingGuard> waiting_guard(std::in_place, waiting, waiting_slot,
                                              stream.next_layer());

    // One deadline for the handshake and the whole request.
    SessionDeadline deadline(io, stream.next_layer(), settings.timeout);

    auto [handshake_ec] = co_await stream.async_handshake(SslStream::server,
                                                          kAwaitTuple);
    if (handshake_ec) {
      deadline.disarm();
      if (waiting_slot.evicted) co_return;  // counted by admit()
      if (deadline.fired()) {
        counters.timeout.fetch_add(1, std::memory_order_relaxed);
      } else {
        counters.tls_failed.fetch_add(1, std::memory_order_relaxed);
      }
      if (session_log.allow()) {
        spdlog::debug("nts-ke: {}: TLS handshake failed: {}", peer,
                      deadline.fired() ? "timeout" : handshake_ec.message());
      }
      co_return;
    }
    counters.handshake.observe(std::chrono::steady_clock::now() - accepted_at);
    if (!negotiated_ntske_alpn(stream.native_handle())) {
      waiting_guard.reset();
      counters.no_alpn.fetch_add(1, std::memory_order_relaxed);
      if (session_log.allow()) spdlog::debug("nts-ke: {}: no ALPN ntske/1, closing", peer);
      co_await close(stream);
      co_return;
    }

    // Reassemble the request: it may arrive in several TLS records and segments.
    core::Bytes buffer(settings.max_request_length);
    std::size_t received = 0;
    core::KeMessage message;
    bool eof = false;
    while (received < buffer.size()) {
      auto [ec, n] = co_await stream.async_read_some(
          asio::buffer(buffer.data() + received, buffer.size() - received),
          kAwaitTuple);
      received += n;
      message = core::parse_ke_message({buffer.data(), received});
      if (message.status != core::KeMessageStatus::Incomplete) break;
      if (ec) {
        eof = !deadline.fired();
        break;
      }
    }
    deadline.disarm();
    waiting_guard.reset();
    if (waiting_slot.evicted) co_return;  // counted by admit()

    core::KeDecision decision;
    if (message.status == core::KeMessageStatus::Incomplete) {
      if (received == 0 || eof) {
        // Nothing to answer: the client went away or never asked.
        (deadline.fired() ? counters.timeout : counters.closed_early).fetch_add(1, std::memory_order_relaxed);
        if (session_log.allow()) {
          spdlog::debug("nts-ke: {}: {} before a whole request", peer,
                        deadline.fired() ? "timeout" : "connection closed");
        }
        if (deadline.fired() || eof) co_return;
      }
      // A partial request that timed out, or one larger than we accept: Error 1.
      decision = core::ke_bad_request(deadline.fired() ? core::KeBadRequest::Timeout
                                                       : core::KeBadRequest::Malformed);
      if (deadline.fired()) counters.timeout.fetch_add(1, std::memory_order_relaxed);
    } else {
      decision = core::decide_ke_request(message, message.trailing_data(received), settings.policy);
    }

    auto response = answer(decision, stream.native_handle(), peer_address);
    core::secure_wipe(buffer.data(), received);
    switch (decision.outcome) {
      case core::KeOutcome::Ok:
        counters.ok.fetch_add(1, std::memory_order_relaxed);
        break;
      case core::KeOutcome::NoCommonAead:
      case core::KeOutcome::NoCommonProtocol:
        counters.negotiation_failed.fetch_add(1, std::memory_order_relaxed);
        break;
      default:
        // A partial request that timed out was counted as a timeout above: one
        // outcome per session.
        if (decision.bad_request != core::KeBadRequest::Timeout) {
          counters.error_response.fetch_add(1, std::memory_order_relaxed);
        }
        break;
    }
    if (decision.outcome != core::KeOutcome::Ok && session_log.allow()) {
      spdlog::debug("nts-ke: {}: {} {}", peer, core::ke_outcome_name(decision.outcome),
                    core::ke_bad_request_name(decision.bad_request));
    }

    // The whole response in one write: some clients (NTPsec 1.2) read only once.
    SessionDeadline write_deadline(io, stream.next_layer(), settings.timeout);
    auto [write_ec, written] = co_await asio::async_write(stream, asio::buffer(response),
                                                          kAwaitTuple);
    (void)written;
    if (!write_ec) co_await close(stream);
    write_deadline.disarm();
  }

  // Sends close_notify and waits for the peer's, within the caller's deadline.
  static asio::awaitable<void> close(SslStream& stream) {
    auto [ec] = co_await stream.async_shutdown(kAwaitTuple);
    (void)ec;
    asio::error_code ignored;
    stream.lowest_layer().close(ignored);
  }
};

}  // namespace

struct KeServer::Impl {
  KeServerCounters counters;
  std::atomic<std::uint64_t> sessions_answered{0};
  std::vector<std::unique_ptr<KeShard>> shards;  // after what they refer to

  Impl(const std::shared_ptr<const CertificateStore>& certificates, KeServerSettings settings,
       const keys::PublishedKeyring& keyring) {
    const unsigned threads = std::max(1u, settings.threads);
    if (settings.max_sessions == 0) settings.max_sessions = default_ke_max_sessions();
    settings.max_sessions = ke_shard_max_sessions(settings.max_sessions, threads);
    for (unsigned i = 0; i < threads; ++i) {
      shards.push_back(
          std::make_unique<KeShard>(certificates, settings, keyring, counters, sessions_answered));
    }
    bind(settings);
  }

  // Every shard gets a listener per address, shard 0's first: port 0 resolves
  // there and the others bind that port. Listeners join the SO_REUSEPORT group
  // in listen order, the index the steering program returns.
  void bind(const KeServerSettings& settings) {
    const bool reuse_port = shards.size() > 1;
    for (const auto& address : settings.listen) {
      if (reuse_port && address_in_use(address, SOCK_STREAM)) {
        throw ConfigError("--ke-listen", address.to_string() + ": " + std::strerror(EADDRINUSE));
      }
      auto endpoint = to_endpoint(address);
      for (auto& shard : shards) {
        shard->acceptors.push_back(bind_acceptor(shard->io, endpoint, reuse_port, address));
        if (shard == shards.front()) endpoint = shard->acceptors.back().local_endpoint();
      }
      for (auto& shard : shards) {
        asio::error_code ec;
        shard->acceptors.back().listen(asio::socket_base::max_listen_connections, ec);
        if (ec) throw ConfigError("--ke-listen", address.to_string() + ": " + ec.message());
      }
      if (!reuse_port) continue;
      // Without it the kernel hashes the source port too, and one address's
      // connections would meet several shards' rate limiters.
      const int family = address.family();
      if (!steer_by_source_prefix(shards.front()->acceptors.back().native_handle(), family,
                                  steering_prefix_bits(settings.rate_limit, family),
                                  static_cast<unsigned>(shards.size()))) {
        spdlog::warn("nts-ke: {}: cannot steer clients to threads by address ({}): the connection "
                     "rate limit applies per thread",
                     from_endpoint(endpoint).to_string(), std::strerror(errno));
      }
    }
  }
};

KeServer::KeServer(std::shared_ptr<const CertificateStore> certificates, KeServerSettings settings,
                   const keys::PublishedKeyring& keyring)
    : impl_(std::make_unique<Impl>(certificates, std::move(settings), keyring)) {}

KeServer::~KeServer() { stop(); }

void KeServer::start() {
  for (auto& shard : impl_->shards) {
    for (auto& acceptor : shard->acceptors) {
      asio::co_spawn(shard->io, shard->accept_loop(acceptor), asio::detached);
    }
    shard->thread = std::thread([io = &shard->io] { io->run(); });
  }
}

void KeServer::stop() {
  if (!impl_) return;
  for (auto& shard : impl_->shards) {
    asio::post(shard->io, [s = shard.get()] {
      for (auto& acceptor : s->acceptors) {
        asio::error_code ignored;
        acceptor.close(ignored);
      }
    });
    shard->io.stop();
  }
  for (auto& shard : impl_->shards) {
    if (shard->thread.joinable()) shard->thread.join();
  }
}

const KeServerCounters& KeServer::counters() const { return impl_->counters; }

std::vector<SocketAddress> KeServer::local_addresses() const {
  std::vector<SocketAddress> out;
  for (const auto& acceptor : impl_->shards.front()->acceptors) {
    asio::error_code ec;
    out.push_back(from_endpoint(acceptor.local_endpoint(ec)));
  }
  return out;
}

}  // namespace ntsd::server
