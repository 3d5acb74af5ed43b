// Inventory: DeepSeek ISCA'25 Table 3 counts, bisection against a max-flow, conventions.
#include <gtest/gtest.h>

#include "topologies/fabric.h"
#include "topologies/test_util.h"

namespace clustersim::topo {
namespace {

using testing::Params;

// Table 3 of Zhao et al., "Insights into DeepSeek-V3", ISCA 2025 (cases deepseek_isca_topology_* in
// shared/validation/cases.yaml): 64-port switches, endpoints = NIC ports, links = switch-to-switch links.
TEST(DeepSeekTable3, TwoTierFatTree) {
  FabricParams p = Params("fat_tree", 2048, 64);
  const auto f = BuildFabric(p);
  const Inventory inv = f->ComputeInventory();
  EXPECT_EQ(f->ScaleOutEndpoints(), 2048u);
  EXPECT_EQ(inv.nics, 2048u);
  EXPECT_EQ(inv.switches, 96u);
  EXPECT_EQ(inv.switch_links, 2048u);
  EXPECT_EQ(inv.endpoint_links, 2048u);
  EXPECT_EQ(f->params().tiers, 2u);
}

TEST(DeepSeekTable3, MultiPlaneFatTree) {
  FabricParams p = Params("multi_plane", 16384, 64);
  p.planes = 8;
  const Inventory inv = PlanInventory(p);  // 16k GPUs: closed form (PlanMatchesBuild ties it to the graph)
  EXPECT_EQ(inv.nics, 16384u);
  EXPECT_EQ(inv.switches, 768u);
  EXPECT_EQ(inv.switch_links, 16384u);
  EXPECT_EQ(inv.switches_per_tier, (std::vector<uint64_t>{512, 256}));
}

TEST(DeepSeekTable3, ThreeTierFatTree) {
  FabricParams p = Params("fat_tree", 65536, 64);
  const Inventory inv = PlanInventory(p);
  EXPECT_EQ(inv.nics, 65536u);
  EXPECT_EQ(inv.switches, 5120u);
  EXPECT_EQ(inv.switch_links, 131072u);
  EXPECT_EQ(inv.switches_per_tier, (std::vector<uint64_t>{2048, 2048, 1024}));
}

TEST(DeepSeekTable3, PlanMatchesBuildOnScaledDownCopies) {
  // The same shapes with 16-port switches: FT2 = 128 endpoints, MPFT = 8 x FT2, FT3 = 1024 endpoints.
  FabricParams ft2 = Params("fat_tree", 128, 16);
  FabricParams mpft = Params("multi_plane", 1024, 16);
  mpft.planes = 8;
  FabricParams ft3 = Params("fat_tree", 1024, 16);
  for (const FabricParams& p : {ft2, mpft, ft3}) {
    const Inventory built = BuildFabric(p)->ComputeInventory();
    const Inventory planned = PlanInventory(p);
    EXPECT_EQ(built.switches, planned.switches) << p.topology << " " << p.num_gpus;
    EXPECT_EQ(built.switch_links, planned.switch_links);
  }
  // k-ary closed forms: FT2 k^2/2 endpoints, 3k/2 switches, k^2/2 links; FT3 k^3/4, 5k^2/4, k^3/2.
  EXPECT_EQ(PlanInventory(ft2).switches, 24u);
  EXPECT_EQ(PlanInventory(ft2).switch_links, 128u);
  EXPECT_EQ(PlanInventory(mpft).switches, 8u * 24);
  EXPECT_EQ(PlanInventory(ft3).switches, 5u * 16 * 16 / 4);
  EXPECT_EQ(PlanInventory(ft3).switch_links, 16u * 16 * 16 / 2);
}

TEST(Inventory, CountsNodesNicsAndTransceivers) {
  FabricParams p = Params("rail_optimized", 256, 64);
  p.nics_per_gpu = 2;
  const Inventory inv = BuildFabric(p)->ComputeInventory();
  EXPECT_EQ(inv.gpus, 256u);
  EXPECT_EQ(inv.nodes, 32u);
  EXPECT_EQ(inv.nics, 512u);
  EXPECT_EQ(inv.scale_up_switches, 32u);
  EXPECT_EQ(inv.links_per_kind[static_cast<size_t>(LinkKind::kPcie)], 512u);
  EXPECT_EQ(inv.endpoint_links, 512u);
  // 16 rails x 1 unit = 16 leaves of 32 up; 512 uplinks on 8 spines.
  EXPECT_EQ(inv.switches_per_tier, (std::vector<uint64_t>{16, 8}));
  EXPECT_EQ(inv.switch_links, 512u);
  EXPECT_EQ(inv.transceivers, 2u * (512 + 512));
}

// The closed-form bisection equals the max-flow across the cut between the first and second half of the GPUs.
struct BisectionCase {
  std::string name;
  FabricParams params;
};

void PrintTo(const BisectionCase& c, std::ostream* os) { *os << c.name; }

class Bisection : public ::testing::TestWithParam<BisectionCase> {};

TEST_P(Bisection, ClosedFormMatchesMaxFlowAcrossTheHalfCut) {
  const auto f = BuildFabric(GetParam().params);
  const double closed = f->ComputeInventory().bisection_bandwidth_gbps;
  EXPECT_GT(closed, 0);
  EXPECT_NEAR(testing::HalfCutMaxFlow(*f), closed, 1e-6 * closed);
}

std::vector<BisectionCase> BisectionCases() {
  std::vector<BisectionCase> c;
  c.push_back({"fat_tree_1tier", Params("fat_tree", 64, 64)});
  c.push_back({"fat_tree_2tier", Params("fat_tree", 128, 16)});
  c.push_back({"fat_tree_2tier_trunked", Params("fat_tree", 64, 16)});
  FabricParams p = Params("fat_tree", 128, 8);
  p.tiers = 3;
  c.push_back({"fat_tree_3tier", p});
  p = Params("fat_tree", 48, 8);
  p.oversubscription = {3};
  c.push_back({"fat_tree_2tier_3to1", p});
  p = Params("fat_tree", 192, 8);
  p.oversubscription = {1, 3};
  p.tiers = 3;
  c.push_back({"fat_tree_3tier_spines_3to1", p});
  c.push_back({"rail_optimized", Params("rail_optimized", 512, 16)});
  c.push_back({"rail_only", Params("rail_only", 512, 16)});
  p = Params("multi_plane", 512, 16);
  p.planes = 4;
  c.push_back({"multi_plane", p});
  c.push_back({"dragonfly", Params("dragonfly", 128, 16)});
  c.push_back({"dragonfly_one_group", Params("dragonfly", 32, 16)});
  c.push_back({"slim_fly_q5_full", Params("slim_fly", 200, 64)});
  p = Params("torus", 128);
  p.torus_dims = {4, 4, 8};
  c.push_back({"torus", p});
  return c;
}

INSTANTIATE_TEST_SUITE_P(Kinds, Bisection, ::testing::ValuesIn(BisectionCases()),
                         [](const ::testing::TestParamInfo<BisectionCase>& tpi) { return tpi.param.name; });

}  // namespace
}  // namespace clustersim::topo
