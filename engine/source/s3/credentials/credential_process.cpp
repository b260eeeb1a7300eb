// credential_process execution: posix_spawnp (safe in a multi-threaded process, unlike a bare
// fork) with every descriptor from 3 up closed in the child (glibc does so with close_range,
// else over /proc/self/fd, between its fork and the exec), both output pipes drained with
// poll() until exit or deadline.
#include "source/s3/credentials/credential_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

extern char** environ;

namespace mmapurl::s3 {
namespace {

constexpr size_t kMaxOutput = 1 << 20;

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace

std::optional<std::vector<std::string>> split_command_line(std::string_view line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  size_t i = 0;
  while (i < line.size()) {
    char c = line[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      ++i;
    } else if (c == '\'') {
      size_t close = line.find('\'', i + 1);
      if (close == std::string_view::npos) return std::nullopt;
      word.append(line.substr(i + 1, close - i - 1));
      in_word = true;
      i = close + 1;
    } else if (c == '"') {
      ++i;
      in_word = true;
      bool closed = false;
      while (i < line.size()) {
        char d = line[i];
        if (d == '"') {
          closed = true;
          ++i;
          break;
        }
        if (d == '\\' && i + 1 < line.size() &&
            (line[i + 1] == '"' || line[i + 1] == '\\' || line[i + 1] == '$' ||
             line[i + 1] == '`')) {
          word.push_back(line[i + 1]);
          i += 2;
          continue;
        }
        word.push_back(d);
        ++i;
      }
      if (!closed) return std::nullopt;
    } else if (c == '\\') {
      if (i + 1 >= line.size()) return std::nullopt;
      word.push_back(line[i + 1]);
      in_word = true;
      i += 2;
    } else {
      word.push_back(c);
      in_word = true;
      ++i;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

namespace {

struct Pipe {
  Fd read;
  Fd write;
};

// Both ends close on exec: the child sees the write end only as the descriptor it is dup'ed to.
bool open_pipe(Pipe* pipe, std::string* error) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    *error = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  pipe->read.reset(fds[0]);
  pipe->write.reset(fds[1]);
  return true;
}

// posix_spawnp with stdin from /dev/null and stdout, stderr to the pipes. Returns 0 or the
// error number.
int spawn(std::vector<char*>& argv, const Pipe& out, const Pipe& err, pid_t* pid) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out.write.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err.write.get(), STDERR_FILENO);
  // The child gets stdin, stdout and stderr only: descriptors the application opened without
  // O_CLOEXEC (its sockets, its files) are none of the credential helper's business.
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
  // The engine thread blocks all signals; the child must start with none blocked and with
  // default dispositions.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty_mask, default_set;
  sigemptyset(&empty_mask);
  sigemptyset(&default_set);
  sigaddset(&default_set, SIGPIPE);
  sigaddset(&default_set, SIGTERM);
  sigaddset(&default_set, SIGINT);
  posix_spawnattr_setsigmask(&attr, &empty_mask);
  posix_spawnattr_setsigdefault(&attr, &default_set);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  int rc = posix_spawnp(pid, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  return rc;
}

// Reads both pipes until the child closes them or `deadline` passes (then out->timed_out), each
// kept to kMaxOutput.
void collect_output(const Fd& out_read, const Fd& err_read,
                    std::chrono::steady_clock::time_point deadline, ProcessOutput* out) {
  bool out_open = true, err_open = true;
  char buffer[4096];
  while (out_open || err_open) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      out->timed_out = true;
      return;
    }
    pollfd fds[2];
    nfds_t n = 0;
    if (out_open) fds[n++] = {out_read.get(), POLLIN, 0};
    if (err_open) fds[n++] = {err_read.get(), POLLIN, 0};
    int ready = poll(fds, n, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (nfds_t k = 0; k < n; ++k) {
      if (fds[k].revents == 0) continue;
      bool is_out = fds[k].fd == out_read.get();
      ssize_t got = ::read(fds[k].fd, buffer, sizeof buffer);
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (got <= 0) {
        (is_out ? out_open : err_open) = false;
        continue;
      }
      std::string& sink = is_out ? out->stdout_text : out->stderr_text;
      size_t room = kMaxOutput > sink.size() ? kMaxOutput - sink.size() : 0;
      sink.append(buffer, std::min(room, static_cast<size_t>(got)));
    }
  }
}

// Reaps the child (killed first when `kill_first`): its exit code, or 128 + the signal number.
int reap(pid_t pid, bool kill_first) {
  if (kill_first) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

ProcessOutput run_credential_process(const std::string& command_line,
                                     std::chrono::milliseconds timeout) {
  ProcessOutput out;
  auto words = split_command_line(command_line);
  if (!words || words->empty()) {
    out.error = "credential_process is empty or has unbalanced quotes";
    return out;
  }
  std::vector<char*> argv;
  for (auto& word : *words) argv.push_back(word.data());
  argv.push_back(nullptr);
  Pipe stdout_pipe, stderr_pipe;
  if (!open_pipe(&stdout_pipe, &out.error) || !open_pipe(&stderr_pipe, &out.error)) return out;
  pid_t pid = -1;
  int rc = spawn(argv, stdout_pipe, stderr_pipe, &pid);
  // Only the child writes: its closing the pipes is what ends the reads.
  stdout_pipe.write.reset();
  stderr_pipe.write.reset();
  if (rc != 0) {
    out.error = "cannot start credential_process " + (*words)[0] + ": " + std::strerror(rc);
    return out;
  }
  out.started = true;
  collect_output(stdout_pipe.read, stderr_pipe.read, std::chrono::steady_clock::now() + timeout,
                 &out);
  out.exit_status = reap(pid, out.timed_out);
  return out;
}

}  // namespace mmapurl::s3
