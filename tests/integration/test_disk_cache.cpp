// MMAPURL_CACHE_DIR and MMAPURL_CACHE_PREFETCH=whole against a real nginx: pages evicted from
// memory come back from the cache file without a request; the whole-object prefetch downloads
// everything into the file (not into memory), after which random reads need no request; a cache
// directory that cannot be used leaves the mapping working from the network. Each test runs in a
// fresh process: the engine reads its configuration once.

#include <dirent.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "embedded_server/embedded_server.hpp"
#include "integration/fault_test_support.hpp"
#include "integration/mapping_test_support.hpp"
#include "mmapurl.hpp"
#include "netshaper/shaping_proxy.hpp"

namespace {

namespace itest = mmapurl::itest;
using mmapurl::Advice;
using mmapurl::Mapping;
using mmapurl::Stats;
constexpr size_t kPage = 4096;
constexpr size_t kMiB = 1 << 20;

class DiskCache : public itest::SharedOriginTest {
 protected:
  // Runs the current test again in a child with a fresh cache directory as MMAPURL_CACHE_DIR
  // and these variables (which may set it otherwise); true in that child.
  bool in_child_with_cache(std::initializer_list<std::pair<const char*, std::string>> env) {
    if (itest::in_fresh_process()) return true;
    std::string error;
    auto dir = itest::TempDir::create("mmapurl-itest-cache", &error);
    EXPECT_NE(dir, nullptr) << error;
    if (!dir) return false;
    itest::set_env("MMAPURL_CACHE_DIR", dir->path());
    for (const auto& [name, value] : env) itest::set_env(name, value);
    EXPECT_TRUE(itest::run_current_test_in_fresh_process());
    itest::unset_env("MMAPURL_CACHE_DIR");
    for (const auto& [name, value] : env) itest::unset_env(name);
    return false;
  }
};

// Reads `reads` random bytes and the last one; how many were not the object's.
size_t wrong_random_bytes(const uint8_t* data, const std::string& content, int reads,
                          uint64_t seed) {
  std::mt19937_64 rng(seed);
  size_t wrong = data[content.size() - 1] != static_cast<uint8_t>(content.back()) ? 1 : 0;
  for (int i = 0; i < reads; ++i) {
    const size_t off = rng() % content.size();
    if (data[off] != static_cast<uint8_t>(content[off])) ++wrong;
  }
  return wrong;
}

// Waits until the mapping has fetched the whole object and nothing is in flight.
bool wait_for_prefetch(const Mapping& m, size_t size, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    Stats s = m.stats();
    if (s.bytes_fetched >= size && mmapurl::process_stats().in_flight_bytes == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TEST_F(DiskCache, EvictedPagesAreReadBackFromTheCacheFileWithoutARequest) {
  constexpr size_t kSize = 40 * kMiB + 777;
  const std::string content = itest::random_bytes(kSize, 81);
  ASSERT_TRUE(origin_->put("cached.bin", content));
  if (!in_child_with_cache({{"MMAPURL_MEMORY_LIMIT", "16M"}})) return;
  Mapping m(origin_->url(true, "cached.bin"));
  ASSERT_TRUE(m.ok()) << m.error_string();
  const auto* data = m.data();
  ASSERT_EQ(itest::first_mismatch(data, kSize, content), std::string::npos) << "first scan";
  const Stats first = m.stats();
  EXPECT_GT(first.evictions, 0u) << "the premise: a scan of more than the limit evicts";
  // Everything again, after eviction (the limit) and after DONTNEED: the file gives it back.
  ASSERT_EQ(itest::first_mismatch(data, kSize, content), std::string::npos) << "second scan";
  ASSERT_EQ(m.advise(0, kSize, Advice::kDontNeed), 0);
  EXPECT_EQ(m.stats().resident_bytes, 0u);
  ASSERT_EQ(wrong_random_bytes(data, content, 2000, 5), 0u);
  const Stats after = m.stats();
  EXPECT_EQ(after.requests, first.requests) << "no page was fetched twice";
  EXPECT_EQ(after.bytes_fetched, first.bytes_fetched);
  EXPECT_GT(after.faults, first.faults) << "the pages did fault again, and came from the file";
  EXPECT_GT(after.cache_filled_pages, first.cache_filled_pages) << "counted as filled from it";
  EXPECT_EQ(after.cached_bytes, (kSize + 4095) / 4096 * 4096) << "the file holds every page";
  EXPECT_LE(mmapurl::process_stats().resident_bytes, 16 * kMiB) << "the limit still holds";
}

TEST_F(DiskCache, WholeObjectPrefetchFillsTheFileNotMemoryThenRandomReadsNeedNoRequest) {
  constexpr size_t kSize = 48 * kMiB + 1234;
  const std::string content = itest::random_bytes(kSize, 82);
  ASSERT_TRUE(origin_->put("prefetched.bin", content));
  if (!in_child_with_cache({{"MMAPURL_CACHE_PREFETCH", "whole"}}))
    return;
  Mapping m(origin_->url(true, "prefetched.bin"));
  ASSERT_TRUE(m.ok()) << m.error_string();
  ASSERT_TRUE(wait_for_prefetch(m, kSize, std::chrono::seconds(60)))
      << "fetched " << m.stats().bytes_fetched << " of " << kSize << " bytes";
  const Stats done = m.stats();
  EXPECT_LT(done.bytes_fetched, kSize + kSize / 8) << "the object was downloaded about once";
  EXPECT_LE(done.resident_bytes, 1 * kMiB) << "the download went to the file, not the mapping";
  EXPECT_EQ(done.faults, 0u);
  EXPECT_EQ(done.cached_bytes, (kSize + 4095) / 4096 * 4096) << "the download is all in the file";
  EXPECT_EQ(mmapurl::process_stats().cached_bytes, done.cached_bytes) << "the only mapping's";
  EXPECT_EQ(done.cache_filled_pages, 0u);
  const auto* data = m.data();
  ASSERT_EQ(wrong_random_bytes(data, content, 3000, 6), 0u);
  const Stats after = m.stats();
  EXPECT_EQ(after.requests, done.requests) << "every page came from the cache file";
  EXPECT_GT(after.faults, 1000u);
  // Each random read is one page (or two, where it crosses a page) of the cache file.
  EXPECT_GE(after.cache_filled_pages, after.faults) << "every fault was filled from the file";
  ASSERT_EQ(itest::first_mismatch(data, kSize, content), std::string::npos) << "every byte";
}

// The files of a kept cache directory: "<stem>.cache" and, while no mapping holds it, ".held".
std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') names.emplace_back(e->d_name);
    }
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Maps `url` in a forked child, reads it whole, and leaves by exit (atexit handlers run) or by
// _exit (as a crash would); the child's exit status, or -1.
int read_whole_in_forked_child(const std::string& url, const std::string& content,
                               bool clean_exit) {
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    // Registered before the engine's handler, so it runs after it: exit's atexit work is done,
    // and this test process's own static objects (the shared nginx) are not torn down here.
    std::atexit([] { std::_Exit(0); });
    size_t size = 0;
    int err = 0;
    const void* p = mmap_s3(url.c_str(), &size, &err);
    if (p == MAP_FAILED) std::_Exit(20 + err);
    if (size != content.size()) std::_Exit(40);
    if (itest::first_mismatch(static_cast<const uint8_t*>(p), size, content) != std::string::npos)
      std::_Exit(42);
    if (clean_exit) std::exit(0);  // without munmap_s3: the engine saves at exit
    std::_Exit(0);
  }
  int status = 0;
  for (int i = 0; i < 4000; ++i) {  // 40 s
    if (::waitpid(pid, &status, WNOHANG) == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

// Maps `url`, reads it whole against `content`, unmaps: what leaves a kept cache behind.
::testing::AssertionResult maps_and_reads_right(const std::string& url,
                                                const std::string& content) {
  Mapping m(url);
  if (!m.ok()) return ::testing::AssertionFailure() << m.error_string();
  const size_t at = itest::first_mismatch(m.data(), content.size(), content);
  if (at != std::string::npos) return ::testing::AssertionFailure() << "wrong byte at " << at;
  return ::testing::AssertionSuccess();
}

// Maps `url` with a kept cache that must start empty: it holds only the probe's pages, every
// byte is `content`'s, and all of them came from the network.
void expect_mapping_from_the_network(const std::string& url, const std::string& content) {
  Mapping m(url);
  ASSERT_TRUE(m.ok()) << m.error_string();
  EXPECT_LE(m.stats().cached_bytes, 1 * kMiB) << "only the probe's pages";
  ASSERT_EQ(itest::first_mismatch(m.data(), content.size(), content), std::string::npos);
  EXPECT_GE(m.stats().bytes_fetched, content.size());
}

// MMAPURL_CACHE_KEEP=1: a second mapping of the same object reads it from the file the first one
// left: one request (the probe, which checks the object is still the one cached).
TEST_F(DiskCache, AKeptCacheServesTheNextMappingOfTheObjectWithoutRefetching) {
  constexpr size_t kSize = 12 * kMiB + 99;
  const std::string content = itest::random_bytes(kSize, 91);
  ASSERT_TRUE(origin_->put("kept.bin", content));
  if (!in_child_with_cache({{"MMAPURL_CACHE_KEEP", "1"}})) return;
  const std::string dir = std::getenv("MMAPURL_CACHE_DIR");
  {
    Mapping m(origin_->url(true, "kept.bin"));
    ASSERT_TRUE(m.ok()) << m.error_string();
    ASSERT_EQ(itest::first_mismatch(m.data(), kSize, content), std::string::npos);
    auto files = files_in(dir);
    ASSERT_EQ(files.size(), 1u) << "no record while a mapping holds the file";
    EXPECT_TRUE(ends_with(files[0], ".cache")) << files[0];
  }
  auto files = files_in(dir);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_TRUE(ends_with(files[0], ".cache") && ends_with(files[1], ".cache.held"))
      << files[0] << " " << files[1];
  Mapping again(origin_->url(true, "kept.bin"));
  ASSERT_TRUE(again.ok()) << again.error_string();
  EXPECT_EQ(again.stats().cached_bytes, (kSize + 4095) / 4096 * 4096) << "it starts full";
  ASSERT_EQ(itest::first_mismatch(again.data(), kSize, content), std::string::npos);
  ASSERT_EQ(wrong_random_bytes(again.data(), content, 1000, 7), 0u);
  const Stats s = again.stats();
  EXPECT_EQ(s.requests, 1u) << "the probe only";
  EXPECT_LE(s.bytes_fetched, 1 * kMiB);
  EXPECT_GT(s.cache_filled_pages, kSize / 4096 / 2);
}

// The object changed (same size, new ETag): the old file is dropped, never read.
TEST_F(DiskCache, AKeptCacheOfAnObjectThatChangedIsDropped) {
  constexpr size_t kSize = 6 * kMiB + 5;
  const std::string before = itest::random_bytes(kSize, 92);
  const std::string after = itest::random_bytes(kSize, 93);
  ASSERT_TRUE(origin_->put("changes.bin", before));
  if (!in_child_with_cache({{"MMAPURL_CACHE_KEEP", "1"}})) return;
  ASSERT_TRUE(maps_and_reads_right(origin_->url(true, "changes.bin"), before));
  // nginx's ETag is the file's mtime (seconds) and size: a new second gives a new ETag.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  ASSERT_TRUE(origin_->put("changes.bin", after));
  expect_mapping_from_the_network(origin_->url(true, "changes.bin"), after);
}

// A process that exits without munmap keeps its cache; one that dies leaves a file without a
// record, which the next mapping does not trust.
TEST_F(DiskCache, AKeptCacheSurvivesExitButNotACrash) {
  constexpr size_t kSize = 5 * kMiB + 3;
  const std::string content = itest::random_bytes(kSize, 94);
  ASSERT_TRUE(origin_->put("exits.bin", content));
  if (!in_child_with_cache({{"MMAPURL_CACHE_KEEP", "1"}})) return;
  const std::string url = origin_->url(true, "exits.bin");
  ASSERT_EQ(read_whole_in_forked_child(url, content, /*clean_exit=*/false), 0);
  const std::string dir = std::getenv("MMAPURL_CACHE_DIR");
  EXPECT_EQ(files_in(dir).size(), 1u) << "the crashed child wrote no record";
  ASSERT_EQ(read_whole_in_forked_child(url, content, /*clean_exit=*/true), 0);
  EXPECT_EQ(files_in(dir).size(), 2u) << "the child that exited wrote its record";
  Mapping m(url);
  ASSERT_TRUE(m.ok()) << m.error_string();
  ASSERT_EQ(itest::first_mismatch(m.data(), kSize, content), std::string::npos);
  EXPECT_EQ(m.stats().requests, 1u) << "every page came from the kept file";
}

// Two mappings of one object at once: the second gets an unnamed file; both read right bytes.
TEST_F(DiskCache, TwoMappingsOfAKeptObjectAtOnceBothReadRight) {
  constexpr size_t kSize = 3 * kMiB + 17;
  const std::string content = itest::random_bytes(kSize, 95);
  ASSERT_TRUE(origin_->put("twice.bin", content));
  if (!in_child_with_cache({{"MMAPURL_CACHE_KEEP", "1"}})) return;
  Mapping first(origin_->url(true, "twice.bin"));
  Mapping second(origin_->url(true, "twice.bin"));
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_EQ(itest::first_mismatch(second.data(), kSize, content), std::string::npos);
  ASSERT_EQ(itest::first_mismatch(first.data(), kSize, content), std::string::npos);
  EXPECT_EQ(files_in(std::getenv("MMAPURL_CACHE_DIR")).size(), 1u) << "one kept file, no record";
}

// A record that is not whole (cut short, as a full disk might leave it) is no record.
TEST_F(DiskCache, AKeptCacheWithADamagedRecordStartsEmpty) {
  constexpr size_t kSize = 4 * kMiB + 1;
  const std::string content = itest::random_bytes(kSize, 96);
  ASSERT_TRUE(origin_->put("damaged.bin", content));
  if (!in_child_with_cache({{"MMAPURL_CACHE_KEEP", "1"}})) return;
  const std::string dir = std::getenv("MMAPURL_CACHE_DIR");
  ASSERT_TRUE(maps_and_reads_right(origin_->url(true, "damaged.bin"), content));
  auto files = files_in(dir);
  ASSERT_EQ(files.size(), 2u);
  const std::string record = dir + "/" + files[1];
  ASSERT_EQ(::truncate(record.c_str(), 40), 0);
  expect_mapping_from_the_network(origin_->url(true, "damaged.bin"), content);
}

// The bytes' file deleted, or cut short, by hand with its record left beside it: the next mapping
// starts empty (it read zeros where the record named pages) and every byte is right.
TEST_F(DiskCache, AKeptCacheWhoseFileWasDeletedOrCutShortStartsEmpty) {
  constexpr size_t kSize = 4 * kMiB + 9;
  const std::string content = itest::random_bytes(kSize, 97);
  ASSERT_TRUE(origin_->put("by-hand.bin", content));
  if (!in_child_with_cache({{"MMAPURL_CACHE_KEEP", "1"}})) return;
  const std::string dir = std::getenv("MMAPURL_CACHE_DIR");
  const std::string url = origin_->url(true, "by-hand.bin");
  ASSERT_TRUE(maps_and_reads_right(url, content));
  auto files = files_in(dir);
  ASSERT_EQ(files.size(), 2u);
  ASSERT_EQ(::unlink((dir + "/" + files[0]).c_str()), 0);
  expect_mapping_from_the_network(url, content);
  ASSERT_EQ(files_in(dir), files) << "kept again, with a record";
  ASSERT_EQ(::truncate((dir + "/" + files[0]).c_str(), 0), 0);
  expect_mapping_from_the_network(url, content);
}

// Whether a mapping of `url` starts with all `size` bytes in its kept cache (then reads them
// right); false for one that starts empty.
::testing::AssertionResult starts_full(const std::string& url, const std::string& content) {
  Mapping m(url);
  if (!m.ok()) return ::testing::AssertionFailure() << m.error_string();
  const uint64_t held = m.stats().cached_bytes;
  if (itest::first_mismatch(m.data(), content.size(), content) != std::string::npos)
    return ::testing::AssertionFailure() << "a wrong byte";
  if (held != (content.size() + kPage - 1) / kPage * kPage)
    return ::testing::AssertionFailure() << "it started with " << held << " bytes";
  return ::testing::AssertionSuccess();
}

// MMAPURL_CACHE_KEEP_LIMIT=20M with objects of 8 MiB: a third kept file deletes the least
// recently used one, and mapping an object again counts as using it.
TEST_F(DiskCache, KeptCachesBeyondTheLimitGoLeastRecentlyUsedFirst) {
  constexpr size_t kSize = 8 * kMiB;
  std::vector<std::string> contents;
  for (const char* name : {"lru-a", "lru-b", "lru-c", "lru-d"}) {
    contents.push_back(itest::random_bytes(kSize, 100 + contents.size()));
    ASSERT_TRUE(origin_->put(name, contents.back()));
  }
  if (!in_child_with_cache({{"MMAPURL_CACHE_KEEP", "1"}, {"MMAPURL_CACHE_KEEP_LIMIT", "20M"}}))
    return;
  const std::string dir = std::getenv("MMAPURL_CACHE_DIR");
  auto url = [&](char which) { return origin_->url(true, std::string("lru-") + which); };
  ASSERT_TRUE(maps_and_reads_right(url('a'), contents[0]));
  ASSERT_TRUE(maps_and_reads_right(url('b'), contents[1]));
  EXPECT_EQ(files_in(dir).size(), 4u) << "16 MiB kept, within the limit";
  ASSERT_TRUE(maps_and_reads_right(url('c'), contents[2]));
  EXPECT_EQ(files_in(dir).size(), 4u) << "a third file deleted the oldest, a's";
  EXPECT_TRUE(starts_full(url('b'), contents[1]));  // b is now used after c
  ASSERT_TRUE(maps_and_reads_right(url('d'), contents[3]));
  EXPECT_EQ(files_in(dir).size(), 4u);
  EXPECT_TRUE(starts_full(url('b'), contents[1])) << "b was used after c";
  EXPECT_TRUE(starts_full(url('d'), contents[3]));
  expect_mapping_from_the_network(url('c'), contents[2]);
}

// A cache larger than the limit on its own is not kept at all.
TEST_F(DiskCache, AKeptCacheLargerThanTheLimitIsNotKept) {
  constexpr size_t kSize = 6 * kMiB;
  const std::string content = itest::random_bytes(kSize, 98);
  ASSERT_TRUE(origin_->put("too-large.bin", content));
  if (!in_child_with_cache({{"MMAPURL_CACHE_KEEP", "1"}, {"MMAPURL_CACHE_KEEP_LIMIT", "4M"}}))
    return;
  ASSERT_TRUE(maps_and_reads_right(origin_->url(true, "too-large.bin"), content));
  EXPECT_TRUE(files_in(std::getenv("MMAPURL_CACHE_DIR")).empty());
}

// Without a limit, kept files still leave 5% of their filesystem free: on a 100 MiB tmpfs, a
// third object of 32 MiB leaves 4 MiB free, and the oldest kept file goes.
TEST_F(DiskCache, KeptCachesLeaveFivePercentOfTheirFilesystemFree) {
  constexpr size_t kSize = 32 * kMiB;
  std::vector<std::string> contents;
  for (const char* name : {"floor-a", "floor-b", "floor-c"}) {
    contents.push_back(itest::random_bytes(kSize, 110 + contents.size()));
    ASSERT_TRUE(origin_->put(name, contents.back()));
  }
  std::unique_ptr<itest::TempDir> small;
  if (!itest::in_fresh_process()) {
    if (::geteuid() != 0) GTEST_SKIP() << "mounting a small tmpfs needs root";
    std::string error;
    small = itest::TempDir::create("mmapurl-itest-kept-floor", &error);
    ASSERT_TRUE(small) << error;
    // Mode 0700: a tmpfs is 1777 by default, and the cache would use a per-user subdirectory.
    ASSERT_EQ(::mount("tmpfs", small->path().c_str(), "tmpfs", 0, "size=100m,mode=0700"), 0)
        << std::strerror(errno);
  }
  const bool child = in_child_with_cache(
      {{"MMAPURL_CACHE_DIR", small ? small->path() : ""}, {"MMAPURL_CACHE_KEEP", "1"}});
  if (!child) {
    ::umount2(small->path().c_str(), MNT_DETACH);
    return;
  }
  const std::string dir = std::getenv("MMAPURL_CACHE_DIR");
  auto url = [&](char which) { return origin_->url(true, std::string("floor-") + which); };
  ASSERT_TRUE(maps_and_reads_right(url('a'), contents[0]));
  ASSERT_TRUE(maps_and_reads_right(url('b'), contents[1]));
  EXPECT_EQ(files_in(dir).size(), 4u) << "36 MiB free of 100";
  ASSERT_TRUE(maps_and_reads_right(url('c'), contents[2]));
  EXPECT_EQ(files_in(dir).size(), 4u) << "4 MiB free: a's file went";
  EXPECT_TRUE(starts_full(url('c'), contents[2]));
}

// At a memory limit the reader has filled, the download goes on (it evicts the oldest fills for
// its staging, as readahead does) instead of stopping for good.
TEST_F(DiskCache, WholeObjectPrefetchFinishesWhenTheReaderFilledTheMemoryLimit) {
  constexpr size_t kSize = 48 * kMiB + 4096 * 3 + 5;
  const std::string content = itest::random_bytes(kSize, 87);
  ASSERT_TRUE(origin_->put("limited.bin", content));
  if (!in_child_with_cache({{"MMAPURL_CACHE_PREFETCH", "whole"}, {"MMAPURL_MEMORY_LIMIT", "16M"}}))
    return;
  Mapping m(origin_->url(true, "limited.bin"));
  ASSERT_TRUE(m.ok()) << m.error_string();
  constexpr size_t kRead = 15 * kMiB;
  ASSERT_EQ(std::memcmp(m.data(), content.data(), kRead), 0);
  ASSERT_TRUE(wait_for_prefetch(m, kSize, std::chrono::seconds(60)))
      << "fetched " << m.stats().bytes_fetched << " of " << kSize << " bytes";
  const uint64_t requests = m.stats().requests;
  ASSERT_EQ(wrong_random_bytes(m.data(), content, 2000, 7), 0u);
  EXPECT_EQ(m.stats().requests, requests) << "every page came from the cache file";
  EXPECT_LE(mmapurl::process_stats().resident_bytes, 16 * kMiB);
}

// A mapping unmapped while its background download runs: its requests are dropped or discarded
// and a new mapping of the same object works.
TEST_F(DiskCache, UnmapDuringTheWholeObjectPrefetch) {
  constexpr size_t kSize = 64 * kMiB;
  const std::string content = itest::random_bytes(kSize, 83);
  ASSERT_TRUE(origin_->put("unmapped.bin", content));
  if (!in_child_with_cache({{"MMAPURL_CACHE_PREFETCH", "whole"}}))
    return;
  for (int round = 0; round < 3; ++round) {
    Mapping m(origin_->url(true, "unmapped.bin"));
    ASSERT_TRUE(m.ok()) << m.error_string();
    EXPECT_EQ(m.data()[kSize / 2 + round], static_cast<uint8_t>(content[kSize / 2 + round]));
  }
  Mapping m(origin_->url(true, "unmapped.bin"));
  ASSERT_TRUE(m.ok()) << m.error_string();
  ASSERT_EQ(itest::first_mismatch(m.data(), kSize, content), std::string::npos);
}

TEST_F(DiskCache, AnUnusableCacheDirectoryLeavesTheMappingWorking) {
  constexpr size_t kSize = 3 * kMiB + 5;
  const std::string content = itest::random_bytes(kSize, 84);
  ASSERT_TRUE(origin_->put("uncached.bin", content));
  if (!in_child_with_cache({{"MMAPURL_CACHE_DIR", "/nonexistent/mmapurl-cache"},
                      {"MMAPURL_CACHE_PREFETCH", "whole"}}))
    return;
  Mapping m(origin_->url(true, "uncached.bin"));
  ASSERT_TRUE(m.ok()) << m.error_string();
  ASSERT_EQ(itest::first_mismatch(m.data(), kSize, content), std::string::npos);
  ASSERT_EQ(m.advise(0, kSize, Advice::kDontNeed), 0);
  const uint64_t requests = m.stats().requests;
  EXPECT_EQ(m.data()[kSize / 3], static_cast<uint8_t>(content[kSize / 3]));
  EXPECT_GT(m.stats().requests, requests) << "without a cache an evicted page is fetched again";
  EXPECT_EQ(m.stats().cached_bytes, 0u);
  EXPECT_EQ(m.stats().cache_filled_pages, 0u);
}

// A disk that fills during the download (a 2 MiB tmpfs for a 24 MiB object): the cache turns
// itself off, says so in the log, and every byte still comes right, from the network.
TEST_F(DiskCache, AFullDiskTurnsTheCacheOffAndTheMappingGoesOnFromTheNetwork) {
  constexpr size_t kSize = 24 * kMiB + 77;
  const std::string content = itest::random_bytes(kSize, 88);
  ASSERT_TRUE(origin_->put("full-disk.bin", content));
  std::unique_ptr<itest::TempDir> small, logs;
  if (!itest::in_fresh_process()) {
    if (::geteuid() != 0) GTEST_SKIP() << "mounting a small tmpfs needs root";
    std::string error;
    small = itest::TempDir::create("mmapurl-itest-full-disk", &error);
    logs = itest::TempDir::create("mmapurl-itest-full-disk-log", &error);
    ASSERT_TRUE(small && logs) << error;
    ASSERT_EQ(::mount("tmpfs", small->path().c_str(), "tmpfs", 0, "size=2m"), 0)
        << std::strerror(errno);
  }
  const std::string log = logs ? logs->path() + "/engine.log" : "";
  const bool child = in_child_with_cache({{"MMAPURL_CACHE_DIR", small ? small->path() : ""},
                                          {"MMAPURL_CACHE_PREFETCH", "whole"},
                                          {"MMAPURL_MEMORY_LIMIT", "8M"},
                                          {"MMAPURL_LOG", "error"},
                                          {"MMAPURL_LOG_FILE", log}});
  if (!child) {
    ::umount2(small->path().c_str(), MNT_DETACH);
    std::ifstream in(log);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("disk cache off"), std::string::npos) << "the log: " << text;
    return;
  }
  Mapping m(origin_->url(true, "full-disk.bin"));
  ASSERT_TRUE(m.ok()) << m.error_string();
  ASSERT_EQ(itest::first_mismatch(m.data(), kSize, content), std::string::npos) << "a scan";
  ASSERT_EQ(m.advise(0, kSize, Advice::kDontNeed), 0);
  const uint64_t requests = m.stats().requests;
  ASSERT_EQ(wrong_random_bytes(m.data(), content, 2000, 8), 0u);
  EXPECT_GT(m.stats().requests, requests) << "what the cache could not keep came from the network";
  EXPECT_LE(m.stats().cached_bytes, 2 * kMiB) << "no more than the disk held";
  ASSERT_EQ(itest::first_mismatch(m.data(), kSize, content), std::string::npos) << "again";
}

TEST_F(DiskCache, AScanWithTheWholeObjectPrefetchDownloadsTheObjectOnce) {
  constexpr size_t kSize = 64 * kMiB + 99;
  const std::string content = itest::random_bytes(kSize, 85);
  ASSERT_TRUE(origin_->put("scanned.bin", content));
  if (!in_child_with_cache({{"MMAPURL_CACHE_PREFETCH", "whole"}}))
    return;
  Mapping m(origin_->url(true, "scanned.bin"));
  ASSERT_TRUE(m.ok()) << m.error_string();
  ASSERT_EQ(itest::first_mismatch(m.data(), kSize, content), std::string::npos);
  ASSERT_TRUE(wait_for_prefetch(m, kSize, std::chrono::seconds(60)));
  // The scan's readahead takes the bytes of the background GETs it runs into.
  EXPECT_LT(m.stats().bytes_fetched, kSize + kSize / 10)
      << "the scan and the background download fetched the same parts";
}

// Over a far origin (the shaping proxy in front of nginx), threads reading at random and a scan
// meet the background download at every stage: faults that adopt its GETs, faults that fetch
// for themselves beside them, pages filled from the file. Every byte is right and the engine's
// count of resident bytes is the kernel's.
TEST_F(DiskCache, RandomReadersAndAScanDuringTheDownloadOverAFarOrigin) {
  constexpr size_t kSize = 32 * kMiB + 4321;
  const std::string content = itest::random_bytes(kSize, 86);
  ASSERT_TRUE(origin_->put("far.bin", content));
  if (!in_child_with_cache({{"MMAPURL_CACHE_PREFETCH", "whole"},
                      {"MMAPURL_PART_SIZE", "2M"}}))
    return;
  mmapurl::netshaper::ShaperOptions o;
  o.target_port = origin_->nginx().https_port();
  o.delay_ms_up = o.delay_ms_down = 2.5;
  o.conn_mbps = 20;
  mmapurl::netshaper::ShapingProxy proxy(o);
  std::string error;
  ASSERT_TRUE(proxy.start(&error)) << error;
  Mapping m("https://127.0.0.1:" + std::to_string(proxy.port()) + "/far.bin");
  ASSERT_TRUE(m.ok()) << m.error_string();
  const auto* data = m.data();
  std::atomic<size_t> wrong{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937_64 rng(100 + t);
      for (int i = 0; i < 400; ++i) {
        const size_t off = rng() % kSize;
        if (data[off] != static_cast<uint8_t>(content[off])) ++wrong;
      }
    });
  }
  readers.emplace_back([&] {
    if (itest::first_mismatch(data, kSize, content) != std::string::npos) ++wrong;
  });
  for (auto& r : readers) r.join();
  EXPECT_EQ(wrong.load(), 0u) << "reads that saw wrong bytes";
  ASSERT_TRUE(wait_for_prefetch(m, kSize, std::chrono::seconds(60)));
  const Stats s = m.stats();
  EXPECT_EQ(s.failed_pages, 0u);
  EXPECT_LT(s.bytes_fetched, kSize + kSize / 4) << "the download and the readers overlap little";
  auto kernel = itest::settled_kernel_resident_bytes(data);
  ASSERT_TRUE(kernel.has_value());
  EXPECT_EQ(*kernel, m.stats().resident_bytes) << "the engine counts what the kernel holds";
  EXPECT_EQ(*kernel, kSize + (kPage - kSize % kPage)) << "the scan left every page resident";
}

// The embedded server with faults injected while the background download runs.
class DiskCacheFaults : public ::testing::Test {
 protected:
  static constexpr uint64_t kSize = 24 * kMiB + 1000;
  static constexpr uint64_t kSeed = 0xcace;
  mmapurl::testserver::ServerOptions server_options() {
    mmapurl::testserver::ServerOptions o;
    o.tls = false;
    o.objects.push_back(mmapurl::testserver::ObjectSpec{"/obj", kSize, kSeed, "\"v1\"", ""});
    return o;
  }
  std::unique_ptr<itest::TempDir> dir_;
  // Runs the current test again in a child with the variables below and `env`; true there.
  bool in_child(std::initializer_list<std::pair<const char*, std::string>> env = {}) {
    if (itest::in_fresh_process()) return true;
    std::string error;
    dir_ = itest::TempDir::create("mmapurl-itest-cache", &error);
    EXPECT_NE(dir_, nullptr) << error;
    if (!dir_) return false;
    itest::set_env("MMAPURL_CACHE_DIR", dir_->path());
    itest::set_env("MMAPURL_CACHE_PREFETCH", "whole");
    itest::set_env("MMAPURL_RETRY_TIMEOUT", "3");
    itest::set_env("MMAPURL_IO_TIMEOUT", "1.5");
    itest::set_env("MMAPURL_PART_SIZE", "1M");
    for (const auto& [name, value] : env) itest::set_env(name, value);
    EXPECT_TRUE(itest::run_current_test_in_fresh_process());
    for (const auto& [name, value] : env) itest::unset_env(name);
    for (const char* name : {"MMAPURL_CACHE_DIR", "MMAPURL_CACHE_PREFETCH", "MMAPURL_RETRY_TIMEOUT",
                             "MMAPURL_IO_TIMEOUT", "MMAPURL_PART_SIZE"}) {
      itest::unset_env(name);
    }
    return false;
  }
};

TEST_F(DiskCacheFaults, BackgroundGetsResetMidBodyAreRetriedAndEveryByteIsRight) {
  if (!in_child()) return;
  mmapurl::testserver::EmbeddedServer server(server_options());
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  Mapping m(server.url("/obj"));
  ASSERT_TRUE(m.ok()) << m.error_string();
  server.set_fault(mmapurl::testserver::Fault::kReset, 4, "/obj");  // after the probe
  ASSERT_TRUE(wait_for_prefetch(m, kSize, std::chrono::seconds(60)));
  EXPECT_GE(m.stats().retries, 1u) << "the resets hit the background download";
  const uint64_t requests = m.stats().requests;
  auto scan =
      mmapurl::faulttest::scan_pages(m.data(), m.size(), kSeed, 0, (kSize + kPage - 1) / kPage);
  EXPECT_TRUE(scan.all_right()) << scan.sigbus_pages.size() << " SIGBUS, "
                                << scan.wrong_pages.size() << " wrong pages";
  EXPECT_EQ(m.stats().requests, requests) << "every page came from the cache file";
}

// The server starts answering with another total size (the object changed) right after mapping:
// nothing wrong is ever read; pages not yet in the cache fail, as they would without one.
TEST_F(DiskCacheFaults, AnObjectThatChangesDuringTheDownloadNeverReadsWrong) {
  if (!in_child()) return;
  mmapurl::testserver::EmbeddedServer server(server_options());
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  Mapping m(server.url("/obj"));
  ASSERT_TRUE(m.ok()) << m.error_string();
  server.set_fault(mmapurl::testserver::Fault::kWrongTotal, -1, "/obj");
  auto scan =
      mmapurl::faulttest::scan_pages(m.data(), m.size(), kSeed, 0, (kSize + kPage - 1) / kPage);
  EXPECT_TRUE(scan.wrong_pages.empty()) << scan.wrong_pages.size() << " wrong pages";
  EXPECT_FALSE(scan.sigbus_pages.empty()) << "pages past the download must fail";
  EXPECT_FALSE(scan.right_pages.empty()) << "the probe's pages at least are right";
}

// While the download holds its share of the connections (6 - 3 of MMAPURL_CONNECTIONS=6), the
// other three stay connected and idle: faults find one ready instead of paying the handshakes
// first (three round trips far away), and the pool never opens more than the limit.
TEST_F(DiskCacheFaults, TheDownloadLeavesReadyConnectionsForFaults) {
  if (!in_child({{"MMAPURL_CONNECTIONS", "6"}})) return;
  auto options = server_options();
  options.latency_ms = 5;
  options.conn_mbps = 2;  // 3 connections at 2 MB/s: the 24 MiB download lasts about 4 s
  mmapurl::testserver::EmbeddedServer server(options);
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  Mapping m(server.url("/obj"));
  ASSERT_TRUE(m.ok()) << m.error_string();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (server.counters().connections_accepted < 6 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(server.counters().connections_accepted, 6u)
      << "the probe's connection, three for the download, two more opened ready";
  const size_t pages = (kSize + kPage - 1) / kPage;
  std::vector<mmapurl::faulttest::PageScan> scans(3);
  std::vector<std::thread> readers;
  for (size_t t = 0; t < scans.size(); ++t) {  // pages near the end, far from the download
    readers.emplace_back([&, t] {
      scans[t] = mmapurl::faulttest::scan_pages(m.data(), m.size(), kSeed, pages - 1 - 300 * t, 1);
    });
  }
  for (auto& r : readers) r.join();
  for (const auto& scan : scans) EXPECT_TRUE(scan.all_right());
  EXPECT_EQ(server.counters().connections_accepted, 6u) << "the faults found connections ready";
  ASSERT_TRUE(wait_for_prefetch(m, kSize, std::chrono::seconds(60)));
  auto scan = mmapurl::faulttest::scan_pages(m.data(), m.size(), kSeed, 0, pages);
  EXPECT_TRUE(scan.all_right()) << scan.sigbus_pages.size() << " SIGBUS, "
                                << scan.wrong_pages.size() << " wrong pages";
  EXPECT_EQ(server.counters().connections_accepted, 6u) << "never more than MMAPURL_CONNECTIONS";
}

}  // namespace
