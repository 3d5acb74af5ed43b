// Dragonfly: minimal routes and ECMP over parallel global links.
#include <gtest/gtest.h>

#include <map>

#include "topologies/fabric.h"
#include "topologies/test_util.h"

namespace clustersim::topo {
namespace {

using testing::CheckChain;
using testing::Params;
using testing::VertexAfter;

int Count(const Fabric& f, const std::vector<Hop>& hops, LinkKind kind) {
  int n = 0;
  for (const Hop& h : hops) n += f.link(h.link).kind == kind ? 1 : 0;
  return n;
}

TEST(Dragonfly, BalancedDefaultsFromTheRadix) {
  // k=16: 4 hosts, 4 global links and 8 routers per group (4 + 7 + 4 = 15 ports); 512 GPUs = 16 groups of 32.
  const auto f = BuildFabric(Params("dragonfly", 512, 16));
  const Inventory inv = f->ComputeInventory();
  EXPECT_EQ(inv.switches_per_tier, (std::vector<uint64_t>{128}));
  EXPECT_EQ(inv.links_per_kind[static_cast<size_t>(LinkKind::kLocal)], 16u * 28);
  // 32 global ports per group over 15 peer groups: 2 parallel links per pair.
  EXPECT_EQ(inv.links_per_kind[static_cast<size_t>(LinkKind::kGlobal)], 2u * 16 * 15 / 2);
  // No router uses more ports than it has.
  for (uint32_t v = 0; v < boost::num_vertices(f->graph()); ++v) {
    if (f->graph()[v].kind == VertexKind::kRouter) {
      EXPECT_LE(boost::out_degree(v, f->graph()), 16u);
    }
  }
}

TEST(Dragonfly, MinimalRoutesUseAtMostOneGlobalLink) {
  FabricParams p = Params("dragonfly", 512, 16);
  p.gpus_per_node = 1;  // no scale-up, so GPUs of one router talk through it
  p.scale_up_domain = 1;
  const auto f = BuildFabric(p);
  std::vector<Hop> hops;
  // Same router (GPU 8..11 share router 2), same group (GPU 8 and 20), other group (GPU 8 and 200).
  f->Route(8, 11, 0, hops);
  EXPECT_EQ(Count(*f, hops, LinkKind::kNicToLeaf), 2);
  EXPECT_EQ(hops.size(), 4u);
  hops.clear();
  f->Route(8, 20, 0, hops);
  ASSERT_TRUE(CheckChain(*f, 8, 20, hops));
  EXPECT_EQ(Count(*f, hops, LinkKind::kLocal), 1);
  EXPECT_EQ(Count(*f, hops, LinkKind::kGlobal), 0);
  for (uint64_t flow = 0; flow < 50; ++flow) {
    hops.clear();
    f->Route(8, 200, flow, hops);
    ASSERT_TRUE(CheckChain(*f, 8, 200, hops));
    EXPECT_EQ(Count(*f, hops, LinkKind::kGlobal), 1);
    EXPECT_LE(Count(*f, hops, LinkKind::kLocal), 2);
  }
}

TEST(Dragonfly, EcmpSpreadsOverParallelGlobalLinks) {
  // 128 GPUs, k=16: 4 groups; 32 global ports per group over 3 peers = 10 parallel links per pair.
  const auto f = BuildFabric(Params("dragonfly", 128, 16));
  std::map<uint32_t, int> used;
  std::map<uint32_t, int> gateways;
  std::vector<Hop> hops;
  const int flows = 10000;
  for (int flow = 0; flow < flows; ++flow) {
    hops.clear();
    f->Route(0, 100, static_cast<uint64_t>(flow), hops);
    for (const Hop& h : hops) {
      if (f->link(h.link).kind == LinkKind::kGlobal) {
        ++used[h.link];
        ++gateways[h.forward ? f->link_source(h.link) : f->link_target(h.link)];
      }
    }
  }
  ASSERT_EQ(used.size(), 10u);
  for (const auto& [link, n] : used) EXPECT_NEAR(n, flows / 10.0, 0.2 * flows / 10.0) << link;
  EXPECT_GE(gateways.size(), 3u) << "parallel links to one group sit on different routers";
}

TEST(Dragonfly, StaticRoutingIgnoresTheFlow) {
  FabricParams p = Params("dragonfly", 128, 16);
  p.routing = "static";
  const auto f = BuildFabric(p);
  std::vector<Hop> first;
  std::vector<Hop> hops;
  f->Route(0, 100, 0, first);
  for (uint64_t flow = 1; flow < 20; ++flow) {
    hops.clear();
    f->Route(0, 100, flow, hops);
    EXPECT_EQ(hops, first);
  }
}

}  // namespace
}  // namespace clustersim::topo
