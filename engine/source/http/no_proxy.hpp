// NoProxyList: whether a NO_PROXY value exempts a host from the proxy, read as curl reads it,
// with Go's per-entry ports added. Pure, no I/O (not even name resolution).
#pragma once

#include <cstdint>
#include <string_view>

namespace mmapurl::source {

// True if `no_proxy` lists `host` on `port`. `host` is as a URL names it (an IPv6 literal
// without brackets); `port` is the URL's port, explicit or the scheme's default.
//
// Entries are separated by commas or blanks. An entry is:
// - `*`: every host;
// - a host name, compared without regard to case, with or without a leading `.` or `*.` and a
//   trailing `.`: it matches that name and every name below it (`example.com` matches
//   `example.com` and `a.example.com`, never `notexample.com`); never an IP-literal host;
// - an IP address (`10.1.2.3`, `::1`, `[::1]`) or a CIDR block (`10.0.0.0/8`, `fd00::/8`,
//   `[fd00::]/8`): it matches IP-literal hosts of its family within it, never a name (no
//   lookups are made); `/0` is the whole family;
// - any of the above (except CIDR blocks) followed by `:port` (`[::1]:8080` for IPv6): it
//   matches only URLs on that port.
// A malformed entry (bad port, prefix longer than the address) matches nothing.
bool no_proxy_matches(std::string_view no_proxy, std::string_view host, uint16_t port);

}  // namespace mmapurl::source
