// PageDigests: a position-sensitive 128-bit sum for every 4 KiB page of a reference file, made
// once before anything is timed, so a benchmark checks every byte it read by reading it once.
// Header-only: uffd-bench and the peer benchmark's mmap-reader check bytes the same way.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace mmapurl::bench {

// Fletcher-style over 64-bit words: `sum` catches changed bytes, `weighted` (each word times its
// distance from the page's end) also catches moved ones. Two adds a word: as cheap as reading.
struct PageDigest {
  uint64_t sum = 0;
  uint64_t weighted = 0;
  bool operator==(const PageDigest&) const = default;
};

inline PageDigest digest_of(const uint8_t* data, size_t len) {
  PageDigest d;
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    std::memcpy(&w, data + i, 8);
    d.sum += w;
    d.weighted += d.sum;
  }
  for (; i < len; ++i) {
    d.sum += data[i];
    d.weighted += d.sum;
  }
  return d;
}

// Comparing with a mapped copy of the reference instead read two streams and, once touched, put
// the copy's pages in the reader's RSS, which the benchmarks report.
class PageDigests {
 public:
  static constexpr uint64_t kPage = 4096;

  PageDigests() = default;
  ~PageDigests() {
    if (fd_ >= 0) close(fd_);
  }
  PageDigests(const PageDigests&) = delete;
  PageDigests& operator=(const PageDigests&) = delete;

  // Reads the whole file once (pread, nothing mapped). False with *error on failure.
  bool load(const std::string& path, std::string* error) {
    fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      *error = "cannot open " + path + ": " + std::strerror(errno);
      return false;
    }
    std::vector<uint8_t> buf(kReadBytes);
    for (;;) {
      const ssize_t n = pread(fd_, buf.data(), buf.size(), static_cast<off_t>(size_));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        *error = "cannot read " + path + ": " + std::strerror(errno);
        return false;
      }
      if (n == 0) break;
      // Reads end on page boundaries except at EOF (pread of a regular file fills the buffer).
      for (size_t off = 0; off < static_cast<size_t>(n); off += kPage) {
        const size_t len = std::min<size_t>(kPage, static_cast<size_t>(n) - off);
        digests_.push_back(digest_of(buf.data() + off, len));
      }
      size_ += static_cast<uint64_t>(n);
    }
    return true;
  }

  uint64_t size() const { return size_; }

  // Whether data[0, len) is the reference's bytes at `offset`. Page-aligned spans (whole pages,
  // or a last page ending at EOF) are checked by digest; anything else against the file itself.
  bool matches(uint64_t offset, const uint8_t* data, size_t len) const {
    if (offset > size_ || len > size_ - offset) return false;
    const bool aligned = offset % kPage == 0 && (len % kPage == 0 || offset + len == size_);
    if (!aligned) return matches_file(offset, data, len);
    for (size_t done = 0; done < len; done += kPage) {
      const size_t n = std::min<size_t>(kPage, len - done);
      if (!(digest_of(data + done, n) == digests_[(offset + done) / kPage])) return false;
    }
    return true;
  }

 private:
  static constexpr size_t kReadBytes = 4 << 20;

  bool matches_file(uint64_t offset, const uint8_t* data, size_t len) const {
    std::vector<uint8_t> buf(len);
    size_t got = 0;
    while (got < len) {
      const ssize_t n = pread(fd_, buf.data() + got, len - got, static_cast<off_t>(offset + got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      got += static_cast<size_t>(n);
    }
    return std::memcmp(buf.data(), data, len) == 0;
  }

  int fd_ = -1;
  uint64_t size_ = 0;
  std::vector<PageDigest> digests_;
};

}  // namespace mmapurl::bench
