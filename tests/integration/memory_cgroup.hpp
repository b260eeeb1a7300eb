// MemoryCgroup: a cgroup v1 memory controller group of the test's own, below the one this process
// is in, with a limit: a container that grants less than MMAPURL_MEMORY_LIMIT. With its OOM
// killer off, the kernel refuses pages past the limit (UFFDIO_COPY gets ENOMEM).
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "control/cgroup_memory.hpp"

namespace mmapurl::itest {

class MemoryCgroup {
 public:
  enum class OomKiller { kOn, kOff };
  // Makes the group "mmapurl-itest-<pid>" with `limit_bytes`; nullptr and `why` set where this
  // machine has no writable cgroup v1 memory controller. With the OOM killer off, a charge past
  // the limit fails (ENOMEM from a system call; a page fault waits for memory); on, it kills.
  static std::unique_ptr<MemoryCgroup> create(uint64_t limit_bytes, OomKiller oom_killer,
                                              std::string* why) {
    const std::string parent = own_memory_group(why);
    if (parent.empty()) return nullptr;
    const std::string name = "mmapurl-itest-" + std::to_string(::getpid());
    auto group = std::unique_ptr<MemoryCgroup>(new MemoryCgroup(parent + "/" + name));
    ::rmdir(group->dir_.c_str());  // left by an earlier run that was killed
    if (::mkdir(group->dir_.c_str(), 0755) != 0) {
      *why = "cannot make " + group->dir_ + ": " + std::strerror(errno);
      return nullptr;
    }
    group->made_ = true;
    if (!group->set_limit(limit_bytes) || !write_file(group->dir_ + "/memory.oom_control",
                                                      oom_killer == OomKiller::kOff ? "1" : "0")) {
      *why = "cannot set the limit of " + group->dir_;
      return nullptr;
    }
    return group;
  }
  // Opens the group a parent process made (for the process that joins it).
  static std::unique_ptr<MemoryCgroup> open(const std::string& dir) {
    return std::unique_ptr<MemoryCgroup>(new MemoryCgroup(dir));
  }
  ~MemoryCgroup() {
    if (!made_) return;
    // The last task may take a moment to leave after it was killed.
    for (int i = 0; i < 50 && ::rmdir(dir_.c_str()) != 0 && errno == EBUSY; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  MemoryCgroup(const MemoryCgroup&) = delete;
  MemoryCgroup& operator=(const MemoryCgroup&) = delete;

  const std::string& dir() const { return dir_; }
  // Moves this whole process (every thread) into the group: its pages are charged there from now.
  bool join() const { return write_file(dir_ + "/cgroup.procs", std::to_string(::getpid())); }
  // Grants `bytes` from now (a container resized).
  bool set_limit(uint64_t bytes) const {
    return write_file(dir_ + "/memory.limit_in_bytes", std::to_string(bytes));
  }
  // How many times the kernel refused a charge past the limit.
  std::optional<uint64_t> failcnt() const { return read_number(dir_ + "/memory.failcnt"); }
  std::optional<uint64_t> max_usage() const {
    return read_number(dir_ + "/memory.max_usage_in_bytes");
  }

 private:
  explicit MemoryCgroup(std::string dir) : dir_(std::move(dir)) {}

  // The directory of this process's v1 memory group: where the engine's own reading of
  // /proc/self/cgroup and /proc/self/mounts finds its memory.limit_in_bytes; empty with `why` set
  // when there is none.
  static std::string own_memory_group(std::string* why) {
    constexpr std::string_view kV1Limit = "/memory.limit_in_bytes";
    for (const std::string& file : control::cgroup_memory_limit_files(
             read_text("/proc/self/cgroup"), read_text("/proc/self/mounts"))) {
      if (file.size() > kV1Limit.size() && file.ends_with(kV1Limit)) {
        return file.substr(0, file.size() - kV1Limit.size());  // the group's own comes first
      }
    }
    *why = "no cgroup v1 memory controller on this machine";
    return "";
  }
  static std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }
  static bool write_file(const std::string& path, const std::string& value) {
    std::ofstream out(path);
    out << value;
    out.flush();
    return static_cast<bool>(out);
  }
  static std::optional<uint64_t> read_number(const std::string& path) {
    std::ifstream in(path);
    uint64_t value = 0;
    if (!(in >> value)) return std::nullopt;
    return value;
  }

  std::string dir_;
  bool made_ = false;
};

}  // namespace mmapurl::itest
