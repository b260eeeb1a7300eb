// A hostile or broken server, and failures inside the engine itself: each costs one mapping or
// one page, promptly and with a clear answer, never a hang of the caller or of other mappings.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <vector>

#include "core/test_hooks.hpp"
#include "embedded_server/embedded_server.hpp"
#include "fixtures/nginx_server.hpp"
#include "integration/fault_test_support.hpp"
#include "mmapurl.hpp"

namespace mmapurl::faulttest {
namespace {

using testserver::EmbeddedServer;
using testserver::ObjectSpec;
using testserver::ServerOptions;

constexpr uint64_t kObjectSize = (1 << 20) + 1000;
constexpr uint64_t kSeed = 0x4057;
constexpr uint64_t kOtherSeed = 0x0773;

void configure_engine_environment() {
  setenv("MMAPURL_RETRY_TIMEOUT", "2", 0);
  setenv("MMAPURL_IO_TIMEOUT", "1", 0);
  setenv("MMAPURL_PROBE_SIZE", "16K", 0);
  setenv("MMAPURL_RANDOM_FETCH", "16K", 0);
}

ServerOptions plain_server(std::vector<ObjectSpec> objects) {
  ServerOptions o;
  o.tls = false;
  o.objects = std::move(objects);
  return o;
}

struct Attempt {
  const void* addr = MAP_FAILED;
  size_t size = 0;
  int code = -1;
  int sys_errno = 0;
  std::string message;
  double seconds = 0;
};

Attempt try_map(const std::string& url) {
  Attempt a;
  const auto t0 = std::chrono::steady_clock::now();
  errno = 0;
  a.addr = mmap_s3(url.c_str(), &a.size, &a.code);
  a.sys_errno = errno;
  a.message = mmapurl_last_error_message();
  a.seconds = seconds_since(t0);
  return a;
}

// A size of 64 TiB (the server's Content-Range total) made the page table's allocation throw
// inside a completion handler, and mmap_s3 never returned.
TEST(HostileServer, AHugeSizeFailsTheMappingPromptly) {
  configure_engine_environment();
  EmbeddedServer server(plain_server({ObjectSpec{"/huge", 1ull << 46, kSeed, "\"h\"", ""},
                                      ObjectSpec{"/obj", kObjectSize, kOtherSeed, "\"o\"", ""}}));
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  Attempt huge;
  ASSERT_TRUE(
      run_with_timeout([&] { huge = try_map(server.url("/huge")); }, std::chrono::seconds(20)))
      << "mmap_s3 of a 64 TiB answer did not return";
  EXPECT_EQ(huge.addr, MAP_FAILED);
  EXPECT_EQ(huge.code, MMAP_S3_ERRNO);
  EXPECT_EQ(huge.sys_errno, EFBIG);
  EXPECT_NE(huge.message.find("MMAPURL_MAX_OBJECT_SIZE"), std::string::npos) << huge.message;
  EXPECT_LT(huge.seconds, 5.0);
  // The origin's connections are all free again: more mappings of it work.
  for (int i = 0; i < 20; ++i) {
    Mapping m(server.url("/obj"));
    ASSERT_TRUE(m.ok()) << m.error_string() << ": " << mmapurl_last_error_message();
    PageScan s = scan_pages(m.data(), m.size(), kOtherSeed, 200, 4);
    EXPECT_TRUE(s.all_right());
  }
}

// MMAPURL_MAX_OBJECT_SIZE lowers the bound (read once per process: a fresh one).
TEST(HostileServer, TheConfiguredMaximumRefusesLargerObjects) {
  if (itest::in_fresh_process()) {
    configure_engine_environment();
    EmbeddedServer server(plain_server({ObjectSpec{"/obj", kObjectSize, kSeed, "\"o\"", ""},
                                        ObjectSpec{"/small", 4096, kSeed, "\"s\"", ""}}));
    std::string err;
    ASSERT_TRUE(server.start(&err)) << err;
    Attempt a = try_map(server.url("/obj"));
    EXPECT_EQ(a.code, MMAP_S3_ERRNO) << a.message;
    EXPECT_EQ(a.sys_errno, EFBIG);
    Mapping small(server.url("/small"));
    EXPECT_TRUE(small.ok()) << mmapurl_last_error_message();
    return;
  }
  auto r =
      itest::run_in_fresh_process({{"MMAPURL_MAX_OBJECT_SIZE", "64K"}}, std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("[  PASSED  ] 1 test"), std::string::npos) << r.out << r.err;
}

// A staging buffer the kernel refuses (mmap failed) threw std::bad_alloc on the engine thread:
// the faulting thread slept for ever, and no later fault of any mapping was read.
TEST(HostileServer, AStagingBufferRefusedFailsTheTouchedPagesOnly) {
  configure_engine_environment();
  EmbeddedServer server(plain_server({ObjectSpec{"/obj", kObjectSize, kSeed, "\"o\"", ""},
                                      ObjectSpec{"/other", kObjectSize, kOtherSeed, "\"p\"", ""}}));
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  Mapping m(server.url("/obj"));
  ASSERT_TRUE(m.ok()) << m.error_string() << ": " << mmapurl_last_error_message();
  ASSERT_EQ(m.advise(0, m.size(), Advice::kRandom), 0);

  core::test_refuse_staging_buffers(1000);
  PageScan during;
  const bool returned = run_with_timeout(
      [&] { during = scan_pages(m.data(), m.size(), kSeed, 100, 2); }, std::chrono::seconds(20));
  core::test_refuse_staging_buffers(0);
  ASSERT_TRUE(returned) << "a touch waited for ever after a staging buffer was refused";
  EXPECT_TRUE(during.wrong_pages.empty());
  EXPECT_EQ(during.sigbus_pages.size(), 2u) << "the touched pages fail with SIGBUS";

  // The engine goes on: other pages of this mapping, and another mapping.
  PageScan later = scan_pages(m.data(), m.size(), kSeed, 200, 4);
  EXPECT_TRUE(later.all_right()) << describe_pages(later.sigbus_pages);
  Mapping other(server.url("/other"));
  ASSERT_TRUE(other.ok()) << mmapurl_last_error_message();
  PageScan all =
      scan_pages(other.data(), other.size(), kOtherSeed, 0, (kObjectSize + kPage - 1) / kPage);
  EXPECT_TRUE(all.all_right());
}

// The first range's staging refused: the open fails with ENOMEM instead of hanging.
TEST(HostileServer, AProbeBufferRefusedFailsTheOpen) {
  configure_engine_environment();
  EmbeddedServer server(plain_server({ObjectSpec{"/obj", kObjectSize, kSeed, "\"o\"", ""}}));
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  {
    Mapping warm(server.url("/obj"));  // the engine runs: the refusal meets the open itself
    ASSERT_TRUE(warm.ok());
  }
  // A large probe class no pooled buffer holds.
  core::test_refuse_staging_buffers(1);
  Attempt a;
  const bool returned =
      run_with_timeout([&] { a = try_map(server.url("/obj")); }, std::chrono::seconds(20));
  core::test_refuse_staging_buffers(0);
  ASSERT_TRUE(returned);
  EXPECT_EQ(a.code, MMAP_S3_ERRNO) << a.message;
  EXPECT_EQ(a.sys_errno, ENOMEM);
  Mapping again(server.url("/obj"));
  EXPECT_TRUE(again.ok()) << mmapurl_last_error_message();
}

// mmapurl_advise(p, huge, DONTNEED) wrapped addr + len and spun the engine for ever.
TEST(HostileServer, AnAdviceLengthThatWrapsIsRefused) {
  configure_engine_environment();
  EmbeddedServer server(plain_server({ObjectSpec{"/obj", kObjectSize, kSeed, "\"o\"", ""}}));
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  Mapping m(server.url("/obj"));
  ASSERT_TRUE(m.ok());
  for (int advice : {MMAPURL_ADVICE_DONTNEED, MMAPURL_ADVICE_WILLNEED}) {
    int rc = 0;
    ASSERT_TRUE(
        run_with_timeout([&] { rc = mmapurl_advise(m.data() + kPage, SIZE_MAX - 100, advice); },
                         std::chrono::seconds(10)))
        << "advice " << advice;
    EXPECT_EQ(rc, -1);
  }
  EXPECT_EQ(mmapurl_advise(m.data(), m.size() + 1, MMAPURL_ADVICE_DONTNEED), 0)
      << "the last page's tail is still the mapping's";
  EXPECT_EQ(mmapurl_advise(m.data(), ((kObjectSize + kPage - 1) / kPage) * kPage + 1,
                           MMAPURL_ADVICE_DONTNEED),
            -1);
  PageScan s = scan_pages(m.data(), m.size(), kSeed, 0, 8);
  EXPECT_TRUE(s.all_right());
}

// An https:// URL that redirects to http://: every range would travel in clear.
class TlsDowngrade : public ::testing::Test {
 protected:
  void SetUp() override {
    configure_engine_environment();
    docroot_ = testing::TempDir::create("mmapurl-downgrade", nullptr);
    ASSERT_TRUE(docroot_);
    ASSERT_TRUE(write_synthetic_file(docroot_->file("obj"), kSeed, kObjectSize));
    std::string err;
    nginx_ = testing::NginxServer::start(docroot_->path(), &err);
    ASSERT_TRUE(nginx_) << err;
    setenv("SSL_CERT_FILE", nginx_->ca_file().c_str(), 1);
    unsetenv("SSL_CERT_DIR");
  }
  std::unique_ptr<testing::TempDir> docroot_;
  std::unique_ptr<testing::NginxServer> nginx_;
};

TEST_F(TlsDowngrade, ARedirectFromHttpsToHttpIsRefusedNamingTheOptIn) {
  Attempt a = try_map(nginx_->https_url("/to-http/obj"));
  EXPECT_EQ(a.addr, MAP_FAILED);
  EXPECT_EQ(a.code, MMAP_S3_IOERROR);
  EXPECT_NE(a.message.find("https:// to http://"), std::string::npos) << a.message;
  EXPECT_NE(a.message.find("MMAPURL_ALLOW_TLS_DOWNGRADE"), std::string::npos) << a.message;
}

TEST_F(TlsDowngrade, RedirectsThatKeepOrRaiseTheProtectionAreFollowed) {
  Mapping same(nginx_->https_url("/redirect/obj"));
  EXPECT_TRUE(same.ok()) << mmapurl_last_error_message();
  Mapping up(nginx_->http_url("/to-https/obj"));
  ASSERT_TRUE(up.ok()) << mmapurl_last_error_message();
  EXPECT_TRUE(scan_pages(up.data(), up.size(), kSeed, 0, 16).all_right());
}

// The documented opt-in, in a fresh process (the engine reads it once).
TEST_F(TlsDowngrade, WithTheOptInARedirectFromHttpsToHttpIsFollowed) {
  if (itest::in_fresh_process()) {
    Mapping m(nginx_->https_url("/to-http/obj"));
    ASSERT_TRUE(m.ok()) << mmapurl_last_error_message();
    EXPECT_TRUE(scan_pages(m.data(), m.size(), kSeed, 0, 16).all_right());
    return;
  }
  auto r =
      itest::run_in_fresh_process({{"MMAPURL_ALLOW_TLS_DOWNGRADE", "1"}}, std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("[  PASSED  ] 1 test"), std::string::npos) << r.out << r.err;
}

}  // namespace
}  // namespace mmapurl::faulttest
