// The file reading behind read_cgroup_memory_limit; which files, and what they say, is
// control/cgroup_memory's.
#include "core/cgroup_memory_reader.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include "control/cgroup_memory.hpp"

namespace mmapurl::core {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::optional<uint64_t> read_cgroup_memory_limit() {
  std::optional<uint64_t> smallest;
  for (const std::string& file : control::cgroup_memory_limit_files(
           read_text("/proc/self/cgroup"), read_text("/proc/self/mounts"))) {
    if (auto limit = control::parse_cgroup_memory_limit(read_text(file))) {
      smallest = std::min(smallest.value_or(*limit), *limit);
    }
  }
  return smallest;
}

std::vector<std::string> cgroup_oom_control_paths() {
  return control::cgroup_oom_control_files(control::cgroup_memory_limit_files(
      read_text("/proc/self/cgroup"), read_text("/proc/self/mounts")));
}

}  // namespace mmapurl::core
