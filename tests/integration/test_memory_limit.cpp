// MMAPURL_MEMORY_LIMIT and the madvise-like hints against a real nginx: a scan of an object
// several times the limit keeps the mapping's resident pages within it and reads every byte
// right, also after eviction and re-fault; WILLNEED fetches without faults, DONTNEED drops.
#include <sys/mman.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "integration/mapping_test_support.hpp"
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
