// EngineConfig: every tunable of the engine, read once from MMAPURL_* environment variables
// (the README's table lists them). Parsing is pure: the lookup function is injected.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace mmapurl::control {

constexpr uint64_t kDefaultMaxObjectBytes = 1ull << 40;
// What one mapping's address range may span at most: x86-64's 47-bit user address space.
constexpr uint64_t kLargestMappableBytes = 1ull << 47;

struct EngineConfig {
  uint32_t connections = 16;                 // MMAPURL_CONNECTIONS: per origin
  uint64_t part_bytes = 8ull << 20;          // MMAPURL_PART_SIZE: largest single ranged GET
  uint64_t probe_bytes = 256ull << 10;       // MMAPURL_PROBE_SIZE: first GET at mapping time
  uint64_t random_fetch_bytes = 8ull << 10;  // MMAPURL_RANDOM_FETCH: fetch on a random fault
  // MMAPURL_MAX_READAHEAD. 128M: a full window is cut into parts per connection, and over a
  // 20 ms link 16 parts of 4 MiB idled a fifth of each connection between parts (8 MiB: a ninth).
  uint64_t max_readahead_bytes = 128ull << 20;
  uint64_t memory_limit = 1ull << 30;  // MMAPURL_MEMORY_LIMIT: resident + in flight
  double io_timeout_s = 10;            // MMAPURL_IO_TIMEOUT: no progress for this long
  double retry_timeout_s = 30;         // MMAPURL_RETRY_TIMEOUT: total budget of retries
  std::string log;                     // MMAPURL_LOG: "", "error", "info", "debug"
  std::string log_file;                // MMAPURL_LOG_FILE: path (default: stderr)
  bool disable_poison = false;         // MMAPURL_DISABLE_POISON: use the fallback path
  // MMAPURL_TLS_RECORDS: "engine" (the engine decrypts a TLS 1.3 or 1.2 AEAD server's records
  // itself, two copies fewer) or "openssl" (OpenSSL reads every record).
  bool engine_reads_tls_records = true;
  // MMAPURL_CACHE_DIR: keep every fetched page in an unnamed file in this directory, so a page
  // evicted from memory is read back from it, not fetched again ("": no disk cache).
  std::string cache_dir;
  // MMAPURL_CACHE_PREFETCH=whole (with a cache directory): download the whole object into the
  // cache file in the background from mapping time on, on the connections faults leave free.
  bool cache_prefetch_whole = false;
  // MMAPURL_CACHE_KEEP=1 (with a cache directory): the cache file is named by the object and
  // kept after unmap and exit; the next mapping of the same object (same size and strong ETag or
  // version) starts with the pages it holds.
  bool cache_keep = false;
  // MMAPURL_CACHE_KEEP_LIMIT: the disk space kept cache files in the directory may take (0: no
  // limit); the least recently used go first, and also while the filesystem has less than 5% free.
  uint64_t cache_keep_limit = 0;
  // MMAPURL_MAX_OBJECT_SIZE: larger objects are refused at mapping time (EFBIG). The page
  // table costs a byte per 4 KiB page (256 MiB for 1 TiB), and a server's answer is hostile input:
  // a lying size must cost one failed mapping, not the process's memory.
  uint64_t max_object_bytes = kDefaultMaxObjectBytes;
  // MMAPURL_ALLOW_TLS_DOWNGRADE=1: follow a redirect from https:// to http:// (refused by
  // default: every range would then travel in clear and could be altered on the way).
  bool allow_tls_downgrade = false;
  // MMAPURL_IDLE_RELEASE: seconds after which the connections of an origin no mapping uses are
  // closed and pooled staging buffers nothing took are unmapped.
  double idle_release_s = 30;
  // MMAPURL_ALLOW_UNPINNED=1: map an object larger than the probe whose server sends neither
  // ETag nor Last-Modified. Refused by default: its pages are pinned by its size alone, so a
  // same-size replacement while it is mapped mixes old and new pages.
  bool allow_unpinned = false;
};

// How many background (cache prefetch) GETs may run at once: the connections minus those kept
// for faults (up to 8, half of them at most), at least one.
uint32_t background_fetch_budget(uint32_t connections);

using EnvLookup = std::function<std::optional<std::string>(const char*)>;

// Parses "123", "64K", "16M", "1G", "2GiB" (binary multiples). Nothing on garbage/overflow.
std::optional<uint64_t> parse_byte_size(std::string_view text);

// Reads the configuration; a malformed value keeps the default and is reported in `warnings`.
// `cgroup_granted`: what the process's memory cgroup grants (control/cgroup_memory.hpp), which
// lowers the default memory limit, not one MMAPURL_MEMORY_LIMIT sets.
EngineConfig load_engine_config(const EnvLookup& env, std::string* warnings,
                                std::optional<uint64_t> cgroup_granted = std::nullopt);
EngineConfig load_engine_config_from_environment(std::string* warnings,
                                                 std::optional<uint64_t> cgroup_granted);

}  // namespace mmapurl::control
