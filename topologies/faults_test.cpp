// Routing by name and fabric faults: routes avoid down links, re-spread over the survivors, relay around a down
// plane; Valiant paths; the registry's rules.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "common/error.h"
#include "topologies/fabric.h"
#include "topologies/routing.h"
#include "topologies/test_util.h"

namespace clustersim::topo {
namespace {

using testing::CheckChain;
using testing::Params;

// Every route of `f` between sampled pairs is a valid chain that crosses no down link; returns how often each link
// is used.
std::map<uint32_t, uint32_t> RouteAll(const Fabric& f, uint32_t stride = 1) {
  std::map<uint32_t, uint32_t> used;
  std::vector<Hop> hops;
  for (uint32_t s = 0; s < f.num_gpus(); s += stride) {
    for (uint32_t d = 0; d < f.num_gpus(); ++d) {
      hops.clear();
      f.Route(s, d, 0, hops);
      EXPECT_TRUE(CheckChain(f, s, d, hops));
      for (const Hop& h : hops) {
        EXPECT_TRUE(f.link_up(h.link)) << s << "->" << d << " crosses down link " << h.link;
        ++used[h.link];
      }
    }
  }
  return used;
}

uint32_t SwitchVertex(const Fabric& f, uint32_t tier, uint32_t index) {
  for (uint32_t v = 0; v < boost::num_vertices(f.graph()); ++v) {
    const VertexProps& p = f.graph()[v];
    if (p.tier == tier && p.index == index && p.kind != VertexKind::kGpu && p.kind != VertexKind::kNic &&
        p.kind != VertexKind::kScaleUpSwitch)
      return v;
  }
  return UINT32_MAX;
}

TEST(Faults, SpineDownRoutesSpreadOverTheSurvivingSpines) {
  FabricParams p = Params("fat_tree", 128, 16);  // 2 tiers: 16 leaves of 8 down / 8 up, 8 spines
  p.faults.switches.push_back({2, 3, 0});
  const auto f = BuildFabric(p);
  EXPECT_EQ(f->fault_summary().switches_down, 1u);
  EXPECT_EQ(f->fault_summary().links_down, 16u);  // one up-link of each of 16 leaves
  const uint32_t spine = SwitchVertex(*f, 2, 3);
  const auto used = RouteAll(*f);
  std::map<uint32_t, uint32_t> per_spine;
  for (const auto& [link, n] : used) {
    if (f->link(link).kind != LinkKind::kLeafToSpine) continue;
    EXPECT_NE(f->link_target(link), spine);
    per_spine[f->link_target(link)] += n;
  }
  ASSERT_EQ(per_spine.size(), 7u);
  double total = 0;
  for (const auto& [s, n] : per_spine) total += n;
  for (const auto& [s, n] : per_spine) EXPECT_NEAR(n, total / 7, 0.15 * total / 7) << "spine vertex " << s;
}

TEST(Faults, RoutesUntouchedByAFaultStayTheSame) {
  FabricParams p = Params("fat_tree", 128, 16);
  const auto healthy = BuildFabric(p);
  p.faults.switches.push_back({2, 3, 0});
  const auto faulty = BuildFabric(p);
  std::vector<Hop> a, b;
  uint32_t same = 0, total = 0;
  for (uint32_t s = 0; s < 128; s += 3) {
    for (uint32_t d = 0; d < 128; ++d) {
      a.clear();
      b.clear();
      healthy->Route(s, d, 0, a);
      faulty->Route(s, d, 0, b);
      bool hits = false;
      for (const Hop& h : a) hits = hits || !faulty->link_up(h.link);
      if (!hits) {
        EXPECT_EQ(a, b) << s << "->" << d;
      }
      same += a == b ? 1 : 0;
      ++total;
    }
  }
  EXPECT_GT(same, total * 3 / 4);  // only the routes through the dead spine move
}

TEST(Faults, CoreDownInAThreeTierTree) {
  FabricParams p = Params("fat_tree", 512, 16);  // 3 tiers at radix 16
  const auto healthy = BuildFabric(p);
  ASSERT_EQ(healthy->params().tiers, 3u);
  p.faults.switches.push_back({3, 0, 0});
  p.faults.links.push_back({LinkKind::kLeafToSpine, 5, 0});
  const auto f = BuildFabric(p);
  const auto used = RouteAll(*f, 7);
  const uint32_t core = SwitchVertex(*f, 3, 0);
  for (const auto& [link, n] : used) {
    EXPECT_NE(f->link_source(link), core);
    EXPECT_NE(f->link_target(link), core);
  }
}

TEST(Faults, ADownPlaneIsRelayedOverScaleUpAtBothEnds) {
  FabricParams p = Params("multi_plane", 256, 16);  // 8 planes, GPU i of a node on plane i
  p.planes = 8;
  p.faults.planes.push_back({3, 0});
  const auto f = BuildFabric(p);
  EXPECT_EQ(f->fault_summary().planes_down, 1u);
  const auto used = RouteAll(*f, 3);
  for (const auto& [link, n] : used) {
    const uint32_t a = f->link_source(link), b = f->link_target(link);
    if (f->link(link).kind == LinkKind::kScaleUp || f->link(link).kind == LinkKind::kPcie) continue;
    EXPECT_NE(f->graph()[a].plane, 3u);
    EXPECT_NE(f->graph()[b].plane, 3u);
  }
  // GPU 3 (plane 3) to GPU 11 (plane 3, next node): relayed at both ends, over one surviving plane.
  std::vector<Hop> hops;
  f->Route(3, 11, 0, hops);
  ASSERT_GE(hops.size(), 4u);
  EXPECT_EQ(f->link(hops.front().link).kind, LinkKind::kScaleUp);
  EXPECT_EQ(f->link(hops.back().link).kind, LinkKind::kScaleUp);
  // Traffic of the down plane spreads over the 7 survivors.
  std::set<uint32_t> planes;
  for (uint32_t d = 3; d < 256; d += 8) {
    hops.clear();
    f->Route(3, d, 0, hops);
    for (const Hop& h : hops)
      if (f->link(h.link).kind == LinkKind::kNicToLeaf) planes.insert(f->graph()[f->link_target(h.link)].plane);
  }
  EXPECT_EQ(planes.size(), 7u);
}

// PXN's rail flows of a down plane (GPU 3 of every node to GPU 3 of every other node) spread over the surviving
// NICs at both ends: into one destination node, the 31 source nodes arrive through at least 7 different NICs, no
// NIC taking more than a fair share plus the one that would have been plane 3's (it was 31 on one NIC before).
TEST(Faults, ADownPlanesRailTrafficSpreadsAtTheDestination) {
  FabricParams p = Params("multi_plane", 256, 16);
  p.planes = 8;
  p.faults.planes.push_back({3, 0});
  const auto f = BuildFabric(p);
  std::map<uint32_t, uint32_t> arrivals;  // NIC-to-leaf link into node 5 -> flows
  std::vector<Hop> hops;
  const uint32_t dst = 5 * 8 + 3;
  for (uint32_t node = 0; node < 32; ++node) {
    if (node == 5) continue;
    hops.clear();
    f->Route(node * 8 + 3, dst, 0, hops);
    for (const Hop& h : hops)
      if (f->link(h.link).kind == LinkKind::kNicToLeaf && !h.forward) ++arrivals[h.link];
  }
  EXPECT_GE(arrivals.size(), 7u);
  for (const auto& [link, n] : arrivals) EXPECT_LE(n, 2 * (31 + 6) / 7) << "link " << link;
}

TEST(Faults, SlowLinksKeepRoutesAndScaleBandwidth) {
  FabricParams p = Params("fat_tree", 128, 16);
  const auto healthy = BuildFabric(p);
  p.faults.links.push_back({LinkKind::kLeafToSpine, 2, 0.25});
  const auto f = BuildFabric(p);
  EXPECT_FALSE(f->has_faults());
  EXPECT_EQ(f->fault_summary().links_slowed, 1u);
  uint32_t seen = 0;
  for (uint32_t id = 0; id < f->num_links(); ++id) {
    if (f->link(id).kind != LinkKind::kLeafToSpine) continue;
    EXPECT_DOUBLE_EQ(f->link(id).bandwidth_gbps, healthy->link(id).bandwidth_gbps * (seen == 2 ? 0.25 : 1.0));
    ++seen;
  }
  std::vector<Hop> a, b;
  healthy->Route(0, 100, 0, a);
  f->Route(0, 100, 0, b);
  EXPECT_EQ(a, b);
}

TEST(Faults, RandomFractionIsExactAndSeeded) {
  FabricParams p = Params("fat_tree", 512, 16);
  p.faults.random_fraction = 0.05;
  p.faults.random_seed = 7;
  const auto a = BuildFabric(p);
  const auto b = BuildFabric(p);
  uint64_t switch_links = 0;
  for (uint32_t id = 0; id < a->num_links(); ++id) {
    const LinkKind k = a->link(id).kind;
    switch_links += k == LinkKind::kLeafToSpine || k == LinkKind::kSpineToCore ? 1 : 0;
    EXPECT_EQ(a->link_up(id), b->link_up(id));
  }
  EXPECT_EQ(a->fault_summary().links_down, static_cast<uint64_t>(std::llround(0.05 * switch_links)));
  RouteAll(*a, 11);
  p.faults.random_seed = 8;
  const auto c = BuildFabric(p);
  uint32_t differ = 0;
  for (uint32_t id = 0; id < a->num_links(); ++id) differ += a->link_up(id) != c->link_up(id) ? 1 : 0;
  EXPECT_GT(differ, 0u);
}

TEST(Faults, BadFaultsAreInputErrors) {
  auto error_of = [](const FabricParams& p) -> std::string {
    try {
      BuildFabric(p);
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  };
  FabricParams p = Params("fat_tree", 128, 16);
  p.faults.links.push_back({LinkKind::kLeafToSpine, 100000, 0});
  EXPECT_NE(error_of(p).find("cluster.faults.links[0].index = 100000"), std::string::npos) << error_of(p);
  p = Params("fat_tree", 128, 16);
  p.faults.switches.push_back({3, 0, 0});
  EXPECT_NE(error_of(p).find("cluster.faults.switches[0].tier = 3"), std::string::npos) << error_of(p);
  p = Params("fat_tree", 128, 16);
  p.faults.planes.push_back({1, 0});
  EXPECT_NE(error_of(p).find("single plane"), std::string::npos) << error_of(p);
  p = Params("fat_tree", 128, 16);
  p.faults.links.push_back({LinkKind::kLeafToSpine, 0, 1.5});
  EXPECT_NE(error_of(p).find("cluster.faults.links[0].speed = 1.5"), std::string::npos) << error_of(p);
  // A GPU whose only NIC link is down, with no scale-up domain to relay through.
  p = Params("fat_tree", 128, 16);
  p.gpus_per_node = 1;
  p.scale_up_domain = 1;
  p.faults.links.push_back({LinkKind::kNicToLeaf, 5, 0});
  EXPECT_NE(error_of(p).find("GPU 5"), std::string::npos) << error_of(p);
  // A whole leaf down on a fabric without relays leaves its GPUs unreachable.
  p.faults.links.clear();
  p.faults.switches.push_back({1, 0, 0});
  EXPECT_NE(error_of(p).find("cluster.faults = GPU 0"), std::string::npos) << error_of(p);
}

TEST(Faults, ALeafDownIsRelayedThroughNodeMates) {
  FabricParams p = Params("fat_tree", 128, 16);            // 8 GPUs per node and per leaf
  p.faults.links.push_back({LinkKind::kNicToLeaf, 9, 0});  // GPU 9's NIC
  const auto f = BuildFabric(p);
  RouteAll(*f, 1);
  std::vector<Hop> hops;
  f->Route(9, 100, 0, hops);
  EXPECT_EQ(f->link(hops.front().link).kind, LinkKind::kScaleUp);
}

// One intermediate per flow (dragonfly_spray_paths 1, the per-flow model): hashed from the flow.
TEST(Dragonfly, ValiantGoesThroughAnotherGroup) {
  FabricParams p = Params("dragonfly", 1024, 16);  // 8 routers x 4 hosts per group: 32 groups
  p.routing = "valiant";
  p.dragonfly_spray_paths = 1;
  const auto f = BuildFabric(p);
  const uint32_t a = f->params().dragonfly_routers_per_group;
  const uint32_t per_group = a * f->params().dragonfly_hosts_per_router;
  std::vector<Hop> hops;
  std::set<uint32_t> intermediates;
  for (uint64_t flow = 0; flow < 400; ++flow) {
    hops.clear();
    f->Route(0, 1000, flow, hops);
    ASSERT_TRUE(CheckChain(*f, 0, 1000, hops));
    uint32_t globals = 0;
    for (size_t i = 0; i < hops.size(); ++i) {
      if (f->link(hops[i].link).kind != LinkKind::kGlobal) continue;
      if (++globals == 1) {
        const uint32_t router = testing::VertexAfter(*f, hops, i);
        intermediates.insert(f->graph()[router].index / a);
      }
    }
    EXPECT_EQ(globals, 2u);
    EXPECT_LE(hops.size(), 9u);  // PCIe, NIC, local, global, local, global, local, NIC, PCIe
  }
  EXPECT_EQ(intermediates.count(0), 0u);
  EXPECT_EQ(intermediates.count(1000 / per_group), 0u);
  EXPECT_GT(intermediates.size(), 25u);  // spread over most of the 30 other groups
  // Within a group Valiant is minimal.
  hops.clear();
  f->Route(0, 20, 0, hops);
  for (const Hop& h : hops) EXPECT_NE(f->link(h.link).kind, LinkKind::kGlobal);
}

TEST(Dragonfly, UgalOffersMinimalAndValiantCandidates) {
  FabricParams p = Params("dragonfly", 1024, 16);
  p.routing = "ugal";
  const auto f = BuildFabric(p);
  EXPECT_EQ(f->params().routing, "ugal");
  ASSERT_EQ(f->RouteCandidates(), 2u);
  std::vector<Hop> minimal, valiant, route;
  f->RouteCandidate(0, 1000, 0, minimal);
  f->RouteCandidate(0, 1000, 1, valiant);
  f->Route(0, 1000, 0, route);
  EXPECT_EQ(minimal, route);
  auto globals = [&](const std::vector<Hop>& h) {
    uint32_t n = 0;
    for (const Hop& x : h) n += f->link(x.link).kind == LinkKind::kGlobal ? 1 : 0;
    return n;
  };
  // Every candidate is the flow's 4 parts (per-packet spreading), each minimal or each Valiant.
  const uint32_t parts = f->RouteParts(0, 1000);
  EXPECT_EQ(parts, 4u);
  EXPECT_EQ(globals(minimal), parts);
  EXPECT_EQ(globals(valiant), 2 * parts);
  for (uint32_t j = 0; j < parts; ++j) {
    std::vector<Hop> m, v;
    f->RoutePart(0, 1000, j, 0, m);
    f->RoutePart(0, 1000, j, 1, v);
    EXPECT_TRUE(CheckChain(*f, 0, 1000, m));
    EXPECT_TRUE(CheckChain(*f, 0, 1000, v));
    EXPECT_EQ(globals(m), 1u);
    EXPECT_EQ(globals(v), 2u);
  }
}

TEST(Dragonfly, MinimalRoutesAvoidADownGlobalLink) {
  FabricParams p = Params("dragonfly", 1024, 16);
  p.routing = "minimal";
  p.faults.random_fraction = 0.1;
  p.faults.random_seed = 3;
  const auto f = BuildFabric(p);
  EXPECT_GT(f->fault_summary().links_down, 0u);
  RouteAll(*f, 13);
}

TEST(Routing, RegistryDefaultsAndRules) {
  EXPECT_STREQ(DefaultRouting("fat_tree"), "spray");
  EXPECT_STREQ(DefaultRouting("dragonfly"), "minimal");
  EXPECT_STREQ(DefaultRouting("torus"), "parity");
  EXPECT_TRUE(RoutingApplies("torus", "ecmp"));
  EXPECT_FALSE(RoutingApplies("fat_tree", "parity"));
  EXPECT_TRUE(RoutingApplies("multi_plane", "adaptive"));
  EXPECT_FALSE(RoutingApplies("dragonfly", "adaptive"));
  EXPECT_FALSE(RoutingApplies("fat_tree", "valiant"));
  FabricParams p = Params("fat_tree", 128, 16);
  p.routing = "ugal";
  try {
    BuildFabric(p);
    FAIL() << "ugal on a fat-tree accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("cluster.scale_out.routing = \"ugal\": the fat_tree fabric routes by one of"),
              std::string::npos)
        << e.what();
  }
  p.routing = "adaptive";
  EXPECT_EQ(BuildFabric(p)->RouteCandidates(), 8u);
}

TEST(Routing, RailOnlyCrossRailTrafficIsForwardedOverScaleUp) {
  const auto f = BuildFabric(Params("rail_only", 128, 16));
  std::vector<Hop> hops;
  f->Route(1, 10, 0, hops);  // rail 1 of node 0 to rail 2 of node 1
  ASSERT_TRUE(CheckChain(*f, 1, 10, hops));
  EXPECT_EQ(f->link(hops[0].link).kind, LinkKind::kScaleUp);  // to GPU 2 of node 0 (rail 2), PXN-style
  EXPECT_EQ(testing::VertexAfter(*f, hops, 1), 2u);
  for (const Hop& h : hops)
    if (f->link(h.link).kind == LinkKind::kNicToLeaf) {
      EXPECT_EQ(f->graph()[f->link_target(h.link)].plane, 2u);
    }
}

}  // namespace
}  // namespace clustersim::topo
