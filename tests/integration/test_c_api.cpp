// The three-call C API against a real nginx: every MMAP_S3_* error a caller can meet, NULL
// outputs, unknown pointers, empty objects and many threads mapping at once.
#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <latch>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fixtures/nginx_server.hpp"
#include "fixtures/process.hpp"
#include "fixtures/test_cert.hpp"
#include "integration/mapping_test_support.hpp"
#include "mmapurl.h"
#include "mmapurl_ext.h"

namespace {

namespace itest = mmapurl::itest;
constexpr size_t kMiB = 1 << 20;

using itest::describe_failure;

// Maps `url`, expecting failure; returns the error code (or -1000 if it mapped).
int map_error(const char* url) {
  size_t sz = 777;
  int err = -1;
  const void* p = mmap_s3(url, &sz, &err);
  if (p != itest::kMapFailed) {
    munmap_s3(p);
    return -1000;
  }
  return err;
}

class CApi : public ::testing::Test {
 protected:
  void SetUp() override {
    // Same values in every test of this executable: the engine reads them once per process.
    // Short budgets so a refused connection fails in seconds, not the default 30 s.
    itest::set_env("MMAPURL_RETRY_TIMEOUT", "5");
    itest::set_env("MMAPURL_IO_TIMEOUT", "5");
    std::string error;
    origin_ = itest::SharedOrigin::get(&error);
    ASSERT_NE(origin_, nullptr) << error;
    itest::set_client_environment(origin_->nginx().ca_file());
  }
  itest::SharedOrigin* origin_ = nullptr;
};

TEST_F(CApi, MissingObjectIsNotFound) {
  for (bool https : {false, true}) {
    const std::string url = origin_->url(https, "no/such/object");
    EXPECT_EQ(map_error(url.c_str()), MMAP_S3_NOT_FOUND) << url;
    EXPECT_NE(std::string(mmapurl_last_error_message()), "") << url;
  }
}

TEST_F(CApi, ForbiddenAndUnauthorizedArePermissionErrors) {
  for (bool https : {false, true}) {
    for (const char* path : {"forbidden/x", "unauthorized/x"}) {
      const std::string url = origin_->url(https, path);
      EXPECT_EQ(map_error(url.c_str()), MMAP_S3_PERMISSION_ERROR) << url;
    }
  }
}

TEST_F(CApi, MalformedUrlsAreInvalid) {
  EXPECT_EQ(map_error(nullptr), MMAP_S3_INVALID_S3URL);
  const std::string host = "127.0.0.1:" + std::to_string(origin_->nginx().http_port());
  ASSERT_TRUE(origin_->put("a", "some bytes"));
  const std::vector<std::string> urls = {
      "",
      "https://",
      "http://",
      "https:///a",
      "http:///a",
      "https://" + host,
      "http://" + host,
      "ftp://" + host + "/a",
      "file:///etc/passwd",
      host + "/a",
      "not a url",
      "http://" + host + "/a\r\nX-Injected: 1",
      "http://" + host + "/a\nb",
      std::string("http://") + host + "/a\x01" + "b",
      std::string("http://") + host + "/a\x7f",
      "s3://",
      "s3://bucket",
      "s3://bucket/",
      "s3:///key",
  };
  for (const std::string& url : urls) {
    int err = map_error(url.c_str());
    EXPECT_EQ(err, MMAP_S3_INVALID_S3URL) << "URL \"" << url << "\" gave " << err;
  }
}

TEST_F(CApi, RefusedConnectionIsAnIoError) {
  const uint16_t port = mmapurl::testing::free_tcp_port();
  ASSERT_NE(port, 0);
  for (const char* scheme : {"http", "https"}) {
    const std::string url = std::string(scheme) + "://127.0.0.1:" + std::to_string(port) + "/x";
    EXPECT_EQ(map_error(url.c_str()), MMAP_S3_IOERROR) << url;
  }
}

TEST(CApiTls, UntrustedCertificateIsAnIoError) {
  if (!itest::in_fresh_process()) {
    EXPECT_TRUE(itest::run_current_test_in_fresh_process(std::chrono::seconds(90)));
    return;
  }
  std::string error;
  auto dir = itest::TempDir::create("mmapurl-itest-untrusted", &error);
  ASSERT_TRUE(dir) << error;
  mmapurl::testing::TestCertFiles unrelated;
  ASSERT_TRUE(mmapurl::testing::generate_test_certificates(dir->path(), &unrelated, &error))
      << error;
  auto nginx = mmapurl::testing::NginxServer::start(dir->path(), &error);
  ASSERT_TRUE(nginx) << error;
  ASSERT_TRUE(mmapurl::testing::write_file(dir->file("obj"), itest::random_bytes(5000, 5)));
  // Before the process's first mmap_s3: the engine trusts only this unrelated CA.
  itest::set_env("MMAPURL_RETRY_TIMEOUT", "5");
  itest::set_env("MMAPURL_IO_TIMEOUT", "5");
  itest::set_client_environment(unrelated.ca_cert);
  EXPECT_EQ(map_error(nginx->https_url("/obj").c_str()), MMAP_S3_IOERROR);
  // The same object over plain HTTP maps: the refusal was about trust, not the server.
  size_t sz = 0;
  int err = -1;
  const void* p = mmap_s3(nginx->http_url("/obj").c_str(), &sz, &err);
  ASSERT_NE(p, itest::kMapFailed) << describe_failure(err);
  EXPECT_EQ(sz, 5000u);
  EXPECT_EQ(munmap_s3(p), 0);
}

// A certificate from a trusted CA but for other names is refused as untrusted; the name the
// certificate is for maps. `refused` and `accepted` are URL prefixes: scheme, host and port.
void expect_only_the_certified_name_maps(const std::string& alt_names, const std::string& refused,
                                         const std::string& accepted) {
  std::string error;
  auto dir = itest::TempDir::create("mmapurl-itest-names", &error);
  ASSERT_TRUE(dir) << error;
  auto nginx = mmapurl::testing::NginxServer::start(dir->path(), &error, alt_names);
  ASSERT_TRUE(nginx) << error;
  const std::string content = itest::random_bytes(70000, 6);
  ASSERT_TRUE(mmapurl::testing::write_file(dir->file("obj"), content));
  // Before the process's first mmap_s3: the engine trusts only this server's CA.
  itest::set_env("MMAPURL_RETRY_TIMEOUT", "5");
  itest::set_env("MMAPURL_IO_TIMEOUT", "5");
  itest::set_client_environment(nginx->ca_file());
  const std::string port = std::to_string(nginx->https_port());
  EXPECT_EQ(map_error((refused + ":" + port + "/obj").c_str()), MMAP_S3_IOERROR);
  EXPECT_NE(std::string(mmapurl_last_error_message()).find("not trusted"), std::string::npos)
      << mmapurl_last_error_message();
  size_t sz = 0;
  int err = -1;
  const void* p = mmap_s3((accepted + ":" + port + "/obj").c_str(), &sz, &err);
  ASSERT_NE(p, itest::kMapFailed) << describe_failure(err);
  ASSERT_EQ(sz, content.size());
  EXPECT_EQ(itest::first_mismatch(static_cast<const uint8_t*>(p), sz, content), std::string::npos);
  EXPECT_EQ(munmap_s3(p), 0);
}

TEST(CApiTls, CertificateForAHostNameOnlyRefusesTheIpAddress) {
  if (!itest::in_fresh_process()) {
    EXPECT_TRUE(itest::run_current_test_in_fresh_process(std::chrono::seconds(90)));
    return;
  }
  expect_only_the_certified_name_maps("DNS:localhost", "https://127.0.0.1", "https://localhost");
}

TEST(CApiTls, CertificateForOtherHostNamesRefusesThisOne) {
  if (!itest::in_fresh_process()) {
    EXPECT_TRUE(itest::run_current_test_in_fresh_process(std::chrono::seconds(90)));
    return;
  }
  expect_only_the_certified_name_maps("IP:127.0.0.1,DNS:other.example", "https://localhost",
                                      "https://127.0.0.1");
}

TEST(CApiErrstr, DistinctNonEmptyStringsForEveryCode) {
  std::set<std::string> seen;
  for (int code = 0; code <= 8; ++code) {
    const char* s = mmap_s3_errstr(code);
    ASSERT_NE(s, nullptr) << code;
    EXPECT_STRNE(s, "") << code;
    EXPECT_TRUE(seen.insert(s).second) << "code " << code << " repeats \"" << s << "\"";
  }
  for (int code : {-1, 9, 1000}) {
    const char* s = mmap_s3_errstr(code);
    ASSERT_NE(s, nullptr) << code;
    EXPECT_STRNE(s, "") << code;
  }
}

TEST_F(CApi, SizeAndErrorOutputsMayBeNull) {
  const std::string content = itest::random_bytes(70000, 70);
  ASSERT_TRUE(origin_->put("nullable", content));
  const void* p = mmap_s3(origin_->url(true, "nullable").c_str(), nullptr, nullptr);
  ASSERT_NE(p, itest::kMapFailed) << mmapurl_last_error_message();
  EXPECT_EQ(std::memcmp(p, content.data(), content.size()), 0);
  EXPECT_EQ(munmap_s3(p), 0);
  EXPECT_EQ(mmap_s3(origin_->url(true, "nullable-missing").c_str(), nullptr, nullptr),
            itest::kMapFailed);
  EXPECT_EQ(mmap_s3(nullptr, nullptr, nullptr), itest::kMapFailed);
  size_t sz = 0;
  EXPECT_EQ(mmap_s3("ftp://x/y", &sz, nullptr), itest::kMapFailed);
  int err = -1;
  EXPECT_EQ(mmap_s3("ftp://x/y", nullptr, &err), itest::kMapFailed);
  EXPECT_EQ(err, MMAP_S3_INVALID_S3URL);
}

TEST_F(CApi, UnmappingAPointerNotReturnedByMmapS3Fails) {
  int on_stack = 0;
  std::vector<char> on_heap(100);
  EXPECT_EQ(munmap_s3(nullptr), -1);
  EXPECT_EQ(munmap_s3(itest::kMapFailed), -1);
  EXPECT_EQ(munmap_s3(&on_stack), -1);
  EXPECT_EQ(munmap_s3(on_heap.data()), -1);

  const std::string content = itest::random_bytes(3 * 4096, 3);
  ASSERT_TRUE(origin_->put("unmap-twice", content));
  size_t sz = 0;
  int err = -1;
  const void* p = mmap_s3(origin_->url(false, "unmap-twice").c_str(), &sz, &err);
  ASSERT_NE(p, itest::kMapFailed) << describe_failure(err);
  EXPECT_EQ(munmap_s3(static_cast<const char*>(p) + 4096), -1);  // inside, not the start
  EXPECT_EQ(std::memcmp(p, content.data(), content.size()), 0);  // still mapped
  EXPECT_EQ(munmap_s3(p), 0);
  EXPECT_EQ(munmap_s3(p), -1);  // already unmapped
}

TEST_F(CApi, EmptyObjectMapsWithSizeZero) {
  ASSERT_TRUE(origin_->put("empty", ""));
  for (bool https : {false, true}) {
    size_t sz = 99;
    int err = -1;
    const void* p = mmap_s3(origin_->url(https, "empty").c_str(), &sz, &err);
    ASSERT_NE(p, itest::kMapFailed) << describe_failure(err);
    EXPECT_EQ(err, MMAP_S3_OK);
    EXPECT_EQ(sz, 0u);
    EXPECT_EQ(munmap_s3(p), 0);
    EXPECT_EQ(munmap_s3(p), -1);
  }
}

TEST_F(CApi, EightThreadsMapDifferentObjectsAtOnce) {
  constexpr int kThreads = 8;
  std::vector<std::string> contents;
  for (int t = 0; t < kThreads; ++t) {
    contents.push_back(itest::random_bytes((t + 1) * kMiB + 1234 * t, 800 + t));
    ASSERT_TRUE(origin_->put("concurrent-" + std::to_string(t), contents.back()));
  }
  std::latch start(kThreads);
  std::vector<std::string> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string url = origin_->url(t % 2 == 0, "concurrent-" + std::to_string(t));
      start.arrive_and_wait();
      size_t sz = 0;
      int err = -1;
      const void* p = mmap_s3(url.c_str(), &sz, &err);
      if (p == itest::kMapFailed) {
        failures[t] = url + ": " + mmap_s3_errstr(err) + ": " + mmapurl_last_error_message();
        return;
      }
      size_t at = itest::first_mismatch(static_cast<const uint8_t*>(p), sz, contents[t]);
      if (at != std::string::npos) failures[t] = url + ": wrong byte at " + std::to_string(at);
      if (munmap_s3(p) != 0) failures[t] += " munmap_s3 failed";
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], "") << "thread " << t;
}

}  // namespace
