// How a fetch range is cut into ranged GETs: pure arithmetic, no I/O, unit-tested alone.
// A reader of a sequential stream waits on the part it is in, which arrives at one connection's
// speed: cutting a young readahead window into one part per connection lets it move on sooner
// (S3-like profile, 20 ms and 50 MB/s per connection: see bench/RESULTS.md).
#pragma once

#include <cstdint>

namespace mmapurl::control {

struct PartSizing {
  uint64_t max_part_pages = 2048;  // MMAPURL_PART_SIZE, shrunk under a small memory limit
  uint64_t min_part_pages = 256;   // below this a GET's round trip outweighs its transfer
  uint32_t connections = 16;       // MMAPURL_CONNECTIONS
};

// Pages per GET for a range of `range_pages`: demand ranges (a thread waits on their first
// page) stay whole up to max_part_pages; readahead windows are cut into about one part per
// connection, never below min_part_pages nor above max_part_pages. Always at least 1.
uint64_t part_pages_for(uint64_t range_pages, bool demand, const PartSizing& sizing);

// The largest readahead window under a memory limit: a quarter of it, at most
// `max_readahead_bytes`, at least one page. A sequential reader holds about three windows
// (the one it reads, the next in flight, parts of the one after), and readahead may fill 7/8 of
// the limit: with windows as large as the limit, readahead evicted pages before the reader got to
// them, and the scan went on 8 KiB at a time (64 MiB limit: 46 MB/s instead of 500).
uint64_t readahead_window_cap_bytes(uint64_t memory_limit, uint64_t max_readahead_bytes);

}  // namespace mmapurl::control
