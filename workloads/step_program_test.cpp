#include "workloads/step_program.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

namespace clustersim::wl {
namespace {

constexpr Dim kAllDims[] = {Dim::kTp, Dim::kCp, Dim::kPp, Dim::kDp, Dim::kEp, Dim::kEdp, Dim::kTpCp, Dim::kDpCp};

// Every dim's groups partition the world, have GroupSize members, contain the rank and agree between members.
void CheckPartition(const RankLayout& l) {
  for (Dim d : kAllDims) {
    SCOPED_TRACE(ToString(d));
    std::vector<int> seen(l.world(), 0);
    for (uint32_t r = 0; r < l.world(); ++r) {
      const std::vector<uint32_t> g = l.Group(r, d);
      ASSERT_EQ(g.size(), l.GroupSize(d));
      ASSERT_NE(std::find(g.begin(), g.end(), r), g.end());
      std::vector<uint32_t> sorted = g;
      std::sort(sorted.begin(), sorted.end());
      for (uint32_t m : g) {
        ASSERT_LT(m, l.world());
        std::vector<uint32_t> other = l.Group(m, d);
        std::sort(other.begin(), other.end());
        ASSERT_EQ(other, sorted);
      }
      if (g.front() == *std::min_element(g.begin(), g.end()) && r == g.front()) {
        for (uint32_t m : g) ++seen[m];
      }
    }
    for (uint32_t r = 0; r < l.world(); ++r) EXPECT_EQ(seen[r], 1) << "rank " << r;
  }
}

TEST(RankLayout, GroupsPartitionTheWorld) {
  RankLayout l;
  l.tp = 2;
  l.cp = 2;
  l.dp = 4;
  l.pp = 3;
  l.ep = 4;
  CheckPartition(l);
  l.expert_tp = 1;  // expert grid spans tensor-parallel ranks
  l.ep = 8;
  CheckPartition(l);
}

TEST(RankLayout, MegatronOrderCoordinates) {
  RankLayout l;
  l.tp = 4;
  l.cp = 2;
  l.dp = 3;
  l.pp = 2;
  const uint32_t r = 1 + 4 * (1 + 2 * (2 + 3 * 1));  // tp 1, cp 1, dp 2, pp 1
  EXPECT_EQ(l.TpIndex(r), 1u);
  EXPECT_EQ(l.CpIndex(r), 1u);
  EXPECT_EQ(l.DpIndex(r), 2u);
  EXPECT_EQ(l.PpIndex(r), 1u);
  EXPECT_EQ(l.StageRepresentative(1), 24u);
  EXPECT_EQ(l.Group(r, Dim::kTp), (std::vector<uint32_t>{44, 45, 46, 47}));
  EXPECT_EQ(l.Group(r, Dim::kPp), (std::vector<uint32_t>{r - 24, r}));
  EXPECT_EQ(l.Group(r, Dim::kDp), (std::vector<uint32_t>{29, 37, 45}));
  EXPECT_EQ(l.GroupSize(Dim::kTpCp), 8u);
  EXPECT_EQ(l.GroupSize(Dim::kDpCp), 6u);
}

TEST(RankLayout, ExpertGroupsAreBlocksOfTheCpDpGrid) {
  RankLayout l;
  l.tp = 2;
  l.cp = 1;
  l.dp = 8;
  l.pp = 1;
  l.ep = 4;
  // With expert_tp = tp the EP group of rank 0 is dp ranks 0..3 at tp index 0; EDP = the ranks with equal experts.
  EXPECT_EQ(l.Group(0, Dim::kEp), (std::vector<uint32_t>{0, 2, 4, 6}));
  EXPECT_EQ(l.Group(3, Dim::kEp), (std::vector<uint32_t>{1, 3, 5, 7}));
  EXPECT_EQ(l.Group(0, Dim::kEdp), (std::vector<uint32_t>{0, 8}));
  EXPECT_EQ(l.GroupSize(Dim::kEdp), 2u);
  // expert_tp = 1: EP groups are blocks of consecutive ranks of the stage.
  l.expert_tp = 1;
  EXPECT_EQ(l.Group(5, Dim::kEp), (std::vector<uint32_t>{4, 5, 6, 7}));
  EXPECT_EQ(l.Group(5, Dim::kEdp), (std::vector<uint32_t>{1, 5, 9, 13}));
  EXPECT_EQ(l.GroupSize(Dim::kEdp), 4u);
}

TEST(StepProgram, EnumNames) {
  std::set<std::string> names;
  for (Dim d : kAllDims) names.insert(ToString(d));
  EXPECT_EQ(names.size(), 8u);
  EXPECT_STREQ(ToString(Coll::kReduceScatter), "reduce_scatter");
  EXPECT_STREQ(ToString(ComputeKind::kRouter), "router");
}

}  // namespace
}  // namespace clustersim::wl
