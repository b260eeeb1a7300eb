// What a long-running service can rely on once idle: the connections of origins no mapping uses
// are closed, and nothing is left behind per mapping or per origin.
#include <dirent.h>
#include <gtest/gtest.h>
#include <malloc.h>

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "embedded_server/embedded_server.hpp"
#include "integration/fault_test_support.hpp"
#include "mmapurl.hpp"

namespace mmapurl::faulttest {
namespace {

using testing::NginxOptions;
using testing::NginxServer;
using testserver::EmbeddedServer;
using testserver::ObjectSpec;
using testserver::ServerOptions;

constexpr uint64_t kSize = 256 * 1024 + 10;
constexpr uint64_t kSeed = 0x1d1e;
constexpr int kOrigins = 24;

size_t open_descriptors() {
  size_t n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d)) ++n;
    closedir(d);
  }
  return n;
}

TEST(IdleRelease, ConnectionsOfOriginsNoMappingUsesAreClosed) {
  if (!itest::in_fresh_process()) {
    EXPECT_TRUE(itest::run_current_test_in_fresh_process(std::chrono::seconds(120),
                                                         {{"MMAPURL_IDLE_RELEASE", "1"}}));
    return;
  }
  std::vector<std::unique_ptr<EmbeddedServer>> servers;
  for (int i = 0; i < kOrigins; ++i) {
    ServerOptions o;
    o.tls = false;
    o.objects.push_back(ObjectSpec{"/o", kSize, kSeed + i, "\"v\"", ""});
    servers.push_back(std::make_unique<EmbeddedServer>(o));
    std::string err;
    ASSERT_TRUE(servers.back()->start(&err)) << err;
  }
  // One mapping keeps its origin in use; the rest are mapped, read and unmapped.
  Mapping kept(servers[0]->url("/o"));
  ASSERT_TRUE(kept.ok()) << mmapurl_last_error_message();
  const size_t fds_with_one = open_descriptors();
  for (int i = 1; i < kOrigins; ++i) {
    Mapping m(servers[i]->url("/o"));
    ASSERT_TRUE(m.ok()) << i << ": " << mmapurl_last_error_message();
    EXPECT_TRUE(scan_pages(m.data(), m.size(), kSeed + i, 0, 64).all_right()) << i;
  }
  // Idle for a little over MMAPURL_IDLE_RELEASE (1 s): only the kept mapping's origin keeps its
  // connection (without the release, every origin kept one: 24).
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  Stats idle;
  ASSERT_EQ(mmapurl_stats_get(nullptr, &idle), 0);
  EXPECT_GE(idle.connections, 1u) << "the origin a mapping uses keeps its connection";
  EXPECT_LE(idle.connections, 2u) << "connections left open to origins no mapping uses";
  EXPECT_LE(open_descriptors(), fds_with_one + 2) << "descriptors left behind";
  // The kept mapping still reads, and a dropped origin connects anew.
  EXPECT_TRUE(scan_pages(kept.data(), kept.size(), kSeed, 0, 64).all_right());
  Mapping again(servers[5]->url("/o"));
  ASSERT_TRUE(again.ok()) << mmapurl_last_error_message();
  EXPECT_TRUE(scan_pages(again.data(), again.size(), kSeed + 5, 0, 64).all_right());
}

// Many origins: one nginx listening on a few hundred loopback addresses (127.1.x.y; any address
// of 127.0.0.0/8 reaches the host), each a distinct origin to the engine (its own pool, its own
// connections and TLS state). Each is mapped, read and unmapped in turn; once idle for
// MMAPURL_IDLE_RELEASE (1 s), what is left must not depend on how many origins were used.
constexpr int kManyOrigins = 256;
constexpr uint64_t kSmallSize = 64 * 1024 + 10;  // within the probe: one GET per origin
constexpr uint64_t kManySeed = 0x5eed;

std::string loopback_address(int i) {
  return "127.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
}

size_t heap_in_use() { return mallinfo2().uordblks; }

void map_from_many_origins() {
  std::string err;
  auto docroot = testing::TempDir::create("mmapurl-many-origins", &err);
  ASSERT_TRUE(docroot) << err;
  ASSERT_TRUE(write_synthetic_file(docroot->file("o"), kManySeed, kSmallSize));
  NginxOptions options;
  for (int i = 0; i < kManyOrigins; ++i) {
    options.extra_addresses.push_back(loopback_address(i));
    options.alt_names += ",IP:" + loopback_address(i);
  }
  auto nginx = NginxServer::start(docroot->path(), &err, options);
  ASSERT_TRUE(nginx) << err;
  itest::set_client_environment(nginx->ca_file());

  // One origin stays in use throughout; it starts the engine before the baseline is taken.
  Mapping kept(nginx->https_url("/o"));
  ASSERT_TRUE(kept.ok()) << mmapurl_last_error_message();
  ASSERT_TRUE(scan_pages(kept.data(), kept.size(), kManySeed, 0, 64).all_right());
  const size_t fds_before = open_descriptors();
  const size_t heap_before = heap_in_use();

  size_t fds_peak = fds_before;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kManyOrigins; ++i) {
    Mapping m(nginx->https_url_at(loopback_address(i), "/o"));
    ASSERT_TRUE(m.ok()) << loopback_address(i) << ": " << mmapurl_last_error_message();
    ASSERT_TRUE(scan_pages(m.data(), m.size(), kManySeed, 0, 64).all_right())
        << loopback_address(i);
    fds_peak = std::max(fds_peak, open_descriptors());
  }
  const double mapping_s = seconds_since(start);
  Stats after_mapping;
  ASSERT_EQ(mmapurl_stats_get(nullptr, &after_mapping), 0);

  // Idle: pools of origins no mapping uses go after 1 s (looked at every 250 ms), and their
  // connections with them. Waits for that, 8 s at most.
  const auto idle_from = std::chrono::steady_clock::now();
  Stats idle;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    ASSERT_EQ(mmapurl_stats_get(nullptr, &idle), 0);
    if ((idle.connections <= 1 && open_descriptors() <= fds_before) ||
        seconds_since(idle_from) > 8) {
      break;
    }
  }
  const size_t fds_idle = open_descriptors();
  const size_t heap_idle = heap_in_use();
  const std::string figures =
      std::to_string(kManyOrigins) + " origins mapped in " + std::to_string(mapping_s) +
      " s; descriptors " + std::to_string(fds_before) + " before, " + std::to_string(fds_peak) +
      " at most, " + std::to_string(fds_idle) + " idle after " +
      std::to_string(seconds_since(idle_from)) + " s; connection slots " +
      std::to_string(after_mapping.connections) + " after the last mapping, " +
      std::to_string(idle.connections) + " idle; heap +" +
      std::to_string((static_cast<long>(heap_idle) - static_cast<long>(heap_before)) / 1024) +
      " KiB";
  std::printf("%s\n", figures.c_str());
  EXPECT_LE(idle.connections, 1u) << figures;
  EXPECT_LE(fds_idle, fds_before) << "descriptors left behind: " << figures;
  // Heap: a pool kept with its TLS connection holds about 290 KiB (a 128 KiB receive buffer and
  // OpenSSL's state), an empty pool about 2 KiB: 256 origins kept empty left 540-630 KiB behind.
  // What may stay is not per origin but per descriptor open at once: Asio's io_uring service keeps
  // a record of each (about 0.3 KiB) for reuse, and malloc's thread caches hold some freed chunks.
  // Released, 80-180 KiB stayed with 150-250 descriptors open at the peak.
  const size_t peak_sockets = fds_peak - fds_before;
  EXPECT_LT(heap_idle, heap_before + 96 * 1024 + peak_sockets * 1024)
      << "heap left behind: " << figures;

  // The origin in use still reads, and a dropped one connects anew.
  EXPECT_TRUE(scan_pages(kept.data(), kept.size(), kManySeed, 0, 64).all_right());
  Mapping again(nginx->https_url_at(loopback_address(kManyOrigins / 2), "/o"));
  ASSERT_TRUE(again.ok()) << mmapurl_last_error_message();
  EXPECT_TRUE(scan_pages(again.data(), again.size(), kManySeed, 0, 64).all_right());
}

TEST(IdleRelease, AFewHundredOriginsLeaveNoPoolsOrDescriptorsOnceIdle) {
  if (itest::in_fresh_process()) return map_from_many_origins();
  const auto r =
      itest::run_in_fresh_process({{"MMAPURL_IDLE_RELEASE", "1"}}, std::chrono::seconds(120));
  EXPECT_TRUE(itest::passed_in_fresh_process(r));
  // The child's figures, for the log.
  const size_t at = r.out.find(" origins mapped in ");
  if (at != std::string::npos) {
    const size_t line = r.out.rfind('\n', at);
    std::printf("%s\n", r.out.substr(line + 1, r.out.find('\n', at) - line - 1).c_str());
  }
}

}  // namespace
}  // namespace mmapurl::faulttest
