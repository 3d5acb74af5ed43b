// Slim Fly: MMS graph properties (routers, degree, diameter 2), minimal routes with ECMP, inventory, errors.
#include <gtest/gtest.h>

#include <boost/graph/breadth_first_search.hpp>
#include <map>
#include <set>

#include "common/error.h"
#include "topologies/fabric.h"
#include "topologies/test_util.h"

namespace clustersim::topo {
namespace {

using testing::CheckChain;
using testing::Params;

// A Slim Fly of the given q with every router full (p = ceil(k'/2)), one GPU per node, no scale-up.
FabricParams Full(uint32_t q, uint32_t radix = 64) {
  const int delta = q % 4 == 1 ? 1 : q % 4 == 3 ? -1 : 0;
  const uint32_t k = static_cast<uint32_t>((3 * static_cast<int>(q) - delta) / 2);
  FabricParams p = Params("slim_fly", 2 * q * q * ((k + 1) / 2), radix);
  p.gpus_per_node = 1;
  p.scale_up_domain = 1;
  p.slim_fly_q = q;
  return p;
}

std::vector<uint32_t> Routers(const Fabric& f) {
  std::vector<uint32_t> r;
  for (uint32_t v = 0; v < boost::num_vertices(f.graph()); ++v)
    if (f.graph()[v].kind == VertexKind::kRouter) r.push_back(v);
  return r;
}

// Largest router-to-router distance over router links only (BFS from every router).
uint32_t RouterDiameter(const Fabric& f, const std::vector<uint32_t>& routers) {
  std::map<uint32_t, std::vector<uint32_t>> adj;
  for (uint32_t id = 0; id < f.num_links(); ++id) {
    if (f.link(id).kind != LinkKind::kRouterLink) continue;
    adj[f.link_source(id)].push_back(f.link_target(id));
    adj[f.link_target(id)].push_back(f.link_source(id));
  }
  uint32_t diameter = 0;
  for (uint32_t r : routers) {
    std::map<uint32_t, uint32_t> dist{{r, 0}};
    std::vector<uint32_t> frontier{r};
    while (!frontier.empty()) {
      std::vector<uint32_t> next;
      for (uint32_t u : frontier)
        for (uint32_t v : adj[u])
          if (dist.emplace(v, dist[u] + 1).second) next.push_back(v);
      frontier.swap(next);
    }
    EXPECT_EQ(dist.size(), routers.size()) << "router graph connected";
    for (const auto& [v, d] : dist) diameter = std::max(diameter, d);
  }
  return diameter;
}

class MmsGraph : public ::testing::TestWithParam<uint32_t> {};

TEST_P(MmsGraph, RoutersDegreeAndDiameterTwo) {
  const uint32_t q = GetParam();
  const int delta = q % 4 == 1 ? 1 : q % 4 == 3 ? -1 : 0;
  const uint32_t k = static_cast<uint32_t>((3 * static_cast<int>(q) - delta) / 2);
  const auto f = BuildFabric(Full(q));
  const std::vector<uint32_t> routers = Routers(*f);
  ASSERT_EQ(routers.size(), 2u * q * q);
  for (uint32_t r : routers) {
    uint32_t router_links = 0;
    uint32_t hosts = 0;
    for (auto [e, end] = boost::out_edges(r, f->graph()); e != end; ++e) {
      router_links += f->graph()[*e].kind == LinkKind::kRouterLink ? 1 : 0;
      hosts += f->graph()[*e].kind == LinkKind::kNicToLeaf ? 1 : 0;
    }
    EXPECT_EQ(router_links, k) << "router " << r;
    EXPECT_EQ(hosts, (k + 1) / 2) << "router " << r;
  }
  EXPECT_EQ(RouterDiameter(*f, routers), 2u);
  const Inventory inv = f->ComputeInventory();
  EXPECT_EQ(inv.links_per_kind[static_cast<size_t>(LinkKind::kRouterLink)], uint64_t{q} * q * k);
  EXPECT_EQ(inv.diameter_hops, 3u);
  EXPECT_EQ(inv.diameter_links, 6u);
}

// Odd prime powers (delta = 1: 5, 9, 13; delta = -1: 3, 7, 11) and powers of two (delta = 0: 4, 8).
INSTANTIATE_TEST_SUITE_P(PrimePowers, MmsGraph, ::testing::Values(3u, 4u, 5u, 7u, 8u, 9u, 11u, 13u));

TEST(SlimFly, EveryRouteIsMinimalAndValid) {
  const auto f = BuildFabric(Full(7));  // 98 routers, k' = 11, 6 hosts each: 588 GPUs
  std::vector<Hop> hops;
  uint32_t longest = 0;
  for (uint32_t src = 0; src < f->num_gpus(); src += 5) {
    for (uint32_t dst = 0; dst < f->num_gpus(); dst += 3) {
      hops.clear();
      f->Route(src, dst, src * 7919u + dst, hops);
      uint32_t switches = 0;
      ASSERT_TRUE(CheckChain(*f, src, dst, hops, &switches));
      EXPECT_LE(hops.size(), 6u);
      longest = std::max(longest, switches);
    }
  }
  EXPECT_EQ(longest, 3u);
  EXPECT_EQ(f->ComputeInventory().diameter_links, 6u);
}

// The 2-hop routes go through exactly the common neighbours the graph has (computed by routing from the MMS
// construction, checked here against the built graph's adjacency), for every router pair of q = 7, 8 and 9.
TEST(SlimFly, TwoHopRoutesUseEveryCommonNeighbourAndNothingElse) {
  for (uint32_t q : {7u, 8u, 9u}) {
    const auto f = BuildFabric(Full(q));
    const std::vector<uint32_t> routers = Routers(*f);
    std::map<uint32_t, std::set<uint32_t>> adj;
    std::map<uint32_t, uint32_t> gpu_on;  // router vertex -> a GPU attached to it
    for (uint32_t id = 0; id < f->num_links(); ++id) {
      const LinkKind k = f->link(id).kind;
      if (k == LinkKind::kRouterLink) {
        adj[f->link_source(id)].insert(f->link_target(id));
        adj[f->link_target(id)].insert(f->link_source(id));
      } else if (k == LinkKind::kNicToLeaf) {
        gpu_on.emplace(f->link_target(id), f->link_source(id) - f->num_gpus());  // NIC e of GPU e (1 NIC per GPU)
      }
    }
    std::vector<Hop> hops;
    for (size_t i = 0; i < routers.size(); i += 3) {
      for (size_t j = 0; j < routers.size(); j += 2) {
        const uint32_t a = routers[i], b = routers[j];
        if (a == b || adj[a].count(b) > 0) continue;
        std::set<uint32_t> expected;
        for (uint32_t v : adj[a])
          if (adj[b].count(v) > 0) expected.insert(v);
        std::set<uint32_t> seen;
        for (uint64_t flow = 0; flow < 24 * expected.size(); ++flow) {
          hops.clear();
          f->Route(gpu_on.at(a), gpu_on.at(b), flow, hops);
          ASSERT_EQ(hops.size(), 6u);
          seen.insert(testing::VertexAfter(*f, hops, 2));
        }
        ASSERT_EQ(seen, expected) << "q " << q << " routers " << a << ", " << b;
      }
    }
  }
}

TEST(SlimFly, EcmpSpreadsOverTheTwoHopPaths) {
  // q = 7: 98 routers, k' = 11, 6 hosts each. (q = 5 is the Hoffman-Singleton graph, a Moore graph: every
  // non-adjacent pair has exactly one common neighbour; q = 7 has pairs with 1, 2 and 3.)
  const auto f = BuildFabric(Full(7));
  // Find two GPUs on non-adjacent routers with several common neighbours, and check every 2-hop path is used.
  std::vector<Hop> hops;
  size_t best = 0;
  for (uint32_t dst = 6; dst < f->num_gpus() && best < 2; dst += 6) {
    std::map<uint32_t, int> middles;
    for (uint64_t flow = 0; flow < 2000; ++flow) {
      hops.clear();
      f->Route(0, dst, flow, hops);
      if (hops.size() != 6) break;
      ++middles[testing::VertexAfter(*f, hops, 2)];
    }
    if (middles.size() < 2) continue;
    best = middles.size();
    for (const auto& [v, n] : middles) EXPECT_NEAR(n, 2000.0 / middles.size(), 0.25 * 2000 / middles.size());
  }
  EXPECT_GE(best, 2u) << "some non-adjacent router pair has several 2-hop paths";
  FabricParams p = Full(5);
  p.routing = "static";
  const auto fs = BuildFabric(p);
  std::vector<Hop> first;
  fs->Route(0, 100, 0, first);
  for (uint64_t flow = 1; flow < 20; ++flow) {
    hops.clear();
    fs->Route(0, 100, flow, hops);
    EXPECT_EQ(hops, first) << "static routing ignores the flow";
  }
}

TEST(SlimFly, ChoosesTheSmallestPrimePowerThatHoldsTheGpus) {
  // q = 5: 50 routers x 4 = 200 ports; q = 7: 98 x 6 = 588; q = 8: 128 x 6 = 768 (delta 0, k' = 12).
  for (const auto& [gpus, q] : std::vector<std::pair<uint32_t, uint32_t>>{{200, 5}, {208, 7}, {584, 7}, {592, 8}}) {
    FabricParams p = Params("slim_fly", gpus, 64);
    const Inventory inv = PlanInventory(p);
    EXPECT_EQ(inv.switches, 2u * q * q) << gpus;
    EXPECT_EQ(BuildFabric(p)->params().slim_fly_q, q) << gpus;
  }
  // 131,072 GPUs: q = 47 (delta -1, k' = 71, p = 36): 4,418 routers of 107 ports; 64-port switches are refused.
  FabricParams big = Params("slim_fly", 131072, 128);
  const Inventory inv = PlanInventory(big);
  EXPECT_EQ(inv.switches, 2u * 47 * 47);
  EXPECT_EQ(inv.links_per_kind[static_cast<size_t>(LinkKind::kRouterLink)], 47u * 47 * 71);
  EXPECT_EQ(inv.switch_links, 47u * 47 * 71);
  EXPECT_EQ(inv.endpoint_links, 131072u);
  EXPECT_EQ(inv.transceivers, 2u * (47 * 47 * 71 + 131072));
  EXPECT_EQ(inv.diameter_hops, 3u);
  big.switch_radix = 64;
  EXPECT_THROW(PlanInventory(big), InputError);
}

TEST(SlimFly, PlanMatchesBuild) {
  for (uint32_t gpus : {64u, 200u, 1024u}) {
    FabricParams p = Params("slim_fly", gpus, 64);
    p.nics_per_gpu = gpus == 1024 ? 2 : 1;
    const Inventory built = BuildFabric(p)->ComputeInventory();
    const Inventory planned = PlanInventory(p);
    EXPECT_EQ(built.switches, planned.switches) << gpus;
    EXPECT_EQ(built.links_per_kind, planned.links_per_kind) << gpus;
    EXPECT_EQ(built.transceivers, planned.transceivers) << gpus;
    EXPECT_EQ(built.diameter_hops, planned.diameter_hops) << gpus;
    EXPECT_DOUBLE_EQ(built.bisection_bandwidth_gbps, planned.bisection_bandwidth_gbps) << gpus;
  }
}

TEST(SlimFly, RejectsBadParameters) {
  FabricParams p = Params("slim_fly", 200, 64);
  p.slim_fly_q = 6;  // not a prime power
  EXPECT_THROW(PlanInventory(p), InputError);
  p.slim_fly_q = 3;  // 18 routers x 3 = 54 ports < 200
  EXPECT_THROW(PlanInventory(p), InputError);
  p.slim_fly_q = 0;
  p.slim_fly_hosts_per_router = 60;  // 7 + 60 ports > 64
  EXPECT_THROW(PlanInventory(p), InputError);
  p.slim_fly_hosts_per_router = 0;
  p.planes = 2;
  EXPECT_THROW(PlanInventory(p), InputError);
}

}  // namespace
}  // namespace clustersim::topo
