// What a user gets from `cmake --install`: the files, a versioned .so that exports only the
// public API, pkg-config that builds an independent C program, io_uring-only I/O, mmapurl-cat.
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

constexpr const char* kCProgram =
    R"(/* Maps a URL with the installed mmapurl and prints its size and FNV-1a 64 hash. */
#include <mmapurl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>

int main(int argc, char** argv) {
  size_t size = 0;
  int err = 0;
  if (argc != 2) return 2;
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
  printf("%zu %016llx\n", size, (unsigned long long)h);
  return munmap_s3(p) == 0 ? 0 : 1;
}
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

  // Compiles kCProgram as `cc prog.c $(pkg-config --cflags --libs mmapurl)` against the
  // installed prefix; `define_prefix` adds pkg-config's --define-prefix (relocates the .pc).
  std::string build_c_program(bool define_prefix) {
    const std::string src = scratch_->file("prog.c");
    const std::string exe = scratch_->file(define_prefix ? "prog-relocated" : "prog");
    EXPECT_TRUE(mmapurl::testing::write_file(src, kCProgram));
    const std::string pkg = std::string("pkg-config ") + (define_prefix ? "--define-prefix " : "") +
                            "--cflags --libs mmapurl";
    RunResult r = shell("cc -std=c11 -Wall -Wextra -Werror '" + src + "' $(" + pkg +
                            ") -Wl,-rpath,'" + prefix_ + "/lib' -o '" + exe + "'",
                        scratch_->path(), {{"PKG_CONFIG_PATH", prefix_ + "/lib/pkgconfig"}});
    EXPECT_EQ(r.exit_code, 0) << explain(r);
    return r.exit_code == 0 ? exe : "";
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

TEST_F(InstalledTree, SharedLibraryExportsOnlyThePublicApi) {
  RunResult r = shell("nm -D --defined-only '" + prefix_ + "/lib/libmmapurl.so'", scratch_->path());
  ASSERT_EQ(r.exit_code, 0) << explain(r);
  std::set<std::string> names;
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string value, type, name;
    if (!(fields >> value >> type >> name)) continue;
    if (type == "A") continue;  // the version node (MMAPURL_0), not a symbol
    name = name.substr(0, name.find('@'));
    names.insert(name);
    EXPECT_EQ(name.find("boost"), std::string::npos) << line;
    EXPECT_EQ(name.find("asio"), std::string::npos) << line;
    const bool public_api = name == "mmap_s3" || name == "munmap_s3" || name == "mmap_s3_errstr" ||
                            name.rfind("mmapurl_", 0) == 0;
    EXPECT_TRUE(public_api) << "unexpected export: " << line;
  }
  for (const char* required : {"mmap_s3", "munmap_s3", "mmap_s3_errstr"}) {
    EXPECT_EQ(names.count(required), 1u) << required;
  }
  // The metrics text a service's /metrics endpoint serves (mmapurl_ext.h).
  EXPECT_EQ(names.count("mmapurl_metrics_text"), 1u);
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
  r = shell("'" + exe + "' '" + url_ + "'", scratch_->path(), child_env_);
  ASSERT_EQ(r.exit_code, 0) << explain(r);
  EXPECT_EQ(r.out, fnv1a_line(content_));
}

TEST_F(InstalledTree, CProgramBuiltWithPkgConfigMapsAnHttpsObject) {
  const std::string exe = build_c_program(true);
  ASSERT_NE(exe, "");
  RunResult r = shell("'" + exe + "' '" + url_ + "'", scratch_->path(), child_env_);
  ASSERT_EQ(r.exit_code, 0) << explain(r);
  EXPECT_EQ(r.out, fnv1a_line(content_));
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
