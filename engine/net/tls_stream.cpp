// TlsStream implementation. OpenSSL talks to one BIO of ours: it copies records out of a 256 KiB
// io_uring receive, and what it writes collects in a buffer that goes out with one io_uring send.
// asio::ssl::stream instead copies every received byte twice more (into its input buffer, then
// into its BIO pair) and runs a handler per 17 KiB record. OpenSSL reading the socket itself with
// read-ahead is no better: before each record, OpenSSL 3.0 moves all bytes still buffered to the
// buffer's start to align the record's payload (ssl3_read_n), and the reads bypass io_uring.
// Once a TLS 1.3 or 1.2 handshake is done, TlsRecordReader takes over the server's records and
// decrypts them from the receive buffer straight into the reader's buffer (two copies fewer);
// OpenSSL keeps the write side.
#include "net/tls_stream.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "net/tls_record_reader.hpp"

namespace mmapurl::net {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {
// One io_uring receive serves about eight TLS records. 256 KiB (sixteen) was no faster on a 1 GiB
// scan from loopback nginx (means of 5: 965 against 975 MB/s) and held 2 MiB more on 16
// connections.
constexpr size_t kReceiveBufferBytes = 128 * 1024;

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// The error of a failed SSL_* call whose SSL_get_error() was not SSL_ERROR_WANT_READ.
error_code tls_error(int ssl_error, int saved_errno) {
  const unsigned long queued = ERR_get_error();
  switch (ssl_error) {
    case SSL_ERROR_ZERO_RETURN:  // close_notify
      return asio::error::eof;
    case SSL_ERROR_SYSCALL:
      if (queued != 0) return error_code(static_cast<int>(queued), asio::error::get_ssl_category());
      if (saved_errno != 0) return error_code(saved_errno, boost::system::system_category());
      return asio::ssl::error::stream_truncated;
    default:
      if (ERR_GET_REASON(queued) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        return asio::ssl::error::stream_truncated;
      }
      if (queued != 0) return error_code(static_cast<int>(queued), asio::error::get_ssl_category());
      return asio::ssl::error::unspecified_system_error;
  }
}
}  // namespace

struct TlsStream::Core : std::enable_shared_from_this<Core> {
  socket_type socket;
  SSL* ssl;
  bool tls = false;
  // Received, not yet taken by OpenSSL: [rx_begin, rx_end) of rx.
  std::unique_ptr<unsigned char[]> rx;
  size_t rx_begin = 0;
  size_t rx_end = 0;
  bool rx_eof = false;  // the peer closed its side
  std::string tx;       // written by OpenSSL, not yet sent
  std::string sending;  // what the io_uring send in flight holds
  // The server's application traffic secret from OpenSSL's key log, until the handshake ends.
  std::vector<uint8_t> server_secret;
  std::unique_ptr<TlsRecordReader> records;  // set: the server's records are ours to read

  Core(const executor_type& ex, SSL_CTX* ctx) : socket(ex), ssl(SSL_new(ctx)) {
    if (ssl) SSL_set_ex_data(ssl, core_index(), this);
  }

  // Our own ex_data slot: the app data slot belongs to whoever else shares the context.
  static int core_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
  }
  ~Core() {
    forget_secret();
    if (ssl) SSL_free(ssl);  // frees the BIO too
  }

  // --- taking over the server's records after the handshake ------------------------------------

  // OpenSSL's key log callback (installed by take_over_tls_records): keeps the one TLS 1.3 secret
  // the record reader needs. The line is "SERVER_TRAFFIC_SECRET_0 <client random> <secret>", in
  // hex. (TLS 1.2 keys come from the session's master secret.)
  static void on_key_log(const SSL* ssl, const char* line) {
    auto* c = static_cast<Core*>(SSL_get_ex_data(ssl, core_index()));
    static constexpr char kLabel[] = "SERVER_TRAFFIC_SECRET_0 ";
    if (c == nullptr || std::strncmp(line, kLabel, sizeof kLabel - 1) != 0) return;
    const char* hex = std::strchr(line + sizeof kLabel - 1, ' ');
    if (hex == nullptr) return;
    c->forget_secret();
    c->server_secret.reserve(EVP_MAX_MD_SIZE);  // no reallocation leaves a copy behind
    auto nibble = [](char ch) {
      if (ch >= '0' && ch <= '9') return ch - '0';
      if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
      if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
      return -1;
    };
    for (++hex; hex[0] != '\0' && hex[1] != '\0'; hex += 2) {
      const int hi = nibble(hex[0]);
      const int lo = nibble(hex[1]);
      if (hi < 0 || lo < 0) break;
      c->server_secret.push_back(static_cast<uint8_t>(hi << 4 | lo));
    }
  }

  void forget_secret() {
    if (!server_secret.empty()) OPENSSL_cleanse(server_secret.data(), server_secret.size());
    server_secret.clear();
  }

  // After the handshake: with a reader for the suite, and OpenSSL holding no record bytes (it reads
  // exactly one record at a time without read-ahead, so the receive buffer starts at the first
  // record it has not seen), the records are ours from here. Only on a context that asked
  // (take_over_tls_records installed our key log callback).
  void take_over_records() {
    const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
    const bool asked = SSL_CTX_get_keylog_callback(SSL_get_SSL_CTX(ssl)) == &Core::on_key_log;
    if (asked && cipher != nullptr && SSL_is_init_finished(ssl) && SSL_get_read_ahead(ssl) == 0 &&
        SSL_has_pending(ssl) == 0) {
      const int nid = SSL_CIPHER_get_cipher_nid(cipher);
      const EVP_MD* digest = SSL_CIPHER_get_handshake_digest(cipher);
      std::string why;
      if (SSL_version(ssl) == TLS1_3_VERSION && !server_secret.empty()) {
        records = TlsRecordReader::create_tls13(nid, digest, server_secret, &why);
      } else if (SSL_version(ssl) == TLS1_2_VERSION) {
        unsigned char master[SSL_MAX_MASTER_KEY_LENGTH];
        unsigned char client_random[SSL3_RANDOM_SIZE];
        unsigned char server_random[SSL3_RANDOM_SIZE];
        const size_t master_len =
            SSL_SESSION_get_master_key(SSL_get_session(ssl), master, sizeof master);
        if (master_len > 0 &&
            SSL_get_client_random(ssl, client_random, sizeof client_random) ==
                sizeof client_random &&
            SSL_get_server_random(ssl, server_random, sizeof server_random) ==
                sizeof server_random) {
          // The server's Finished was its first record under these keys: the next is number 1.
          records = TlsRecordReader::create_tls12(nid, digest, {master, master_len}, client_random,
                                                  server_random, 1, &why);
        }
        OPENSSL_cleanse(master, sizeof master);
      }
    }
    forget_secret();
  }

  // --- the BIO OpenSSL reads from and writes to ----------------------------------------------

  static BIO_METHOD* bio_method() {
    static BIO_METHOD* const method = [] {
      BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mmapurl io_uring");
      if (m == nullptr) return m;
      BIO_meth_set_read(m, &Core::bio_read);
      BIO_meth_set_write(m, &Core::bio_write);
      BIO_meth_set_ctrl(m, &Core::bio_ctrl);
      BIO_meth_set_create(m, [](BIO* b) {
        BIO_set_init(b, 1);
        return 1;
      });
      return m;
    }();
    return method;
  }
  static Core* of(BIO* bio) { return static_cast<Core*>(BIO_get_data(bio)); }

  // OpenSSL asks for a record's header, then its body: both copied out of the receive buffer.
  static int bio_read(BIO* bio, char* out, int len) {
    Core* c = of(bio);
    BIO_clear_retry_flags(bio);
    const size_t n = std::min(static_cast<size_t>(std::max(len, 0)), c->rx_end - c->rx_begin);
    if (n == 0) {
      if (c->rx_eof) return 0;
      BIO_set_retry_read(bio);
      return -1;
    }
    std::memcpy(out, c->rx.get() + c->rx_begin, n);
    c->rx_begin += n;
    return static_cast<int>(n);
  }

  static int bio_write(BIO* bio, const char* in, int len) {
    BIO_clear_retry_flags(bio);
    if (len <= 0) return 0;
    of(bio)->tx.append(in, static_cast<size_t>(len));
    return len;
  }

  static long bio_ctrl(BIO* bio, int cmd, long, void*) {
    Core* c = of(bio);
    switch (cmd) {
      case BIO_CTRL_FLUSH:
        return 1;
      case BIO_CTRL_EOF:
        return c->rx_eof && c->rx_begin == c->rx_end ? 1 : 0;
      case BIO_CTRL_PENDING:
        return static_cast<long>(c->rx_end - c->rx_begin);
      case BIO_CTRL_WPENDING:
        return static_cast<long>(c->tx.size());
      default:
        return 0;
    }
  }

  // --- moving bytes: each step ends in `next(core, handler, inside_handler)` ---------------

  // A handler runs from the io_context, never inside the call that started the operation.
  template <class Handler, class... Args>
  void complete(Handler handler, bool inside_handler, Args... args) {
    if (inside_handler) return std::move(handler)(args...);
    asio::post(socket.get_executor(),
               [h = std::move(handler), args...]() mutable { std::move(h)(args...); });
  }

  static void fail(HandshakeHandler h, const error_code& ec) { std::move(h)(ec); }
  static void fail(ReadHandler h, const error_code& ec) { std::move(h)(ec, size_t{0}); }

  // Sends what OpenSSL wrote (handshake messages, the request, alerts), then `next`.
  template <class Handler, class Next>
  void flush(Handler handler, bool inside_handler, Next next) {
    if (tx.empty()) return next(*this, std::move(handler), inside_handler);
    sending.swap(tx);
    tx.clear();
    asio::async_write(socket, asio::buffer(sending),
                      [self = shared_from_this(), h = std::move(handler), next](
                          const error_code& ec, size_t) mutable {
                        self->sending.clear();
                        if (ec) return fail(std::move(h), ec);
                        next(*self, std::move(h), true);
                      });
  }

  // OpenSSL wants more bytes: one receive into the buffer's free space (a partial record left
  // over moves to the front first), then `next`.
  template <class Handler, class Next>
  void receive(Handler handler, Next next) {
    if (rx_begin == rx_end) {
      rx_begin = rx_end = 0;
    } else if (rx_begin > 0) {
      std::memmove(rx.get(), rx.get() + rx_begin, rx_end - rx_begin);
      rx_end -= rx_begin;
      rx_begin = 0;
    }
    socket.async_read_some(asio::buffer(rx.get() + rx_end, kReceiveBufferBytes - rx_end),
                           [self = shared_from_this(), h = std::move(handler), next](
                               const error_code& ec, size_t got) mutable {
                             self->rx_end += got;
                             if (ec == asio::error::eof) {
                               // OpenSSL tells a clean close_notify from a truncation.
                               self->rx_eof = true;
                             } else if (ec) {
                               return fail(std::move(h), ec);
                             }
                             next(*self, std::move(h), true);
                           });
  }

  // Sends what OpenSSL wrote, then completes with `args`.
  template <class Handler, class... Args>
  void flush_then_complete(Handler handler, bool inside_handler, Args... args) {
    flush(std::move(handler), inside_handler,
          [args...](Core& c, Handler h, bool in) { c.complete(std::move(h), in, args...); });
  }

  // Sends what OpenSSL wrote, receives more, then `retry`: OpenSSL wants bytes.
  template <class Handler, class Retry>
  void flush_then_receive(Handler handler, bool inside_handler, Retry retry) {
    flush(std::move(handler), inside_handler,
          [retry](Core& c, Handler h, bool) { c.receive(std::move(h), retry); });
  }

  // --- the operations --------------------------------------------------------------------------

  void handshake(HandshakeHandler handler, bool inside_handler) {
    ERR_clear_error();
    errno = 0;
    const int r = SSL_do_handshake(ssl);
    if (r == 1) {
      take_over_records();
      return flush_then_complete(std::move(handler), inside_handler, error_code());
    }
    const int saved_errno = errno;
    const int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ) {
      return flush_then_receive(
          std::move(handler), inside_handler,
          [](Core& c, HandshakeHandler h, bool in) { c.handshake(std::move(h), in); });
    }
    // A fatal alert OpenSSL may have written is dropped: the connection closes anyway.
    complete(std::move(handler), inside_handler, tls_error(e, saved_errno));
  }

  // Decrypts all that has arrived, up to the buffer's size; receives only when nothing has.
  void read(asio::mutable_buffer buffer, ReadHandler handler, bool inside_handler) {
    if (records) return read_records(buffer, std::move(handler), inside_handler);
    auto* out = static_cast<unsigned char*>(buffer.data());
    size_t total = 0;
    int e = SSL_ERROR_NONE;
    int saved_errno = 0;
    while (total < buffer.size()) {
      ERR_clear_error();
      errno = 0;
      size_t n = 0;
      const int r = SSL_read_ex(ssl, out + total, buffer.size() - total, &n);
      if (r == 1) {
        total += n;
        continue;
      }
      saved_errno = errno;
      e = SSL_get_error(ssl, r);
      break;
    }
    // Reading can make OpenSSL answer (a key update): that goes out first.
    if (total > 0) {  // an error shows again on the next call
      return flush_then_complete(std::move(handler), inside_handler, error_code(), total);
    }
    if (e == SSL_ERROR_WANT_READ) {
      return flush_then_receive(
          std::move(handler), inside_handler,
          [buffer](Core& c, ReadHandler h, bool in) { c.read(buffer, std::move(h), in); });
    }
    complete(std::move(handler), inside_handler, tls_error(e, saved_errno), size_t{0});
  }

  // Decrypts what has been received into `out`, consuming the records it read. Section 4.6.3: our
  // KeyUpdate goes out before our next record; OpenSSL sends it with the next request. If OpenSSL
  // refuses, the server may stop talking; the next read then times out.
  TlsRecordReader::Step read_received(unsigned char* out, size_t len) {
    const auto step = records->read(rx.get() + rx_begin, rx_end - rx_begin, out, len);
    rx_begin += step.consumed;
    if (step.key_update_requested && SSL_key_update(ssl, SSL_KEY_UPDATE_NOT_REQUESTED) != 1) {
      ERR_clear_error();
    }
    return step;
  }

  // read() once the server's records are ours.
  void read_records(asio::mutable_buffer buffer, ReadHandler handler, bool inside_handler) {
    const auto step = read_received(static_cast<unsigned char*>(buffer.data()), buffer.size());
    switch (step.status) {
      case TlsRecordReader::Status::kOk:
        return complete(std::move(handler), inside_handler, error_code(), step.produced);
      case TlsRecordReader::Status::kNeedMore:
        if (rx_eof) {
          return complete(std::move(handler), inside_handler,
                          error_code(asio::ssl::error::stream_truncated), size_t{0});
        }
        return receive(std::move(handler), [buffer](Core& c, ReadHandler h, bool in) {
          c.read_records(buffer, std::move(h), in);
        });
      case TlsRecordReader::Status::kClosed:
        return complete(std::move(handler), inside_handler, error_code(asio::error::eof),
                        size_t{0});
      case TlsRecordReader::Status::kError:
        break;
    }
    complete(std::move(handler), inside_handler, records_error(), size_t{0});
  }

  // The reader's error, as it would read inside OpenSSL.
  error_code records_error() const {
    const auto code = static_cast<int>(ERR_PACK(ERR_LIB_SSL, 0, records->error_reason()));
    return error_code(code, asio::error::get_ssl_category());
  }

  // TlsStream::async_take_unasked: one receive, then the records in it, waiting for no more.
  void take_unasked(ReadHandler handler) {
    receive(std::move(handler),
            [](Core& c, ReadHandler h, bool in) { c.take_received(std::move(h), in); });
  }

  void take_received(ReadHandler handler, bool inside_handler) {
    unsigned char byte = 0;  // application data, which the caller only counts
    if (records) {
      const auto step = read_received(&byte, 1);
      switch (step.status) {
        case TlsRecordReader::Status::kOk:
          return complete(std::move(handler), inside_handler, error_code(), step.produced);
        case TlsRecordReader::Status::kNeedMore:  // all taken in, or a record's rest to come
          return complete(std::move(handler), inside_handler,
                          rx_eof ? error_code(asio::ssl::error::stream_truncated) : error_code(),
                          size_t{0});
        case TlsRecordReader::Status::kClosed:
          return complete(std::move(handler), inside_handler, error_code(asio::error::eof),
                          size_t{0});
        case TlsRecordReader::Status::kError:
          break;
      }
      return complete(std::move(handler), inside_handler, records_error(), size_t{0});
    }
    ERR_clear_error();
    errno = 0;
    size_t n = 0;
    const int r = SSL_read_ex(ssl, &byte, 1, &n);
    if (r == 1) return complete(std::move(handler), inside_handler, error_code(), n);
    const int saved_errno = errno;
    const int e = SSL_get_error(ssl, r);
    // Whatever OpenSSL wrote meanwhile (a TLS 1.2 renegotiation's answer) goes out first with the
    // next write, which sends all of `tx`.
    if (e == SSL_ERROR_WANT_READ) {
      return complete(std::move(handler), inside_handler, error_code(), size_t{0});
    }
    complete(std::move(handler), inside_handler, tls_error(e, saved_errno), size_t{0});
  }

  void write(asio::const_buffer buffer, ReadHandler handler, bool inside_handler) {
    ERR_clear_error();
    errno = 0;
    size_t n = 0;
    // OpenSSL's output goes into `tx`, which always takes it: no SSL_ERROR_WANT_WRITE.
    const int r = SSL_write_ex(ssl, buffer.data(), buffer.size(), &n);
    if (r == 1) return flush_then_complete(std::move(handler), inside_handler, error_code(), n);
    const int saved_errno = errno;
    const int e = SSL_get_error(ssl, r);
    // Renegotiation-like states: read, then write again. Not once the records are ours: OpenSSL
    // would read them too (TLS 1.3 has no such state; this only keeps a surprise from corrupting).
    if (e == SSL_ERROR_WANT_READ && !records) {
      return flush_then_receive(
          std::move(handler), inside_handler,
          [buffer](Core& c, ReadHandler h, bool in) { c.write(buffer, std::move(h), in); });
    }
    complete(std::move(handler), inside_handler, tls_error(e, saved_errno), size_t{0});
  }
};

TlsStream::TlsStream(const executor_type& ex, SSL_CTX* ctx)
    : core_(std::make_shared<Core>(ex, ctx)) {}

TlsStream::~TlsStream() = default;

TlsStream::executor_type TlsStream::get_executor() { return core_->socket.get_executor(); }
TlsStream::socket_type& TlsStream::socket() { return core_->socket; }
SSL* TlsStream::native_handle() { return core_->ssl; }

bool TlsStream::has_unread_bytes() const {
  return core_->rx_end != core_->rx_begin ||
         (core_->ssl != nullptr && SSL_has_pending(core_->ssl)) ||
         (core_->records && (core_->records->pending() != 0 || core_->records->finished()));
}

bool TlsStream::reads_tls_records() const { return core_->records != nullptr; }

void TlsStream::take_over_tls_records(SSL_CTX* ctx) {
  SSL_CTX_set_keylog_callback(ctx, &Core::on_key_log);
}

bool TlsStream::start_tls(const std::string& host, std::string* error) {
  SSL* ssl = core_->ssl;
  BIO_METHOD* method = Core::bio_method();
  BIO* bio = ssl != nullptr && method != nullptr ? BIO_new(method) : nullptr;
  if (bio == nullptr) {
    *error = "cannot create a TLS session";
    ERR_clear_error();
    return false;
  }
  BIO_set_data(bio, core_.get());
  SSL_set_bio(ssl, bio, bio);  // the SSL owns it now
  // Not zero-filled: pages are touched only as bytes arrive.
  core_->rx.reset(new unsigned char[kReceiveBufferBytes]);
  SSL_set_connect_state(ssl);
  SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
  bool ok = true;
  if (is_ip_literal(host)) {
    ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1;
  } else {
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    ok = SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 && SSL_set1_host(ssl, host.c_str()) == 1;
  }
  if (!ok) {
    *error = "cannot set up certificate verification for " + host;
    ERR_clear_error();
    return false;
  }
  core_->tls = true;
  return true;
}

void TlsStream::async_handshake(HandshakeHandler handler) {
  core_->handshake(std::move(handler), false);
}

void TlsStream::read_some(asio::mutable_buffer buffer, ReadHandler handler) {
  if (!core_->tls) return core_->socket.async_read_some(buffer, std::move(handler));
  if (buffer.size() == 0)
    return core_->complete(std::move(handler), false, error_code(), size_t{0});
  core_->read(buffer, std::move(handler), false);
}

void TlsStream::async_take_unasked(ReadHandler handler) {
  if (!core_->tls) return core_->complete(std::move(handler), false, error_code(), size_t{0});
  core_->take_unasked(std::move(handler));
}

void TlsStream::write_some(asio::const_buffer buffer, ReadHandler handler) {
  if (!core_->tls) return core_->socket.async_write_some(buffer, std::move(handler));
  if (buffer.size() == 0)
    return core_->complete(std::move(handler), false, error_code(), size_t{0});
  core_->write(buffer, std::move(handler), false);
}

}  // namespace mmapurl::net
