// mmapurl_read: copies a range of a mapping like pread(2), fetching what is missing, and returns
// an error where a page failed instead of raising SIGBUS in the caller.
#include <gtest/gtest.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "embedded_server/embedded_server.hpp"
#include "integration/fault_test_support.hpp"
#include "mmapurl.hpp"

namespace mmapurl::faulttest {
namespace {

using testserver::EmbeddedServer;
using testserver::Fault;
using testserver::ObjectSpec;
using testserver::ServerOptions;

constexpr uint64_t kObjectSize = (1 << 20) + 1000;  // 257 pages, the last one partial
constexpr uint64_t kSeed = 0x5afe;

void configure_engine_environment() {
  setenv("MMAPURL_RETRY_TIMEOUT", "2", 0);
  setenv("MMAPURL_IO_TIMEOUT", "1", 0);
  setenv("MMAPURL_PROBE_SIZE", "16K", 0);
  setenv("MMAPURL_RANDOM_FETCH", "16K", 0);
}

ServerOptions plain_server() {
  ServerOptions o;
  o.tls = false;
  o.objects.push_back(ObjectSpec{"/obj", kObjectSize, kSeed, "\"v1\"", ""});
  return o;
}

// Each test reads object /obj of its own embedded server, with the small budgets above.
class SafeRead : public ::testing::Test {
 protected:
  void SetUp() override {
    configure_engine_environment();
    server_ = std::make_unique<EmbeddedServer>(plain_server());
    std::string err;
    ASSERT_TRUE(server_->start(&err)) << err;
  }
  std::string url() const { return server_->url("/obj"); }
  std::unique_ptr<EmbeddedServer> server_;
};

bool right_bytes(uint64_t offset, const std::vector<uint8_t>& buf, size_t n) {
  return testserver::check_synthetic(kSeed, offset, buf.data(), n, nullptr);
}

TEST_F(SafeRead, ReadsTheWholeObjectAndStopsAtItsEnd) {
  Mapping m(url());
  ASSERT_TRUE(m.ok()) << m.error_string() << ": " << mmapurl_last_error_message();

  // Nothing touched yet: the read fetches every page itself.
  std::vector<uint8_t> all(kObjectSize + 5000);
  ASSERT_EQ(m.read(0, all.data(), all.size()), static_cast<ssize_t>(kObjectSize));
  EXPECT_TRUE(right_bytes(0, all, kObjectSize));

  // A range crossing the end gets the bytes up to it; at the end, 0 (end of object).
  std::vector<uint8_t> tail(8192);
  ASSERT_EQ(m.read(kObjectSize - 100, tail.data(), tail.size()), 100);
  EXPECT_TRUE(testserver::check_synthetic(kSeed, kObjectSize - 100, tail.data(), 100, nullptr));
  EXPECT_EQ(m.read(kObjectSize, tail.data(), tail.size()), 0);
  EXPECT_EQ(m.read(kObjectSize + 10, tail.data(), tail.size()), 0);
  // Unaligned, inside a page.
  std::vector<uint8_t> mid(3000);
  ASSERT_EQ(m.read(123457, mid.data(), mid.size()), 3000);
  EXPECT_TRUE(testserver::check_synthetic(kSeed, 123457, mid.data(), 3000, nullptr));
}

TEST_F(SafeRead, AnAddressOutsideAnyMappingIsEinval) {
  std::vector<uint8_t> buf(4096);
  errno = 0;
  EXPECT_EQ(mmapurl_read(buf.data(), buf.data(), 16), -1);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(mmapurl_read(nullptr, buf.data(), 16), -1);
  EXPECT_EQ(errno, EINVAL);

  const void* gone = nullptr;
  {
    Mapping m(url());
    ASSERT_TRUE(m.ok()) << m.error_string() << ": " << mmapurl_last_error_message();
    gone = m.data();
    // A length that wraps the address space is refused, not wrapped.
    errno = 0;
    EXPECT_EQ(mmapurl_read(m.data(), buf.data(), SIZE_MAX), -1);
    EXPECT_EQ(errno, EINVAL);
  }
  errno = 0;
  EXPECT_EQ(mmapurl_read(gone, buf.data(), 16), -1) << "an unmapped mapping's address";
  EXPECT_EQ(errno, EINVAL);
}

TEST_F(SafeRead, AFailedPageInTheMiddleEndsTheReadThenIsEio) {
  Mapping m(url());
  ASSERT_TRUE(m.ok()) << m.error_string() << ": " << mmapurl_last_error_message();
  ASSERT_EQ(m.advise(0, m.size(), Advice::kRandom), 0);

  // Pages 120..127 arrive before the server fails every request.
  constexpr size_t kFirst = 120, kGood = 8, kAsked = 16;
  std::vector<uint8_t> buf(kAsked * kPage);
  ASSERT_EQ(m.read(kFirst * kPage, buf.data(), kGood * kPage), static_cast<ssize_t>(kGood * kPage));
  server_->set_fault(Fault::kStatus500, -1, "/obj");

  // What lies before the failed page is returned; the read stops there without a signal.
  const auto t0 = std::chrono::steady_clock::now();
  const ssize_t n = m.read(kFirst * kPage, buf.data(), buf.size());
  EXPECT_EQ(n, static_cast<ssize_t>(kGood * kPage));
  EXPECT_TRUE(right_bytes(kFirst * kPage, buf, kGood * kPage));
  // A read that starts at the failed page is an error, EIO, as pread on a bad block is.
  errno = 0;
  EXPECT_EQ(m.read((kFirst + kGood) * kPage, buf.data(), kPage), -1);
  EXPECT_EQ(errno, EIO);
  EXPECT_LT(seconds_since(t0), 10.0) << "bounded by the retry budget";
  server_->clear_faults();

  // The failure is the page's, as a touch sees it: SIGBUS there, and it stays failed.
  PageScan touched = scan_pages(m.data(), m.size(), kSeed, kFirst + kGood, 1);
  EXPECT_EQ(touched.sigbus_pages.size(), 1u);
  EXPECT_GE(m.stats().failed_pages, 1u);
  // Pages elsewhere still read right, through either way.
  std::vector<uint8_t> later(4 * kPage);
  ASSERT_EQ(m.read(200 * kPage, later.data(), later.size()), static_cast<ssize_t>(later.size()));
  EXPECT_TRUE(right_bytes(200 * kPage, later, later.size()));
}

TEST_F(SafeRead, ManyThreadsReadOneMappingAtOnce) {
  Mapping m(url());
  ASSERT_TRUE(m.ok()) << m.error_string() << ": " << mmapurl_last_error_message();
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::vector<uint8_t> buf(20000);
      for (uint64_t off = t * 7919; off + buf.size() <= kObjectSize; off += 65536 + t * 4096) {
        if (m.read(off, buf.data(), buf.size()) != static_cast<ssize_t>(buf.size()) ||
            !right_bytes(off, buf, buf.size())) {
          ++wrong;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace mmapurl::faulttest
