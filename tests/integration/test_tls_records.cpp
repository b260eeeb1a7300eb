// Who reads a TLS server's records, against the embedded server over loopback sockets, whose
// TLS 1.3 KeyUpdates ask for ours. TlsStream: after a TLS 1.3 or 1.2 handshake the engine reads
// the records itself (TlsRecordReader); a context without the key log leaves every record to
// OpenSSL; each way two keep-alive GETs on one connection return the object's bytes. A mapping,
// with MMAPURL_TLS_RECORDS=engine and =openssl (each in a fresh process: the engine reads its
// settings once): every page right and our KeyUpdates reach the server.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/write.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "embedded_server/embedded_server.hpp"
#include "embedded_server/synthetic_content.hpp"
#include "fixtures/process.hpp"
#include "integration/fault_test_support.hpp"
#include "mmapurl.hpp"
#include "net/tls_stream.hpp"

namespace mmapurl::net {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using testserver::EmbeddedServer;
using testserver::ObjectSpec;
using testserver::ServerOptions;

constexpr uint64_t kObjectSize = (1 << 20) + 3;
constexpr uint64_t kSeed = 0x715;
constexpr uint64_t kKeyUpdateBytes = 100000;  // about ten KeyUpdates per response

struct Outcome {
  std::string error;  // empty: both responses came whole
  bool engine_read_records = false;
  std::vector<std::string> bodies;
};

// One blocking step of the stream: starts `op`, runs the io_context until it completes.
template <class Op>
error_code run(asio::io_context& io, Op op, size_t* n = nullptr) {
  error_code result = asio::error::would_block;
  size_t got = 0;
  op([&](error_code ec, size_t k = 0) {
    result = ec;
    got = k;
  });
  io.restart();
  io.run();
  if (n) *n = got;
  return result;
}

Outcome failed(std::string why) {
  Outcome o;
  o.error = std::move(why);
  return o;
}

Outcome get_twice(const EmbeddedServer& server, SSL_CTX* ctx) {
  Outcome o;
  asio::io_context io;
  TlsStream stream(io.get_executor(), ctx);
  error_code ec;
  stream.socket().connect({asio::ip::address_v4::loopback(), server.port()}, ec);
  if (ec) return failed("connect: " + ec.message());
  std::string why;
  if (!stream.start_tls("127.0.0.1", &why)) return failed(why);
  ec = run(io, [&](auto done) { stream.async_handshake([done](error_code e) { done(e); }); });
  if (ec) return failed("handshake: " + ec.message());
  o.engine_read_records = stream.reads_tls_records();
  std::string received;  // bytes past the last response taken
  for (int i = 0; i < 2; ++i) {
    const std::string request = "GET /obj HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    ec = run(io, [&](auto done) { asio::async_write(stream, asio::buffer(request), done); });
    if (ec) return failed("request " + std::to_string(i) + ": " + ec.message());
    size_t head_end = std::string::npos;
    uint64_t length = 0;
    while (head_end == std::string::npos || received.size() < head_end + length) {
      char buf[65536];
      size_t n = 0;
      ec = run(
          io, [&](auto done) { stream.async_read_some(asio::buffer(buf), done); }, &n);
      if (ec) return failed("response " + std::to_string(i) + ": " + ec.message());
      received.append(buf, n);
      if (head_end == std::string::npos &&
          (head_end = received.find("\r\n\r\n")) != std::string::npos) {
        head_end += 4;
        const size_t at = received.find("Content-Length: ");
        if (at == std::string::npos || at > head_end)
          return failed("no Content-Length: " + received.substr(0, head_end));
        length = std::stoull(received.substr(at + 16));
      }
    }
    o.bodies.push_back(received.substr(head_end, length));
    received.erase(0, head_end + length);
  }
  return o;
}

std::string expected_object() {
  std::string s(kObjectSize, '\0');
  testserver::fill_synthetic(kSeed, 0, reinterpret_cast<uint8_t*>(s.data()), s.size());
  return s;
}

struct Client {
  const char* name;
  const char* suites;  // TLS 1.3 suites offered, or TLS 1.2 ciphers when tls12_only
  bool tls12_only;
  bool take_over;        // the key log installed (the engine's default)
  bool engine_reads;     // expected
  uint64_t key_updates;  // at least this many KeyUpdates from the client reach the server
};

class TlsStreamRecords : public ::testing::TestWithParam<Client> {};

TEST_P(TlsStreamRecords, TwoGetsOnOneConnectionReturnTheObject) {
  const Client c = GetParam();
  ServerOptions opts;
  opts.tls = true;
  opts.objects.push_back(ObjectSpec{"/obj", kObjectSize, kSeed, "\"v1\"", ""});
  opts.tls_key_update_bytes = kKeyUpdateBytes;
  EmbeddedServer server(opts);
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;

  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.add_certificate_authority(asio::buffer(server.ca_pem()));
  ctx.set_verify_mode(asio::ssl::verify_peer);
  if (c.tls12_only) {
    SSL_CTX_set_max_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    ASSERT_EQ(SSL_CTX_set_cipher_list(ctx.native_handle(), c.suites), 1);
  } else {
    ASSERT_EQ(SSL_CTX_set_ciphersuites(ctx.native_handle(), c.suites), 1);
  }
  if (c.take_over) TlsStream::take_over_tls_records(ctx.native_handle());

  Outcome o = get_twice(server, ctx.native_handle());
  ASSERT_EQ(o.error, "");
  EXPECT_EQ(o.engine_read_records, c.engine_reads);
  const std::string want = expected_object();
  ASSERT_EQ(o.bodies.size(), 2u);
  EXPECT_TRUE(o.bodies[0] == want) << o.bodies[0].size() << " bytes";
  EXPECT_TRUE(o.bodies[1] == want) << o.bodies[1].size() << " bytes";
  // The first response asked for our KeyUpdate; it went out before the second request.
  EXPECT_GE(server.counters().tls_key_updates_received, c.key_updates);
}

// gtest prints a client (and ctest names its tests) by its name.
void PrintTo(const Client& client, std::ostream* os) { *os << client.name; }

INSTANTIATE_TEST_SUITE_P(
    Ways, TlsStreamRecords,
    ::testing::Values(
        Client{"EngineAes128Gcm", "TLS_AES_128_GCM_SHA256", false, true, true, 1},
        Client{"EngineAes256Gcm", "TLS_AES_256_GCM_SHA384", false, true, true, 1},
        Client{"EngineChaCha20Poly1305", "TLS_CHACHA20_POLY1305_SHA256", false, true, true, 1},
        Client{"OpenSslWithoutTheKeyLog", "TLS_AES_128_GCM_SHA256", false, false, false, 1},
        Client{"EngineTls12Aes128Gcm", "ECDHE-ECDSA-AES128-GCM-SHA256", true, true, true, 0},
        Client{"EngineTls12Aes256Gcm", "ECDHE-ECDSA-AES256-GCM-SHA384", true, true, true, 0},
        Client{"EngineTls12ChaCha20Poly1305", "ECDHE-ECDSA-CHACHA20-POLY1305", true, true, true, 0},
        Client{"OpenSslForTls12Cbc", "ECDHE-ECDSA-AES128-SHA256", true, true, false, 0}),
    [](const auto& info) { return std::string(info.param.name); });

// --- a whole mapping, in a fresh process per setting ---------------------------------------

constexpr uint64_t kMappedSize = (24 << 20) + 5;  // several parts and connections

// Maps an object through a server whose KeyUpdates ask for ours and reads every page, in a fresh
// process whose engine reads TLS records as MMAPURL_TLS_RECORDS=`records` says.
void map_through_key_updates_in_fresh_process(const char* records) {
  if (!itest::in_fresh_process()) {
    auto r =
        itest::run_in_fresh_process({{"MMAPURL_TLS_RECORDS", records}}, std::chrono::seconds(120));
    EXPECT_FALSE(r.timed_out) << r.out;
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(itest::gtest_summary_count(r.out, "[  PASSED  ]"), 1) << r.out;
    EXPECT_EQ(itest::gtest_summary_count(r.out, itest::kNeutralSkippedTag), 0) << r.out;
    return;
  }
  ServerOptions opts;
  opts.tls = true;
  opts.objects.push_back(ObjectSpec{"/obj", kMappedSize, kSeed, "\"v1\"", ""});
  opts.tls_key_update_bytes = 1 << 20;
  EmbeddedServer server(opts);
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  auto dir = testing::TempDir::create("mmapurl-tls-records", &err);
  ASSERT_TRUE(dir) << err;
  const std::string ca = dir->file("ca.pem");
  ASSERT_TRUE(server.write_ca_file(ca, &err)) << err;
  setenv("SSL_CERT_FILE", ca.c_str(), 1);  // before the engine starts, at the first mapping
  unsetenv("SSL_CERT_DIR");
  Mapping m(server.url("/obj"));
  ASSERT_TRUE(m.ok()) << m.error_string() << ": " << mmapurl_last_error_message();
  const auto scan =
      faulttest::scan_pages(m.data(), m.size(), kSeed, 0, (kMappedSize + 4095) / 4096);
  EXPECT_TRUE(scan.all_right()) << "SIGBUS " << faulttest::describe_pages(scan.sigbus_pages)
                                << " wrong " << faulttest::describe_pages(scan.wrong_pages);
  // A connection that took a KeyUpdate asking for ours answered it with its next request.
  const auto counters = server.counters();
  EXPECT_GT(counters.tls_key_updates_received, 0u)
      << counters.requests << " requests on " << counters.connections_accepted << " connections";
}

TEST(TlsRecords, MappingWithTheEngineReadingRecords) {
  map_through_key_updates_in_fresh_process("engine");
}
TEST(TlsRecords, MappingWithOpenSslReadingRecords) {
  map_through_key_updates_in_fresh_process("openssl");
}

}  // namespace
}  // namespace mmapurl::net
