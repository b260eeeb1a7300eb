// read_object URL [BYTES]: the C++ API's way to map a remote object (https://, http://, s3://),
// read its first BYTES (default 1 MiB), and print their FNV-1a hash and the mapping's counters.
#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mmapurl.hpp>

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s URL [BYTES]\n", argv[0]);
    return 2;
  }
  mmapurl::Mapping mapping(argv[1]);  // unmaps itself when it goes out of scope
  if (!mapping.ok()) {
    // The code's text, and why in words (without secrets such as a presigned signature).
    std::fprintf(stderr, "read_object: %s: %s\n", mapping.error_string(),
                 mmapurl_last_error_message());
    return 1;
  }
  size_t want = argc == 3 ? std::strtoull(argv[2], nullptr, 10) : size_t{1} << 20;
  want = std::min(want, mapping.size());
  // Plain memory reads. A page that cannot be fetched raises SIGBUS here, as an I/O error does
  // under a file mapping: see examples/c/read_object.c for a handler.
  uint32_t hash = 2166136261u;
  for (size_t i = 0; i < want; ++i) hash = (hash ^ mapping.data()[i]) * 16777619u;
  std::printf("size %zu\nread %zu\nfnv1a %08" PRIx32 "\n", mapping.size(), want, hash);

  const mmapurl::Stats s = mapping.stats();  // this mapping's; process_stats() for all of them
  std::printf("faults %" PRIu64 "\nrequests %" PRIu64 "\nbytes_fetched %" PRIu64
              "\nprefetch_hits %" PRIu64 "\nfault_latency_p50_us %.1f\n",
              s.faults, s.requests, s.bytes_fetched, s.prefetch_hits,
              s.fault_latency_percentile_us(50));
  return 0;
}
