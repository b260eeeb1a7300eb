// MMAPURL_MEMORY_LIMIT and the madvise-like hints against a real nginx: a scan of an object
// several times the limit keeps the mapping's resident pages within it and reads every byte
// right, also after eviction and re-fault; a memory cgroup that grants less than the limit lowers
// it; WILLNEED fetches without faults, DONTNEED drops.
#include <sys/mman.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "integration/mapping_test_support.hpp"
#include "integration/memory_cgroup.hpp"
#include "mmapurl.h"
#include "mmapurl.hpp"
#include "mmapurl_ext.h"

namespace {

namespace itest = mmapurl::itest;
using mmapurl::Advice;
using mmapurl::Mapping;
using mmapurl::Stats;
constexpr size_t kPage = 4096;
constexpr size_t kMiB = 1 << 20;

class MemoryLimit : public itest::SharedOriginTest {
 protected:
};

TEST_F(MemoryLimit, ScanFourTimesTheLimitStaysWithinItAndRereadsRightBytesAfterEviction) {
  constexpr uint64_t kLimit = 16 * kMiB;
  constexpr size_t kSize = 64 * kMiB;
  const std::string content = itest::random_bytes(kSize, 71);
  ASSERT_TRUE(origin_->put("limit.bin", content));
  if (!itest::in_fresh_process()) {
    itest::set_env("MMAPURL_MEMORY_LIMIT", "16M");
    ASSERT_TRUE(itest::run_current_test_in_fresh_process());
    itest::unset_env("MMAPURL_MEMORY_LIMIT");
    return;
  }
  Mapping m(origin_->url(true, "limit.bin"));
  ASSERT_TRUE(m.ok()) << m.error_string();
  ASSERT_EQ(m.size(), kSize);
  const auto* data = static_cast<const uint8_t*>(m.data());
  uint64_t peak_kernel = 0, peak_counted = 0, kernel_samples = 0;
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t off = 0; off < kSize; off += kMiB) {
      ASSERT_EQ(std::memcmp(data + off, content.data() + off, kMiB), 0)
          << "pass " << pass << ", MiB at " << off;
      if (auto settled = itest::settled_kernel_resident_bytes(data)) {
        peak_kernel = std::max(peak_kernel, *settled);
        ++kernel_samples;
      }
      Stats s = mmapurl::process_stats();
      peak_counted = std::max(peak_counted, s.resident_bytes + s.in_flight_bytes);
    }
  }
  Stats s = m.stats();
  EXPECT_GT(s.evictions, 0u) << "a scan of four times the limit must evict";
  EXPECT_GE(s.bytes_fetched, 2 * kSize) << "the second pass re-fetches what was evicted";
  // Readahead windows fit the limit, so the scan stays one of large GETs: windows as large as
  // the limit evicted pages before the reader got to them, and it went on 8 KiB at a time.
  EXPECT_GE(s.bytes_fetched / std::max<uint64_t>(s.requests, 1), 256u * 1024)
      << s.requests << " requests for " << s.bytes_fetched << " bytes";
  EXPECT_GE(kernel_samples, 16u) << "the engine rarely sat still for the kernel's count";
  EXPECT_LE(peak_kernel, kLimit) << "pages of the mapping the kernel counts as resident";
  // A thread waiting on a page always gets its small block fetched, even at the limit.
  constexpr uint64_t kDemandAllowance = 64 * 1024;
  EXPECT_LE(peak_counted, kLimit + kDemandAllowance)
      << "resident + in-flight bytes the engine counts";
  // Staging buffers are pooled even at the limit, though this pool holds only a few MiB of
  // rings: trimming the pool first made three requests in five map a buffer.
  Stats total = mmapurl::process_stats();
  EXPECT_LT(total.staging_buffers_mapped, total.requests / 2)
      << total.requests << " requests, " << total.staging_buffers_mapped
      << " staging buffers mapped";
}

// Parts of several MiB stream through staging rings of 128 KiB: a scan's staging memory is a
// few MiB however large its GETs, and every byte lands right, across the ring's wrap and in the
// object's partial last page.
TEST_F(MemoryLimit, ScanStreamsLargePartsThroughSmallStagingRings) {
  constexpr size_t kSize = 48 * kMiB + 777;
  constexpr uint64_t kRing = 128 * 1024;
  const std::string content = itest::random_bytes(kSize, 73);
  ASSERT_TRUE(origin_->put("rings.bin", content));
  Mapping m(origin_->url(true, "rings.bin"));
  ASSERT_TRUE(m.ok()) << m.error_string();
  const auto* data = static_cast<const uint8_t*>(m.data());
  uint64_t peak_in_flight = 0;
  for (size_t off = 0; off < kSize; off += kMiB) {
    const size_t n = std::min(kMiB, kSize - off);
    ASSERT_EQ(std::memcmp(data + off, content.data() + off, n), 0) << "MiB at " << off;
    peak_in_flight = std::max(peak_in_flight, m.stats().in_flight_bytes);
  }
  Stats s = m.stats();
  ASSERT_GT(s.bytes_fetched / std::max<uint64_t>(s.requests, 1), kRing)
      << "the premise: parts larger than a ring (" << s.requests << " requests)";
  EXPECT_GT(peak_in_flight, 0u);
  EXPECT_LE(peak_in_flight, s.max_requests_in_flight * kRing)
      << "staging of at most one ring per request in flight";
}

constexpr const char* kGroupVariable = "MMAPURL_ITEST_MEMORY_CGROUP";

// Runs the current test again in a fresh process, told the directory of `group` to join.
::testing::AssertionResult run_fresh_for(const itest::MemoryCgroup& group) {
  itest::set_env(kGroupVariable, group.dir());
  auto passed = itest::run_current_test_in_fresh_process(std::chrono::seconds(90));
  itest::unset_env(kGroupVariable);
  return passed;
}

// In that fresh process: the group its parent made; null when not told of one.
std::unique_ptr<itest::MemoryCgroup> parents_group() {
  const char* dir = std::getenv(kGroupVariable);
  return dir ? itest::MemoryCgroup::open(dir) : nullptr;
}

// In that fresh process: moves it into the group its parent made.
::testing::AssertionResult join_parents_group() {
  auto group = parents_group();
  if (!group) return ::testing::AssertionFailure() << kGroupVariable << " is not set";
  if (!group->join()) return ::testing::AssertionFailure() << "cannot join " << group->dir();
  return ::testing::AssertionSuccess();
}

// The parent's side of a test at a group's limit: a group of `limit` bytes with its OOM killer
// off, so the kernel refuses pages past it (ENOMEM); null with `why` where there is none.
std::unique_ptr<itest::MemoryCgroup> group_refusing_past(uint64_t limit, std::string* why) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // A sanitizer's runtime faults in shadow and quarantine memory from every thread, the
  // engine's too; at the group's limit such a fault waits for memory only the engine frees.
  (void)limit;
  *why = "runs in the plain build only: sanitizer runtimes allocate on every thread";
  return nullptr;
#else
  return itest::MemoryCgroup::create(limit, itest::MemoryCgroup::OomKiller::kOff, why);
#endif
}

// In the fresh process: reads the first pages outside the group and drops them, then joins it.
// Connections and staging buffers are so made outside the group, as a long-running service's
// would be: the group's memory is for the pages.
::testing::AssertionResult warm_up_then_join(Mapping& m, const std::string& content) {
  if (!m.ok()) return ::testing::AssertionFailure() << m.error_string();
  if (std::memcmp(m.data(), content.data(), 4 * kMiB) != 0) {
    return ::testing::AssertionFailure() << "wrong bytes in the first 4 MiB";
  }
  if (m.advise(0, content.size(), Advice::kDontNeed) != 0) {
    return ::testing::AssertionFailure() << "DONTNEED failed";
  }
  return join_parents_group();
}

// Reads the whole mapping a MiB at a time, checking every byte.
::testing::AssertionResult scan_checks_every_byte(const Mapping& m, const std::string& content,
                                                  int pass) {
  const auto* data = static_cast<const uint8_t*>(m.data());
  for (size_t off = 0; off < content.size(); off += kMiB) {
    if (std::memcmp(data + off, content.data() + off, kMiB) != 0) {
      return ::testing::AssertionFailure() << "pass " << pass << ", MiB at " << off;
    }
  }
  return ::testing::AssertionSuccess();
}

// A container granting less memory than MMAPURL_MEMORY_LIMIT (1 GiB by default): a memory cgroup
// of 24 MiB with its OOM killer off, so the kernel refuses UFFDIO_COPY's pages with ENOMEM. The
// engine lowers its limit under what the kernel grants and evicts, and the scans read every byte
// right. Before, the refused pages were counted filled: the reader faulted, was woken, and
// faulted again, for ever (the fresh process timed out).
TEST_F(MemoryLimit, ACgroupGrantingLessThanTheLimitLowersItAndScansRight) {
  constexpr uint64_t kCgroupLimit = 24 * kMiB;
  constexpr size_t kSize = 64 * kMiB;
  const std::string content = itest::random_bytes(kSize, 74);
  ASSERT_TRUE(origin_->put("cgroup.bin", content));
  if (!itest::in_fresh_process()) {
    std::string why;
    auto group = group_refusing_past(kCgroupLimit, &why);
    if (!group) GTEST_SKIP() << why;
    const auto passed = run_fresh_for(*group);
    EXPECT_GT(group->failcnt().value_or(0), 0u)
        << "the premise: the kernel refused pages past the group's limit";
    EXPECT_LE(group->max_usage().value_or(UINT64_MAX), kCgroupLimit);
    ASSERT_TRUE(passed);
    return;
  }
  Mapping m(origin_->url(true, "cgroup.bin"));
  ASSERT_TRUE(warm_up_then_join(m, content));
  ASSERT_TRUE(scan_checks_every_byte(m, content, 0));
  ASSERT_TRUE(scan_checks_every_byte(m, content, 1));
  Stats s = m.stats();
  EXPECT_GT(s.evictions, 0u);
  EXPECT_EQ(s.failed_pages, 0u) << "pages were only ever refused while others could be evicted";
  EXPECT_LE(s.resident_bytes, kCgroupLimit);
}

// A group that grants more again (resized, or memory the program freed) gets the engine's limit
// back: the 24 MiB group with its OOM killer off lowers it during a first scan, then grows to
// 512 MiB, and a second later the scans keep the whole 64 MiB object. Before, a limit lowered once
// stayed so for the life of the process: every later scan evicted and fetched the object again.
TEST_F(MemoryLimit, ALimitTheKernelLoweredRisesAgainWhenTheGroupGrantsMore) {
  constexpr uint64_t kCgroupLimit = 24 * kMiB;
  constexpr size_t kSize = 64 * kMiB;
  const std::string content = itest::random_bytes(kSize, 76);
  ASSERT_TRUE(origin_->put("cgroup-grows.bin", content));
  if (!itest::in_fresh_process()) {
    std::string why;
    auto group = group_refusing_past(kCgroupLimit, &why);
    if (!group) GTEST_SKIP() << why;
    ASSERT_TRUE(run_fresh_for(*group));
    EXPECT_GT(group->failcnt().value_or(0), 0u) << "the premise: the kernel refused pages";
    return;
  }
  Mapping m(origin_->url(true, "cgroup-grows.bin"));
  ASSERT_TRUE(warm_up_then_join(m, content));
  ASSERT_TRUE(scan_checks_every_byte(m, content, 0));
  ASSERT_LE(m.stats().resident_bytes, kCgroupLimit) << "the premise: the limit was lowered";
  auto group = parents_group();
  ASSERT_TRUE(group && group->set_limit(512 * kMiB));
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // the governor's interval: 1 s
  ASSERT_TRUE(scan_checks_every_byte(m, content, 1));
  const Stats after_growth = m.stats();
  EXPECT_EQ(after_growth.resident_bytes, kSize)
      << "the whole object stays once the group grants it";
  ASSERT_TRUE(scan_checks_every_byte(m, content, 2));
  const Stats s = m.stats();
  EXPECT_EQ(s.evictions, after_growth.evictions) << "nothing evicted with the limit back";
  EXPECT_EQ(s.faults, after_growth.faults) << "every page of the third scan was resident";
  EXPECT_EQ(s.failed_pages, 0u);
}

// A program started inside a container of 64 MiB (a memory cgroup with its OOM killer on) and no
// MMAPURL_MEMORY_LIMIT: the engine takes half of what the group grants as its limit, so scanning
// an object larger than the group never reaches the group's limit. Before, the default 1 GiB
// filled pages until the OOM killer ended the process.
TEST_F(MemoryLimit, InsideACgroupTheDefaultLimitStaysUnderWhatItGrants) {
  constexpr uint64_t kCgroupLimit = 64 * kMiB;
  constexpr size_t kSize = 96 * kMiB;
  const std::string content = itest::random_bytes(kSize, 75);
  ASSERT_TRUE(origin_->put("cgroup-default.bin", content));
  if (!itest::in_fresh_process()) {
    std::string why;
    auto group =
        itest::MemoryCgroup::create(kCgroupLimit, itest::MemoryCgroup::OomKiller::kOn, &why);
    if (!group) GTEST_SKIP() << why;
    ASSERT_TRUE(run_fresh_for(*group));
    EXPECT_EQ(group->failcnt().value_or(1), 0u) << "the group's limit was never reached";
    return;
  }
  ASSERT_EQ(std::getenv("MMAPURL_MEMORY_LIMIT"), nullptr) << "the premise: no limit is set";
  // Joined before the first mapping starts the engine, as a program in a container is.
  ASSERT_TRUE(join_parents_group());
  Mapping m(origin_->url(true, "cgroup-default.bin"));
  ASSERT_TRUE(m.ok()) << m.error_string();
  const auto* data = static_cast<const uint8_t*>(m.data());
  uint64_t peak_counted = 0;
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t off = 0; off < kSize; off += kMiB) {
      ASSERT_EQ(std::memcmp(data + off, content.data() + off, kMiB), 0)
          << "pass " << pass << ", MiB at " << off;
      Stats s = mmapurl::process_stats();
      peak_counted = std::max(peak_counted, s.resident_bytes + s.in_flight_bytes);
    }
  }
  EXPECT_GT(m.stats().evictions, 0u);
  constexpr uint64_t kDemandAllowance = 64 * 1024;
  EXPECT_LE(peak_counted, kCgroupLimit / 2 + kDemandAllowance)
      << "resident + in-flight bytes stay within half of what the group grants";
}

TEST_F(MemoryLimit, WillNeedFetchesWithoutFaultsAndDontNeedDropsPages) {
  constexpr size_t kSize = 8 * kMiB;
  const std::string content = itest::random_bytes(kSize, 72);
  ASSERT_TRUE(origin_->put("hints.bin", content));
  Mapping m(origin_->url(true, "hints.bin"));
  ASSERT_TRUE(m.ok()) << m.error_string();
  const auto* data = static_cast<const uint8_t*>(m.data());
  const size_t from = 2 * kMiB, len = 3 * kMiB;
  ASSERT_EQ(m.advise(from, len, Advice::kWillNeed), 0);
  ASSERT_TRUE(itest::wait_until_resident(data + from, len, std::chrono::seconds(20)))
      << "WILLNEED must bring the range in by itself";
  uint64_t faults_before = m.stats().faults;
  EXPECT_EQ(std::memcmp(data + from, content.data() + from, len), 0);
  EXPECT_EQ(m.stats().faults, faults_before) << "a WILLNEED range reads without faults";

  ASSERT_EQ(m.advise(0, kSize, Advice::kDontNeed), 0);
  EXPECT_EQ(m.stats().resident_bytes, 0u);
  EXPECT_EQ(itest::kernel_resident_bytes(data), 0u);
  EXPECT_EQ(std::memcmp(data, content.data(), kSize), 0) << "pages fetched again after DONTNEED";
  EXPECT_EQ(m.advise(0, kSize + kPage, Advice::kDontNeed), -1) << "a range past the mapping";
}

}  // namespace
