// uffd-bench, the throughput tool the README's first command runs: against its embedded HTTPS
// server it verifies what it reads and exits 0, and --latencies-file records one line per timed
// read (the tail beyond p99 that the JSON's percentiles do not show).
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <sstream>
#include <string>

#include "fixtures/process.hpp"

namespace {

using mmapurl::testing::RunResult;
using mmapurl::testing::SpawnOptions;
using mmapurl::testing::TempDir;

TEST(UffdBench, WritesEveryTimedReadsLatencyToTheLatenciesFile) {
  std::string error;
  auto dir = TempDir::create("mmapurl-uffd-bench", &error);
  ASSERT_TRUE(dir) << error;
  const std::string latencies = dir->file("latencies.txt");
  SpawnOptions options;
  options.argv = {MMAPURL_BINARY_DIR "/tools/uffd-bench",
                  "--size",
                  "8M",
                  "--scenario",
                  "rand,threads-rand",
                  "--random-reads",
                  "40",
                  "--threads",
                  "4",
                  "--json",
                  "--latencies-file",
                  latencies};
  // The embedded server's certificate is made in memory and trusted by the tool itself; nothing
  // else of the environment matters but a proxy, which must not take loopback traffic.
  options.env_overrides = {
      {"HTTPS_PROXY", std::nullopt}, {"https_proxy", std::nullopt}, {"MMAPURL_LOG", std::nullopt}};
  RunResult r = mmapurl::testing::run_program(options, dir->path(), std::chrono::seconds(120));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"scenario\":\"rand\",\"url\""), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\"ok\":false"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\"verified\":false"), std::string::npos) << r.out;

  auto text = mmapurl::testing::read_file(latencies);
  ASSERT_TRUE(text.has_value());
  std::map<std::string, int> lines;
  std::istringstream in(*text);
  std::string scenario;
  double us = -1;
  while (in >> scenario >> us) {
    EXPECT_GT(us, 0.0) << scenario;
    ++lines[scenario];
  }
  EXPECT_TRUE(in.eof()) << "a line that is not 'scenario microseconds' in:\n" << *text;
  EXPECT_EQ(lines["rand"], 40);
  EXPECT_EQ(lines["threads-rand"], 40);  // 4 threads, 10 reads each
  EXPECT_EQ(lines.size(), 2u);
}

TEST(UffdBench, AnUnwritableLatenciesFileFailsTheRun) {
  std::string error;
  auto dir = TempDir::create("mmapurl-uffd-bench", &error);
  ASSERT_TRUE(dir) << error;
  SpawnOptions options;
  options.argv = {MMAPURL_BINARY_DIR "/tools/uffd-bench",
                  "--size",
                  "4M",
                  "--scenario",
                  "rand",
                  "--random-reads",
                  "5",
                  "--latencies-file",
                  dir->file("missing/dir/latencies.txt")};
  options.env_overrides = {{"HTTPS_PROXY", std::nullopt}, {"https_proxy", std::nullopt}};
  RunResult r = mmapurl::testing::run_program(options, dir->path(), std::chrono::seconds(120));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("cannot open"), std::string::npos) << r.err;
}

}  // namespace

// --metrics: after the run, stdout ends with mmapurl_metrics_text (the JSON lines stay whole,
// before it); =openmetrics ends with "# EOF".
TEST(UffdBench, MetricsPrintsTheProcesssCountersAfterTheRun) {
  std::string error;
  auto dir = TempDir::create("mmapurl-uffd-bench", &error);
  ASSERT_TRUE(dir) << error;
  for (const char* flag : {"--metrics", "--metrics=openmetrics"}) {
    SpawnOptions options;
    options.argv = {MMAPURL_BINARY_DIR "/tools/uffd-bench",
                    "--size",
                    "4M",
                    "--scenario",
                    "rand",
                    "--random-reads",
                    "20",
                    "--json",
                    flag};
    options.env_overrides = {{"HTTPS_PROXY", std::nullopt},
                             {"https_proxy", std::nullopt},
                             {"MMAPURL_LOG", std::nullopt}};
    RunResult r = mmapurl::testing::run_program(options, dir->path(), std::chrono::seconds(120));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const size_t metrics = r.out.find("# HELP mmapurl_faults");
    ASSERT_NE(metrics, std::string::npos) << r.out;
    EXPECT_EQ(r.out.rfind("{\"scenario\":\"rand\"", 0), 0u) << r.out;
    EXPECT_EQ(r.out.substr(metrics).find('{'), r.out.substr(metrics).find("{le=")) << r.out;
    EXPECT_NE(r.out.find("\nmmapurl_requests_total "), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("\nmmapurl_requests_total 0\n"), std::string::npos) << r.out;
    const bool om = std::string(flag) == "--metrics=openmetrics";
    EXPECT_EQ(r.out.size() >= 6 && r.out.substr(r.out.size() - 6) == "# EOF\n", om) << r.out;
    EXPECT_EQ(r.err, "") << "stderr is not a terminal: no progress, no summary";
  }
}
