// mmapurl_metrics_text after real traffic: an object mapped from nginx and read, the text then
// parsed by prometheus_client's parsers (Debian's /usr/bin/python3) and every number compared
// with the mmapurl_stats snapshot beside it. Also its snprintf contract and its keeping URLs out.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "fixtures/process.hpp"
#include "integration/mapping_test_support.hpp"
#include "mmapurl.hpp"

namespace {

namespace itest = mmapurl::itest;
using mmapurl::testing::RunResult;
using mmapurl::testing::SpawnOptions;
using mmapurl::testing::TempDir;

constexpr size_t kObjectSize = 6 << 20;

std::string metrics(int format) {
  size_t need = mmapurl_metrics_text(nullptr, 0, format);
  std::string text(need + 1024, '\0');
  size_t got = mmapurl_metrics_text(text.data(), text.size(), format);
  EXPECT_LT(got, text.size());
  text.resize(got);
  return text;
}

bool same(const mmapurl::Stats& a, const mmapurl::Stats& b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

std::string stats_json(const mmapurl::Stats& s) {
  std::string j = "{";
  auto field = [&](const char* name, uint64_t v) {
    j += std::string("\"") + name + "\":" + std::to_string(v) + ",";
  };
  field("faults", s.faults);
  field("bytes_fetched", s.bytes_fetched);
  field("requests", s.requests);
  field("retries", s.retries);
  field("prefetch_hits", s.prefetch_hits);
  field("evictions", s.evictions);
  field("resident_bytes", s.resident_bytes);
  field("in_flight_bytes", s.in_flight_bytes);
  field("failed_pages", s.failed_pages);
  field("max_requests_in_flight", s.max_requests_in_flight);
  field("connections", s.connections);
  field("staging_buffers_mapped", s.staging_buffers_mapped);
  field("cache_filled_pages", s.cache_filled_pages);
  field("cached_bytes", s.cached_bytes);
  j += "\"fault_latency_us_log2\":[";
  for (size_t i = 0; i < std::size(s.fault_latency_us_log2); ++i)
    j += (i ? "," : "") + std::to_string(s.fault_latency_us_log2[i]);
  return j + "]}\n";
}

class MetricsText : public itest::SharedOriginTest {};

TEST_F(MetricsText, RealParsersReadTheCountersOfRealTrafficAsMmapurlStatsGivesThem) {
  const std::string content = itest::random_bytes(kObjectSize, 27);
  ASSERT_TRUE(origin_->put("metrics.bin", content));
  // A query a presigned URL would carry a signature in: it must not reach the text.
  const std::string url = origin_->url(true, "metrics.bin") + "?X-Amz-Signature=SECRETSIGNATURE";
  size_t size = 0;
  int err = 0;
  const void* p = mmap_s3(url.c_str(), &size, &err);
  ASSERT_NE(p, itest::kMapFailed) << itest::describe_failure(err);
  ASSERT_EQ(size, kObjectSize);
  const auto* bytes = static_cast<const uint8_t*>(p);
  // Every 16th page first (faults that wait), then everything (what readahead brought).
  for (size_t off = 0; off < size; off += 16 * 4096)
    ASSERT_EQ(bytes[off], static_cast<uint8_t>(content[off]));
  ASSERT_EQ(itest::first_mismatch(bytes, size, content), std::string::npos);

  // Readahead may still be landing: wait for a snapshot that holds still across the dump.
  std::string prom, om;
  mmapurl::Stats before, after;
  bool settled = false;
  for (int attempt = 0; attempt < 100 && !settled; ++attempt) {
    before = mmapurl::process_stats();
    prom = metrics(MMAPURL_METRICS_PROMETHEUS);
    om = metrics(MMAPURL_METRICS_OPENMETRICS);
    after = mmapurl::process_stats();
    settled = before.in_flight_bytes == 0 && same(before, after);
    if (!settled) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(settled) << "the counters never held still for a dump";
  EXPECT_GT(after.faults, 0u);
  EXPECT_GT(after.requests, 0u);
  EXPECT_GE(after.bytes_fetched, kObjectSize);
  for (const std::string* text : {&prom, &om}) {
    EXPECT_EQ(text->find("SECRETSIGNATURE"), std::string::npos) << *text;
    EXPECT_EQ(text->find("127.0.0.1"), std::string::npos) << *text;
    EXPECT_EQ(text->find("metrics.bin"), std::string::npos) << *text;
  }

  std::string error;
  auto dir = TempDir::create("mmapurl-metrics-text", &error);
  ASSERT_TRUE(dir) << error;
  ASSERT_TRUE(mmapurl::testing::write_file(dir->file("metrics.prom"), prom));
  ASSERT_TRUE(mmapurl::testing::write_file(dir->file("metrics.om"), om));
  ASSERT_TRUE(mmapurl::testing::write_file(dir->file("stats.json"), stats_json(after)));
  SpawnOptions run;
  // Debian's interpreter, where python3-prometheus-client lives (not a python3 earlier on PATH),
  // with nothing of the caller's Python environment.
  run.argv = {"/usr/bin/python3",
              "-I",
              MMAPURL_TEST_DATA_DIR "/../scripts/check_metrics_text.py",
              dir->file("metrics.prom"),
              dir->file("metrics.om"),
              dir->file("stats.json")};
  run.env_overrides = {{"PYTHONPATH", std::nullopt}, {"PYTHONHOME", std::nullopt}};
  RunResult r = mmapurl::testing::run_program(run, dir->path(), std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err
                            << "(prometheus_client missing? tools/install-deps.sh "
                               "installs python3-prometheus-client)\n--- the Prometheus text:\n"
                            << prom;
  EXPECT_NE(r.out.find("prometheus: 15 families"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("openmetrics: 15 families"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(munmap_s3(p), 0);
}

TEST_F(MetricsText, ASmallBufferGetsTheTextsStartAndTheFullLengthLikeSnprintf) {
  const size_t need = mmapurl_metrics_text(nullptr, 0, MMAPURL_METRICS_PROMETHEUS);
  ASSERT_GT(need, 1000u);
  std::vector<char> small(64, 'x');
  // Gauges may move between the calls, but the text's first 63 bytes are its first HELP line.
  EXPECT_GT(mmapurl_metrics_text(small.data(), small.size(), MMAPURL_METRICS_PROMETHEUS), 1000u);
  EXPECT_EQ(std::strlen(small.data()), 63u);
  EXPECT_EQ(std::string(small.data(), 20), "# HELP mmapurl_fault");
}

TEST_F(MetricsText, AnUnknownFormatWritesAnEmptyStringAndReturnsZero) {
  std::vector<char> buf(8, 'x');
  EXPECT_EQ(mmapurl_metrics_text(buf.data(), buf.size(), 7), 0u);
  EXPECT_EQ(buf[0], '\0');
  EXPECT_EQ(mmapurl_metrics_text(nullptr, 0, -1), 0u);
}

}  // namespace
