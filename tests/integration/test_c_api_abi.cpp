// What the public ABI promises beside the three calls: the version call and macros,
// struct mmapurl_stats grown by its leading size field, and calls other than mmap_s3 that never
// start the engine thread (counted in /proc/self/task).
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "integration/fault_test_support.hpp"
#include "integration/mapping_test_support.hpp"
#include "mmapurl.h"
#include "mmapurl.hpp"
#include "mmapurl_ext.h"

namespace {

namespace itest = mmapurl::itest;
constexpr size_t kMiB = 1 << 20;
constexpr size_t kPage = 4096;

// The number of this process's threads.
size_t thread_count() {
  size_t n = 0;
  DIR* dir = opendir("/proc/self/task");
  if (!dir) return 0;
  while (dirent* e = readdir(dir)) n += e->d_name[0] != '.';
  closedir(dir);
  return n;
}

static_assert(MMAPURL_VERSION == MMAPURL_MAKE_VERSION(MMAPURL_VERSION_MAJOR, MMAPURL_VERSION_MINOR,
                                                      MMAPURL_VERSION_PATCH));
static_assert(MMAPURL_MAKE_VERSION(0, 2, 0) > MMAPURL_MAKE_VERSION(0, 1, 255));
static_assert(MMAPURL_MAKE_VERSION(1, 0, 0) > MMAPURL_MAKE_VERSION(0, 255, 255));

TEST(CApiVersion, TheLibraryRunningIsTheVersionOfTheHeaders) {
  EXPECT_EQ(mmapurl_version(), MMAPURL_VERSION);
  EXPECT_EQ(mmapurl_version() >> 16, static_cast<unsigned>(MMAPURL_VERSION_MAJOR));
  EXPECT_EQ((mmapurl_version() >> 8) & 0xff, static_cast<unsigned>(MMAPURL_VERSION_MINOR));
  EXPECT_EQ(mmapurl_version() & 0xff, static_cast<unsigned>(MMAPURL_VERSION_PATCH));
}

// In a process that has mapped nothing, every call but mmap_s3 answers without an engine: no
// mapping (-1, EINVAL where errno is set), counters of zero, and no new thread. mmap_s3 of a
// well-formed URL then starts the engine thread, which this test must be able to see.
TEST(CApiWithoutEngine, CallsOtherThanMmapS3StartNoThread) {
  if (!itest::in_fresh_process()) {
    EXPECT_TRUE(itest::run_current_test_in_fresh_process(std::chrono::seconds(60)));
    return;
  }
  const size_t threads = thread_count();
  ASSERT_GT(threads, 0u);
  char local[kPage] = {};
  char buf[16];

  EXPECT_EQ(munmap_s3(local), -1);
  EXPECT_EQ(munmap_s3(nullptr), -1);
  EXPECT_EQ(mmapurl_advise(local, sizeof local, MMAPURL_ADVICE_WILLNEED), -1);
  errno = 0;
  EXPECT_EQ(mmapurl_read(local, buf, sizeof buf), -1);
  EXPECT_EQ(errno, EINVAL);

  mmapurl_stats s;
  std::memset(&s, 0xAB, sizeof s);
  s.size = sizeof s;
  EXPECT_EQ(mmapurl_stats_get(nullptr, &s), 0);
  EXPECT_EQ(s.size, sizeof s);
  mmapurl_stats zero{};
  zero.size = sizeof zero;
  EXPECT_EQ(std::memcmp(&s, &zero, sizeof s), 0) << "the process's counters before any mapping";
  errno = 0;
  EXPECT_EQ(mmapurl_stats_get(local, &s), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(mmapurl::process_stats().faults, 0u);
  EXPECT_EQ(mmapurl::Mapping().stats().requests, 0u);

  const size_t len = mmapurl_metrics_text(nullptr, 0, MMAPURL_METRICS_PROMETHEUS);
  ASSERT_GT(len, 0u);
  std::string text(len + 1, '\0');
  ASSERT_EQ(mmapurl_metrics_text(text.data(), text.size(), MMAPURL_METRICS_PROMETHEUS), len);
  EXPECT_NE(text.find("\nmmapurl_faults_total 0\n"), std::string::npos) << text;

  EXPECT_EQ(mmapurl_version(), MMAPURL_VERSION);
  EXPECT_STRNE(mmap_s3_errstr(MMAP_S3_NOT_FOUND), "");
  EXPECT_STREQ(mmapurl_last_error_message(), "");
  int err = -1;
  EXPECT_EQ(mmap_s3("", nullptr, &err), itest::kMapFailed);  // refused before the engine
  EXPECT_EQ(err, MMAP_S3_INVALID_S3URL);

  EXPECT_EQ(thread_count(), threads);

  // A scheme the library does not know: mmap_s3 starts the engine before it judges the URL.
  EXPECT_EQ(mmap_s3("gopher://127.0.0.1/x", nullptr, &err), itest::kMapFailed);
  EXPECT_EQ(err, MMAP_S3_INVALID_S3URL);
  EXPECT_GT(thread_count(), threads);
}

// A forked child has no engine (its parent's thread did not come along): there too the calls
// that act on mappings start none.
TEST(CApiWithoutEngine, AForkedChildStartsNoThreadForCallsOtherThanMmapS3) {
  int err = 0;
  mmap_s3("gopher://127.0.0.1/x", nullptr, &err);  // the parent's engine, started if it was not
  ASSERT_GT(thread_count(), 1u);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Only async-signal-safe exits from here: the exit status says which check failed.
    char local[kPage] = {};
    char buf[16];
    if (thread_count() != 1) _exit(10);
    if (munmap_s3(local) != -1) _exit(11);
    if (mmapurl_advise(local, sizeof local, MMAPURL_ADVICE_WILLNEED) != -1) _exit(12);
    if (mmapurl_read(local, buf, sizeof buf) != -1) _exit(13);
    mmapurl_stats s{};
    s.size = sizeof s;
    if (mmapurl_stats_get(nullptr, &s) != 0 || s.faults != 0) _exit(14);
    if (mmapurl_metrics_text(nullptr, 0, MMAPURL_METRICS_OPENMETRICS) == 0) _exit(15);
    if (thread_count() != 1) _exit(16);
    _exit(0);
  }
  const std::optional<int> status = mmapurl::faulttest::wait_child(child, std::chrono::seconds(30));
  ASSERT_TRUE(status.has_value() && WIFEXITED(*status))
      << mmapurl::faulttest::describe_status(status);
  EXPECT_EQ(WEXITSTATUS(*status), 0)
      << "10/16: the child had more than one thread before/after the calls; 11-15: a call "
         "answered as if a mapping existed";
}

class CApiStats : public itest::SharedOriginTest {
 protected:
  // A mapping with a fault served, so that its counters are not all zero.
  void map_and_fault() {
    const std::string content = itest::random_bytes(kMiB, 78);
    ASSERT_TRUE(origin_->put("stats-size", content));
    mapping_ = mmapurl::Mapping(origin_->url(true, "stats-size"));
    ASSERT_TRUE(mapping_.ok()) << mapping_.error_string();
    // Past what the mapping-time probe brings (256 KiB): a fault.
    ASSERT_EQ(mapping_.data()[kMiB - kPage], static_cast<uint8_t>(content[kMiB - kPage]));
  }
  mmapurl::Mapping mapping_;
};

// A caller built against these headers passes the whole structure and gets every field back.
TEST_F(CApiStats, TheWholeStructureIsFilled) {
  map_and_fault();
  mmapurl_stats s{};
  s.size = sizeof s;
  ASSERT_EQ(mmapurl_stats_get(mapping_.data(), &s), 0);
  EXPECT_EQ(s.size, sizeof s);
  EXPECT_GE(s.faults, 1u);
  EXPECT_GE(s.requests, 2u);  // the probe and the fault's GET
  EXPECT_GE(s.bytes_fetched, 2 * kPage);
  uint64_t histogram = 0;
  for (uint64_t c : s.fault_latency_us_log2) histogram += c;
  EXPECT_EQ(histogram, s.faults);
  mmapurl_stats process{};
  process.size = sizeof process;
  ASSERT_EQ(mmapurl_stats_get(nullptr, &process), 0);
  EXPECT_GE(process.requests, s.requests);
  EXPECT_GE(process.connections, 1u);
  // The C++ Stats is the same structure.
  const mmapurl::Stats cpp = mapping_.stats();
  EXPECT_EQ(cpp.size, sizeof(mmapurl_stats));
  EXPECT_GE(cpp.faults, s.faults);
}

// A caller built against older headers (here: before the disk cache counters) passes a smaller
// size: it gets the fields it knows, nothing is written past them, and its size stays.
TEST_F(CApiStats, AnOlderCallerGetsTheFieldsItKnowsAndNothingPast) {
  map_and_fault();
  constexpr size_t kOlderSize = offsetof(mmapurl_stats, cache_filled_pages);
  std::vector<uint8_t> out(sizeof(mmapurl_stats) + 64, 0xAB);
  auto* s = reinterpret_cast<mmapurl_stats*>(out.data());
  s->size = kOlderSize;
  ASSERT_EQ(mmapurl_stats_get(mapping_.data(), s), 0);
  EXPECT_EQ(s->size, kOlderSize);
  EXPECT_GE(s->faults, 1u);
  EXPECT_EQ(s->bytes_fetched, mapping_.stats().bytes_fetched);
  for (size_t i = kOlderSize; i < out.size(); ++i)
    ASSERT_EQ(out[i], 0xAB) << "byte " << i << " past the caller's structure was written";

  // Only whole fields: a size that ends inside one stops before it.
  s->size = offsetof(mmapurl_stats, requests) + 4;
  std::memset(out.data() + offsetof(mmapurl_stats, requests), 0xAB,
              out.size() - offsetof(mmapurl_stats, requests));
  ASSERT_EQ(mmapurl_stats_get(nullptr, s), 0);
  EXPECT_EQ(s->size, offsetof(mmapurl_stats, requests));
  for (size_t i = offsetof(mmapurl_stats, requests); i < out.size(); ++i)
    ASSERT_EQ(out[i], 0xAB) << "byte " << i << " past the last whole field was written";

  // The size field alone: nothing else is written.
  s->size = sizeof s->size;
  std::memset(out.data() + sizeof s->size, 0xAB, out.size() - sizeof s->size);
  ASSERT_EQ(mmapurl_stats_get(nullptr, s), 0);
  EXPECT_EQ(s->size, sizeof s->size);
  for (size_t i = sizeof s->size; i < out.size(); ++i) ASSERT_EQ(out[i], 0xAB) << "byte " << i;
}

// A caller built against newer headers (a larger structure) running with this library learns
// from the size returned which fields were filled; the rest stay as it left them.
TEST_F(CApiStats, ANewerCallerLearnsWhichFieldsWereFilled) {
  map_and_fault();
  std::vector<uint8_t> out(sizeof(mmapurl_stats) + 64, 0xAB);
  auto* s = reinterpret_cast<mmapurl_stats*>(out.data());
  s->size = out.size();
  ASSERT_EQ(mmapurl_stats_get(mapping_.data(), s), 0);
  EXPECT_EQ(s->size, sizeof(mmapurl_stats));
  EXPECT_GE(s->faults, 1u);
  for (size_t i = sizeof(mmapurl_stats); i < out.size(); ++i)
    ASSERT_EQ(out[i], 0xAB) << "byte " << i << " past this library's structure was written";
}

TEST_F(CApiStats, RefusesWhatItCannotFill) {
  map_and_fault();
  errno = 0;
  EXPECT_EQ(mmapurl_stats_get(mapping_.data(), nullptr), -1);
  EXPECT_EQ(errno, EINVAL);
  mmapurl_stats s{};
  s.size = sizeof s.size - 1;
  errno = 0;
  EXPECT_EQ(mmapurl_stats_get(nullptr, &s), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(s.size, sizeof s.size - 1);
  int not_mapped = 0;
  s.size = sizeof s;
  errno = 0;
  EXPECT_EQ(mmapurl_stats_get(&not_mapped, &s), -1);
  EXPECT_EQ(errno, EINVAL);
}

}  // namespace
