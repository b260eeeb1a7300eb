// Running a test's body again in a new process of the same test executable. The engine reads its
// configuration (MMAPURL_*, SSL_CERT_FILE, proxies) once per process, when it starts, so a test
// that needs the engine started with other settings re-runs itself (or another test of the
// executable) in a child whose environment holds them, and checks the child's result.
//
//   TEST(Suite, Name) {
//     if (itest::in_fresh_process()) { ... the body, on a fresh engine ...; return; }
//     EXPECT_TRUE(itest::run_current_test_in_fresh_process(std::chrono::seconds(60),
//                                                          {{"MMAPURL_X", "1"}}));
//   }
//
// run_in_fresh_process returns the child's exit and output for tests that check more (or whose
// child exits on its own), and runs other tests of the executable or gives the child a role:
//
//   TEST(Suite, Other) {
//     if (itest::in_fresh_process()) { ...; std::_Exit(0); }
//     auto r = itest::run_in_fresh_process({{"MMAPURL_LOG", "debug"}}, std::chrono::seconds(40));
//     EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
//   }
//
// The child is told what it was started for by MMAPURL_TEST_CHILD_ROLE (fresh_process_role()):
// the current test's full name unless the caller names another role.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "fixtures/process.hpp"

namespace mmapurl::itest {

inline constexpr const char* kFreshProcessRoleVariable = "MMAPURL_TEST_CHILD_ROLE";

// gtest's "[  SKIPPED ]" in a test's output makes ctest report the test as Skipped, whatever its
// exit status: CMake's gtest_discover_tests sets SKIP_REGULAR_EXPRESSION on every test, and that
// match outranks a non-zero exit. Output of a child gtest run must therefore never reach this
// process's output unaltered, or a real failure that prints it turns into a green "Skipped".
inline constexpr std::string_view kGtestSkippedTag = "[  SKIPPED ]";
inline constexpr std::string_view kNeutralSkippedTag = "[  skipped ]";

// `text` with every "[  SKIPPED ]" written "[  skipped ]": what any child gtest output must go
// through before it is printed (in an assertion message, on stdout or stderr).
inline std::string neutralize_skip_marker(std::string text) {
  for (size_t at = text.find(kGtestSkippedTag); at != std::string::npos;
       at = text.find(kGtestSkippedTag, at + kNeutralSkippedTag.size())) {
    text.replace(at, kGtestSkippedTag.size(), kNeutralSkippedTag);
  }
  return text;
}

// The N of a gtest summary line "<tag> N test(s)..." (e.g. tag "[  PASSED  ]", or
// kNeutralSkippedTag in neutralized output); 0 when there is no such line. Per-test lines
// ("<tag> Suite.Name") are not summaries: only a tag followed by a number counts.
inline int gtest_summary_count(const std::string& out, std::string_view tag) {
  for (size_t at = out.find(tag); at != std::string::npos; at = out.find(tag, at + 1)) {
    size_t p = at + tag.size();
    while (p < out.size() && out[p] == ' ') ++p;
    size_t digits = p;
    while (digits < out.size() && std::isdigit(static_cast<unsigned char>(out[digits]))) ++digits;
    if (digits > p && out.compare(digits, 5, " test") == 0) {
      return std::stoi(out.substr(p, digits - p));
    }
  }
  return 0;
}

// "Suite.Name" of the running test ("" outside a test).
inline std::string current_test_name() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  if (!info) return "";
  return std::string(info->test_suite_name()) + "." + info->name();
}

// What this process was started for by run_in_fresh_process; "" when ctest (or a person) ran it.
inline std::string fresh_process_role() {
  const char* role = std::getenv(kFreshProcessRoleVariable);
  return role ? role : "";
}

// True in the child that run_current_test_in_fresh_process (or run_in_fresh_process with the
// default role) started for the running test.
inline bool in_fresh_process() {
  const std::string role = fresh_process_role();
  return !role.empty() && role == current_test_name();
}

struct FreshProcess {
  // The child's gtest filter: what it runs. Empty: the running test.
  std::string tests;
  // fresh_process_role() in the child. Empty: the running test's full name (in_fresh_process()).
  std::string role;
  // Variables set (a value) or removed (nullopt) in the child; the rest is this process's.
  std::map<std::string, std::optional<std::string>> env;
  std::chrono::milliseconds timeout = std::chrono::seconds(120);
  // Where the child's output is captured. Empty: a temporary directory of its own.
  std::string scratch_dir;
};

// Runs tests of this executable in a new process, to completion or its timeout. Its stdout and
// stderr come back with "[  SKIPPED ]" written "[  skipped ]" (neutralize_skip_marker), so callers
// may print them; count a child's skips with gtest_summary_count(out, kNeutralSkippedTag).
inline testing::RunResult run_in_fresh_process(FreshProcess how) {
  std::unique_ptr<testing::TempDir> scratch;
  if (how.scratch_dir.empty()) {
    std::string error;
    scratch = testing::TempDir::create("mmapurl-itest-fresh", &error);
    if (!scratch) return testing::RunResult{-1, false, "", error};
    how.scratch_dir = scratch->path();
  }
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return testing::RunResult{-1, false, "", "readlink /proc/self/exe failed"};
  self[n] = '\0';
  const std::string tests = how.tests.empty() ? current_test_name() : how.tests;
  testing::SpawnOptions options;
  options.argv = {self, "--gtest_filter=" + tests, "--gtest_also_run_disabled_tests"};
  options.env_overrides = std::move(how.env);
  options.env_overrides[kFreshProcessRoleVariable] =
      how.role.empty() ? current_test_name() : how.role;
  testing::RunResult result = testing::run_program(options, how.scratch_dir, how.timeout);
  result.out = neutralize_skip_marker(std::move(result.out));
  result.err = neutralize_skip_marker(std::move(result.err));
  return result;
}

// The running test again in a fresh process (where in_fresh_process() is true), with `env`.
inline testing::RunResult run_in_fresh_process(
    std::map<std::string, std::optional<std::string>> env, std::chrono::milliseconds timeout) {
  FreshProcess how;
  how.env = std::move(env);
  how.timeout = timeout;
  return run_in_fresh_process(std::move(how));
}

// Success when the child exited 0 having run and passed exactly `tests` tests and skipped none:
// a skip in the child is a failure here (its body never ran), and so is a child that ran nothing.
inline ::testing::AssertionResult passed_in_fresh_process(const testing::RunResult& result,
                                                          int tests = 1) {
  const bool passed = result.exit_code == 0 &&
                      gtest_summary_count(result.out, "[  PASSED  ]") == tests &&
                      result.out.find(kNeutralSkippedTag) == std::string::npos;
  if (passed) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "the test in a fresh process failed (exit " << result.exit_code
         << (result.timed_out ? ", timed out" : "") << "):\n"
         << result.out << "\n"
         << result.err;
}

// The running test again in a fresh process (where in_fresh_process() is true), with `env`:
// success when exactly it ran there and passed.
inline ::testing::AssertionResult run_current_test_in_fresh_process(
    std::chrono::seconds timeout = std::chrono::seconds(120),
    std::map<std::string, std::optional<std::string>> env = {}) {
  return passed_in_fresh_process(run_in_fresh_process(std::move(env), timeout));
}

}  // namespace mmapurl::itest
