// uffd-bench: maps a URL (or an embedded HTTPS server's synthetic object), runs read
// scenarios through the mapping, verifies every byte read, and reports throughput, fault
// latency, bytes fetched versus touched, requests, connections and peak RSS.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "embedded_server/embedded_server.hpp"
#include "embedded_server/synthetic_content.hpp"
#include "mmapurl.hpp"
#include "netshaper/shaping_proxy.hpp"
#include "terminal_progress/progress_meter.hpp"
#include "uffd_bench/bench_options.hpp"
#include "uffd_bench/page_digests.hpp"
#include "uffd_bench/scenarios.hpp"

using namespace mmapurl;
using namespace mmapurl::bench;

namespace {

std::atomic<uint64_t> checksum_sink{0};

// For a tail beyond p99 (which reads were slow, and when): the JSON keeps only percentiles.
bool append_latencies(const std::string& path, const ScenarioResult& r) {
  FILE* f = std::fopen(path.c_str(), "a");
  if (!f) {
    std::fprintf(stderr, "uffd-bench: cannot open %s: %s\n", path.c_str(), std::strerror(errno));
    return false;
  }
  for (double us : r.latencies_us) std::fprintf(f, "%s %.1f\n", r.name.c_str(), us);
  return std::fclose(f) == 0;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t idx = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1));
  return v[idx];
}

uint64_t peak_rss_bytes() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<uint64_t>(ru.ru_maxrss) * 1024;
}

// "scheme://host:port/rest" → host, port and the parts around them.
bool split_authority(const std::string& url, std::string* scheme, std::string* host, uint16_t* port,
                     std::string* rest) {
  size_t s = url.find("://");
  if (s == std::string::npos) return false;
  *scheme = url.substr(0, s);
  size_t slash = url.find('/', s + 3);
  std::string auth =
      url.substr(s + 3, slash == std::string::npos ? std::string::npos : slash - s - 3);
  *rest = slash == std::string::npos ? "/" : url.substr(slash);
  size_t colon = auth.rfind(':');
  if (colon != std::string::npos && auth.find(']') == std::string::npos) {
    *host = auth.substr(0, colon);
    *port = static_cast<uint16_t>(std::atoi(auth.c_str() + colon + 1));
  } else {
    *host = auth;
    *port = *scheme == "https" ? 443 : 80;
  }
  return true;
}

}  // namespace

// Writes the synthetic object in 1 MiB pieces.
bool write_synthetic_object(const BenchOptions& opts) {
  std::FILE* f = std::fopen(opts.write_synthetic.c_str(), "wb");
  if (!f) {
    std::perror(opts.write_synthetic.c_str());
    return false;
  }
  std::vector<uint8_t> piece(1 << 20);
  for (uint64_t off = 0; off < opts.size; off += piece.size()) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(piece.size(), opts.size - off));
    testserver::fill_synthetic(opts.seed.value_or(1), off, piece.data(), n);
    if (std::fwrite(piece.data(), 1, n, f) != n) {
      std::perror(opts.write_synthetic.c_str());
      std::fclose(f);
      return false;
    }
  }
  return std::fclose(f) == 0;
}

int main(int argc, char** argv) {
  BenchOptions opts;
  std::string error;
  if (!parse_bench_options(argc, argv, &opts, &error)) {
    bool help = error.rfind("usage", 0) == 0;
    std::fputs(error.c_str(), help ? stdout : stderr);
    return help ? 0 : 2;
  }
  if (!opts.write_synthetic.empty()) return write_synthetic_object(opts) ? 0 : 1;
  if (opts.sync) {
    // Baseline: nothing ahead, each fault fetches exactly its own page.
    setenv("MMAPURL_RANDOM_FETCH", "4K", 1);
    setenv("MMAPURL_MAX_READAHEAD", "4K", 1);
  }

  std::unique_ptr<testserver::EmbeddedServer> server;
  std::string url = opts.url;
  if (url.empty()) {
    testserver::ServerOptions so;
    so.tls = !opts.plain_http;
    so.objects.push_back({"/bench.bin", opts.size, 1, "\"bench-1\"", ""});
    server = std::make_unique<testserver::EmbeddedServer>(so);
    if (!server->start(&error)) {
      std::fprintf(stderr, "uffd-bench: embedded server: %s\n", error.c_str());
      return 1;
    }
    if (so.tls) {
      char path[] = "/tmp/uffd-bench-ca-XXXXXX";
      int fd = mkstemp(path);
      if (fd < 0 || !server->write_ca_file(path, &error)) {
        std::fprintf(stderr, "uffd-bench: cannot write the CA file: %s\n", error.c_str());
        return 1;
      }
      close(fd);
      // The engine trusts the system store plus this file, by name: verification stays on.
      setenv("SSL_CERT_FILE", path, 1);
    }
    url = server->url("/bench.bin");
    opts.seed = 1;
  }

  std::unique_ptr<netshaper::ShapingProxy> shaper;
  if (opts.latency_ms > 0 || opts.conn_mbps > 0) {
    std::string scheme, host, rest;
    uint16_t port = 0;
    if (!split_authority(url, &scheme, &host, &port, &rest) ||
        !(host == "127.0.0.1" || host == "localhost")) {
      std::fprintf(stderr, "uffd-bench: --latency-ms/--conn-mbps need a loopback URL\n");
      return 2;
    }
    netshaper::ShaperOptions so;
    so.target_host = "127.0.0.1";
    so.target_port = port;
    so.delay_ms_up = opts.latency_ms / 2;
    so.delay_ms_down = opts.latency_ms / 2;
    so.conn_mbps = opts.conn_mbps;
    so.emulate_handshake_rtt = true;
    shaper = std::make_unique<netshaper::ShapingProxy>(so);
    if (!shaper->start(&error)) {
      std::fprintf(stderr, "uffd-bench: shaper: %s\n", error.c_str());
      return 1;
    }
    url = scheme + "://" + host + ":" + std::to_string(shaper->port()) + rest;
  }

  // A local copy to check against: its pages' digests, made before anything is timed.
  bench::PageDigests reference;
  if (!opts.verify_file.empty() && !reference.load(opts.verify_file, &error)) {
    std::fprintf(stderr, "uffd-bench: %s\n", error.c_str());
    return 1;
  }
  const bool have_reference = !opts.verify_file.empty();
  Verifier verify = [&](uint64_t off, const uint8_t* data, size_t len) {
    if (opts.seed) return testserver::check_synthetic(*opts.seed, off, data, len, nullptr);
    if (have_reference) return reference.matches(off, data, len);
    // Nothing to compare with: still read every byte, so the throughput is honest.
    uint64_t sum = 0;
    for (size_t i = 0; i + 8 <= len; i += 8) {
      uint64_t w;
      std::memcpy(&w, data + i, 8);
      sum += w;
    }
    for (size_t i = len & ~size_t{7}; i < len; ++i) sum += data[i];
    checksum_sink.fetch_add(sum, std::memory_order_relaxed);
    return true;
  };
  const char* verified =
      (opts.seed || have_reference) ? "verified" : "not verified (no --seed/--verify-file)";

  if (!opts.json) {
    std::printf("uffd-bench: %s%s\n", url.c_str(),
                shaper ? (" (shaped: " + std::to_string(opts.latency_ms) + " ms RTT, " +
                          std::to_string(opts.conn_mbps) + " MB/s per connection)")
                             .c_str()
                       : "");
    std::printf("%-15s %10s %10s %10s %10s %10s %9s %8s %8s %6s %9s  %s\n", "scenario", "MB/s",
                "p50 us", "p99 us", "max us", "map ms", "fetch/tch", "requests", "inflight",
                "conns", "rss MiB", "bytes");
  }
  int status = 0;
  for (const auto& name : opts.scenarios) {
    auto t_map = std::chrono::steady_clock::now();
    Mapping m(url);
    double map_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_map).count();
    if (!m.ok()) {
      std::fprintf(stderr, "uffd-bench: mapping %s failed: %s: %s\n", url.c_str(), m.error_string(),
                   mmapurl_last_error_message());
      return 1;
    }
    if (have_reference && reference.size() != m.size()) {
      std::fprintf(stderr, "uffd-bench: size %zu differs from the reference's %llu\n", m.size(),
                   static_cast<unsigned long long>(reference.size()));
      return 1;
    }
    if (opts.sync) m.advise(0, m.size(), Advice::kRandom);
    // On stderr, so stdout keeps only the table (or the JSON lines).
    tools::ProgressMeter meter(name, expected_scenario_bytes(name, m.size(), opts),
                               tools::ProgressMeter::wanted(opts.quiet));
    ScenarioResult r = name == "unmap"
                           ? run_unmap_scenario(url, opts)
                           : run_scenario(name, m.data(), m.size(), opts, verify, meter.counter());
    meter.finish();
    if (!opts.latencies_file.empty() && !append_latencies(opts.latencies_file, r)) status = 1;
    Stats s = m.stats();
    Stats total = process_stats();
    double mbps = r.seconds > 0 ? static_cast<double>(r.bytes_touched) / 1e6 / r.seconds : 0;
    double p50 = percentile(r.latencies_us, 50), p99 = percentile(r.latencies_us, 99),
           pmax = percentile(r.latencies_us, 100);
    double amplification = r.bytes_touched ? static_cast<double>(s.bytes_fetched) /
                                                 static_cast<double>(r.bytes_touched)
                                           : 0;
    if (!r.ok) status = 1;
    if (opts.json) {
      std::printf(
          "{\"scenario\":\"%s\",\"url\":\"%s\",\"ok\":%s,\"error\":\"%s\",\"verified\":%s,"
          "\"seconds\":%.6f,"
          "\"mb_per_s\":%.1f,\"bytes_touched\":%llu,\"bytes_fetched\":%llu,\"reads\":%llu,"
          "\"latency_us\":{\"p50\":%.1f,\"p99\":%.1f,\"max\":%.1f},\"map_ms\":%.2f,\"requests\":%"
          "llu,"
          "\"max_requests_in_flight\":%llu,\"connections\":%llu,\"faults\":%llu,\"prefetch_hits\":%"
          "llu,"
          "\"retries\":%llu,\"evictions\":%llu,\"staging_buffers_mapped\":%llu,\"cache_filled_"
          "pages\":%llu,"
          "\"cached_bytes\":%llu,\"peak_rss_bytes\":%llu,\"latency_ms\":%.2f,"
          "\"conn_mbps\":%.2f,\"sync\":%s}\n",
          r.name.c_str(), url.c_str(), r.ok ? "true" : "false", r.error.c_str(),
          (opts.seed || have_reference) ? "true" : "false", r.seconds, mbps,
          static_cast<unsigned long long>(r.bytes_touched),
          static_cast<unsigned long long>(s.bytes_fetched),
          static_cast<unsigned long long>(r.reads), p50, p99, pmax, map_ms,
          static_cast<unsigned long long>(s.requests),
          static_cast<unsigned long long>(s.max_requests_in_flight),
          static_cast<unsigned long long>(total.connections),
          static_cast<unsigned long long>(s.faults),
          static_cast<unsigned long long>(s.prefetch_hits),
          static_cast<unsigned long long>(s.retries), static_cast<unsigned long long>(s.evictions),
          static_cast<unsigned long long>(total.staging_buffers_mapped),
          static_cast<unsigned long long>(s.cache_filled_pages),
          static_cast<unsigned long long>(s.cached_bytes),
          static_cast<unsigned long long>(peak_rss_bytes()), opts.latency_ms, opts.conn_mbps,
          opts.sync ? "true" : "false");
    } else {
      std::printf("%-15s %10.1f %10.1f %10.1f %10.1f %10.2f %9.2f %8llu %8llu %6llu %9.1f  %s%s\n",
                  r.name.c_str(), mbps, p50, p99, pmax, map_ms, amplification,
                  static_cast<unsigned long long>(s.requests),
                  static_cast<unsigned long long>(s.max_requests_in_flight),
                  static_cast<unsigned long long>(total.connections),
                  static_cast<double>(peak_rss_bytes()) / (1 << 20),
                  r.ok ? verified : "WRONG BYTES: ", r.error.c_str());
    }
    std::fflush(stdout);
  }
  if (!opts.metrics.empty()) {
    const int format =
        opts.metrics == "openmetrics" ? MMAPURL_METRICS_OPENMETRICS : MMAPURL_METRICS_PROMETHEUS;
    // Room to spare: the counters may grow between the two calls (requests still finishing).
    std::string text(mmapurl_metrics_text(nullptr, 0, format) + 4096, '\0');
    text.resize(std::min(mmapurl_metrics_text(text.data(), text.size(), format), text.size() - 1));
    if (text.empty()) {
      std::fprintf(stderr, "uffd-bench: mmapurl_metrics_text failed\n");
      return 1;
    }
    std::fputs(text.c_str(), stdout);
  }
  return status;
}
