// Reads what memory this process's control group (and its ancestors) grant: the smallest limit
// among them, nothing where none is set or the files cannot be read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mmapurl::core {

std::optional<uint64_t> read_cgroup_memory_limit();

// v1's memory.oom_control files of this process's group and its ancestors (none under v2).
std::vector<std::string> cgroup_oom_control_paths();

}  // namespace mmapurl::core
