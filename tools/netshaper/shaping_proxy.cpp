// ShapingProxy: accepts client connections, hands each to a ProxiedConnection on its own thread,
// and relays fault changes and stop() to all of them.
#include "netshaper/shaping_proxy.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <list>
#include <mutex>
#include <system_error>
#include <thread>

#include "netshaper/proxied_connection.hpp"
#include "netshaper/socket_ops.hpp"

namespace mmapurl::netshaper {
namespace {
// The accept loop also reaps finished connection threads at least this often.
constexpr int kAcceptPollMs = 500;
}  // namespace

struct ShapingProxy::Impl {
  struct LiveConnection {
    std::shared_ptr<ProxiedConnection> connection;
    std::thread thread;
  };

  ProxyShared shared;
  int listen_fd = -1;
  int wake_fd = -1;
  uint16_t port = 0;
  bool started = false;
  bool stopped = false;
  std::thread acceptor;
  std::mutex mu;  // guards live
  std::list<LiveConnection> live;

  void accept_loop();
  void accept_one();
  void reap_finished();
  void wake_all();
};

void ShapingProxy::Impl::accept_loop() {
  while (!shared.stopping.load(std::memory_order_acquire)) {
    pollfd fds[2] = {{listen_fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    const int rc = poll(fds, 2, kAcceptPollMs);
    reap_finished();
    if (shared.stopping.load(std::memory_order_acquire)) break;
    if (rc > 0 && (fds[0].revents & POLLIN)) accept_one();
  }
}

void ShapingProxy::Impl::accept_one() {
  const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    // EMFILE and friends: back off instead of spinning on a listener we cannot drain.
    if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return;
  }
  shared.connections.fetch_add(1, std::memory_order_relaxed);
  const FaultSpec fault = shared.faults.current();
  if (fault.fault == TcpFault::kRefuse && shared.faults.claim(fault.generation)) {
    close_with_reset(fd);  // "server gone": the client's first read or write fails
    return;
  }
  auto connection = std::make_shared<ProxiedConnection>(fd, shared);
  std::lock_guard lock(mu);
  try {
    live.push_back({connection, std::thread([connection] { connection->run(); })});
  } catch (const std::system_error&) {
    // No thread for it: drop the connection (its destructor closes the client socket).
  }
}

void ShapingProxy::Impl::reap_finished() {
  std::list<LiveConnection> done;
  {
    std::lock_guard lock(mu);
    for (auto it = live.begin(); it != live.end();) {
      auto next = std::next(it);
      if (it->connection->finished()) done.splice(done.end(), live, it);
      it = next;
    }
  }
  for (LiveConnection& c : done) c.thread.join();
}

void ShapingProxy::Impl::wake_all() {
  std::lock_guard lock(mu);
  for (LiveConnection& c : live) c.connection->wake();
}

ShapingProxy::ShapingProxy(ShaperOptions opts) : impl_(std::make_unique<Impl>()) {
  impl_->shared.options = std::move(opts);
}

ShapingProxy::~ShapingProxy() { stop(); }

bool ShapingProxy::start(std::string* error) {
  Impl& s = *impl_;
  if (s.started) {
    if (error) *error = "proxy already started";
    return false;
  }
  const ShaperOptions& o = s.shared.options;
  s.shared.targets = resolve_tcp(o.target_host, o.target_port, false, error);
  if (s.shared.targets.empty()) return false;
  const auto listen_addresses = resolve_tcp(o.listen_host, o.listen_port, true, error);
  if (listen_addresses.empty()) return false;
  s.listen_fd = listen_tcp(listen_addresses, error);
  if (s.listen_fd < 0) return false;
  s.port = local_port(s.listen_fd);
  s.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s.wake_fd < 0 || !set_nonblocking(s.listen_fd)) {
    if (error) *error = "eventfd/fcntl failed";
    return false;
  }
  try {
    s.acceptor = std::thread([&s] { s.accept_loop(); });
  } catch (const std::system_error& e) {
    if (error) *error = std::string("cannot start accept thread: ") + e.what();
    return false;
  }
  s.started = true;
  return true;
}

void ShapingProxy::stop() {
  Impl& s = *impl_;
  if (s.stopped) return;
  s.stopped = true;
  s.shared.stopping.store(true, std::memory_order_release);
  if (s.wake_fd >= 0) {
    const uint64_t one = 1;
    (void)!write(s.wake_fd, &one, sizeof one);
  }
  if (s.acceptor.joinable()) s.acceptor.join();
  if (s.listen_fd >= 0) close(s.listen_fd);
  s.listen_fd = -1;
  std::list<Impl::LiveConnection> all;
  {
    std::lock_guard lock(s.mu);
    all.swap(s.live);
  }
  for (auto& c : all) c.connection->wake();
  for (auto& c : all) c.thread.join();
  if (s.wake_fd >= 0) close(s.wake_fd);
  s.wake_fd = -1;
}

uint16_t ShapingProxy::port() const { return impl_->port; }

void ShapingProxy::set_fault(TcpFault f, uint64_t after_bytes, int max_connections) {
  impl_->shared.faults.set(f, after_bytes, max_connections);
  impl_->wake_all();
}

void ShapingProxy::clear_fault() { set_fault(TcpFault::kNone, 0, -1); }

ShapingProxy::Counters ShapingProxy::counters() const {
  const ProxyShared& s = impl_->shared;
  return {s.connections.load(std::memory_order_relaxed), s.bytes_up.load(std::memory_order_relaxed),
          s.bytes_down.load(std::memory_order_relaxed)};
}

uint64_t ShapingProxy::faulted_connections() const { return impl_->shared.faults.faulted(); }

}  // namespace mmapurl::netshaper
