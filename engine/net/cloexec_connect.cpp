// Sockets opened by hand (::socket with SOCK_CLOEXEC) and handed to Asio with assign(), and
// the endpoint-by-endpoint connect that asio::async_connect would do with its own open().
#include "net/cloexec_connect.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <memory>
#include <vector>

namespace mmapurl::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

boost::system::error_code open_cloexec(tcp::socket& socket, const tcp& protocol) {
  boost::system::error_code ec;
  if (socket.is_open()) socket.close(ec);
  int fd =
      ::socket(protocol.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol.protocol());
  if (fd < 0) return {errno, boost::system::system_category()};
  ec = {};
  socket.assign(protocol, fd, ec);
  if (ec) ::close(fd);
  return ec;
}

namespace {

struct ConnectAttempt : std::enable_shared_from_this<ConnectAttempt> {
  tcp::socket& socket;
  std::vector<tcp::endpoint> endpoints;
  size_t next = 0;
  boost::system::error_code last = asio::error::host_not_found;
  ConnectHandler handler;

  ConnectAttempt(tcp::socket& s, std::vector<tcp::endpoint> list, ConnectHandler h)
      : socket(s), endpoints(std::move(list)), handler(std::move(h)) {}

  void try_next() {
    while (next < endpoints.size()) {
      const tcp::endpoint endpoint = endpoints[next++];
      if (auto ec = open_cloexec(socket, endpoint.protocol())) {
        last = ec;
        continue;
      }
      socket.async_connect(
          endpoint, [self = shared_from_this(), endpoint](const boost::system::error_code& ec) {
            if (!ec || ec == asio::error::operation_aborted) return self->handler(ec, endpoint);
            // Closed after the attempt failed (a timeout, a close()): cancelled too, and no
            // reason to open another socket.
            if (!self->socket.is_open()) {
              return self->handler(asio::error::operation_aborted, endpoint);
            }
            self->last = ec;
            self->try_next();
          });
      return;
    }
    // Never inline: the caller's connect() is still on the stack.
    asio::post(socket.get_executor(),
               [self = shared_from_this()] { self->handler(self->last, tcp::endpoint()); });
  }
};

}  // namespace

void async_connect_cloexec(tcp::socket& socket, const tcp::resolver::results_type& endpoints,
                           ConnectHandler handler) {
  std::vector<tcp::endpoint> list;
  for (const auto& entry : endpoints) list.push_back(entry.endpoint());
  auto attempt = std::make_shared<ConnectAttempt>(socket, std::move(list), std::move(handler));
  attempt->try_next();
}

}  // namespace mmapurl::net
