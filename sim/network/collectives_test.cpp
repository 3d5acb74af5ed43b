// Unit tests of the collective decompositions (no SimGrid): byte conservation and traffic volumes per algorithm.
#include "sim/network/collectives.h"

#include <gtest/gtest.h>

#include <map>
#include <numeric>

#include "common/error.h"

namespace clustersim::sim {
namespace {

v1::Collectives Defaults() {
  v1::Collectives c;
  FillCollectiveDefaults(c);
  return c;
}

std::vector<uint32_t> Range(uint32_t first, uint32_t n, uint32_t stride = 1) {
  std::vector<uint32_t> g(n);
  for (uint32_t i = 0; i < n; ++i) g[i] = first + i * stride;
  return g;
}

// Bytes each rank sends and receives over the whole plan.
std::pair<std::map<uint32_t, double>, std::map<uint32_t, double>> Volumes(const CollectivePlan& p) {
  std::map<uint32_t, double> sent, recv;
  for (const auto& s : p.steps)
    for (const auto& f : s.flows) {
      sent[f.src] += f.bytes * s.repeat;
      recv[f.dst] += f.bytes * s.repeat;
    }
  return {sent, recv};
}

TEST(Collectives, RingAllReduceSendsTwiceNMinusOneOverNPerRank) {
  const GroupShape shape{8, 8, false};
  for (uint32_t n : {2u, 8u, 16u, 64u}) {
    const double S = 1 << 20;
    const auto p = PlanCollective(CollectiveKind::kAllReduce, "ring", Range(0, n, 8), S, shape, Defaults());
    EXPECT_EQ(p.algorithm, "ring");
    const auto [sent, recv] = Volumes(p);
    for (const auto& [rank, b] : sent) EXPECT_NEAR(b, 2.0 * (n - 1) / n * S, 1e-6 * S) << "n=" << n;
    for (const auto& [rank, b] : recv) EXPECT_NEAR(b, 2.0 * (n - 1) / n * S, 1e-6 * S);
    EXPECT_NEAR(p.bytes_sent_total, n * 2.0 * (n - 1) / n * S, 1e-6 * S * n);
  }
}

TEST(Collectives, RingUsesOneChannelPerLocalGpuAcrossNodes) {
  // 16 GPUs on 2 nodes: 8 channels, each crossing nodes through a different local GPU (rail).
  const GroupShape shape{8, 8, false};
  const auto p = PlanCollective(CollectiveKind::kAllGather, "ring", Range(0, 16), 16 << 20, shape, Defaults());
  std::map<uint32_t, int> boundary_senders;
  for (const auto& f : p.steps.at(0).flows)
    if (f.src / 8 != f.dst / 8) boundary_senders[f.src % 8]++;
  EXPECT_EQ(boundary_senders.size(), 8u);
}

TEST(Collectives, ByteConservationForEveryAlgorithm) {
  const GroupShape shape{8, 8, true};
  struct Case {
    CollectiveKind kind;
    const char* algo;
    std::vector<uint32_t> group;
  };
  const std::vector<Case> cases = {
      {CollectiveKind::kAllReduce, "ring", Range(0, 32)},
      {CollectiveKind::kAllReduce, "tree", Range(0, 32)},
      {CollectiveKind::kAllReduce, "halving_doubling", Range(0, 32)},
      {CollectiveKind::kAllReduce, "hierarchical", Range(0, 32)},
      {CollectiveKind::kAllReduce, "nvls", Range(0, 8)},
      {CollectiveKind::kReduceScatter, "hierarchical", Range(0, 32)},
      {CollectiveKind::kAllGather, "ring", Range(0, 24)},
      {CollectiveKind::kAllReduce, "bidirectional_ring", Range(0, 32)},
      {CollectiveKind::kReduceScatter, "bidirectional_ring", Range(0, 16)},
      {CollectiveKind::kAllReduce, "multidim_ring", Range(0, 32)},
      {CollectiveKind::kAllToAll, "direct", Range(0, 16)},
      {CollectiveKind::kAllToAll, "pxn", Range(0, 32)},
  };
  for (const auto& c : cases) {
    const auto p = PlanCollective(c.kind, c.algo, c.group, 8 << 20, shape, Defaults());
    const auto [sent, recv] = Volumes(p);
    const double s = std::accumulate(sent.begin(), sent.end(), 0.0, [](double a, auto& kv) { return a + kv.second; });
    const double r = std::accumulate(recv.begin(), recv.end(), 0.0, [](double a, auto& kv) { return a + kv.second; });
    EXPECT_NEAR(s, r, 1e-6 * s) << c.algo;
    EXPECT_NEAR(s, p.bytes_sent_total, 1e-6 * s) << c.algo;
    EXPECT_GT(s, 0) << c.algo;
  }
}

TEST(Collectives, DirectAllToAllSendsNMinusOneOverN) {
  const GroupShape shape{8, 8, false};
  const double S = 64 << 20;
  const auto p = PlanCollective(CollectiveKind::kAllToAll, "direct", Range(0, 16), S, shape, Defaults());
  const auto [sent, recv] = Volumes(p);
  for (const auto& [rank, b] : sent) EXPECT_NEAR(b, S * 15 / 16, 1);
}

TEST(Collectives, PxnForwardsThroughTheRailGpu) {
  const GroupShape shape{8, 8, false};
  const auto p = PlanCollective(CollectiveKind::kAllToAll, "pxn", Range(0, 32), 32 << 20, shape, Defaults());
  ASSERT_EQ(p.steps.size(), 2u);
  for (const auto& f : p.steps[1].flows) EXPECT_EQ(f.src % 8, f.dst % 8) << "inter-node flows stay on their rail";
  for (const auto& f : p.steps[0].flows) EXPECT_EQ(f.src / 8, f.dst / 8) << "first phase stays in the node";
}

TEST(Collectives, DeepEpNormalSendsOneRdmaCopyPerNodeThenForwardsOverNvlink) {
  // 32 ranks on 4 nodes: each rank sends R to the same-rail GPU of the 3 other nodes and forwards V to its 7 peers.
  // The NVLink bytes carry DeepEP's fitted NVLink efficiency (0.672) against the links' ring efficiency.
  const GroupShape shape{8, 8, false};
  v1::Collectives params;
  FillCollectiveDefaults(params);
  const double R0 = 1000, V = 300, Vx = V * params.scale_up_protocol_efficiency() / 0.672;
  const double R = R0 * params.protocol_efficiency() / 0.872;
  const auto p = PlanDeepEpNormal(Range(0, 32), shape, params, {R0, V, false});
  EXPECT_EQ(p.algorithm, "deepep_normal");
  ASSERT_EQ(p.steps.size(), 2u);
  for (const auto& s : p.steps) EXPECT_EQ(s.pipeline_group, 1u) << "NVLink and RDMA halves are pipelined";
  for (const auto& f : p.steps[0].flows) {
    EXPECT_EQ(f.src / 8, f.dst / 8) << "NVLink forwarding stays in the node";
    EXPECT_NEAR(f.bytes, Vx, 1e-9);
  }
  for (const auto& f : p.steps[1].flows) {
    EXPECT_NE(f.src / 8, f.dst / 8);
    EXPECT_EQ(f.src % 8, f.dst % 8) << "RDMA goes to the sender's rail GPU";
    EXPECT_NEAR(f.bytes, R, 1e-9);
  }
  const auto [sent, recv] = Volumes(p);
  for (const auto& [rank, b] : sent) EXPECT_NEAR(b, 3 * R + 7 * Vx, 1e-6);
  for (const auto& [rank, b] : recv) EXPECT_NEAR(b, 3 * R + 7 * Vx, 1e-6);
  EXPECT_NEAR(p.bytes_sent_total, 32 * (3 * R + 7 * Vx), 1e-6);
  // Links already at DeepEP's efficiencies: no inflation.
  v1::Collectives at_deepep = params;
  at_deepep.set_scale_up_protocol_efficiency(0.672);
  at_deepep.set_protocol_efficiency(0.872);
  const auto plain = PlanDeepEpNormal(Range(0, 32), shape, at_deepep, {R0, V, false});
  EXPECT_NEAR(plain.steps[0].flows[0].bytes, V, 1e-9);
  EXPECT_NEAR(plain.steps[1].flows[0].bytes, R0, 1e-9);
  // Combine reverses every flow; one node has no RDMA half.
  const auto c = PlanDeepEpNormal(Range(0, 32), shape, params, {R0, V, true});
  ASSERT_EQ(c.steps.size(), 2u);
  EXPECT_EQ(c.steps[1].flows[0].src, p.steps[1].flows[0].dst);
  EXPECT_EQ(c.steps[1].flows[0].dst, p.steps[1].flows[0].src);
  EXPECT_EQ(PlanDeepEpNormal(Range(0, 8), shape, params, {R0, V, false}).steps.size(), 1u);
  EXPECT_THROW(PlanDeepEpNormal(Range(0, 12), shape, params, {R0, V, false}), InputError);  // 8 + 4 ranks per node
}

TEST(Collectives, DeepEpLowLatencyIsDirectPlusOneKernelCost) {
  const GroupShape shape{8, 8, false};
  const v1::Collectives params = Defaults();
  const double S = 7 << 20;
  const auto direct = PlanCollective(CollectiveKind::kAllToAll, "direct", Range(0, 16), S, shape, params);
  const auto ll = PlanCollective(CollectiveKind::kAllToAll, "deepep_ll", Range(0, 16), S, shape, params);
  EXPECT_EQ(ll.algorithm, "deepep_ll");
  ASSERT_EQ(ll.steps.size(), 1u);
  EXPECT_EQ(ll.steps[0].flows.size(), direct.steps[0].flows.size());
  EXPECT_DOUBLE_EQ(ll.bytes_sent_total, direct.bytes_sent_total);
  // The fitted kernel cost (38.6 us, docs/collectives.md) replaces the 3 us step latency.
  EXPECT_NEAR(ll.steps[0].alpha_steps * params.step_latency_ns(), 38600, 1e-6);
}

TEST(Collectives, InterNodeScaleShrinksOnlyTheFlowsBetweenNodes) {
  // A deduplicated MoE dispatch (wl::Op::internode_scale): flows between nodes carry `scale` of their bytes, flows
  // inside a node are unchanged; the DeepEP low-latency kernel sends every pair and is never scaled.
  const GroupShape shape{8, 8, false};
  const v1::Collectives params = Defaults();
  const double S = 32 << 20, scale = 0.4;
  for (const char* algo : {"direct", "pxn", "deepep_ll"}) {
    const auto full = PlanCollective(CollectiveKind::kAllToAll, algo, Range(0, 32), S, shape, params);
    const auto dedup = PlanCollective(CollectiveKind::kAllToAll, algo, Range(0, 32), S, shape, params, scale);
    const bool scaled = std::string(algo) != "deepep_ll";
    ASSERT_EQ(full.steps.size(), dedup.steps.size()) << algo;
    double inter = 0, inter_dedup = 0;
    for (size_t i = 0; i < full.steps.size(); ++i) {
      ASSERT_EQ(full.steps[i].flows.size(), dedup.steps[i].flows.size()) << algo;
      for (size_t k = 0; k < full.steps[i].flows.size(); ++k) {
        const Flow &a = full.steps[i].flows[k], &b = dedup.steps[i].flows[k];
        const bool across = a.src / 8 != a.dst / 8;
        EXPECT_DOUBLE_EQ(b.bytes, across && scaled ? a.bytes * scale : a.bytes) << algo;
        if (across) inter += a.bytes, inter_dedup += b.bytes;
      }
    }
    EXPECT_GT(inter, 0) << algo;
    EXPECT_NEAR(inter_dedup, scaled ? inter * scale : inter, 1e-6 * inter) << algo;
  }
}

TEST(Collectives, AutoPicksNvlsInsideAnNvlsDomainAndRingAcrossNodes) {
  const GroupShape nvls{8, 8, true};
  EXPECT_EQ(PlanCollective(CollectiveKind::kAllReduce, "auto", Range(0, 8), 1 << 30, nvls, Defaults()).algorithm,
            "nvls");
  EXPECT_EQ(PlanCollective(CollectiveKind::kAllReduce, "auto", Range(0, 16), 1 << 30, nvls, Defaults()).algorithm,
            "ring");
}

// The bidirectional ring sends what the ring sends, half to each ring neighbour, in the ring's number of steps; a
// direct network (torus) picks it for reductions and gathers, a switched one never does.
TEST(Collectives, BidirectionalRingSendsHalfEachWay) {
  GroupShape torus{8, 8, false};
  torus.direct_links = true;
  const double S = 8 << 20;
  const auto ring = PlanCollective(CollectiveKind::kAllReduce, "ring", Range(0, 8), S, torus, Defaults());
  const auto both = PlanCollective(CollectiveKind::kAllReduce, "auto", Range(0, 8), S, torus, Defaults());
  EXPECT_EQ(both.algorithm, "bidirectional_ring");
  ASSERT_EQ(both.steps.size(), 1u);
  EXPECT_EQ(both.steps[0].repeat, ring.steps[0].repeat);  // 2 (n - 1) steps
  EXPECT_EQ(Volumes(both), Volumes(ring));
  std::map<std::pair<uint32_t, uint32_t>, double> to;
  for (const auto& f : both.steps[0].flows) to[{f.src, f.dst}] += f.bytes;
  EXPECT_DOUBLE_EQ(to.at({3, 4}), S / 8 / 2);
  EXPECT_DOUBLE_EQ(to.at({4, 3}), S / 8 / 2);
  EXPECT_DOUBLE_EQ(to.at({7, 0}), S / 8 / 2);
  EXPECT_EQ(PlanCollective(CollectiveKind::kAllGather, "auto", Range(0, 8), S, torus, Defaults()).algorithm,
            "bidirectional_ring");
  EXPECT_EQ(PlanCollective(CollectiveKind::kAllToAll, "auto", Range(0, 8), S, torus, Defaults()).algorithm, "direct");
  const GroupShape switched{8, 8, false};
  EXPECT_EQ(PlanCollective(CollectiveKind::kAllReduce, "auto", Range(0, 8), S, switched, Defaults()).algorithm, "ring");
  // Across nodes an all-to-all forwards through the rail GPU (PXN) on a switched fabric; a torus has no rails: direct.
  EXPECT_EQ(PlanCollective(CollectiveKind::kAllToAll, "auto", Range(0, 32), S, switched, Defaults()).algorithm, "pxn");
  EXPECT_EQ(PlanCollective(CollectiveKind::kAllToAll, "auto", Range(0, 32), S, torus, Defaults()).algorithm, "direct");
}

// A torus with GPU g at x = g % 4, y = (g / 4) % 4, z = g / 16.
GroupShape Torus444() {
  GroupShape torus{8, 8, false};
  torus.direct_links = true;
  torus.torus_dims = {4, 4, 4};
  return torus;
}

// Coordinates that differ between two GPUs of Torus444, and by how much (1 = neighbours, wrap-around included).
std::vector<std::pair<int, uint32_t>> Differences(uint32_t a, uint32_t b) {
  std::vector<std::pair<int, uint32_t>> out;
  for (int d = 0; d < 3; ++d) {
    const uint32_t stride = d == 0 ? 1 : d == 1 ? 4 : 16;
    const uint32_t xa = (a / stride) % 4, xb = (b / stride) % 4;
    if (xa != xb) out.push_back({d, std::min((xa - xb + 4) % 4, (xb - xa + 4) % 4)});
  }
  return out;
}

// On a block of two torus dimensions (a 4 x 4 plane), the all-reduce runs dimension by dimension: 2 reduce-scatter
// stages then 2 all-gather stages, each with a part of the data on each dimension (flows between neighbours only,
// both ways round), sending what a ring sends per rank, 2 (n - 1) / n S, in 2 x (3 + 3) steps instead of 2 x 15.
TEST(Collectives, MultidimRingRunsATorusBlockDimensionByDimension) {
  const GroupShape torus = Torus444();
  const double S = 16 << 20;
  const std::vector<uint32_t> plane = Range(16, 16);  // z = 1
  const auto p = PlanCollective(CollectiveKind::kAllReduce, "auto", plane, S, torus, Defaults());
  EXPECT_EQ(p.algorithm, "multidim_ring");
  ASSERT_EQ(p.steps.size(), 4u);
  double steps = 0;
  for (const PhaseStep& s : p.steps) {
    std::map<int, double> per_dim;
    for (const Flow& f : s.flows) {
      const auto diff = Differences(f.src, f.dst);
      ASSERT_EQ(diff.size(), 1u) << f.src << " -> " << f.dst;
      EXPECT_EQ(diff[0].second, 1u) << f.src << " -> " << f.dst;
      per_dim[diff[0].first] += f.bytes;
    }
    EXPECT_EQ(per_dim.size(), 2u) << "both dimensions busy in every stage";
    EXPECT_NEAR(per_dim[0], per_dim[1], 1e-9 * S) << "the parts are the same size";
    steps += s.alpha_steps + s.net_steps;
  }
  EXPECT_DOUBLE_EQ(steps, 2 * (3 + 3));
  const auto [sent, recv] = Volumes(p);
  ASSERT_EQ(sent.size(), 16u);
  for (const auto& [rank, b] : sent) EXPECT_NEAR(b, 2.0 * 15 / 16 * S, 1e-6 * S) << rank;
  for (const auto& [rank, b] : recv) EXPECT_NEAR(b, 2.0 * 15 / 16 * S, 1e-6 * S) << rank;
  // Reduce-scatter and all-gather are the two halves, for the input and the output per rank respectively.
  const auto rs = PlanCollective(CollectiveKind::kReduceScatter, "auto", plane, S, torus, Defaults());
  const auto ag = PlanCollective(CollectiveKind::kAllGather, "auto", plane, S, torus, Defaults());
  EXPECT_EQ(rs.algorithm, "multidim_ring");
  EXPECT_EQ(ag.algorithm, "multidim_ring");
  EXPECT_NEAR(rs.bytes_sent_total, p.bytes_sent_total / 2, 1e-6 * S);
  EXPECT_NEAR(ag.bytes_sent_total, p.bytes_sent_total / 2, 1e-6 * S);
}

// A block of three dimensions (2 x 2 x 4, strided ids) runs three stages each way; a group along one dimension, or
// one that is not a block, runs both ways round a ring.
TEST(Collectives, MultidimRingNeedsABlockOfTwoDimensionsOrMore) {
  const GroupShape torus = Torus444();
  const double S = 4 << 20;
  std::vector<uint32_t> cube;
  for (uint32_t z = 0; z < 4; ++z)
    for (uint32_t y = 1; y < 3; ++y)
      for (uint32_t x = 2; x < 4; ++x) cube.push_back(x + 4 * y + 16 * z);
  const auto p3 = PlanCollective(CollectiveKind::kAllReduce, "auto", cube, S, torus, Defaults());
  EXPECT_EQ(p3.algorithm, "multidim_ring");
  EXPECT_EQ(p3.steps.size(), 6u);
  const auto [sent, recv] = Volumes(p3);
  for (const auto& [rank, b] : sent) EXPECT_NEAR(b, 2.0 * 15 / 16 * S, 1e-6 * S) << rank;
  EXPECT_EQ(PlanCollective(CollectiveKind::kAllReduce, "auto", Range(4, 4), S, torus, Defaults()).algorithm,
            "bidirectional_ring");
  EXPECT_EQ(PlanCollective(CollectiveKind::kAllReduce, "auto", Range(1, 4, 16), S, torus, Defaults()).algorithm,
            "bidirectional_ring");
  EXPECT_EQ(PlanCollective(CollectiveKind::kAllReduce, "auto", Range(0, 6), S, torus, Defaults()).algorithm,
            "bidirectional_ring");
  const auto named = PlanCollective(CollectiveKind::kAllReduce, "multidim_ring", Range(0, 6), S, torus, Defaults());
  EXPECT_EQ(named.algorithm, "multidim_ring");
  EXPECT_EQ(Volumes(named), Volumes(PlanCollective(CollectiveKind::kAllReduce, "bidirectional_ring", Range(0, 6), S,
                                                   torus, Defaults())));
}

TEST(Collectives, RejectsUnknownAndImpossibleAlgorithms) {
  const GroupShape shape{8, 8, false};
  EXPECT_THROW(PlanCollective(CollectiveKind::kAllReduce, "bogus", Range(0, 8), 1024, shape, Defaults()), InputError);
  EXPECT_THROW(PlanCollective(CollectiveKind::kAllReduce, "halving_doubling", Range(0, 6), 1024, shape, Defaults()),
               InputError);
  EXPECT_THROW(PlanCollective(CollectiveKind::kAllReduce, "nvls", Range(0, 8), 1024, shape, Defaults()), InputError);
}

TEST(Collectives, BusBandwidthFactorsFollowNcclTests) {
  EXPECT_DOUBLE_EQ(BusBandwidthFactor(CollectiveKind::kAllReduce, 8), 2.0 * 7 / 8);
  EXPECT_DOUBLE_EQ(BusBandwidthFactor(CollectiveKind::kAllGather, 8), 7.0 / 8);
  EXPECT_DOUBLE_EQ(BusBandwidthFactor(CollectiveKind::kBroadcast, 8), 1.0);
}

}  // namespace
}  // namespace clustersim::sim
