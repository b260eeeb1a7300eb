// The workloads uffd-bench runs on a mapping, each timed and verified.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "uffd_bench/bench_options.hpp"

namespace mmapurl::bench {

// Verifies [offset, offset+len) of what was read; returns false on the first wrong byte.
using Verifier = std::function<bool(uint64_t offset, const uint8_t* data, size_t len)>;

struct ScenarioResult {
  std::string name;
  bool ok = true;
  std::string error;
  double seconds = 0;
  uint64_t bytes_touched = 0;
  uint64_t reads = 0;
  std::vector<double> latencies_us;  // per read, for the random scenarios
};

// `progress` (may be null) counts the bytes read so far, for the progress line.
ScenarioResult run_scenario(const std::string& name, const uint8_t* data, uint64_t size,
                            const BenchOptions& opts, const Verifier& verify,
                            std::atomic<uint64_t>* progress = nullptr);

// The bytes scenario `name` will read of an object of `size`: the progress line's 100%.
uint64_t expected_scenario_bytes(const std::string& name, uint64_t size, const BenchOptions& opts);

// `unmap`: maps `url` again and again, asks for the whole object (WILLNEED) so requests are in
// flight, and times munmap_s3. Latencies are the munmap times; `reads` counts the unmaps that
// found requests in flight.
ScenarioResult run_unmap_scenario(const std::string& url, const BenchOptions& opts);

}  // namespace mmapurl::bench
