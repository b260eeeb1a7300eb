// The container credential endpoint rules over already-resolved addresses.
#include "source/s3/credentials/credential_endpoint_rules.hpp"

namespace mmapurl::s3 {

namespace ip = boost::asio::ip;

bool container_http_address_allowed(const ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return container_http_address_allowed(ip::make_address_v4(ip::v4_mapped, address.to_v6()));
  }
  if (address.is_loopback()) return true;  // 127.0.0.0/8 and ::1
  static const ip::address kAgents[] = {ip::make_address("169.254.170.2"),
                                        ip::make_address("169.254.170.23"),
                                        ip::make_address("fd00:ec2::23")};
  for (const auto& agent : kAgents) {
    if (address == agent) return true;
  }
  return false;
}

std::string container_endpoint_address_problem(std::string_view scheme,
                                               const std::vector<ip::address>& resolved) {
  if (scheme == "https") return "";
  if (resolved.empty()) return "the http:// endpoint resolved to no address";
  for (const auto& address : resolved) {
    if (!container_http_address_allowed(address)) {
      return "an http:// endpoint must be loopback or a container agent address, and this one "
             "resolves to " +
             address.to_string();
    }
  }
  return "";
}

std::string authorization_token_problem(std::string_view token) {
  for (unsigned char c : token) {
    if (c < 0x20 || c == 0x7f) {
      return "the container authorization token holds a control character (CR, LF or another); "
             "refusing to send it";
    }
  }
  return "";
}

}  // namespace mmapurl::s3
