// part_pages_for: how readahead windows are spread over connections.
#include <gtest/gtest.h>

#include "control/part_sizing.hpp"

namespace mmapurl::control {
namespace {

constexpr PartSizing kEight{2048, 256, 8};  // 8 MiB cap, 1 MiB floor, 8 connections

TEST(PartSizing, SmallWindowsStayOneRequest) {
  EXPECT_EQ(part_pages_for(64, false, kEight), 256u);   // 256 KiB window: one GET
  EXPECT_EQ(part_pages_for(256, false, kEight), 256u);  // 1 MiB window: one GET
}

TEST(PartSizing, YoungWindowsSpreadOverConnections) {
  EXPECT_EQ(part_pages_for(512, false, kEight), 256u);   // 2 MiB: 2 x 1 MiB
  EXPECT_EQ(part_pages_for(2048, false, kEight), 256u);  // 8 MiB: 8 x 1 MiB
  EXPECT_EQ(part_pages_for(4096, false, kEight), 512u);  // 16 MiB: 8 x 2 MiB
  EXPECT_EQ(part_pages_for(4097, false, kEight), 513u);  // rounds up: never a ninth part
}

TEST(PartSizing, LargeWindowsUseTheFullPartSize) {
  EXPECT_EQ(part_pages_for(16384, false, kEight), 2048u);  // 64 MiB: 8 x 8 MiB
  EXPECT_EQ(part_pages_for(1u << 20, false, kEight), 2048u);
  EXPECT_EQ(part_pages_for(16384, false, PartSizing{2048, 256, 16}), 1024u);  // 16 x 4 MiB
}

TEST(PartSizing, DemandRangesAreNotCut) {
  EXPECT_EQ(part_pages_for(2, true, kEight), 2048u);
  EXPECT_EQ(part_pages_for(4096, true, kEight), 2048u);
}

TEST(PartSizing, OneConnectionKeepsWholeParts) {
  EXPECT_EQ(part_pages_for(4096, false, PartSizing{2048, 256, 1}), 2048u);
}

TEST(PartSizing, TheCapWinsOverTheFloor) {
  // A small memory limit shrinks the cap below the floor.
  EXPECT_EQ(part_pages_for(4096, false, PartSizing{64, 256, 8}), 64u);
  EXPECT_EQ(part_pages_for(4096, false, PartSizing{0, 0, 8}), 1u);
}

TEST(ReadaheadWindowCap, AQuarterOfTheMemoryLimitAtMostTheConfiguredCap) {
  constexpr uint64_t kMiB = 1 << 20;
  EXPECT_EQ(readahead_window_cap_bytes(1024 * kMiB, 64 * kMiB), 64 * kMiB);  // defaults
  EXPECT_EQ(readahead_window_cap_bytes(256 * kMiB, 64 * kMiB), 64 * kMiB);
  EXPECT_EQ(readahead_window_cap_bytes(64 * kMiB, 64 * kMiB), 16 * kMiB);
  EXPECT_EQ(readahead_window_cap_bytes(16 * kMiB, 64 * kMiB), 4 * kMiB);
  EXPECT_EQ(readahead_window_cap_bytes(1024 * kMiB, 128 * kMiB), 128 * kMiB);
}

TEST(ReadaheadWindowCap, WholePagesAndNeverZero) {
  EXPECT_EQ(readahead_window_cap_bytes((1 << 20) + 5, 64 << 20), 256u << 10);
  EXPECT_EQ(readahead_window_cap_bytes(4096, 64 << 20), 4096u);
  EXPECT_EQ(readahead_window_cap_bytes(1 << 30, 100), 4096u);
}

}  // namespace
}  // namespace mmapurl::control
