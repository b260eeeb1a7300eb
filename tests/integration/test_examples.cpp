// The programs under examples/ (linked against the shared library, as a user's are) run against
// nginx: they read what the object holds, print counters, and report a failed mapping properly.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include "fixtures/process.hpp"
#include "integration/mapping_test_support.hpp"

namespace {

namespace itest = mmapurl::itest;
using mmapurl::testing::RunResult;
using mmapurl::testing::SpawnOptions;
using mmapurl::testing::TempDir;

constexpr size_t kObjectSize = 3 << 20;

std::string fnv1a_hex(const std::string& bytes, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<uint8_t>(bytes[i])) * 16777619u;
  char out[16];
  std::snprintf(out, sizeof out, "%08x", h);
  return out;
}

class Examples : public itest::SharedOriginTest {
 protected:
  RunResult run(const std::string& program, const std::vector<std::string>& args) {
    std::string error;
    dir_ = TempDir::create("mmapurl-examples", &error);
    EXPECT_TRUE(dir_) << error;
    if (!dir_) return {};
    SpawnOptions options;
    options.argv = {MMAPURL_BINARY_DIR "/examples/" + program};
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    // Everything the programs' engine reads: trust nginx's CA only, no proxy, no log on stderr.
    options.env_overrides = {{"SSL_CERT_FILE", origin_->nginx().ca_file()},
                             {"SSL_CERT_DIR", std::nullopt},
                             {"MMAPURL_LOG", std::nullopt}};
    for (const char* proxy : {"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
                              "all_proxy", "NO_PROXY", "no_proxy"})
      options.env_overrides[proxy] = std::nullopt;
    return mmapurl::testing::run_program(options, dir_->path(), std::chrono::seconds(60));
  }
  std::unique_ptr<TempDir> dir_;
};

TEST_F(Examples, CProgramReadsTheObjectAndPrintsTheCounters) {
  const std::string content = itest::random_bytes(kObjectSize, 11);
  ASSERT_TRUE(origin_->put("example-c.bin", content));
  RunResult r = run("read_object_c", {origin_->url(true, "example-c.bin"), "2000000"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(
      r.out.rfind("size 3145728\nread 2000000\nfnv1a " + fnv1a_hex(content, 2000000) + "\n", 0), 0u)
      << r.out;
  EXPECT_NE(r.out.find("\nfaults "), std::string::npos) << r.out;  // struct mmapurl_stats
  EXPECT_EQ(r.out.find("\nrequests 0\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nmmapurl_faults_total "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nmmapurl_fault_latency_seconds_count "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("_bucket"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\nmmapurl_requests_total 0\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");
}

TEST_F(Examples, CppProgramReadsTheObjectAndPrintsTheMappingsCounters) {
  const std::string content = itest::random_bytes(kObjectSize, 12);
  ASSERT_TRUE(origin_->put("example-cpp.bin", content));
  RunResult r = run("read_object_cpp", {origin_->url(true, "example-cpp.bin")});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(
      r.out.rfind("size 3145728\nread 1048576\nfnv1a " + fnv1a_hex(content, 1 << 20) + "\n", 0), 0u)
      << r.out;
  EXPECT_NE(r.out.find("\nfaults "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nfault_latency_p50_us "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\nrequests 0\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");
}

TEST_F(Examples, BothSayWhyAMappingFailedAndExitOne) {
  for (const char* program : {"read_object_c", "read_object_cpp"}) {
    RunResult r = run(program, {origin_->url(true, "no/such/object") + "?token=SECRETTOKEN"});
    EXPECT_EQ(r.exit_code, 1) << program << r.out << r.err;
    EXPECT_NE(r.err.find("read_object: object not found: "), std::string::npos) << program << r.err;
    EXPECT_EQ(r.err.find("SECRETTOKEN"), std::string::npos) << program << r.err;
    EXPECT_EQ(r.out, "") << program;
    r = run(program, {});
    EXPECT_EQ(r.exit_code, 2) << program;
    EXPECT_NE(r.err.find("usage: "), std::string::npos) << program << r.err;
  }
}

}  // namespace
