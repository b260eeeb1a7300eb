// mmapurl-cat URL: writes a remote object to stdout with write(2) straight from the mapping
// (the original's mmap_to_stdout). Where the kernel refuses kernel-mode faults (user-mode-only
// userfaultfd) write(2) gets EFAULT, and the pages are copied from user space instead.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "mmapurl.h"
#include "mmapurl_ext.h"

int main(int argc, char** argv) {
  if (argc != 2 || std::strcmp(argv[1], "--help") == 0) {
    std::fprintf(stderr, "usage: mmapurl-cat URL   (https://, http:// or s3://)\n");
    return 2;
  }
  size_t size = 0;
  int err = 0;
  const void* p = mmap_s3(argv[1], &size, &err);
  if (p == reinterpret_cast<const void*>(-1)) {
    std::fprintf(stderr, "mmapurl-cat: %s: %s\n", mmap_s3_errstr(err), mmapurl_last_error_message());
    return 1;
  }
  const char* data = static_cast<const char*>(p);
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
      size_t done = 0;
      while (done < n) {
        ssize_t b = ::write(1, bounce.data() + done, n - done);
        if (b < 0 && errno == EINTR) continue;
        if (b <= 0) {
          std::perror("mmapurl-cat: write");
          munmap_s3(p);
          return 1;
        }
        done += static_cast<size_t>(b);
      }
      off += n;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      std::perror("mmapurl-cat: write");
      munmap_s3(p);
      return 1;
    }
    off += static_cast<size_t>(w);
  }
  munmap_s3(p);
  return 0;
}
