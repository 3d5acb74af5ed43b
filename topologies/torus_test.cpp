// Torus: dimension-order shortest routes, wrap-around, tie splitting; the scale-up-only fabric.
#include <gtest/gtest.h>

#include <map>

#include "topologies/fabric.h"
#include "topologies/test_util.h"

namespace clustersim::topo {
namespace {

using testing::CheckChain;
using testing::Params;
using testing::VertexAfter;

FabricParams Torus(std::vector<uint32_t> dims) {
  uint32_t n = 1;
  for (uint32_t d : dims) n *= d;
  FabricParams p = Params("torus", n);
  p.gpus_per_node = 4;
  p.scale_up_domain = 4;
  p.torus_dims = std::move(dims);
  return p;
}

std::vector<uint32_t> Coords(uint32_t g, const std::vector<uint32_t>& dims) {
  std::vector<uint32_t> c;
  for (uint32_t n : dims) {
    c.push_back(g % n);
    g /= n;
  }
  return c;
}

TEST(Torus, RoutesAreShortestAndInDimensionOrder) {
  const std::vector<uint32_t> dims{4, 3, 6};
  const auto f = BuildFabric(Torus(dims));
  std::vector<Hop> hops;
  for (uint32_t s = 0; s < f->num_gpus(); ++s) {
    for (uint32_t d = 0; d < f->num_gpus(); ++d) {
      if (s == d) continue;
      hops.clear();
      f->Route(s, d, s ^ d, hops);
      ASSERT_TRUE(CheckChain(*f, s, d, hops));
      const auto a = Coords(s, dims);
      const auto b = Coords(d, dims);
      size_t distance = 0;
      for (size_t i = 0; i < dims.size(); ++i) {
        const uint32_t ahead = (b[i] + dims[i] - a[i]) % dims[i];
        distance += std::min(ahead, dims[i] - ahead);
      }
      ASSERT_EQ(hops.size(), distance);
      // The dimension being corrected never goes back to a lower one.
      size_t last_dim = 0;
      uint32_t cur = s;
      for (size_t i = 0; i < hops.size(); ++i) {
        const uint32_t next = VertexAfter(*f, hops, i);
        const auto c0 = Coords(cur, dims);
        const auto c1 = Coords(next, dims);
        size_t changed = 0;
        while (c0[changed] == c1[changed]) ++changed;
        ASSERT_GE(changed, last_dim);
        last_dim = changed;
        cur = next;
      }
    }
  }
}

TEST(Torus, LinksSplitTheScaleUpBandwidthAndWrapAround) {
  const auto f = BuildFabric(Torus({8, 8, 1}));  // a 2D torus written with a unit third dimension
  const Inventory inv = f->ComputeInventory();
  EXPECT_EQ(inv.links_per_kind[static_cast<size_t>(LinkKind::kTorus)], 64u * 2);
  EXPECT_EQ(inv.switches, 0u);
  EXPECT_EQ(inv.transceivers, 0u);
  for (uint32_t id = 0; id < f->num_links(); ++id) EXPECT_DOUBLE_EQ(f->link(id).bandwidth_gbps, 7200.0 / 4);
  std::vector<Hop> hops;
  f->Route(0, 7, 0, hops);  // one step backwards over the wrap-around link
  ASSERT_TRUE(CheckChain(*f, 0, 7, hops));
  EXPECT_EQ(hops.size(), 1u);
  EXPECT_EQ(inv.diameter_hops, 8u);
}

TEST(Torus, EcmpSplitsTiesBetweenBothWaysRound) {
  FabricParams p = Torus({4, 4, 4});
  p.routing = "ecmp";
  const auto f = BuildFabric(p);
  std::map<bool, int> direction;
  std::vector<Hop> hops;
  for (uint64_t flow = 0; flow < 2000; ++flow) {
    hops.clear();
    f->Route(0, 2, flow, hops);
    ASSERT_EQ(hops.size(), 2u);
    ++direction[hops[0].forward];
  }
  EXPECT_NEAR(direction[true], 1000, 150);
  EXPECT_NEAR(direction[false], 1000, 150);
}

// "parity" (the default): a tie goes + from a router whose even-dimension coordinates sum to an even number, - from
// the others, whatever the flow; so routes are the same up to a translation that keeps that parity (the class
// reduction's symmetry), and a ring's ties are split evenly between both ways round.
TEST(Torus, ParitySplitsTiesByTheRoutersCoordinates) {
  const std::vector<uint32_t> dims{4, 3, 6};
  const auto f = BuildFabric(Torus(dims));
  EXPECT_EQ(f->params().routing, "parity");
  std::vector<Hop> hops, again;
  std::map<bool, int> direction;
  for (uint32_t s = 0; s < f->num_gpus(); ++s) {
    const auto a = Coords(s, dims);
    const uint32_t d = s - a[0] + (a[0] + 2) % 4;  // half-way round dimension 0
    hops.clear();
    f->Route(s, d, 0, hops);
    ASSERT_TRUE(CheckChain(*f, s, d, hops));
    ASSERT_EQ(hops.size(), 2u);
    const bool even = (a[0] + a[2]) % 2 == 0;  // dimension 1 (size 3) has no ties and does not count
    EXPECT_EQ(VertexAfter(*f, hops, 0), s - a[0] + (a[0] + (even ? 1 : 3)) % 4) << s;
    ++direction[even];
    again.clear();
    f->Route(s, d, 12345, again);  // the flow id does not matter
    EXPECT_EQ(again, hops);
  }
  EXPECT_EQ(direction[true], direction[false]);
}

TEST(ScaleUpOnly, EveryPairCrossesTheDomainSwitch) {
  FabricParams p = Params("none", 384);
  p.scale_up_domain = 384;  // CloudMatrix-384
  const auto f = BuildFabric(p);
  const Inventory inv = f->ComputeInventory();
  EXPECT_EQ(inv.scale_up_switches, 1u);
  EXPECT_EQ(inv.switches, 0u);
  EXPECT_EQ(inv.nics, 0u);
  EXPECT_EQ(f->ScaleOutEndpoints(), 0u);
  std::vector<Hop> hops;
  f->Route(5, 300, 0, hops);
  ASSERT_TRUE(CheckChain(*f, 5, 300, hops));
  EXPECT_EQ(hops, (std::vector<Hop>{{5, true}, {300, false}}));
}

}  // namespace
}  // namespace clustersim::topo
