// format_metrics_text: Prometheus 0.0.4 and OpenMetrics text of a Stats value (names, types,
// cumulative histogram, estimated sum, no labels), and the snprintf contract of its C entry point.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <limits>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "api/metrics_text.hpp"

using mmapurl::Stats;
using mmapurl::api::copy_like_snprintf;
using mmapurl::api::format_metrics_text;
using mmapurl::api::MetricsFormat;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

bool has_line(const std::string& text, const std::string& line) {
  for (const auto& l : lines_of(text))
    if (l == line) return true;
  return false;
}

}  // namespace

// A value with every counter and gauge the Prometheus tests below read.
Stats counters_and_gauges() {
  Stats s;
  s.faults = 7;
  s.bytes_fetched = 1ull << 40;
  s.requests = 12;
  s.resident_bytes = 4096;
  s.in_flight_bytes = 131072;
  s.cache_filled_pages = 3;
  s.connections = 2;
  return s;
}

TEST(MetricsText, CountersAreTypedCounterAndNamedTotal) {
  std::string t = format_metrics_text(counters_and_gauges(), MetricsFormat::kPrometheus);
  EXPECT_TRUE(has_line(t, "# TYPE mmapurl_faults_total counter")) << t;
  EXPECT_TRUE(has_line(t, "mmapurl_faults_total 7")) << t;
  EXPECT_TRUE(has_line(t, "mmapurl_fetched_bytes_total 1099511627776")) << t;
  EXPECT_TRUE(has_line(t, "mmapurl_requests_total 12")) << t;
  EXPECT_TRUE(has_line(t, "mmapurl_cache_filled_pages_total 3")) << t;
}

TEST(MetricsText, GaugesAreTypedGauge) {
  std::string t = format_metrics_text(counters_and_gauges(), MetricsFormat::kPrometheus);
  EXPECT_TRUE(has_line(t, "# TYPE mmapurl_resident_bytes gauge")) << t;
  EXPECT_TRUE(has_line(t, "mmapurl_resident_bytes 4096")) << t;
  EXPECT_TRUE(has_line(t, "mmapurl_in_flight_bytes 131072")) << t;
  EXPECT_TRUE(has_line(t, "mmapurl_connections 2")) << t;
}

TEST(MetricsText, PrometheusTextHasNoEofOrUnitLinesAndEndsInANewline) {
  std::string t = format_metrics_text(counters_and_gauges(), MetricsFormat::kPrometheus);
  EXPECT_EQ(t.find("# EOF"), std::string::npos);
  EXPECT_EQ(t.find("# UNIT"), std::string::npos) << "0.0.4 has no UNIT lines";
  ASSERT_FALSE(t.empty());
  EXPECT_EQ(t.back(), '\n');
}

// Every sample has a HELP and a TYPE before it, and no label but the histogram's le: nothing a
// URL or credential could ride in.
TEST(MetricsText, EverySampleIsDescribedAndCarriesNoLabelButLe) {
  for (auto format : {MetricsFormat::kPrometheus, MetricsFormat::kOpenMetrics}) {
    std::string t = format_metrics_text(Stats{}, format);
    std::string described;
    const std::regex sample(R"(^(mmapurl_[a-z_]+)(\{le="[^"]+"\})? [0-9.]+$)");
    int samples = 0;
    for (const auto& line : lines_of(t)) {
      if (line.rfind("# HELP ", 0) == 0) {
        described = line.substr(7, line.find(' ', 7) - 7);
        continue;
      }
      if (line.rfind("# TYPE ", 0) == 0 || line.rfind("# UNIT ", 0) == 0) {
        EXPECT_EQ(line.substr(7, described.size() + 1), described + " ") << line;
        continue;
      }
      if (line == "# EOF") continue;
      std::smatch m;
      ASSERT_TRUE(std::regex_match(line, m, sample)) << line;
      EXPECT_EQ(m[1].str().rfind(described.substr(0, described.rfind("_total")), 0), 0u)
          << line << " under " << described;
      ++samples;
    }
    EXPECT_EQ(samples, 14 + 31 + 1 + 2);  // scalars, finite buckets, +Inf, _sum and _count
  }
}

TEST(MetricsText, LatencyHistogramIsCumulativeWithExactBoundsAndAnEstimatedSum) {
  Stats s;
  s.fault_latency_us_log2[0] = 1;   // [0, 2) µs
  s.fault_latency_us_log2[1] = 2;   // [2, 4) µs
  s.fault_latency_us_log2[10] = 3;  // [1024, 2048) µs
  s.fault_latency_us_log2[31] = 4;  // 2^31 µs and more: only under +Inf
  std::string t = format_metrics_text(s, MetricsFormat::kPrometheus);
  EXPECT_TRUE(has_line(t, "# TYPE mmapurl_fault_latency_seconds histogram")) << t;
  EXPECT_TRUE(has_line(t, R"(mmapurl_fault_latency_seconds_bucket{le="0.000002"} 1)")) << t;
  EXPECT_TRUE(has_line(t, R"(mmapurl_fault_latency_seconds_bucket{le="0.000004"} 3)")) << t;
  EXPECT_TRUE(has_line(t, R"(mmapurl_fault_latency_seconds_bucket{le="0.001024"} 3)")) << t;
  EXPECT_TRUE(has_line(t, R"(mmapurl_fault_latency_seconds_bucket{le="0.002048"} 6)")) << t;
  EXPECT_TRUE(has_line(t, R"(mmapurl_fault_latency_seconds_bucket{le="2147.483648"} 6)")) << t;
  EXPECT_TRUE(has_line(t, R"(mmapurl_fault_latency_seconds_bucket{le="+Inf"} 10)")) << t;
  EXPECT_TRUE(has_line(t, "mmapurl_fault_latency_seconds_count 10")) << t;
  // Midpoints: 1 µs, 3 µs, 1536 µs, and 1.5 * 2^31 µs for the open-ended last bucket.
  EXPECT_TRUE(has_line(t, "mmapurl_fault_latency_seconds_sum 12884.906503")) << t;

  // Bounds: 2^(i+1) µs for the 31 closed buckets, increasing, printed exactly.
  const std::regex bucket(R"re(^mmapurl_fault_latency_seconds_bucket\{le="([0-9.]+)"\} \d+$)re");
  int i = 0;
  for (const auto& line : lines_of(t)) {
    std::smatch m;
    if (!std::regex_match(line, m, bucket)) continue;
    EXPECT_EQ(std::strtod(m[1].str().c_str(), nullptr),
              static_cast<double>(uint64_t{1} << (i + 1)) / 1e6)
        << line;
    ++i;
  }
  EXPECT_EQ(i, 31);
}

TEST(MetricsText, EmptyHistogramHasZeroSumAndCount) {
  std::string t = format_metrics_text(Stats{}, MetricsFormat::kPrometheus);
  EXPECT_TRUE(has_line(t, "mmapurl_fault_latency_seconds_sum 0")) << t;
  EXPECT_TRUE(has_line(t, "mmapurl_fault_latency_seconds_count 0")) << t;
}

TEST(MetricsText, HugeCountsSaturateInsteadOfWrapping) {
  Stats s;
  s.fault_latency_us_log2[30] = std::numeric_limits<uint64_t>::max();
  s.fault_latency_us_log2[31] = 5;
  std::string t = format_metrics_text(s, MetricsFormat::kPrometheus);
  EXPECT_TRUE(
      has_line(t, R"(mmapurl_fault_latency_seconds_bucket{le="+Inf"} 18446744073709551615)"))
      << t;
  EXPECT_TRUE(has_line(t, "mmapurl_fault_latency_seconds_sum 18446744073709.551615")) << t;
}

TEST(MetricsText, OpenMetricsNamesFamiliesWithoutTotalAddsUnitsAndEnds) {
  Stats s;
  s.faults = 5;
  std::string t = format_metrics_text(s, MetricsFormat::kOpenMetrics);
  EXPECT_TRUE(has_line(t, "# TYPE mmapurl_faults counter")) << t;
  EXPECT_TRUE(has_line(t, "mmapurl_faults_total 5")) << t;
  EXPECT_TRUE(has_line(t, "# UNIT mmapurl_fetched_bytes bytes")) << t;
  EXPECT_TRUE(has_line(t, "# UNIT mmapurl_fault_latency_seconds seconds")) << t;
  ASSERT_GE(t.size(), 6u);
  EXPECT_EQ(t.substr(t.size() - 6), "# EOF\n");
  EXPECT_EQ(t.find("# EOF"), t.size() - 6) << "one EOF, at the end";
}

TEST(MetricsText, CopyFollowsSnprintf) {
  const std::string text = "abcdef";
  EXPECT_EQ(copy_like_snprintf(text, nullptr, 0), 6u);
  char buf[8];
  std::memset(buf, 'x', sizeof buf);
  EXPECT_EQ(copy_like_snprintf(text, buf, 1), 6u);
  EXPECT_EQ(buf[0], '\0');
  EXPECT_EQ(buf[1], 'x') << "nothing written past len";
  EXPECT_EQ(copy_like_snprintf(text, buf, 6), 6u);  // one short: the last byte gives way to NUL
  EXPECT_STREQ(buf, "abcde");
  EXPECT_EQ(copy_like_snprintf(text, buf, 7), 6u);  // exact fit
  EXPECT_STREQ(buf, "abcdef");
  std::memset(buf, 'x', sizeof buf);
  EXPECT_EQ(copy_like_snprintf("", buf, sizeof buf), 0u);
  EXPECT_EQ(buf[0], '\0');
}
