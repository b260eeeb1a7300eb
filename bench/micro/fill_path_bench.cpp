// fill-path-bench: end-to-end cost of filling a userfaultfd-registered range with fetched
// bytes, UFFDIO_COPY (what the engine does) against UFFDIO_MOVE (the opt-in candidate).
//
// "End to end" means what one byte costs from the moment the network layer writes it into a
// staging buffer until the application can read it from the mapping: the write into staging
// (TLS decryption writes its output there), the fill ioctl, and, for MOVE, repopulating the
// staging pages the move took away (MOVE's raw speed leaves that out). Each mode's output is
// checked byte for byte against what was written, so a faster wrong mode cannot win.
//
//   fill-path-bench [--size-mb N] [--runs R] [--chunks 64K,1M,8M] [--modes copy,move,...]
//
// Modes:
//   copy           warm pooled staging buffer, UFFDIO_COPY into a read-only mapping (engine)
//   move           staging refaulted page by page by the write, UFFDIO_MOVE (writable dst)
//   move-populate  staging refilled with MADV_POPULATE_WRITE (one call) before the write
//   move-thp       like move-populate, staging and destination 2 MiB aligned with
//                  MADV_HUGEPAGE, so a whole-PMD move is possible
// Prints one line per (mode, chunk, run) and a median table; --json for machines.
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "control/engine_config.hpp"
#include "uffd/uffd_abi.hpp"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14
#endif

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kHuge = 2ull << 20;

struct Options {
  uint64_t size = 1024ull << 20;
  int runs = 3;
  std::vector<uint64_t> chunks{64ull << 10, 1ull << 20, 8ull << 20};
  std::vector<std::string> modes{"copy", "move", "move-populate", "move-thp"};
  bool json = false;
};

// "64K", "8M", "512": the engine's own size parser (MMAPURL_* variables), refusing garbage.
uint64_t parse_size(const std::string& s) {
  auto v = mmapurl::control::parse_byte_size(s);
  if (!v) {
    std::fprintf(stderr, "fill-path-bench: not a size: '%s'\n", s.c_str());
    std::exit(2);
  }
  return *v;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at <= s.size()) {
    size_t comma = s.find(',', at);
    if (comma == std::string::npos) comma = s.size();
    if (comma > at) out.push_back(s.substr(at, comma - at));
    at = comma + 1;
  }
  return out;
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "fill-path-bench: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

int open_uffd() {
  int flags = O_CLOEXEC | O_NONBLOCK;
  int fd = -1;
  int dev = ::open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
  if (dev >= 0) {
    fd = ::ioctl(dev, USERFAULTFD_IOC_NEW, flags);
    ::close(dev);
  }
  if (fd < 0) fd = static_cast<int>(::syscall(SYS_userfaultfd, flags));
  if (fd < 0) die("userfaultfd");
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = UFFD_FEATURE_MOVE;
  if (::ioctl(fd, UFFDIO_API, &api) != 0) {
    std::fprintf(stderr, "fill-path-bench: UFFD_FEATURE_MOVE unavailable (kernel < 6.8?)\n");
    std::exit(2);
  }
  return fd;
}

// An anonymous region aligned to 2 MiB (so THP can back it when asked).
char* map_aligned(uint64_t size, int prot) {
  void* raw = ::mmap(nullptr, size + kHuge, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) die("mmap");
  auto start = reinterpret_cast<uint64_t>(raw);
  uint64_t aligned = (start + kHuge - 1) & ~(kHuge - 1);
  if (aligned > start) ::munmap(raw, aligned - start);
  uint64_t tail = start + size + kHuge - (aligned + size);
  if (tail) ::munmap(reinterpret_cast<void*>(aligned + size), tail);
  return reinterpret_cast<char*>(aligned);
}

// Deterministic content per offset: a fill landing at the wrong place is caught.
void stamp(char* dst, uint64_t offset, uint64_t len, const char* pattern, uint64_t pattern_len) {
  for (uint64_t done = 0; done < len;) {
    uint64_t at = (offset + done) % pattern_len;
    uint64_t n = std::min(len - done, pattern_len - at);
    std::memcpy(dst + done, pattern + at, n);
    done += n;
  }
}

void uffd_copy(int fd, uint64_t dst, const char* src, uint64_t len) {
  for (uint64_t done = 0; done < len;) {
    uffdio_copy c{};
    c.dst = dst + done;
    c.src = reinterpret_cast<uint64_t>(src) + done;
    c.len = len - done;
    int rc = ::ioctl(fd, UFFDIO_COPY, &c);
    if (c.copy > 0) done += static_cast<uint64_t>(c.copy);
    if (rc != 0 && errno != EAGAIN) die("UFFDIO_COPY");
  }
}

void uffd_move(int fd, uint64_t dst, char* src, uint64_t len) {
  for (uint64_t done = 0; done < len;) {
    uffdio_move m{};
    m.dst = dst + done;
    m.src = reinterpret_cast<uint64_t>(src) + done;
    m.len = len - done;
    int rc = ::ioctl(fd, UFFDIO_MOVE, &m);
    if (m.move > 0) done += static_cast<uint64_t>(m.move);
    if (rc != 0 && errno != EAGAIN) die("UFFDIO_MOVE");
  }
}

struct Sample {
  double fill_gbps = 0;   // staging write + fill (+ repopulation), per byte of the object
  double read_gbps = 0;   // the application reading the filled mapping once
  uint64_t huge_kib = 0;  // of the destination, backed by transparent huge pages after the fill
  bool bytes_ok = false;
};

// AnonHugePages of the mapping that starts at `start` (/proc/self/smaps): whether a move
// carried whole 2 MiB pages into the destination.
uint64_t anon_huge_kib(const void* start) {
  FILE* f = std::fopen("/proc/self/smaps", "r");
  if (!f) return 0;
  char line[512];
  bool inside = false;
  uint64_t kib = 0;
  auto want = reinterpret_cast<uint64_t>(start);
  while (std::fgets(line, sizeof line, f)) {
    unsigned long lo = 0, hi = 0;
    // Mapping header lines start with a lower-case hex address; field lines with a capital.
    bool header = std::isxdigit(static_cast<unsigned char>(line[0])) &&
                  !std::isupper(static_cast<unsigned char>(line[0]));
    if (header && std::sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
      inside = lo == want;
      continue;
    }
    unsigned long v = 0;
    if (inside && std::sscanf(line, "AnonHugePages: %lu kB", &v) == 1) kib = v;
  }
  std::fclose(f);
  return kib;
}

Sample run_once(int uffd, const std::string& mode, uint64_t size, uint64_t chunk,
                const std::vector<char>& pattern) {
  bool move = mode != "copy";
  bool thp = mode == "move-thp";
  char* dst = map_aligned(size, move ? PROT_READ | PROT_WRITE : PROT_READ);
  ::madvise(dst, size, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  uffdio_register reg{};
  reg.range.start = reinterpret_cast<uint64_t>(dst);
  reg.range.len = size;
  reg.mode = UFFDIO_REGISTER_MODE_MISSING;
  if (::ioctl(uffd, UFFDIO_REGISTER, &reg) != 0) die("UFFDIO_REGISTER");

  char* staging = map_aligned(chunk, PROT_READ | PROT_WRITE);
  ::madvise(staging, chunk, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  // The engine's pooled staging buffers are warm: fault them in before timing.
  std::memset(staging, 0, chunk);

  auto t0 = std::chrono::steady_clock::now();
  for (uint64_t off = 0; off < size; off += chunk) {
    uint64_t len = std::min(chunk, size - off);
    if (move && mode != "move" && off > 0) {
      if (::madvise(staging, len, MADV_POPULATE_WRITE) != 0) die("MADV_POPULATE_WRITE");
    }
    stamp(staging, off, len, pattern.data(), pattern.size());  // the decrypted bytes land here
    uint64_t at = reinterpret_cast<uint64_t>(dst) + off;
    if (move) {
      uffd_move(uffd, at, staging, len);
    } else {
      uffd_copy(uffd, at, staging, len);
    }
  }
  auto t1 = std::chrono::steady_clock::now();
  // The reader's pass also verifies: compare against the pattern chunk by chunk.
  std::vector<char> expect(std::min<uint64_t>(chunk, 1ull << 20));
  bool ok = true;
  for (uint64_t off = 0; off < size && ok; off += expect.size()) {
    uint64_t len = std::min<uint64_t>(expect.size(), size - off);
    stamp(expect.data(), off, len, pattern.data(), pattern.size());
    ok = std::memcmp(dst + off, expect.data(), len) == 0;
  }
  auto t2 = std::chrono::steady_clock::now();
  uint64_t huge = anon_huge_kib(dst);

  uffdio_range range{reinterpret_cast<uint64_t>(dst), size};
  ::ioctl(uffd, UFFDIO_UNREGISTER, &range);
  ::munmap(dst, size);
  ::munmap(staging, chunk);
  double fill_s = std::chrono::duration<double>(t1 - t0).count();
  double read_s = std::chrono::duration<double>(t2 - t1).count();
  return {size / fill_s / 1e9, size / read_s / 1e9, huge, ok};
}

std::string human(uint64_t n) {
  if (n % (1ull << 20) == 0) return std::to_string(n >> 20) + "M";
  return std::to_string(n >> 10) + "K";
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "fill-path-bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--size-mb") {
      o.size = parse_size(next()) << 20;
    } else if (a == "--runs") {
      o.runs = std::atoi(next().c_str());
    } else if (a == "--chunks") {
      o.chunks.clear();
      for (auto& c : split(next())) o.chunks.push_back(parse_size(c));
    } else if (a == "--modes") {
      o.modes = split(next());
    } else if (a == "--json") {
      o.json = true;
    } else {
      std::fprintf(stderr,
                   "usage: fill-path-bench [--size-mb N] [--runs R] [--chunks 64K,1M] "
                   "[--modes copy,move,move-populate,move-thp] [--json]\n");
      return 2;
    }
  }
  for (uint64_t c : o.chunks) {
    if (c == 0 || c % kPage || o.size % c) {
      std::fprintf(stderr, "fill-path-bench: chunk %s must be pages and divide the size\n",
                   human(c).c_str());
      return 2;
    }
  }
  int uffd = open_uffd();
  // Incompressible-looking bytes, period not a multiple of the page size.
  std::vector<char> pattern((1ull << 20) + 4093);
  std::mt19937_64 rng(42);
  for (auto& b : pattern) b = static_cast<char>(rng());

  std::map<std::pair<std::string, uint64_t>, std::vector<Sample>> samples;
  bool all_ok = true;
  // One untimed pass first (page tables, allocator, THP pool), then the timed runs; modes
  // alternate inside each run so machine noise spreads over all of them.
  for (uint64_t chunk : o.chunks)
    for (auto& mode : o.modes)
      all_ok = run_once(uffd, mode, o.size, chunk, pattern).bytes_ok && all_ok;
  for (int r = 0; r < o.runs; ++r) {
    for (uint64_t chunk : o.chunks) {
      for (auto& mode : o.modes) {
        Sample s = run_once(uffd, mode, o.size, chunk, pattern);
        all_ok = all_ok && s.bytes_ok;
        samples[{mode, chunk}].push_back(s);
        if (o.json) {
          std::printf(
              "{\"mode\":\"%s\",\"chunk\":%llu,\"run\":%d,\"fill_gbps\":%.3f,"
              "\"read_gbps\":%.3f,\"huge_kib\":%llu,\"bytes_ok\":%s}\n",
              mode.c_str(), static_cast<unsigned long long>(chunk), r, s.fill_gbps, s.read_gbps,
              static_cast<unsigned long long>(s.huge_kib), s.bytes_ok ? "true" : "false");
        } else {
          std::fprintf(
              stderr,
              "run %d %-14s chunk %-4s fill %6.2f GB/s  read %6.2f GB/s  THP %5llu MiB  %s\n", r,
              mode.c_str(), human(chunk).c_str(), s.fill_gbps, s.read_gbps,
              static_cast<unsigned long long>(s.huge_kib >> 10),
              s.bytes_ok ? "bytes ok" : "WRONG BYTES");
        }
      }
    }
  }
  if (!o.json) {
    std::printf(
        "| chunk | mode | fill GB/s (median of %d) | vs copy | read after fill GB/s | "
        "THP-backed MiB | bytes |\n",
        o.runs);
    std::printf("|---|---|---:|---:|---:|---:|---|\n");
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    for (uint64_t chunk : o.chunks) {
      double copy_fill = 0;
      for (auto& mode : o.modes) {
        auto& v = samples[{mode, chunk}];
        std::vector<double> fill, read, huge;
        bool ok = true;
        for (auto& s : v) {
          fill.push_back(s.fill_gbps);
          read.push_back(s.read_gbps);
          huge.push_back(static_cast<double>(s.huge_kib >> 10));
          ok = ok && s.bytes_ok;
        }
        double f = median(fill);
        if (mode == "copy") copy_fill = f;
        std::string ratio = copy_fill > 0 ? std::to_string(f / copy_fill).substr(0, 4) + "×" : "–";
        std::printf("| %s | %s | %.2f | %s | %.2f | %.0f | %s |\n", human(chunk).c_str(),
                    mode.c_str(), f, ratio.c_str(), median(read), median(huge),
                    ok ? "verified" : "WRONG");
      }
    }
  }
  return all_ok ? 0 : 1;
}
