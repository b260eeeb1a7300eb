// HttpConnection implementation: connect (optionally via an HTTP proxy), TLS handshake with
// verification, request write, Beast header parse, body read into the consumer's buffer.
#include "net/http_connection.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstring>
#include <optional>

#include "base/log.hpp"
#include "net/buffered_socket.hpp"
#include "net/cloexec_connect.hpp"
#include "net/idle_socket.hpp"
#include "net/tls_stream.hpp"

namespace mmapurl::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr uint64_t kSmallBodyLimit = 64 * 1024;
// Progress (and so progressive page fills) is reported at least every kReadChunk bytes.
constexpr uint64_t kReadChunk = 128 * 1024;
constexpr uint32_t kHeaderLimit = 16 * 1024;
}  // namespace

struct HttpConnection::Impl : std::enable_shared_from_this<Impl> {
  asio::io_context& io;
  asio::ssl::context& tls_ctx;
  Origin origin;
  TransportSettings settings;
  std::unique_ptr<BufferedSocket> plain;
  std::unique_ptr<TlsStream> tls;
  // One watchdog per connection instead of a timer per read: arm_timer() only moves the
  // deadline, so a body read in a hundred pieces costs no timer operations.
  asio::steady_timer watchdog;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  bool watchdog_running = false;
  bool timed_out = false;
  bool connected = false;
  bool busy = false;
  beast::flat_buffer buffer;
  std::optional<http::response_parser<http::empty_body>> parser;
  std::shared_ptr<Exchange> ex;
  DoneHandler done;
  std::string request_text;
  ExchangeResult result;
  std::chrono::steady_clock::time_point request_sent;
  uint64_t header_us = 0;  // for `done`: see HttpConnection::run
  BodyTarget target;
  uint64_t consumed = 0;  // body bytes the consumer is done with (what a ring may overwrite)
  bool taking_body = false;
  bool reusable = true;
  uint64_t small_expected = 0;
  std::string small_scratch;
  // The watch on the idle connection (net/idle_socket.hpp). Its receives are never cancelled
  // (Boost 1.81's io_uring cancellation completes an unrelated operation), so one may still be in
  // flight after it stopped mattering: watch_op says whether one is, watch_id which one is judged.
  enum class WatchOp { kNone, kPeek, kTakeIn };
  WatchOp watch_op = WatchOp::kNone;
  uint64_t watch_id = 0;  // of the receive whose completion is judged; 0: none is
  uint64_t watches = 0;
  bool watch_wanted = false;       // watch_idle() came after the last start()
  bool start_after_watch = false;  // start() waits for the watch's receive to complete
  bool close_after_watch = false;  // the socket, shut down, is closed when it completes
  bool close_requested = false;    // HttpConnection::close() since the last start()
  uint8_t watch_byte = 0;          // what the peek copies
  std::function<void()> on_closed_by_peer;

  Impl(asio::io_context& io_, asio::ssl::context& ctx, const Origin& o, const TransportSettings& s)
      : io(io_), tls_ctx(ctx), origin(o), settings(s), watchdog(io_) {}

  tcp::socket& lowest() { return tls ? tls->socket() : plain->socket(); }

  void arm_timer() {
    deadline = std::chrono::steady_clock::now() +
               std::chrono::milliseconds(static_cast<int64_t>(settings.io_timeout_s * 1000));
    if (!watchdog_running) start_watchdog();
  }
  void disarm_timer() { deadline = std::chrono::steady_clock::time_point::max(); }

  void start_watchdog() {
    watchdog_running = true;
    watchdog.expires_at(deadline);
    watchdog.async_wait([weak = weak_from_this()](boost::system::error_code) {
      auto self = weak.lock();
      if (!self) return;
      self->watchdog_running = false;
      if (self->deadline == std::chrono::steady_clock::time_point::max()) return;
      if (std::chrono::steady_clock::now() < self->deadline) return self->start_watchdog();
      // No progress for the whole timeout: closing the socket fails the pending operation. With a
      // watch's peek still in flight (an answer that never began), a shutdown does, and fails
      // the exchange's receive queued behind the peek too: no operation is cancelled.
      self->timed_out = true;
      boost::system::error_code ignored;
      if (self->watch_op != WatchOp::kNone) {
        self->lowest().shutdown(tcp::socket::shutdown_both, ignored);
      } else if (self->plain || self->tls) {
        self->lowest().close(ignored);
      }
    });
  }

  NetError classify(const boost::system::error_code& ec) const {
    if (timed_out) return NetError::kTimeout;
    if (ec == asio::error::operation_aborted) return NetError::kCancelled;
    if (ec.category() == boost::system::error_code(http::error::bad_version).category()) {
      if (ec == http::error::end_of_stream || ec == http::error::partial_message) {
        return NetError::kClosed;
      }
      return NetError::kProtocol;
    }
    return NetError::kClosed;
  }

  void fail(NetError e, std::string message) {
    result.error = e;
    result.message = std::move(message);
    reusable = false;
    finish();
  }

  void finish() {
    if (!reusable) shutdown_socket();
    busy = false;
    auto exchange = std::move(ex);
    auto callback = std::move(done);
    ExchangeResult r = std::move(result);
    result = {};
    parser.reset();
    // The pool's slot is given back whatever the consumer's handler does: a throw from it must
    // not keep the connection counted busy for ever.
    if (exchange && exchange->on_complete) {
      try {
        exchange->on_complete(std::move(r));
      } catch (const std::exception& e) {
        MMAPURL_LOG(base::LogLevel::kError,
                    std::string("an exchange's handler threw: ") + e.what());
      } catch (...) {
        MMAPURL_LOG(base::LogLevel::kError, "an exchange's handler threw");
      }
    }
    if (callback) callback(reusable && connected, header_us);
  }

  void shutdown_socket() {
    connected = false;
    watch_id = 0;  // closed by us: a watch's receive completing now is not the server's doing
    disarm_timer();
    buffer.clear();
    if (plain || tls) {
      boost::system::error_code ec;
      if (watch_op != WatchOp::kNone) {
        // Closing now would cancel the receive in flight (never done, net/idle_socket.hpp); a
        // shutdown completes it, and everything else on the socket, and the socket is closed
        // once nothing is in flight (after_watch, or the exchange's own failure).
        lowest().shutdown(tcp::socket::shutdown_both, ec);
        close_after_watch = true;
      } else {
        lowest().close(ec);
      }
    }
    // The stream objects stay until the next connect(): a pending operation may still
    // reference them, and completes with an error once the socket is closed.
  }

  void start(std::shared_ptr<Exchange> exchange, DoneHandler cb) {
    ex = std::move(exchange);
    done = std::move(cb);
    busy = true;
    reusable = true;
    taking_body = false;
    header_us = 0;
    timed_out = false;
    result = {};
    watch_wanted = false;
    close_requested = false;
    // A TLS take-in is a read of the stream, which the exchange's must not overlap; a socket being
    // closed is closed before the next one opens. Both complete at once; the watchdog bounds it.
    if (watch_op == WatchOp::kTakeIn || (watch_op != WatchOp::kNone && !connected)) {
      start_after_watch = true;
      arm_timer();
      return;
    }
    // A peek in flight stays: it consumes nothing, completes with the answer's first byte and is
    // not judged, and the exchange's receives queue behind it (Asio keeps a socket's in order).
    watch_id = 0;
    resume_start();
  }

  void resume_start() {
    if (close_requested || timed_out) {
      return fail(timed_out ? NetError::kTimeout : NetError::kCancelled,
                  "connection closed before the request was sent");
    }
    if (connected) {
      on_connected();
    } else {
      connect();
    }
  }

  // --- the watch on an idle connection (net/idle_socket.hpp) ---------------------------------

  void watch_idle() {
    watch_wanted = true;
    if (busy || !connected || watch_op != WatchOp::kNone || !(plain || tls)) return;
    const uint64_t id = watch_id = ++watches;
    watch_op = WatchOp::kPeek;
    // Idle, the buffered socket and the TLS stream hold no byte of a response (finish_ok): the
    // peek sees what came after it.
    lowest().async_receive(asio::buffer(&watch_byte, 1), tcp::socket::message_peek,
                           [self = shared_from_this(), id](boost::system::error_code ec, size_t n) {
                             self->on_peeked(id, ec, n);
                           });
  }

  void on_peeked(uint64_t id, const boost::system::error_code& ec, size_t n) {
    watch_op = WatchOp::kNone;
    const bool judged = id == watch_id;
    watch_id = 0;
    if (after_watch()) return;
    if (!judged) return watch_idle_if_wanted();
    IdlePeek peek;
    peek.cancelled = ec == asio::error::operation_aborted;
    peek.failed = ec && !peek.cancelled;
    peek.bytes = n;
    peek.first_byte = watch_byte;
    switch (judge_idle_peek(peek, tls != nullptr)) {
      case IdleVerdict::kClosed:
        return closed_by_peer(ec, n);
      case IdleVerdict::kTakeIn:
        return take_in();
      case IdleVerdict::kNothing:
      case IdleVerdict::kWatch:
        return;
    }
  }

  void take_in() {
    const uint64_t id = watch_id = ++watches;
    watch_op = WatchOp::kTakeIn;
    tls->async_take_unasked(
        [self = shared_from_this(), id](boost::system::error_code ec, size_t n) {
          self->on_taken_in(id, ec, n);
        });
  }

  void on_taken_in(uint64_t id, const boost::system::error_code& ec, size_t n) {
    watch_op = WatchOp::kNone;
    const bool judged = id == watch_id;
    watch_id = 0;
    IdleTakeIn taken;
    taken.cancelled = ec == asio::error::operation_aborted;
    taken.failed = ec && !taken.cancelled;
    taken.bytes = n;
    const IdleVerdict verdict = judged ? judge_idle_take_in(taken) : IdleVerdict::kNothing;
    if (start_after_watch && verdict == IdleVerdict::kClosed) {
      // The close came as the connection was taken: nothing was sent, so a new connection
      // carries the request, and it does not fail.
      log_closed_by_peer(ec, n, "; reconnecting");
      shutdown_socket();
    }
    if (after_watch()) return;
    if (verdict == IdleVerdict::kClosed) return closed_by_peer(ec, n);
    if (verdict == IdleVerdict::kWatch) watch_idle();
  }

  // What waited for the watch's receive to complete; true when a start() did.
  bool after_watch() {
    // Idle, nothing else is in flight on the socket: closed now. Running an exchange, its receive
    // may be (Asio submits it as the peek completes), and closing would cancel it: it fails on
    // the shut-down socket, and that failure closes it. A start() that waited opens a new one.
    if (close_after_watch && !busy) {
      boost::system::error_code ignored;
      lowest().close(ignored);
    }
    close_after_watch = false;
    if (!start_after_watch) return false;
    start_after_watch = false;
    resume_start();
    return true;
  }

  // A receive no longer judged completed: the watch_idle() that came meanwhile starts now.
  void watch_idle_if_wanted() {
    if (watch_wanted) watch_idle();
  }

  void log_closed_by_peer(const boost::system::error_code& ec, size_t n, const char* then) {
    MMAPURL_LOG(base::LogLevel::kDebug,
                origin.key() + ": the server closed an idle connection (" +
                    (ec ? ec.message() : std::to_string(n) + " unasked bytes") + ")" + then);
  }

  void closed_by_peer(const boost::system::error_code& ec, size_t n) {
    log_closed_by_peer(ec, n, "");
    shutdown_socket();  // nothing in flight: closed now
    // A copy: the handler may destroy the HttpConnection (its pool forgets it), not this Impl.
    if (auto handler = on_closed_by_peer) handler();
  }

  // Connected (and past TLS): send the exchange's request, or end a connect_ahead.
  void on_connected() {
    connected = true;
    if (ex) return send_request();
    disarm_timer();
    finish();
  }

  void connect() {
    const std::string& host = origin.proxy_host.empty() ? origin.host : origin.proxy_host;
    uint16_t port = origin.proxy_host.empty() ? origin.port : origin.proxy_port;
    boost::system::error_code ec;
    tcp::resolver resolver(io);
    // Name resolution is synchronous: it happens once per connection, and numeric or
    // /etc/hosts names (loopback, endpoints) resolve without touching the network.
    auto endpoints = resolver.resolve(host, std::to_string(port), ec);
    if (ec) return fail(NetError::kConnect, "cannot resolve " + host + ": " + ec.message());
    plain.reset();
    tls.reset();
    if (origin.tls) {
      tls = std::make_unique<TlsStream>(io.get_executor(), tls_ctx.native_handle());
    } else {
      plain = std::make_unique<BufferedSocket>(io.get_executor());
    }
    arm_timer();
    async_connect_cloexec(
        lowest(), endpoints,
        [self = shared_from_this()](const boost::system::error_code& ec, const tcp::endpoint&) {
          if (ec) {
            std::string peer = self->origin.proxy_host.empty()
                                   ? self->origin.key()
                                   : "proxy " + self->origin.proxy_host + ":" +
                                         std::to_string(self->origin.proxy_port) + " (for " +
                                         self->origin.key() + ")";
            return self->fail(self->timed_out ? NetError::kTimeout : NetError::kConnect,
                              "connect to " + peer + ": " + ec.message());
          }
          boost::system::error_code ignored;
          self->lowest().set_option(tcp::no_delay(true), ignored);
          if (!self->origin.proxy_host.empty() && self->origin.tls) return self->proxy_connect();
          self->after_tcp();
        });
  }

  // HTTPS through a proxy: a CONNECT tunnel, then TLS end to end.
  void proxy_connect() {
    request_text =
        "CONNECT " + origin.authority() + " HTTP/1.1\r\nHost: " + origin.authority() + "\r\n\r\n";
    arm_timer();
    asio::async_write(
        *tls, asio::buffer(request_text),
        [self = shared_from_this()](boost::system::error_code ec, size_t) {
          if (ec) return self->fail(NetError::kConnect, "proxy: " + ec.message());
          self->parser.emplace();
          self->parser->skip(true);  // a CONNECT answer has no body
          self->arm_timer();
          http::async_read_header(
              *self->tls, self->buffer, *self->parser,
              [self](boost::system::error_code ec, size_t) {
                if (ec) return self->fail(NetError::kConnect, "proxy: " + ec.message());
                unsigned status = self->parser->get().result_int();
                self->parser.reset();
                if (status / 100 != 2) {
                  return self->fail(NetError::kConnect,
                                    "proxy refused CONNECT: " + std::to_string(status));
                }
                // The server speaks only after our ClientHello: bytes already here
                // came from the proxy, and are no part of TLS.
                if (self->buffer.size() != 0) {
                  return self->fail(NetError::kConnect, "proxy sent more than its CONNECT answer");
                }
                self->after_tcp();
              });
        });
  }

  void after_tcp() {
    if (!tls) return on_connected();
    std::string error;
    if (!tls->start_tls(origin.host, &error)) return fail(NetError::kTls, error);
    arm_timer();
    tls->async_handshake([self = shared_from_this()](boost::system::error_code ec) {
      if (ec) {
        long verify = SSL_get_verify_result(self->tls->native_handle());
        if (ec != asio::error::operation_aborted && verify != X509_V_OK) {
          return self->fail(NetError::kTlsVerify,
                            std::string("certificate of ") + self->origin.host +
                                " not trusted: " + X509_verify_cert_error_string(verify));
        }
        return self->fail(self->timed_out ? NetError::kTimeout : NetError::kTls,
                          "TLS handshake with " + self->origin.key() + ": " + ec.message());
      }
      self->on_connected();
    });
  }

  template <class Fn>
  void with_stream(Fn&& fn) {
    if (tls) {
      fn(*tls);
    } else {
      fn(*plain);
    }
  }

  void send_request() {
    const RequestSpec& r = ex->request;
    // Defence in depth: whatever built the request, no control byte reaches the wire.
    auto unsafe = [](const std::string& s, bool allow_space) {
      for (unsigned char c : s) {
        if (c < 0x20 ? true : (c == 0x7f || (!allow_space && c == ' '))) return true;
      }
      return false;
    };
    bool bad = unsafe(r.target, false) || unsafe(r.host_header, false) || unsafe(r.method, false);
    for (const auto& h : r.headers) bad = bad || unsafe(h.name, false) || unsafe(h.value, true);
    if (bad) return fail(NetError::kProtocol, "refusing to send a request with control bytes");
    std::string target = r.target;
    if (!origin.tls && !origin.proxy_host.empty()) {
      // Plain HTTP through a proxy: absolute-form request target.
      target = "http://" + r.host_header + r.target;
    }
    request_text.clear();
    request_text.reserve(256 + r.target.size());
    request_text += r.method + " " + target + " HTTP/1.1\r\nHost: " + r.host_header + "\r\n";
    for (const auto& h : r.headers) request_text += h.name + ": " + h.value + "\r\n";
    request_text += "User-Agent: mmapurl/0.1\r\n\r\n";
    arm_timer();
    // The clock starts before the write, not when its completion runs: a busy engine thread ran
    // that completion after the answer was already in the socket, the origin 20 ms away looked
    // near (under 2 ms), and readahead kept to four connections for the rest of the mapping (an
    // S3-like scan at a 256M limit: 4.5 s instead of 2.3). Late, it can only look farther.
    request_sent = std::chrono::steady_clock::now();
    with_stream([&](auto& stream) {
      asio::async_write(stream, asio::buffer(request_text),
                        [self = shared_from_this()](boost::system::error_code ec, size_t) {
                          if (ec) {
                            return self->fail(self->classify(ec),
                                              "sending request: " + ec.message());
                          }
                          self->read_header();
                        });
    });
  }

  void read_header() {
    parser.emplace();
    parser->header_limit(kHeaderLimit);
    // The parser reads only the header; the body is read into the consumer's buffer, whose size
    // on_head checks. Beast's default 8 MiB limit on Content-Length failed every part larger than
    // that (MMAPURL_PART_SIZE=16M: "body limit exceeded", the pages poisoned).
    parser->body_limit(boost::none);
    if (ex->request.method == "HEAD") parser->skip(true);
    arm_timer();
    with_stream([&](auto& stream) {
      http::async_read_header(stream, buffer, *parser,
                              [self = shared_from_this()](boost::system::error_code ec, size_t) {
                                if (ec) {
                                  return self->fail(self->classify(ec),
                                                    "reading response header: " + ec.message());
                                }
                                self->on_header();
                              });
    });
  }

  void on_header() {
    const auto& msg = parser->get();
    const auto waited = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - request_sent);
    header_us = std::max<uint64_t>(1, static_cast<uint64_t>(waited.count()));  // 0: no header
    ResponseHead& head = result.head;
    head.status = msg.result_int();
    head.keep_alive = msg.keep_alive();
    head.chunked = parser->chunked();
    if (auto len = parser->content_length()) head.content_length = *len;
    for (const auto& field : msg) {
      std::string name(field.name_string());
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      head.headers.push_back({std::move(name), std::string(field.value())});
    }
    if (!head.keep_alive) reusable = false;
    bool has_body = ex->request.method != "HEAD" && head.status != 204 && head.status != 304 &&
                    (head.chunked || head.content_length.value_or(0) > 0);
    std::optional<BodyTarget> t;
    if (head.status / 100 == 2 && ex->on_head) {
      std::string reject;
      t = ex->on_head(head, &reject);
      if (!reject.empty()) return fail(NetError::kProtocol, reject);
    }
    if (!has_body) {
      if (t && t->size != 0) return fail(NetError::kProtocol, "response has no body");
      return finish_ok();
    }
    if (t && t->size == 0) {
      // Nothing wanted (an empty object announced with a stray body): drop the connection.
      reusable = false;
      return finish_ok();
    }
    if (t) {
      if (head.chunked || !head.content_length) {
        return fail(NetError::kProtocol, "2xx body without Content-Length (chunked)");
      }
      if (*head.content_length != t->size) {
        return fail(NetError::kProtocol, "Content-Length " + std::to_string(*head.content_length) +
                                             " differs from the " + std::to_string(t->size) +
                                             " bytes asked for");
      }
      target = *t;
      taking_body = true;
      consumed = 0;
      // Bytes the header read already pulled in belong to the body (a ring may wrap them).
      auto leftover = buffer.data();
      const auto* from = static_cast<const uint8_t*>(leftover.data());
      uint64_t n = std::min<uint64_t>(leftover.size(), target.size);
      for (uint64_t done = 0; done < n;) {
        BodySpan span = next_body_span(target, done, 0, n - done);
        if (span.len == 0) return fail(NetError::kProtocol, "body staging buffer too small");
        std::memcpy(span.data, from + done, span.len);
        done += span.len;
      }
      buffer.consume(n);
      if (buffer.size() != 0) reusable = false;  // more than the body: never trust this stream
      result.body_bytes = n;
      if (n) report_progress();
      return read_body();
    }
    // An answer whose body nobody takes (errors): keep it when small, else drop the connection.
    if (head.chunked || !head.content_length || *head.content_length > kSmallBodyLimit) {
      reusable = false;
      return finish_ok();
    }
    small_expected = *head.content_length;
    auto leftover = buffer.data();
    uint64_t n = std::min<uint64_t>(leftover.size(), small_expected);
    result.small_body.assign(static_cast<const char*>(leftover.data()), n);
    buffer.consume(n);
    return read_small_body();
  }

  void read_small_body() {
    if (result.small_body.size() >= small_expected) return finish_ok();
    small_scratch.resize(small_expected - result.small_body.size());
    arm_timer();
    with_stream([&](auto& stream) {
      stream.async_read_some(asio::buffer(small_scratch),
                             [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                               if (ec) {
                                 return self->fail(self->classify(ec),
                                                   "reading body: " + ec.message());
                               }
                               self->result.small_body.append(self->small_scratch.data(), n);
                               self->read_small_body();
                             });
    });
  }

  void report_progress() {
    consumed = ex->on_progress ? ex->on_progress(result.body_bytes) : result.body_bytes;
  }

  void read_body() {
    if (result.body_bytes >= target.size) return finish_ok();
    BodySpan span = next_body_span(target, result.body_bytes, consumed, kReadChunk);
    // The consumer frees ring space in on_progress; one that never does would stall us forever.
    if (span.len == 0) return fail(NetError::kProtocol, "body staging buffer full");
    arm_timer();
    with_stream([&](auto& stream) {
      asio::async_read(stream, asio::buffer(span.data, span.len),
                       [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                         if (ec) {
                           self->result.body_bytes += n;
                           return self->fail(self->classify(ec),
                                             "body ended after " +
                                                 std::to_string(self->result.body_bytes) + " of " +
                                                 std::to_string(self->target.size) +
                                                 " bytes: " + ec.message());
                         }
                         self->result.body_bytes += n;
                         self->report_progress();
                         self->read_body();
                       });
    });
  }

  void finish_ok() {
    disarm_timer();
    // Bytes past the response are not the next response's; never reuse the stream.
    if (plain && plain->buffered() != 0) reusable = false;
    if (tls && tls->has_unread_bytes()) reusable = false;
    finish();
  }
};

HttpConnection::HttpConnection(asio::io_context& io, asio::ssl::context& tls, const Origin& origin,
                               const TransportSettings& settings)
    : impl_(std::make_shared<Impl>(io, tls, origin, settings)) {}

HttpConnection::~HttpConnection() { close(); }

void HttpConnection::run(std::shared_ptr<Exchange> exchange, DoneHandler done) {
  impl_->start(std::move(exchange), std::move(done));
}

void HttpConnection::connect_ahead(DoneHandler done) { impl_->start(nullptr, std::move(done)); }

void HttpConnection::close() {
  impl_->close_requested = true;
  impl_->shutdown_socket();  // a pending operation completes with an error
}

bool HttpConnection::busy() const { return impl_->busy; }

void HttpConnection::watch_idle() { impl_->watch_idle(); }

void HttpConnection::on_closed_by_peer(std::function<void()> handler) {
  impl_->on_closed_by_peer = std::move(handler);
}

}  // namespace mmapurl::net
