// Reads what memory this process's control group (and its ancestors) grant: the smallest limit
// among them, nothing where none is set or the files cannot be read.
#pragma once

#include <cstdint>
#include <optional>

namespace mmapurl::core {

std::optional<uint64_t> read_cgroup_memory_limit();

}  // namespace mmapurl::core
