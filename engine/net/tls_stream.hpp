// TlsStream: a TLS client stream over one TCP socket, every byte moved by io_uring. OpenSSL copies
// its records out of one 256 KiB receive and writes into a buffer sent in one piece, and one
// read_some decrypts all that has arrived (tls_stream.cpp says what asio::ssl::stream cost).
// Before start_tls() the stream passes bytes through unencrypted (an HTTP proxy's CONNECT).
// One operation at a time: a read and a write must not overlap (HTTP/1.1 exchanges never do).
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>

namespace mmapurl::net {

class TlsStream {
 public:
  using socket_type = boost::asio::ip::tcp::socket;
  using executor_type = socket_type::executor_type;
  // Of reads and writes alike.
  using ReadHandler =
      boost::asio::any_completion_handler<void(boost::system::error_code, std::size_t)>;
  using HandshakeHandler = boost::asio::any_completion_handler<void(boost::system::error_code)>;

  // Streams on `ctx` read the server's TLS 1.3 and 1.2 records themselves once the handshake is
  // done (TlsRecordReader; OpenSSL keeps the write side). Installs OpenSSL's key log callback on
  // `ctx`, from which a stream takes the server's TLS 1.3 traffic secret; call before any
  // handshake.
  static void take_over_tls_records(SSL_CTX* ctx);

  TlsStream(const executor_type& ex, SSL_CTX* ctx);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  executor_type get_executor();
  socket_type& socket();
  SSL* native_handle();
  // Bytes received or decrypted but not yet read (or the server's records ended): after a
  // response, the stream must not carry another.
  bool has_unread_bytes() const;
  // The handshake is done and the server's records are read by TlsRecordReader.
  bool reads_tls_records() const;

  // Client TLS on the connected socket from now on: SNI (names only) and verification of the
  // peer's certificate against `host` (a name or an IP literal). False (and `error`) if OpenSSL
  // cannot set it up.
  bool start_tls(const std::string& host, std::string* error);
  void async_handshake(HandshakeHandler handler);

  // For an idle connection whose socket has bytes waiting (a peek saw them): one receive of what
  // has arrived, and the records in it taken in as a read would (TLS 1.3 NewSessionTickets
  // dropped, a KeyUpdate applied), without waiting for more. Completes with 0 when that was all
  // (the rest of a record may still come), with 1 when application data came (a byte of it,
  // dropped), and with an error at the server's close_notify (eof), an alert, a record that
  // fails, or the end of the stream. An operation like any other: no read or write beside it.
  void async_take_unasked(ReadHandler handler);

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          read_some(first_buffer(b), ReadHandler(std::move(handler)));
        },
        token, buffers);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          write_some(first_buffer(b), ReadHandler(std::move(handler)));
        },
        token, buffers);
  }

 private:
  struct Core;

  template <class Buffers>
  static auto first_buffer(const Buffers& buffers) {
    auto it = boost::asio::buffer_sequence_begin(buffers);
    const auto end = boost::asio::buffer_sequence_end(buffers);
    for (; it != end; ++it) {
      if (boost::asio::buffer_size(*it) != 0) break;
    }
    using Buffer = std::decay_t<decltype(*it)>;
    return it == end ? Buffer() : Buffer(*it);
  }

  void read_some(boost::asio::mutable_buffer buffer, ReadHandler handler);
  void write_some(boost::asio::const_buffer buffer, ReadHandler handler);

  // Shared with operations in flight, which may complete after this object is gone.
  std::shared_ptr<Core> core_;
};

}  // namespace mmapurl::net
