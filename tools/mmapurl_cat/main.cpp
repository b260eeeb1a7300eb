// mmapurl-cat [--progress] URL: writes a remote object to stdout with write(2) straight from the
// mapping (the original's mmap_to_stdout). Where the kernel refuses kernel-mode faults
// (user-mode-only userfaultfd) write(2) gets EFAULT, and the pages are copied from user space.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "mmapurl.h"
#include "mmapurl_ext.h"
#include "terminal_progress/progress_meter.hpp"

namespace {

constexpr const char* kUsage =
    "usage: mmapurl-cat [--progress] URL   (https://, http:// or s3://)\n"
    "  --progress   on a terminal, show bytes, MB/s, faults, requests and bytes in flight on\n"
    "               stderr (one line, updated in place), then a summary; stdout gets only the\n"
    "               object's bytes\n";

// Writes all of [p, p+n) to stdout; false with errno set on failure.
bool write_all(const char* p, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t b = ::write(1, p + done, n - done);
    if (b < 0 && errno == EINTR) continue;
    if (b <= 0) return false;
    done += static_cast<size_t>(b);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  bool progress = false;
  const char* url = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--progress") == 0) {
      progress = true;
    } else if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (argv[i][0] != '-' && !url) {
      url = argv[i];
    } else {
      std::fputs(kUsage, stderr);
      return 2;
    }
  }
  if (!url) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  size_t size = 0;
  int err = 0;
  const void* p = mmap_s3(url, &size, &err);
  if (p == reinterpret_cast<const void*>(-1)) {
    std::fprintf(stderr, "mmapurl-cat: %s: %s\n", mmap_s3_errstr(err),
                 mmapurl_last_error_message());
    return 1;
  }
  const char* data = static_cast<const char*>(p);
  mmapurl::tools::ProgressMeter meter("mmapurl-cat", size,
                                      progress && mmapurl::tools::ProgressMeter::wanted(false));
  constexpr size_t kChunk = 1 << 20;
  std::vector<char> bounce;
  size_t off = 0;
  while (off < size) {
    size_t n = std::min(kChunk, size - off);
    ssize_t w = ::write(1, data + off, n);
    if (w < 0 && errno == EFAULT) {
      // User-mode-only userfaultfd: touch the pages from user space through a bounce buffer.
      if (bounce.empty()) bounce.resize(kChunk);
      std::memcpy(bounce.data(), data + off, n);
      if (!write_all(bounce.data(), n)) {
        meter.finish();  // off the screen before the error line
        std::perror("mmapurl-cat: write");
        munmap_s3(p);
        return 1;
      }
      w = static_cast<ssize_t>(n);
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else if (w <= 0) {
      meter.finish();
      std::perror("mmapurl-cat: write");
      munmap_s3(p);
      return 1;
    }
    off += static_cast<size_t>(w);
    meter.add(static_cast<uint64_t>(w));
  }
  meter.finish();
  munmap_s3(p);
  return 0;
}
