// What a long-running service can rely on once idle: the connections of origins no mapping uses
// are closed, and nothing is left behind per mapping or per origin.
#include <dirent.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "embedded_server/embedded_server.hpp"
#include "integration/fault_test_support.hpp"
#include "mmapurl.hpp"

namespace mmapurl::faulttest {
namespace {

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
  if (child_role() != "idle-release") {
    auto scratch = testing::TempDir::create("mmapurl-idle", nullptr);
    ASSERT_TRUE(scratch);
    auto r = run_test_in_fresh_process("IdleRelease.ConnectionsOfOriginsNoMappingUsesAreClosed",
                                       "idle-release", {{"MMAPURL_IDLE_RELEASE", "1"}},
                                       scratch->path(), std::chrono::seconds(120));
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("[  PASSED  ] 1 test"), std::string::npos) << r.out << r.err;
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

}  // namespace
}  // namespace mmapurl::faulttest
