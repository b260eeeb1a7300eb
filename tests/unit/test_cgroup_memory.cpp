// control/cgroup_memory: which files bound a process's memory under cgroup v1 and v2, what they
// say, and the default memory limit under them.
#include <gtest/gtest.h>

#include "control/cgroup_memory.hpp"

namespace {

using mmapurl::control::cgroup_memory_limit_files;
using mmapurl::control::memory_limit_under_cgroup;
using mmapurl::control::parse_cgroup_memory_limit;
using Files = std::vector<std::string>;
constexpr uint64_t kMiB = 1 << 20;

TEST(CgroupMemory, V2GroupAndEachAncestorUpToTheMountRoot) {
  const auto files = cgroup_memory_limit_files(
      "0::/kubepods/pod1/app\n",
      "proc /proc proc rw 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n");
  EXPECT_EQ(files, (Files{"/sys/fs/cgroup/kubepods/pod1/app/memory.max",
                          "/sys/fs/cgroup/kubepods/pod1/memory.max",
                          "/sys/fs/cgroup/kubepods/memory.max", "/sys/fs/cgroup/memory.max"}));
}

TEST(CgroupMemory, V1MemoryControllerAmongOthers) {
  const auto files =
      cgroup_memory_limit_files("5:devices:/\n4:memory:/process_api/abc\n0::/\n",
                                "cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n"
                                "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n"
                                "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n");
  EXPECT_EQ(files, (Files{"/sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes",
                          "/sys/fs/cgroup/memory/process_api/memory.limit_in_bytes",
                          "/sys/fs/cgroup/memory/memory.limit_in_bytes",
                          "/sys/fs/cgroup/unified/memory.max"}));
}

TEST(CgroupMemory, NoControllerMountedNamesNothing) {
  EXPECT_TRUE(cgroup_memory_limit_files("4:memory:/a\n", "proc /proc proc rw 0 0\n").empty());
  EXPECT_TRUE(cgroup_memory_limit_files("", "").empty());
  EXPECT_TRUE(
      cgroup_memory_limit_files("garbage\n0::relative\n", "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n")
          .empty());
}

TEST(CgroupMemory, ParsesLimitsAndUnlimited) {
  EXPECT_EQ(parse_cgroup_memory_limit("536870912\n"), 512 * kMiB);
  EXPECT_EQ(parse_cgroup_memory_limit("max\n"), std::nullopt);
  EXPECT_EQ(parse_cgroup_memory_limit("9223372036854771712\n"), std::nullopt);  // v1 unlimited
  EXPECT_EQ(parse_cgroup_memory_limit(""), std::nullopt);                       // unreadable
  EXPECT_EQ(parse_cgroup_memory_limit("12x"), std::nullopt);
}

TEST(CgroupMemory, DefaultLimitIsHalfOfWhatIsGrantedAtMostTheFallback) {
  EXPECT_EQ(memory_limit_under_cgroup(1024 * kMiB, std::nullopt), 1024 * kMiB);
  EXPECT_EQ(memory_limit_under_cgroup(1024 * kMiB, 512 * kMiB), 256 * kMiB);
  EXPECT_EQ(memory_limit_under_cgroup(1024 * kMiB, 8192 * kMiB), 1024 * kMiB);
  EXPECT_EQ(memory_limit_under_cgroup(1024 * kMiB, 8 * kMiB), 16 * kMiB);
}

}  // namespace

TEST(CgroupMemory, OomControlFilesAreV1sBesideTheirLimits) {
  const std::vector<std::string> limits = {"/sys/fs/cgroup/memory/a/b/memory.limit_in_bytes",
                                           "/sys/fs/cgroup/memory/a/memory.limit_in_bytes",
                                           "/sys/fs/cgroup/a/b/memory.max"};
  EXPECT_EQ(mmapurl::control::cgroup_oom_control_files(limits),
            (std::vector<std::string>{"/sys/fs/cgroup/memory/a/b/memory.oom_control",
                                      "/sys/fs/cgroup/memory/a/memory.oom_control"}));
}

TEST(CgroupMemory, UnderOomOnlyWhenTheKernelSaysOne) {
  using mmapurl::control::cgroup_under_oom;
  EXPECT_TRUE(cgroup_under_oom("oom_kill_disable 1\nunder_oom 1\noom_kill 0\n"));
  EXPECT_FALSE(cgroup_under_oom("oom_kill_disable 1\nunder_oom 0\noom_kill 0\n"));
  EXPECT_FALSE(cgroup_under_oom("oom_kill_disable 1\n"));
  EXPECT_FALSE(cgroup_under_oom(""));
  EXPECT_FALSE(cgroup_under_oom("under_oom 10\n"));
}
