// uffd-bench command line: what to read, how, and through which network.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mmapurl::bench {

struct BenchOptions {
  std::string url;               // empty: the embedded HTTPS server
  uint64_t size = 512ull << 20;  // embedded object size
  bool plain_http = false;       // embedded server without TLS
  std::vector<std::string> scenarios = {"seq", "rand"};
  uint64_t random_reads = 2000;
  uint64_t random_read_bytes = 4096;
  uint64_t stride_pages = 16;
  unsigned threads = 8;
  double latency_ms = 0;  // round trip added by the in-process shaper
  double conn_mbps = 0;   // per-connection cap of the shaper, MB/s
  bool sync = false;      // no prefetch: every fault fetches only its page
  bool json = false;
  std::optional<uint64_t> seed;  // synthetic content to verify (embedded: set)
  std::string verify_file;       // a local copy to verify against
  uint64_t rng_seed = 42;
  std::string write_synthetic;  // write --size bytes of synthetic object --seed here, exit
  std::string latencies_file;   // append each timed read's latency here (scenario, µs)
  bool quiet = false;           // no progress line on the terminal
  std::string metrics;          // after the run, print mmapurl_metrics_text: "prometheus",
                                // "openmetrics", or "" for none
};

// Parses argv; returns false with a message (or the help text) in *error.
bool parse_bench_options(int argc, char** argv, BenchOptions* out, std::string* error);

}  // namespace mmapurl::bench
