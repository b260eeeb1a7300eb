// One HttpConnection against the embedded server: what its `done` callback reports about the
// origin, which the connection pool uses to tell a near origin from a far one.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "embedded_server/embedded_server.hpp"
#include "net/http_connection.hpp"

namespace {

using mmapurl::net::BodyTarget;
using mmapurl::net::Exchange;
using mmapurl::net::ExchangeResult;
using mmapurl::net::HttpConnection;
using mmapurl::net::NetError;
using mmapurl::net::Origin;
using mmapurl::net::ResponseHead;
using mmapurl::net::TransportSettings;
using mmapurl::testserver::EmbeddedServer;
using mmapurl::testserver::ServerOptions;

constexpr uint64_t kObjectBytes = 64 << 10;

std::shared_ptr<Exchange> ranged_get(std::vector<uint8_t>& body, ExchangeResult& result) {
  auto ex = std::make_shared<Exchange>();
  ex->request.method = "GET";
  ex->request.target = "/obj";
  ex->request.host_header = "127.0.0.1";
  ex->request.headers.push_back({"Range", "bytes=0-4095"});
  ex->on_head = [&body](const ResponseHead&, std::string*) -> std::optional<BodyTarget> {
    BodyTarget t;
    t.data = body.data();
    t.size = 4096;
    return t;
  };
  ex->on_complete = [&result](ExchangeResult&& r) { result = std::move(r); };
  return ex;
}

// The round trip is timed from when the request is handed to the socket. A busy engine thread
// used to start the clock only when it ran the write's completion, after the answer had already
// arrived: a far origin then looked near, and readahead kept to four connections for good.
TEST(HttpConnection, ReportsTheRoundTripEvenWhenItsThreadIsBusyAfterTheWrite) {
  ServerOptions opts;
  opts.tls = false;
  opts.latency_ms = 30;
  opts.objects.push_back({"/obj", kObjectBytes, 7, "\"v1\"", ""});
  EmbeddedServer server(opts);
  std::string error;
  ASSERT_TRUE(server.start(&error)) << error;

  boost::asio::io_context io;
  boost::asio::ssl::context tls(boost::asio::ssl::context::tls_client);
  Origin origin;
  origin.host = "127.0.0.1";
  origin.port = server.port();
  HttpConnection connection(io, tls, origin, TransportSettings{});

  bool connected = false;
  bool connect_done = false;
  connection.connect_ahead([&](bool reusable, uint64_t) {
    connected = reusable;
    connect_done = true;
  });
  // run_one, not run: the connection's watchdog timer keeps the context busy.
  while (!connect_done && io.run_one() > 0) {
  }
  ASSERT_TRUE(connected);

  // The thread is busy for 80 ms from the moment the request goes out; the answer comes after
  // 30 ms and waits in the socket meanwhile.
  std::vector<uint8_t> body(4096);
  ExchangeResult result;
  uint64_t header_us = 0;
  // What keeps it busy: the completion of a read issued just before the request, so that both
  // are handed to the kernel in one submission and their completions queue up in that order.
  boost::asio::local::stream_protocol::socket busy_end(io), other_end(io);
  boost::asio::local::connect_pair(busy_end, other_end);
  const char byte = 'x';
  ASSERT_EQ(boost::asio::write(other_end, boost::asio::buffer(&byte, 1)), 1u);
  char got = 0;
  bool done = false;
  boost::asio::post(io, [&] {
    busy_end.async_read_some(boost::asio::buffer(&got, 1), [](boost::system::error_code, size_t) {
      std::this_thread::sleep_for(std::chrono::milliseconds(80));
    });
    connection.run(ranged_get(body, result), [&](bool, uint64_t us) {
      header_us = us;
      done = true;
    });
  });
  while (!done && io.run_one() > 0) {
  }

  ASSERT_EQ(result.error, NetError::kNone) << result.message;
  EXPECT_EQ(result.head.status, 206);
  EXPECT_EQ(result.body_bytes, 4096u);
  EXPECT_GE(header_us, 30'000u) << "the origin's 30 ms looked like " << header_us << " us";
  connection.close();
}

}  // namespace
