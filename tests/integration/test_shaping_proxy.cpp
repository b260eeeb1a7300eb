// netshaper::ShapingProxy over loopback (tools/netshaper): integrity both ways, added RTT,
// bandwidth cap, each injected TcpFault and a prompt stop(); and the mmapurl-shaper program.
// Timing asserts are lower bounds with loose tops. Its pure parts are unit-tested in
// tests/unit/test_token_bucket.cpp and test_timed_byte_queue.cpp.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "netshaper/shaping_proxy.hpp"

namespace mmapurl::netshaper {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

bool write_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = send(fd, data, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

struct ReadResult {
  std::string data;
  int error = 0;  // errno of the read that ended it; 0 for EOF
};

// Reads until EOF, an error, or `limit` bytes.
ReadResult read_until_end(int fd, size_t limit = SIZE_MAX) {
  ReadResult r;
  std::vector<char> buf(256 * 1024);
  while (r.data.size() < limit) {
    const ssize_t n = recv(fd, buf.data(), std::min(buf.size(), limit - r.data.size()), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      r.error = errno;
      break;
    }
    if (n == 0) break;
    r.data.append(buf.data(), static_cast<size_t>(n));
  }
  return r;
}

// True if fd has something to read (data, EOF or error) within timeout_ms.
bool readable_within(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) > 0;
}

int connect_loopback(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  const timeval tv{5, 0};  // no test may hang on a read
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// A loopback server running `handler(fd)` on its own thread per connection.
class TestServer {
 public:
  explicit TestServer(std::function<void(int)> handler) : handler_(std::move(handler)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(listen(listen_fd_, 64), 0);
    socklen_t len = sizeof a;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~TestServer() {
    stopping_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    {
      std::lock_guard lock(mu_);
      for (int fd : fds_) shutdown(fd, SHUT_RDWR);  // unblocks handlers
    }
    for (auto& t : handlers_) t.join();
    for (int fd : fds_) close(fd);
    close(listen_fd_);
  }
  uint16_t port() const { return port_; }

 private:
  void accept_loop() {
    while (!stopping_) {
      const int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) break;
      std::lock_guard lock(mu_);
      fds_.push_back(fd);
      handlers_.emplace_back([this, fd] { handler_(fd); });
    }
  }
  std::function<void(int)> handler_;
  int listen_fd_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> fds_;
  std::vector<std::thread> handlers_;
};

// Echoes everything back, then half-closes after the client's EOF.
void echo(int fd) {
  std::vector<char> buf(256 * 1024);
  for (;;) {
    const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) break;
    if (!write_all(fd, buf.data(), static_cast<size_t>(n))) return;
  }
  shutdown(fd, SHUT_WR);
}

// Waits for one request byte, then sends `body` and closes.
std::function<void(int)> sender(const std::string* body) {
  return [body](int fd) {
    char c;
    if (recv(fd, &c, 1, 0) != 1) return;
    write_all(fd, body->data(), body->size());
    shutdown(fd, SHUT_WR);
  };
}

std::unique_ptr<ShapingProxy> start_proxy(uint16_t target_port, ShaperOptions opts = {}) {
  opts.target_port = target_port;
  auto proxy = std::make_unique<ShapingProxy>(opts);
  std::string error;
  EXPECT_TRUE(proxy->start(&error)) << error;
  EXPECT_NE(proxy->port(), 0);
  return proxy;
}

// Sends one request byte through the proxy and reads the reply until its end.
ReadResult fetch(uint16_t port) {
  const int fd = connect_loopback(port);
  if (fd < 0) return {"", errno};
  ReadResult r;
  if (!write_all(fd, "G", 1)) {
    r.error = errno;
  } else {
    r = read_until_end(fd);
  }
  close(fd);
  return r;
}

// Three clients through the proxy, each with a byte sent: connections stop() has to end.
void open_live_clients(uint16_t port, std::vector<int>* fds) {
  for (int i = 0; i < 3; ++i) {
    fds->push_back(connect_loopback(port));
    ASSERT_GE(fds->back(), 0);
    ASSERT_TRUE(write_all(fds->back(), "x", 1));
  }
}

// stop() returns within 500 ms and every client sees its connection end; closes the clients.
void expect_quick_stop_closes_clients(ShapingProxy& proxy, const std::vector<int>& fds) {
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto t0 = Clock::now();
  proxy.stop();
  EXPECT_LE(ms_since(t0), 500);
  for (int fd : fds) {
    EXPECT_TRUE(readable_within(fd, 1000));  // closed by the proxy: EOF or reset
    close(fd);
  }
}

// 8 MiB through the proxy to an echo server and back, then a half-close each way.
void expect_echo_arrives_intact(ShaperOptions opts, uint32_t seed) {
  TestServer server(echo);
  auto proxy = start_proxy(server.port(), opts);
  const std::string payload = random_bytes(8 << 20, seed);
  const int fd = connect_loopback(proxy->port());
  ASSERT_GE(fd, 0);
  std::thread writer([&] {
    EXPECT_TRUE(write_all(fd, payload.data(), payload.size()));
    shutdown(fd, SHUT_WR);  // the half-close must reach the server, whose EOF must come back
  });
  const ReadResult echoed = read_until_end(fd);
  writer.join();
  close(fd);
  EXPECT_EQ(echoed.error, 0);
  ASSERT_EQ(echoed.data.size(), payload.size());
  EXPECT_EQ(fnv1a(echoed.data), fnv1a(payload));
  const auto c = proxy->counters();
  EXPECT_EQ(c.connections, 1u);
  EXPECT_EQ(c.bytes_up, payload.size());
  EXPECT_EQ(c.bytes_down, payload.size());
}

ShaperOptions spliced() {
  ShaperOptions opts;
  opts.splice = true;
  return opts;
}

TEST(NetShaperForwarding, BytesArriveIntactBothWays) { expect_echo_arrives_intact({}, 1); }

TEST(NetShaperSplice, BytesArriveIntactBothWays) { expect_echo_arrives_intact(spliced(), 11); }

TEST(NetShaperSplice, ConnectionsAtOnceEachGetTheirWholeBody) {
  const std::string body = random_bytes(3 << 20, 12);
  TestServer server(sender(&body));
  auto proxy = start_proxy(server.port(), spliced());
  constexpr int kClients = 8;
  std::vector<ReadResult> results(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i)
    clients.emplace_back([&, i] { results[i] = fetch(proxy->port()); });
  for (auto& t : clients) t.join();
  for (const auto& r : results) {
    EXPECT_EQ(r.error, 0) << std::strerror(r.error);
    ASSERT_EQ(r.data.size(), body.size());
    EXPECT_EQ(fnv1a(r.data), fnv1a(body));
  }
  EXPECT_EQ(proxy->counters().bytes_down, kClients * body.size());
}

TEST(NetShaperSplice, AClientResetReachesTheServer) {
  std::atomic<int> server_error{0};
  TestServer server([&server_error](int fd) {
    char c;
    if (recv(fd, &c, 1, 0) != 1) return;
    const std::string chunk(64 * 1024, 'x');
    for (;;) {  // sends until the connection breaks
      if (send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL) >= 0 || errno == EINTR) continue;
      server_error = errno;
      return;
    }
  });
  auto proxy = start_proxy(server.port(), spliced());
  const int fd = connect_loopback(proxy->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(write_all(fd, "G", 1));
  EXPECT_EQ(read_until_end(fd, 1 << 20).data.size(), size_t{1} << 20);
  const linger reset{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  close(fd);
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (server_error == 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(server_error == ECONNRESET || server_error == EPIPE) << std::strerror(server_error);
}

TEST(NetShaperSplice, ShapedBytesArriveIntactBothWays) {
  ShaperOptions opts = spliced();
  opts.delay_ms_up = 3;
  opts.delay_ms_down = 5;
  opts.conn_mbps = 200;  // 8 MiB each way: about 42 ms at the cap
  expect_echo_arrives_intact(opts, 13);
}

TEST(NetShaperSplice, StopWithLiveConnectionsIsQuick) {
  TestServer server(echo);
  auto proxy = start_proxy(server.port(), spliced());
  std::vector<int> fds;
  ASSERT_NO_FATAL_FAILURE(open_live_clients(proxy->port(), &fds));
  expect_quick_stop_closes_clients(*proxy, fds);
}

// The delay and cap tests run against both forwarders: the copying one and splice(2).
class ShapedForwarding : public ::testing::TestWithParam<bool> {
 protected:
  ShaperOptions forwarder() const {
    ShaperOptions opts;
    opts.splice = GetParam();
    return opts;
  }
};
class NetShaperDelay : public ShapedForwarding {};
class NetShaperBandwidth : public ShapedForwarding {};
std::string forwarder_name(const ::testing::TestParamInfo<bool>& info) {
  return info.param ? "Splice" : "Copy";
}
INSTANTIATE_TEST_SUITE_P(Forwarders, NetShaperDelay, ::testing::Bool(), forwarder_name);
INSTANTIATE_TEST_SUITE_P(Forwarders, NetShaperBandwidth, ::testing::Bool(), forwarder_name);

TEST_P(NetShaperDelay, EachRequestResponseCostsOneRtt) {
  TestServer server(echo);
  ShaperOptions opts = forwarder();
  opts.delay_ms_up = 20;
  opts.delay_ms_down = 40;
  auto proxy = start_proxy(server.port(), opts);
  const int fd = connect_loopback(proxy->port());
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 3; ++i) {  // keep-alive: every exchange pays the RTT again
    const auto t0 = Clock::now();
    ASSERT_TRUE(write_all(fd, "p", 1));
    char c = 0;
    ASSERT_EQ(recv(fd, &c, 1, 0), 1);
    const double rtt = ms_since(t0);
    EXPECT_EQ(c, 'p');
    EXPECT_GE(rtt, 0.9 * 60);
    EXPECT_LE(rtt, 60 + 200);
  }
  close(fd);
}

TEST_P(NetShaperDelay, HandshakeEmulationChargesAFreshConnectionOneMoreRtt) {
  TestServer server(echo);
  ShaperOptions opts = forwarder();
  opts.delay_ms_up = 30;
  opts.delay_ms_down = 30;
  opts.emulate_handshake_rtt = true;
  auto proxy = start_proxy(server.port(), opts);
  const auto t0 = Clock::now();
  const int fd = connect_loopback(proxy->port());
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 2; ++i) {
    const auto t = Clock::now();
    ASSERT_TRUE(write_all(fd, "p", 1));
    char c = 0;
    ASSERT_EQ(recv(fd, &c, 1, 0), 1);
    if (i == 0) {
      EXPECT_GE(ms_since(t0), 0.9 * 120);  // handshake RTT + request RTT
    } else {
      EXPECT_GE(ms_since(t), 0.9 * 60);  // later exchanges pay one RTT
      EXPECT_LE(ms_since(t), 60 + 200);
    }
  }
  close(fd);
}

// A server that writes 64 MiB as fast as the proxy takes it, behind a proxy with `opts` whose
// delay keeps anything from reaching the client: what the server got rid of in 300 ms, which
// only the proxy's queue and the kernel's socket buffers can have taken.
size_t bytes_taken_from_an_eager_sender(ShaperOptions opts) {
  const std::string body(64 << 20, 'z');
  std::atomic<size_t> sent{0};
  TestServer server([&](int fd) {
    char c;
    if (recv(fd, &c, 1, 0) != 1) return;
    for (size_t off = 0; off < body.size(); off += 1 << 20) {
      if (!write_all(fd, body.data() + off, 1 << 20)) return;
      sent += 1 << 20;
    }
  });
  opts.delay_ms_down = 1000;  // nothing reaches the client during the test
  auto proxy = start_proxy(server.port(), opts);
  const int fd = connect_loopback(proxy->port());
  EXPECT_GE(fd, 0);
  EXPECT_TRUE(write_all(fd, "G", 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(proxy->counters().bytes_down, 0u);
  const size_t taken = sent.load();
  proxy->stop();  // resets the server side, which ends the writer
  if (fd >= 0) close(fd);
  return taken;
}

TEST_P(NetShaperDelay, FullQueueStopsReadingFromTheSender) {
  ShaperOptions opts = forwarder();
  opts.max_queued_bytes = 1 << 20;
  // The 1 MiB queue and the kernel's socket buffers: far less than the 64 MiB on offer.
  EXPECT_LT(bytes_taken_from_an_eager_sender(opts), size_t{40} << 20);
}

TEST_P(NetShaperBandwidth, CappedLinkBuffersOnlyWhatItCarriesOverItsDelay) {
  // A real 1 MB/s link lets the sender run ahead by what is on the wire and in the bottleneck's
  // queue, not by the proxy's 64 MiB default: with a cap, the queue is rate x (delay + 20 ms),
  // about 1.5 MB here (without the cap the proxy took all 64 MiB).
  ShaperOptions opts = forwarder();
  opts.conn_mbps = 1;
  ASSERT_EQ(opts.max_queued_bytes, size_t{64} << 20);
  EXPECT_LT(bytes_taken_from_an_eager_sender(opts), size_t{40} << 20);
}

TEST_P(NetShaperDelay, DelayDoesNotCutThroughput) {
  const std::string body = random_bytes(16 << 20, 2);
  TestServer server(sender(&body));
  ShaperOptions opts = forwarder();
  opts.delay_ms_up = 25;
  opts.delay_ms_down = 25;
  auto proxy = start_proxy(server.port(), opts);
  const auto t0 = Clock::now();
  const ReadResult r = fetch(proxy->port());
  const double elapsed = ms_since(t0);
  ASSERT_EQ(r.data.size(), body.size());
  EXPECT_EQ(fnv1a(r.data), fnv1a(body));
  EXPECT_GE(elapsed, 0.9 * 50);
  // With a stop-and-wait pipe 16 MiB in 256 KiB reads would take 64 RTTs = 3.2 s.
  EXPECT_LE(elapsed, 2500);
}

TEST_P(NetShaperBandwidth, PerConnectionCapIsRespected) {
  const std::string body = random_bytes(3 << 20, 3);
  TestServer server(sender(&body));
  ShaperOptions opts = forwarder();
  opts.conn_mbps = 10;  // 3 MiB at 10 MB/s: ≈0.31 s
  auto proxy = start_proxy(server.port(), opts);
  const auto t0 = Clock::now();
  const ReadResult r = fetch(proxy->port());
  const double elapsed = ms_since(t0);
  ASSERT_EQ(r.data.size(), body.size());
  EXPECT_EQ(fnv1a(r.data), fnv1a(body));
  EXPECT_GE(elapsed, 250);
  EXPECT_LE(elapsed, 2500);
}

TEST(NetShaperFault, ResetAfterBytesCutsTheBody) {
  const std::string body = random_bytes(2 << 20, 4);
  TestServer server(sender(&body));
  auto proxy = start_proxy(server.port());
  proxy->set_fault(TcpFault::kResetAfterBytes, 100000);
  const ReadResult r = fetch(proxy->port());
  EXPECT_LE(r.data.size(), 100000u);
  EXPECT_TRUE(r.error == ECONNRESET || r.error == 0) << std::strerror(r.error);
  EXPECT_EQ(body.compare(0, r.data.size(), r.data), 0);
  EXPECT_EQ(proxy->faulted_connections(), 1u);
}

TEST(NetShaperFault, CloseAfterBytesTruncatesExactly) {
  const std::string body = random_bytes(2 << 20, 5);
  TestServer server(sender(&body));
  auto proxy = start_proxy(server.port());
  proxy->set_fault(TcpFault::kCloseAfterBytes, 123457);
  const ReadResult r = fetch(proxy->port());
  EXPECT_EQ(r.error, 0) << std::strerror(r.error);  // a clean EOF, not a reset
  ASSERT_EQ(r.data.size(), 123457u);
  EXPECT_EQ(body.compare(0, r.data.size(), r.data), 0);
}

TEST(NetShaperFault, MaxConnectionsLimitsWhoIsFaulted) {
  const std::string body = random_bytes(1 << 20, 6);
  TestServer server(sender(&body));
  auto proxy = start_proxy(server.port());
  proxy->set_fault(TcpFault::kCloseAfterBytes, 1000, 1);
  EXPECT_EQ(fetch(proxy->port()).data.size(), 1000u);
  const ReadResult second = fetch(proxy->port());  // the retry gets the whole body
  ASSERT_EQ(second.data.size(), body.size());
  EXPECT_EQ(fnv1a(second.data), fnv1a(body));
}

TEST(NetShaperFault, StallHoldsBytesUntilCleared) {
  const std::string body = random_bytes(1 << 20, 7);
  TestServer server(sender(&body));
  auto proxy = start_proxy(server.port());
  proxy->set_fault(TcpFault::kStallAfterBytes, 200000);
  const int fd = connect_loopback(proxy->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(write_all(fd, "G", 1));
  ReadResult r = read_until_end(fd, 200000);
  ASSERT_EQ(r.data.size(), 200000u);
  EXPECT_FALSE(readable_within(fd, 300));  // stalled: nothing more, not even EOF
  proxy->clear_fault();
  const ReadResult rest = read_until_end(fd);
  close(fd);
  EXPECT_EQ(rest.error, 0);
  EXPECT_EQ(fnv1a(r.data + rest.data), fnv1a(body));
}

TEST(NetShaperFault, RefuseResetsExistingAndNewThenRecovers) {
  TestServer server(echo);
  auto proxy = start_proxy(server.port());
  const int existing = connect_loopback(proxy->port());
  ASSERT_GE(existing, 0);
  ASSERT_TRUE(write_all(existing, "a", 1));
  char c;
  ASSERT_EQ(recv(existing, &c, 1, 0), 1);

  proxy->set_fault(TcpFault::kRefuse);
  const ReadResult cut = read_until_end(existing);  // the live connection dies at once
  EXPECT_TRUE(cut.error == ECONNRESET || cut.error == 0) << std::strerror(cut.error);
  EXPECT_TRUE(cut.data.empty());
  close(existing);
  const ReadResult refused = fetch(proxy->port());
  EXPECT_TRUE(refused.data.empty());
  EXPECT_TRUE(refused.error == ECONNRESET || refused.error == EPIPE || refused.error == 0)
      << std::strerror(refused.error);

  proxy->clear_fault();  // the server is back
  const int again = connect_loopback(proxy->port());
  ASSERT_GE(again, 0);
  ASSERT_TRUE(write_all(again, "b", 1));
  ASSERT_EQ(recv(again, &c, 1, 0), 1);
  EXPECT_EQ(c, 'b');
  close(again);
  EXPECT_GE(proxy->faulted_connections(), 2u);
}

TEST(NetShaperLifecycle, UpstreamDownResetsTheClient) {
  uint16_t dead_port;
  {
    TestServer gone(echo);  // take a free port, then let it go
    dead_port = gone.port();
  }
  auto proxy = start_proxy(dead_port);
  const ReadResult r = fetch(proxy->port());
  EXPECT_TRUE(r.data.empty());
  EXPECT_TRUE(r.error == ECONNRESET || r.error == EPIPE || r.error == 0);
}

TEST(NetShaperLifecycle, StopWithLiveConnectionsIsQuick) {
  TestServer server(echo);
  ShaperOptions opts;
  opts.delay_ms_down = 1000;  // data in flight inside the proxy
  auto proxy = start_proxy(server.port(), opts);
  std::vector<int> fds;
  ASSERT_NO_FATAL_FAILURE(open_live_clients(proxy->port(), &fds));
  proxy->set_fault(TcpFault::kStallAfterBytes, 0, 1);  // and one stalled connection
  expect_quick_stop_closes_clients(*proxy, fds);
}

// The standalone binary: prints its port, forwards, exits 0 on SIGTERM.
TEST(NetShaperCli, ListensForwardsAndStopsOnSigterm) {
  std::string binary;
#ifdef MMAPURL_BINARY_DIR
  binary = MMAPURL_BINARY_DIR "/tools/mmapurl-shaper";
#endif
  if (const char* env = std::getenv("MMAPURL_SHAPER_BIN")) binary = env;
  if (binary.empty() || access(binary.c_str(), X_OK) != 0) {
    GTEST_SKIP() << "mmapurl-shaper not built: " << binary;
  }
  TestServer server(echo);
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  const std::string target = "127.0.0.1:" + std::to_string(server.port());
  std::vector<std::string> args = {binary, "--listen", "127.0.0.1:0", "--target",
                                   target, "--rtt-ms", "40"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);

  std::string line;
  char c;
  while (readable_within(out[0], 5000) && read(out[0], &c, 1) == 1 && c != '\n') line += c;
  close(out[0]);
  const std::string prefix = "listening on 127.0.0.1:";
  ASSERT_EQ(line.rfind(prefix, 0), 0u) << line;
  const int port = std::atoi(line.c_str() + prefix.size());
  ASSERT_GT(port, 0);

  const int fd = connect_loopback(static_cast<uint16_t>(port));
  ASSERT_GE(fd, 0);
  const auto t0 = Clock::now();
  ASSERT_TRUE(write_all(fd, "q", 1));
  ASSERT_EQ(recv(fd, &c, 1, 0), 1);
  EXPECT_EQ(c, 'q');
  EXPECT_GE(ms_since(t0), 0.9 * 40);  // --rtt-ms splits in half each way
  close(fd);

  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace mmapurl::netshaper
