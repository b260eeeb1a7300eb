// BufferedSocket: the plain-HTTP stream, a TCP socket with one large receive buffer in front.
// Beast's header parser asks for small reads; answering those from one big receive saves
// io_uring receives, and a large body read bypasses the buffer (TLS: net/tls_stream.hpp).
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <cstdint>
#include <cstring>
#include <memory>

namespace mmapurl::net {

class BufferedSocket {
 public:
  using socket_type = boost::asio::ip::tcp::socket;
  using executor_type = socket_type::executor_type;
  using lowest_layer_type = socket_type::lowest_layer_type;

  explicit BufferedSocket(const executor_type& ex, size_t capacity = 256 * 1024)
      : socket_(ex), state_(std::make_shared<State>(capacity)) {}

  executor_type get_executor() { return socket_.get_executor(); }
  socket_type& socket() { return socket_; }
  lowest_layer_type& lowest_layer() { return socket_.lowest_layer(); }
  // Bytes received but not yet handed out: after a response, any left means the peer sent more
  // than it announced.
  size_t buffered() const { return state_->end - state_->begin; }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, size_t)>(
        [this](auto handler, const MutableBuffers& buffers) {
          start_read(buffers, std::move(handler));
        },
        token, buffers);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return socket_.async_write_some(buffers, std::forward<Token>(token));
  }

 private:
  // Shared with pending receives, which may complete after this object is gone (a socket
  // destroyed with a receive in flight completes it later, with an error).
  struct State {
    explicit State(size_t cap) : data(new uint8_t[cap]), capacity(cap) {}
    std::unique_ptr<uint8_t[]> data;
    size_t capacity;
    size_t begin = 0;
    size_t end = 0;

    template <class MutableBuffers>
    size_t take(const MutableBuffers& buffers) {
      size_t copied = 0;
      for (auto it = boost::asio::buffer_sequence_begin(buffers);
           it != boost::asio::buffer_sequence_end(buffers) && begin < end; ++it) {
        boost::asio::mutable_buffer b(*it);
        size_t n = std::min(b.size(), end - begin);
        std::memcpy(b.data(), data.get() + begin, n);
        begin += n;
        copied += n;
      }
      return copied;
    }
  };

  template <class MutableBuffers, class Handler>
  void start_read(const MutableBuffers& buffers, Handler handler) {
    std::shared_ptr<State> st = state_;
    // A zero-sized read completes at once, as on a socket: waiting for the network there would
    // stall a finished response.
    if (st->begin != st->end || boost::asio::buffer_size(buffers) == 0) {
      size_t n = st->take(buffers);
      boost::asio::post(socket_.get_executor(), [h = std::move(handler), n]() mutable {
        h(boost::system::error_code(), n);
      });
      return;
    }
    if (boost::asio::buffer_size(buffers) >= st->capacity) {
      // A large plain-HTTP body read: straight into the caller's memory, no copy.
      socket_.async_read_some(buffers, std::move(handler));
      return;
    }
    socket_.async_read_some(
        boost::asio::buffer(st->data.get(), st->capacity),
        [st, buffers, h = std::move(handler)](boost::system::error_code ec, size_t got) mutable {
          st->begin = 0;
          st->end = got;
          if (got == 0) return h(ec, size_t{0});
          size_t n = st->take(buffers);
          h(boost::system::error_code(), n);
        });
  }

  socket_type socket_;
  std::shared_ptr<State> state_;
};

}  // namespace mmapurl::net
