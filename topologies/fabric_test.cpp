// Registry, graph bookkeeping and the route invariants every generator must keep.
#include "topologies/fabric.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "topologies/test_util.h"

namespace clustersim::topo {
namespace {

using testing::CheckChain;
using testing::Params;

TEST(Registry, ListsEveryGeneratorWithADescription) {
  const std::vector<FabricKindInfo> kinds = ListFabricKinds();
  std::set<std::string> names;
  for (const FabricKindInfo& k : kinds) {
    EXPECT_FALSE(k.description.empty()) << k.name;
    names.insert(k.name);
  }
  EXPECT_EQ(names.size(), kinds.size());
  for (const char* expected :
       {"fat_tree", "rail_optimized", "rail_only", "multi_plane", "dragonfly", "torus", "none"}) {
    EXPECT_EQ(names.count(expected), 1u) << expected;
  }
}

// A named parameter set for the invariant suite.
struct Case {
  std::string name;
  FabricParams params;
  bool all_pairs;  // route every pair (and require the diameter to be reached) instead of sampling
};

std::vector<Case> Cases() {
  std::vector<Case> c;
  auto add = [&c](const std::string& name, FabricParams p, bool all_pairs) { c.push_back({name, p, all_pairs}); };
  add("fat_tree_2tier_64", Params("fat_tree", 64, 16), true);
  {
    FabricParams p = Params("fat_tree", 512, 16);
    p.tiers = 3;
    add("fat_tree_3tier_512", p, true);
  }
  {
    FabricParams p = Params("fat_tree", 512, 16);
    p.nics_per_gpu = 2;
    add("fat_tree_2nics_512", p, true);
  }
  {
    FabricParams p = Params("fat_tree", 512, 16);
    p.oversubscription = {3, 2};
    add("fat_tree_oversubscribed_512", p, true);
  }
  {
    FabricParams p = Params("fat_tree", 576, 16);
    p.gpus_per_node = 4;
    p.scale_up_domain = 72;
    add("fat_tree_nvl72_576", p, true);
  }
  add("fat_tree_4096", Params("fat_tree", 4096, 32), false);
  add("rail_optimized_64", Params("rail_optimized", 64, 16), true);
  add("rail_optimized_512", Params("rail_optimized", 512, 16), true);
  add("rail_optimized_1016", Params("rail_optimized", 1016, 64), false);
  add("rail_optimized_4096", Params("rail_optimized", 4096, 32), false);
  add("rail_only_64", Params("rail_only", 64, 16), true);
  add("rail_only_512", Params("rail_only", 512, 16), true);
  add("rail_only_4096", Params("rail_only", 4096, 32), false);
  {
    FabricParams p = Params("multi_plane", 512, 16);
    p.planes = 4;
    add("multi_plane_4_512", p, true);
  }
  {
    FabricParams p = Params("multi_plane", 512, 16);
    p.planes = 8;
    p.nics_per_gpu = 2;
    add("multi_plane_8_2nics_512", p, true);
  }
  {
    FabricParams p = Params("multi_plane", 4096, 32);
    p.planes = 8;
    add("multi_plane_8_4096", p, false);
  }
  add("dragonfly_64", Params("dragonfly", 64, 8), true);
  add("dragonfly_512", Params("dragonfly", 512, 16), true);
  add("dragonfly_4096", Params("dragonfly", 4096, 32), false);
  {
    FabricParams p = Params("dragonfly", 512, 16);
    p.nics_per_gpu = 2;
    p.scale_up_domain = 1;
    p.gpus_per_node = 1;
    add("dragonfly_2nics_no_scale_up_512", p, true);
  }
  {
    FabricParams p = Params("torus", 64);
    p.torus_dims = {4, 4, 4};
    add("torus_4x4x4", p, true);
  }
  {
    FabricParams p = Params("torus", 64);
    p.torus_dims = {2, 4, 8};
    add("torus_2x4x8", p, true);
  }
  {
    FabricParams p = Params("torus", 512);
    p.torus_dims = {8, 8, 8};
    add("torus_8x8x8", p, true);
  }
  {
    FabricParams p = Params("torus", 4096);
    p.torus_dims = {16, 16, 16};
    add("torus_4096", p, false);
  }
  add("none_8", Params("none", 8), true);
  {
    FabricParams p = Params("none", 72);
    p.gpus_per_node = 4;
    p.scale_up_domain = 72;
    add("none_nvl72", p, true);
  }
  return c;
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class Invariants : public ::testing::TestWithParam<Case> {};

TEST_P(Invariants, GraphBookkeepingIsConsistent) {
  const auto f = BuildFabric(GetParam().params);
  const Graph& g = f->graph();
  for (uint32_t v = 0; v < f->num_gpus(); ++v) {
    EXPECT_EQ(g[v].kind, VertexKind::kGpu);
    EXPECT_EQ(g[v].index, v);
  }
  EXPECT_EQ(f->num_links(), boost::num_edges(g));
  for (auto [it, end] = boost::edges(g); it != end; ++it) {
    const uint32_t id = g[*it].id;
    ASSERT_LT(id, f->num_links());
    EXPECT_EQ(&f->link(id), &g[*it]);
    EXPECT_EQ(f->link_source(id), boost::source(*it, g));
    EXPECT_EQ(f->link_target(id), boost::target(*it, g));
    EXPECT_GT(f->link(id).bandwidth_gbps, 0);
  }
  const Inventory built = f->ComputeInventory();
  const Inventory planned = PlanInventory(GetParam().params);
  EXPECT_EQ(built.gpus, planned.gpus);
  EXPECT_EQ(built.nodes, planned.nodes);
  EXPECT_EQ(built.nics, planned.nics);
  EXPECT_EQ(built.switches_per_tier, planned.switches_per_tier);
  EXPECT_EQ(built.switches, planned.switches);
  EXPECT_EQ(built.scale_up_switches, planned.scale_up_switches);
  EXPECT_EQ(built.links_per_kind, planned.links_per_kind);
  EXPECT_EQ(built.switch_links, planned.switch_links);
  EXPECT_EQ(built.endpoint_links, planned.endpoint_links);
  EXPECT_EQ(built.transceivers, 2 * (built.switch_links + built.endpoint_links));
  EXPECT_EQ(built.transceivers, planned.transceivers);
  EXPECT_DOUBLE_EQ(built.bisection_bandwidth_gbps, planned.bisection_bandwidth_gbps);
  EXPECT_EQ(built.diameter_hops, planned.diameter_hops);
  EXPECT_EQ(built.diameter_links, planned.diameter_links);
  EXPECT_EQ(f->ScaleOutEndpoints(), built.nics);
}

TEST_P(Invariants, RoutesAreConnectedChainsWithinTheDiameter) {
  const FabricParams& p = GetParam().params;
  const auto f = BuildFabric(p);
  const Inventory inv = f->ComputeInventory();
  const uint32_t n = f->num_gpus();
  std::vector<Hop> hops;
  hops.reserve(inv.diameter_links);
  const Hop* storage = hops.data();
  uint32_t longest_links = 0;
  uint32_t most_switches = 0;
  auto check = [&](uint32_t s, uint32_t d, uint64_t flow) {
    hops.clear();
    f->Route(s, d, flow, hops);
    uint32_t switches = 0;
    ASSERT_TRUE(CheckChain(*f, s, d, hops, &switches));
    // A torus has no switches: each hop passes a chip's own ICI router, and diameter_hops counts those.
    if (p.topology == "torus") switches = static_cast<uint32_t>(hops.size());
    longest_links = std::max<uint32_t>(longest_links, static_cast<uint32_t>(hops.size()));
    most_switches = std::max(most_switches, switches);
    if (f->DomainOf(s) == f->DomainOf(d) && p.topology != "torus") {
      ASSERT_EQ(hops.size(), 2u);
      for (const Hop& h : hops) ASSERT_EQ(f->link(h.link).kind, LinkKind::kScaleUp);
    } else {
      for (const Hop& h : hops) {
        if (f->link(h.link).kind == LinkKind::kScaleUp) {
          // Only the cross-plane relay uses scale-up outside a domain: it stays inside the source's node.
          ASSERT_TRUE(p.topology == "rail_only" || p.topology == "multi_plane") << p.topology;
          ASSERT_EQ(f->NodeOf(f->link_source(h.link)), f->NodeOf(s));
        }
      }
    }
  };
  if (GetParam().all_pairs) {
    for (uint32_t s = 0; s < n; s += (n > 64 ? 3 : 1)) {
      for (uint32_t d = 0; d < n; ++d) {
        if (s != d) check(s, d, s * 7919ULL + d);
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
  } else {
    std::mt19937_64 rng(7);
    for (int i = 0; i < 20000; ++i) {
      const auto s = static_cast<uint32_t>(rng() % n);
      const auto d = static_cast<uint32_t>(rng() % n);
      if (s != d) check(s, d, rng());
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
  EXPECT_LE(longest_links, inv.diameter_links);
  EXPECT_LE(most_switches, inv.diameter_hops);
  if (GetParam().all_pairs) {
    EXPECT_EQ(longest_links, inv.diameter_links);
    EXPECT_EQ(most_switches, inv.diameter_hops);
  }
  EXPECT_EQ(hops.data(), storage) << "Route reallocated a vector reserved to the diameter";
}

TEST_P(Invariants, RoutesAreDeterministicPerSeed) {
  const FabricParams& p = GetParam().params;
  const auto a = BuildFabric(p);
  const auto b = BuildFabric(p);  // two fabrics side by side share no state
  std::mt19937_64 rng(11);
  std::vector<Hop> ha;
  std::vector<Hop> hb;
  for (int i = 0; i < 2000; ++i) {
    const auto s = static_cast<uint32_t>(rng() % p.num_gpus);
    const auto d = static_cast<uint32_t>(rng() % p.num_gpus);
    const uint64_t flow = rng();
    ha.clear();
    hb.clear();
    a->Route(s, d, flow, ha);
    b->Route(s, d, flow, hb);
    ASSERT_EQ(ha, hb);
  }
}

TEST_P(Invariants, RouteLatencyCountsEachSwitchOnce) {
  const FabricParams& p = GetParam().params;
  const auto f = BuildFabric(p);
  std::mt19937_64 rng(5);
  std::vector<Hop> hops;
  for (int i = 0; i < 500; ++i) {
    const auto s = static_cast<uint32_t>(rng() % p.num_gpus);
    const auto d = static_cast<uint32_t>(rng() % p.num_gpus);
    if (s == d) continue;
    hops.clear();
    f->Route(s, d, rng(), hops);
    double total = 0;
    double expected = 0;
    for (size_t k = 0; k < hops.size(); ++k) {
      const EdgeProps& e = f->link(hops[k].link);
      total += e.latency_ns;
      if (e.kind == LinkKind::kScaleUp || e.kind == LinkKind::kTorus) {
        expected += p.scale_up_latency_ns;  // one scale-up / ICI hop
      } else {
        expected += p.link_latency_ns;
        const VertexKind entered = f->graph()[testing::VertexAfter(*f, hops, k)].kind;
        if (entered == VertexKind::kLeaf || entered == VertexKind::kSpine || entered == VertexKind::kCore ||
            entered == VertexKind::kRouter) {
          expected += p.switch_latency_ns;
        }
      }
    }
    EXPECT_NEAR(total, expected, 1e-6) << s << "->" << d;
  }
}

INSTANTIATE_TEST_SUITE_P(AllKinds, Invariants, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& tpi) { return tpi.param.name; });

TEST(Fabric, ParamsReportResolvedDefaults) {
  FabricParams p = Params("multi_plane", 1024, 16);
  p.planes = 0;  // one plane per NIC port of a node
  const auto f = BuildFabric(p);
  EXPECT_EQ(f->params().planes, 8u);
  EXPECT_EQ(f->params().tiers, 2u);
  const auto d = BuildFabric(Params("dragonfly", 1024, 64));
  EXPECT_EQ(d->params().dragonfly_hosts_per_router, 16u);
  EXPECT_EQ(d->params().dragonfly_routers_per_group, 32u);
  EXPECT_EQ(d->params().dragonfly_global_links_per_router, 16u);
}

TEST(Fabric, NodeAndDomainOfAGpu) {
  FabricParams p = Params("fat_tree", 144, 64);
  p.gpus_per_node = 4;
  p.scale_up_domain = 72;
  const auto f = BuildFabric(p);
  EXPECT_EQ(f->NodeOf(7), 1u);
  EXPECT_EQ(f->DomainOf(71), 0u);
  EXPECT_EQ(f->DomainOf(72), 1u);
  // One logical scale-up switch per domain, each GPU linked to its own.
  const Inventory inv = f->ComputeInventory();
  EXPECT_EQ(inv.scale_up_switches, 2u);
  EXPECT_EQ(inv.links_per_kind[static_cast<size_t>(LinkKind::kScaleUp)], 144u);
}

}  // namespace
}  // namespace clustersim::topo
