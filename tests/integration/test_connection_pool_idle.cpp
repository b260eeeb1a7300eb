// ConnectionPool against the embedded server: connections left idle are closed and forgotten
// (issue 29: an origin nobody uses any more holds no descriptor and no TLS state), and closed
// before a server with a 5 s keep-alive timeout (Apache's default) closes them, so the next
// request after a pause never meets a connection the server has closed.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "embedded_server/embedded_server.hpp"
#include "net/connection_pool.hpp"

namespace {

using mmapurl::net::BodyTarget;
using mmapurl::net::ConnectionPool;
using mmapurl::net::Exchange;
using mmapurl::net::ExchangeResult;
using mmapurl::net::NetError;
using mmapurl::net::Origin;
using mmapurl::net::ResponseHead;
using mmapurl::net::TransportSettings;
using mmapurl::testserver::EmbeddedServer;
using mmapurl::testserver::ServerOptions;

struct Get {
  std::vector<uint8_t> body = std::vector<uint8_t>(4096);
  std::optional<ExchangeResult> result;
};

std::shared_ptr<Exchange> ranged_get(Get& get) {
  auto ex = std::make_shared<Exchange>();
  ex->request.method = "GET";
  ex->request.target = "/obj";
  ex->request.host_header = "127.0.0.1";
  ex->request.headers.push_back({"Range", "bytes=0-4095"});
  ex->on_head = [&get](const ResponseHead&, std::string*) -> std::optional<BodyTarget> {
    return BodyTarget{get.body.data(), 4096};
  };
  ex->on_complete = [&get](ExchangeResult&& r) { get.result = std::move(r); };
  // A thread waits: never opens connections ahead, which an answer slower than 10 ms on a loaded
  // host would have readahead do (the origin then looks far), and the counts below would move.
  ex->urgent = true;
  return ex;
}

// Runs the loop until the exchange completes (bounded).
void run_until_done(boost::asio::io_context& io, const Get& get) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!get.result && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(std::chrono::milliseconds(20));
  }
}

TEST(ConnectionPoolIdle, ClosesIdleConnectionsBeforeAServerWithAFiveSecondKeepAliveDoes) {
  ServerOptions so;
  so.tls = false;
  so.objects.push_back({"/obj", 64 << 10, 7, "\"v1\"", ""});
  so.keepalive_timeout_ms = 5000;
  EmbeddedServer server(so);
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;

  boost::asio::io_context io(1);
  boost::asio::ssl::context tls(boost::asio::ssl::context::tls_client);
  Origin origin;
  origin.host = "127.0.0.1";
  origin.port = server.port();
  ConnectionPool pool(io, tls, origin, TransportSettings{}, 4);

  Get first;
  pool.submit(ranged_get(first));
  run_until_done(io, first);
  ASSERT_TRUE(first.result);
  EXPECT_EQ(first.result->error, NetError::kNone) << first.result->message;
  EXPECT_EQ(first.result->head.status, 206u);
  EXPECT_EQ(pool.connections(), 1u);

  // Idle past both timeouts: ours (4 s) closes the connection, the server's (5 s) would have.
  // The loop runs only the pool's timer; once it has closed the connection nothing is left.
  io.restart();
  io.run_for(std::chrono::milliseconds(5500));
  EXPECT_EQ(pool.connections(), 0u) << "an idle connection was kept";

  Get second;
  pool.submit(ranged_get(second));
  run_until_done(io, second);
  ASSERT_TRUE(second.result);
  // Without the pool's own timeout the request went out on the connection the server had
  // closed at 5 s, and failed (kClosed) for the engine to retry.
  EXPECT_EQ(second.result->error, NetError::kNone) << second.result->message;
  EXPECT_EQ(second.result->head.status, 206u);
  EXPECT_EQ(server.counters().connections_accepted, 2u);
}

TEST(ConnectionPoolIdle, KeepsAConnectionThatIsUsedMoreOftenThanTheTimeout) {
  ServerOptions so;
  so.tls = false;
  so.objects.push_back({"/obj", 64 << 10, 7, "\"v1\"", ""});
  EmbeddedServer server(so);
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;

  boost::asio::io_context io(1);
  boost::asio::ssl::context tls(boost::asio::ssl::context::tls_client);
  Origin origin;
  origin.host = "127.0.0.1";
  origin.port = server.port();
  ConnectionPool pool(io, tls, origin, TransportSettings{}, 4);

  // A request every 2 s for 6 s: the idle clock restarts with each one.
  for (int i = 0; i < 4; ++i) {
    Get get;
    pool.submit(ranged_get(get));
    run_until_done(io, get);
    ASSERT_TRUE(get.result);
    EXPECT_EQ(get.result->error, NetError::kNone) << get.result->message;
    if (i < 3) {
      io.restart();
      io.run_for(std::chrono::milliseconds(2000));
    }
  }
  EXPECT_EQ(server.counters().connections_accepted, 1u);
  EXPECT_EQ(pool.connections(), 1u);
}

}  // namespace
