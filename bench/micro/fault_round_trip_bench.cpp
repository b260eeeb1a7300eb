// fault-round-trip-bench: what one missing-page fault costs when another thread resolves it,
// with no network at all: the floor a remote fault adds to one ranged GET. The faulting thread
// touches a page of a userfaultfd-registered range; a handler thread, waiting in poll(2) on the
// uffd, answers with a 4 KiB UFFDIO_COPY through the engine's own Userfaultfd, which wakes the
// faulting thread. Two wake-ups per fault,
// as on the engine's path (faulting thread -> engine, engine -> faulting thread).
//
//   fault-round-trip-bench [--faults N] [--placements unpinned,same-core,other-core] [--json]
//
// Placements: unpinned (the scheduler decides, as for the engine), same-core (both threads on
// CPU 0), other-core (the handler on CPU 1). Each fault's page is checked after it is filled.
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "uffd/userfaultfd.hpp"

namespace {

constexpr uint64_t kPage = 4096;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "fault-round-trip-bench: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

void pin_to(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) die("pthread_setaffinity_np");
}

struct Placement {
  std::string name;
  int app_cpu;
  int handler_cpu;
};

struct Result {
  std::string placement;
  std::vector<double> us;
};

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1))];
}

// `faults` pages of a fresh registered range, touched in a random order, each answered by the
// handler with a page whose first word is its index.
Result measure(const Placement& where, uint64_t faults) {
  mmapurl::uffd::Userfaultfd uffd;
  int err = 0;
  std::string why;
  if (!uffd.open(&err, &why)) {
    std::fprintf(stderr, "fault-round-trip-bench: %s\n", why.c_str());
    std::exit(1);
  }
  const uint64_t size = faults * kPage;
  void* raw = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) die("mmap");
  auto* region = static_cast<uint8_t*>(raw);
  if ((errno = uffd.register_missing(reinterpret_cast<uint64_t>(region), size)) != 0) {
    die("UFFDIO_REGISTER");
  }

  std::atomic<bool> done{false};
  std::thread handler([&] {
    pin_to(where.handler_cpu);
    alignas(4096) static thread_local uint8_t page[kPage];
    // poll(2) with a timeout and a non-blocking read, so the handler can be told to stop; the
    // poll wake-up is the one a blocked read would get.
    for (;;) {
      pollfd p{uffd.fd(), POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) {
        if (done.load()) return;
        continue;
      }
      uffd_msg msg{};
      if (::read(uffd.fd(), &msg, sizeof msg) != sizeof msg) continue;
      if (msg.event != UFFD_EVENT_PAGEFAULT) continue;
      const uint64_t at = msg.arg.pagefault.address & ~(kPage - 1);
      const uint64_t index = (at - reinterpret_cast<uint64_t>(region)) / kPage;
      std::memcpy(page, &index, sizeof index);
      if ((errno = uffd.copy(at, page, kPage)) != 0) die("UFFDIO_COPY");
    }
  });

  Result r;
  r.placement = where.name;
  std::vector<uint64_t> order(faults);
  for (uint64_t i = 0; i < faults; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937_64(42));
  std::thread app([&] {
    pin_to(where.app_cpu);
    r.us.reserve(faults);
    for (uint64_t i : order) {
      const auto t0 = std::chrono::steady_clock::now();
      uint64_t first;
      std::memcpy(&first, region + i * kPage, sizeof first);
      r.us.push_back(
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
      if (first != i) {
        std::fprintf(stderr, "fault-round-trip-bench: page %llu holds %llu\n",
                     static_cast<unsigned long long>(i), static_cast<unsigned long long>(first));
        std::exit(1);
      }
      // A pause between faults, as between a random reader's dependent reads: both threads go
      // idle, and each fault pays the wake-ups of idle CPUs, not of spinning ones.
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  app.join();
  done.store(true);
  handler.join();
  ::munmap(region, size);
  return r;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    out.push_back(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t faults = 2000;
  std::vector<std::string> wanted{"unpinned", "same-core", "other-core"};
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--faults" && i + 1 < argc) {
      faults = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--placements" && i + 1 < argc) {
      wanted = split(argv[++i]);
    } else if (a == "--json") {
      json = true;
    } else {
      std::fprintf(stderr,
                   "usage: fault-round-trip-bench [--faults N] "
                   "[--placements unpinned,same-core,other-core] [--json]\n");
      return 2;
    }
  }
  if (faults == 0) faults = 1;
  const bool two_cpus = std::thread::hardware_concurrency() >= 2;
  for (const std::string& name : wanted) {
    Placement where{name, -1, -1};
    if (name == "same-core") {
      where = {name, 0, 0};
    } else if (name == "other-core") {
      if (!two_cpus) continue;
      where = {name, 0, 1};
    } else if (name != "unpinned") {
      std::fprintf(stderr, "fault-round-trip-bench: unknown placement %s\n", name.c_str());
      return 2;
    }
    const Result r = measure(where, faults);
    const double p50 = percentile(r.us, 50), p99 = percentile(r.us, 99);
    if (json) {
      std::printf(
          "{\"tool\":\"fault-round-trip\",\"placement\":\"%s\",\"faults\":%llu,"
          "\"p50_us\":%.1f,\"p99_us\":%.1f}\n",
          r.placement.c_str(), static_cast<unsigned long long>(faults), p50, p99);
    } else {
      std::printf("%-11s %6llu faults  p50 %7.1f us  p99 %7.1f us\n", r.placement.c_str(),
                  static_cast<unsigned long long>(faults), p50, p99);
    }
  }
  return 0;
}
