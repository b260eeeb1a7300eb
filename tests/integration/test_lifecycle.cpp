// Lifecycle: unmapping under in-flight fills, racing map/unmap, exit while reading, fork,
// faulting inside stdio, and the engine thread's manners (signals blocked, silent by default,
// the CPU affinity of the thread that started it).
#include <dirent.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <latch>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "embedded_server/embedded_server.hpp"
#include "fixtures/nginx_server.hpp"
#include "fixtures/process.hpp"
#include "integration/fault_test_support.hpp"
#include "mmapurl.hpp"

namespace mmapurl::faulttest {
namespace {

using testserver::EmbeddedServer;
using testserver::Fault;
using testserver::ObjectSpec;
using testserver::ServerOptions;

void configure_engine_environment() {
  setenv("MMAPURL_RETRY_TIMEOUT", "3", 0);
  setenv("MMAPURL_IO_TIMEOUT", "2", 0);
  setenv("MMAPURL_PROBE_SIZE", "16K", 0);
}

struct Object {
  std::string path;
  uint64_t size, seed;
};

std::unique_ptr<EmbeddedServer> start_server(const std::vector<Object>& objects,
                                             double conn_mbps = 0, double latency_ms = 0) {
  ServerOptions o;
  o.tls = false;
  o.conn_mbps = conn_mbps;
  o.latency_ms = latency_ms;
  for (const auto& obj : objects) {
    o.objects.push_back(
        ObjectSpec{obj.path, obj.size, obj.seed, "\"" + obj.path.substr(1) + "\"", ""});
  }
  auto s = std::make_unique<EmbeddedServer>(o);
  std::string err;
  if (!s->start(&err)) {
    ADD_FAILURE() << "embedded server: " << err;
    return nullptr;
  }
  return s;
}

size_t pages_of(uint64_t size) { return (size + kPage - 1) / kPage; }

// --- munmap_s3 while fills are in flight: the late bytes land nowhere. ---
TEST(Lifecycle, MunmapWhileFillsInFlight) {
  configure_engine_environment();
  const uint64_t kSize = 2 << 20;
  auto server = start_server({{"/a", kSize, 0xa}, {"/b", kSize, 0xb}}, /*conn_mbps=*/3);
  ASSERT_TRUE(server);
  for (int round = 0; round < 3; ++round) {
    Mapping a(server->url("/a"));
    ASSERT_TRUE(a.ok()) << mmapurl_last_error_message();
    ASSERT_EQ(a.advise(0, kSize, Advice::kWillNeed), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + 100 * round));
    EXPECT_GT(process_stats().in_flight_bytes, 0u) << "nothing in flight to unmap under";
    auto t0 = std::chrono::steady_clock::now();
    a.reset();
    EXPECT_LT(seconds_since(t0), 2.0) << "munmap_s3 waited for the fills";
    // The same size: the kernel likely hands out the same addresses again.
    Mapping b(server->url("/b"));
    ASSERT_TRUE(b.ok()) << mmapurl_last_error_message();
    PageScan s = scan_pages(b.data(), b.size(), 0xb, 0, pages_of(kSize));
    EXPECT_TRUE(s.all_right()) << "round " << round << ": SIGBUS " << describe_pages(s.sigbus_pages)
                               << " wrong " << describe_pages(s.wrong_pages);
  }
  // The dropped fetches give their staging memory back.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (process_stats().in_flight_bytes != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(process_stats().in_flight_bytes, 0u);
}

// --- mmap_s3/munmap_s3 racing from 8 threads on several objects. ---
TEST(Lifecycle, MapReadUnmapRacingFromEightThreads) {
  configure_engine_environment();
  const std::vector<Object> objects = {{"/o1", 100 * 1024, 1},
                                       {"/o2", 300 * 1024 + 17, 2},
                                       {"/o3", 1 << 20, 3},
                                       {"/o4", (2 << 20) + 5, 4}};
  auto server = start_server(objects);
  ASSERT_TRUE(server);
  std::atomic<int> maps{0}, failures{0};
  std::mutex mu;
  std::string first_failure;
  auto fail = [&](const std::string& why) {
    failures.fetch_add(1);
    std::lock_guard lock(mu);
    if (first_failure.empty()) first_failure = why;
  };
  auto worker = [&](int t) {
    std::minstd_rand rng(static_cast<unsigned>(t) * 7919u + 1);
    for (int i = 0; i < 12; ++i) {
      const Object& obj = objects[static_cast<size_t>(t + i) % objects.size()];
      Mapping m(server->url(obj.path));
      if (!m.ok()) {
        fail(obj.path + ": " + m.error_string());
        continue;
      }
      maps.fetch_add(1);
      if (m.size() != obj.size) fail(obj.path + ": wrong size");
      size_t pages = pages_of(obj.size);
      // The first, the last and a few random pages; sometimes unmap with nothing read.
      if (i % 5 == 4) continue;
      std::vector<size_t> pick = {0, pages - 1};
      for (int k = 0; k < 4; ++k) pick.push_back(rng() % pages);
      for (size_t p : pick) {
        PageScan s = scan_pages(m.data(), m.size(), obj.seed, p, 1);
        if (!s.all_right()) fail(obj.path + " page " + std::to_string(p) + " not right");
      }
    }
  };
  bool finished = run_with_timeout(
      [&] {
        std::vector<std::thread> threads;
        for (int t = 0; t < 8; ++t) threads.emplace_back(worker, t);
        for (auto& th : threads) th.join();
      },
      std::chrono::seconds(90));
  ASSERT_TRUE(finished) << "map/read/unmap from 8 threads hung";
  EXPECT_EQ(failures.load(), 0) << first_failure;
  EXPECT_EQ(maps.load(), 8 * 12);
}

// --- 16 threads faulting at once on one mapping of a production server. ---
// Random pages, so threads often fault on the same page or the same fetch block at the same
// time; every byte of every page read is checked. (The ThreadSanitizer run's main case.)
TEST(Lifecycle, SixteenThreadsReadRandomPagesOfOneNginxMapping) {
  configure_engine_environment();
  constexpr int kThreads = 16;
  constexpr int kPagesPerThread = 64;
  const uint64_t kSize = (8 << 20) + 321;
  const uint64_t kSeed = 0x1616;
  std::string err;
  auto dir = testing::TempDir::create("mmapurl-lifecycle-nginx16", &err);
  ASSERT_TRUE(dir) << err;
  ASSERT_TRUE(write_synthetic_file(dir->file("obj"), kSeed, kSize));
  auto nginx = testing::NginxServer::start(dir->path(), &err);
  ASSERT_TRUE(nginx) << err;
  Mapping m(nginx->http_url("/obj"));
  ASSERT_TRUE(m.ok()) << m.error_string() << ": " << mmapurl_last_error_message();
  ASSERT_EQ(m.size(), kSize);
  // Random mode: each fault is its own small fetch, so many are in flight together.
  ASSERT_EQ(m.advise(0, m.size(), Advice::kRandom), 0);
  const size_t pages = pages_of(kSize);
  std::vector<PageScan> scans(kThreads);
  bool finished = run_with_timeout(
      [&] {
        std::latch start(kThreads);
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t) {
          threads.emplace_back([&, t] {
            std::minstd_rand rng(static_cast<unsigned>(t) * 104729u + 7);
            start.arrive_and_wait();
            for (int i = 0; i < kPagesPerThread; ++i) {
              PageScan s = scan_pages(m.data(), m.size(), kSeed, rng() % pages, 1);
              for (size_t p : s.sigbus_pages) scans[t].sigbus_pages.push_back(p);
              for (size_t p : s.wrong_pages) scans[t].wrong_pages.push_back(p);
              for (size_t p : s.right_pages) scans[t].right_pages.push_back(p);
            }
          });
        }
        for (auto& th : threads) th.join();
      },
      std::chrono::seconds(120));
  ASSERT_TRUE(finished) << "16 threads faulting on one mapping hung";
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_TRUE(scans[t].all_right())
        << "thread " << t << ": SIGBUS " << describe_pages(scans[t].sigbus_pages) << " wrong "
        << describe_pages(scans[t].wrong_pages);
    EXPECT_EQ(scans[t].right_pages.size(), size_t{kPagesPerThread}) << "thread " << t;
  }
  // Whatever the threads fetched, the whole mapping reads right afterwards.
  PageScan all = scan_pages(m.data(), m.size(), kSeed, 0, pages);
  EXPECT_TRUE(all.all_right()) << "SIGBUS " << describe_pages(all.sigbus_pages) << " wrong "
                               << describe_pages(all.wrong_pages);
}

// --- exit(0) from main while 8 threads sleep in page faults. ---
TEST(Lifecycle, ExitWhileEightThreadsRead) {
  if (itest::in_fresh_process()) {
    configure_engine_environment();
    const uint64_t kSize = 64ull << 20;
    auto server = start_server({{"/big", kSize, 0xb16}}, /*conn_mbps=*/2, /*latency_ms=*/20);
    if (!server) std::_Exit(3);
    const void* p = mmap_s3(server->url("/big").c_str(), nullptr, nullptr);
    if (p == MAP_FAILED) std::_Exit(4);
    for (int t = 0; t < 8; ++t) {
      std::thread([p, t, kSize] {
        const auto* base = static_cast<const volatile uint8_t*>(p);
        uint64_t sum = 0;
        for (uint64_t off = static_cast<uint64_t>(t) * (kSize / 8); off < kSize; off += kPage) {
          sum += base[off];
        }
        std::printf("reader %d done %lu\n", t, static_cast<unsigned long>(sum));
      }).detach();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    std::fflush(stdout);
    std::exit(0);
  }
  auto t0 = std::chrono::steady_clock::now();
  auto r = itest::run_in_fresh_process({}, std::chrono::seconds(30));
  EXPECT_FALSE(r.timed_out) << "the process hung at exit";
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_LT(seconds_since(t0), 15.0);
}

// GCC 12's AddressSanitizer takes no lock around fork(): a child forked while another thread is
// inside malloc deadlocks in its first allocation (seen in CI). Before a fork whose child
// allocates, let the engine finish its requests and every thread go back to sleep. Without a
// sanitizer glibc's malloc is fork-safe and this only costs a moment.
void settle_before_fork() {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (mmapurl::process_stats().in_flight_bytes != 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
}

// --- fork: the child never reads zeros from an inherited mapping, and can map its own. ---
TEST(Lifecycle, ForkedChildGetsSigsegvOnInheritedMapping) {
  configure_engine_environment();
  const uint64_t kSize = 1 << 20;
  auto server = start_server({{"/f", kSize, 0xf}});
  ASSERT_TRUE(server);
  Mapping m(server->url("/f"));
  ASSERT_TRUE(m.ok()) << mmapurl_last_error_message();
  ASSERT_TRUE(scan_pages(m.data(), m.size(), 0xf, 0, 1).all_right());
  for (size_t page : {size_t{0}, size_t{200}}) {  // a resident page and one never fetched
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      const volatile uint8_t* p = m.data() + page * kPage;
      uint8_t v = *p;
      std::_Exit(v == 0 ? 10 : 11);  // 10: read zeros; 11: read something
    }
    auto status = wait_child(pid, std::chrono::seconds(20));
    ASSERT_TRUE(status) << "child hung touching an inherited mapping";
    EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGSEGV)
        << "page " << page << ": child " << describe_status(status);
  }
  // The parent's mapping is untouched by all this.
  EXPECT_TRUE(scan_pages(m.data(), m.size(), 0xf, 0, pages_of(kSize)).all_right());
}

TEST(Lifecycle, ForkedChildMapsItsOwnObject) {
  configure_engine_environment();
  const uint64_t kSize = (1 << 20) + 33;
  auto server = start_server({{"/p", kSize, 0x9}, {"/c", kSize, 0xc}});
  ASSERT_TRUE(server);
  Mapping parent(server->url("/p"));  // a live engine and mapping at fork time
  ASSERT_TRUE(parent.ok()) << mmapurl_last_error_message();
  ASSERT_TRUE(scan_pages(parent.data(), parent.size(), 0x9, 0, 8).all_right());
  std::string child_url = server->url("/c");
  settle_before_fork();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    size_t sz = 0;
    int err = 0;
    const void* p = mmap_s3(child_url.c_str(), &sz, &err);
    if (p == MAP_FAILED) std::_Exit(20 + err);
    if (sz != kSize) std::_Exit(40);
    PageScan s = scan_pages(static_cast<const uint8_t*>(p), sz, 0xc, 0, pages_of(sz));
    if (!s.sigbus_pages.empty()) std::_Exit(41);
    if (!s.wrong_pages.empty()) std::_Exit(42);
    if (munmap_s3(p) != 0) std::_Exit(43);
    std::_Exit(0);
  }
  auto status = wait_child(pid, std::chrono::seconds(40));
  EXPECT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << "child: " << describe_status(status)
      << " (20+code: mmap_s3 failed, 41: SIGBUS, 42: wrong bytes)";
  EXPECT_TRUE(scan_pages(parent.data(), parent.size(), 0x9, 0, pages_of(kSize)).all_right());
}

// `length` bytes of the synthetic object of `seed` from `offset`: what a child wrote of it.
std::string synthetic_bytes(uint64_t seed, uint64_t offset, size_t length) {
  std::string bytes(length, '\0');
  testserver::fill_synthetic(seed, offset, reinterpret_cast<uint8_t*>(bytes.data()), length);
  return bytes;
}

// --- A thread faulting inside fwrite() holds the FILE lock: the engine must not need it. ---
TEST(Lifecycle, FaultInsideFwriteDoesNotDeadlock) {
  if (itest::in_fresh_process()) {
    // stderr is also where the engine would log (MMAPURL_LOG=debug without a log file).
    configure_engine_environment();
    const uint64_t kSize = 4 << 20;
    auto server = start_server({{"/w", kSize, 0x3}}, 0, /*latency_ms=*/30);
    if (!server) std::_Exit(3);
    Mapping m(server->url("/w"));
    if (!m.ok()) std::_Exit(4);
    // Unbuffered stderr: fwrite hands the mapping to write(2) (a kernel-mode fault) under lock.
    if (std::fwrite(m.data() + (1 << 20), 1, 256 << 10, stderr) != (256 << 10)) std::_Exit(5);
    // Fully buffered: fwrite's own memcpy faults (a user-mode fault) under the lock.
    static char buf[1 << 20];
    std::setvbuf(stderr, buf, _IOFBF, sizeof buf);
    if (std::fwrite(m.data() + (2 << 20), 1, 512 << 10, stderr) != (512 << 10)) std::_Exit(6);
    std::fflush(stderr);
    std::_Exit(0);
  }
  auto r = itest::run_in_fresh_process(
      {{"MMAPURL_LOG", "debug"}, {"MMAPURL_LOG_FILE", std::nullopt}}, std::chrono::seconds(40));
  EXPECT_FALSE(r.timed_out) << "deadlock: a thread faulting inside fwrite(stderr) never returned";
  EXPECT_EQ(r.exit_code, 0) << r.out;
  // The bytes went through: 768 KiB of the object, plus the engine's log lines.
  EXPECT_GE(r.err.size(), size_t{768} << 10);
  EXPECT_NE(r.err.find("mmapurl "), std::string::npos) << "the engine logged nothing";
  EXPECT_NE(r.err.find(synthetic_bytes(0x3, 1 << 20, 256 << 10)), std::string::npos)
      << "fwrite wrote other bytes";
  EXPECT_EQ(r.err.find("GET pages"), std::string::npos) << "the timeline went to stderr";
}

std::vector<pid_t> engine_threads(const std::string& name);  // the engine's threads so named
bool blocks_every_signal(pid_t tid);

// The engine logs to stderr while a thread's write(2) to that stderr pipe faults on the mapping
// and so holds the pipe: the GET for the faulting page is answered 503, and the engine logs
// each retry (MMAPURL_LOG=info). It must queue those lines, not wait on the pipe for them.
TEST(Lifecycle, LogLinesToStderrWhileAThreadFaultsInsideWriteToStderr) {
  if (itest::in_fresh_process()) {
    configure_engine_environment();
    const uint64_t kSize = 4 << 20;
    auto server = start_server({{"/w", kSize, 0x6}}, 0, /*latency_ms=*/30);
    if (!server) std::_Exit(3);
    Mapping m(server->url("/w"));
    if (!m.ok()) std::_Exit(4);
    server->set_fault(Fault::kStatus503, 3, "/w");
    if (std::fwrite(m.data() + (1 << 20), 1, 256 << 10, stderr) != (256 << 10)) std::_Exit(5);
    if (m.stats().retries == 0) std::_Exit(6);
    auto writers = engine_threads("mmapurl-log");
    if (writers.size() != 1) std::_Exit(7);
    if (!blocks_every_signal(writers[0])) std::_Exit(8);
    std::exit(0);  // not _Exit: the lines still queued are written at exit
  }
  auto r = itest::run_in_fresh_process(
      {{"MMAPURL_LOG", "info"}, {"MMAPURL_LOG_FILE", std::nullopt}}, std::chrono::seconds(40));
  EXPECT_FALSE(r.timed_out) << "deadlock: the engine waited on the stderr pipe a reader held";
  EXPECT_EQ(r.exit_code, 0) << r.out
                            << " (5: fwrite failed, 6: no retry, 7: no thread named mmapurl-log, "
                               "8: it takes signals)";
  EXPECT_NE(r.err.find(" info: retrying "), std::string::npos) << "the retries were not logged";
  EXPECT_NE(r.err.find(synthetic_bytes(0x6, 1 << 20, 256 << 10)), std::string::npos)
      << "fwrite wrote other bytes";
}

// MMAPURL_LOG=debug with a log file: a line per planned range and per finished GET, with its
// pages, kind and time (the timeline of a throughput question). Never on stderr: see log.hpp.
TEST(Lifecycle, DebugLogFileHasTheTimelineOfPlansAndGets) {
  if (itest::in_fresh_process()) {
    configure_engine_environment();
    const uint64_t kSize = 4 << 20;
    auto server = start_server({{"/t", kSize, 0x5}});
    if (!server) std::_Exit(3);
    Mapping m(server->url("/t"));
    if (!m.ok()) std::_Exit(4);
    if (!scan_pages(m.data(), kSize, 0x5, 0, pages_of(kSize)).all_right()) std::_Exit(5);
    std::_Exit(0);
  }
  auto dir = testing::TempDir::create("mmapurl-lifecycle-timeline", nullptr);
  ASSERT_TRUE(dir);
  const std::string log = dir->file("engine.log");
  auto r = itest::run_in_fresh_process({{"MMAPURL_LOG", "debug"}, {"MMAPURL_LOG_FILE", log}},
                                       std::chrono::seconds(40));
  ASSERT_FALSE(r.timed_out);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::ifstream in(log);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find(": plan pages "), std::string::npos) << text;
  EXPECT_NE(text.find(" demand took "), std::string::npos) << text;
  EXPECT_NE(text.find(" readahead took "), std::string::npos) << text;
  EXPECT_NE(text.find(" bytes; in flight "), std::string::npos) << text;
  EXPECT_EQ(r.err.find("GET pages"), std::string::npos);
}

// The same in-process, on a FILE* of our own, while other threads use the engine.
TEST(Lifecycle, FaultInsideFwriteToFileWhileEngineBusy) {
  configure_engine_environment();
  const uint64_t kSize = 4 << 20;
  auto server = start_server({{"/w", kSize, 0x4}, {"/x", kSize, 0x5}}, 0, /*latency_ms=*/30);
  ASSERT_TRUE(server);
  auto dir = testing::TempDir::create("mmapurl-lifecycle-fwrite2", nullptr);
  ASSERT_TRUE(dir);
  Mapping m(server->url("/w"));
  ASSERT_TRUE(m.ok()) << mmapurl_last_error_message();
  std::string path = dir->file("out");
  bool done = run_with_timeout(
      [&] {
        FILE* f = std::fopen(path.c_str(), "w");
        if (!f) return;
        std::setvbuf(f, nullptr, _IOFBF, 1 << 20);
        std::thread other([&] {
          Mapping x(server->url("/x"));
          if (x.ok()) scan_pages(x.data(), x.size(), 0x5, 100, 16);
          process_stats();
        });
        size_t n = std::fwrite(m.data() + kPage * 300, 1, 600 << 10, f);
        other.join();
        std::fclose(f);
        if (n != (600u << 10)) std::remove(path.c_str());
      },
      std::chrono::seconds(30));
  ASSERT_TRUE(done) << "deadlock: fwrite from an unfetched mapping never returned";
  auto content = testing::read_file(path);
  ASSERT_TRUE(content.has_value());
  ASSERT_EQ(content->size(), size_t{600} << 10);
  EXPECT_TRUE(testserver::check_synthetic(0x4, kPage * 300,
                                          reinterpret_cast<const uint8_t*>(content->data()),
                                          content->size(), nullptr));
}

// --- The engine thread takes no signals. ---
std::vector<pid_t> engine_threads(const std::string& name) {
  std::vector<pid_t> tids;
  DIR* d = opendir("/proc/self/task");
  if (!d) return tids;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    auto comm = testing::read_file(std::string("/proc/self/task/") + e->d_name + "/comm");
    if (comm && comm->rfind(name, 0) == 0) tids.push_back(std::atoi(e->d_name));
  }
  closedir(d);
  return tids;
}

bool blocks_every_signal(pid_t tid) {
  auto status = testing::read_file("/proc/self/task/" + std::to_string(tid) + "/status");
  if (!status) return false;
  auto at = status->find("SigBlk:");
  if (at == std::string::npos) return false;
  uint64_t blocked = std::stoull(status->substr(at + 7, 32), nullptr, 16);
  for (int sig = 1; sig < 32; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;  // cannot be blocked
    if (!(blocked & (uint64_t{1} << (sig - 1)))) return false;
  }
  return true;
}

std::atomic<pid_t> g_handler_tids[64];
std::atomic<int> g_handled{0};
void record_handler_thread(int) {
  int i = g_handled.load();
  if (i < 64) g_handler_tids[i].store(static_cast<pid_t>(syscall(SYS_gettid)));
  g_handled.fetch_add(1);
}

TEST(Lifecycle, EngineThreadBlocksSignals) {
  configure_engine_environment();
  auto server = start_server({{"/s", 64 << 10, 0x5}});
  ASSERT_TRUE(server);
  Mapping m(server->url("/s"));
  ASSERT_TRUE(m.ok()) << mmapurl_last_error_message();
  auto tids = engine_threads("mmapurl-engine");
  ASSERT_FALSE(tids.empty()) << "no thread named mmapurl-engine";
  for (pid_t tid : tids) {
    EXPECT_TRUE(blocks_every_signal(tid)) << "engine thread " << tid << " takes signals";
  }
  struct sigaction sa {
  }, old{};
  sa.sa_handler = record_handler_thread;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  g_handled = 0;
  for (int i = 0; i < 40; ++i) {
    int want = i + 1;
    kill(getpid(), SIGUSR1);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (g_handled.load() < want && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  sigaction(SIGUSR1, &old, nullptr);
  ASSERT_EQ(g_handled.load(), 40);
  for (int i = 0; i < 40; ++i) {
    for (pid_t tid : tids) EXPECT_NE(g_handler_tids[i].load(), tid) << "signal ran on the engine";
  }
}

// --- The engine thread starts at the first mapping and runs where its caller may run. ---
// The README tells applications that pin their reading threads to do so before the first
// mmap_s3 and the engine runs beside them (a random fault then needs no cross-CPU wake-up).
// In a forked child, so that this process's engine, if it already runs, is not the one checked.
TEST(Lifecycle, EngineThreadInheritsTheFirstCallersCpuAffinity) {
  configure_engine_environment();
  auto server = start_server({{"/a", 256 << 10, 0xa}});
  ASSERT_TRUE(server);
  std::string url = server->url("/a");
  cpu_set_t allowed;
  ASSERT_EQ(sched_getaffinity(0, sizeof allowed, &allowed), 0);
  int last_cpu = -1;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &allowed)) last_cpu = c;
  }
  ASSERT_GE(last_cpu, 0);
  settle_before_fork();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(last_cpu, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0) std::_Exit(10);
    size_t sz = 0;
    int err = 0;
    const void* p = mmap_s3(url.c_str(), &sz, &err);
    if (p == MAP_FAILED) std::_Exit(20 + err);
    auto tids = engine_threads("mmapurl-engine");
    if (tids.empty()) std::_Exit(11);
    for (pid_t tid : tids) {
      cpu_set_t engine;
      if (sched_getaffinity(tid, sizeof engine, &engine) != 0) std::_Exit(12);
      if (!CPU_EQUAL(&engine, &one)) std::_Exit(13);
    }
    // Still a working mapping on that one CPU.
    PageScan scan = scan_pages(static_cast<const uint8_t*>(p), sz, 0xa, 0, pages_of(sz));
    if (!scan.all_right()) std::_Exit(14);
    if (munmap_s3(p) != 0) std::_Exit(15);
    std::_Exit(0);
  }
  auto status = wait_child(pid, std::chrono::seconds(40));
  EXPECT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << "child: " << describe_status(status)
      << " (11: no engine thread, 13: engine affinity differs from its caller's, 14: wrong"
         " bytes, 20+code: mmap_s3 failed)";
}

// --- Nothing on stdout/stderr unless MMAPURL_LOG says so. ---
TEST(Lifecycle, EngineSilentWithoutLog) {
  if (std::getenv("MMAPURL_LOG")) GTEST_SKIP() << "MMAPURL_LOG is set for this process";
  configure_engine_environment();
  const uint64_t kSize = 512 << 10;
  auto server = start_server({{"/good", kSize, 0x6}, {"/bad", kSize, 0x7}});
  ASSERT_TRUE(server);
  auto dir = testing::TempDir::create("mmapurl-lifecycle-silent", nullptr);
  ASSERT_TRUE(dir);
  std::string out = dir->file("stdout"), err = dir->file("stderr");
  std::string good = server->url("/good"), bad = server->url("/bad");
  std::string missing = server->url("/missing");
  std::string gone = "http://127.0.0.1:" + std::to_string(testing::free_tcp_port()) + "/x";
  // The child maps /bad, then the parent breaks it: a failure after mapping (SIGBUS).
  int mapped[2], broken[2];
  ASSERT_EQ(pipe(mapped), 0);
  ASSERT_EQ(pipe(broken), 0);
  std::fflush(stdout);
  std::fflush(stderr);
  settle_before_fork();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0) std::_Exit(2);
    const void* p = mmap_s3(good.c_str(), nullptr, nullptr);
    if (p == MAP_FAILED) std::_Exit(3);
    if (!scan_pages(static_cast<const uint8_t*>(p), kSize, 0x6, 0, pages_of(kSize)).all_right()) {
      std::_Exit(4);
    }
    if (mmap_s3(missing.c_str(), nullptr, nullptr) != MAP_FAILED) std::_Exit(5);
    if (mmap_s3(gone.c_str(), nullptr, nullptr) != MAP_FAILED) std::_Exit(6);
    const void* b = mmap_s3(bad.c_str(), nullptr, nullptr);
    if (b == MAP_FAILED) std::_Exit(7);
    char c = 1;
    if (write(mapped[1], &c, 1) != 1 || read(broken[0], &c, 1) != 1) std::_Exit(8);
    PageScan s = scan_pages(static_cast<const uint8_t*>(b), kSize, 0x7, 100, 1);
    if (s.sigbus_pages.size() != 1) std::_Exit(9);
    std::_Exit(0);
  }
  close(mapped[1]);  // a child that dies early then reads as EOF, not as a hang
  close(broken[0]);
  char c = 0;
  bool child_mapped = read(mapped[0], &c, 1) == 1;
  server->set_fault(Fault::kStatus500, -1, "/bad");
  if (child_mapped) {
    EXPECT_EQ(write(broken[1], &c, 1), 1);
  }
  close(mapped[0]);
  close(broken[1]);
  auto status = wait_child(pid, std::chrono::seconds(40));
  EXPECT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << describe_status(status);
  EXPECT_EQ(testing::read_file(out).value_or("?"), "");
  EXPECT_EQ(testing::read_file(err).value_or("?"), "");
}

}  // namespace
}  // namespace mmapurl::faulttest
