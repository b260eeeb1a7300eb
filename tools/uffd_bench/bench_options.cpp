// uffd-bench argument parsing.
#include "uffd_bench/bench_options.hpp"

#include <cstdlib>
#include <sstream>

namespace mmapurl::bench {

static const char* kHelp =
    "usage: uffd-bench [URL] [options]\n"
    "  With no URL, starts an embedded HTTPS server on loopback (self-signed certificate made in\n"
    "  memory, synthetic object of known content), maps it and verifies every byte it reads.\n"
    "  --size BYTES[K|M|G]       embedded object size (default 512M)\n"
    "  --http                    embedded server without TLS\n"
    "  --scenario LIST           comma list of seq, rand, rand64k, stride, threads-region,\n"
    "                            threads-rand, unmap (munmap_s3 time with requests in\n"
    "                            flight) (default seq,rand)\n"
    "  --random-reads N          reads in rand scenarios (default 2000)\n"
    "  --threads N               threads in threads-* scenarios (default 8)\n"
    "  --stride-pages K          stride scenario reads one page every K (default 16)\n"
    "  --latency-ms R            round trip added by an in-process shaping proxy\n"
    "  --conn-mbps M             per-connection bandwidth cap of that proxy, MB/s\n"
    "  --sync                    no prefetch: every fault fetches only its own page (baseline)\n"
    "  --seed N                  the URL serves mmapurl synthetic content of seed N: verify it\n"
    "  --write-synthetic PATH    write --size bytes of the synthetic object of --seed N (default\n"
    "                            1) to PATH and exit: an object a server can serve and this tool\n"
    "                            verify without a reference copy in memory\n"
    "  --verify-file PATH        verify against a local copy of the object\n"
    "  --json                    one JSON object per scenario on stdout\n"
    "  --latencies-file PATH     append every timed read's latency to PATH, a line each:\n"
    "                            scenario and microseconds, in the order of the reads\n"
    "  --metrics[=openmetrics]   after the run, print the process's counters on stdout in the\n"
    "                            Prometheus text format (or OpenMetrics), as\n"
    "                            mmapurl_metrics_text() gives them\n"
    "  --quiet                   no progress line: on a terminal, stderr shows one line updated\n"
    "                            in place during each scenario that runs longer than a second\n"
    "                            (bytes, MB/s, faults, requests, bytes in flight), then a "
    "summary\n";

static std::optional<uint64_t> parse_size(const std::string& s) {
  char* end = nullptr;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (end == s.c_str()) return std::nullopt;
  std::string suffix(end);
  uint64_t mult = 1;
  if (suffix == "K" || suffix == "k")
    mult = 1ull << 10;
  else if (suffix == "M" || suffix == "m")
    mult = 1ull << 20;
  else if (suffix == "G" || suffix == "g")
    mult = 1ull << 30;
  else if (!suffix.empty())
    return std::nullopt;
  return v * mult;
}

bool parse_bench_options(int argc, char** argv, BenchOptions* out, std::string* error) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string(argv[++i]);
    };
    auto number = [&](uint64_t* field) {
      auto v = value();
      auto n = v ? parse_size(*v) : std::nullopt;
      if (!n) return false;
      *field = *n;
      return true;
    };
    auto real = [&](double* field) {
      auto v = value();
      if (!v) return false;
      *field = std::atof(v->c_str());
      return *field >= 0;
    };
    bool ok = true;
    if (a == "--help" || a == "-h") {
      *error = kHelp;
      return false;
    } else if (a == "--size") {
      ok = number(&out->size);
    } else if (a == "--http") {
      out->plain_http = true;
    } else if (a == "--scenario") {
      auto v = value();
      ok = v.has_value();
      if (ok) {
        out->scenarios.clear();
        std::stringstream ss(*v);
        std::string item;
        while (std::getline(ss, item, ',')) out->scenarios.push_back(item);
      }
    } else if (a == "--random-reads") {
      ok = number(&out->random_reads);
    } else if (a == "--threads") {
      uint64_t t = 0;
      ok = number(&t) && t > 0 && t <= 256;
      out->threads = static_cast<unsigned>(t);
    } else if (a == "--stride-pages") {
      ok = number(&out->stride_pages) && out->stride_pages > 0;
    } else if (a == "--latency-ms") {
      ok = real(&out->latency_ms);
    } else if (a == "--conn-mbps") {
      ok = real(&out->conn_mbps);
    } else if (a == "--sync") {
      out->sync = true;
    } else if (a == "--quiet" || a == "-q") {
      out->quiet = true;
    } else if (a == "--metrics" || a == "--metrics=prometheus") {
      out->metrics = "prometheus";
    } else if (a == "--metrics=openmetrics") {
      out->metrics = "openmetrics";
    } else if (a == "--json") {
      out->json = true;
    } else if (a == "--seed") {
      uint64_t s = 0;
      ok = number(&s);
      out->seed = s;
    } else if (a == "--write-synthetic") {
      auto v = value();
      ok = v.has_value();
      if (ok) out->write_synthetic = *v;
    } else if (a == "--latencies-file") {
      auto v = value();
      ok = v.has_value();
      if (ok) out->latencies_file = *v;
    } else if (a == "--verify-file") {
      auto v = value();
      ok = v.has_value();
      if (ok) out->verify_file = *v;
    } else if (!a.empty() && a[0] != '-' && out->url.empty()) {
      out->url = a;
    } else {
      ok = false;
    }
    if (!ok) {
      *error = "uffd-bench: bad argument near '" + a + "'\n" + kHelp;
      return false;
    }
  }
  return true;
}

}  // namespace mmapurl::bench
