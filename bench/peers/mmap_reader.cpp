// mmap-reader: the FUSE peers' side of the peer benchmark. Maps a file (a FUSE mount of the
// object), runs the workloads uffd-bench runs, in the same way and with the same random page
// sequence (mt19937_64 seeded 42, one generator per thread seeded 42 + t), checks every byte
// against a local copy's page digests as uffd-bench does, and prints one JSON line per scenario
// in uffd-bench's format.
//   mmap-reader FILE --verify-file REF --scenario seq|rand|threads-rand
//               [--random-reads N] [--threads T]
// Built by bench/lib/peers.sh (bench/run.sh peers) with g++ directly (not part of the CMake build), -I tools.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "uffd_bench/page_digests.hpp"

namespace {

using mmapurl::bench::PageDigests;
using Clock = std::chrono::steady_clock;
constexpr uint64_t kPage = 4096;
constexpr uint64_t kScanChunk = 1 << 20;
constexpr uint64_t kRngSeed = 42;  // uffd-bench's default rng_seed

struct Options {
  std::string file, reference, scenario;
  uint64_t random_reads = 2000;
  unsigned threads = 8;
};

struct Result {
  bool ok = true;
  std::string error;
  uint64_t bytes = 0, reads = 0;
  std::vector<double> latencies_us;
};

void scan(const uint8_t* data, const PageDigests& ref, uint64_t size, Result* r) {
  for (uint64_t off = 0; off < size; off += kScanChunk) {
    uint64_t n = std::min(kScanChunk, size - off);
    if (!ref.matches(off, data + off, n)) {
      r->ok = false;
      r->error = "wrong bytes near offset " + std::to_string(off);
      return;
    }
    r->bytes += n;
  }
}

// The latency is the time to touch the page (the fault); the comparison follows, untimed.
void random_reads(const uint8_t* data, const PageDigests& ref, uint64_t size, uint64_t count,
                  uint64_t seed, Result* r) {
  std::mt19937_64 g(seed);
  uint64_t slots = size > kPage ? (size - kPage) / kPage + 1 : 1;
  std::uniform_int_distribution<uint64_t> pick(0, slots - 1);
  for (uint64_t i = 0; i < count && r->ok; ++i) {
    uint64_t off = pick(g) * kPage;
    uint64_t len = std::min(kPage, size - off);
    auto t0 = Clock::now();
    volatile uint8_t sink = data[off];
    (void)sink;
    r->latencies_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    if (!ref.matches(off, data + off, len)) {
      r->ok = false;
      r->error = "wrong bytes at offset " + std::to_string(off);
    }
    r->bytes += len;
    ++r->reads;
  }
}

double percentile(std::vector<double> v, double p) {  // uffd-bench's definition
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1))];
}

const uint8_t* map_file(const std::string& path, uint64_t* size, std::string* error) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 || fstat(fd, &st) != 0) {
    *error = "cannot open " + path + ": " + std::strerror(errno);
    if (fd >= 0) close(fd);
    return nullptr;
  }
  *size = static_cast<uint64_t>(st.st_size);
  void* p = *size ? mmap(nullptr, *size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
  close(fd);
  if (p == MAP_FAILED) {
    *error = "cannot map " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  return static_cast<const uint8_t*>(p);
}

bool parse(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool has_value = i + 1 < argc;
    if (a == "--verify-file" && has_value)
      o->reference = argv[++i];
    else if (a == "--scenario" && has_value)
      o->scenario = argv[++i];
    else if (a == "--random-reads" && has_value)
      o->random_reads = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--threads" && has_value)
      o->threads = static_cast<unsigned>(std::atoi(argv[++i]));
    else if (!a.empty() && a[0] != '-' && o->file.empty())
      o->file = a;
    else
      return false;
  }
  return !o->file.empty() && !o->reference.empty() && o->threads > 0 &&
         (o->scenario == "seq" || o->scenario == "rand" || o->scenario == "threads-rand");
}

void print_json(const Options& o, const Result& r, double seconds, double map_ms) {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::string error;
  for (char c : r.error) error += (c == '"' || c == '\\') ? ' ' : c;
  std::printf(
      "{\"scenario\":\"%s\",\"file\":\"%s\",\"ok\":%s,\"error\":\"%s\",\"verified\":%s,"
      "\"seconds\":%.6f,\"mb_per_s\":%.1f,\"bytes_touched\":%llu,\"reads\":%llu,"
      "\"latency_us\":{\"p50\":%.1f,\"p99\":%.1f,\"max\":%.1f},\"map_ms\":%.2f,"
      "\"peak_rss_bytes\":%llu}\n",
      o.scenario.c_str(), o.file.c_str(), r.ok ? "true" : "false", error.c_str(),
      r.ok ? "true" : "false", seconds,
      seconds > 0 ? static_cast<double>(r.bytes) / 1e6 / seconds : 0,
      static_cast<unsigned long long>(r.bytes), static_cast<unsigned long long>(r.reads),
      percentile(r.latencies_us, 50), percentile(r.latencies_us, 99),
      percentile(r.latencies_us, 100), map_ms,
      static_cast<unsigned long long>(ru.ru_maxrss) * 1024);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse(argc, argv, &o)) {
    std::fprintf(stderr,
                 "usage: mmap-reader FILE --verify-file REF --scenario seq|rand|threads-rand "
                 "[--random-reads N] [--threads T]\n");
    return 2;
  }
  std::string error;
  uint64_t size = 0;
  // The reference's page digests, made as uffd-bench makes them: both check bytes alike.
  PageDigests ref;
  if (!ref.load(o.reference, &error)) {
    std::fprintf(stderr, "mmap-reader: %s\n", error.c_str());
    return 1;
  }
  auto t_map = Clock::now();
  const uint8_t* data = map_file(o.file, &size, &error);
  double map_ms = std::chrono::duration<double, std::milli>(Clock::now() - t_map).count();
  Result r;
  if (!data) {
    r.ok = false;
    r.error = error;
    print_json(o, r, 0, map_ms);
    return 1;
  }
  if (size != ref.size()) {
    r.ok = false;
    r.error = "size " + std::to_string(size) + " differs from the reference's " +
              std::to_string(ref.size());
    print_json(o, r, 0, map_ms);
    return 1;
  }
  auto t0 = Clock::now();
  if (o.scenario == "seq") {
    scan(data, ref, size, &r);
  } else if (o.scenario == "rand") {
    random_reads(data, ref, size, o.random_reads, kRngSeed, &r);
  } else {
    std::vector<Result> parts(o.threads);
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < o.threads; ++t) {
      threads.emplace_back([&, t] {
        random_reads(data, ref, size, o.random_reads / o.threads, kRngSeed + t, &parts[t]);
      });
    }
    for (auto& th : threads) th.join();
    for (auto& p : parts) {
      r.bytes += p.bytes;
      r.reads += p.reads;
      r.latencies_us.insert(r.latencies_us.end(), p.latencies_us.begin(), p.latencies_us.end());
      if (!p.ok) {
        r.ok = false;
        r.error = p.error;
      }
    }
  }
  double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  print_json(o, r, seconds, map_ms);
  return r.ok ? 0 : 1;
}
