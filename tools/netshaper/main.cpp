// mmapurl-shaper: the standalone ShapingProxy, put in front of nginx or s3rver so that every
// peer in a benchmark (curl, s3fs, rclone, mmapurl...) sees the same delayed, capped network.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "netshaper/shaping_proxy.hpp"

namespace {

using mmapurl::netshaper::ShaperOptions;
using mmapurl::netshaper::ShapingProxy;

constexpr const char* kUsage =
    "usage: mmapurl-shaper --listen HOST:PORT --target HOST:PORT [options]\n"
    "\n"
    "Forwards TCP connections from --listen to --target, adding latency and a bandwidth cap\n"
    "(a user-space stand-in for tc netem). Prints 'listening on HOST:PORT' once ready\n"
    "(PORT 0 picks a free port and prints it); runs until SIGINT or SIGTERM.\n"
    "\n"
    "  --listen HOST:PORT     address to accept clients on (e.g. 127.0.0.1:0)\n"
    "  --target HOST:PORT     server to forward to (e.g. 127.0.0.1:8080)\n"
    "  --delay-ms-up X        one-way delay client -> server, milliseconds (default 0)\n"
    "  --delay-ms-down Y      one-way delay server -> client, milliseconds (default 0)\n"
    "  --rtt-ms R             shorthand: R/2 each way (overridden by the two above)\n"
    "  --conn-mbps M          cap per connection and direction, megabytes (1e6 B) per second\n"
    "  --handshake-rtt        charge a fresh connection one extra RTT, as a TCP handshake would\n"
    "  --splice               forward with splice(2): no user-space copy; shaping applies, faults\n"
    "                         do not; a delay without a cap carries at most 1-8 MiB per delay\n"
    "  --help                 this text\n"
    "\n"
    "Delayed data keeps streaming: the delay does not cut throughput (up to 64 MiB in flight\n"
    "per connection and direction). HTTPS passes through untouched.\n";

struct HostPort {
  std::string host;
  uint16_t port;
};

// "host:port", "[v6]:port".
std::optional<HostPort> parse_host_port(const std::string& s) {
  const size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon + 1 == s.size()) return std::nullopt;
  std::string host = s.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  char* end = nullptr;
  const unsigned long port = std::strtoul(s.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port > 65535 || host.empty()) return std::nullopt;
  return HostPort{host, static_cast<uint16_t>(port)};
}

std::optional<double> parse_non_negative(const char* s) {
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (end == s || *end != '\0' || !(v >= 0)) return std::nullopt;
  return v;
}

int fail(const std::string& message) {
  std::fprintf(stderr, "mmapurl-shaper: %s\n%s", message.c_str(), kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  ShaperOptions opts;
  bool have_listen = false, have_target = false;
  std::optional<double> up, down, rtt;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--handshake-rtt") {
      opts.emulate_handshake_rtt = true;
      continue;
    }
    if (arg == "--splice") {
      opts.splice = true;
      continue;
    }
    if (i + 1 >= argc) return fail("missing value for " + arg);
    const char* value = argv[++i];
    if (arg == "--listen" || arg == "--target") {
      const auto hp = parse_host_port(value);
      if (!hp) return fail("bad HOST:PORT for " + arg + ": " + value);
      if (arg == "--listen") {
        opts.listen_host = hp->host;
        opts.listen_port = hp->port;
        have_listen = true;
      } else {
        opts.target_host = hp->host;
        opts.target_port = hp->port;
        have_target = true;
      }
      continue;
    }
    const auto number = parse_non_negative(value);
    if (!number) return fail("bad number for " + arg + ": " + value);
    if (arg == "--delay-ms-up") {
      up = number;
    } else if (arg == "--delay-ms-down") {
      down = number;
    } else if (arg == "--rtt-ms") {
      rtt = number;
    } else if (arg == "--conn-mbps") {
      opts.conn_mbps = *number;
    } else {
      return fail("unknown option " + arg);
    }
  }
  if (!have_listen || !have_target) return fail("--listen and --target are required");
  opts.delay_ms_up = up.value_or(rtt.value_or(0) / 2);
  opts.delay_ms_down = down.value_or(rtt.value_or(0) / 2);
  if (!have_target || opts.target_port == 0) return fail("--target needs a port");

  // Block the signals before any thread starts, so only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  ShapingProxy proxy(opts);
  std::string error;
  if (!proxy.start(&error)) {
    std::fprintf(stderr, "mmapurl-shaper: %s\n", error.c_str());
    return 1;
  }
  std::printf("listening on %s:%u\n", opts.listen_host.c_str(), proxy.port());
  std::fflush(stdout);
  std::fprintf(stderr, "mmapurl-shaper: -> %s:%u, delay up %.3f ms, down %.3f ms, cap %s%s\n",
               opts.target_host.c_str(), opts.target_port, opts.delay_ms_up, opts.delay_ms_down,
               opts.conn_mbps > 0 ? (std::to_string(opts.conn_mbps) + " MB/s").c_str() : "none",
               opts.splice ? ", splice" : "");

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  proxy.stop();
  const auto c = proxy.counters();
  std::fprintf(stderr, "mmapurl-shaper: stopped: %llu connections, %llu bytes up, %llu down\n",
               static_cast<unsigned long long>(c.connections),
               static_cast<unsigned long long>(c.bytes_up),
               static_cast<unsigned long long>(c.bytes_down));
  return 0;
}
