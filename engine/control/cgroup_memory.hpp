// The memory a process's control group grants, read from cgroup v2 (memory.max) or v1
// (memory.limit_in_bytes), and the default MMAPURL_MEMORY_LIMIT it implies: a service in a
// 512 MiB container must not fill 1 GiB of pages and be killed by the OOM killer. Pure: the
// caller reads /proc/self/cgroup, /proc/self/mounts and the files this names.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mmapurl::control {

// The files holding the memory limits of this process's group and of its ancestors (each bounds
// the group), from the texts of /proc/self/cgroup and /proc/self/mounts (v1 and v2 alike).
std::vector<std::string> cgroup_memory_limit_files(std::string_view proc_self_cgroup,
                                                   std::string_view proc_self_mounts);

// v1 only: the memory.oom_control file beside each memory.limit_in_bytes of `limit_files`. A task
// of such a group with its OOM killer off that faults past the limit sleeps until memory is
// freed; v2 has no such file (its groups kill or throttle instead).
std::vector<std::string> cgroup_oom_control_files(const std::vector<std::string>& limit_files);

// Whether a v1 memory.oom_control text says a task of the group waits for memory
// ("under_oom 1").
bool cgroup_under_oom(std::string_view oom_control_text);

// A limit file's bytes; nothing for "max" (v2) or v1's "unlimited" (a number near 2^63).
std::optional<uint64_t> parse_cgroup_memory_limit(std::string_view text);

// The default memory limit under a group's `granted` bytes: half of them (the program needs the
// rest), at most `fallback`, at least 16 MiB; `fallback` where nothing is granted.
uint64_t memory_limit_under_cgroup(uint64_t fallback, std::optional<uint64_t> granted);

}  // namespace mmapurl::control
