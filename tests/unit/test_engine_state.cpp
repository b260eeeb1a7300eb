// Pure engine state: the page-state table and the MMAPURL_* configuration parser.
#include <gtest/gtest.h>

#include <map>

#include "control/engine_config.hpp"
#include "control/page_state_table.hpp"

using namespace mmapurl::control;

TEST(PageStateTable, TracksStatesAndRuns) {
  PageStateTable t(10);
  EXPECT_EQ(t.count(PageState::kAbsent), 10u);
  t.set_range(2, 3, PageState::kInFlight);
  EXPECT_EQ(t.count(PageState::kInFlight), 3u);
  EXPECT_EQ(t.count(PageState::kAbsent), 7u);
  EXPECT_EQ(t.run_length(0, 10, PageState::kAbsent), 2u);
  EXPECT_EQ(t.run_length(2, 10, PageState::kInFlight), 3u);
  EXPECT_EQ(t.run_length(2, 2, PageState::kInFlight), 2u);
  t.set(3, PageState::kFailed);
  EXPECT_EQ(t.get(3), PageState::kFailed);
  EXPECT_EQ(t.count(PageState::kFailed), 1u);
  t.set_range(8, 5, PageState::kResident);  // clipped at the end
  EXPECT_EQ(t.count(PageState::kResident), 2u);
}

TEST(EngineConfig, ParsesByteSizes) {
  EXPECT_EQ(*parse_byte_size("123"), 123u);
  EXPECT_EQ(*parse_byte_size("64K"), 64u << 10);
  EXPECT_EQ(*parse_byte_size("256M"), 256u << 20);
  EXPECT_EQ(*parse_byte_size("1G"), 1ull << 30);
  EXPECT_EQ(*parse_byte_size("2GiB"), 2ull << 30);
  EXPECT_EQ(*parse_byte_size("3mb"), 3ull << 20);
  for (const char* bad : {"", "x", "12Q", "-1", "99999999999999999999", "20000000000G"}) {
    EXPECT_FALSE(parse_byte_size(bad)) << bad;
  }
}

TEST(EngineConfig, ReadsVariablesAndKeepsDefaultsOnGarbage) {
  std::map<std::string, std::string> env = {{"MMAPURL_MEMORY_LIMIT", "256M"},
                                            {"MMAPURL_CONNECTIONS", "4"},
                                            {"MMAPURL_RETRY_TIMEOUT", "2.5"},
                                            {"MMAPURL_PART_SIZE", "banana"},
                                            {"MMAPURL_RANDOM_FETCH", "5000"}};
  std::string warnings;
  auto c = load_engine_config(
      [&](const char* n) -> std::optional<std::string> {
        auto it = env.find(n);
        if (it == env.end()) return std::nullopt;
        return it->second;
      },
      &warnings);
  EXPECT_EQ(c.memory_limit, 256ull << 20);
  EXPECT_EQ(c.connections, 4u);
  EXPECT_DOUBLE_EQ(c.retry_timeout_s, 2.5);
  EXPECT_EQ(c.part_bytes, EngineConfig{}.part_bytes);
  EXPECT_NE(warnings.find("MMAPURL_PART_SIZE"), std::string::npos);
  EXPECT_EQ(c.random_fetch_bytes, 8192u);  // rounded up to whole pages
}

TEST(EngineConfig, ACgroupLowersTheDefaultMemoryLimitNotOneTheUserSets) {
  auto load = [](std::optional<std::string> limit, std::optional<uint64_t> granted) {
    return load_engine_config(
        [&](const char* n) -> std::optional<std::string> {
          if (std::string(n) == "MMAPURL_MEMORY_LIMIT") return limit;
          return std::nullopt;
        },
        nullptr, granted);
  };
  EXPECT_EQ(load(std::nullopt, std::nullopt).memory_limit, EngineConfig{}.memory_limit);
  EXPECT_EQ(load(std::nullopt, 512ull << 20).memory_limit, 256ull << 20);
  EXPECT_EQ(load("2G", 512ull << 20).memory_limit, 2ull << 30) << "the user's word stands";
  EXPECT_EQ(load("banana", 512ull << 20).memory_limit, 256ull << 20)
      << "a malformed value keeps the default, which is the cgroup's";
}

TEST(EngineConfig, TlsRecordsAreTheEnginesUnlessOpenSslIsAskedFor) {
  auto load = [](std::optional<std::string> value, std::string* warnings) {
    return load_engine_config(
        [&](const char* n) -> std::optional<std::string> {
          if (std::string(n) == "MMAPURL_TLS_RECORDS") return value;
          return std::nullopt;
        },
        warnings);
  };
  std::string warnings;
  EXPECT_TRUE(load(std::nullopt, &warnings).engine_reads_tls_records);
  EXPECT_TRUE(load("engine", &warnings).engine_reads_tls_records);
  EXPECT_FALSE(load("openssl", &warnings).engine_reads_tls_records);
  EXPECT_EQ(warnings, "");
  EXPECT_TRUE(load("OpenSSL!", &warnings).engine_reads_tls_records);
  EXPECT_NE(warnings.find("MMAPURL_TLS_RECORDS"), std::string::npos);
}

TEST(EngineConfig, DiskCacheAndItsWholeObjectPrefetch) {
  auto load = [](std::map<std::string, std::string> env, std::string* warnings) {
    return load_engine_config(
        [&](const char* n) -> std::optional<std::string> {
          auto it = env.find(n);
          if (it == env.end()) return std::nullopt;
          return it->second;
        },
        warnings);
  };
  std::string warnings;
  auto off = load({}, &warnings);
  EXPECT_EQ(off.cache_dir, "");
  EXPECT_FALSE(off.cache_prefetch_whole);
  auto on =
      load({{"MMAPURL_CACHE_DIR", "/var/cache/x"}, {"MMAPURL_CACHE_PREFETCH", "whole"}}, &warnings);
  EXPECT_EQ(on.cache_dir, "/var/cache/x");
  EXPECT_TRUE(on.cache_prefetch_whole);
  EXPECT_EQ(warnings, "");
  EXPECT_FALSE(load({{"MMAPURL_CACHE_DIR", "/c"}, {"MMAPURL_CACHE_PREFETCH", "all"}}, &warnings)
                   .cache_prefetch_whole);
  EXPECT_NE(warnings.find("MMAPURL_CACHE_PREFETCH"), std::string::npos);
  warnings.clear();
  load({{"MMAPURL_CACHE_PREFETCH", "whole"}}, &warnings);
  EXPECT_NE(warnings.find("needs MMAPURL_CACHE_DIR"), std::string::npos);
  warnings.clear();
  EXPECT_FALSE(off.cache_keep);
  EXPECT_TRUE(
      load({{"MMAPURL_CACHE_DIR", "/c"}, {"MMAPURL_CACHE_KEEP", "1"}}, &warnings).cache_keep);
  EXPECT_EQ(warnings, "");
  EXPECT_FALSE(
      load({{"MMAPURL_CACHE_DIR", "/c"}, {"MMAPURL_CACHE_KEEP", "yes"}}, &warnings).cache_keep);
  EXPECT_NE(warnings.find("MMAPURL_CACHE_KEEP"), std::string::npos);
  warnings.clear();
  load({{"MMAPURL_CACHE_KEEP", "1"}}, &warnings);
  EXPECT_NE(warnings.find("MMAPURL_CACHE_KEEP=1 needs MMAPURL_CACHE_DIR"), std::string::npos);
  warnings.clear();
  EXPECT_EQ(off.cache_keep_limit, 0u);  // no limit: only the 5% free floor
  EXPECT_EQ(load({{"MMAPURL_CACHE_KEEP_LIMIT", "20G"}}, &warnings).cache_keep_limit, 20ull << 30);
  EXPECT_EQ(load({{"MMAPURL_CACHE_KEEP_LIMIT", "lots"}}, &warnings).cache_keep_limit, 0u);
  EXPECT_NE(warnings.find("MMAPURL_CACHE_KEEP_LIMIT"), std::string::npos);
}

TEST(EngineConfig, UnpinnedObjectsOnlyWhenAskedForWithOne) {
  auto load = [](std::optional<std::string> value, std::string* warnings) {
    return load_engine_config(
        [&](const char* n) -> std::optional<std::string> {
          if (std::string(n) == "MMAPURL_ALLOW_UNPINNED") return value;
          return std::nullopt;
        },
        warnings);
  };
  std::string warnings;
  EXPECT_FALSE(load(std::nullopt, &warnings).allow_unpinned);
  EXPECT_TRUE(load("1", &warnings).allow_unpinned);
  EXPECT_FALSE(load("0", &warnings).allow_unpinned);
  EXPECT_EQ(warnings, "");
  for (const char* other : {"yes", "true", "", "2"}) {
    warnings.clear();
    EXPECT_FALSE(load(other, &warnings).allow_unpinned) << other;
    EXPECT_NE(warnings.find("MMAPURL_ALLOW_UNPINNED"), std::string::npos) << other;
  }
}

TEST(EngineConfig, BackgroundFetchesLeaveConnectionsToFaults) {
  using mmapurl::control::background_fetch_budget;
  EXPECT_EQ(background_fetch_budget(1), 1u);
  EXPECT_EQ(background_fetch_budget(2), 1u);
  EXPECT_EQ(background_fetch_budget(4), 2u);
  EXPECT_EQ(background_fetch_budget(16), 8u);
  EXPECT_EQ(background_fetch_budget(24), 16u);
}

TEST(EngineConfig, ObjectSizeBoundAndTlsDowngradeOptIn) {
  auto with = [](std::map<std::string, std::string> vars, std::string* warnings) {
    return load_engine_config(
        [&](const char* name) -> std::optional<std::string> {
          auto it = vars.find(name);
          if (it == vars.end()) return std::nullopt;
          return it->second;
        },
        warnings);
  };
  std::string warnings;
  const EngineConfig defaults = with({}, &warnings);
  EXPECT_EQ(defaults.max_object_bytes, 1ull << 40);
  EXPECT_FALSE(defaults.allow_tls_downgrade);
  EXPECT_EQ(defaults.idle_release_s, 30);
  EXPECT_EQ(with({{"MMAPURL_IDLE_RELEASE", "0.5"}}, &warnings).idle_release_s, 0.5);
  const EngineConfig set =
      with({{"MMAPURL_MAX_OBJECT_SIZE", "2G"}, {"MMAPURL_ALLOW_TLS_DOWNGRADE", "1"}}, &warnings);
  EXPECT_EQ(set.max_object_bytes, 2ull << 30);
  EXPECT_TRUE(set.allow_tls_downgrade);
  EXPECT_TRUE(warnings.empty()) << warnings;
  // Past the address space a mapping can span, or garbage: the default stays, with a warning.
  const EngineConfig too_large = with(
      {{"MMAPURL_MAX_OBJECT_SIZE", "256T"}, {"MMAPURL_ALLOW_TLS_DOWNGRADE", "yes"}}, &warnings);
  EXPECT_EQ(too_large.max_object_bytes, 1ull << 40);
  EXPECT_FALSE(too_large.allow_tls_downgrade);
  EXPECT_NE(warnings.find("MMAPURL_MAX_OBJECT_SIZE"), std::string::npos) << warnings;
  EXPECT_NE(warnings.find("MMAPURL_ALLOW_TLS_DOWNGRADE"), std::string::npos) << warnings;
}
