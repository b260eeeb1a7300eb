// TCP connect whose sockets are close-on-exec from their creation. Asio's own open() creates
// the descriptor without SOCK_CLOEXEC, and a program exec'd before the flag is set (a
// credential_process, anything the application runs) keeps a live origin connection.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <functional>

namespace mmapurl::net {

// Closes `socket` if open, then opens it for `protocol` on a SOCK_CLOEXEC | SOCK_NONBLOCK
// descriptor.
boost::system::error_code open_cloexec(boost::asio::ip::tcp::socket& socket,
                                       const boost::asio::ip::tcp& protocol);

// As boost::asio::async_connect over a range: tries each endpoint in order on a fresh socket
// from open_cloexec() until one connects; the handler gets the last error when none does.
// `socket` must outlive the operation.
using ConnectHandler =
    std::function<void(const boost::system::error_code&, const boost::asio::ip::tcp::endpoint&)>;
void async_connect_cloexec(boost::asio::ip::tcp::socket& socket,
                           const boost::asio::ip::tcp::resolver::results_type& endpoints,
                           ConnectHandler handler);

}  // namespace mmapurl::net
