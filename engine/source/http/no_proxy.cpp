// NO_PROXY entries parsed one at a time and matched against a URL's host and port.
#include "source/http/no_proxy.hpp"

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <cstring>
#include <optional>
#include <string>

namespace mmapurl::source {
namespace {

struct IpAddress {
  int family = 0;  // AF_INET or AF_INET6
  std::array<uint8_t, 16> bytes{};
  unsigned bits() const { return family == AF_INET ? 32 : 128; }
};

// Only the strict forms inet_pton knows: "10.1.2.3", "::1", "::ffff:10.1.2.3". "127.1" is a
// name here, as for curl.
std::optional<IpAddress> parse_ip(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  const std::string s(text);
  IpAddress a;
  if (::inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
    a.family = AF_INET;
    return a;
  }
  if (::inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
    a.family = AF_INET6;
    return a;
  }
  return std::nullopt;
}

bool in_block(const IpAddress& address, const IpAddress& block, unsigned prefix) {
  if (address.family != block.family) return false;
  const unsigned whole = prefix / 8;
  const unsigned rest = prefix % 8;
  if (std::memcmp(address.bytes.data(), block.bytes.data(), whole) != 0) return false;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (address.bytes[whole] & mask) == (block.bytes[whole] & mask);
}

std::optional<unsigned> parse_decimal(std::string_view text, unsigned max) {
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value > max) {
    return std::nullopt;
  }
  return value;
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

struct Entry {
  enum class Kind { kInvalid, kEveryHost, kName, kAddress } kind = Kind::kInvalid;
  std::string_view name;  // kName: without leading "*." or "." and trailing "."
  IpAddress address;      // kAddress: the block's address and prefix length
  unsigned prefix = 0;
  std::optional<uint16_t> port;  // only this port, when given
};

Entry parse_entry(std::string_view text) {
  Entry e;
  if (text == "*") {
    e.kind = Entry::Kind::kEveryHost;
    return e;
  }
  std::string_view host = text;
  std::optional<std::string_view> port_text;
  std::optional<std::string_view> prefix_text;
  bool bracketed = false;
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return e;
    host = text.substr(1, close - 1);
    const std::string_view after = text.substr(close + 1);
    if (!after.empty()) {
      if (after.front() == ':') {
        port_text = after.substr(1);
      } else if (after.front() == '/') {
        prefix_text = after.substr(1);
      } else {
        return e;
      }
    }
    bracketed = true;
  }
  if (const size_t slash = host.find('/'); slash != std::string_view::npos) {
    if (prefix_text) return e;  // "[fd00::/8]/8"
    prefix_text = host.substr(slash + 1);
    host = host.substr(0, slash);
  } else if (!bracketed) {
    // One colon separates a port; more make an IPv6 literal, which takes a port only in brackets.
    const size_t colon = host.find(':');
    if (colon != std::string_view::npos && host.find(':', colon + 1) == std::string_view::npos) {
      port_text = host.substr(colon + 1);
      host = host.substr(0, colon);
    }
  }
  if (port_text) {
    auto port = parse_decimal(*port_text, 65535);
    if (!port || *port == 0) return e;
    e.port = static_cast<uint16_t>(*port);
  }
  if (auto address = parse_ip(host)) {
    if (bracketed && address->family != AF_INET6) return e;
    e.address = *address;
    e.prefix = address->bits();
    if (prefix_text) {
      auto prefix = parse_decimal(*prefix_text, address->bits());
      if (!prefix) return e;
      e.prefix = *prefix;
    }
    e.kind = Entry::Kind::kAddress;
    return e;
  }
  if (bracketed || prefix_text) return e;
  if (host.substr(0, 2) == "*.") host.remove_prefix(2);
  if (!host.empty() && host.front() == '.') host.remove_prefix(1);
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.empty()) return e;
  e.name = host;
  e.kind = Entry::Kind::kName;
  return e;
}

bool entry_matches(const Entry& e, std::string_view host, const std::optional<IpAddress>& host_ip,
                   uint16_t port) {
  if (e.kind == Entry::Kind::kEveryHost) return true;
  if (e.kind == Entry::Kind::kInvalid || (e.port && *e.port != port)) return false;
  if (e.kind == Entry::Kind::kAddress) return host_ip && in_block(*host_ip, e.address, e.prefix);
  // A name never matches an address: "0.0.1" is no domain of "127.0.0.1".
  if (host_ip) return false;
  if (equal_ignoring_case(host, e.name)) return true;
  return host.size() > e.name.size() && host[host.size() - e.name.size() - 1] == '.' &&
         equal_ignoring_case(host.substr(host.size() - e.name.size()), e.name);
}

bool is_separator(char c) { return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

bool no_proxy_matches(std::string_view no_proxy, std::string_view host, uint16_t port) {
  if (host.empty()) return false;
  const auto host_ip = parse_ip(host);
  if (!host_ip && host.back() == '.') host.remove_suffix(1);  // "example.com." is example.com
  size_t pos = 0;
  while (pos < no_proxy.size()) {
    while (pos < no_proxy.size() && is_separator(no_proxy[pos])) ++pos;
    size_t end = pos;
    while (end < no_proxy.size() && !is_separator(no_proxy[end])) ++end;
    if (end > pos &&
        entry_matches(parse_entry(no_proxy.substr(pos, end - pos)), host, host_ip, port)) {
      return true;
    }
    pos = end;
  }
  return false;
}

}  // namespace mmapurl::source
