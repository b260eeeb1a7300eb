// Where container credentials may be fetched over plain http, and what may be sent there.
// Pure: the caller resolves the endpoint's name and passes every address it would connect to.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace mmapurl::s3 {

// The SDKs' rule for an http:// container endpoint: loopback (127.0.0.0/8, ::1) or the ECS /
// EKS Pod Identity agent (169.254.170.2, 169.254.170.23, fd00:ec2::23). An IPv4-mapped IPv6
// address counts as its IPv4 address.
bool container_http_address_allowed(const boost::asio::ip::address& address);

// "" when a connection to the container endpoint may use `resolved` (every address the name
// resolved to, each of which may be tried): https may go anywhere; http only when there is at
// least one address and every one is allowed. Otherwise why not, naming the first bad address.
std::string container_endpoint_address_problem(
    std::string_view scheme, const std::vector<boost::asio::ip::address>& resolved);

// "" when `token` may be sent as the Authorization header; otherwise why not. Control
// characters (CR and LF above all) would end the header and let the value write others.
std::string authorization_token_problem(std::string_view token);

}  // namespace mmapurl::s3
