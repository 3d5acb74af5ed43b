// Clos family: shapes, oversubscription, rails and planes, ECMP spreading, static routing.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "topologies/fabric.h"
#include "topologies/test_util.h"

namespace clustersim::topo {
namespace {

using testing::CheckChain;
using testing::Params;
using testing::VertexAfter;

// The leaf a NIC port's cable reaches (NIC vertex -> its kNicToLeaf neighbour).
uint32_t LeafOfNic(const Fabric& f, uint32_t nic) {
  for (auto [it, end] = boost::out_edges(nic, f.graph()); it != end; ++it) {
    if (f.graph()[*it].kind == LinkKind::kNicToLeaf) return static_cast<uint32_t>(boost::target(*it, f.graph()));
  }
  return UINT32_MAX;
}

// The NIC vertices of a GPU, in port order.
std::vector<uint32_t> NicsOf(const Fabric& f, uint32_t gpu) {
  std::vector<std::pair<uint32_t, uint32_t>> nics;  // (index, vertex)
  for (auto [it, end] = boost::out_edges(gpu, f.graph()); it != end; ++it) {
    const auto v = static_cast<uint32_t>(boost::target(*it, f.graph()));
    if (f.graph()[v].kind == VertexKind::kNic) nics.emplace_back(f.graph()[v].index, v);
  }
  std::sort(nics.begin(), nics.end());
  std::vector<uint32_t> out;
  for (auto& n : nics) out.push_back(n.second);
  return out;
}

// Down (NIC-facing or lower-tier) and up capacity summed over the switches of one kind.
std::pair<double, double> DownUpCapacity(const Fabric& f, VertexKind kind) {
  const Graph& g = f.graph();
  double down = 0;
  double up = 0;
  for (uint32_t v = 0; v < boost::num_vertices(g); ++v) {
    if (g[v].kind != kind) continue;
    for (auto [it, end] = boost::out_edges(v, g); it != end; ++it) {
      const auto other = static_cast<uint32_t>(boost::target(*it, g));
      (g[other].tier < g[v].tier ? down : up) += g[*it].bandwidth_gbps;
    }
  }
  return {down, up};
}

TEST(FatTree, SameLeafRouteStaysBelowTheLeaf) {
  const auto f = BuildFabric(Params("fat_tree", 256, 32));  // leaves of 16 NIC ports = 2 nodes
  std::vector<Hop> hops;
  f->Route(3, 12, 0, hops);  // different nodes and domains, same leaf
  ASSERT_TRUE(CheckChain(*f, 3, 12, hops));
  ASSERT_EQ(hops.size(), 4u);
  EXPECT_EQ(f->link(hops[0].link).kind, LinkKind::kPcie);
  EXPECT_EQ(f->link(hops[1].link).kind, LinkKind::kNicToLeaf);
  EXPECT_EQ(f->graph()[VertexAfter(*f, hops, 1)].kind, VertexKind::kLeaf);
  EXPECT_EQ(f->link(hops[2].link).kind, LinkKind::kNicToLeaf);
  EXPECT_EQ(f->link(hops[3].link).kind, LinkKind::kPcie);
}

TEST(FatTree, ThreeTierRoutesClimbOnlyAsFarAsNeeded) {
  FabricParams p = Params("fat_tree", 512, 16);  // leaves of 8, pods of 8 leaves = 64 GPUs
  p.tiers = 3;
  const auto f = BuildFabric(p);
  std::vector<Hop> hops;
  f->Route(0, 63, 1, hops);  // same pod, different leaves
  ASSERT_TRUE(CheckChain(*f, 0, 63, hops));
  EXPECT_EQ(hops.size(), 6u);
  EXPECT_EQ(f->graph()[VertexAfter(*f, hops, 2)].kind, VertexKind::kSpine);
  hops.clear();
  f->Route(0, 64, 1, hops);  // next pod
  ASSERT_TRUE(CheckChain(*f, 0, 64, hops));
  EXPECT_EQ(hops.size(), 8u);
  EXPECT_EQ(f->graph()[VertexAfter(*f, hops, 3)].kind, VertexKind::kCore);
}

TEST(FatTree, SmallFabricsTrunkLeafUplinksOntoFewerSpines) {
  // 64 GPUs on 64-port switches, forced to 2 tiers: 2 leaves of 32 down ports.
  FabricParams p = Params("fat_tree", 64, 64);
  p.tiers = 2;
  const auto f = BuildFabric(p);
  const Inventory inv = f->ComputeInventory();
  ASSERT_EQ(inv.switches_per_tier.size(), 2u);
  EXPECT_EQ(inv.switches_per_tier[0], 2u);  // 2 leaves x 32 uplinks fill one 64-port spine
  EXPECT_EQ(inv.switches_per_tier[1], 1u);
  EXPECT_EQ(inv.switch_links, 64u);
  // The 127-node DGX SuperPOD: 4 scalable units x 8 rails = 32 leaves, 16 spines.
  const Inventory pod = PlanInventory(Params("rail_optimized", 1016, 64));
  EXPECT_EQ(pod.switches_per_tier, (std::vector<uint64_t>{32, 16}));
}

TEST(FatTree, OversubscriptionComesOutAsConfigured) {
  FabricParams p = Params("fat_tree", 1536, 16);  // k=16, 3:1 leaves: 12 down, 4 up; 1:1 spines: 8 down, 8 up
  p.oversubscription = {3, 1};
  p.tiers = 3;
  auto f = BuildFabric(p);
  auto [down, up] = DownUpCapacity(*f, VertexKind::kLeaf);
  EXPECT_DOUBLE_EQ(down / up, 3.0);
  auto [sdown, sup] = DownUpCapacity(*f, VertexKind::kSpine);
  EXPECT_DOUBLE_EQ(sdown / sup, 1.0);

  FabricParams q = Params("fat_tree", 288, 8);  // k=8, 3:1 everywhere: 6 down, 2 up; 8 pods of 6 leaves
  q.oversubscription = {3, 3};
  q.tiers = 3;
  f = BuildFabric(q);
  std::tie(down, up) = DownUpCapacity(*f, VertexKind::kLeaf);
  EXPECT_DOUBLE_EQ(down / up, 3.0);
  std::tie(sdown, sup) = DownUpCapacity(*f, VertexKind::kSpine);
  EXPECT_DOUBLE_EQ(sdown / sup, 3.0);
}

TEST(FatTree, PartiallyFilledLeavesAndPodsStillRoute) {
  FabricParams p = Params("fat_tree", 1000, 18);  // 112 leaves of 9 ports, 13 pods of 9 leaves: last ones partial
  const auto f = BuildFabric(p);
  EXPECT_EQ(f->ComputeInventory().switches_per_tier[0], 112u);
  EXPECT_EQ(f->params().tiers, 3u);
  std::vector<Hop> hops;
  for (uint32_t s = 0; s < 1000; s += 37) {
    for (uint32_t d = 999; d > 41; d -= 41) {
      if (s == d) continue;
      hops.clear();
      f->Route(s, d, s + d, hops);
      ASSERT_TRUE(CheckChain(*f, s, d, hops));
    }
  }
}

// Counts how often each vertex of `kind` appears on routes of many flows between two GPUs.
std::map<uint32_t, int> Histogram(const Fabric& f, uint32_t s, uint32_t d, VertexKind kind, int flows) {
  std::map<uint32_t, int> h;
  std::vector<Hop> hops;
  for (int flow = 0; flow < flows; ++flow) {
    hops.clear();
    f.Route(s, d, static_cast<uint64_t>(flow), hops);
    for (size_t i = 0; i < hops.size(); ++i) {
      const uint32_t v = VertexAfter(f, hops, i);
      if (f.graph()[v].kind == kind) ++h[v];
    }
  }
  return h;
}

void ExpectUniform(const std::map<uint32_t, int>& h, size_t buckets, int flows) {
  ASSERT_EQ(h.size(), buckets);
  const double mean = static_cast<double>(flows) / static_cast<double>(buckets);
  for (const auto& [v, count] : h) EXPECT_NEAR(count, mean, 0.2 * mean) << "vertex " << v;
}

TEST(FatTree, EcmpSpreadsFlowsOverAllSpinesAndCores) {
  const auto two = BuildFabric(Params("fat_tree", 128, 16));  // 16 leaves x 8 up to 8 spines
  ASSERT_EQ(two->ComputeInventory().switches_per_tier[1], 8u);
  ExpectUniform(Histogram(*two, 0, 127, VertexKind::kSpine, 8000), 8, 8000);

  FabricParams p = Params("fat_tree", 128, 8);  // k=8: pods of 4 leaves x 4 ports, 4 spines/pod, 16 cores
  p.tiers = 3;
  const auto three = BuildFabric(p);
  ASSERT_EQ(three->ComputeInventory().switches_per_tier, (std::vector<uint64_t>{32, 32, 16}));
  ExpectUniform(Histogram(*three, 0, 127, VertexKind::kCore, 16000), 16, 16000);
  ExpectUniform(Histogram(*three, 0, 127, VertexKind::kSpine, 16000), 8, 2 * 16000);  // 4 up + 4 down
}

TEST(FatTree, EcmpChoiceDependsOnTheSeedOnly) {
  FabricParams p = Params("fat_tree", 128, 16);
  const auto a = BuildFabric(p);
  p.seed = 43;
  const auto b = BuildFabric(p);
  std::vector<Hop> ha;
  std::vector<Hop> hb;
  int differ = 0;
  for (uint64_t flow = 0; flow < 200; ++flow) {
    ha.clear();
    hb.clear();
    a->Route(3, 120, flow, ha);
    b->Route(3, 120, flow, hb);
    if (ha != hb) ++differ;
  }
  EXPECT_GT(differ, 100);  // 7 of 8 spine choices differ between seeds
}

TEST(FatTree, StaticRoutingIsDestinationModK) {
  FabricParams p = Params("fat_tree", 128, 16);  // 8 down / 8 up per leaf
  p.routing = "static";
  const auto f = BuildFabric(p);
  std::vector<Hop> hops;
  std::set<uint32_t> uplinks;
  for (uint32_t d = 64; d < 72; ++d) {  // the 8 GPUs of leaf 8
    std::set<std::vector<uint32_t>> routes;
    for (uint64_t flow = 0; flow < 10; ++flow) {
      hops.clear();
      f->Route(0, d, flow, hops);
      std::vector<uint32_t> ids;
      for (const Hop& h : hops) ids.push_back(h.link);
      routes.insert(ids);
    }
    EXPECT_EQ(routes.size(), 1u) << "static routes must not depend on the flow";
    uplinks.insert(hops[2].link);
  }
  EXPECT_EQ(uplinks.size(), 8u) << "each destination of a leaf takes its own uplink";
}

TEST(RailOptimized, GpuIOfEveryNodeSharesTheRailILeafOfItsUnit) {
  const auto f = BuildFabric(Params("rail_optimized", 1024, 64));  // 4 units of 32 nodes
  for (uint32_t rail = 0; rail < 8; ++rail) {
    const uint32_t leaf = LeafOfNic(*f, NicsOf(*f, rail)[0]);
    for (uint32_t node = 0; node < 32; ++node) EXPECT_EQ(LeafOfNic(*f, NicsOf(*f, node * 8 + rail)[0]), leaf);
    EXPECT_NE(LeafOfNic(*f, NicsOf(*f, 32 * 8 + rail)[0]), leaf);  // next scalable unit
    for (uint32_t other = 0; other < 8; ++other) {
      if (other != rail) {
        EXPECT_NE(LeafOfNic(*f, NicsOf(*f, other)[0]), leaf);
      }
    }
  }
  std::vector<Hop> hops;
  f->Route(3, 31 * 8 + 3, 0, hops);  // same rail, same unit: one leaf
  EXPECT_EQ(hops.size(), 4u);
  hops.clear();
  f->Route(3, 31 * 8 + 4, 0, hops);  // other rail: through a spine, no scale-up relay
  ASSERT_TRUE(CheckChain(*f, 3, 31 * 8 + 4, hops));
  EXPECT_EQ(hops.size(), 6u);
}

// Every switch-to-switch link joins switches of one plane, and every NIC sits on a leaf of its own plane.
void ExpectPlanesDisjoint(const Fabric& f) {
  const Graph& g = f.graph();
  for (uint32_t id = 0; id < f.num_links(); ++id) {
    const LinkKind k = f.link(id).kind;
    if (k == LinkKind::kNicToLeaf || k == LinkKind::kLeafToSpine || k == LinkKind::kSpineToCore) {
      EXPECT_EQ(g[f.link_source(id)].plane, g[f.link_target(id)].plane) << "link " << id;
    }
  }
}

TEST(RailOnly, EachRailIsItsOwnFabricAndCrossRailTrafficIsRelayed) {
  const auto f = BuildFabric(Params("rail_only", 512, 16));
  ExpectPlanesDisjoint(*f);
  for (uint32_t g = 0; g < 512; g += 5) EXPECT_EQ(f->graph()[NicsOf(*f, g)[0]].plane, g % 8);
  std::vector<Hop> hops;
  const uint32_t src = 8 * 3 + 1;
  const uint32_t dst = 8 * 40 + 6;
  f->Route(src, dst, 9, hops);
  ASSERT_TRUE(CheckChain(*f, src, dst, hops));
  ASSERT_GE(hops.size(), 2u);
  EXPECT_EQ(f->link(hops[0].link).kind, LinkKind::kScaleUp);
  EXPECT_EQ(f->link(hops[1].link).kind, LinkKind::kScaleUp);
  EXPECT_EQ(VertexAfter(*f, hops, 1), 8u * 3 + 6) << "relay through the source node's GPU on the destination rail";
  for (size_t i = 2; i < hops.size(); ++i) EXPECT_NE(f->link(hops[i].link).kind, LinkKind::kScaleUp);
}

TEST(MultiPlane, NicPortsFollowPlanesAndPlanesNeverMeet) {
  FabricParams p = Params("multi_plane", 512, 16);
  p.planes = 4;
  p.nics_per_gpu = 2;  // ports q = 2*local + port on plane q % 4
  const auto f = BuildFabric(p);
  ExpectPlanesDisjoint(*f);
  for (uint32_t g = 0; g < 512; g += 3) {
    const std::vector<uint32_t> nics = NicsOf(*f, g);
    ASSERT_EQ(nics.size(), 2u);
    for (uint32_t port = 0; port < 2; ++port) EXPECT_EQ(f->graph()[nics[port]].plane, (2 * (g % 8) + port) % 4);
  }
  // GPU 0 (planes 0, 1) to GPU 9 of another domain (planes 2, 3): a relay; to GPU 12 (planes 0, 1): direct.
  std::vector<Hop> hops;
  for (uint64_t flow = 0; flow < 20; ++flow) {
    hops.clear();
    f->Route(0, 8 * 20 + 1, flow, hops);
    ASSERT_TRUE(CheckChain(*f, 0, 8 * 20 + 1, hops));
    EXPECT_EQ(f->link(hops[0].link).kind, LinkKind::kScaleUp);
    hops.clear();
    f->Route(0, 8 * 20 + 4, flow, hops);
    ASSERT_TRUE(CheckChain(*f, 0, 8 * 20 + 4, hops));
    EXPECT_EQ(f->link(hops[0].link).kind, LinkKind::kPcie);
  }
}

TEST(MultiPlane, EcmpSpreadsAPairOverTheNicPortsOfOnePlanePair) {
  FabricParams p = Params("multi_plane", 512, 16);
  p.planes = 2;
  p.nics_per_gpu = 4;  // every GPU has 2 ports on each plane
  const auto f = BuildFabric(p);
  std::map<uint32_t, int> first_nic;
  std::vector<Hop> hops;
  for (uint64_t flow = 0; flow < 4000; ++flow) {
    hops.clear();
    f->Route(0, 300, flow, hops);
    ++first_nic[VertexAfter(*f, hops, 0)];
  }
  ExpectUniform(first_nic, 4, 4000);
}

}  // namespace
}  // namespace clustersim::topo
