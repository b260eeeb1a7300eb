// An HTTP/1.1 (or HTTPS) origin on loopback serving deterministic synthetic objects, with
// injectable faults, latency and bandwidth caps: the peer for uffd-bench and the fault tests.
// Plain POSIX sockets and OpenSSL, one blocking thread per connection; no Asio on purpose.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "embedded_server/self_signed_cert.hpp"
#include "embedded_server/server_options.hpp"
#include "embedded_server/synthetic_content.hpp"

namespace mmapurl::testserver {

class ServerCore;

class EmbeddedServer {
 public:
  explicit EmbeddedServer(ServerOptions opts);
  ~EmbeddedServer();  // stops
  EmbeddedServer(const EmbeddedServer&) = delete;
  EmbeddedServer& operator=(const EmbeddedServer&) = delete;

  bool start(std::string* error);  // binds 127.0.0.1 on an ephemeral port, starts accepting
  void stop();                     // closes listener and every connection, joins threads
  uint16_t port() const;
  std::string url(const std::string& path) const;  // "https://127.0.0.1:PORT/path" or http://
  const std::string& ca_pem() const;  // the self-signed cert, for SSL_CERT_FILE (empty if http)
  // Writes ca_pem() to `path` (for SSL_CERT_FILE / curl --cacert).
  bool write_ca_file(const std::string& path, std::string* error) const;

  // Faults apply to requests whose path matches (empty = all), for the next `count` requests
  // (-1 = until cleared). Rules queue up in call order; a request takes the first matching one.
  void set_fault(Fault f, int count = -1, const std::string& path = "");
  void clear_faults();  // also releases responses stalled by kStall
  // The object changed: later responses carry the new seed's bytes and the new ETag (and a newer
  // Last-Modified when the object had one). No effect on a path that serves nothing.
  void replace_object(const std::string& path, uint64_t new_seed, const std::string& new_etag);
  // Adds an object, or replaces one wholesale (size included: "the object grew").
  void put_object(const ObjectSpec& spec);

  // requests: heads parsed; bytes_sent: response bytes (head + body) handed to the socket.
  struct Counters {
    uint64_t requests, bytes_sent, connections_accepted;
    uint64_t tls_key_updates_received;  // clients' TLS 1.3 KeyUpdate messages
  };
  Counters counters() const;

 private:
  void accept_loop();
  void reap_finished_connections(bool all);

  struct Connection {
    std::thread thread;
    bool done = false;  // guarded by conns_mu_
  };

  ServerOptions opts_;
  std::unique_ptr<ServerCore> core_;
  std::string ca_pem_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  bool running_ = false;
  bool started_once_ = false;
  std::thread accept_thread_;
  std::mutex conns_mu_;
  std::vector<std::unique_ptr<Connection>> conns_;
};

}  // namespace mmapurl::testserver
