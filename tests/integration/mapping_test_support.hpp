// Helpers shared by the mapping integration tests: one nginx per test process over a temp docroot,
// seeded random objects, the client environment, byte checks; and (integration/fresh_process.hpp)
// re-running a test afresh.
#pragma once

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "fixtures/nginx_server.hpp"
#include "fixtures/process.hpp"
#include "integration/fresh_process.hpp"
#include "mmapurl.h"
#include "mmapurl.hpp"
#include "mmapurl_ext.h"

namespace mmapurl::itest {

using mmapurl::testing::NginxServer;
using mmapurl::testing::TempDir;

inline const void* const kMapFailed = MAP_FAILED;

// `n` bytes from a seeded PRNG: an object no run of zeros (unfilled pages) can pass for.
inline std::string random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    std::memcpy(out.data() + i, &v, 8);
  }
  uint64_t v = rng();
  std::memcpy(out.data() + i, &v, n - i);
  return out;
}

// setenv only when the value changes: the engine thread may call getenv concurrently.
inline void set_env(const char* name, const std::string& value) {
  const char* old = std::getenv(name);
  if (!old || value != old) ::setenv(name, value.c_str(), 1);
}

inline void unset_env(const char* name) {
  if (std::getenv(name)) ::unsetenv(name);
}

// The code's text and why this thread's last mmap_s3 failed, for assertion messages.
inline std::string describe_failure(int err) {
  return std::string(mmap_s3_errstr(err)) + ": " + mmapurl_last_error_message();
}

// Talk to loopback directly, whatever proxy the caller's environment names.
inline void unset_proxy_environment() {
  for (const char* proxy : {"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY",
                            "no_proxy", "ALL_PROXY", "all_proxy"}) {
    unset_env(proxy);
  }
}

// What every TLS test's client depends on: trust exactly `ca_file`, no proxy. The engine reads
// it when it starts, so it must be set before the process's first mmap_s3.
inline void set_client_environment(const std::string& ca_file) {
  set_env("SSL_CERT_FILE", ca_file);
  unset_env("SSL_CERT_DIR");
  unset_proxy_environment();
}

// Offset of the first byte where [data, data+n) differs from `expected` (npos if equal).
// Compares in 1 MiB steps so a mismatch is located without a byte loop over everything.
inline size_t first_mismatch(const uint8_t* data, size_t n, const std::string& expected) {
  if (n != expected.size()) return std::min(n, expected.size());
  constexpr size_t kStep = 1 << 20;
  for (size_t off = 0; off < n; off += kStep) {
    size_t len = std::min(kStep, n - off);
    if (std::memcmp(data + off, expected.data() + off, len) == 0) continue;
    for (size_t i = off; i < off + len; ++i) {
      if (data[i] != static_cast<uint8_t>(expected[i])) return i;
    }
  }
  return std::string::npos;
}

// Copies the mapping with write(2) into a memfd (the kernel faults the pages in, not user code)
// and reads the copy back. nullopt if a write fails.
inline std::optional<std::string> copy_out_with_write(const void* data, size_t n) {
  int fd = ::memfd_create("mmapurl-itest", MFD_CLOEXEC);
  if (fd < 0) return std::nullopt;
  const char* p = static_cast<const char*>(data);
  size_t done = 0;
  while (done < n) {
    ssize_t w = ::write(fd, p + done, std::min<size_t>(n - done, 8 << 20));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      ::close(fd);
      return std::nullopt;
    }
    done += static_cast<size_t>(w);
  }
  std::string back(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, back.data() + got, n - got, static_cast<off_t>(got));
    if (r <= 0) {
      ::close(fd);
      return std::nullopt;
    }
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  return back;
}

// One nginx per test process, serving a temp docroot the tests write into. One server (one CA)
// per process, because the engine reads SSL_CERT_FILE once, when it starts.
class SharedOrigin {
 public:
  // Started on first use from the calling (main) thread; nullptr and *error on failure.
  static SharedOrigin* get(std::string* error) {
    static std::unique_ptr<SharedOrigin> origin;
    if (origin) return origin.get();
    auto o = std::unique_ptr<SharedOrigin>(new SharedOrigin());
    o->docroot_ = TempDir::create("mmapurl-itest-docroot", error);
    if (!o->docroot_) return nullptr;
    o->nginx_ = NginxServer::start(o->docroot_->path(), error);
    if (!o->nginx_) return nullptr;
    origin = std::move(o);
    return origin.get();
  }

  NginxServer& nginx() { return *nginx_; }
  const std::string& docroot() const { return docroot_->path(); }
  std::string path_of(const std::string& name) const { return docroot_->file(name); }
  bool put(const std::string& name, const std::string& content) {
    return mmapurl::testing::write_file(path_of(name), content);
  }
  // https:// or http:// URL of /<name>.
  std::string url(bool https, const std::string& name) const {
    return https ? nginx_->https_url("/" + name) : nginx_->http_url("/" + name);
  }

 private:
  SharedOrigin() = default;
  std::unique_ptr<TempDir> docroot_;
  std::unique_ptr<NginxServer> nginx_;
};

// A test of mappings of the shared nginx: the origin started, the client trusting its CA.
class SharedOriginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    origin_ = SharedOrigin::get(&error);
    ASSERT_NE(origin_, nullptr) << error;
    set_client_environment(origin_->nginx().ca_file());
  }
  SharedOrigin* origin_ = nullptr;
};

// Whether every page of [p, p+len) is resident (mincore).
inline bool all_resident(const uint8_t* p, size_t len) {
  std::vector<unsigned char> v((len + 4095) / 4096);
  if (mincore(const_cast<uint8_t*>(p), len, v.data()) != 0) return false;
  return std::all_of(v.begin(), v.end(), [](unsigned char c) { return (c & 1) != 0; });
}

// Resident bytes of the mapping at [base, base+len), as the kernel counts them (smaps "Rss").
inline uint64_t kernel_resident_bytes(const void* base) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  auto start = reinterpret_cast<uintptr_t>(base);
  bool inside = false;
  while (std::getline(smaps, line)) {
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (line.find('-') != std::string::npos && (head >> std::hex >> lo >> dash >> hi) &&
        dash == '-') {
      inside = lo <= start && start < hi;
      continue;
    }
    if (inside && line.rfind("Rss:", 0) == 0) return std::stoull(line.substr(4)) * 1024;
  }
  return 0;
}

// The kernel's count, taken while the engine neither filled nor evicted. smaps walks the page
// tables while the engine fills ahead of a scan and evicts behind it, so a walk preempted midway
// counts pages on both sides, megabytes more than were ever resident at once.
inline std::optional<uint64_t> settled_kernel_resident_bytes(const void* base) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    const mmapurl::Stats before = mmapurl::process_stats();
    const uint64_t bytes = kernel_resident_bytes(base);
    const mmapurl::Stats after = mmapurl::process_stats();
    if (before.resident_bytes == after.resident_bytes && before.evictions == after.evictions) {
      return bytes;
    }
  }
  return std::nullopt;
}

// Polls until every page of [p, p+len) is resident or `timeout` passes; whether they all are.
inline bool wait_until_resident(const uint8_t* p, size_t len, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!all_resident(p, len) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return all_resident(p, len);
}

}  // namespace mmapurl::itest
