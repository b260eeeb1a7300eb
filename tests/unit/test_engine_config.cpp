// control::EngineConfig: the MMAPURL_* variables read once at engine start. A malformed value
// keeps the default and says so in the warnings; each variable is read on its own.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "control/engine_config.hpp"

namespace mmapurl::control {
namespace {

// The configuration read from `env` alone (and `granted`, what a memory cgroup grants).
EngineConfig load(const std::map<std::string, std::string>& env, std::string* warnings = nullptr,
                  std::optional<uint64_t> granted = std::nullopt) {
  return load_engine_config(
      [&](const char* name) -> std::optional<std::string> {
        auto it = env.find(name);
        if (it == env.end()) return std::nullopt;
        return it->second;
      },
      warnings, granted);
}

// --- byte sizes ---

TEST(EngineConfig, ByteSizesTakeDecimalAndBinaryUnitSuffixesInAnyCase) {
  EXPECT_EQ(*parse_byte_size("123"), 123u);
  EXPECT_EQ(*parse_byte_size("64K"), 64u << 10);
  EXPECT_EQ(*parse_byte_size("256M"), 256u << 20);
  EXPECT_EQ(*parse_byte_size("1G"), 1ull << 30);
  EXPECT_EQ(*parse_byte_size("2GiB"), 2ull << 30);
  EXPECT_EQ(*parse_byte_size("3mb"), 3ull << 20);
}

TEST(EngineConfig, EmptyUnknownNegativeOrOverflowingByteSizesAreRefused) {
  for (const char* bad : {"", "x", "12Q", "-1", "99999999999999999999", "20000000000G"}) {
    EXPECT_FALSE(parse_byte_size(bad)) << bad;
  }
}

// --- the fetch and connection variables ---

// Four variables set well and one malformed, read together.
const std::map<std::string, std::string> kFourGoodAndOneMalformed = {
    {"MMAPURL_MEMORY_LIMIT", "256M"},
    {"MMAPURL_CONNECTIONS", "4"},
    {"MMAPURL_RETRY_TIMEOUT", "2.5"},
    {"MMAPURL_PART_SIZE", "banana"},
    {"MMAPURL_RANDOM_FETCH", "5000"}};

TEST(EngineConfig, ReadsTheMemoryLimitConnectionsAndRetryTimeout) {
  auto c = load(kFourGoodAndOneMalformed);
  EXPECT_EQ(c.memory_limit, 256ull << 20);
  EXPECT_EQ(c.connections, 4u);
  EXPECT_DOUBLE_EQ(c.retry_timeout_s, 2.5);
}

TEST(EngineConfig, AMalformedValueKeepsTheDefaultAndNamesTheVariable) {
  std::string warnings;
  auto c = load(kFourGoodAndOneMalformed, &warnings);
  EXPECT_EQ(c.part_bytes, EngineConfig{}.part_bytes);
  EXPECT_NE(warnings.find("MMAPURL_PART_SIZE"), std::string::npos);
}

TEST(EngineConfig, TheRandomFetchSizeIsRoundedUpToWholePages) {
  EXPECT_EQ(load(kFourGoodAndOneMalformed).random_fetch_bytes, 8192u);
}

TEST(EngineConfig, BackgroundFetchesLeaveConnectionsToFaults) {
  EXPECT_EQ(background_fetch_budget(1), 1u);
  EXPECT_EQ(background_fetch_budget(2), 1u);
  EXPECT_EQ(background_fetch_budget(4), 2u);
  EXPECT_EQ(background_fetch_budget(16), 8u);
  EXPECT_EQ(background_fetch_budget(24), 16u);
}

TEST(EngineConfig, IdleReleaseIsThirtySecondsByDefaultAndTakesFractions) {
  std::string warnings;
  EXPECT_EQ(load({}, &warnings).idle_release_s, 30);
  EXPECT_EQ(load({{"MMAPURL_IDLE_RELEASE", "0.5"}}, &warnings).idle_release_s, 0.5);
}

// --- the memory limit under a cgroup ---

TEST(EngineConfig, WithoutACgroupTheDefaultMemoryLimitStands) {
  EXPECT_EQ(load({}, nullptr, std::nullopt).memory_limit, EngineConfig{}.memory_limit);
}

TEST(EngineConfig, ACgroupLowersTheDefaultMemoryLimitToHalfOfWhatItGrants) {
  EXPECT_EQ(load({}, nullptr, 512ull << 20).memory_limit, 256ull << 20);
}

TEST(EngineConfig, AMemoryLimitTheUserSetsStandsOverTheCgroup) {
  EXPECT_EQ(load({{"MMAPURL_MEMORY_LIMIT", "2G"}}, nullptr, 512ull << 20).memory_limit, 2ull << 30)
      << "the user's word stands";
}

TEST(EngineConfig, AMalformedMemoryLimitKeepsTheCgroupsDefault) {
  EXPECT_EQ(load({{"MMAPURL_MEMORY_LIMIT", "banana"}}, nullptr, 512ull << 20).memory_limit,
            256ull << 20)
      << "a malformed value keeps the default, which is the cgroup's";
}

// --- TLS records ---

TEST(EngineConfig, TlsRecordsAreTheEnginesUnlessOpenSslIsAskedFor) {
  std::string warnings;
  EXPECT_TRUE(load({}, &warnings).engine_reads_tls_records);
  EXPECT_TRUE(load({{"MMAPURL_TLS_RECORDS", "engine"}}, &warnings).engine_reads_tls_records);
  EXPECT_FALSE(load({{"MMAPURL_TLS_RECORDS", "openssl"}}, &warnings).engine_reads_tls_records);
  EXPECT_EQ(warnings, "");
}

TEST(EngineConfig, AnUnknownTlsRecordsValueKeepsTheEngineAndWarns) {
  std::string warnings;
  EXPECT_TRUE(load({{"MMAPURL_TLS_RECORDS", "OpenSSL!"}}, &warnings).engine_reads_tls_records);
  EXPECT_NE(warnings.find("MMAPURL_TLS_RECORDS"), std::string::npos);
}

// --- the disk cache ---

TEST(EngineConfig, TheDiskCacheIsOffByDefault) {
  std::string warnings;
  auto off = load({}, &warnings);
  EXPECT_EQ(off.cache_dir, "");
  EXPECT_FALSE(off.cache_prefetch_whole);
  EXPECT_FALSE(off.cache_keep);
  EXPECT_EQ(off.cache_keep_limit, 0u);  // no limit: only the 5% free floor
}

TEST(EngineConfig, ACacheDirectoryWithTheWholeObjectPrefetch) {
  std::string warnings;
  auto on =
      load({{"MMAPURL_CACHE_DIR", "/var/cache/x"}, {"MMAPURL_CACHE_PREFETCH", "whole"}}, &warnings);
  EXPECT_EQ(on.cache_dir, "/var/cache/x");
  EXPECT_TRUE(on.cache_prefetch_whole);
  EXPECT_EQ(warnings, "");
}

TEST(EngineConfig, APrefetchOtherThanWholeIsIgnoredWithAWarning) {
  std::string warnings;
  EXPECT_FALSE(load({{"MMAPURL_CACHE_DIR", "/c"}, {"MMAPURL_CACHE_PREFETCH", "all"}}, &warnings)
                   .cache_prefetch_whole);
  EXPECT_NE(warnings.find("MMAPURL_CACHE_PREFETCH"), std::string::npos);
}

TEST(EngineConfig, TheWholeObjectPrefetchWithoutACacheDirectoryWarns) {
  std::string warnings;
  load({{"MMAPURL_CACHE_PREFETCH", "whole"}}, &warnings);
  EXPECT_NE(warnings.find("needs MMAPURL_CACHE_DIR"), std::string::npos);
}

TEST(EngineConfig, TheCacheIsKeptWithKeepOne) {
  std::string warnings;
  EXPECT_TRUE(
      load({{"MMAPURL_CACHE_DIR", "/c"}, {"MMAPURL_CACHE_KEEP", "1"}}, &warnings).cache_keep);
  EXPECT_EQ(warnings, "");
}

TEST(EngineConfig, AKeepOtherThanOneIsRefusedWithAWarning) {
  std::string warnings;
  EXPECT_FALSE(
      load({{"MMAPURL_CACHE_DIR", "/c"}, {"MMAPURL_CACHE_KEEP", "yes"}}, &warnings).cache_keep);
  EXPECT_NE(warnings.find("MMAPURL_CACHE_KEEP"), std::string::npos);
}

TEST(EngineConfig, KeepWithoutACacheDirectoryWarns) {
  std::string warnings;
  load({{"MMAPURL_CACHE_KEEP", "1"}}, &warnings);
  EXPECT_NE(warnings.find("MMAPURL_CACHE_KEEP=1 needs MMAPURL_CACHE_DIR"), std::string::npos);
}

TEST(EngineConfig, TheKeptCacheLimitIsAByteSizeAndGarbageLeavesNoLimit) {
  std::string warnings;
  EXPECT_EQ(load({{"MMAPURL_CACHE_KEEP_LIMIT", "20G"}}, &warnings).cache_keep_limit, 20ull << 30);
  EXPECT_EQ(load({{"MMAPURL_CACHE_KEEP_LIMIT", "lots"}}, &warnings).cache_keep_limit, 0u);
  EXPECT_NE(warnings.find("MMAPURL_CACHE_KEEP_LIMIT"), std::string::npos);
}

// --- what only an opt-in allows ---

TEST(EngineConfig, UnpinnedObjectsOnlyWhenAskedForWithOne) {
  std::string warnings;
  EXPECT_FALSE(load({}, &warnings).allow_unpinned);
  EXPECT_TRUE(load({{"MMAPURL_ALLOW_UNPINNED", "1"}}, &warnings).allow_unpinned);
  EXPECT_FALSE(load({{"MMAPURL_ALLOW_UNPINNED", "0"}}, &warnings).allow_unpinned);
  EXPECT_EQ(warnings, "");
}

TEST(EngineConfig, AnUnpinnedValueOtherThanZeroOrOneIsRefusedWithAWarning) {
  for (const char* other : {"yes", "true", "", "2"}) {
    std::string warnings;
    EXPECT_FALSE(load({{"MMAPURL_ALLOW_UNPINNED", other}}, &warnings).allow_unpinned) << other;
    EXPECT_NE(warnings.find("MMAPURL_ALLOW_UNPINNED"), std::string::npos) << other;
  }
}

TEST(EngineConfig, ObjectsUpToOneTebibyteAndNoTlsDowngradeByDefault) {
  std::string warnings;
  const EngineConfig defaults = load({}, &warnings);
  EXPECT_EQ(defaults.max_object_bytes, 1ull << 40);
  EXPECT_FALSE(defaults.allow_tls_downgrade);
}

TEST(EngineConfig, TheObjectSizeBoundAndTheTlsDowngradeOptInAreRead) {
  std::string warnings;
  const EngineConfig set =
      load({{"MMAPURL_MAX_OBJECT_SIZE", "2G"}, {"MMAPURL_ALLOW_TLS_DOWNGRADE", "1"}}, &warnings);
  EXPECT_EQ(set.max_object_bytes, 2ull << 30);
  EXPECT_TRUE(set.allow_tls_downgrade);
  EXPECT_TRUE(warnings.empty()) << warnings;
}

// Past the address space a mapping can span, or garbage: the default stays, with a warning.
TEST(EngineConfig, AnObjectBoundPastTheAddressSpaceOrADowngradeOtherThanOneKeepsTheDefault) {
  std::string warnings;
  const EngineConfig too_large = load(
      {{"MMAPURL_MAX_OBJECT_SIZE", "256T"}, {"MMAPURL_ALLOW_TLS_DOWNGRADE", "yes"}}, &warnings);
  EXPECT_EQ(too_large.max_object_bytes, 1ull << 40);
  EXPECT_FALSE(too_large.allow_tls_downgrade);
  EXPECT_NE(warnings.find("MMAPURL_MAX_OBJECT_SIZE"), std::string::npos) << warnings;
  EXPECT_NE(warnings.find("MMAPURL_ALLOW_TLS_DOWNGRADE"), std::string::npos) << warnings;
}

}  // namespace
}  // namespace mmapurl::control
