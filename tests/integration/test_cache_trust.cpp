// The kept disk cache (MMAPURL_CACHE_KEEP) where other local users can reach it, as two real users
// made for each test (root only): what an attacker plants at the predictable names is never
// written, read, followed or waited on, and a cache directory others could rewrite is refused,
// with the reason logged, while the mapping still reads right from the network.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "embedded_server/embedded_server.hpp"
#include "integration/fault_test_support.hpp"
#include "mmapurl.hpp"

namespace mmapurl::faulttest {
namespace {

constexpr uint64_t kSize = (3 << 20) + 555;
constexpr uint64_t kSeed = 0x7a57;
constexpr uint64_t kFileSize = (kSize + kPage - 1) / kPage * kPage;  // a kept file's size
// A run that hangs (the engine thread blocked in an open) is killed after this and fails.
constexpr auto kRunTimeout = std::chrono::seconds(60);

std::string read_fd(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

std::string read_path(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The first of /usr/sbin/<name> and /sbin/<name> that exists ("" if neither): the tests' PATH
// need not hold the system directories.
std::string system_program(const std::string& name) {
  for (const char* dir : {"/usr/sbin/", "/sbin/"}) {
    if (::access((dir + name).c_str(), X_OK) == 0) return dir + name;
  }
  return "";
}

// Runs `argv` (no shell, stdout discarded); its exit status, or -1.
int run_program(const std::vector<std::string>& argv) {
  std::fflush(stdout);
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) ::dup2(null, 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  const auto status = wait_child(pid, std::chrono::seconds(60));
  return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
}

// A local user, with a group of its own, made for one test and deleted after it.
class TestUser {
 public:
  static std::unique_ptr<TestUser> create(const std::string& role, std::string* why) {
    const std::string name = "mmct" + role + std::to_string(::getpid());
    const std::string useradd = system_program("useradd");
    // Another test (or agent) adding a user holds /etc/passwd's lock for a moment: retried.
    int rc = -1;
    for (int attempt = 0; attempt < 10 && rc != 0; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (rc == 9) run_program({system_program("userdel"), name});  // left by a killed run
      rc = run_program({useradd, "-M", "-U", "-s", "/usr/sbin/nologin", name});
    }
    const passwd* pw = rc == 0 ? ::getpwnam(name.c_str()) : nullptr;
    if (!pw) {
      *why = "useradd " + name + " failed: exit " + std::to_string(rc);
      return nullptr;
    }
    return std::unique_ptr<TestUser>(new TestUser(name, pw->pw_uid, pw->pw_gid));
  }
  ~TestUser() {
    for (int attempt = 0; attempt < 10; ++attempt) {
      if (run_program({system_program("userdel"), name_}) == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  TestUser(const TestUser&) = delete;
  TestUser& operator=(const TestUser&) = delete;
  const std::string& name() const { return name_; }
  uid_t uid() const { return uid_; }
  gid_t gid() const { return gid_; }

 private:
  TestUser(std::string name, uid_t uid, gid_t gid) : name_(std::move(name)), uid_(uid), gid_(gid) {}
  std::string name_;
  uid_t uid_;
  gid_t gid_;
};

// The embedded server (plain HTTP, one object with a strong ETag, which a kept cache needs) in a
// forked process of its own: the test process starts no thread, so the users' processes it forks
// afterwards come from a single-threaded parent.
class ServerProcess {
 public:
  bool start(std::string* why) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return false;
    std::fflush(stdout);
    pid_ = ::fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives the test
      ::close(pipe_fds[0]);
      testserver::ServerOptions o;
      o.tls = false;
      o.objects.push_back(testserver::ObjectSpec{"/obj", kSize, kSeed, "\"trust1\"", ""});
      testserver::EmbeddedServer server(o);
      std::string error;
      const std::string said = server.start(&error) ? server.url("/obj") : "!" + error;
      if (::write(pipe_fds[1], said.data(), said.size()) < 0) ::_exit(1);
      ::close(pipe_fds[1]);
      for (;;) ::pause();
    }
    ::close(pipe_fds[1]);
    url_ = read_fd(pipe_fds[0]);
    ::close(pipe_fds[0]);
    if (url_.empty() || url_[0] == '!') {
      *why = "embedded server: " + url_;
      return false;
    }
    return true;
  }
  ~ServerProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  const std::string& url() const { return url_; }

 private:
  pid_t pid_ = -1;
  std::string url_;
};

// What one user's process did: mapped the object with a kept cache, read every byte.
struct MappingRun {
  bool ended = false;            // on its own, within kRunTimeout
  std::string message;           // "" when every byte was right, else what went wrong
  uint64_t cached_at_start = 0;  // the bytes its cache held right after mapping (with the probe's)
  uint64_t cached_at_end = 0;
};

// In the user's process: maps `url`, reads every byte, unmaps (which saves a kept cache). "held
// <cached bytes after mapping> <at the end>", or what went wrong.
std::string map_and_read(const std::string& url) {
  Mapping m(url);
  if (!m.ok()) return std::string("mmap_s3: ") + m.error_string();
  const uint64_t start = m.stats().cached_bytes;
  uint64_t bad = 0;
  if (m.size() != kSize) return "size " + std::to_string(m.size());
  if (!testserver::check_synthetic(kSeed, 0, m.data(), m.size(), &bad)) {
    return "a wrong byte at " + std::to_string(bad);
  }
  return "held " + std::to_string(start) + " " + std::to_string(m.stats().cached_bytes);
}

// Runs a mapping of `url` in a forked process as `user` (its uid and group, no other group), with
// `cache_dir` as MMAPURL_CACHE_DIR, MMAPURL_CACHE_KEEP=1 and an info log at `log`: it reads every
// byte and unmaps (which saves the kept cache). A process still running after kRunTimeout is
// killed.
MappingRun map_as(const TestUser& user, const std::string& url, const std::string& cache_dir,
                  const std::string& log, const std::string& keep_limit = "") {
  int result[2];
  MappingRun run;
  if (::pipe2(result, O_CLOEXEC) != 0) {
    run.message = "pipe failed";
    return run;
  }
  std::fflush(stdout);
  const pid_t pid = ::fork();
  if (pid < 0) {
    run.message = "fork failed";
    return run;
  }
  if (pid == 0) {
    ::close(result[0]);
    std::string said;
    if (::setgroups(0, nullptr) != 0 || ::setgid(user.gid()) != 0 || ::setuid(user.uid()) != 0 ||
        ::geteuid() != user.uid()) {
      said = std::string("becoming ") + user.name() + ": " + std::strerror(errno);
    } else {
      ::setenv("MMAPURL_CACHE_DIR", cache_dir.c_str(), 1);
      ::setenv("MMAPURL_CACHE_KEEP", "1", 1);
      ::setenv("MMAPURL_LOG", "info", 1);
      ::setenv("MMAPURL_LOG_FILE", log.c_str(), 1);
      ::setenv("MMAPURL_RETRY_TIMEOUT", "5", 1);
      if (!keep_limit.empty()) ::setenv("MMAPURL_CACHE_KEEP_LIMIT", keep_limit.c_str(), 1);
      said = map_and_read(url);
    }
    if (::write(result[1], said.data(), said.size()) < 0) ::_exit(2);
    ::_exit(0);
  }
  ::close(result[1]);
  const auto status = wait_child(pid, kRunTimeout);
  run.ended = status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
  const std::string said = read_fd(result[0]);
  ::close(result[0]);
  if (!run.ended) {
    run.message = "as " + user.name() + ": " + describe_status(status) + ": " + said;
  } else if (said.rfind("held ", 0) != 0) {
    run.message = "as " + user.name() + ": " + said;
  } else {
    std::sscanf(said.c_str(), "held %" SCNu64 " %" SCNu64, &run.cached_at_start,
                &run.cached_at_end);
  }
  return run;
}

// A directory made with exactly `mode` (the umask does not apply) for `uid`:`gid`.
void make_dir(const std::string& path, mode_t mode, uid_t uid, gid_t gid) {
  ASSERT_EQ(::mkdir(path.c_str(), 0700), 0) << path << ": " << std::strerror(errno);
  ASSERT_EQ(::chown(path.c_str(), uid, gid), 0) << path << ": " << std::strerror(errno);
  ASSERT_EQ(::chmod(path.c_str(), mode), 0) << path << ": " << std::strerror(errno);
}

// The entries under `dir` (all depths) that `uid` owns, not following links.
std::vector<std::string> owned_under(const std::string& dir, uid_t uid) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir, ec)) {
    struct stat st {};
    if (::lstat(entry.path().c_str(), &st) == 0 && st.st_uid == uid) out.push_back(entry.path());
  }
  return out;
}

// Two users, victim and attacker, the object's server, and a scratch directory under /tmp that
// both may enter: each user's 0700 home in it (the victim's log and a file of its own that must
// never change), and the cache directories.
class CacheTrust : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "making two users and running as each needs root";
    if (system_program("useradd").empty() || system_program("userdel").empty())
      GTEST_SKIP() << "no useradd/userdel (Debian's passwd package)";
    std::string why;
    victim_ = TestUser::create("v", &why);
    ASSERT_TRUE(victim_) << why;
    attacker_ = TestUser::create("a", &why);
    ASSERT_TRUE(attacker_) << why;
    ASSERT_TRUE(server_.start(&why)) << why;
    char root[] = "/tmp/mmapurl-cache-trust-XXXXXX";
    ASSERT_NE(::mkdtemp(root), nullptr) << std::strerror(errno);
    root_ = root;
    ASSERT_EQ(::chmod(root, 0755), 0);
    ASSERT_NO_FATAL_FAILURE(make_dir(victim_home(), 0700, victim_->uid(), victim_->gid()));
    ASSERT_NO_FATAL_FAILURE(make_dir(attacker_home(), 0700, attacker_->uid(), attacker_->gid()));
    // The attacker learns the predictable name as anyone can: by mapping the object itself.
    const MappingRun learn =
        map_as(*attacker_, server_.url(), attacker_home(), attacker_home() + "/log");
    ASSERT_EQ(learn.message, "");
    for (const auto& entry : std::filesystem::directory_iterator(attacker_home())) {
      const std::string name = entry.path().filename();
      if (name.size() > 6 && name.compare(name.size() - 6, 6, ".cache") == 0) name_ = name;
    }
    ASSERT_FALSE(name_.empty()) << "the attacker's own mapping left no kept cache file";
  }
  void TearDown() override {
    if (!root_.empty()) std::filesystem::remove_all(root_);
  }

  std::string victim_home() const { return root_ + "/victim"; }
  std::string attacker_home() const { return root_ + "/attacker"; }
  std::string victim_log() const { return victim_home() + "/log"; }
  MappingRun map_as_victim(const std::string& cache_dir, const std::string& keep_limit = "") {
    return map_as(*victim_, server_.url(), cache_dir, victim_log(), keep_limit);
  }
  // A file of the attacker's at `path`, mode 0666 and `size` bytes (zeros); its descriptor,
  // which the attacker keeps to read and rewrite whatever lands in it.
  int plant_file(const std::string& path, uint64_t size) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0) << path << ": " << std::strerror(errno);
    if (fd < 0) return fd;
    EXPECT_EQ(::fchown(fd, attacker_->uid(), attacker_->gid()), 0);
    EXPECT_EQ(::fchmod(fd, 0666), 0);
    EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
    return fd;
  }
  // A FIFO of the attacker's at `path` (whatever was there goes): an open for reading blocks
  // until a writer comes, and none will.
  void plant_fifo(const std::string& path) {
    ::unlink(path.c_str());
    ASSERT_EQ(::mkfifo(path.c_str(), 0666), 0) << path << ": " << std::strerror(errno);
    ASSERT_EQ(::lchown(path.c_str(), attacker_->uid(), attacker_->gid()), 0);
    ASSERT_EQ(::chmod(path.c_str(), 0666), 0);
  }
  void plant_symlink(const std::string& path, const std::string& target) {
    ASSERT_EQ(::symlink(target.c_str(), path.c_str()), 0) << path << ": " << std::strerror(errno);
    ASSERT_EQ(::lchown(path.c_str(), attacker_->uid(), attacker_->gid()), 0);
  }

  std::unique_ptr<TestUser> victim_, attacker_;
  ServerProcess server_;
  std::string root_;
  std::string name_;  // the kept cache file's name for the object: mmapurl-<digest>.cache
};

// Where the victim's cache directory is. kShared: root's, mode 1777, like /tmp; the attacker
// plants at the names anyone can predict in it. kOwn: the victim's own 0700 directory, where only
// root can plant (standing in for anyone who could write there once): then the engine itself
// must judge what it finds at the names.
enum class Layout { kShared, kOwn };
void PrintTo(Layout layout, std::ostream* out) {
  *out << (layout == Layout::kShared ? "shared" : "the user's own");
}

class CacheTrustPlanted : public CacheTrust, public ::testing::WithParamInterface<Layout> {
 protected:
  std::string make_cache_dir() {
    const std::string dir = root_ + "/cache";
    if (GetParam() == Layout::kShared) {
      make_dir(dir, 01777, 0, 0);
    } else {
      make_dir(dir, 0700, victim_->uid(), victim_->gid());
    }
    return dir;
  }
};

// The attack: the attacker's empty 0666 file at the predictable name before the victim
// maps. The victim must neither write the object into it (the attacker would read it) nor, once
// the attacker rewrote it, read it back as the object.
TEST_P(CacheTrustPlanted, APlantedFileIsNeitherWrittenNorRead) {
  const std::string dir = make_cache_dir();
  const int planted = plant_file(dir + "/" + name_, 0);
  ASSERT_GE(planted, 0);
  const MappingRun first = map_as_victim(dir);
  EXPECT_EQ(first.message, "");
  struct stat st {};
  ASSERT_EQ(::fstat(planted, &st), 0);
  EXPECT_EQ(st.st_size, 0) << "the victim wrote into the attacker's file";
  // What the attacker would have the victim read next time, in a file of the right size.
  const std::string edited(kFileSize, 'X');
  ASSERT_EQ(::pwrite(planted, edited.data(), edited.size(), 0),
            static_cast<ssize_t>(edited.size()));
  const MappingRun second = map_as_victim(dir);
  EXPECT_EQ(second.message, "") << "the victim read the attacker's bytes as the object";
  EXPECT_EQ(second.cached_at_start, kFileSize) << "the victim's own kept cache serves it";
  std::string now(kFileSize + 1, '\0');
  EXPECT_EQ(::pread(planted, now.data(), now.size(), 0), static_cast<ssize_t>(kFileSize));
  now.resize(kFileSize);
  EXPECT_TRUE(now == edited) << "the attacker's file changed";
  ::close(planted);
}

// A FIFO at the record's name (beside a right-sized file of the attacker's at the bytes' name):
// reading the record must not block the engine thread, so the mapping ends within the timeout.
// Then the same with the victim's own kept file beside the FIFO.
TEST_P(CacheTrustPlanted, APlantedFifoRecordDoesNotHangTheMapping) {
  const std::string dir = make_cache_dir();
  const int planted = plant_file(dir + "/" + name_, kFileSize);
  ASSERT_GE(planted, 0);
  ::close(planted);
  ASSERT_NO_FATAL_FAILURE(plant_fifo(dir + "/" + name_ + ".held"));
  const MappingRun first = map_as_victim(dir);
  EXPECT_TRUE(first.ended) << first.message;
  EXPECT_EQ(first.message, "");
  ASSERT_NO_FATAL_FAILURE(plant_fifo(dir + "/" + name_ + ".held"));
  const MappingRun second = map_as_victim(dir);
  EXPECT_TRUE(second.ended) << second.message;
  EXPECT_EQ(second.message, "");
}

// A link at the temporary record's name, to a file of the victim's: saving the record must not
// follow it (it would truncate and overwrite that file).
TEST_P(CacheTrustPlanted, APlantedLinkAtTheTemporaryRecordIsNotFollowed) {
  const std::string dir = make_cache_dir();
  const std::string precious = victim_home() + "/precious";
  { std::ofstream(precious) << "the victim's own bytes\n"; }
  ASSERT_EQ(::chown(precious.c_str(), victim_->uid(), victim_->gid()), 0);
  ASSERT_NO_FATAL_FAILURE(plant_symlink(dir + "/" + name_ + ".held.tmp", precious));
  const MappingRun run = map_as_victim(dir);
  EXPECT_EQ(run.message, "");
  EXPECT_EQ(read_path(precious), "the victim's own bytes\n") << "the save followed the link";
  const MappingRun again = map_as_victim(dir);
  EXPECT_EQ(again.message, "");
  EXPECT_EQ(again.cached_at_start, kFileSize) << "the record was saved, in a file of its own";
}

INSTANTIATE_TEST_SUITE_P(Layouts, CacheTrustPlanted,
                         ::testing::Values(Layout::kShared, Layout::kOwn),
                         [](const ::testing::TestParamInfo<Layout>& info) {
                           return info.param == Layout::kShared ? "SharedDirectory"
                                                                : "UsersOwnDirectory";
                         });

// Pruning (MMAPURL_CACHE_KEEP_LIMIT) in the user's own directory judges and deletes only the
// user's private kept files: a file of another's, or a second link to a file of the user's, named
// like a kept file stays, however old and large.
TEST_F(CacheTrust, PruningDeletesOnlyTheUsersPrivateKeptFiles) {
  const std::string dir = root_ + "/cache";
  ASSERT_NO_FATAL_FAILURE(make_dir(dir, 0700, victim_->uid(), victim_->gid()));
  const timespec long_ago[2] = {{1, 0}, {1, 0}};  // least recently used of all
  const std::string others = dir + "/mmapurl-00000000000000000000000000000000.cache";
  const int fd = plant_file(others, 0);
  ASSERT_GE(fd, 0);
  const std::string four_mib(4 << 20, 'A');  // written, so it takes disk space
  ASSERT_EQ(::pwrite(fd, four_mib.data(), four_mib.size(), 0), static_cast<ssize_t>(4 << 20));
  ASSERT_EQ(::futimens(fd, long_ago), 0);
  ::close(fd);
  const std::string precious = victim_home() + "/precious";
  { std::ofstream(precious) << "the victim's own bytes\n"; }
  ASSERT_EQ(::chown(precious.c_str(), victim_->uid(), victim_->gid()), 0);
  ASSERT_EQ(::chmod(precious.c_str(), 0600), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, precious.c_str(), long_ago, 0), 0);
  const std::string second_link = dir + "/mmapurl-11111111111111111111111111111111.cache";
  ASSERT_EQ(::link(precious.c_str(), second_link.c_str()), 0) << std::strerror(errno);
  // 4 MiB of the attacker's and the object's 3 MiB exceed the limit: pruning runs after the save.
  const MappingRun run = map_as_victim(dir, "4M");
  EXPECT_EQ(run.message, "");
  struct stat st {};
  EXPECT_EQ(::lstat(others.c_str(), &st), 0) << "pruning deleted another user's file";
  EXPECT_EQ(st.st_size, 4 << 20);
  EXPECT_EQ(::lstat(second_link.c_str(), &st), 0) << "pruning deleted a second link";
  EXPECT_EQ(read_path(precious), "the victim's own bytes\n");
}

// A cache directory whose entries someone else could replace: how it is made, and the words the
// log's reason must hold.
struct UntrustedDirectory {
  const char* label;
  const char* reason;
};
void PrintTo(const UntrustedDirectory& dir, std::ostream* out) { *out << dir.label; }

class CacheTrustRefusedDirectory : public CacheTrust,
                                   public ::testing::WithParamInterface<UntrustedDirectory> {
 protected:
  // The directory the victim is given, made as the parameter's label says.
  std::string make_untrusted_dir() {
    const std::string dir = root_ + "/cache";
    const std::string label = GetParam().label;
    if (label == "WorldWritableWithoutSticky") {
      make_dir(dir, 0777, 0, 0);
    } else if (label == "GroupWritableWithoutSticky") {
      make_dir(dir, 0770, 0, victim_->gid());  // the victim writes to it through its group
    } else if (label == "OwnedByAnotherUser") {
      make_dir(dir, 01777, attacker_->uid(), attacker_->gid());
    } else {  // PerUserSubdirectoryMadeByAnotherUser, in a shared one made right
      make_dir(dir, 01777, 0, 0);
      make_dir(dir + "/mmapurl-" + std::to_string(victim_->uid()), 0777, attacker_->uid(),
               attacker_->gid());
    }
    return dir;
  }
};

// Refused, with the reason in the log; no file of the victim's in it; every byte right, from the
// network (no disk cache at all: the unnamed file would live in the same directory).
TEST_P(CacheTrustRefusedDirectory, IsRefusedWithALoggedReasonAndTheMappingWorks) {
  const std::string dir = make_untrusted_dir();
  const MappingRun run = map_as_victim(dir);
  ASSERT_EQ(run.message, "");
  EXPECT_EQ(run.cached_at_start, 0u) << "a disk cache in the refused directory";
  EXPECT_EQ(run.cached_at_end, 0u);
  EXPECT_EQ(owned_under(dir, victim_->uid()), std::vector<std::string>{});
  const std::string log = read_path(victim_log());
  EXPECT_NE(log.find("refused"), std::string::npos) << log;
  EXPECT_NE(log.find(GetParam().reason), std::string::npos) << log;
}

INSTANTIATE_TEST_SUITE_P(
    Directories, CacheTrustRefusedDirectory,
    ::testing::Values(UntrustedDirectory{"WorldWritableWithoutSticky", "without the sticky bit"},
                      UntrustedDirectory{"GroupWritableWithoutSticky", "without the sticky bit"},
                      UntrustedDirectory{"OwnedByAnotherUser", "neither this user nor root"},
                      UntrustedDirectory{"PerUserSubdirectoryMadeByAnotherUser",
                                         ", not this user"}),
    [](const ::testing::TestParamInfo<UntrustedDirectory>& info) {
      return std::string(info.param.label);
    });

}  // namespace
}  // namespace mmapurl::faulttest
