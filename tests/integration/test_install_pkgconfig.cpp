// What a user gets from `cmake --install`: the files; a shared library and a static archive that
// export exactly the public C API (the shared one under its version node); C and C++ programs
// built against either, through pkg-config and through the CMake package; io_uring-only I/O;
// mmapurl-cat.
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "fixtures/nginx_server.hpp"
#include "fixtures/process.hpp"
#include "integration/mapping_test_support.hpp"

namespace {

namespace itest = mmapurl::itest;
using mmapurl::testing::RunResult;
using mmapurl::testing::SpawnOptions;

// The exported symbols, by name: engine/mmapurl.map's node MMAPURL_0.1. A release that adds a
// call adds its node and names here; none of these ever leaves.
const std::set<std::string> kPublicApi = {"mmap_s3",
                                          "munmap_s3",
                                          "mmap_s3_errstr",
                                          "mmapurl_advise",
                                          "mmapurl_last_error_message",
                                          "mmapurl_metrics_text",
                                          "mmapurl_read",
                                          "mmapurl_stats_get",
                                          "mmapurl_version"};
constexpr const char* kVersionNode = "MMAPURL_0.1";

// Both programs map a URL with the installed mmapurl and print its size and FNV-1a 64 hash; they
// exit non-zero if the library's version or counters disagree with their headers.
constexpr const char* kCProgram =
    R"(#include <mmapurl.h>
#include <mmapurl_ext.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>

int main(int argc, char** argv) {
  size_t size = 0;
  int err = 0;
  if (argc != 2) return 2;
  if (mmapurl_version() != MMAPURL_VERSION) return 3;
  const void* p = mmap_s3(argv[1], &size, &err);
  if (p == MAP_FAILED) {
    fprintf(stderr, "mmap_s3: %s\n", mmap_s3_errstr(err));
    return 1;
  }
  const unsigned char* b = (const unsigned char*)p;
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < size; ++i) {
    h ^= b[i];
    h *= 1099511628211ULL;
  }
  struct mmapurl_stats stats = {.size = sizeof stats};
  if (mmapurl_stats_get(p, &stats) != 0 || stats.size != sizeof stats) return 4;
  if (stats.faults == 0) return 5;
  printf("%zu %016llx\n", size, (unsigned long long)h);
  return munmap_s3(p) == 0 ? 0 : 1;
}
)";

// std::string, std::vector and iostreams: inline code the library's objects instantiate too.
constexpr const char* kCppProgram =
    R"(#include <cstdint>
#include <cstdio>
#include <iostream>
#include <mmapurl.hpp>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv, argv + argc);
  if (args.size() != 2) return 2;
  if (mmapurl_version() != MMAPURL_VERSION) return 3;
  mmapurl::Mapping m(args[1]);
  if (!m.ok()) {
    std::cerr << "mmap_s3: " << m.error_string() << ": " << mmapurl_last_error_message() << "\n";
    return 1;
  }
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < m.size(); ++i) {
    h ^= m.data()[i];
    h *= 1099511628211ULL;
  }
  const mmapurl::Stats stats = m.stats();
  if (stats.faults == 0 || stats.fault_latency_percentile_us(50) <= 0) return 4;
  std::printf("%zu %016llx\n", m.size(), static_cast<unsigned long long>(h));
  return 0;
}
)";

// Builds the programs four ways through the installed CMake package: C and C++, each against
// mmapurl::mmapurl (shared) and mmapurl::mmapurl_static.
constexpr const char* kCMakeProject = R"(cmake_minimum_required(VERSION 3.25)
project(mmapurl_consumer C CXX)
set(CMAKE_C_STANDARD 11)
set(CMAKE_CXX_STANDARD 17)
add_compile_options(-Wall -Wextra -Werror)
find_package(mmapurl 0.1 REQUIRED)
foreach(lang c cpp)
  add_executable(prog_${lang}_shared prog.${lang})
  target_link_libraries(prog_${lang}_shared PRIVATE mmapurl::mmapurl)
  add_executable(prog_${lang}_static prog.${lang})
  target_link_libraries(prog_${lang}_static PRIVATE mmapurl::mmapurl_static)
endforeach()
)";

std::string fnv1a_line(const std::string& bytes) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char line[64];
  std::snprintf(line, sizeof line, "%zu %016llx\n", bytes.size(),
                static_cast<unsigned long long>(h));
  return line;
}

// Runs `command` with /bin/sh (for the $(pkg-config ...) substitutions a user would write).
RunResult shell(const std::string& command, const std::string& scratch,
                std::map<std::string, std::optional<std::string>> env = {},
                std::chrono::seconds timeout = std::chrono::seconds(120)) {
  SpawnOptions options;
  options.argv = {"/bin/sh", "-c", command};
  options.env_overrides = std::move(env);
  return mmapurl::testing::run_program(options, scratch, timeout);
}

std::string explain(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + (r.timed_out ? " (timed out)" : "") +
         "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

// The build tree installed into a temp prefix (once per process), an nginx serving an object,
// and the scratch dir the commands run in.
class InstalledTree : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    scratch_ = itest::TempDir::create("mmapurl-itest-install", &error);
    ASSERT_TRUE(scratch_) << error;
    prefix_ = scratch_->file("prefix");
    RunResult r = shell("cmake --install '" MMAPURL_BINARY_DIR "' --prefix '" + prefix_ + "'",
                        scratch_->path());
    ASSERT_EQ(r.exit_code, 0) << explain(r);

    origin_ = itest::SharedOrigin::get(&error);
    ASSERT_NE(origin_, nullptr) << error;
    content_ = itest::random_bytes(8 * (1 << 20) + 123, 4711);
    ASSERT_TRUE(origin_->put("installed-object", content_));
    url_ = origin_->url(true, "installed-object");
    // What the child programs see: exactly the test CA, no proxies.
    child_env_ = {{"SSL_CERT_FILE", origin_->nginx().ca_file()},
                  {"SSL_CERT_DIR", std::nullopt},
                  {"HTTPS_PROXY", std::nullopt},
                  {"https_proxy", std::nullopt},
                  {"HTTP_PROXY", std::nullopt},
                  {"http_proxy", std::nullopt},
                  {"NO_PROXY", std::nullopt},
                  {"no_proxy", std::nullopt},
                  {"ALL_PROXY", std::nullopt},
                  {"all_proxy", std::nullopt}};
  }

  // Compiles kCProgram with `cc` (kCppProgram with `c++`) and `$(pkg-config --cflags --libs
  // mmapurl)` against the installed prefix; `define_prefix` adds pkg-config's --define-prefix
  // (relocates the .pc).
  std::string build_program(bool cpp, bool define_prefix) {
    const std::string src = scratch_->file(cpp ? "prog.cpp" : "prog.c");
    const std::string exe = scratch_->file(std::string(cpp ? "prog-cpp" : "prog") +
                                           (define_prefix ? "-relocated" : ""));
    EXPECT_TRUE(mmapurl::testing::write_file(src, cpp ? kCppProgram : kCProgram));
    const std::string pkg = std::string("pkg-config ") + (define_prefix ? "--define-prefix " : "") +
                            "--cflags --libs mmapurl";
    const std::string compiler = cpp ? "c++ -std=c++17" : "cc -std=c11";
    RunResult r = shell(compiler + " -Wall -Wextra -Werror '" + src + "' $(" + pkg +
                            ") -Wl,-rpath,'" + prefix_ + "/lib' -o '" + exe + "'",
                        scratch_->path(), {{"PKG_CONFIG_PATH", prefix_ + "/lib/pkgconfig"}});
    EXPECT_EQ(r.exit_code, 0) << explain(r);
    return r.exit_code == 0 ? exe : "";
  }
  std::string build_c_program(bool define_prefix) { return build_program(false, define_prefix); }

  // Runs `exe` on the test object: it must print the object's size and hash.
  void expect_reads_the_object(const std::string& exe) {
    RunResult r = shell("'" + exe + "' '" + url_ + "'", scratch_->path(), child_env_);
    EXPECT_EQ(r.exit_code, 0) << exe << "\n" << explain(r);
    EXPECT_EQ(r.out, fnv1a_line(content_)) << exe;
  }

  // The defined global symbols `nm` lists in `file`: name (without @version) → "TYPE@VERSION".
  std::map<std::string, std::string> defined_globals(const std::string& nm_options,
                                                     const std::string& file) {
    RunResult r = shell("nm " + nm_options + " --defined-only '" + file + "'", scratch_->path());
    EXPECT_EQ(r.exit_code, 0) << explain(r);
    std::map<std::string, std::string> symbols;
    std::istringstream lines(r.out);
    std::string line;
    while (std::getline(lines, line)) {
      std::istringstream fields(line);
      std::string value, type, name;
      if (!(fields >> value >> type >> name)) continue;  // blank, or the archive member's name
      const size_t at = name.find('@');
      symbols[name.substr(0, at)] = type + (at == std::string::npos ? "" : name.substr(at));
    }
    return symbols;
  }

  std::unique_ptr<itest::TempDir> scratch_;
  std::string prefix_;
  itest::SharedOrigin* origin_ = nullptr;
  std::string content_;
  std::string url_;
  std::map<std::string, std::optional<std::string>> child_env_;
};

TEST_F(InstalledTree, HasHeadersLibrariesPackageFilesAndTools) {
  for (const char* file :
       {"include/mmapurl.h", "include/mmapurl_ext.h", "include/mmapurl.hpp", "lib/libmmapurl.so",
        "lib/libmmapurl.a", "lib/pkgconfig/mmapurl.pc", "lib/cmake/mmapurl/mmapurlConfig.cmake",
        "bin/uffd-bench", "bin/mmapurl-cat"}) {
    EXPECT_TRUE(mmapurl::testing::read_file(prefix_ + "/" + file).has_value()) << file;
  }
  EXPECT_TRUE(mmapurl::testing::program_exists(prefix_ + "/bin/uffd-bench"));
  EXPECT_TRUE(mmapurl::testing::program_exists(prefix_ + "/bin/mmapurl-cat"));

  RunResult r = shell("readelf -d '" + prefix_ + "/lib/libmmapurl.so'", scratch_->path());
  ASSERT_EQ(r.exit_code, 0) << explain(r);
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(r.out, m, std::regex(R"(\(SONAME\)\s+Library soname: \[([^\]]+)\])")))
      << r.out;
  const std::string soname = m[1];
  EXPECT_TRUE(std::regex_match(soname, std::regex(R"(libmmapurl\.so\.[0-9]+)"))) << soname;
  // The SONAME file exists and is the library the unversioned name points at.
  r = shell("test \"$(readlink -f '" + prefix_ + "/lib/" + soname + "')\" = \"$(readlink -f '" +
                prefix_ + "/lib/libmmapurl.so')\"",
            scratch_->path());
  EXPECT_EQ(r.exit_code, 0) << soname << " and libmmapurl.so are not the same file";
}

// Every exported symbol is a call of the public API, defined as code under the version node,
// and every call of the API is exported: no C++ symbol, nothing of Boost or the engine.
TEST_F(InstalledTree, SharedLibraryExportsExactlyThePublicApiUnderItsVersionNode) {
  std::map<std::string, std::string> expected;
  for (const std::string& name : kPublicApi) expected[name] = std::string("T@@") + kVersionNode;
  expected[kVersionNode] = "A";  // the version node itself
  EXPECT_EQ(defined_globals("-D", prefix_ + "/lib/libmmapurl.so"), expected);
}

// The archive keeps the same names global and makes every other symbol of its object local, so
// its Asio, Beast and inline std:: code never meets a host program's copies.
TEST_F(InstalledTree, StaticArchiveDefinesExactlyThePublicApiGlobally) {
  std::map<std::string, std::string> expected;
  for (const std::string& name : kPublicApi) expected[name] = "T";
  EXPECT_EQ(defined_globals("-g", prefix_ + "/lib/libmmapurl.a"), expected);
}

// The installed mmapurl.pc names the prefix given to `cmake --install --prefix`, not the
// configure-time one. Regression guard: engine/mmapurl.pc.in once used @CMAKE_INSTALL_PREFIX@
// (fixed at configure time, /usr/local); it is now relocatable, `prefix=${pcfiledir}/../..`.
TEST_F(InstalledTree, PkgConfigNamesTheInstallPrefix) {
  RunResult r = shell("pkg-config --variable=prefix mmapurl && pkg-config --cflags --libs mmapurl",
                      scratch_->path(), {{"PKG_CONFIG_PATH", prefix_ + "/lib/pkgconfig"}});
  ASSERT_EQ(r.exit_code, 0) << explain(r);
  // The .pc file is relocatable (prefix=${pcfiledir}/../..): the -I directory must be the
  // installed include directory, however it is spelled.
  // Look at whole words only: the scratch directory's random suffix may itself begin with
  // "I" (".../tmp-IqPY8E/..."), and a substring search found "-I" inside the prefix line.
  std::string include_dir;
  std::istringstream words(r.out);
  for (std::string word; words >> word;) {
    if (word.rfind("-I", 0) == 0) {
      include_dir = word.substr(2);
      break;
    }
  }
  ASSERT_NE(include_dir, "") << r.out;
  char resolved[PATH_MAX];
  ASSERT_NE(realpath(include_dir.c_str(), resolved), nullptr) << include_dir;
  char expected[PATH_MAX];
  ASSERT_NE(realpath((prefix_ + "/include").c_str(), expected), nullptr);
  EXPECT_EQ(std::string(resolved), std::string(expected)) << r.out;
  const std::string exe = build_c_program(false);
  ASSERT_NE(exe, "");
  expect_reads_the_object(exe);
}

TEST_F(InstalledTree, CProgramBuiltWithPkgConfigMapsAnHttpsObject) {
  const std::string exe = build_c_program(true);
  ASSERT_NE(exe, "");
  expect_reads_the_object(exe);
}

TEST_F(InstalledTree, CppProgramBuiltWithPkgConfigMapsAnHttpsObject) {
  const std::string exe = build_program(true, true);
  ASSERT_NE(exe, "");
  expect_reads_the_object(exe);
}

// find_package(mmapurl) gives both libraries with what they need: a C and a C++ program link the
// shared library and the static archive (the static ones need no libmmapurl.so to run).
TEST_F(InstalledTree, CAndCppProgramsLinkTheSharedLibraryAndTheStaticArchiveWithCMake) {
  const std::string project = scratch_->file("consumer");
  ASSERT_EQ(::mkdir(project.c_str(), 0700), 0) << project;
  ASSERT_TRUE(mmapurl::testing::write_file(project + "/CMakeLists.txt", kCMakeProject));
  ASSERT_TRUE(mmapurl::testing::write_file(project + "/prog.c", kCProgram));
  ASSERT_TRUE(mmapurl::testing::write_file(project + "/prog.cpp", kCppProgram));
  RunResult r =
      shell("cmake -S '" + project + "' -B '" + project + "/build' -DCMAKE_PREFIX_PATH='" +
                prefix_ + "' && cmake --build '" + project + "/build' -j2",
            scratch_->path(), {}, std::chrono::seconds(300));
  ASSERT_EQ(r.exit_code, 0) << explain(r);
  for (const char* lang : {"c", "cpp"}) {
    for (const char* kind : {"shared", "static"}) {
      const std::string exe = project + "/build/prog_" + lang + "_" + kind;
      expect_reads_the_object(exe);
      r = shell("readelf -d '" + exe + "'", scratch_->path());
      ASSERT_EQ(r.exit_code, 0) << explain(r);
      const bool needs_shared = r.out.find("[libmmapurl.so") != std::string::npos;
      EXPECT_EQ(needs_shared, std::string(kind) == "shared") << exe << "\n" << r.out;
    }
  }
}

TEST_F(InstalledTree, AllNetworkAndFaultIoGoesThroughIoUring) {
  const std::string exe = build_c_program(true);
  ASSERT_NE(exe, "");
  const std::string summary = scratch_->file("strace.txt");
  RunResult r = shell("strace -f -c -o '" + summary + "' '" + exe + "' '" + url_ + "'",
                      scratch_->path(), child_env_);
  ASSERT_EQ(r.exit_code, 0) << explain(r);
  EXPECT_EQ(r.out, fnv1a_line(content_));
  auto table = mmapurl::testing::read_file(summary);
  ASSERT_TRUE(table.has_value());
  // Last column of each row of the `strace -c` table is the system call's name.
  std::set<std::string> calls;
  std::istringstream lines(*table);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string field, last;
    while (fields >> field) last = field;
    if (!last.empty()) calls.insert(last);
  }
  EXPECT_EQ(calls.count("io_uring_enter"), 1u) << *table;
  for (const char* forbidden :
       {"epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll", "select", "pselect6",
        "recvmsg", "sendmsg", "recvfrom", "sendto", "recvmmsg", "sendmmsg"}) {
    EXPECT_EQ(calls.count(forbidden), 0u) << forbidden << " in:\n" << *table;
  }
}

TEST_F(InstalledTree, MmapurlCatWritesTheObjectFromTheMapping) {
  const std::string out = scratch_->file("cat.out");
  RunResult r = shell("'" + prefix_ + "/bin/mmapurl-cat' '" + url_ + "' > '" + out + "'",
                      scratch_->path(), child_env_);
  ASSERT_EQ(r.exit_code, 0) << explain(r);
  auto copy = mmapurl::testing::read_file(out);
  ASSERT_TRUE(copy.has_value());
  EXPECT_EQ(
      itest::first_mismatch(reinterpret_cast<const uint8_t*>(copy->data()), copy->size(), content_),
      std::string::npos);

  // A missing object: a non-zero exit and a message, nothing on stdout.
  r = shell("'" + prefix_ + "/bin/mmapurl-cat' '" + origin_->url(true, "missing") + "'",
            scratch_->path(), child_env_);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err, "");
}

}  // namespace
