// Reading MMAPURL_* variables into EngineConfig.
#include "control/engine_config.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>

#include "control/cgroup_memory.hpp"

namespace mmapurl::control {

std::optional<uint64_t> parse_byte_size(std::string_view text) {
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  if (text.empty()) return std::nullopt;
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr == text.data()) return std::nullopt;
  std::string_view suffix(ptr, text.data() + text.size() - ptr);
  uint64_t mult = 1;
  if (!suffix.empty()) {
    char c = suffix.front();
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    switch (c) {
      case 'K': mult = 1ull << 10; break;
      case 'M': mult = 1ull << 20; break;
      case 'G': mult = 1ull << 30; break;
      case 'T': mult = 1ull << 40; break;
      case 'B': mult = 1; break;
      default: return std::nullopt;
    }
    suffix.remove_prefix(1);
    if (!(suffix.empty() || suffix == "B" || suffix == "iB" || suffix == "ib" || suffix == "b")) {
      return std::nullopt;
    }
  }
  if (value != 0 && mult > UINT64_MAX / value) return std::nullopt;
  return value * mult;
}

static std::optional<double> parse_seconds(std::string_view text) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || !(v > 0) || v > 86400) {
    return std::nullopt;
  }
  return v;
}

EngineConfig load_engine_config(const EnvLookup& env, std::string* warnings,
                                std::optional<uint64_t> cgroup_granted) {
  EngineConfig c;
  // A container's default: past what its cgroup grants, the OOM killer ends the process.
  c.memory_limit = memory_limit_under_cgroup(c.memory_limit, cgroup_granted);
  auto warn = [&](const char* name) {
    if (warnings) *warnings += std::string("ignoring malformed ") + name + "; ";
  };
  auto size_var = [&](const char* name, uint64_t& field, uint64_t min, uint64_t max) {
    if (auto v = env(name)) {
      auto parsed = parse_byte_size(*v);
      if (parsed && *parsed >= min && *parsed <= max) {
        field = *parsed;
      } else {
        warn(name);
      }
    }
  };
  auto seconds_var = [&](const char* name, double& field) {
    if (auto v = env(name)) {
      if (auto parsed = parse_seconds(*v)) {
        field = *parsed;
      } else {
        warn(name);
      }
    }
  };
  uint64_t connections = c.connections;
  size_var("MMAPURL_CONNECTIONS", connections, 1, 256);
  c.connections = static_cast<uint32_t>(connections);
  size_var("MMAPURL_PART_SIZE", c.part_bytes, 4096, 1ull << 30);
  size_var("MMAPURL_PROBE_SIZE", c.probe_bytes, 4096, 64ull << 20);
  size_var("MMAPURL_RANDOM_FETCH", c.random_fetch_bytes, 4096, 64ull << 20);
  size_var("MMAPURL_MAX_READAHEAD", c.max_readahead_bytes, 4096, 4ull << 30);
  size_var("MMAPURL_MEMORY_LIMIT", c.memory_limit, 1ull << 20, UINT64_MAX);
  seconds_var("MMAPURL_IO_TIMEOUT", c.io_timeout_s);
  seconds_var("MMAPURL_RETRY_TIMEOUT", c.retry_timeout_s);
  seconds_var("MMAPURL_IDLE_RELEASE", c.idle_release_s);
  if (auto v = env("MMAPURL_LOG")) c.log = *v;
  if (auto v = env("MMAPURL_LOG_FILE")) c.log_file = *v;
  if (auto v = env("MMAPURL_DISABLE_POISON")) c.disable_poison = (*v == "1" || *v == "true");
  // A variable that takes one of two words: `field` is whether it is `on`.
  auto two_word_var = [&](const char* name, const char* on, const char* off, bool& field) {
    if (auto v = env(name)) {
      if (*v == on || *v == off) {
        field = *v == on;
      } else {
        warn(name);
      }
    }
  };
  two_word_var("MMAPURL_TLS_RECORDS", "engine", "openssl", c.engine_reads_tls_records);
  if (auto v = env("MMAPURL_CACHE_DIR")) c.cache_dir = *v;
  two_word_var("MMAPURL_CACHE_PREFETCH", "whole", "off", c.cache_prefetch_whole);
  two_word_var("MMAPURL_CACHE_KEEP", "1", "0", c.cache_keep);
  size_var("MMAPURL_CACHE_KEEP_LIMIT", c.cache_keep_limit, 0, UINT64_MAX);
  size_var("MMAPURL_MAX_OBJECT_SIZE", c.max_object_bytes, 0, kLargestMappableBytes);
  two_word_var("MMAPURL_ALLOW_TLS_DOWNGRADE", "1", "0", c.allow_tls_downgrade);
  two_word_var("MMAPURL_ALLOW_UNPINNED", "1", "0", c.allow_unpinned);
  if (c.cache_dir.empty() && warnings) {
    if (c.cache_prefetch_whole)
      *warnings += "MMAPURL_CACHE_PREFETCH=whole needs MMAPURL_CACHE_DIR; ";
    if (c.cache_keep) *warnings += "MMAPURL_CACHE_KEEP=1 needs MMAPURL_CACHE_DIR; ";
  }
  // Pages are fetched whole; keep every size a multiple of 4 KiB.
  auto round_pages = [](uint64_t& v) { v = (v + 4095) & ~uint64_t{4095}; };
  round_pages(c.part_bytes);
  round_pages(c.probe_bytes);
  round_pages(c.random_fetch_bytes);
  round_pages(c.max_readahead_bytes);
  return c;
}

uint32_t background_fetch_budget(uint32_t connections) {
  const uint32_t for_faults = std::min<uint32_t>(8, connections / 2);
  return std::max<uint32_t>(1, connections - for_faults);
}

EngineConfig load_engine_config_from_environment(std::string* warnings,
                                                 std::optional<uint64_t> cgroup_granted) {
  return load_engine_config(
      [](const char* name) -> std::optional<std::string> {
        const char* v = std::getenv(name);
        if (!v) return std::nullopt;
        return std::string(v);
      },
      warnings, cgroup_granted);
}

}  // namespace mmapurl::control
