// uffd-bench workloads: sequential scan, random reads, strided reads, multi-threaded variants.
#include "uffd_bench/scenarios.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>

#include "mmapurl.hpp"

namespace mmapurl::bench {

namespace {
using Clock = std::chrono::steady_clock;
constexpr uint64_t kPage = 4096;
constexpr uint64_t kScanChunk = 1 << 20;

double since_us(Clock::time_point t) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t).count();
}

// Touches the first byte (the fault), then verifies the whole read.
bool timed_read(const uint8_t* data, uint64_t off, uint64_t len, const Verifier& verify,
                double* latency_us) {
  auto t0 = Clock::now();
  volatile uint8_t sink = data[off];
  (void)sink;
  for (uint64_t p = (off & ~(kPage - 1)) + kPage; p < off + len; p += kPage) {
    sink = data[p];
  }
  *latency_us = since_us(t0);
  return verify(off, data + off, len);
}

void scan(const uint8_t* data, uint64_t from, uint64_t to, const Verifier& verify,
          ScenarioResult* r, std::atomic<uint64_t>* progress) {
  for (uint64_t off = from; off < to; off += kScanChunk) {
    uint64_t n = std::min(kScanChunk, to - off);
    if (!verify(off, data + off, n)) {
      r->ok = false;
      r->error = "wrong bytes near offset " + std::to_string(off);
      return;
    }
    if (progress) progress->fetch_add(n, std::memory_order_relaxed);
  }
  r->bytes_touched += to - from;
}
}  // namespace

ScenarioResult run_scenario(const std::string& name, const uint8_t* data, uint64_t size,
                            const BenchOptions& opts, const Verifier& verify,
                            std::atomic<uint64_t>* progress) {
  ScenarioResult r;
  r.name = name;
  std::mt19937_64 rng(opts.rng_seed);
  auto t0 = Clock::now();
  auto random_reads = [&](uint64_t read_bytes, uint64_t count, std::mt19937_64& g,
                          ScenarioResult* out) {
    uint64_t slots = size > read_bytes ? (size - read_bytes) / kPage + 1 : 1;
    std::uniform_int_distribution<uint64_t> pick(0, slots - 1);
    for (uint64_t i = 0; i < count && out->ok; ++i) {
      uint64_t off = pick(g) * kPage;
      uint64_t len = std::min(read_bytes, size - off);
      double us = 0;
      if (!timed_read(data, off, len, verify, &us)) {
        out->ok = false;
        out->error = "wrong bytes at offset " + std::to_string(off);
      }
      out->latencies_us.push_back(us);
      out->bytes_touched += len;
      ++out->reads;
      if (progress) progress->fetch_add(len, std::memory_order_relaxed);
    }
  };
  if (name == "seq") {
    scan(data, 0, size, verify, &r, progress);
  } else if (name == "rand") {
    random_reads(opts.random_read_bytes, opts.random_reads, rng, &r);
  } else if (name == "rand64k") {
    random_reads(64 * 1024, opts.random_reads, rng, &r);
  } else if (name == "stride") {
    for (uint64_t off = 0; off < size && r.ok; off += opts.stride_pages * kPage) {
      double us = 0;
      uint64_t len = std::min(kPage, size - off);
      if (!timed_read(data, off, len, verify, &us)) {
        r.ok = false;
        r.error = "wrong bytes at offset " + std::to_string(off);
      }
      r.latencies_us.push_back(us);
      r.bytes_touched += len;
      ++r.reads;
      if (progress) progress->fetch_add(len, std::memory_order_relaxed);
    }
  } else if (name == "threads-region" || name == "threads-rand") {
    std::vector<ScenarioResult> parts(opts.threads);
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < opts.threads; ++t) {
      threads.emplace_back([&, t] {
        if (name == "threads-region") {
          uint64_t region = (size / opts.threads) & ~(kPage - 1);
          uint64_t from = region * t;
          uint64_t to = t + 1 == opts.threads ? size : from + region;
          scan(data, from, to, verify, &parts[t], progress);
        } else {
          std::mt19937_64 g(opts.rng_seed + t);
          random_reads(opts.random_read_bytes, opts.random_reads / opts.threads, g, &parts[t]);
        }
      });
    }
    for (auto& th : threads) th.join();
    for (auto& p : parts) {
      r.bytes_touched += p.bytes_touched;
      r.reads += p.reads;
      r.latencies_us.insert(r.latencies_us.end(), p.latencies_us.begin(), p.latencies_us.end());
      if (!p.ok) {
        r.ok = false;
        r.error = p.error;
      }
    }
  } else {
    r.ok = false;
    r.error = "unknown scenario " + name;
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

uint64_t expected_scenario_bytes(const std::string& name, uint64_t size, const BenchOptions& opts) {
  if (name == "seq" || name == "threads-region") return size;
  if (name == "rand" || name == "threads-rand")
    return std::min(size, opts.random_read_bytes) *
           (name == "rand" ? opts.random_reads : opts.random_reads / opts.threads * opts.threads);
  if (name == "rand64k") return std::min<uint64_t>(size, 64 * 1024) * opts.random_reads;
  if (name == "stride") {
    uint64_t step = opts.stride_pages * kPage;
    uint64_t reads = (size + step - 1) / step;
    return reads == 0 ? 0 : (reads - 1) * kPage + std::min(kPage, size - (reads - 1) * step);
  }
  return 0;  // unmap: reads nothing
}

ScenarioResult run_unmap_scenario(const std::string& url, const BenchOptions& opts) {
  ScenarioResult r;
  r.name = "unmap";
  constexpr int kRounds = 20;
  auto t0 = Clock::now();
  for (int i = 0; i < kRounds && r.ok; ++i) {
    size_t size = 0;
    int err = 0;
    const void* p = mmap_s3(url.c_str(), &size, &err);
    if (p == MAP_FAILED) {
      r.ok = false;
      r.error = std::string("mapping failed: ") + mmap_s3_errstr(err);
      break;
    }
    mmapurl_advise(p, size, MMAPURL_ADVICE_WILLNEED);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // let the requests start
    mmapurl::Stats s;
    if (mmapurl_stats_get(p, &s) == 0 && s.in_flight_bytes > 0) ++r.reads;
    auto t = Clock::now();
    if (munmap_s3(p) != 0) {
      r.ok = false;
      r.error = "munmap_s3 failed";
    }
    r.latencies_us.push_back(since_us(t));
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  (void)opts;
  return r;
}

}  // namespace mmapurl::bench
