// End-to-end tests of the SimGrid path: closed-form collective times on a non-blocking fabric, oversubscription
// slow-down, a small training step, and determinism. Each simulation runs in its own child process.
#include "sim/simulation.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "common/error.h"
#include "sim/scenario_loader.h"
#include "workloads/moe_routing.h"
#include "workloads/zero3_impl.h"

namespace clustersim::sim {
namespace {

v1::Scenario Cluster(const std::string& extra_scale_out, uint32_t gpus, const std::string& workload = "") {
  const std::string text =
      "name: \"t\"\naccelerator { name: \"H100-SXM\" }\ncluster { num_gpus: " + std::to_string(gpus) +
      " scale_out { topology: \"fat_tree\" nic_bandwidth_gbps: 400 " + extra_scale_out + " } }\n" +
      (workload.empty() ? "workload { model { preset: \"llama3_8b\" seq_len: 4096 } parallelism "
                          "{ tp: 8 global_batch_size: " +
                              std::to_string(gpus / 8) + " } }\n"
                        : workload);
  return ResolveScenario(ParseScenario(text, "textproto", "test.textproto"));
}

// An all_to_all of one group is one phase of n(n - 1) flows (PXN: one per rail and node pair): a phase that still has
// more than options.max_flows_per_phase flows after the reductions is bad input, and so is a plan whose flows would
// not fit in memory (refused before the simulation process starts; 8,192 ranks took minutes and gigabytes before).
TEST(Simulation, AnAllToAllLargerThanAPhaseIsBadInput) {
  v1::Scenario s = Cluster("switch_radix: 16 routing: \"ecmp\"", 64);  // hashed routes: no two flows alike
  s.mutable_options()->set_max_flows_per_phase(1000);
  CollectiveBenchSpec spec;
  spec.collective = "all_to_all";
  spec.algorithm = "direct";
  spec.sizes_bytes = {1 << 20};
  spec.group_size = 64;
  try {
    (void)SimulateCollective(s, spec);
    FAIL() << "not refused";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("group = 64: a phase of the all_to_all over 64 ranks has "), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("at most 1000 (options.max_flows_per_phase)"), std::string::npos) << e.what();
  }
  v1::Scenario big = Cluster("switch_radix: 128", 131072);
  spec.group_size = 65536;
  try {
    (void)SimulateCollective(big, spec);
    FAIL() << "not refused";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("coll: group = 65536 (4294901760 flows planned)"), std::string::npos)
        << e.what();
  }
}

TEST(Simulation, RingAllReduceMatchesClosedFormOnNonBlockingFabric) {
  // 8 ranks, one per node (stride 8), 256 MiB: t = 2(n-1)/n * S / B_eff + 2(n-1) * (alpha + path latency + the
  // per-step network latency collectives.net_step_latency_ns).
  const v1::Scenario s = Cluster("", 64);
  CollectiveBenchSpec spec;
  spec.collective = "all_reduce";
  spec.algorithm = "ring";
  spec.sizes_bytes = {256ull << 20};
  spec.group_size = 8;
  spec.group_stride = 8;
  const auto rows = SimulateCollective(s, spec);
  ASSERT_EQ(rows.size(), 1u);
  const double n = 8, S = 256.0 * (1 << 20);
  const double B = 400e9 / 8 * s.collectives().protocol_efficiency();
  const double bw_term = 2 * (n - 1) / n * S / B;
  const double net_steps = 2 * (n - 1) * s.collectives().net_step_latency_ns() * 1e-9;
  EXPECT_GT(rows[0].time_s, bw_term + net_steps);
  // The remaining latency terms are microseconds against ~10 ms of transfer: within 1%.
  EXPECT_NEAR(rows[0].time_s, bw_term + net_steps, 0.01 * bw_term);
  const double busbw = B / 1e9 * bw_term / (bw_term + net_steps);
  EXPECT_NEAR(rows[0].busbw_gbyte_per_s, busbw, 0.01 * busbw);
}

TEST(Simulation, IntraNodeRingReachesScaleUpBandwidth) {
  const v1::Scenario s = Cluster("", 8);
  CollectiveBenchSpec spec;
  spec.collective = "all_gather";
  spec.algorithm = "ring";
  spec.sizes_bytes = {1ull << 30};
  const auto rows = SimulateCollective(s, spec);
  // 7 ring steps of S/8 at the achievable scale-up rate, each paying alpha and two 500 ns NVLink hops.
  const double B =
      s.cluster().scale_up().bandwidth_gbyte_per_s() * 1e9 * s.collectives().scale_up_protocol_efficiency();
  const double S = 1 << 30;
  const double t = 7 * (S / 8 / B + s.collectives().step_latency_ns() * 1e-9 + 2 * 500e-9);
  EXPECT_NEAR(rows.at(0).time_s, t, 1e-3 * t);
  EXPECT_NEAR(rows.at(0).busbw_gbyte_per_s, B / 1e9, 0.02 * B / 1e9);
}

TEST(Simulation, AllToAllSlowsByTheOversubscriptionRatio) {
  // 128 GPUs on 16-port switches: a leaf has 8 GPUs down when non-blocking, 12 down / 4 up at 3:1.
  CollectiveBenchSpec spec;
  spec.collective = "all_to_all";
  spec.algorithm = "direct";
  spec.sizes_bytes = {64ull << 20};
  const auto flat = SimulateCollective(Cluster("switch_radix: 16", 128), spec);
  const auto over = SimulateCollective(Cluster("switch_radix: 16 oversubscription: 3", 128), spec);
  const double ratio = over.at(0).time_s / flat.at(0).time_s;
  EXPECT_GT(ratio, 0.85 * 3) << ratio;
  EXPECT_LT(ratio, 1.10 * 3) << ratio;
}

// The symmetry reductions of the cost model are exact: the same times as solving every group of every phase
// together, with fewer flows. Independent groups (EP all-to-all inside leaves, a hierarchical all-reduce's intra-node
// phases) and interchangeable channels sharing uplinks (NCCL tree channels on a fat-tree) are both exercised.
TEST(Simulation, SymmetryReductionsAreExact) {
  struct Case {
    std::string collective, algorithm;
    uint32_t group, stride;
    bool all_groups;
    std::string fabric;
  };
  const std::vector<Case> cases = {
      {"all_to_all", "pxn", 32, 1, true, "switch_radix: 16"},
      {"all_to_all", "direct", 8, 1, true, "switch_radix: 32 oversubscription: 3"},
      {"all_reduce", "tree", 0, 1, false, "switch_radix: 16"},
      {"all_reduce", "tree", 0, 1, false, "switch_radix: 16 oversubscription: 2"},
      {"all_reduce", "hierarchical", 64, 1, true, "switch_radix: 16"},
      {"all_gather", "ring", 16, 8, true, "switch_radix: 16"},
  };
  for (const Case& c : cases) {
    const v1::Scenario s = Cluster(c.fabric, 256);
    CollectiveBenchSpec spec;
    spec.collective = c.collective;
    spec.algorithm = c.algorithm;
    spec.sizes_bytes = {64ull << 20};
    spec.group_size = c.group;
    spec.group_stride = c.stride;
    spec.all_groups = c.all_groups;
    const auto reduced = SimulateCollective(s, spec);
    spec.exact = true;
    const auto exact = SimulateCollective(s, spec);
    const std::string what = c.collective + "/" + c.algorithm + " on " + c.fabric;
    EXPECT_NEAR(reduced.at(0).time_s, exact.at(0).time_s, 1e-9 * exact.at(0).time_s) << what;
    EXPECT_LT(reduced.at(0).flows, exact.at(0).flows) << what;
  }
}

// The class reduction (sim/network/flow_classes.h) is exact: one group's all-to-all, a phase no group symmetry splits,
// solved as one flow per class of interchangeable flows gives the time of solving every flow, on fat-trees
// (non-blocking and oversubscribed), rail-optimized, dragonfly and torus fabrics (the torus with its default "parity"
// routing, whose half-way ties keep routes the same up to translation; 4 x 4 x 4 and 8 x 4 x 4 have ties in every
// dimension).
TEST(Simulation, ClassReductionIsExact) {
  struct Case {
    std::string algorithm;
    uint32_t gpus;
    std::string scale_out;
  };
  const std::vector<Case> cases = {
      {"pxn", 128, "topology: \"fat_tree\" switch_radix: 16"},
      {"direct", 64, "topology: \"fat_tree\" switch_radix: 16 oversubscription: 2"},
      {"pxn", 128, "topology: \"fat_tree\" switch_radix: 16 oversubscription: 3"},
      {"pxn", 128, "topology: \"rail_optimized\" switch_radix: 16"},
      {"direct", 64, "topology: \"dragonfly\""},
      {"direct", 64, "topology: \"torus\" torus_dims: [4, 4, 4]"},
      {"pxn", 128, "topology: \"torus\" torus_dims: [8, 4, 4]"},
  };
  for (const Case& c : cases) {
    const std::string text = "accelerator { name: \"H100-SXM\" }\ncluster { num_gpus: " + std::to_string(c.gpus) +
                             " scale_out { " + c.scale_out +
                             " } }\nworkload { model { preset: \"llama3_8b\" } parallelism { tp: 8 "
                             "global_batch_size: " +
                             std::to_string(c.gpus / 8) + " } }\n";
    const v1::Scenario s = ResolveScenario(ParseScenario(text, "textproto", "classes.textproto"));
    CollectiveBenchSpec spec;
    spec.collective = "all_to_all";
    spec.algorithm = c.algorithm;
    spec.sizes_bytes = {16ull << 20};
    const auto reduced = SimulateCollective(s, spec);
    spec.exact = true;
    const auto exact = SimulateCollective(s, spec);
    const std::string what = c.algorithm + " on " + c.scale_out;
    EXPECT_NEAR(reduced.at(0).time_s, exact.at(0).time_s, 1e-9 * exact.at(0).time_s) << what;
    EXPECT_LT(reduced.at(0).flows * 4, exact.at(0).flows) << what << ": " << reduced.at(0).flows << " flows";
  }
}

// A 256 MiB all-reduce on every group of `group_size` consecutive GPUs of a 128-GPU torus, at once, by `algorithm`
// ("" = auto); `exact`: every group solved, no symmetry reductions.
CollectiveBenchRow TorusAllReduce(const std::string& dims, uint32_t group_size, const std::string& algorithm,
                                  bool exact) {
  const std::string text =
      "accelerator { name: \"H100-SXM\" }\ncluster { num_gpus: 128 scale_out { topology: "
      "\"torus\" torus_dims: [" +
      dims +
      "] } }\nworkload { model { preset: \"llama3_8b\" } parallelism { tp: 8 "
      "global_batch_size: 16 } }\n";
  const v1::Scenario s = ResolveScenario(ParseScenario(text, "textproto", "torus.textproto"));
  CollectiveBenchSpec spec;
  spec.collective = "all_reduce";
  spec.algorithm = algorithm;
  spec.sizes_bytes = {256ull << 20};
  spec.group_size = group_size;
  spec.all_groups = true;
  spec.exact = exact;
  return SimulateCollective(s, spec).at(0);
}

// On a torus the automatic all-reduce runs the ring both ways: a group along one 8-GPU ring dimension uses the links
// in both directions and finishes in about half the ring's time; the symmetry reductions stay exact.
TEST(Simulation, TorusAllReduceRunsBothWaysRound) {
  const CollectiveBenchRow both = TorusAllReduce("8, 4, 4", 8, "", false);
  EXPECT_EQ(both.algorithm, "bidirectional_ring");
  EXPECT_NEAR(TorusAllReduce("8, 4, 4", 8, "", true).time_s, both.time_s, 1e-9 * both.time_s);
  EXPECT_NEAR(both.time_s / TorusAllReduce("8, 4, 4", 8, "ring", false).time_s, 0.5, 0.05);
}

// A group that is a 4 x 4 block of the torus all-reduces dimension by dimension ("multidim_ring"): a part of the data
// on each dimension's links at once, both ways round, in about half the time of the bidirectional ring through the
// same 16 GPUs; the symmetry reductions stay exact.
TEST(Simulation, TorusBlockAllReduceRunsDimensionByDimension) {
  const CollectiveBenchRow block = TorusAllReduce("4, 4, 8", 16, "", false);
  EXPECT_EQ(block.algorithm, "multidim_ring");
  EXPECT_NEAR(TorusAllReduce("4, 4, 8", 16, "", true).time_s, block.time_s, 1e-9 * block.time_s);
  const double ring_s = TorusAllReduce("4, 4, 8", 16, "bidirectional_ring", false).time_s;
  EXPECT_LT(block.time_s, 0.6 * ring_s);
  EXPECT_GT(block.time_s, 0.4 * ring_s);
}

// Whole steps: the symmetry reductions and phase reuse against `fidelity: "full"` (every group of every phase solved,
// no reuse) on an oversubscribed fabric, for a dense pipeline and a skewed-routing MoE: the same step and breakdown.
TEST(Simulation, StepShortcutsMatchFullFidelity) {
  const std::vector<std::string> cases = {
      R"(accelerator { name: "H100-SXM" }
cluster { num_gpus: 1024 scale_out { topology: "fat_tree" oversubscription: 2 } }
workload { model { preset: "llama3_8b" seq_len: 4096 }
  parallelism { tp: 4 pp: 4 global_batch_size: 512 zero_stage: 1 overlap_grad_reduce: true } }
)",
      R"(accelerator { name: "H100-SXM" }
cluster { num_gpus: 256 scale_out { topology: "fat_tree" switch_radix: 32 oversubscription: 2 } }
workload { model { preset: "mixtral_8x7b" seq_len: 4096 }
  parallelism { tp: 2 pp: 2 ep: 8 sequence_parallel: true global_batch_size: 256 zero_stage: 1 overlap_grad_reduce: true }
  moe_routing { distribution: "skewed" imbalance: 1.5 } }
)"};
  for (const std::string& base : cases) {
    const v1::RunResult fast = SimulateStep(ResolveScenario(ParseScenario(base, "textproto", "fast.textproto")));
    const v1::RunResult full = SimulateStep(
        ResolveScenario(ParseScenario(base + "options { fidelity: \"full\" }\n", "textproto", "full.textproto")));
    EXPECT_LT(fast.sim().flows() * 3, full.sim().flows()) << base;
    EXPECT_NEAR(fast.step_time_s(), full.step_time_s(), 1e-6 * full.step_time_s()) << base;
    EXPECT_NEAR(fast.breakdown().exposed_ep_comm_s() + fast.breakdown().exposed_dp_comm_s() +
                    fast.breakdown().exposed_pp_comm_s() + fast.breakdown().exposed_tp_comm_s(),
                full.breakdown().exposed_ep_comm_s() + full.breakdown().exposed_dp_comm_s() +
                    full.breakdown().exposed_pp_comm_s() + full.breakdown().exposed_tp_comm_s(),
                1e-6 * full.step_time_s())
        << base;
  }
}

// The same on a torus (parity routing): the exchanges of every pipeline stage run over all EP groups, whose
// representatives list the same groups in other orders and share one symmetry check (CommCostModel::StructureKey),
// and the class reduction splits what is left by translation. The reductions are exact (1e-6 with phase reuse off);
// what differs is phase reuse's affine law t(S) = L + S / R, which is not exact when a phase's routes have unequal
// latencies (a torus's 1 to 4 hops): 1.5e-5 of the step here, inside its documented 2% bound.
TEST(Simulation, StepShortcutsOnATorusMatchFullFidelity) {
  const std::string base = R"(accelerator { name: "H800" }
cluster { num_gpus: 256 scale_out { topology: "torus" torus_dims: [8, 8, 4] } }
workload { model { preset: "mixtral_8x7b" seq_len: 4096 }
  parallelism { tp: 1 pp: 4 ep: 8 global_batch_size: 256 zero_stage: 1 overlap_grad_reduce: true }
  moe_routing { distribution: "skewed" imbalance: 1.3 } }
)";
  const v1::RunResult fast = SimulateStep(ResolveScenario(ParseScenario(base, "textproto", "fast.textproto")));
  const v1::RunResult full = SimulateStep(
      ResolveScenario(ParseScenario(base + "options { fidelity: \"full\" }\n", "textproto", "full.textproto")));
  EXPECT_LT(fast.sim().flows() * 10, full.sim().flows());
  EXPECT_NEAR(fast.step_time_s(), full.step_time_s(), 1e-4 * full.step_time_s());
  EXPECT_NEAR(fast.breakdown().exposed_ep_comm_s(), full.breakdown().exposed_ep_comm_s(), 1e-4 * full.step_time_s());
}

// EP groups laid out as torus tiles (2 x 2 x 2 cubes) run their exchange straight over the torus (`flex` on a
// torus has no DeepEP: the direct exchange), on disjoint links: each layer's exchange, whose sizes the skewed routing
// changes, is checked for independence once (its routes), solved on one cube, and its link loads are the cube's,
// scattered over every cube (CommCostModel::RepresentativeLoads). Both are exact against solving and routing every
// flow.
TEST(Simulation, TorusTileExchangesAreSolvedOnOneTileAndTheirLinkLoadsScattered) {
  const std::string base = R"(accelerator { name: "H800" }
cluster { num_gpus: 256 scale_out { topology: "torus" torus_dims: [8, 8, 4] } placement { torus_tile: [2, 2, 2] } }
workload { model { preset: "mixtral_8x7b" seq_len: 4096 }
  parallelism { tp: 1 pp: 4 ep: 8 global_batch_size: 256 zero_stage: 1 overlap_grad_reduce: true }
  moe_routing { distribution: "skewed" imbalance: 1.3 dispatcher: "flex" } }
)";
  const v1::Scenario fast_s = ResolveScenario(ParseScenario(base, "textproto", "fast.textproto"));
  EXPECT_EQ(fast_s.collectives().all_to_all(), "auto");
  const v1::RunResult fast = SimulateStep(fast_s);
  const v1::RunResult full = SimulateStep(
      ResolveScenario(ParseScenario(base + "options { fidelity: \"full\" }\n", "textproto", "full.textproto")));
  EXPECT_LT(fast.sim().flows() * 10, full.sim().flows());
  EXPECT_NEAR(fast.step_time_s(), full.step_time_s(), 1e-4 * full.step_time_s());
  bool direct = false;
  for (const auto& c : fast.comms()) direct |= c.algorithm() == "direct";
  EXPECT_TRUE(direct);
  ASSERT_EQ(fast.link_usage_size(), full.link_usage_size());
  for (int i = 0; i < fast.link_usage_size(); ++i) {
    EXPECT_EQ(fast.link_usage(i).kind(), full.link_usage(i).kind());
    EXPECT_NEAR(fast.link_usage(i).bytes_per_step(), full.link_usage(i).bytes_per_step(),
                1e-9 * full.link_usage(i).bytes_per_step());
    EXPECT_NEAR(fast.link_usage(i).max_utilization(), full.link_usage(i).max_utilization(), 1e-3);
  }
  ASSERT_EQ(fast.hottest_links_size(), full.hottest_links_size());
  for (int i = 0; i < fast.hottest_links_size(); ++i) {
    EXPECT_EQ(fast.hottest_links(i).name(), full.hottest_links(i).name());
    EXPECT_NEAR(fast.hottest_links(i).bytes_per_step(), full.hottest_links(i).bytes_per_step(),
                1e-9 * full.hottest_links(i).bytes_per_step());
  }
}

// NCCL's tree across nodes runs one channel per NIC, so a node's network traffic is split over its eight NICs:
// reduce and broadcast each move S / 8 per NIC, t ~ 2 S / (8 B_nic) (the chain over NVLink is pipelined with it).
TEST(Simulation, TreeAllReduceSpreadsChannelsOverTheNics) {
  const v1::Scenario s = Cluster("", 64);
  CollectiveBenchSpec spec;
  spec.collective = "all_reduce";
  spec.algorithm = "tree";
  spec.sizes_bytes = {1ull << 30};
  const auto rows = SimulateCollective(s, spec);
  const double S = 1 << 30, B = 400e9 / 8 * s.collectives().protocol_efficiency();
  const double t = 2 * S / (8 * B);
  EXPECT_GT(rows.at(0).time_s, t);
  EXPECT_NEAR(rows.at(0).time_s, t, 0.05 * t);
}

TEST(Simulation, SmallTrainingStepIsPlausibleAndAccountsForItsTime) {
  const v1::Scenario s = Cluster("", 32,
                                 "workload { model { preset: \"llama3_8b\" seq_len: 4096 } parallelism { tp: 8 pp: 2 "
                                 "global_batch_size: 32 } }\n");
  const v1::RunResult r = SimulateStep(s);
  EXPECT_GT(r.step_time_s(), 0);
  EXPECT_GT(r.mfu(), 0.15);
  EXPECT_LT(r.mfu(), 0.75);
  const v1::TimeBreakdown& b = r.breakdown();
  const double sum = b.compute_s() + b.exposed_tp_comm_s() + b.exposed_cp_comm_s() + b.exposed_pp_comm_s() +
                     b.exposed_dp_comm_s() + b.exposed_ep_comm_s() + b.pipeline_bubble_s() + b.other_s() +
                     b.straggler_s();
  EXPECT_NEAR(sum, r.step_time_s(), 1e-6 * r.step_time_s());
  EXPECT_GT(b.exposed_tp_comm_s(), 0);
  EXPECT_GT(r.power().gpu_avg_w(), s.accelerator().idle_w());
  EXPECT_LE(r.power().gpu_peak_w(), s.accelerator().tdp_w() + 1e-9);
  EXPECT_GT(r.sim().flows(), 0u);
  // Every communication entry occurs on some stage: TP collectives per layer and micro-batch, PP transfers per
  // micro-batch (32 sequences on dp 2: 16 micro-batches per pipeline).
  ASSERT_GT(r.comms_size(), 0);
  for (const v1::CommStat& c : r.comms()) {
    EXPECT_GT(c.count_per_step(), 0u) << c.kind() << " " << c.collective();
    if (c.kind() == "pp") {
      EXPECT_EQ(c.count_per_step(), 16u);
      EXPECT_TRUE(c.stages() == "0->1" || c.stages() == "1->0") << c.stages();
    } else {
      EXPECT_EQ(c.stages(), "");
    }
  }
  // Link usage: every class present is within [0, 1] of its achievable capacity, the hottest links come first.
  ASSERT_GT(r.link_usage_size(), 0);
  for (const v1::LinkClassUsage& u : r.link_usage()) {
    EXPECT_GE(u.avg_utilization(), 0) << u.kind();
    EXPECT_LE(u.max_utilization(), 1.0 + 1e-6) << u.kind();
    EXPECT_LE(u.avg_utilization(), u.max_utilization() + 1e-12) << u.kind();
  }
  ASSERT_EQ(r.hottest_links_size(), 5);
  for (int i = 1; i < r.hottest_links_size(); ++i)
    EXPECT_GE(r.hottest_links(i - 1).utilization(), r.hottest_links(i).utilization());
  EXPECT_GT(r.hottest_links(0).utilization(), 0);
}

// zero3_implementation "deepspeed_2021": compute at its fraction of the calibrated rate, the ZeRO-3 gathers and
// reduce-scatters at its fraction of the modelled bandwidth (latency unchanged), nothing else touched.
TEST(Simulation, Zero3ImplementationScalesComputeAndShardedCollectives) {
  // Without interference: compute then does not depend on how long the (slowed) collectives overlap it.
  const std::string base =
      "options { scale_terms_off: \"interference\" }\n"
      "workload { model { preset: \"llama3_8b\" seq_len: 2048 } parallelism { tp: 1 global_batch_size: 32 "
      "zero_stage: 3 recompute: \"full\" overlap_grad_reduce: true overlap_param_gather: true ";
  const v1::RunResult nccl = SimulateStep(Cluster("", 32, base + "} }\n"));
  const v1::RunResult ds = SimulateStep(Cluster("", 32, base + "zero3_implementation: \"deepspeed_2021\" } }\n"));
  const wl::Zero3Implementation* z = wl::FindZero3Implementation("deepspeed_2021");
  ASSERT_NE(z, nullptr);
  EXPECT_NEAR(ds.breakdown().compute_s(), nccl.breakdown().compute_s() / z->compute_efficiency,
              1e-6 * ds.breakdown().compute_s());
  EXPECT_GT(ds.step_time_s(), nccl.step_time_s());
  std::map<std::pair<std::string, uint64_t>, const v1::CommStat*> before;
  for (const v1::CommStat& c : nccl.comms()) before[{c.collective(), c.bytes_per_rank()}] = &c;
  int compared = 0;
  for (const v1::CommStat& c : ds.comms()) {
    ASSERT_EQ(c.kind(), "dp");
    const v1::CommStat* b = before.at({c.collective(), c.bytes_per_rank()});
    EXPECT_GT(c.count_per_step(), 0u);
    EXPECT_EQ(c.count_per_step(), b->count_per_step());
    // Bandwidth-bound messages (hundreds of MB): the time grows by almost 1 / efficiency, never by more.
    const double ratio = c.time_s() / b->time_s();
    EXPECT_LE(ratio, 1 / z->collective_efficiency * (1 + 1e-9)) << c.collective() << " " << c.bytes_per_rank();
    EXPECT_GT(ratio, 0.8 / z->collective_efficiency) << c.collective() << " " << c.bytes_per_rank();
    ++compared;
  }
  EXPECT_GE(compared, 2);
}

// FP8 delayed scaling (workload.fp8_recipe "delayed"): a blocking amax all-reduce over the data-parallel ranks after
// every chunk's forward and backward. It adds exposed DP time equal to its count x its time, that count is
// micro-batches x chunks x 2, its latency grows with the data-parallel group, and scale_terms_off "amax_reduction"
// removes it.
TEST(Simulation, DelayedScalingPaysAnAmaxAllReducePerChunkPass) {
  auto run = [](uint32_t gpus, const std::string& recipe, const std::string& options = "") {
    const uint32_t dp = gpus / 8;  // tp 4 x pp 2
    return SimulateStep(Cluster(
        "", gpus,
        "options { scale_terms_off: \"interference\" " + options +
            " }\nworkload { model { preset: \"llama3_8b\" seq_len: 2048 } precision: \"fp8\" " + recipe +
            " parallelism { tp: 4 pp: 2 vpp: 2 sequence_parallel: true global_batch_size: " + std::to_string(8 * dp) +
            " zero_stage: 1 overlap_grad_reduce: true overlap_param_gather: true } }\n"));
  };
  auto amax = [](const v1::RunResult& r) {
    const v1::CommStat* found = nullptr;
    for (const v1::CommStat& c : r.comms())
      if (c.kind() == "dp" && c.collective() == "all_reduce" && c.bytes_per_rank() < 4096) found = &c;
    return found;
  };
  const std::string delayed_recipe = "fp8_recipe: \"delayed\"";
  const v1::RunResult cs = run(256, "");
  const v1::RunResult delayed = run(256, delayed_recipe);
  const v1::RunResult off = run(256, delayed_recipe, "scale_terms_off: \"amax_reduction\"");
  EXPECT_EQ(amax(cs), nullptr);
  EXPECT_EQ(amax(off), nullptr);
  EXPECT_DOUBLE_EQ(off.step_time_s(), cs.step_time_s());
  const v1::CommStat* a = amax(delayed);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->group_size(), 256u / 8);  // dp = 256 / (tp 4 x pp 2)
  // 8 micro-batches x 2 chunks, forward and backward; the stage issuing the most is counted.
  EXPECT_GE(a->count_per_step(), 16u);
  EXPECT_LE(a->count_per_step(), 32u);
  EXPECT_GT(delayed.step_time_s(), cs.step_time_s());
  EXPECT_GT(delayed.breakdown().exposed_dp_comm_s(), cs.breakdown().exposed_dp_comm_s());
  // A latency-bound tree: 16 nodes cost more per reduction than 2 nodes.
  const v1::RunResult small = run(32, delayed_recipe);
  const v1::CommStat* b = amax(small);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->group_size(), 4u);
  EXPECT_GT(a->time_s(), 1.5 * b->time_s());
  EXPECT_LT(a->time_s(), 1e-3);  // microseconds, not a bandwidth-bound transfer
}

// Waiting for an overlapped collective is charged to the awaited collective's dimension: with overlapped EP
// exchanges and a blocking gradient reduce-scatter, the exposed DP time is that of the blocking DP collectives alone.
TEST(Simulation, WaitsForOverlappedExchangesAreChargedToTheirDimension) {
  const v1::RunResult r = SimulateStep(Cluster(
      "", 32,
      "workload { model { preset: \"qwen3_30b_a3b\" } parallelism { tp: 1 ep: 32 global_batch_size: 64 zero_stage: 1 "
      "overlap_moe_a2a: true overlap_grad_reduce: false overlap_param_gather: false } }\n"));
  double dp_blocking = 0;
  for (const v1::CommStat& c : r.comms())
    if (c.kind() == "dp" || c.kind() == "edp") dp_blocking += c.count_per_step() * c.time_s();
  EXPECT_GT(r.breakdown().exposed_ep_comm_s(), 0);
  EXPECT_NEAR(r.breakdown().exposed_dp_comm_s(), dp_blocking, 1e-9 + 1e-6 * dp_blocking);
}

// The MoE layer's parts show in the breakdown and the trace; the flex dispatcher has no host sync and fewer permutes.
TEST(Simulation, MoeLayerPartsAreReportedSeparately) {
  const std::string w =
      "workload { model { preset: \"qwen3_30b_a3b\" } parallelism { tp: 1 ep: 8 global_batch_size: 16 zero_stage: 1 } "
      "precision: \"fp8\" moe_routing { dispatcher: \"%\" } }\n";
  const auto run = [&](const char* dispatcher) {
    std::string text = w;
    text.replace(text.find('%'), 1, dispatcher);
    return SimulateStep(Cluster("", 8, text));
  };
  const v1::RunResult a2a = run("alltoall");
  const v1::TimeBreakdown& b = a2a.breakdown();
  EXPECT_GT(b.moe_expert_gemm_s(), b.moe_quantize_s());
  EXPECT_GT(b.moe_quantize_s(), 0);
  EXPECT_GT(b.moe_permute_s(), 0);
  EXPECT_GT(b.moe_router_s(), 0);
  EXPECT_GT(b.moe_host_sync_s(), 0);
  EXPECT_LT(b.moe_expert_gemm_s() + b.moe_quantize_s() + b.moe_permute_s() + b.moe_router_s(), b.compute_s());
  EXPECT_LE(b.moe_host_sync_s(), b.other_s());
  bool gemm_event = false, sync_event = false;
  for (const v1::TraceEvent& e : a2a.timeline()) {
    gemm_event |= e.name() == "moe grouped_gemm (forward)";
    sync_event |= e.name() == "moe host sync (forward)";
  }
  EXPECT_TRUE(gemm_event);
  EXPECT_TRUE(sync_event);
  // The flex dispatcher has no sync of its own, but TEGroupedMLP's token counts still reach the host: one sync per
  // MoE layer and micro-batch, as many as the all-to-all dispatcher's.
  const v1::RunResult flex = run("flex");
  EXPECT_NEAR(flex.breakdown().moe_host_sync_s(), b.moe_host_sync_s(), 1e-9);
  EXPECT_LT(flex.breakdown().moe_permute_s(), b.moe_permute_s());
  EXPECT_NEAR(flex.breakdown().moe_expert_gemm_s(), b.moe_expert_gemm_s(), 0.02 * b.moe_expert_gemm_s());
}

TEST(Simulation, SameInputSameOutput) {
  const v1::Scenario s = Cluster("", 32,
                                 "workload { model { preset: \"llama3_8b\" seq_len: 2048 } parallelism { tp: 4 pp: 2 "
                                 "global_batch_size: 32 } }\n");
  v1::RunResult a = SimulateStep(s);
  v1::RunResult b = SimulateStep(s);
  a.clear_sim();
  b.clear_sim();
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());
}

}  // namespace
}  // namespace clustersim::sim

namespace clustersim::sim {
namespace {

// The routes SimGrid resolves on the platform are the graph's routes, link for link, on every fabric kind, small
// (every pair) and mid-size (sampled pairs).
TEST(Simulation, SimGridRoutesMatchGraphRoutes) {
  struct Case {
    const char* scale_out;
    uint32_t gpus;
  };
  const Case cases[] = {
      {"topology: \"fat_tree\"", 64},
      {"topology: \"fat_tree\" switch_radix: 16", 512},
      {"topology: \"fat_tree\" switch_radix: 16 oversubscription: 3 routing: \"ecmp\"", 512},
      {"topology: \"rail_optimized\" switch_radix: 16", 512},
      {"topology: \"rail_only\" switch_radix: 16", 512},
      {"topology: \"multi_plane\" switch_radix: 16", 1024},
      {"topology: \"dragonfly\"", 1024},
      {"topology: \"slim_fly\"", 1024},
      {"topology: \"torus\" torus_dims: 8 torus_dims: 8 torus_dims: 8", 512},
  };
  for (const Case& c : cases) {
    const std::string text = std::string("accelerator { name: \"H100-SXM\" }\ncluster { num_gpus: ") +
                             std::to_string(c.gpus) + " scale_out { " + c.scale_out +
                             " } }\nworkload { model { preset: \"llama3_8b\" } parallelism { tp: 8 "
                             "global_batch_size: " +
                             std::to_string(c.gpus / 8) + " } }\n";
    const v1::Scenario s = ResolveScenario(ParseScenario(text, "textproto", "routes.textproto"));
    const RouteCheck rc = CompareRoutes(s, 2000);
    EXPECT_GT(rc.pairs, 0u) << c.scale_out;
    EXPECT_EQ(rc.mismatches, 0u) << c.scale_out << ": " << rc.first_mismatch;
  }
}

}  // namespace
}  // namespace clustersim::sim

namespace clustersim::sim {
namespace {

// Reusing solved phase shapes (affine scaling) stays within 2% of solving every phase, on a mid-size dense case with
// DP buckets of several sizes and pipeline transfers.
TEST(Simulation, PhaseReuseStaysWithinTwoPercentOfSolvingEverything) {
  const std::string base = R"(accelerator { name: "H100-SXM" }
cluster { num_gpus: 1024 scale_out { topology: "fat_tree" oversubscription: 2 } }
workload { model { preset: "llama3_8b" seq_len: 4096 }
  parallelism { tp: 4 pp: 2 global_batch_size: 512 zero_stage: 1 overlap_grad_reduce: true } }
)";
  const v1::Scenario fast = ResolveScenario(ParseScenario(base, "textproto", "reuse.textproto"));
  const v1::Scenario full =
      ResolveScenario(ParseScenario(base + "options { fidelity: \"full\" }\n", "textproto", "full.textproto"));
  const v1::RunResult a = SimulateStep(fast);
  const v1::RunResult b = SimulateStep(full);
  EXPECT_LT(a.sim().flows(), b.sim().flows());
  EXPECT_NEAR(a.step_time_s(), b.step_time_s(), 0.02 * b.step_time_s());
  EXPECT_NEAR(a.breakdown().exposed_dp_comm_s() + a.breakdown().exposed_tp_comm_s(),
              b.breakdown().exposed_dp_comm_s() + b.breakdown().exposed_tp_comm_s(), 0.02 * b.step_time_s());
}

}  // namespace
}  // namespace clustersim::sim

namespace clustersim::sim {
namespace {

// A run estimated to need more memory than options.memory_limit_gb is refused before it starts, saying how much.
TEST(Simulation, MemoryGuardRefusesRunsThatWouldNotFit) {
  const std::string text = R"(accelerator { name: "H100-SXM" }
cluster { num_gpus: 1024 }
workload { model { preset: "llama3_8b" } parallelism { tp: 8 global_batch_size: 128 } }
options { memory_limit_gb: 0.01 }
)";
  const v1::Scenario s = ResolveScenario(ParseScenario(text, "textproto", "guard.textproto"));
  EXPECT_GT(EstimateRunMemoryGb(s), 0.01);
  try {
    SimulateStep(s);
    FAIL() << "expected the memory guard to refuse the run";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("would need about"), std::string::npos) << e.what();
  }
}

// A run whose platform fits but whose phases do not (fidelity "full" solves every group, 16,384 worker actors) ends
// with the guard's InputError from inside the SimGrid process, not with the process killed.
TEST(Simulation, MemoryGuardStopsPhasesThatWouldNotFit) {
  const std::string text = R"(accelerator { name: "H100-SXM" }
cluster { num_gpus: 16384 }
workload { model { preset: "llama3_8b" } parallelism { tp: 8 global_batch_size: 2048 } }
options { memory_limit_gb: 0.2 fidelity: "full" }
)";
  const v1::Scenario s = ResolveScenario(ParseScenario(text, "textproto", "phases.textproto"));
  EXPECT_LT(EstimateRunMemoryGb(s), 0.2);
  try {
    SimulateStep(s);
    FAIL() << "expected the phase memory guard to stop the run";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("would reach about"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cluster.num_gpus = 16384"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace clustersim::sim

namespace clustersim::sim {
namespace {

// The same workload on H100, H800, B200 and Ascend 910B (workloads/scenarios/compare_*.textproto): step time and
// energy per step order as the specs imply. B200 has ~2.3x H100's dense BF16 at 1.4x the power; H800 is an H100 with
// less than half the NVLink bandwidth, so TP8 traffic costs more; the 910B has about a third of H100's BF16 peak at
// ~60% of its power, so it is slowest and, running ~3x longer, spends the most energy.
TEST(Simulation, ChipComparisonOrdersAsTheSpecsImply) {
  std::map<std::string, v1::RunResult> r;
  for (const char* chip : {"h100sxm", "h800", "b200", "ascend910b"}) {
    const std::string path = std::string(CLUSTERSIM_SOURCE_DIR) + "/workloads/scenarios/compare_" + chip + ".textproto";
    r[chip] = SimulateStep(ResolveScenario(LoadScenarioFile(path)));
  }
  EXPECT_LT(r["b200"].step_time_s(), r["h100sxm"].step_time_s());
  EXPECT_LT(r["h100sxm"].step_time_s(), r["h800"].step_time_s());
  EXPECT_LT(r["h800"].step_time_s(), r["ascend910b"].step_time_s());
  EXPECT_GT(r["h800"].breakdown().exposed_tp_comm_s(), r["h100sxm"].breakdown().exposed_tp_comm_s());
  EXPECT_LT(r["b200"].power().energy_per_step_j(), r["h100sxm"].power().energy_per_step_j());
  EXPECT_LT(r["h100sxm"].power().energy_per_step_j(), r["h800"].power().energy_per_step_j());
  EXPECT_LT(r["h800"].power().energy_per_step_j(), r["ascend910b"].power().energy_per_step_j());
}

}  // namespace
}  // namespace clustersim::sim

namespace clustersim::sim {
namespace {

// options.trace_ranks keeps the timeline of the listed ranks' stages only.
TEST(Simulation, TraceRanksSelectTheTimelineStages) {
  const std::string base = R"(accelerator { name: "H100-SXM" }
cluster { num_gpus: 32 }
workload { model { preset: "llama3_8b" seq_len: 2048 } parallelism { tp: 8 pp: 4 global_batch_size: 8 } }
)";
  const v1::RunResult all = SimulateStep(ResolveScenario(ParseScenario(base, "textproto", "a.textproto")));
  const v1::RunResult one = SimulateStep(ResolveScenario(
      ParseScenario(base + "options { trace_ranks: 17 trace_ranks: 18 }\n", "textproto", "b.textproto")));
  std::set<uint32_t> stages_all, stages_one;
  for (const auto& e : all.timeline()) stages_all.insert(e.stage());
  for (const auto& e : one.timeline()) stages_one.insert(e.stage());
  EXPECT_EQ(stages_all.size(), 4u);
  EXPECT_EQ(stages_one, std::set<uint32_t>{2});  // ranks 17 and 18: stage 17 / (8 x 1 x 1) = 2
  EXPECT_EQ(all.step_time_s(), one.step_time_s());
}

TEST(Simulation, DeepEpExchangeReportsDeepEpsAccounting) {
  // EP 16 on 2 nodes: DeepEP's bandwidths are its logical bytes (per destination node / per destination rank, from
  // the same routing) over the simulated time; combine is the mirror image of dispatch.
  const v1::Scenario s = Cluster("", 16);
  CollectiveBenchSpec spec;
  spec.collective = "all_to_all";
  spec.group_size = 16;
  spec.moe = {512, 8, 256, 2, 7392, false, 1};
  const auto d = SimulateCollective(s, spec);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].algorithm, "deepep_normal");
  EXPECT_EQ(d[0].bytes, 512ull * 8 * 7392);
  wl::RoutingInput in;
  in.experts = 256;
  in.top_k = 8;
  in.ep = 16;
  in.tokens_per_rank = 512;
  in.ep_ranks_per_node = 8;
  in.max_nodes_per_token = 2;
  in.sample_tokens = 512;
  const wl::RoutingResult r = wl::RouteTokens(in, 1);
  EXPECT_NEAR(d[0].deepep_rdma_gbyte_per_s * d[0].time_s * 1e9, 512 * r.mean_dest_nodes * 7392, 1);
  EXPECT_NEAR(d[0].deepep_nvl_gbyte_per_s * d[0].time_s * 1e9, 512 * r.mean_dest_ranks * 7392, 1);
  EXPECT_GT(r.mean_dest_nodes, 1.9);  // top-8 of 256 experts nearly always hits both nodes
  spec.moe.combine = true;
  const auto c = SimulateCollective(s, spec);
  EXPECT_NEAR(c[0].time_s, d[0].time_s, 1e-3 * d[0].time_s);
  spec.collective = "all_gather";
  EXPECT_THROW(SimulateCollective(s, spec), InputError);
  spec.collective = "all_to_all";
  spec.moe.experts = 250;  // not a multiple of the group
  EXPECT_THROW(SimulateCollective(s, spec), InputError);
}

// Progress travels from the simulation process to the caller's function: the stages in order, the phase solves
// nested in the third, each level ending complete; a function that throws stops the run with its exception.
TEST(Simulation, ProgressComesBackFromTheSimulationProcess) {
  const v1::Scenario s = Cluster("", 32,
                                 "workload { model { preset: \"llama3_8b\" seq_len: 4096 } parallelism { tp: 8 pp: 2 "
                                 "global_batch_size: 32 } }\n");
  std::vector<std::vector<ProgressLevel>> seen;
  const v1::RunResult r = SimulateStep(s, "", [&seen](const std::vector<ProgressLevel>& l) { seen.push_back(l); });
  ASSERT_FALSE(seen.empty());
  std::vector<std::string> stages;
  bool solves_done = false;
  for (const auto& u : seen) {
    EXPECT_EQ(u[0].what, "stage");
    EXPECT_EQ(u[0].total, 4u);
    if (!u[0].item.empty() && (stages.empty() || stages.back() != u[0].item)) stages.push_back(u[0].item);
    if (u.size() == 2) {
      EXPECT_EQ(u[1].what, "phase solves");
      EXPECT_EQ(u[0].item, "communication and step");
      solves_done = solves_done || (u[1].done == u[1].total && u[1].total > 0);
    }
  }
  EXPECT_EQ(stages,
            (std::vector<std::string>{"step program", "platform of 32 GPUs", "communication and step", "accounting"}));
  EXPECT_TRUE(solves_done);
  EXPECT_EQ(r.step_time_s(), SimulateStep(s).step_time_s());  // watching does not change the result
  struct Stop {};
  EXPECT_THROW(SimulateStep(s, "",
                            [](const std::vector<ProgressLevel>& l) {
                              if (l.size() == 2) throw Stop{};
                            }),
               Stop);
}

// The result states the precision the compute ran in: an FP8 request on a chip without an FP8 peak runs as BF16.
TEST(Simulation, EffectivePrecisionIsReported) {
  v1::Scenario s = Cluster("", 16);
  s.mutable_workload()->set_precision("fp8");
  EXPECT_EQ(SimulateStep(s).effective_precision(), "fp8");
  s.mutable_accelerator()->set_fp8_tflops(0);
  EXPECT_EQ(SimulateStep(s).effective_precision(), "bf16");
}

}  // namespace
}  // namespace clustersim::sim
