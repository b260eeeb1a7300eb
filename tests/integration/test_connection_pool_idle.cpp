// ConnectionPool against the embedded server: connections left idle are closed and forgotten
// (issue 29: an origin nobody uses any more holds no descriptor and no TLS state), and closed
// before a server with a 5 s keep-alive timeout (Apache's default) closes them, so the next
// request after a pause never meets a connection the server has closed. A server with a shorter
// timeout closes first: the pool sees that close while the connection is idle, and forgets it.
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <ostream>
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

struct Transport {
  const char* name;
  bool tls;
  bool tls12_only;
};

void PrintTo(const Transport& t, std::ostream* os) { *os << t.name; }

class ConnectionPoolServerClose : public ::testing::TestWithParam<Transport> {};

// The server closes connections idle for 1 s (nginx's keepalive_timeout 1s), before the pool's
// own 4 s: over TLS with close_notify (TLS 1.2: an alert record; TLS 1.3: an encrypted record)
// and a FIN, over plain HTTP with a FIN. The next request goes out on a new connection and
// succeeds the first time.
TEST_P(ConnectionPoolServerClose, ARequestAfterTheServerClosedAnIdleConnectionDoesNotFail) {
  const Transport t = GetParam();
  ServerOptions so;
  so.tls = t.tls;
  so.objects.push_back({"/obj", 64 << 10, 7, "\"v1\"", ""});
  so.keepalive_timeout_ms = 1000;
  EmbeddedServer server(so);
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;

  boost::asio::io_context io(1);
  boost::asio::ssl::context tls(boost::asio::ssl::context::tls_client);
  if (t.tls) {
    tls.add_certificate_authority(boost::asio::buffer(server.ca_pem()));
    tls.set_verify_mode(boost::asio::ssl::verify_peer);
    if (t.tls12_only) SSL_CTX_set_max_proto_version(tls.native_handle(), TLS1_2_VERSION);
  }
  Origin origin;
  origin.host = "127.0.0.1";
  origin.port = server.port();
  origin.tls = t.tls;
  ConnectionPool pool(io, tls, origin, TransportSettings{}, 4);

  Get first;
  pool.submit(ranged_get(first));
  run_until_done(io, first);
  ASSERT_TRUE(first.result);
  ASSERT_EQ(first.result->error, NetError::kNone) << first.result->message;
  EXPECT_EQ(pool.connections(), 1u);

  // Past the server's timeout, short of the pool's (4 s): the watch on the idle connection saw
  // the server's close when it came, and the pool forgot the connection then.
  io.restart();
  io.run_for(std::chrono::milliseconds(1800));
  EXPECT_EQ(pool.connections(), 0u) << "a connection the server closed was kept";

  Get second;
  pool.submit(ranged_get(second));
  run_until_done(io, second);
  ASSERT_TRUE(second.result);
  // Without the watch on the idle connection: kClosed (the request written onto the closed
  // connection, the answer an end of stream or a reset), for the engine to retry.
  EXPECT_EQ(second.result->error, NetError::kNone) << second.result->message;
  EXPECT_EQ(second.result->head.status, 206u);
  EXPECT_EQ(server.counters().connections_accepted, 2u);
  EXPECT_EQ(server.counters().requests, 2u);
  EXPECT_EQ(pool.connections(), 1u) << "the closed connection was kept beside the new one";
}

INSTANTIATE_TEST_SUITE_P(Transports, ConnectionPoolServerClose,
                         ::testing::Values(Transport{"PlainHttp", false, false},
                                           Transport{"Tls13", true, false},
                                           Transport{"Tls12", true, true}),
                         [](const auto& info) { return std::string(info.param.name); });

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
