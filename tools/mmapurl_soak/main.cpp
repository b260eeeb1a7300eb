// mmapurl-soak: a long-running mixed workload against the embedded HTTPS server (or several, one
// per loopback address), printing the process's memory, descriptors, threads and the engine's
// counters every interval, and failing when memory or descriptors grow after a warm-up or any
// byte read was wrong. Services map and unmap objects for weeks: growth per mapping, per request
// or per origin that a benchmark never sees shows up here as a slope.
//
// Every byte read is checked against the synthetic content (a function of seed and offset). A
// SIGBUS is caught in the reading thread (sigsetjmp/siglongjmp, per-thread jump buffer) and
// counted: expected on a mapping whose lifetime overlapped an injected fault window on its
// object or a replacement of its object, an error otherwise.
//
// The servers run in a child process: their threads, buffers and sockets (a connection's server
// end costs about a megabyte) would otherwise move the measurements with every connection the
// engine opens or loses, and hide or fake the growth being looked for.
#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "embedded_server/embedded_server.hpp"
#include "embedded_server/synthetic_content.hpp"
#include "mmapurl.hpp"

using namespace mmapurl;
using testserver::Fault;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t kPage = 4096;

struct Options {
  double seconds = 60;
  double interval_s = 10;
  int threads = 8;
  int origins = 1;
  bool faults = true;
  bool replace = true;
  bool dontneed = true;  // --no-dontneed: no MMAPURL_ADVICE_DONTNEED (to tell its growth apart)
  double warmup_fraction = 0.2;
  // Growth allowed between the quiet sample at the end of the warm-up and the one at the end.
  // Negative: not checked.
  double max_rss_growth_kib = 8192;
  double max_heap_growth_kib = 1024;
  long max_fd_growth = 8;
  // Fewer cycles than this after the warm-up say too little about growth per cycle: the verdict
  // is then "inconclusive" (exit status 77, a skip under ctest) unless a bound already failed.
  long min_cycles = 0;
  // How long the workers rest before a quiet sample: what the engine gives back after that much
  // idle time (pooled staging buffers, connections, idle origins) must not count as growth.
  double quiet_ms = 1500;
  double keepalive_timeout_ms = 0;  // the servers close connections idle this long (0: never)
  std::string csv;                  // a line per sample, for bench/soak/plot_soak.py
  // --loop N: instead of the soak, issue 29's loop alone (one thread maps the 64 MiB object,
  // reads 16 random pages, unmaps), N times, a line every --loop-report cycles.
  long loop = 0;
  long loop_report = 1000;
};

void usage() {
  std::fprintf(
      stderr,
      "usage: mmapurl-soak [--soak SECONDS] [--interval SECONDS] [--threads N]\n"
      "  [--origins N] [--no-faults] [--no-replace] [--no-dontneed] [--warmup-fraction F]\n"
      "  [--max-rss-growth-kib K] [--max-heap-growth-kib K] [--max-fd-growth N] [--min-cycles N]\n"
      "  [--server-keepalive-ms MS] [--quiet-ms MS] [--csv FILE]\n"
      "   or: mmapurl-soak --loop CYCLES [--loop-report N]\n"
      "A negative bound is not checked.\n");
}

bool parse(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--no-faults") {
      o->faults = false;
    } else if (a == "--no-replace") {
      o->replace = false;
    } else if (a == "--no-dontneed") {
      o->dontneed = false;
    } else if (a == "-h" || a == "--help") {
      usage();
      std::exit(0);
    } else if ((v = next()) == nullptr) {
      return false;
    } else if (a == "--soak") {
      o->seconds = std::atof(v);
    } else if (a == "--interval") {
      o->interval_s = std::atof(v);
    } else if (a == "--threads") {
      o->threads = std::atoi(v);
    } else if (a == "--origins") {
      o->origins = std::atoi(v);
    } else if (a == "--warmup-fraction") {
      o->warmup_fraction = std::atof(v);
    } else if (a == "--max-rss-growth-kib") {
      o->max_rss_growth_kib = std::atof(v);
    } else if (a == "--max-heap-growth-kib") {
      o->max_heap_growth_kib = std::atof(v);
    } else if (a == "--max-fd-growth") {
      o->max_fd_growth = std::atol(v);
    } else if (a == "--quiet-ms") {
      o->quiet_ms = std::atof(v);
    } else if (a == "--min-cycles") {
      o->min_cycles = std::atol(v);
    } else if (a == "--server-keepalive-ms") {
      o->keepalive_timeout_ms = std::atof(v);
    } else if (a == "--loop") {
      o->loop = std::atol(v);
    } else if (a == "--loop-report") {
      o->loop_report = std::max(1L, std::atol(v));
    } else if (a == "--csv") {
      o->csv = v;
    } else {
      return false;
    }
  }
  return o->seconds > 0 && o->interval_s > 0 && o->threads > 0 && o->origins > 0 &&
         o->origins <= 250 && o->warmup_fraction >= 0 && o->warmup_fraction < 0.9;
}

// ---- process measurements ---------------------------------------------------------------

uint64_t rss_kib() {
  std::ifstream f("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * (static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) / 1024);
}

// Bytes malloc has handed out and not got back (all arenas, mmapped chunks included): exact,
// unlike RSS, which also moves with fragmentation and with the pages of the mappings.
uint64_t heap_kib() {
  struct mallinfo2 mi = mallinfo2();
  return (mi.uordblks + mi.hblkhd) / 1024;
}

long open_fds() {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  long n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n - 1;  // the directory's own descriptor
}

long threads_now() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::atol(line.c_str() + 8);
  }
  return -1;
}

// ---- SIGBUS, caught in the reading thread ---------------------------------------------------

thread_local sigjmp_buf* t_jump = nullptr;

void on_sigbus(int sig, siginfo_t*, void*) {
  if (sigjmp_buf* j = t_jump) {
    t_jump = nullptr;
    siglongjmp(*j, 1);
  }
  // Not one of our reads: die as the default action would.
  signal(sig, SIG_DFL);
  raise(sig);
}

// Copies [src, src+len) out of a mapping; false when the read raised SIGBUS.
bool guarded_copy(uint8_t* dst, const uint8_t* src, size_t len) {
  sigjmp_buf jump;
  if (sigsetjmp(jump, 1) != 0) return false;
  t_jump = &jump;
  std::memcpy(dst, src, len);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t_jump = nullptr;
  return true;
}

// ---- the workload --------------------------------------------------------------------------

struct ObjectDef {
  std::string path;
  uint64_t size;
  bool faulted;   // fault windows hit it
  bool replaced;  // replaced now and then
};

// Sizes mixed on purpose: one ends mid-page, one is larger than a readahead window.
const std::vector<ObjectDef> kObjects = {
    {"/small", 1 << 20, false, false}, {"/odd", (3 << 20) + 123, false, false},
    {"/mid", 8 << 20, false, false},   {"/big", 64 << 20, false, false},
    {"/f0", 8 << 20, true, false},     {"/f1", (2 << 20) + 4000, true, false},
    {"/live", 4 << 20, false, true},
};
const ObjectDef kLong{"/long", 32 << 20, false, false};

uint64_t seed_of(int origin, size_t object, uint64_t generation) {
  return (static_cast<uint64_t>(origin) + 1) * 1000003 + object * 101 + generation * 7919;
}

// The parent's handle on one server in the child: its URL, and commands down a pipe.
class ServerProxy {
 public:
  ServerProxy(int index, std::string base, FILE* commands, FILE* acks, std::mutex* mu)
      : index_(index), base_(std::move(base)), commands_(commands), acks_(acks), mu_(mu) {}
  std::string url(const std::string& path) const { return base_ + path; }
  void set_fault(Fault f, int count, const std::string& path) {
    send("F " + std::to_string(index_) + " " + std::to_string(static_cast<int>(f)) + " " +
         std::to_string(count) + " " + path);
  }
  void clear_faults() { send("C " + std::to_string(index_)); }
  void replace_object(const std::string& path, uint64_t seed, const std::string& etag) {
    send("R " + std::to_string(index_) + " " + std::to_string(seed) + " " + path + " " + etag);
  }

 private:
  void send(const std::string& line) {
    std::lock_guard lock(*mu_);
    std::fprintf(commands_, "%s\n", line.c_str());
    std::fflush(commands_);
    // Applied before it returns: a mapping opened after a generation or fault epoch moved must
    // meet the server as it now is, or the checks would blame the engine for the server's lag.
    char ack[16];
    if (!std::fgets(ack, sizeof ack, acks_)) std::fprintf(stderr, "mmapurl-soak: server gone\n");
  }
  int index_;
  std::string base_;
  FILE* commands_;
  FILE* acks_;
  std::mutex* mu_;
};

// The child: starts the servers, reports "port" lines and the CA bundle, then applies commands
// until the parent closes the pipe (or dies).
[[noreturn]] void serve_in_child(const std::vector<testserver::ServerOptions>& all, int cmd_fd,
                                 int info_fd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  FILE* info = fdopen(info_fd, "w");
  std::vector<std::unique_ptr<testserver::EmbeddedServer>> servers;
  std::string ca;
  for (const auto& so : all) {
    auto server = std::make_unique<testserver::EmbeddedServer>(so);
    std::string err;
    if (!server->start(&err)) {
      std::fprintf(info, "ERR %s: %s\n", so.bind_address.c_str(), err.c_str());
      std::fclose(info);
      _exit(2);
    }
    std::fprintf(info, "PORT %u\n", server->port());
    ca += server->ca_pem();
    servers.push_back(std::move(server));
  }
  std::fprintf(info, "CA %zu\n%s", ca.size(), ca.c_str());
  std::fflush(info);
  FILE* commands = fdopen(cmd_fd, "r");
  char line[1024];
  while (std::fgets(line, sizeof line, commands)) {
    char path[512] = "", etag[256] = "";
    int origin = 0, fault = 0, count = 0;
    unsigned long long seed = 0;
    if (std::sscanf(line, "F %d %d %d %511s", &origin, &fault, &count, path) == 4) {
      servers.at(static_cast<size_t>(origin))->set_fault(static_cast<Fault>(fault), count, path);
    } else if (std::sscanf(line, "C %d", &origin) == 1) {
      servers.at(static_cast<size_t>(origin))->clear_faults();
    } else if (std::sscanf(line, "R %d %llu %511s %255s", &origin, &seed, path, etag) == 4) {
      servers.at(static_cast<size_t>(origin))->replace_object(path, seed, etag);
    }
    std::fputs("A\n", info);  // applied: the parent's send() returns
    std::fflush(info);
  }
  for (auto& server : servers) server->stop();
  _exit(0);
}

struct Origin {
  std::unique_ptr<ServerProxy> server;
  // Of /live: begun (the server may serve it from now on) and applied (it serves it for sure).
  std::atomic<uint64_t> live_generation{0}, live_applied{0};
};

struct Totals {
  std::atomic<uint64_t> cycles{0}, mappings{0}, pages_checked{0}, bytes_checked{0};
  std::atomic<uint64_t> sigbus_expected{0}, sigbus_unexpected{0}, bad_pages{0};
  std::atomic<uint64_t> map_failed_expected{0}, map_failed_unexpected{0}, advise_failed{0};
};

struct Shared {
  Options opt;
  std::vector<std::unique_ptr<Origin>> origins;
  Totals t;
  // Odd while a fault window is open; bumped when it opens and when it closes.
  std::atomic<uint64_t> fault_epoch{0};
  std::atomic<bool> stop{false};
  Clock::time_point start;
  // Pausing for a quiet sample: workers park between cycles.
  std::mutex mu;
  std::condition_variable cv;
  bool pause = false;
  int parked = 0;
  // The long-lived mapping (origin 0), read by every worker, never unmapped until the end.
  Mapping long_map;
  std::mutex first_error_mu;
  std::string first_error;

  void note_error(const std::string& what) {
    std::lock_guard lock(first_error_mu);
    if (first_error.empty()) first_error = what;
  }
};

// What one mapping is: where it came from, and what a SIGBUS in it would mean.
struct Opened {
  Mapping map;
  int origin = 0;
  size_t object = 0;
  uint64_t gen_before = 0;  // /live generation before mapping
  uint64_t gen_after = 0;   // ... and after: the snapshot is one of [before, after]
  uint64_t epoch_before = 0;
  int64_t seed_locked = -1;  // /live: the generation the first good page showed
};

class Worker {
 public:
  Worker(Shared& s, int index) : s_(s), rng_(0x5eed + static_cast<uint64_t>(index)) {}

  void run() {
    while (!s_.stop.load(std::memory_order_relaxed)) {
      park_if_asked();
      if (s_.stop.load(std::memory_order_relaxed)) break;
      const int r = static_cast<int>(rng_() % 100);
      if (r < 35) {
        with_mapping([&](Opened& o) { random_reads(o, 16); });
      } else if (r < 55) {
        with_mapping([&](Opened& o) { sequential_read(o); });
      } else if (r < 65) {
        with_mapping([&](Opened& o) { willneed_then_dontneed(o); });
      } else {
        long_mapping_reads();
      }
      s_.t.cycles.fetch_add(1, std::memory_order_relaxed);
    }
  }

 private:
  void park_if_asked() {
    std::unique_lock lock(s_.mu);
    if (!s_.pause) return;
    ++s_.parked;
    s_.cv.notify_all();
    s_.cv.wait(lock, [&] { return !s_.pause; });
    --s_.parked;
  }

  // In --origins mode the origins take turns: each is busy for its share of the run and idle
  // ever after, which is what shows whether per-origin state outlives its use.
  int pick_origin() {
    const int n = static_cast<int>(s_.origins.size());
    if (n == 1) return 0;
    const double elapsed = std::chrono::duration<double>(Clock::now() - s_.start).count();
    return std::min(n - 1, static_cast<int>(elapsed / s_.opt.seconds * n));
  }

  template <typename Fn>
  void with_mapping(Fn&& read) {
    Opened o;
    o.origin = pick_origin();
    o.object = rng_() % kObjects.size();
    const ObjectDef& def = kObjects[o.object];
    Origin& origin = *s_.origins[static_cast<size_t>(o.origin)];
    o.epoch_before = s_.fault_epoch.load();
    o.gen_before = origin.live_applied.load();
    o.map = Mapping(origin.server->url(def.path));
    o.gen_after = origin.live_generation.load();
    if (!o.map.ok()) {
      // Refused on purpose: the probe met a fault (404 storm, retries spent) or a replacement.
      if (expected_failure(o)) {
        s_.t.map_failed_expected.fetch_add(1);
      } else {
        s_.t.map_failed_unexpected.fetch_add(1);
        s_.note_error("mmap_s3 " + origin.server->url(def.path) + ": " + o.map.error_string() +
                      ": " + mmapurl_last_error_message());
      }
      return;
    }
    s_.t.mappings.fetch_add(1, std::memory_order_relaxed);
    if (o.map.size() != def.size) {
      s_.t.bad_pages.fetch_add(1);
      s_.note_error(def.path + ": size " + std::to_string(o.map.size()));
      return;
    }
    read(o);
  }

  bool expected_failure(const Opened& o) const {
    const ObjectDef& def = kObjects[o.object];
    const uint64_t epoch_now = s_.fault_epoch.load();
    if (def.faulted && ((o.epoch_before & 1) != 0 || epoch_now != o.epoch_before)) return true;
    const uint64_t gen_now = s_.origins[static_cast<size_t>(o.origin)]->live_generation.load();
    return def.replaced && gen_now != o.gen_before;
  }

  // Reads and checks one page (the part inside the object, zeros past its end). False when the
  // mapping is broken (a SIGBUS): the caller stops reading it.
  bool check_page(Opened& o, uint64_t page) {
    const ObjectDef& def = kObjects[o.object];
    uint8_t buf[kPage];
    if (!guarded_copy(buf, o.map.data() + page * kPage, kPage)) {
      if (expected_failure(o)) {
        s_.t.sigbus_expected.fetch_add(1);
      } else {
        s_.t.sigbus_unexpected.fetch_add(1);
        s_.note_error("unexpected SIGBUS at " + def.path + " page " + std::to_string(page));
      }
      return false;
    }
    const uint64_t offset = page * kPage;
    const size_t len = static_cast<size_t>(std::min<uint64_t>(kPage, def.size - offset));
    bool good = std::all_of(buf + len, buf + kPage, [](uint8_t b) { return b == 0; });
    if (good && def.replaced) {
      // A /live mapping is one snapshot, one of the generations seen around mapping time.
      good = false;
      const uint64_t lo = o.seed_locked >= 0 ? static_cast<uint64_t>(o.seed_locked) : o.gen_before;
      const uint64_t hi = o.seed_locked >= 0 ? lo : o.gen_after;
      for (uint64_t g = lo; g <= hi && !good; ++g) {
        if (testserver::check_synthetic(seed_of(o.origin, o.object, g), offset, buf, len,
                                        nullptr)) {
          good = true;
          o.seed_locked = static_cast<int64_t>(g);
        }
      }
    } else if (good) {
      good = testserver::check_synthetic(seed_of(o.origin, o.object, 0), offset, buf, len, nullptr);
    }
    s_.t.pages_checked.fetch_add(1, std::memory_order_relaxed);
    s_.t.bytes_checked.fetch_add(len, std::memory_order_relaxed);
    if (!good) {
      s_.t.bad_pages.fetch_add(1);
      s_.note_error("wrong bytes in " + def.path + " page " + std::to_string(page));
    }
    return true;
  }

  uint64_t pages_of(const Opened& o) const { return (o.map.size() + kPage - 1) / kPage; }

  // The loop of issue 29: map, 16 random pages, unmap.
  void random_reads(Opened& o, int count) {
    if (rng_() % 2 == 0) advise(o, 0, o.map.size(), Advice::kRandom);
    for (int i = 0; i < count; ++i) {
      if (!check_page(o, rng_() % pages_of(o))) return;
    }
  }

  // A scan of up to 4 MiB from a random page, with the sequential hint half the time.
  void sequential_read(Opened& o) {
    const uint64_t pages = pages_of(o);
    const uint64_t span = std::min<uint64_t>(pages, 1024);
    const uint64_t first = rng_() % (pages - span + 1);
    if (rng_() % 2 == 0) advise(o, 0, o.map.size(), Advice::kSequential);
    for (uint64_t p = first; p < first + span; ++p) {
      if (!check_page(o, p)) return;
    }
  }

  // WILLNEED a 1 MiB range, read it, drop half of it, read a few pages of that half again.
  void willneed_then_dontneed(Opened& o) {
    const uint64_t pages = pages_of(o);
    const uint64_t span = std::min<uint64_t>(pages, 256);
    const uint64_t first = rng_() % (pages - span + 1);
    advise(o, first * kPage, std::min(span * kPage, o.map.size() - first * kPage),
           Advice::kWillNeed);
    for (uint64_t p = first; p < first + span; p += 4) {
      if (!check_page(o, p)) return;
    }
    if (s_.opt.dontneed) advise(o, first * kPage, span / 2 * kPage, Advice::kDontNeed);
    for (int i = 0; i < 4 && span >= 2; ++i) {
      if (!check_page(o, first + rng_() % (span / 2))) return;
    }
  }

  // The long-lived mapping: random pages, and now and then a range dropped (DONTNEED), so the
  // same mapping fetches again and again for the whole run.
  void long_mapping_reads() {
    const uint64_t pages = kLong.size / kPage;
    uint8_t buf[kPage];
    for (int i = 0; i < 16; ++i) {
      const uint64_t page = rng_() % pages;
      if (!guarded_copy(buf, s_.long_map.data() + page * kPage, kPage)) {
        // Never faulted nor replaced: any SIGBUS is an error.
        s_.t.sigbus_unexpected.fetch_add(1);
        s_.note_error("unexpected SIGBUS at /long page " + std::to_string(page));
        return;
      }
      s_.t.pages_checked.fetch_add(1, std::memory_order_relaxed);
      s_.t.bytes_checked.fetch_add(kPage, std::memory_order_relaxed);
      if (!testserver::check_synthetic(seed_of(0, kObjects.size(), 0), page * kPage, buf, kPage,
                                       nullptr)) {
        s_.t.bad_pages.fetch_add(1);
        s_.note_error("wrong bytes in /long page " + std::to_string(page));
      }
    }
    if (s_.opt.dontneed && rng_() % 4 == 0) {
      const uint64_t first = rng_() % (pages - 256);
      if (s_.long_map.advise(first * kPage, 256 * kPage, Advice::kDontNeed) != 0) {
        s_.t.advise_failed.fetch_add(1);
      }
    }
  }

  void advise(const Opened& o, uint64_t offset, uint64_t len, Advice a) {
    if (len == 0) return;
    if (o.map.advise(offset, len, a) != 0) {
      s_.t.advise_failed.fetch_add(1);
      s_.note_error("mmapurl_advise failed");
    }
  }

  Shared& s_;
  std::mt19937_64 rng_;
};

// Fault windows (on /f0 and /f1 only) and replacements of /live, on a fixed rhythm.
void chaos_loop(Shared& s) {
  const std::vector<Fault> faults = {Fault::kReset, Fault::kStatus503, Fault::kTruncate,
                                     Fault::kStall, Fault::kStatus500, Fault::kStatus404};
  size_t next_fault = 0;
  auto next_window = Clock::now() + std::chrono::seconds(2);
  auto next_replace = Clock::now() + std::chrono::seconds(3);
  while (!s.stop.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const auto now = Clock::now();
    if (s.opt.faults && now >= next_window) {
      const Fault f = faults[next_fault++ % faults.size()];
      s.fault_epoch.fetch_add(1);  // odd: open
      for (auto& o : s.origins) {
        for (const char* path : {"/f0", "/f1"}) o->server->set_fault(f, -1, path);
      }
      // A window: one second of this fault (kStall holds its answers that long), then none.
      for (int i = 0; i < 20 && !s.stop.load(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      for (auto& o : s.origins) o->server->clear_faults();
      s.fault_epoch.fetch_add(1);  // even: closed
      next_window = Clock::now() + std::chrono::seconds(4);
    }
    if (s.opt.replace && now >= next_replace) {
      for (size_t i = 0; i < s.origins.size(); ++i) {
        Origin& o = *s.origins[i];
        const uint64_t g = o.live_generation.load() + 1;
        // Begun before the server switches, applied after it has: a mapping's snapshot is one of
        // [applied before it mapped, begun after it mapped].
        o.live_generation.store(g);
        size_t live = 0;
        while (!kObjects[live].replaced) ++live;
        o.server->replace_object("/live", seed_of(static_cast<int>(i), live, g),
                                 "\"live-" + std::to_string(g) + "\"");
        o.live_applied.store(g);
      }
      next_replace = now + std::chrono::seconds(3);
    }
  }
}

struct Sample {
  double elapsed = 0;
  uint64_t rss = 0, heap = 0;
  long fds = 0, threads = 0;
  Stats stats;
  uint64_t cycles = 0, bytes_checked = 0;
};

Sample take_sample(Shared& s) {
  Sample x;
  x.elapsed = std::chrono::duration<double>(Clock::now() - s.start).count();
  x.rss = rss_kib();
  x.heap = heap_kib();
  x.fds = open_fds();
  x.threads = threads_now();
  x.stats = process_stats();
  x.cycles = s.t.cycles.load();
  x.bytes_checked = s.t.bytes_checked.load();
  return x;
}

uint64_t errors(const Shared& s) {
  return s.t.sigbus_unexpected.load() + s.t.bad_pages.load() + s.t.map_failed_unexpected.load() +
         s.t.advise_failed.load();
}

void print_sample(const Shared& s, const Sample& x, const char* tag, FILE* csv) {
  std::printf(
      "%s t=%6.0fs rss=%7lu KiB heap=%7lu KiB engine=%6lu KiB staging_mapped=%lu fds=%ld "
      "threads=%ld conns=%lu requests=%lu retries=%lu failed_pages=%lu cycles=%lu "
      "checked=%lu MiB sigbus=%lu errors=%lu\n",
      tag, x.elapsed, static_cast<unsigned long>(x.rss), static_cast<unsigned long>(x.heap),
      static_cast<unsigned long>((x.stats.resident_bytes + x.stats.in_flight_bytes) / 1024),
      static_cast<unsigned long>(x.stats.staging_buffers_mapped), x.fds, x.threads,
      static_cast<unsigned long>(x.stats.connections), static_cast<unsigned long>(x.stats.requests),
      static_cast<unsigned long>(x.stats.retries), static_cast<unsigned long>(x.stats.failed_pages),
      static_cast<unsigned long>(x.cycles), static_cast<unsigned long>(x.bytes_checked >> 20),
      static_cast<unsigned long>(s.t.sigbus_expected.load()),
      static_cast<unsigned long>(errors(s)));
  std::fflush(stdout);
  if (csv) {
    std::fprintf(
        csv, "%s,%.1f,%lu,%lu,%lu,%lu,%ld,%ld,%lu,%lu,%lu,%lu,%lu,%lu\n", tag, x.elapsed,
        static_cast<unsigned long>(x.rss), static_cast<unsigned long>(x.heap),
        static_cast<unsigned long>((x.stats.resident_bytes + x.stats.in_flight_bytes) / 1024),
        static_cast<unsigned long>(x.stats.staging_buffers_mapped), x.fds, x.threads,
        static_cast<unsigned long>(x.stats.connections),
        static_cast<unsigned long>(x.stats.requests), static_cast<unsigned long>(x.stats.retries),
        static_cast<unsigned long>(x.stats.failed_pages), static_cast<unsigned long>(x.cycles),
        static_cast<unsigned long>(x.bytes_checked));
    std::fflush(csv);
  }
}

// Parks every worker between cycles, drops the long mapping's pages and waits a moment, so the
// sample holds only what the process keeps with nothing to do: no mapping but the long one (no
// page of it resident), no request in flight. Growth between two such samples is a leak.
Sample quiet_sample(Shared& s, bool resume) {
  {
    std::unique_lock lock(s.mu);
    s.pause = true;
    s.cv.wait(lock, [&] { return s.parked == s.opt.threads || s.stop.load(); });
  }
  // Readahead of mappings just closed, and of the long one, completes (and is dropped or
  // filled) first: wait, bounded, until no request is in flight and the count stands still.
  const auto settle_deadline = Clock::now() + std::chrono::seconds(20);
  uint64_t requests = process_stats().requests;
  while (Clock::now() < settle_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const Stats now = process_stats();
    if (now.in_flight_bytes == 0 && now.requests == requests) break;
    requests = now.requests;
  }
  s.long_map.advise(0, s.long_map.size(), Advice::kDontNeed);
  std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(s.opt.quiet_ms));
  Sample x = take_sample(s);
  if (resume) {
    std::lock_guard lock(s.mu);
    s.pause = false;
    s.cv.notify_all();
  }
  return x;
}

// Issue 29's reproduction: map, 16 random pages, unmap, with memory after every `report` cycles
// and the growth per cycle from the first report on (the first thousand are the warm-up).
int plain_loop(ServerProxy& server, long cycles, long report) {
  std::mt19937_64 rng(29);
  const size_t big = 3;  // "/big", 64 MiB
  const uint64_t seed = seed_of(0, big, 0);
  const uint64_t pages = kObjects[big].size / kPage;
  Sample first{};
  bool have_first = false;
  uint8_t buf[kPage];
  long bad = 0;
  for (long c = 1; c <= cycles; ++c) {
    Mapping m(server.url(kObjects[big].path));
    if (!m.ok()) {
      std::printf("FAIL: mmap_s3: %s\n", mmapurl_last_error_message());
      return 1;
    }
    for (int i = 0; i < 16; ++i) {
      const uint64_t page = rng() % pages;
      if (!guarded_copy(buf, m.data() + page * kPage, kPage) ||
          !testserver::check_synthetic(seed, page * kPage, buf, kPage, nullptr)) {
        ++bad;
      }
    }
    m.reset();
    if (c % report == 0) {
      Sample x;
      x.rss = rss_kib();
      x.heap = heap_kib();
      x.fds = open_fds();
      x.stats = process_stats();
      x.cycles = static_cast<uint64_t>(c);
      if (!have_first) {
        first = x;
        have_first = true;
      }
      const double n = static_cast<double>(x.cycles - first.cycles);
      std::printf(
          "loop cycles=%ld rss=%lu KiB heap=%lu KiB fds=%ld conns=%lu staging_mapped=%lu "
          "rss/cycle=%.1f B heap/cycle=%.1f B bad=%ld\n",
          c, static_cast<unsigned long>(x.rss), static_cast<unsigned long>(x.heap), x.fds,
          static_cast<unsigned long>(x.stats.connections),
          static_cast<unsigned long>(x.stats.staging_buffers_mapped),
          n > 0 ? (static_cast<double>(x.rss) - static_cast<double>(first.rss)) * 1024 / n : 0.0,
          n > 0 ? (static_cast<double>(x.heap) - static_cast<double>(first.heap)) * 1024 / n : 0.0,
          bad);
    }
  }
  return bad == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  auto shared = std::make_unique<Shared>();
  Shared& s = *shared;
  if (!parse(argc, argv, &s.opt)) {
    usage();
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);

  // The servers: one per loopback address (127.0.0.1 alone, or 127.0.0.2.. in --origins mode),
  // in a child forked before this process has a thread.
  char dir_template[] = "/tmp/mmapurl-soak-XXXXXX";
  if (!mkdtemp(dir_template)) {
    std::perror("mkdtemp");
    return 2;
  }
  const std::string dir = dir_template;
  std::vector<testserver::ServerOptions> all;
  for (int i = 0; i < s.opt.origins; ++i) {
    testserver::ServerOptions so;
    so.bind_address = s.opt.origins == 1 ? "127.0.0.1" : "127.0.0." + std::to_string(2 + i);
    so.keepalive_timeout_ms = s.opt.keepalive_timeout_ms;
    for (size_t k = 0; k < kObjects.size(); ++k) {
      so.objects.push_back({kObjects[k].path, kObjects[k].size, seed_of(i, k, 0),
                            kObjects[k].replaced ? "\"live-0\"" : "\"v1\"",
                            "Sun, 06 Nov 1994 08:49:37 GMT"});
    }
    if (i == 0) {
      so.objects.push_back({kLong.path, kLong.size, seed_of(0, kObjects.size(), 0), "\"v1\"", ""});
    }
    all.push_back(std::move(so));
  }
  int cmd_pipe[2], info_pipe[2];
  if (pipe2(cmd_pipe, O_CLOEXEC) != 0 || pipe2(info_pipe, O_CLOEXEC) != 0) {
    std::perror("pipe2");
    return 2;
  }
  const pid_t child = fork();
  if (child < 0) {
    std::perror("fork");
    return 2;
  }
  if (child == 0) {
    close(cmd_pipe[1]);
    close(info_pipe[0]);
    serve_in_child(all, cmd_pipe[0], info_pipe[1]);
  }
  close(cmd_pipe[0]);
  close(info_pipe[1]);
  FILE* commands = fdopen(cmd_pipe[1], "w");
  FILE* info = fdopen(info_pipe[0], "r");
  std::mutex commands_mu;
  std::string ca_bundle;
  for (int i = 0; i < s.opt.origins; ++i) {
    char line[1024];
    unsigned port = 0;
    if (!std::fgets(line, sizeof line, info) || std::sscanf(line, "PORT %u", &port) != 1) {
      std::fprintf(stderr, "mmapurl-soak: server: %s", line);
      return 2;
    }
    auto o = std::make_unique<Origin>();
    o->server = std::make_unique<ServerProxy>(
        i, "https://" + all[static_cast<size_t>(i)].bind_address + ":" + std::to_string(port),
        commands, info, &commands_mu);
    s.origins.push_back(std::move(o));
  }
  size_t ca_len = 0;
  if (std::fscanf(info, "CA %zu\n", &ca_len) != 1) {
    std::fprintf(stderr, "mmapurl-soak: no CA from the servers\n");
    return 2;
  }
  ca_bundle.resize(ca_len);
  if (std::fread(ca_bundle.data(), 1, ca_len, info) != ca_len) return 2;
  const std::string ca_path = dir + "/ca.pem";
  {
    std::ofstream ca(ca_path);
    ca << ca_bundle;
  }
  setenv("SSL_CERT_FILE", ca_path.c_str(), 1);

  struct sigaction sa {};
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, nullptr);

  FILE* csv = nullptr;
  if (!s.opt.csv.empty()) {
    csv = std::fopen(s.opt.csv.c_str(), "w");
    if (!csv) {
      std::perror(s.opt.csv.c_str());
      return 2;
    }
    std::fprintf(csv,
                 "kind,elapsed_s,rss_kib,heap_kib,engine_kib,staging_mapped,fds,threads,"
                 "connections,requests,retries,failed_pages,cycles,bytes_checked\n");
  }

  if (s.opt.loop > 0) {
    const int rc = plain_loop(*s.origins[0]->server, s.opt.loop, s.opt.loop_report);
    std::fflush(stdout);
    _exit(rc);
  }

  s.long_map = Mapping(s.origins[0]->server->url(kLong.path));
  if (!s.long_map.ok()) {
    std::fprintf(stderr, "mmapurl-soak: cannot map %s: %s\n", kLong.path.c_str(),
                 mmapurl_last_error_message());
    return 2;
  }
  std::printf(
      "mmapurl-soak: %.0f s, %d threads, %d origin(s), faults %s, replacements %s, warm-up %.0f%%, "
      "interval %.0f s\n",
      s.opt.seconds, s.opt.threads, s.opt.origins, s.opt.faults ? "on" : "off",
      s.opt.replace ? "on" : "off", s.opt.warmup_fraction * 100, s.opt.interval_s);

  s.start = Clock::now();
  std::vector<std::thread> workers;
  for (int i = 0; i < s.opt.threads; ++i) {
    workers.emplace_back([&s, i] { Worker(s, i).run(); });
  }
  std::thread chaos([&s] { chaos_loop(s); });

  const auto deadline = s.start + std::chrono::duration<double>(s.opt.seconds);
  const auto warm_end =
      s.start + std::chrono::duration<double>(s.opt.seconds * s.opt.warmup_fraction);
  auto next_print = s.start + std::chrono::duration<double>(s.opt.interval_s);
  bool warmed = false;
  Sample warm{};
  while (Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!warmed && Clock::now() >= warm_end) {
      warm = quiet_sample(s, /*resume=*/true);
      print_sample(s, warm, "quiet", csv);
      warmed = true;
    }
    if (Clock::now() >= next_print) {
      print_sample(s, take_sample(s), "sample", csv);
      next_print += std::chrono::duration<double>(s.opt.interval_s);
    }
  }
  Sample end = quiet_sample(s, /*resume=*/false);
  print_sample(s, end, "quiet", csv);
  s.stop = true;
  {
    std::lock_guard lock(s.mu);
    s.pause = false;
    s.cv.notify_all();
  }
  for (auto& w : workers) w.join();
  chaos.join();
  if (csv) std::fclose(csv);

  // Verdict.
  const double cycles = static_cast<double>(end.cycles - warm.cycles);
  const double rss_growth = static_cast<double>(end.rss) - static_cast<double>(warm.rss);
  const double heap_growth = static_cast<double>(end.heap) - static_cast<double>(warm.heap);
  const long fd_growth = end.fds - warm.fds;
  std::printf(
      "after warm-up: %.0f cycles, %lu mappings in all; rss %+.0f KiB (%+.1f B/cycle), heap "
      "%+.0f KiB (%+.1f B/cycle), fds %+ld, threads %+ld, connections %+ld\n",
      cycles, static_cast<unsigned long>(s.t.mappings.load()), rss_growth,
      cycles > 0 ? rss_growth * 1024 / cycles : 0.0, heap_growth,
      cycles > 0 ? heap_growth * 1024 / cycles : 0.0, fd_growth, end.threads - warm.threads,
      static_cast<long>(end.stats.connections) - static_cast<long>(warm.stats.connections));
  std::printf(
      "checked %lu pages (%lu MiB); SIGBUS expected %lu, unexpected %lu; wrong pages %lu; "
      "mmap failures expected %lu, unexpected %lu; advise failures %lu\n",
      static_cast<unsigned long>(s.t.pages_checked.load()),
      static_cast<unsigned long>(s.t.bytes_checked.load() >> 20),
      static_cast<unsigned long>(s.t.sigbus_expected.load()),
      static_cast<unsigned long>(s.t.sigbus_unexpected.load()),
      static_cast<unsigned long>(s.t.bad_pages.load()),
      static_cast<unsigned long>(s.t.map_failed_expected.load()),
      static_cast<unsigned long>(s.t.map_failed_unexpected.load()),
      static_cast<unsigned long>(s.t.advise_failed.load()));
  bool ok = true;
  if (errors(s) > 0) {
    std::printf("FAIL: %lu errors; first: %s\n", static_cast<unsigned long>(errors(s)),
                s.first_error.c_str());
    ok = false;
  }
  if (s.opt.max_rss_growth_kib >= 0 && rss_growth > s.opt.max_rss_growth_kib) {
    std::printf("FAIL: RSS grew %.0f KiB after the warm-up (bound %.0f KiB)\n", rss_growth,
                s.opt.max_rss_growth_kib);
    ok = false;
  }
  if (s.opt.max_heap_growth_kib >= 0 && heap_growth > s.opt.max_heap_growth_kib) {
    std::printf("FAIL: heap grew %.0f KiB after the warm-up (bound %.0f KiB)\n", heap_growth,
                s.opt.max_heap_growth_kib);
    ok = false;
  }
  if (s.opt.max_fd_growth >= 0 && fd_growth > s.opt.max_fd_growth) {
    std::printf("FAIL: open descriptors grew by %ld after the warm-up (bound %ld)\n", fd_growth,
                s.opt.max_fd_growth);
    ok = false;
  }
  const bool inconclusive = ok && cycles < static_cast<double>(s.opt.min_cycles);
  if (inconclusive) {
    std::printf("INCONCLUSIVE: %.0f cycles after the warm-up, fewer than --min-cycles %ld\n",
                cycles, s.opt.min_cycles);
  }
  std::printf("%s\n", inconclusive ? "SKIP" : ok ? "PASS" : "FAIL");
  s.long_map.reset();
  std::fclose(commands);  // the child stops its servers and exits
  waitpid(child, nullptr, 0);
  std::remove(ca_path.c_str());
  rmdir(dir.c_str());
  // Straight out: the engine parks at exit; nothing is left to save.
  std::fflush(stdout);
  _exit(inconclusive ? 77 : ok ? 0 : 1);
}
