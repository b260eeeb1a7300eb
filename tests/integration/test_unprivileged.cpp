// Unprivileged use: as user nobody (no /dev/userfaultfd access, vm.unprivileged_userfaultfd=0) the
// engine falls back to UFFD_USER_MODE_ONLY; reads by pointer work, write(2) gets EFAULT, cat works.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "embedded_server/embedded_server.hpp"
#include "fixtures/process.hpp"
#include "integration/fault_test_support.hpp"
#include "mmapurl.hpp"

namespace mmapurl::faulttest {
namespace {

using testserver::EmbeddedServer;
using testserver::ObjectSpec;
using testserver::ServerOptions;

constexpr uid_t kNobody = 65534;
constexpr uint64_t kSize = (8 << 20) + 321;
constexpr uint64_t kSeed = 0x0b0d;
constexpr size_t kUnfetchedPage = 2000;  // far beyond the probe and any readahead of page 0..15

// User-mode-only userfaultfd exists since Linux 5.11.
bool kernel_has_user_mode_only() {
  utsname u{};
  if (uname(&u) != 0) return false;
  int major = 0, minor = 0;
  if (std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
  return major > 5 || (major == 5 && minor >= 11);
}

int unprivileged_userfaultfd_sysctl() {
  auto v = testing::read_file("/proc/sys/vm/unprivileged_userfaultfd");
  return v ? std::atoi(v->c_str()) : -1;
}

std::string read_all(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// Runs `cat_path url` with stdout into a pipe; its output, or nullopt (and *why) on failure.
std::optional<std::string> run_cat(const std::string& cat_path, const std::string& url,
                                   std::string* why) {
  int out[2];
  if (pipe(out) != 0) return std::nullopt;
  pid_t pid = fork();
  if (pid < 0) return std::nullopt;
  if (pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    close(out[1]);
    execl(cat_path.c_str(), cat_path.c_str(), url.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  std::string data = read_all(out[0]);
  close(out[0]);
  auto status = wait_child(pid, std::chrono::seconds(60));
  if (!status || !WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    *why = "mmapurl-cat: " + describe_status(status);
    return std::nullopt;
  }
  return data;
}

// The checks, in the (possibly unprivileged) child. "" when all hold, else what failed.
std::string unprivileged_checks(const std::string& url, const std::string& cat_path) {
  bool can_open_dev = access("/dev/userfaultfd", R_OK | W_OK) == 0;
  bool user_mode_only_expected = !can_open_dev && unprivileged_userfaultfd_sysctl() == 0;
  size_t sz = 0;
  int err = 0;
  const void* p = mmap_s3(url.c_str(), &sz, &err);
  if (p == MAP_FAILED) {
    return std::string("mmap_s3 as uid ") + std::to_string(getuid()) + ": " + mmap_s3_errstr(err) +
           ": " + mmapurl_last_error_message();
  }
  if (sz != kSize) return "wrong size " + std::to_string(sz);
  const auto* base = static_cast<const uint8_t*>(p);
  PageScan s = scan_pages(base, sz, kSeed, 0, 16);
  if (!s.all_right()) {
    return "reading by pointer: SIGBUS " + describe_pages(s.sigbus_pages) + " wrong " +
           describe_pages(s.wrong_pages);
  }
  // write(2) from a page not fetched yet: the kernel itself touches it.
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  errno = 0;
  ssize_t w = write(fds[1], base + kUnfetchedPage * kPage, kPage);
  int write_errno = errno;
  close(fds[1]);
  std::string piped = read_all(fds[0]);
  close(fds[0]);
  if (user_mode_only_expected) {
    if (w != -1 || write_errno != EFAULT) {
      return "write(2) from an unfetched page returned " + std::to_string(w) + " (" +
             std::strerror(write_errno) + "), expected EFAULT under user-mode-only userfaultfd";
    }
  } else if (w != static_cast<ssize_t>(kPage) ||
             !testserver::check_synthetic(kSeed, kUnfetchedPage * kPage,
                                          reinterpret_cast<const uint8_t*>(piped.data()),
                                          piped.size(), nullptr)) {
    return "write(2) from an unfetched page with full userfaultfd: " + std::to_string(w);
  }
  // The same page by pointer (a user-mode fault) reads right afterwards.
  s = scan_pages(base, sz, kSeed, kUnfetchedPage, 4);
  if (!s.all_right()) return "the page write(2) could not read fails by pointer too";
  // mmapurl_read of pages not fetched yet: the engine fetches them first, so the kernel's copy
  // finds them even where it may not fault them in itself.
  std::vector<uint8_t> copied(5 * kPage);
  const uint64_t from = (kUnfetchedPage - 500) * kPage + 17;
  errno = 0;
  const ssize_t n = mmapurl_read(base + from, copied.data(), copied.size());
  if (n != static_cast<ssize_t>(copied.size())) {
    return "mmapurl_read of unfetched pages returned " + std::to_string(n) + " (" +
           std::strerror(errno) + ")";
  }
  if (!testserver::check_synthetic(kSeed, from, copied.data(), copied.size(), nullptr)) {
    return "mmapurl_read of unfetched pages: wrong bytes";
  }
  munmap_s3(p);
  std::string why;
  auto cat = run_cat(cat_path, url, &why);
  if (!cat) return why;
  if (cat->size() != kSize) return "mmapurl-cat wrote " + std::to_string(cat->size()) + " bytes";
  uint64_t bad = 0;
  if (!testserver::check_synthetic(kSeed, 0, reinterpret_cast<const uint8_t*>(cat->data()),
                                   cat->size(), &bad)) {
    return "mmapurl-cat output differs at byte " + std::to_string(bad);
  }
  return "";
}

TEST(Unprivileged, UserModeOnlyFallbackReadsByPointerAndCatWorks) {
  if (!kernel_has_user_mode_only()) GTEST_SKIP() << "kernel < 5.11: no UFFD_USER_MODE_ONLY";
  if (unprivileged_userfaultfd_sysctl() < 0) GTEST_SKIP() << "no vm.unprivileged_userfaultfd";
  const std::string cat_path = std::string(MMAPURL_BINARY_DIR) + "/tools/mmapurl-cat";
  ASSERT_TRUE(testing::program_exists(cat_path)) << cat_path << " (build target mmapurl-cat)";
  const bool root = geteuid() == 0;
  // The child is forked before the server starts any thread: a child forked while another
  // thread is inside malloc can deadlock in its first allocation under GCC 12's AddressSanitizer
  // (its allocator takes no lock around fork), which hung this test in CI. It learns the URL
  // through a pipe.
  int url_pipe[2], result[2];
  // Close-on-exec: mmapurl-cat, run by the child, must not hold the result pipe open.
  ASSERT_EQ(pipe2(url_pipe, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(result, O_CLOEXEC), 0);
  std::fflush(stdout);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(url_pipe[1]);
    close(result[0]);
    std::string msg;
    std::string url = read_all(url_pipe[0]);
    close(url_pipe[0]);
    if (url.empty()) {
      msg = "the parent could not start the server";
    } else if (root &&
               (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 || setuid(kNobody) != 0)) {
      msg = std::string("dropping to nobody failed: ") + std::strerror(errno);
    } else if (root && (getuid() != kNobody || geteuid() != kNobody)) {
      msg = "still privileged after setuid";
    } else if (access(cat_path.c_str(), X_OK) != 0) {
      // Asked as the user that will run it (access(2) checks the real uid, now nobody's when we
      // were root: root itself passes X_OK on any executable), so a build tree nobody cannot
      // reach is named as such rather than showing up as mmapurl-cat's exit 127.
      msg = "uid " + std::to_string(getuid()) + " cannot execute " + cat_path + ": " +
            std::strerror(errno) +
            (root ? " (for nobody, every directory above it needs o+x)" : "");
    } else {
      setenv("MMAPURL_PROBE_SIZE", "16K", 1);
      setenv("MMAPURL_RETRY_TIMEOUT", "5", 1);
      msg = unprivileged_checks(url, cat_path);
    }
    ssize_t ignored = write(result[1], msg.data(), msg.size());
    (void)ignored;
    _exit(msg.empty() ? 0 : 1);
  }
  close(url_pipe[0]);
  close(result[1]);
  ServerOptions o;
  o.tls = false;
  o.objects.push_back(ObjectSpec{"/u", kSize, kSeed, "\"u1\"", ""});
  EmbeddedServer server(o);
  std::string err;
  const bool started = server.start(&err);
  if (started) {
    std::string url = server.url("/u");
    EXPECT_EQ(write(url_pipe[1], url.data(), url.size()), static_cast<ssize_t>(url.size()));
  }
  close(url_pipe[1]);  // EOF: the child reads the URL, or nothing when the server failed
  // Wait first (bounded), read after: a hung child must fail the test, not block it.
  auto status = wait_child(pid, std::chrono::seconds(120));
  std::string msg = read_all(result[0]);
  close(result[0]);
  ASSERT_TRUE(started) << err;
  EXPECT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << (root ? "as nobody: " : "as this user: ") << describe_status(status) << ": " << msg;
  EXPECT_EQ(msg, "");
}

}  // namespace
}  // namespace mmapurl::faulttest
