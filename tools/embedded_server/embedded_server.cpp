// Lifecycle of the embedded server: listening socket, accept thread, one thread per connection,
// and a stop() that interrupts every blocking call before joining.
#include "embedded_server/embedded_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "embedded_server/connection_session.hpp"
#include "embedded_server/server_core.hpp"

namespace mmapurl::testserver {

// The core exists from construction so faults and object changes can be set up before start().
EmbeddedServer::EmbeddedServer(ServerOptions opts)
    : opts_(std::move(opts)), core_(std::make_unique<ServerCore>(opts_)) {}

EmbeddedServer::~EmbeddedServer() { stop(); }

bool EmbeddedServer::start(std::string* error) {
  auto fail = [&](std::string what) {
    if (error != nullptr) *error = std::move(what);
    if (listen_fd_ >= 0) ::close(listen_fd_);
    listen_fd_ = -1;
    return false;
  };
  if (running_ || started_once_) return fail("a server starts once");
  started_once_ = true;
  if (opts_.tls) {
    std::optional<SelfSignedCert> cert = make_self_signed_cert(opts_.bind_address);
    if (!cert) return fail("cannot make a self-signed certificate");
    std::string tls_error;
    if (!core_->init_tls(cert->cert_pem, cert->key_pem, &tls_error)) return fail(tls_error);
    ca_pem_ = cert->cert_pem;
  }

  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return fail(std::string("socket: ") + std::strerror(errno));
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (::inet_pton(AF_INET, opts_.bind_address.c_str(), &addr.sin_addr) != 1) {
    return fail("not an IPv4 address: " + opts_.bind_address);
  }
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 512) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return fail(std::string("bind/listen: ") + std::strerror(errno));
  }
  port_ = ntohs(addr.sin_port);

  // Our threads take no signals: they belong to the application (SIGPIPE from a write to a
  // vanished peer becomes EPIPE). Threads inherit the mask, so block around the creation.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  accept_thread_ = std::thread([this] { accept_loop(); });
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  running_ = true;
  return true;
}

void EmbeddedServer::stop() {
  if (!running_) return;
  running_ = false;
  core_->request_stop();
  ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept() with EINVAL
  accept_thread_.join();
  ::close(listen_fd_);
  listen_fd_ = -1;
  reap_finished_connections(true);
}

void EmbeddedServer::accept_loop() {
  while (!core_->stopping()) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
        if (errno == EMFILE || errno == ENFILE) core_->sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      return;  // listener shut down
    }
    core_->connections_accepted.fetch_add(1, std::memory_order_relaxed);
    if (!core_->register_socket(fd)) {
      ::close(fd);
      return;
    }
    reap_finished_connections(false);
    auto conn = std::make_unique<Connection>();
    Connection* raw = conn.get();
    std::lock_guard<std::mutex> lock(conns_mu_);
    conn->thread = std::thread([this, fd, raw] {
      serve_connection(*core_, fd);
      std::lock_guard<std::mutex> done_lock(conns_mu_);
      raw->done = true;
    });
    conns_.push_back(std::move(conn));
  }
}

void EmbeddedServer::reap_finished_connections(bool all) {
  std::vector<std::unique_ptr<Connection>> finished;
  {
    std::lock_guard<std::mutex> lock(conns_mu_);
    auto keep = std::partition(conns_.begin(), conns_.end(),
                               [all](const auto& c) { return !all && !c->done; });
    std::move(keep, conns_.end(), std::back_inserter(finished));
    conns_.erase(keep, conns_.end());
  }
  for (auto& c : finished) c->thread.join();
}

uint16_t EmbeddedServer::port() const { return port_; }

std::string EmbeddedServer::url(const std::string& path) const {
  std::string u = std::string(opts_.tls ? "https" : "http") + "://" + opts_.bind_address + ":" +
                  std::to_string(port_);
  if (path.empty() || path.front() != '/') u += '/';
  return u + path;
}

const std::string& EmbeddedServer::ca_pem() const { return ca_pem_; }

bool EmbeddedServer::write_ca_file(const std::string& path, std::string* error) const {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << ca_pem_;
  out.close();
  if (!out) {
    if (error != nullptr) *error = "cannot write " + path;
    return false;
  }
  return true;
}

void EmbeddedServer::set_fault(Fault f, int count, const std::string& path) {
  core_->add_fault(f, count, path);
}

void EmbeddedServer::clear_faults() { core_->clear_faults(); }

void EmbeddedServer::replace_object(const std::string& path, uint64_t new_seed,
                                    const std::string& new_etag) {
  core_->replace_object(path, new_seed, new_etag);
}

void EmbeddedServer::put_object(const ObjectSpec& spec) { core_->put_object(spec); }

EmbeddedServer::Counters EmbeddedServer::counters() const {
  return Counters{core_->requests.load(), core_->bytes_sent.load(),
                  core_->connections_accepted.load(), core_->tls_key_updates_received.load()};
}

}  // namespace mmapurl::testserver
