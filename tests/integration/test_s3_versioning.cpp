// Versioned buckets, against s3rver behind the SigV4-verifying proxy playing a versioned bucket
// (s3rver 3.7.1 keeps no versions; the proxy keeps every version PUT through it and honours
// ?versionId= as S3 does). The mapping pins the version its probe saw: every later ranged GET
// names it, so an object replaced after mapping keeps reading as the mapped version, and once
// that version is gone, unfetched pages raise SIGBUS: never the new object's bytes.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>
#include <string>
#include <vector>

#include "fixtures/process.hpp"
#include "fixtures/s3_server.hpp"
#include "integration/fault_test_support.hpp"
#include "integration/mapping_test_support.hpp"
#include "integration/s3_test_support.hpp"
#include "mmapurl.h"
#include "mmapurl_ext.h"

namespace {

using mmapurl::itest::describe_failure;
using mmapurl::itest::random_bytes;
using mmapurl::itest::S3TestEnvironment;
using mmapurl::itest::set_env;
using mmapurl::itest::unset_env;
using mmapurl::testing::S3ProxyRequest;
using mmapurl::testing::S3Server;
using mmapurl::testing::TempDir;

const char* const kBucket = "mmapurl-versioned";
constexpr size_t kPage = 4096;
constexpr size_t kObjectSize = 8 * 1024 * 1024 + 123;

class S3Versioning : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string error;
    s3_ = S3TestEnvironment::start("mmapurl-s3-versioning", {kBucket}, &error).release();
    ASSERT_NE(s3_, nullptr) << error;
    server_ = &s3_->server();
    dir_ = &s3_->dir();
    ASSERT_TRUE(server_->set_versioned_buckets({kBucket}));
  }
  static void TearDownTestSuite() {
    delete s3_;
    s3_ = nullptr;
    server_ = nullptr;
    dir_ = nullptr;
  }

  // The server's keys and region, empty AWS files.
  void SetUp() override {
    ASSERT_NE(s3_, nullptr);
    ASSERT_TRUE(s3_->prepare());
  }

  // Uploads with awscli; the version id S3 (here: the proxy) gave the upload, "" on failure.
  static std::string put_version(const std::string& key, const std::string& content) {
    std::string path = dir_->file("upload.bin");
    EXPECT_TRUE(mmapurl::testing::write_file(path, content));
    auto result =
        server_->aws({"s3api", "put-object", "--bucket", kBucket, "--key", key, "--body", path});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    const std::string field = "\"VersionId\": \"";
    size_t at = result.out.find(field);
    if (at == std::string::npos) {
      ADD_FAILURE() << "no VersionId in: " << result.out;
      return "";
    }
    at += field.size();
    return result.out.substr(at, result.out.find('"', at) - at);
  }

  static std::string url(const std::string& key) {
    return std::string("s3://") + kBucket + "/" + key;
  }

  // The proxy's GETs of `key`, from log line `from` on.
  static std::vector<S3ProxyRequest> gets_of(const std::string& key, size_t from) {
    std::vector<S3ProxyRequest> out;
    auto log = server_->request_log();
    std::string path = std::string("/") + kBucket + "/" + key;
    for (size_t i = from; i < log.size(); ++i) {
      const auto& target = log[i].target;
      if (log[i].method == "GET" && target.substr(0, target.find('?')) == path) {
        out.push_back(log[i]);
      }
    }
    return out;
  }

  static std::string describe(const std::vector<S3ProxyRequest>& requests) {
    std::string out;
    for (const auto& r : requests) out += r.method + " " + r.target + " " + r.outcome + "\n";
    return out;
  }

  // Maps `key` with random-access advice (fetches only what is touched).
  static const uint8_t* map_random(const std::string& key, size_t* size) {
    int err = -1;
    const void* p = mmap_s3(url(key).c_str(), size, &err);
    EXPECT_NE(p, MAP_FAILED) << describe_failure(err);
    if (p == MAP_FAILED) return nullptr;
    EXPECT_EQ(mmapurl_advise(p, *size, MMAPURL_ADVICE_RANDOM), 0);
    return static_cast<const uint8_t*>(p);
  }

  static S3TestEnvironment* s3_;
  static S3Server* server_;
  static TempDir* dir_;
};

S3TestEnvironment* S3Versioning::s3_ = nullptr;
S3Server* S3Versioning::server_ = nullptr;
TempDir* S3Versioning::dir_ = nullptr;

// The probe (the first GET) names no version; it learns x-amz-version-id, and every GET after it
// carries ?versionId= with exactly that id.
TEST_F(S3Versioning, RangedGetsArePinnedToTheVersionSeenAtProbeTime) {
  std::string content = random_bytes(kObjectSize, 1);
  std::string version = put_version("pinned.bin", content);
  ASSERT_FALSE(version.empty());
  size_t log_start = server_->request_log().size();
  size_t size = 0;
  int err = -1;
  const void* p = mmap_s3(url("pinned.bin").c_str(), &size, &err);
  ASSERT_NE(p, MAP_FAILED) << describe_failure(err);
  ASSERT_EQ(size, content.size());
  EXPECT_EQ(std::memcmp(p, content.data(), size), 0);
  EXPECT_EQ(munmap_s3(p), 0);

  auto gets = gets_of("pinned.bin", log_start);
  ASSERT_GE(gets.size(), 2u) << describe(gets);
  EXPECT_EQ(gets[0].target.find('?'), std::string::npos) << describe(gets);
  for (size_t i = 1; i < gets.size(); ++i) {
    EXPECT_NE(gets[i].target.find("?versionId=" + version), std::string::npos) << describe(gets);
  }
  for (const auto& get : gets) EXPECT_EQ(get.outcome, "local-206") << describe(gets);
}

// An empty version: the probe's range is refused (416 InvalidRange, as S3 answers) and the
// size comes from a HEAD of the current version, which the proxy serves with its version id.
TEST_F(S3Versioning, EmptyVersionMapsWithSizeZero) {
  ASSERT_FALSE(put_version("empty.bin", "").empty());
  size_t log_start = server_->request_log().size();
  size_t size = 99;
  int err = -1;
  const void* p = mmap_s3(url("empty.bin").c_str(), &size, &err);
  ASSERT_NE(p, MAP_FAILED) << describe_failure(err);
  EXPECT_EQ(size, 0u);
  EXPECT_EQ(err, MMAP_S3_OK);
  EXPECT_EQ(munmap_s3(p), 0);
  auto log = server_->request_log();
  std::vector<S3ProxyRequest> seen(log.begin() + static_cast<std::ptrdiff_t>(log_start), log.end());
  ASSERT_EQ(seen.size(), 2u) << describe(seen);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].outcome, "local-416") << describe(seen);
  EXPECT_EQ(seen[1].method, "HEAD");
  EXPECT_EQ(seen[1].outcome, "local-200") << describe(seen);
}

// Replaced after mapping: S3 still serves the mapped version by its id, so every page reads as
// the object that was mapped, whether fetched before or after the replacement.
TEST_F(S3Versioning, ReplacedObjectKeepsReadingTheMappedVersion) {
  std::string old_content = random_bytes(kObjectSize, 2);
  std::string old_version = put_version("replaced.bin", old_content);
  ASSERT_FALSE(old_version.empty());
  size_t size = 0;
  const uint8_t* p = map_random("replaced.bin", &size);
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(size, old_content.size());
  EXPECT_EQ(std::memcmp(p + 100 * kPage, old_content.data() + 100 * kPage, kPage), 0);

  size_t log_start = server_->request_log().size();
  std::string new_content = random_bytes(kObjectSize, 3);
  std::string new_version = put_version("replaced.bin", new_content);
  ASSERT_FALSE(new_version.empty());
  ASSERT_NE(new_version, old_version);

  // Read the rest with readahead (fewer, larger GETs), all after the replacement.
  EXPECT_EQ(mmapurl_advise(p, size, MMAPURL_ADVICE_SEQUENTIAL), 0);
  EXPECT_EQ(mmapurl::itest::first_mismatch(p, size, old_content), std::string::npos);
  EXPECT_EQ(munmap_s3(p), 0);
  auto gets = gets_of("replaced.bin", log_start);
  ASSERT_FALSE(gets.empty());
  for (const auto& get : gets) {
    EXPECT_NE(get.target.find("?versionId=" + old_version), std::string::npos) << describe(gets);
  }
}

// MMAPURL_CACHE_KEEP=1 over S3: the next mapping of the same version reads the kept file (the
// probe is its only GET); a new version of the same size starts it empty and reads the new bytes.
TEST_F(S3Versioning, AKeptCacheServesTheSameVersionAndDropsForANewOne) {
  const std::string before = random_bytes(kObjectSize, 4);
  if (!mmapurl::itest::in_fresh_process()) {  // the engine reads its configuration once
    std::string error;
    auto cache = TempDir::create("mmapurl-s3-kept-cache", &error);
    ASSERT_NE(cache, nullptr) << error;
    set_env("MMAPURL_CACHE_DIR", cache->path());
    set_env("MMAPURL_CACHE_KEEP", "1");
    EXPECT_TRUE(mmapurl::itest::run_current_test_in_fresh_process());
    unset_env("MMAPURL_CACHE_DIR");
    unset_env("MMAPURL_CACHE_KEEP");
    return;
  }
  // In the child, with its own s3rver.
  ASSERT_FALSE(put_version("kept.bin", before).empty());
  size_t size = 0;
  int err = -1;
  const void* p = mmap_s3(url("kept.bin").c_str(), &size, &err);
  ASSERT_NE(p, MAP_FAILED) << describe_failure(err);
  ASSERT_EQ(mmapurl::itest::first_mismatch(static_cast<const uint8_t*>(p), size, before),
            std::string::npos);
  EXPECT_EQ(munmap_s3(p), 0);

  size_t log_start = server_->request_log().size();
  p = mmap_s3(url("kept.bin").c_str(), &size, &err);
  ASSERT_NE(p, MAP_FAILED) << describe_failure(err);
  ASSERT_EQ(mmapurl::itest::first_mismatch(static_cast<const uint8_t*>(p), size, before),
            std::string::npos);
  EXPECT_EQ(munmap_s3(p), 0);
  auto gets = gets_of("kept.bin", log_start);
  EXPECT_EQ(gets.size(), 1u) << "the probe only:\n" << describe(gets);

  const std::string after = random_bytes(kObjectSize, 5);
  ASSERT_FALSE(put_version("kept.bin", after).empty());
  log_start = server_->request_log().size();
  p = mmap_s3(url("kept.bin").c_str(), &size, &err);
  ASSERT_NE(p, MAP_FAILED) << describe_failure(err);
  ASSERT_EQ(mmapurl::itest::first_mismatch(static_cast<const uint8_t*>(p), size, after),
            std::string::npos)
      << "the new version's bytes";
  EXPECT_EQ(munmap_s3(p), 0);
  EXPECT_GT(gets_of("kept.bin", log_start).size(), 1u) << "fetched anew";
}

// The mapped version deleted after the object was replaced: pages fetched before still read the
// old bytes, pages not fetched yet raise SIGBUS (404 NoSuchVersion), and no page ever shows the
// new object's bytes.
TEST_F(S3Versioning, DeletedVersionGivesSigbusNeverTheNewBytes) {
  std::string old_content = random_bytes(kObjectSize, 4);
  std::string old_version = put_version("deleted.bin", old_content);
  ASSERT_FALSE(old_version.empty());
  size_t size = 0;
  const uint8_t* p = map_random("deleted.bin", &size);
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(size, old_content.size());
  const std::vector<size_t> touched = {0, 1000, 1500};
  for (size_t page : touched) {
    ASSERT_EQ(std::memcmp(p + page * kPage, old_content.data() + page * kPage, kPage), 0);
  }

  std::string new_content = random_bytes(kObjectSize, 5);
  ASSERT_FALSE(put_version("deleted.bin", new_content).empty());
  auto deleted = server_->aws({"s3api", "delete-object", "--bucket", kBucket, "--key",
                               "deleted.bin", "--version-id", old_version});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;

  mmapurl::faulttest::install_sigbus_handler();
  size_t pages = (size + kPage - 1) / kPage;
  std::vector<size_t> sigbus, old_pages, wrong;
  std::vector<uint8_t> buffer(kPage);
  for (size_t page = 0; page < pages; ++page) {
    size_t n = std::min(kPage, size - page * kPage);
    if (!mmapurl::faulttest::touch_page(p + page * kPage, buffer.data(), n, nullptr)) {
      sigbus.push_back(page);
    } else if (std::memcmp(buffer.data(), old_content.data() + page * kPage, n) == 0) {
      old_pages.push_back(page);
    } else {
      wrong.push_back(page);
    }
  }
  EXPECT_TRUE(wrong.empty()) << "pages with other bytes than the mapped version: "
                             << mmapurl::faulttest::describe_pages(wrong);
  EXPECT_FALSE(sigbus.empty()) << "every page was fetched before the version was deleted";
  for (size_t page : touched) {
    EXPECT_NE(std::find(old_pages.begin(), old_pages.end(), page), old_pages.end())
        << "page " << page << " was read before the deletion";
  }
  EXPECT_EQ(munmap_s3(p), 0);
  bool saw_no_such_version = false;
  for (const auto& get : gets_of("deleted.bin", 0)) {
    saw_no_such_version |= get.outcome == "rejected-NoSuchVersion";
  }
  EXPECT_TRUE(saw_no_such_version);
}

}  // namespace
