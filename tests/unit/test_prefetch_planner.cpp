// Tests of PrefetchPlanner: a simulated engine feeds it faults the way the real one would
// (page states, held-back markers) while readers scan, jump, stride and share streams.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "control/prefetch_planner.hpp"

namespace mmapurl::control {
namespace {

constexpr PlannerConfig kSmallCap{4, 64, 1024, 16};  // cap reached after a few windows

// Plays the engine: tracks page state, applies the planner's answer like the engine does
// (drops pages already present, holds back fresh marker pages) and checks every answer.
class SimulatedEngine {
 public:
  enum class PageState : uint8_t { kAbsent, kInFlight, kResident, kMarker };
  struct Call {
    uint64_t page;
    FaultKind kind;
    std::vector<FetchRange> ranges;
  };

  // `instant`: requested data arrives at once; otherwise it stays in flight until a reader
  // waits on it (a network slower than the reader).
  SimulatedEngine(uint64_t total_pages, PlannerConfig config, bool instant = true)
      : planner(total_pages, config), state(total_pages, PageState::kAbsent), instant_(instant) {}

  // A reader touches `page`; it faults unless the page is resident.
  void touch(uint64_t page, uint64_t key = 0) {
    switch (state[page]) {
      case PageState::kResident:
        return;
      case PageState::kMarker:
        fault(page, key, FaultKind::kMarker);
        state[page] = PageState::kResident;  // the engine releases the held-back page
        return;
      case PageState::kInFlight:
        fault(page, key, FaultKind::kInFlight);
        arrive_all();  // the reader sleeps until the data is there
        return;
      case PageState::kAbsent:
        fault(page, key, FaultKind::kMissing);
        ASSERT_NE(state[page], PageState::kAbsent) << "demand did not cover page " << page;
        if (state[page] == PageState::kInFlight) arrive_all();
        return;
    }
  }

  void scan(uint64_t first, uint64_t end, uint64_t key = 0) {
    for (uint64_t p = first; p < end; ++p) touch(p, key);
  }

  void arrive_all() {
    for (auto& s : state) {
      if (s == PageState::kInFlight) s = PageState::kResident;
    }
  }

  // Sizes of the readahead (non-demand) ranges answered so far, in order.
  std::vector<uint64_t> prefetch_sizes(uint64_t from_call = 0) const {
    std::vector<uint64_t> sizes;
    for (size_t i = from_call; i < calls.size(); ++i) {
      for (const FetchRange& r : calls[i].ranges) {
        if (!r.demand) sizes.push_back(r.page_count);
      }
    }
    return sizes;
  }

  uint64_t count(FaultKind kind, size_t from_call = 0) const {
    return static_cast<uint64_t>(std::count_if(calls.begin() + static_cast<ptrdiff_t>(from_call),
                                               calls.end(),
                                               [&](const Call& c) { return c.kind == kind; }));
  }

  // One past the highest page ever planned.
  uint64_t frontier() const { return frontier_; }

  PrefetchPlanner planner;
  std::vector<PageState> state;
  std::vector<Call> calls;
  uint64_t planned_pages = 0;  // pages the engine actually had to fetch

 private:
  void fault(uint64_t page, uint64_t key, FaultKind kind) {
    // As the engine does: has the page before this one its data?
    const bool previous_resident = page == 0 || state[page - 1] == PageState::kResident;
    std::vector<FetchRange> ranges = planner.on_fault(page, key, kind, previous_resident);
    check(page, kind, ranges);
    for (const FetchRange& r : ranges) apply(r);
    calls.push_back(Call{page, kind, std::move(ranges)});
  }

  void check(uint64_t page, FaultKind kind, const std::vector<FetchRange>& ranges) const {
    if (kind == FaultKind::kMissing) {
      ASSERT_FALSE(ranges.empty());
      EXPECT_TRUE(ranges[0].demand);
      EXPECT_LE(ranges[0].first_page, page);
      EXPECT_GT(ranges[0].first_page + ranges[0].page_count, page);
      EXPECT_NE(ranges[0].marker_page, page);
    }
    for (size_t i = 0; i < ranges.size(); ++i) {
      const FetchRange& r = ranges[i];
      EXPECT_GT(r.page_count, 0u);
      EXPECT_LE(r.first_page + r.page_count, state.size());
      if (i > 0 || kind != FaultKind::kMissing) {
        EXPECT_FALSE(r.demand);
      }
      if (r.marker_page != FetchRange::kNoMarker) {
        EXPECT_GE(r.marker_page, r.first_page);
        EXPECT_LT(r.marker_page, r.first_page + r.page_count);
      }
    }
  }

  void apply(const FetchRange& r) {
    for (uint64_t p = r.first_page; p < r.first_page + r.page_count; ++p) {
      if (state[p] != PageState::kAbsent) continue;  // the engine filters these
      ++planned_pages;
      if (p == r.marker_page) {
        state[p] = PageState::kMarker;
      } else {
        state[p] = instant_ ? PageState::kResident : PageState::kInFlight;
      }
    }
    frontier_ = std::max(frontier_, r.first_page + r.page_count);
  }

  bool instant_;
  uint64_t frontier_ = 0;
};

TEST(PrefetchPlanner, SequentialScanRampsWindowFromInitialToCap) {
  SimulatedEngine sim(1 << 16, kSmallCap);
  sim.scan(0, 20000);
  const std::vector<uint64_t> sizes = sim.prefetch_sizes();
  ASSERT_GE(sizes.size(), 6u);
  EXPECT_EQ(sizes[0], 64u);
  EXPECT_EQ(sizes[1], 128u);
  EXPECT_EQ(sizes[2], 256u);
  EXPECT_EQ(sizes[3], 512u);
  for (size_t i = 4; i < sizes.size(); ++i) EXPECT_EQ(sizes[i], 1024u) << i;
  // Only the first two touches wait on the network; markers carry the rest of the scan.
  EXPECT_EQ(sim.count(FaultKind::kMissing), 2u);
  EXPECT_EQ(sim.count(FaultKind::kInFlight), 0u);
  EXPECT_LE(sim.planned_pages, 20000u + 2 * 1024);
}

TEST(PrefetchPlanner, GrowthFactorSetsTheRamp) {
  // The engine's x4: the cap is reached in half the steps, never passed.
  PlannerConfig config = kSmallCap;
  config.window_growth = 4;
  SimulatedEngine sim(1 << 16, config);
  sim.scan(0, 20000);
  const std::vector<uint64_t> sizes = sim.prefetch_sizes();
  ASSERT_GE(sizes.size(), 4u);
  EXPECT_EQ(sizes[0], 64u);
  EXPECT_EQ(sizes[1], 256u);
  for (size_t i = 2; i < sizes.size(); ++i) EXPECT_EQ(sizes[i], 1024u) << i;
  EXPECT_EQ(sim.count(FaultKind::kMissing), 2u);
  EXPECT_LE(sim.planned_pages, 20000u + 2 * 1024);
}

TEST(PrefetchPlanner, ScanPastAPrefilledHeadStartsReadaheadAtItsFirstFault) {
  for (uint64_t key : {0u, 9u}) {
    SimulatedEngine sim(1 << 16, kSmallCap);
    for (uint64_t p = 0; p < 64; ++p) sim.state[p] = SimulatedEngine::PageState::kResident;
    sim.planner.note_prefilled(0, 64);  // the probe filled the head at mapping time
    sim.scan(0, 4000, key);
    ASSERT_FALSE(sim.calls.empty());
    EXPECT_EQ(sim.calls[0].page, 64u);
    ASSERT_GE(sim.calls[0].ranges.size(), 2u) << "no readahead with the first fault";
    EXPECT_FALSE(sim.calls[0].ranges[1].demand);
    EXPECT_EQ(sim.count(FaultKind::kMissing), 1u);
  }
}

TEST(PrefetchPlanner, RandomReadAfterAPrefilledHeadStaysSmall) {
  SimulatedEngine sim(1 << 16, kSmallCap);
  sim.planner.note_prefilled(0, 64);
  sim.touch(40000);  // a footer, say: nowhere near the head
  ASSERT_EQ(sim.calls.size(), 1u);
  ASSERT_EQ(sim.calls[0].ranges.size(), 1u);
  EXPECT_EQ(sim.calls[0].ranges[0].page_count, 4u);
}

TEST(PrefetchPlanner, RandomAccessKeepsFetchesSmall) {
  for (uint64_t key : {0u, 7u}) {
    SimulatedEngine sim(1 << 20, PlannerConfig{});
    std::mt19937_64 rng(42);
    std::uniform_int_distribution<uint64_t> any_page(0, (1 << 20) - 1);
    for (int i = 0; i < 1000; ++i) sim.touch(any_page(rng), key);
    for (const auto& call : sim.calls) {
      for (const FetchRange& r : call.ranges) {
        EXPECT_TRUE(r.demand);
        EXPECT_LE(r.page_count, 4u);
        EXPECT_EQ(r.first_page % 4, 0u);  // aligned blocks
      }
    }
    EXPECT_LE(sim.planned_pages, 4u * 1000);  // amplification at most 4x
  }
}

TEST(PrefetchPlanner, DenseRandomReadsDoNotRampReadahead) {
  // uffd-bench's rand with --random-reads 40000 on 1 GiB, at half scale (the same density:
  // 20000 reads of 1 << 17 pages, 8 KiB blocks): faults land ever more often beside fetched
  // blocks and inside or just past planned windows. Before a fault had to come from the left to
  // prove progress, such hits ramped windows to the cap and the planner asked for 2.4 pages per
  // page read (the engine fetched 1.9 GB for 156 MiB read, at 40000 reads of 1 GiB).
  for (bool instant : {true, false}) {
    constexpr uint64_t kPages = 1 << 17;
    SimulatedEngine sim(kPages, PlannerConfig{2, 64, 16384, 16, 4}, instant);
    std::mt19937_64 rng(42);
    std::uniform_int_distribution<uint64_t> any_page(0, kPages - 1);
    std::vector<bool> touched(kPages, false);
    uint64_t distinct = 0;
    for (int i = 0; i < 20000; ++i) {
      const uint64_t page = any_page(rng);
      if (!touched[page]) ++distinct;
      touched[page] = true;
      sim.touch(page, 1);
    }
    uint64_t largest = 0;
    for (uint64_t size : sim.prefetch_sizes()) largest = std::max(largest, size);
    const char* network = instant ? "instant" : "slow network";
    EXPECT_LE(largest, 1024u) << network;  // the cap is 16384: no ramp to it
    // A random read costs its 2-page block; readahead adds little on top.
    EXPECT_LE(sim.planned_pages, distinct * 11 / 5) << network;
  }
}

// A reader read pages 0-7: its stream turned sequential and planned a first window, [8, 72).
PrefetchPlanner planner_with_a_first_window() {
  PrefetchPlanner planner(1 << 16, kSmallCap);
  planner.on_fault(0, 1, FaultKind::kMissing);
  EXPECT_EQ(planner.on_fault(4, 1, FaultKind::kMissing).size(), 2u);
  return planner;
}

TEST(PrefetchPlanner, AWaitAheadWithNothingReadBeforeItDoesNotGrowTheWindow) {
  PrefetchPlanner planner = planner_with_a_first_window();
  // A random read lands in the window on its way: the page before it is not there either.
  EXPECT_TRUE(planner.on_fault(40, 1, FaultKind::kInFlight, false).empty());
  // The reader itself catches up with the window: grow and extend.
  const auto caught_up = planner.on_fault(10, 1, FaultKind::kInFlight, true);
  ASSERT_EQ(caught_up.size(), 1u);
  EXPECT_EQ(caught_up[0].page_count, 128u);
}

TEST(PrefetchPlanner, AMissJustPastThePlanGrowsTheWindowOnlyWhenTheReaderGotThere) {
  for (bool from_left : {false, true}) {
    PrefetchPlanner planner = planner_with_a_first_window();
    const auto past = planner.on_fault(80, 1, FaultKind::kMissing, from_left);
    ASSERT_EQ(past.size(), 2u);
    EXPECT_TRUE(past[0].demand);
    EXPECT_EQ(past[1].page_count, from_left ? 128u : 64u);
  }
}

TEST(PrefetchPlanner, ARandomMissInsideThePlanFetchesOnlyItsBlock) {
  PrefetchPlanner planner = planner_with_a_first_window();
  // Page 50 was evicted before anyone read it, and the read lands there out of nowhere.
  const auto inside = planner.on_fault(50, 1, FaultKind::kMissing, false);
  ASSERT_EQ(inside.size(), 1u);
  EXPECT_TRUE(inside[0].demand);
  EXPECT_LE(inside[0].page_count, 4u);
}

TEST(PrefetchPlanner, SwitchFromSequentialToRandomCollapsesAtOnce) {
  for (uint64_t key : {0u, 3u}) {
    SimulatedEngine sim(1 << 20, kSmallCap);
    sim.scan(0, 8000, key);
    ASSERT_EQ(sim.prefetch_sizes().back(), 1024u);
    const size_t switched = sim.calls.size();
    const uint64_t planned_before = sim.planned_pages;
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<uint64_t> far_page(100000, (1 << 20) - 1);
    for (int i = 0; i < 300; ++i) sim.touch(far_page(rng), key);
    ASSERT_GT(sim.calls.size(), switched);
    ASSERT_EQ(sim.calls[switched].ranges.size(), 1u);  // the very first random fault
    EXPECT_EQ(sim.calls[switched].ranges[0].page_count, 4u);
    EXPECT_TRUE(sim.prefetch_sizes(switched).empty());
    EXPECT_LE(sim.planned_pages - planned_before, 4u * 300);
  }
}

TEST(PrefetchPlanner, MarkersArePlantedAheadAndExtendThePlan) {
  SimulatedEngine sim(1 << 16, kSmallCap);
  uint64_t markers_seen = 0;
  for (uint64_t p = 0; p < 30000; ++p) {
    const bool is_marker = sim.state[p] == SimulatedEngine::PageState::kMarker;
    const uint64_t frontier_before = sim.frontier();
    sim.touch(p);
    if (!is_marker) continue;
    ++markers_seen;
    // The marker fired while at least one initial window was still planned ahead ...
    EXPECT_GE(frontier_before - p, 64u) << p;
    // ... and its answer continues exactly where the plan ended.
    const auto& ranges = sim.calls.back().ranges;
    ASSERT_EQ(ranges.size(), 1u);
    EXPECT_EQ(ranges[0].first_page, frontier_before);
    EXPECT_NE(ranges[0].marker_page, FetchRange::kNoMarker);
  }
  EXPECT_GE(markers_seen, 25u);
  EXPECT_EQ(sim.count(FaultKind::kMarker), markers_seen);
}

TEST(PrefetchPlanner, InFlightFaultGrowsWindowOncePerExtent) {
  PrefetchPlanner planner(1 << 16, kSmallCap);
  planner.on_fault(0, 1, FaultKind::kMissing);
  const auto start = planner.on_fault(4, 1, FaultKind::kMissing);
  ASSERT_EQ(start.size(), 2u);
  EXPECT_EQ(start[1].first_page, 8u);
  EXPECT_EQ(start[1].page_count, 64u);
  // The reader waits on data of the first window: prefetch is behind, so grow and extend.
  const auto caught_up = planner.on_fault(10, 1, FaultKind::kInFlight);
  ASSERT_EQ(caught_up.size(), 1u);
  EXPECT_EQ(caught_up[0].first_page, 72u);
  EXPECT_EQ(caught_up[0].page_count, 128u);
  // Further waits in the same extent (the engine's parts of one window) add nothing.
  EXPECT_TRUE(planner.on_fault(11, 1, FaultKind::kInFlight).empty());
  EXPECT_TRUE(planner.on_fault(40, 2, FaultKind::kInFlight).empty());
}

TEST(PrefetchPlanner, SlowNetworkScanReachesCapWithBoundedPlan) {
  SimulatedEngine sim(1 << 16, kSmallCap, /*instant=*/false);
  sim.scan(0, 20000);
  const std::vector<uint64_t> sizes = sim.prefetch_sizes();
  EXPECT_EQ(*std::max_element(sizes.begin(), sizes.end()), 1024u);
  EXPECT_GT(sim.count(FaultKind::kInFlight), 0u);
  EXPECT_EQ(sim.count(FaultKind::kMissing), 2u);
  EXPECT_LE(sim.planned_pages, 20000u + 3 * 1024);
}

TEST(PrefetchPlanner, TwoInterleavedSequentialStreamsEachRamp) {
  constexpr uint64_t kSecondStart = 300000;
  for (auto keys : {std::pair<uint64_t, uint64_t>{1, 2}, std::pair<uint64_t, uint64_t>{0, 0},
                    std::pair<uint64_t, uint64_t>{5, 5}}) {
    SimulatedEngine sim(1 << 20, kSmallCap);
    for (uint64_t i = 0; i < 20000; ++i) {
      sim.touch(i, keys.first);
      sim.touch(kSecondStart + i, keys.second);
    }
    std::vector<uint64_t> first_sizes, second_sizes;
    for (const auto& call : sim.calls) {
      for (const FetchRange& r : call.ranges) {
        if (r.demand) continue;
        (r.first_page < kSecondStart ? first_sizes : second_sizes).push_back(r.page_count);
      }
    }
    for (const auto* sizes : {&first_sizes, &second_sizes}) {
      ASSERT_GE(sizes->size(), 5u);
      EXPECT_EQ(sizes->front(), 64u);
      EXPECT_EQ(sizes->back(), 1024u);
      EXPECT_TRUE(std::is_sorted(sizes->begin(), sizes->end()));
    }
    EXPECT_EQ(sim.count(FaultKind::kMissing), 4u);
    EXPECT_LE(sim.planned_pages, 40000u + 4 * 1024);
  }
}

TEST(PrefetchPlanner, ThreadsSharingAScanOutOfOrderKeepTheWindow) {
  // Four threads take 8-page chunks of one scan round-robin and advance in lock step, so
  // faults arrive up to 32 pages out of order and with four different keys.
  SimulatedEngine sim(1 << 16, kSmallCap);
  constexpr uint64_t kChunk = 8, kThreads = 4, kPages = 40000;
  for (uint64_t group = 0; group * kChunk * kThreads < kPages; ++group) {
    for (uint64_t offset = 0; offset < kChunk; ++offset) {
      for (uint64_t t = 0; t < kThreads; ++t) {
        sim.touch((group * kThreads + t) * kChunk + offset, /*key=*/t + 1);
      }
    }
  }
  const std::vector<uint64_t> sizes = sim.prefetch_sizes();
  ASSERT_GE(sizes.size(), 10u);
  EXPECT_EQ(sizes.back(), 1024u);
  // Once ramped, no window falls back to a smaller size (no reset).
  const auto ramped = std::find(sizes.begin(), sizes.end(), 1024u);
  EXPECT_TRUE(std::all_of(ramped, sizes.end(), [](uint64_t s) { return s == 1024u; }));
  EXPECT_LE(sim.count(FaultKind::kMissing), 10u);
  EXPECT_LE(sim.planned_pages, kPages + 2 * 1024);
}

TEST(PrefetchPlanner, EvictedPagesBehindTheReaderDoNotResetTheWindow) {
  SimulatedEngine sim(1 << 16, kSmallCap);
  sim.scan(0, 6000);
  ASSERT_EQ(sim.prefetch_sizes().back(), 1024u);
  // A second thread re-reads a few pages that eviction took back, behind the front.
  for (uint64_t p : {5990u, 5900u, 5500u}) {
    sim.state[p] = SimulatedEngine::PageState::kAbsent;
    const uint64_t frontier = sim.frontier(), fetched = sim.planned_pages;
    sim.touch(p, 9);
    const auto& ranges = sim.calls.back().ranges;
    ASSERT_GE(ranges.size(), 1u);
    EXPECT_TRUE(ranges[0].demand);
    EXPECT_LE(ranges[0].page_count, 4u);
    // Anything more asks again for planned pages (the planner cannot tell an evicted zone from
    // one evicted page); the engine holds them, so nothing more is fetched.
    EXPECT_EQ(sim.frontier(), frontier);
    EXPECT_LE(sim.planned_pages - fetched, 4u);
  }
  const size_t after = sim.calls.size();
  sim.scan(6000, 12000);
  const std::vector<uint64_t> sizes = sim.prefetch_sizes(after);
  ASSERT_FALSE(sizes.empty());
  EXPECT_TRUE(std::all_of(sizes.begin(), sizes.end(), [](uint64_t s) { return s == 1024u; }));
  EXPECT_EQ(sim.count(FaultKind::kMissing, after), 0u);
}

TEST(PrefetchPlanner, PlannedPagesEvictedBeforeTheReaderComeBackInWindows) {
  SimulatedEngine sim(1 << 16, kSmallCap);
  sim.scan(0, 6000);
  ASSERT_EQ(sim.prefetch_sizes().back(), 1024u);
  // Memory pressure took everything planned ahead of the reader before it got there.
  const uint64_t frontier = sim.frontier();
  ASSERT_GT(frontier, 6400u);
  for (uint64_t p = 6000; p < frontier; ++p) sim.state[p] = SimulatedEngine::PageState::kAbsent;
  const size_t after = sim.calls.size();
  sim.scan(6000, 12000);
  // Each miss in the gap asks for a range of it again, growing like a window (here x2 from 64
  // pages: 4 steps to 1024), and one more miss resumes the scan past it: a miss per window
  // once grown, not one per small block.
  EXPECT_LE(sim.count(FaultKind::kMissing, after), (frontier - 6000) / 1024 + 4 + 2);
  const std::vector<uint64_t> sizes = sim.prefetch_sizes(after);
  ASSERT_FALSE(sizes.empty());
  EXPECT_LE(*std::max_element(sizes.begin(), sizes.end()), 1024u);
}

TEST(PrefetchPlanner, AnIsolatedMissInsideThePlanAsksForLittle) {
  SimulatedEngine sim(1 << 16, kSmallCap);
  sim.scan(0, 6000);
  const uint64_t frontier = sim.frontier();
  for (uint64_t p = 6000; p < frontier; ++p) sim.state[p] = SimulatedEngine::PageState::kAbsent;
  // One page read inside the evicted plan, as a thread re-reading a page would: a small block
  // and at most a first window after it, not a whole window of 1024 pages.
  const uint64_t fetched = sim.planned_pages;
  sim.touch(6500, 9);
  EXPECT_LE(sim.planned_pages - fetched, 4u + 64u);
  EXPECT_EQ(sim.frontier(), frontier);
}

TEST(PrefetchPlanner, SmallForwardSkipContinuesTheStream) {
  SimulatedEngine sim(1 << 16, kSmallCap);
  sim.scan(0, 3000);
  const uint64_t skip_to = sim.frontier() + 20;  // just past everything planned
  const size_t after = sim.calls.size();
  sim.scan(skip_to, skip_to + 5000);
  const std::vector<uint64_t> sizes = sim.prefetch_sizes(after);
  ASSERT_FALSE(sizes.empty());
  EXPECT_EQ(sizes.front(), 1024u);  // kept (and capped) the window instead of restarting
  EXPECT_EQ(sim.count(FaultKind::kMissing, after), 1u);
}

TEST(PrefetchPlanner, StridedGroupsArePrefetchedWithoutTheGaps) {
  // A columnar reader: 64 KiB groups, every 4th one (stride 64 pages), one demand per group.
  SimulatedEngine sim(1 << 16, PlannerConfig{16, 64, 1024, 16});
  constexpr uint64_t kGroups = 1000;
  for (uint64_t g = 0; g < kGroups; ++g) sim.scan(g * 64, g * 64 + 16);
  for (const auto& call : sim.calls) {
    for (const FetchRange& r : call.ranges) {
      EXPECT_LE(r.first_page % 64 + r.page_count, 16u) << "gap page planned at " << r.first_page;
    }
  }
  EXPECT_LE(sim.count(FaultKind::kMissing), 3u);
  EXPECT_LE(sim.planned_pages, kGroups * 16 + 64 * 16);
  EXPECT_GE(sim.planned_pages, kGroups * 16);
}

TEST(PrefetchPlanner, StridedSinglePagesArePrefetched) {
  for (uint64_t key : {0u, 4u}) {
    for (uint64_t offset : {0u, 3u}) {  // aligned to the random fetch size or not
      SimulatedEngine sim(1 << 18, PlannerConfig{});
      constexpr uint64_t kTouches = 5000;
      for (uint64_t i = 0; i < kTouches; ++i) sim.touch(i * 16 + offset, key);
      EXPECT_EQ(sim.count(FaultKind::kMissing), 3u);
      EXPECT_LE(sim.planned_pages, 4 * kTouches + 2 * 64 * 4);  // up to two batches ahead
    }
  }
}

TEST(PrefetchPlanner, StridedReaderTurningSequentialOrRandomAdapts) {
  SimulatedEngine sim(1 << 20, kSmallCap);
  for (uint64_t i = 0; i < 200; ++i) sim.touch(i * 16, 1);
  size_t after = sim.calls.size();
  sim.scan(200 * 16, 20000, 1);  // reads on sequentially from the last predicted block
  std::vector<uint64_t> sizes = sim.prefetch_sizes(after);
  ASSERT_FALSE(sizes.empty());
  EXPECT_EQ(sizes.back(), 1024u);
  EXPECT_LE(sim.count(FaultKind::kMissing, after), 3u);

  after = sim.calls.size();
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<uint64_t> far_page(100000, (1 << 20) - 1);
  for (int i = 0; i < 100; ++i) sim.touch(far_page(rng), 1);
  EXPECT_TRUE(sim.prefetch_sizes(after).empty());
}

TEST(PrefetchPlanner, ClipsAtTheEndOfTheObject) {
  PrefetchPlanner one_page(1, PlannerConfig{});
  const auto only = one_page.on_fault(0, 1, FaultKind::kMissing);
  ASSERT_EQ(only.size(), 1u);
  EXPECT_EQ(only[0].first_page, 0u);
  EXPECT_EQ(only[0].page_count, 1u);
  EXPECT_TRUE(only[0].demand);
  EXPECT_TRUE(one_page.on_fault(1, 1, FaultKind::kMissing).empty());  // past the end
  EXPECT_TRUE(one_page.on_fault(0, 1, FaultKind::kMarker).empty());
  one_page.set_hint(AccessHint::kSequential);
  ASSERT_EQ(one_page.on_fault(0, 2, FaultKind::kMissing).size(), 1u);

  PrefetchPlanner ten_pages(10, PlannerConfig{});
  const auto tail = ten_pages.on_fault(9, 1, FaultKind::kMissing);
  ASSERT_EQ(tail.size(), 1u);
  EXPECT_EQ(tail[0].first_page, 8u);
  EXPECT_EQ(tail[0].page_count, 2u);

  // A scan to the end: the last window stops at the object's end and carries no marker.
  SimulatedEngine sim(1000, kSmallCap);
  sim.scan(0, 1000);
  EXPECT_EQ(sim.planned_pages, 1000u);
  EXPECT_EQ(sim.frontier(), 1000u);
  const FetchRange& last = sim.calls.back().ranges.back();
  EXPECT_EQ(last.first_page + last.page_count, 1000u);
  EXPECT_EQ(last.marker_page, FetchRange::kNoMarker);
  EXPECT_TRUE(std::all_of(sim.state.begin(), sim.state.end(),
                          [](auto s) { return s == SimulatedEngine::PageState::kResident; }));
}

TEST(PrefetchPlanner, SequentialHintStartsWithALargeWindow) {
  PrefetchPlanner planner(1 << 20, PlannerConfig{});
  planner.set_hint(AccessHint::kSequential);
  const auto first = planner.on_fault(100, 1, FaultKind::kMissing);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_TRUE(first[0].demand);
  EXPECT_EQ(first[1].first_page, first[0].first_page + first[0].page_count);
  EXPECT_GE(first[1].page_count, 4096u);

  SimulatedEngine sim(1 << 16, kSmallCap);
  sim.planner.set_hint(AccessHint::kSequential);
  sim.scan(0, 20000);
  EXPECT_EQ(sim.count(FaultKind::kMissing), 1u);
  EXPECT_GE(sim.prefetch_sizes().front(), 256u);
}

TEST(PrefetchPlanner, RandomHintNeverPrefetchesUntilCleared) {
  SimulatedEngine sim(1 << 16, kSmallCap);
  sim.planner.set_hint(AccessHint::kRandom);
  sim.scan(0, 4000);
  EXPECT_TRUE(sim.prefetch_sizes().empty());
  EXPECT_EQ(sim.planned_pages, 4000u);
  EXPECT_EQ(sim.count(FaultKind::kMissing), 1000u);

  sim.planner.set_hint(AccessHint::kNormal);
  const size_t after = sim.calls.size();
  sim.scan(4000, 12000);
  EXPECT_EQ(sim.prefetch_sizes(after).back(), 1024u);
}

TEST(PrefetchPlanner, MemoryPressureHalvesWindowsDownToInitial) {
  SimulatedEngine sim(1 << 16, kSmallCap);
  sim.scan(0, 6000);
  ASSERT_EQ(sim.prefetch_sizes().back(), 1024u);

  sim.planner.on_memory_pressure();
  size_t after = sim.calls.size();
  sim.scan(6000, 9000);
  std::vector<uint64_t> sizes = sim.prefetch_sizes(after);
  ASSERT_GE(sizes.size(), 2u);
  EXPECT_EQ(sizes[0], 512u);   // the halved window
  EXPECT_EQ(sizes[1], 1024u);  // then the ramp resumes

  for (int i = 0; i < 6; ++i) sim.planner.on_memory_pressure();
  after = sim.calls.size();
  sim.scan(9000, 12000);
  sizes = sim.prefetch_sizes(after);
  ASSERT_GE(sizes.size(), 2u);
  EXPECT_EQ(sizes[0], 64u);  // never below the initial window
  EXPECT_EQ(sizes[1], 128u);
}

TEST(PrefetchPlanner, LeastRecentlyUsedStreamIsReplaced) {
  SimulatedEngine sim(1 << 20, PlannerConfig{4, 64, 1024, 2});
  sim.scan(0, 5000, 1);         // stream A
  sim.scan(200000, 205000, 2);  // stream B
  sim.scan(400000, 405000, 3);  // stream C replaces A, the least recently used
  size_t after = sim.calls.size();
  sim.scan(205000, 210000, 2);  // B is still known: full-size windows go on
  std::vector<uint64_t> sizes = sim.prefetch_sizes(after);
  ASSERT_FALSE(sizes.empty());
  EXPECT_EQ(sizes.front(), 1024u);
  after = sim.calls.size();
  sim.scan(5000, 12000, 1);  // A was forgotten: its marker restarts at the first window
  sizes = sim.prefetch_sizes(after);
  ASSERT_FALSE(sizes.empty());
  EXPECT_EQ(sizes.front(), 64u);
  EXPECT_EQ(sizes.back(), 1024u);
  // At most one wait, at the end of the forgotten plan, which the new stream recognises.
  EXPECT_LE(sim.count(FaultKind::kMissing, after), 1u);
}

TEST(PrefetchPlanner, MarkerWithoutAStreamRestartsReadahead) {
  PrefetchPlanner planner(1 << 16, kSmallCap);
  const auto ranges = planner.on_fault(100, 0, FaultKind::kMarker);
  ASSERT_EQ(ranges.size(), 1u);
  EXPECT_FALSE(ranges[0].demand);
  EXPECT_EQ(ranges[0].first_page, 101u);
  EXPECT_EQ(ranges[0].page_count, 64u);
  EXPECT_EQ(ranges[0].marker_page, 101u);
  EXPECT_TRUE(planner.on_fault(5000, 0, FaultKind::kInFlight).empty());
}

TEST(PrefetchPlanner, RandomFaultsDoNotFlushSequentialStreams) {
  // A scan survives a storm of random faults from another thread.
  SimulatedEngine sim(1 << 20, PlannerConfig{4, 64, 1024, 4});
  sim.scan(0, 5000, 1);
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<uint64_t> far_page(100000, (1 << 20) - 1);
  for (int i = 0; i < 200; ++i) sim.touch(far_page(rng), 2);
  const size_t after = sim.calls.size();
  sim.scan(5000, 10000, 1);
  const std::vector<uint64_t> sizes = sim.prefetch_sizes(after);
  ASSERT_FALSE(sizes.empty());
  EXPECT_EQ(sizes.front(), 1024u);
}

TEST(PrefetchPlanner, ArbitraryFaultSequencesGiveWellFormedBoundedAnswers) {
  // Whatever the engine reports, answers stay inside the object, non-empty, demand first, and
  // one fault never asks for more than a demand block and one window (or one strided batch).
  constexpr uint64_t kTotal = 5000;
  const PlannerConfig config{4, 64, 1024, 4};
  PrefetchPlanner planner(kTotal, config);
  std::mt19937_64 rng(5);
  uint64_t page = 0;
  for (int i = 0; i < 20000; ++i) {
    const uint64_t choice = rng() % 10;
    page = choice < 6 ? (page + rng() % 8) % kTotal : rng() % (kTotal + 3);  // mostly forward
    const auto kind = static_cast<FaultKind>(rng() % 3);
    if (i % 997 == 0) planner.on_memory_pressure();
    if (i % 1999 == 0) planner.set_hint(static_cast<AccessHint>(rng() % 3));
    const auto ranges = planner.on_fault(page, rng() % 3, kind);
    if (page >= kTotal) {
      EXPECT_TRUE(ranges.empty());
      continue;
    }
    uint64_t readahead = 0;
    for (size_t j = 0; j < ranges.size(); ++j) {
      const FetchRange& r = ranges[j];
      ASSERT_GT(r.page_count, 0u);
      ASSERT_LE(r.first_page + r.page_count, kTotal);
      EXPECT_EQ(r.demand, j == 0 && kind == FaultKind::kMissing);
      if (!r.demand) readahead += r.page_count;
    }
    if (kind == FaultKind::kMissing) {
      ASSERT_FALSE(ranges.empty());
      EXPECT_LE(ranges[0].first_page, page);
      EXPECT_GT(ranges[0].first_page + ranges[0].page_count, page);
      EXPECT_LE(ranges[0].page_count, config.random_fetch_pages);
    }
    EXPECT_LE(readahead, config.max_window_pages);
  }
}

TEST(PrefetchPlanner, RepeatedWaitsDoNotRepeatRequests) {
  PrefetchPlanner planner(1 << 16, kSmallCap);
  planner.on_fault(0, 1, FaultKind::kMissing);
  planner.on_fault(4, 1, FaultKind::kMissing);
  uint64_t requested = 0;
  for (int i = 0; i < 100; ++i) {
    for (uint64_t p : {8u, 20u, 30u}) {
      for (const FetchRange& r : planner.on_fault(p, 1 + i % 3, FaultKind::kInFlight)) {
        requested += r.page_count;
      }
    }
  }
  EXPECT_LE(requested, 128u);  // one grown window at most
}

}  // namespace
}  // namespace mmapurl::control
