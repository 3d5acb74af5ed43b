// Dragonfly: minimal routes, ECMP over parallel global links, and the per-packet spreading of Valiant and UGAL.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "common/error.h"
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

// The group a Valiant part goes through: the group of the router its first global link leads to.
uint32_t IntermediateOf(const Fabric& f, const std::vector<Hop>& part) {
  const uint32_t a = f.params().dragonfly_routers_per_group;
  for (size_t i = 0; i < part.size(); ++i)
    if (f.link(part[i].link).kind == LinkKind::kGlobal) return f.graph()[VertexAfter(f, part, i)].index / a;
  return UINT32_MAX;
}

// Valiant splits a flow leaving its scale-up domain into k = min(groups - 2, 4) parts: the route is the parts one
// after the other, each a whole path through its own intermediate group; every route is the same when asked again.
TEST(Dragonfly, ValiantSpreadsAFlowOverKDistinctIntermediates) {
  FabricParams p = Params("dragonfly", 1024, 16);  // 8 routers x 4 hosts per group: 32 groups
  p.routing = "valiant";
  const auto f = BuildFabric(p);
  const uint32_t per_group = f->params().dragonfly_routers_per_group * f->params().dragonfly_hosts_per_router;
  const uint32_t k = f->params().dragonfly_spray_paths;
  EXPECT_EQ(k, std::min(1024 / per_group - 2, 4u));
  EXPECT_EQ(f->RouteParts(0, 1000), k);
  EXPECT_EQ(f->RouteParts(0, 20), k);  // same group, another node: split too (same path k times)
  EXPECT_EQ(f->RouteParts(0, 1), 1u);  // same scale-up domain
  std::vector<Hop> route, again, parts;
  f->Route(0, 1000, 0, route);
  BuildFabric(p)->Route(0, 1000, 0, again);
  EXPECT_EQ(route, again);
  std::set<uint32_t> intermediates;
  for (uint32_t j = 0; j < k; ++j) {
    std::vector<Hop> part;
    f->RoutePart(0, 1000, j, 0, part);
    ASSERT_TRUE(CheckChain(*f, 0, 1000, part));
    EXPECT_EQ(Count(*f, part, LinkKind::kGlobal), 2);
    intermediates.insert(IntermediateOf(*f, part));
    parts.insert(parts.end(), part.begin(), part.end());
  }
  EXPECT_EQ(parts, route);
  EXPECT_EQ(intermediates.size(), k);
  EXPECT_EQ(intermediates.count(0), 0u);
  EXPECT_EQ(intermediates.count(1000 / per_group), 0u);
  route.clear();
  f->Route(0, 20, 0, route);
  EXPECT_EQ(Count(*f, route, LinkKind::kGlobal), 0);
}

// The flows of one group to the next (every NIC port of group 0 to the same port of group 1) take consecutive
// starts: their k x 32 parts load the 30 intermediate groups within one part of the mean, as packets sprayed at
// random do on average.
TEST(Dragonfly, SpreadPartsCoverTheIntermediatesEvenly) {
  FabricParams p = Params("dragonfly", 1024, 16);
  p.routing = "valiant";
  const auto f = BuildFabric(p);
  const uint32_t per_group = f->params().dragonfly_routers_per_group * f->params().dragonfly_hosts_per_router;
  const uint32_t groups = 1024 / per_group;
  std::map<uint32_t, uint32_t> parts_via;
  uint32_t total = 0;
  for (uint32_t g = 0; g < per_group; ++g) {
    for (uint32_t j = 0; j < f->RouteParts(g, g + per_group); ++j) {
      std::vector<Hop> part;
      f->RoutePart(g, g + per_group, j, 0, part);
      ++parts_via[IntermediateOf(*f, part)];
      ++total;
    }
  }
  const double mean = static_cast<double>(total) / (groups - 2);
  EXPECT_EQ(parts_via.size(), groups - 2);
  for (const auto& [group, n] : parts_via) {
    EXPECT_GE(n, std::floor(mean) - 1) << group;
    EXPECT_LE(n, std::ceil(mean) + 1) << group;
  }
}

std::string SprayError(const std::string& routing, uint32_t paths) {
  FabricParams p = Params("dragonfly", 1024, 16);
  p.routing = routing;
  p.dragonfly_spray_paths = paths;
  try {
    BuildFabric(p);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

// dragonfly_spray_paths: at most groups - 2 (30 here), read only by valiant and ugal; 1 is the per-flow model.
TEST(Dragonfly, SprayPathsAreCheckedAndOneIsPerFlow) {
  EXPECT_NE(SprayError("valiant", 31).find("cluster.scale_out.dragonfly_spray_paths = 31: must be at most 30"),
            std::string::npos)
      << SprayError("valiant", 31);
  EXPECT_NE(SprayError("minimal", 4).find("cluster.scale_out.dragonfly_spray_paths = 4: only valiant and ugal"),
            std::string::npos)
      << SprayError("minimal", 4);
  EXPECT_EQ(SprayError("ugal", 30), "");
  FabricParams p = Params("dragonfly", 1024, 16);
  p.routing = "ugal";
  p.dragonfly_spray_paths = 1;
  const auto f = BuildFabric(p);
  EXPECT_EQ(f->RouteParts(0, 1000), 1u);
  std::vector<Hop> valiant;
  f->RouteCandidate(0, 1000, 1, valiant);
  EXPECT_EQ(Count(*f, valiant, LinkKind::kGlobal), 2);
}

}  // namespace
}  // namespace clustersim::topo
