// Readahead marker pages: the engine holds back one page of each readahead window (its bytes
// kept aside) so that touching it tells the planner the reader got there. A reader that starts
// many short sequential runs and leaves each before its marker leaves those copies behind: the
// engine keeps a bounded number per mapping, and every byte still reads right.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/test_hooks.hpp"
#include "integration/mapping_test_support.hpp"
#include "mmapurl.hpp"

namespace {

namespace itest = mmapurl::itest;
constexpr size_t kPage = 4096;
constexpr size_t kMiB = 1 << 20;

class ReadaheadMarkers : public itest::SharedOriginTest {};

TEST_F(ReadaheadMarkers, AMappingHoldsABoundedNumberOfUntouchedMarkers) {
  const std::string content = itest::random_bytes(256 * kMiB, 97);
  ASSERT_TRUE(origin_->put("markers.bin", content));
  mmapurl::Mapping m(origin_->url(true, "markers.bin"));
  ASSERT_TRUE(m.ok()) << m.error_string();
  const auto* data = static_cast<const uint8_t*>(m.data());
  // 255 short sequential runs, one in each MiB past the probe in a shuffled order (a stride the
  // planner would learn): each plans a readahead window with a marker the run never reaches.
  long most = 0;
  std::vector<size_t> starts;
  for (size_t run = 1; run < 256; ++run) starts.push_back(run);
  std::shuffle(starts.begin(), starts.end(), std::mt19937_64(97));
  for (size_t run : starts) {
    const size_t first = run * kMiB / kPage;
    for (size_t p = first; p < first + 8; ++p) {
      ASSERT_EQ(std::memcmp(data + p * kPage, content.data() + p * kPage, kPage), 0) << p;
    }
    most = std::max(most, mmapurl::core::test_held_marker_pages(data));
  }
  EXPECT_GE(most, 32) << "the runs should have left markers behind";
  EXPECT_LE(most, 64) << "held-back marker pages of one mapping";
  // Every page, markers included, holds the object's bytes.
  for (size_t p = 0; p < content.size() / kPage; ++p) {
    ASSERT_EQ(std::memcmp(data + p * kPage, content.data() + p * kPage, kPage), 0) << p;
  }
}

}  // namespace
