// State shared by the accept thread, the connection threads and the test's thread: objects,
// faults, counters, live sockets and the stop flag, behind one mutex and one condition variable.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "embedded_server/fault_schedule.hpp"
#include "embedded_server/response_plan.hpp"
#include "embedded_server/server_options.hpp"

namespace mmapurl::testserver {

class ServerCore {
 public:
  explicit ServerCore(ServerOptions opts);
  ~ServerCore();
  ServerCore(const ServerCore&) = delete;
  ServerCore& operator=(const ServerCore&) = delete;

  const ServerOptions& options() const { return opts_; }
  const PlanContext& plan_context() const { return plan_ctx_; }

  // TLS: loads the identity into a server SSL_CTX. nullptr ctx → plain HTTP.
  bool init_tls(const std::string& cert_pem, const std::string& key_pem, std::string* error);
  SSL_CTX* ssl_ctx() const { return ssl_ctx_; }

  std::optional<ObjectSnapshot> find_object(const std::string& path) const;
  void replace_object(const std::string& path, uint64_t new_seed, const std::string& new_etag);
  void put_object(const ObjectSpec& spec);

  struct TakenFault {
    Fault fault;
    uint64_t epoch;
  };
  TakenFault take_fault(const std::string& path);
  void add_fault(Fault f, int count, const std::string& path);
  void clear_faults();
  // Blocks until clear_faults() starts a newer epoch than `epoch`, or the server stops.
  void wait_for_fault_epoch_after(uint64_t epoch);

  // Sleeps, waking early if the server stops. False when stopping.
  bool sleep_for(std::chrono::nanoseconds d);
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }
  // Sets the stop flag, wakes sleepers and shuts down every registered socket.
  void request_stop();

  // Sockets of live connections: stop() must be able to interrupt blocking reads and writes, and
  // a descriptor is closed only under the lock, so it is never shut down after reuse.
  bool register_socket(int fd);  // false when stopping (the caller closes fd itself)
  void close_socket(int fd);

  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> bytes_sent{0};
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> tls_key_updates_received{0};  // KeyUpdate messages from clients

 private:
  const ServerOptions opts_;
  const PlanContext plan_ctx_;
  SSL_CTX* ssl_ctx_ = nullptr;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, ObjectSnapshot> objects_;
  FaultSchedule faults_;
  std::set<int> sockets_;
  std::atomic<bool> stopping_{false};
};

}  // namespace mmapurl::testserver
