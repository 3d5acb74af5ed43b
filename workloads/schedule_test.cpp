#include "workloads/schedule.h"

#include <gtest/gtest.h>

#include <map>
#include <utility>

namespace clustersim::wl {
namespace {

// Every (chunk, microbatch) runs forward once and backward once, the backward after the forward.
void CheckComplete(Schedule s, uint32_t pp, uint32_t chunks, uint32_t m) {
  for (uint32_t rank = 0; rank < pp; ++rank) {
    SCOPED_TRACE(::testing::Message() << ToString(s) << " rank " << rank);
    const std::vector<Task> tasks = BuildTaskOrder(s, pp, chunks, m, rank);
    ASSERT_EQ(tasks.size(), size_t{2} * chunks * m);
    std::map<std::pair<uint32_t, uint32_t>, int> state;  // 1 = forward done, 2 = backward done
    for (size_t i = 0; i < tasks.size(); ++i) {
      const Task& t = tasks[i];
      ASSERT_LT(t.chunk, chunks);
      ASSERT_LT(t.microbatch, m);
      int& st = state[{t.chunk, t.microbatch}];
      if (t.forward) {
        ASSERT_EQ(st, 0);
        st = 1;
      } else {
        ASSERT_EQ(st, 1);
        st = 2;
      }
      if (t.pair_with_next) {
        ASSERT_TRUE(t.forward);
        ASSERT_LT(i + 1, tasks.size());
        ASSERT_FALSE(tasks[i + 1].forward);
      }
    }
    ASSERT_EQ(state.size(), size_t{chunks} * m);
  }
}

TEST(Schedule, EveryScheduleRunsEachMicrobatchOnce) {
  CheckComplete(Schedule::kGPipe, 4, 1, 8);
  CheckComplete(Schedule::k1F1B, 4, 1, 8);
  CheckComplete(Schedule::k1F1B, 8, 1, 3);  // fewer microbatches than stages
  CheckComplete(Schedule::kInterleaved, 4, 2, 8);
  CheckComplete(Schedule::kInterleaved, 4, 3, 4);
  CheckComplete(Schedule::kDualPipe, 4, 2, 8);
  CheckComplete(Schedule::kDualPipe, 8, 2, 20);
  CheckComplete(Schedule::kDualPipe, 1, 2, 2);
}

TEST(Schedule, OneFOneBWarmup) {
  const std::vector<Task> first = BuildTaskOrder(Schedule::k1F1B, 4, 1, 8, 0);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(first[i].forward) << i;  // 3 warm-up forwards, then the first steady one
  EXPECT_FALSE(first[4].forward);
  const std::vector<Task> last = BuildTaskOrder(Schedule::k1F1B, 4, 1, 8, 3);
  EXPECT_TRUE(last[0].forward);
  EXPECT_FALSE(last[1].forward);  // the last stage alternates from the start
  EXPECT_TRUE(last[0].pair_with_next);
}

TEST(Schedule, InterleavedFollowsMegatron) {
  // pp 2, vpp 2, m 4, rank 0: warm-up (2-0-1) x 2 + (2-1) x 2 = 4 forwards, chunk changing every pp microbatches.
  const std::vector<Task> t = BuildTaskOrder(Schedule::kInterleaved, 2, 2, 4, 0);
  const std::pair<uint16_t, uint32_t> fwd[] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(t[i].forward);
    EXPECT_EQ(t[i].chunk, fwd[i].first);
    EXPECT_EQ(t[i].microbatch, fwd[i].second);
  }
  // Steady state: forward (chunk 0, mb 2) then backward of (chunk 1, mb 0): backward starts at the last chunk.
  EXPECT_TRUE(t[4].forward);
  EXPECT_EQ(t[4].microbatch, 2u);
  EXPECT_FALSE(t[5].forward);
  EXPECT_EQ(t[5].chunk, 1);
  EXPECT_EQ(t[5].microbatch, 0u);
}

TEST(Schedule, VirtualStagePlacement) {
  EXPECT_EQ(VirtualStage(Schedule::kInterleaved, 4, 1, 2), 9u);
  EXPECT_EQ(StageOfVirtual(Schedule::kInterleaved, 4, 9).rank, 1u);
  EXPECT_EQ(StageOfVirtual(Schedule::kInterleaved, 4, 9).chunk, 2u);
  // DualPipeV: chunk 1 comes back up, so rank 0 holds the first and the last virtual stage.
  EXPECT_EQ(VirtualStage(Schedule::kDualPipe, 4, 0, 1), 7u);
  EXPECT_EQ(VirtualStage(Schedule::kDualPipe, 4, 3, 1), 4u);
  for (uint32_t v = 0; v < 8; ++v) {
    const StageChunk sc = StageOfVirtual(Schedule::kDualPipe, 4, v);
    EXPECT_EQ(VirtualStage(Schedule::kDualPipe, 4, sc.rank, sc.chunk), v);
  }
}

}  // namespace
}  // namespace clustersim::wl
