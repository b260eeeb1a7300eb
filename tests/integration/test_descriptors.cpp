// No descriptor of the library reaches a program the process runs: with HTTPS, HTTP and S3
// mappings alive (their connections kept for reuse), a child the application forks and execs
// lists its descriptors and finds only its standard streams; a credential_process the library
// starts gets stdin, stdout and stderr only, even beside an application descriptor that lacks
// close-on-exec.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "fixtures/process.hpp"
#include "fixtures/s3_server.hpp"
#include "integration/mapping_test_support.hpp"
#include "integration/s3_test_support.hpp"
#include "mmapurl.h"
#include "mmapurl_ext.h"

namespace {

namespace itest = mmapurl::itest;
using itest::describe_failure;
using itest::set_env;
using itest::unset_env;
using mmapurl::testing::S3Server;
using mmapurl::testing::TempDir;
const char* const kBucket = "mmapurl-descriptors";
constexpr size_t kObjectBytes = 3 * 1024 * 1024 + 5;

// The descriptors this process inherited from whatever started it (a shell, ctest), read before
// main: they are not the library's, and a child inherits them as this process did.
std::set<std::string> descriptors_at_start() {
  std::set<std::string> names;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return names;
  const std::string own = std::to_string(::dirfd(dir));
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.' && own != entry->d_name) names.insert(entry->d_name);
  }
  ::closedir(dir);
  return names;
}
const std::set<std::string> kInheritedAtStart = descriptors_at_start();

// The entries of an `ls -l /proc/self/fd` listing that are neither a standard stream, nor the
// listing's own directory descriptor, nor (unless `strict`) one this process started with;
// "N -> target" each.
std::vector<std::string> foreign_descriptors(const std::string& listing, bool strict) {
  std::vector<std::string> foreign;
  std::istringstream lines(listing);
  std::string line;
  while (std::getline(lines, line)) {
    size_t arrow = line.find(" -> ");
    if (arrow == std::string::npos) continue;  // "total 0"
    size_t name_start = line.rfind(' ', arrow - 1) + 1;
    std::string fd = line.substr(name_start, arrow - name_start);
    std::string target = line.substr(arrow + 4);
    if (fd == "0" || fd == "1" || fd == "2" || (!strict && kInheritedAtStart.count(fd))) continue;
    if (target.rfind("/proc/", 0) == 0) continue;  // ls reading /proc/self/fd
    foreign.push_back(fd + " -> " + target);
  }
  return foreign;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += "  " + item + "\n";
  return out;
}

// Forks and execs `ls -l /proc/self/fd`, as an application running a program would, and
// returns what it printed (std::nullopt when it could not run).
std::optional<std::string> listing_of_an_execd_child() {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return std::nullopt;
  pid_t pid = ::fork();
  if (pid < 0) return std::nullopt;
  if (pid == 0) {
    // Async-signal-safe only: the parent has other threads.
    ::dup2(out[1], STDOUT_FILENO);
    const char* argv[] = {"/bin/ls", "-l", "/proc/self/fd", nullptr};
    ::execv(argv[0], const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(out[1]);
  std::string text;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(out[0], buffer, sizeof buffer)) > 0) text.append(buffer, n);
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return text;
}

class Descriptors : public itest::SharedOriginTest {
 protected:
  static void SetUpTestSuite() {
    std::string error;
    env_ = itest::S3TestEnvironment::start("mmapurl-descriptors", {kBucket}, &error).release();
    ASSERT_NE(env_, nullptr) << error;
    s3_ = &env_->server();
    dir_ = &env_->dir();
    content_ = itest::random_bytes(kObjectBytes, 24);
    ASSERT_TRUE(env_->put(kBucket, "object.bin", content_));
  }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
    s3_ = nullptr;
    dir_ = nullptr;
  }

  // The object on nginx too; no keys in the environment (each test says where they come from).
  void SetUp() override {
    itest::SharedOriginTest::SetUp();
    ASSERT_NE(env_, nullptr);
    itest::S3Client client;
    client.keys = false;
    ASSERT_TRUE(env_->prepare(client));
    ASSERT_TRUE(origin_->put("object.bin", content_));
  }

  void TearDown() override {
    for (const void* p : mappings_) munmap_s3(p);
  }

  // Maps `url`, reads its first and last pages (so the engine holds connections open for
  // more), and keeps the mapping until the test ends.
  void map_and_touch(const std::string& url) {
    size_t size = 0;
    int err = -1;
    const void* p = mmap_s3(url.c_str(), &size, &err);
    ASSERT_NE(p, MAP_FAILED) << url << ": " << describe_failure(err);
    mappings_.push_back(p);
    ASSERT_EQ(size, content_.size());
    const auto* bytes = static_cast<const uint8_t*>(p);
    EXPECT_EQ(std::memcmp(bytes, content_.data(), 4096), 0);
    EXPECT_EQ(std::memcmp(bytes + size - 100, content_.data() + size - 100, 100), 0);
  }

  static std::string s3_url() { return std::string("s3://") + kBucket + "/object.bin"; }

  static itest::S3TestEnvironment* env_;
  static TempDir* dir_;
  static S3Server* s3_;
  static std::string content_;
  std::vector<const void*> mappings_;
};

itest::S3TestEnvironment* Descriptors::env_ = nullptr;
TempDir* Descriptors::dir_ = nullptr;
S3Server* Descriptors::s3_ = nullptr;
std::string Descriptors::content_;

TEST_F(Descriptors, AProgramTheApplicationExecsHoldsNoneOfTheLibrarysDescriptors) {
  ASSERT_TRUE(mmapurl::testing::write_file(dir_->file("config"), ""));
  set_env("AWS_CONFIG_FILE", dir_->file("config"));
  set_env("AWS_ACCESS_KEY_ID", s3_->access_key_id());
  set_env("AWS_SECRET_ACCESS_KEY", s3_->secret_access_key());
  map_and_touch(origin_->url(true, "object.bin"));
  map_and_touch(origin_->url(false, "object.bin"));
  map_and_touch(s3_url());

  auto listing = listing_of_an_execd_child();
  ASSERT_TRUE(listing.has_value()) << "ls -l /proc/self/fd did not run";
  auto foreign = foreign_descriptors(*listing, false);
  EXPECT_TRUE(foreign.empty()) << "the exec'd child inherited:\n"
                               << joined(foreign) << "full listing:\n"
                               << *listing;
}

TEST_F(Descriptors, ACredentialProcessGetsOnlyItsStandardStreams) {
  // Connections of live mappings, and a descriptor of the application's without O_CLOEXEC.
  map_and_touch(origin_->url(true, "object.bin"));
  map_and_touch(origin_->url(false, "object.bin"));
  int inheritable = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(inheritable, 0);

  const std::string listing_file = dir_->file("credential-process-fds");
  const std::string json_file = dir_->file("credentials.json");
  ASSERT_TRUE(mmapurl::testing::write_file(
      json_file, "{\"Version\": 1, \"AccessKeyId\": \"" + s3_->access_key_id() +
                     "\", \"SecretAccessKey\": \"" + s3_->secret_access_key() + "\"}"));
  ASSERT_TRUE(mmapurl::testing::write_file(
      dir_->file("config"), "[default]\ncredential_process = /bin/sh -c 'ls -l /proc/self/fd > " +
                                listing_file + " && cat " + json_file + "'\n"));
  set_env("AWS_CONFIG_FILE", dir_->file("config"));
  map_and_touch(s3_url());
  ::close(inheritable);

  auto listing = mmapurl::testing::read_file(listing_file);
  ASSERT_TRUE(listing.has_value()) << "the credential_process did not run";
  // Strict: not even what this process inherited reaches the credential helper.
  auto foreign = foreign_descriptors(*listing, true);
  EXPECT_TRUE(foreign.empty()) << "the credential_process inherited:\n"
                               << joined(foreign) << "full listing:\n"
                               << *listing;
}

}  // namespace
