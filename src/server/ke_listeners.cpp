#include "server/ke_listeners.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>
#include <thread>

#include "common/unique_fd.h"
#include "core/random.h"
#include "server/config.h"
#include "server/ke_admission.h"
#include "server/ke_session.h"
#include "server/log.h"
#include "server/rate_limit.h"
#include "server/reuseport_steering.h"

namespace ntsd::server {

namespace {

using asio::ip::tcp;

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

// A refused connection is reset at once: no TLS, no TIME_WAIT left here.
void reset(tcp::socket& socket) {
  asio::error_code ignored;
  socket.set_option(asio::socket_base::linger(true, 0), ignored);
  socket.close(ignored);
}

// Out of descriptors, a connection would wait in the backlog until the client
// gives up, and accept() would fail again at once. A descriptor kept in reserve
// is given up for an instant to take the connection and reset it.
enum class SpareResult { Reset, NothingPending, NoSpare };

SpareResult reset_with_spare(UniqueFd& spare, int listener) {
  // Taken by another thread last time: try to get it back first.
  if (!spare.valid()) spare = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!spare.valid()) return SpareResult::NoSpare;
  spare.reset();
  int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd >= 0) {
    linger no_linger{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &no_linger, sizeof no_linger);
    ::close(fd);
  }
  spare = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  // EAGAIN: another thread's listener took it (SO_REUSEPORT) or the client left.
  return fd >= 0 ? SpareResult::Reset : SpareResult::NothingPending;
}

bool out_of_descriptors(const asio::error_code& ec) {
  return ec == asio::error::no_descriptors || ec.value() == ENFILE;
}

}  // namespace

// One thread's part of the server. The counters and the NTP server choice are
// the server's, shared by all shards.
struct KeListeners::Shard {
  Shard(const KeServerSettings& s, const std::shared_ptr<const CertificateStore>& c,
        const keys::PublishedKeyring& keyring, KeServerCounters& counters,
        NtpServerChooser& ntp_servers)
      : settings(s),
        certificates(c),
        admission(settings.max_sessions, settings.rate_limit, counters.active),
        context{settings,  certificates, keyring, counters, ntp_servers,
                admission, random,       log,     io,       settings.census_log} {}

  KeServerSettings settings;  // max_sessions: this shard's share
  std::shared_ptr<const CertificateStore> certificates;
  core::SystemRandom random;
  LogLimiter log{10.0, 50.0};
  // Before io: session frames, destroyed with io, still leave its waiting
  // list and give back their slots.
  KeAdmission admission;
  asio::io_context io{1};
  KeSessionContext context;
  std::vector<tcp::acceptor> acceptors;
  std::thread thread;
  UniqueFd spare{::open("/dev/null", O_RDONLY | O_CLOEXEC)};  // see reset_with_spare

  asio::awaitable<void> accept_loop(tcp::acceptor& acceptor) {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(kAwaitTuple);
      if (ec == asio::error::operation_aborted) co_return;
      if (ec && out_of_descriptors(ec)) {
        auto spared = reset_with_spare(spare, acceptor.native_handle());
        if (spared == SpareResult::Reset) {
          // Refused like a connection over max_sessions: counted, logged rate limited.
          context.counters.accepted.fetch_add(1, std::memory_order_relaxed);
          context.counters.count(KeSessionOutcome::RefusedBusy);
          if (log.allow()) spdlog::warn("nts-ke: out of descriptors, connection reset");
          continue;
        }
        // Nothing taken: accept() reports EMFILE before it looks at the queue, and
        // another KE thread may have used the freed slot; retrying at once would
        // spin against it, so back off below.
      }
      if (ec) {
        // Out of descriptors or similar: back off briefly instead of spinning.
        if (log.allow()) spdlog::warn("nts-ke: accept failed: {}", ec.message());
        asio::steady_timer pause(io, std::chrono::milliseconds(50));
        co_await pause.async_wait(kAwaitTuple);
        continue;
      }
      const auto accepted_at = std::chrono::steady_clock::now();
      context.counters.accepted.fetch_add(1, std::memory_order_relaxed);
      asio::error_code peer_ec;
      const auto peer = socket.remote_endpoint(peer_ec);
      auto verdict = admission.admit(peer_ec ? nullptr : peer.data(), RateLimiter::monotonic_ns());
      // Refusals are counted, never logged per connection.
      if (verdict.ended) context.counters.count(*verdict.ended);
      if (!verdict.ticket) {
        reset(socket);
        continue;
      }
      asio::co_spawn(
          io, run_ke_session(context, std::move(socket), std::move(*verdict.ticket), accepted_at),
          asio::detached);
    }
  }
};

KeListeners::KeListeners(const KeServerSettings& settings,
                         const std::shared_ptr<const CertificateStore>& certificates,
                         const keys::PublishedKeyring& keyring, KeServerCounters& counters,
                         NtpServerChooser& ntp_servers) {
  const unsigned threads = std::max(1u, settings.threads);
  KeServerSettings shard_settings = settings;
  shard_settings.max_sessions = ke_shard_max_sessions(settings.max_sessions, threads);
  for (unsigned i = 0; i < threads; ++i) {
    shards_.push_back(
        std::make_unique<Shard>(shard_settings, certificates, keyring, counters, ntp_servers));
  }
  bind(settings);
}

KeListeners::~KeListeners() { stop(); }

// Every shard gets a listener per address, shard 0's first: port 0 resolves
// there and the others bind that port. Listeners join the SO_REUSEPORT group
// in listen order, the index the steering program returns.
void KeListeners::bind(const KeServerSettings& settings) {
  const bool reuse_port = shards_.size() > 1;
  for (const auto& address : settings.listen) {
    if (reuse_port && address_in_use(address, SOCK_STREAM)) {
      throw ConfigError("--ke-listen", address.to_string() + ": " + std::strerror(EADDRINUSE));
    }
    auto endpoint = to_endpoint(address);
    for (auto& shard : shards_) {
      shard->acceptors.push_back(bind_acceptor(shard->io, endpoint, reuse_port, address));
      if (shard == shards_.front()) endpoint = shard->acceptors.back().local_endpoint();
    }
    for (auto& shard : shards_) {
      asio::error_code ec;
      shard->acceptors.back().listen(asio::socket_base::max_listen_connections, ec);
      if (ec) throw ConfigError("--ke-listen", address.to_string() + ": " + ec.message());
    }
    if (!reuse_port) continue;
    // Without it the kernel hashes the source port too, and one address's
    // connections would meet several shards' rate limiters.
    const int family = address.family();
    if (!steer_by_source_prefix(shards_.front()->acceptors.back().native_handle(), family,
                                steering_prefix_bits(settings.rate_limit, family),
                                static_cast<unsigned>(shards_.size()))) {
      spdlog::warn(
          "nts-ke: {}: cannot steer clients to threads by address ({}): the connection "
          "rate limit applies per thread",
          from_endpoint(endpoint).to_string(), std::strerror(errno));
    }
  }
}

void KeListeners::start() {
  for (auto& shard : shards_) {
    for (auto& acceptor : shard->acceptors) {
      asio::co_spawn(shard->io, shard->accept_loop(acceptor), asio::detached);
    }
    shard->thread = std::thread([io = &shard->io] { io->run(); });
  }
}

void KeListeners::stop() {
  for (auto& shard : shards_) {
    asio::post(shard->io, [s = shard.get()] {
      for (auto& acceptor : s->acceptors) {
        asio::error_code ignored;
        acceptor.close(ignored);
      }
    });
    shard->io.stop();
  }
  for (auto& shard : shards_) {
    if (shard->thread.joinable()) shard->thread.join();
  }
}

std::vector<SocketAddress> KeListeners::local_addresses() const {
  std::vector<SocketAddress> out;
  for (const auto& acceptor : shards_.front()->acceptors) {
    asio::error_code ec;
    out.push_back(from_endpoint(acceptor.local_endpoint(ec)));
  }
  return out;
}

}  // namespace ntsd::server
