// Tests of placement and background traffic (placement.h): the policies, the validation, and their effect on
// simulated collectives and steps against contiguous placement, a hand computation and the full-fidelity solve.
#include "sim/placement.h"

#include <gtest/gtest.h>

#include <set>

#include "common/error.h"
#include "common/input_error_message.h"
#include "sim/scenario_loader.h"
#include "sim/simulation.h"

namespace clustersim::sim {
namespace {

// A 2-leaf fat-tree of 36-port switches at 8:1 (32 NIC ports down, 4 up per leaf: 4 nodes of 8 GPUs per leaf).
std::string Text(const std::string& cluster_extra, uint32_t gpus = 32, const std::string& workload = "") {
  return "name: \"p\"\nseed: 7\naccelerator { name: \"H100-SXM\" }\ncluster { num_gpus: " + std::to_string(gpus) +
         " scale_out { topology: \"fat_tree\" nic_bandwidth_gbps: 400 switch_radix: 36 tiers: 2 oversubscription: 8 "
         "} " +
         cluster_extra + " }\n" +
         (workload.empty() ? "workload { model { preset: \"llama3_8b\" seq_len: 2048 } parallelism { tp: 8 "
                             "global_batch_size: 8 } }\n"
                           : workload);
}

v1::Scenario Load(const std::string& text) { return ResolveScenario(ParseScenario(text, "textproto", "p.textproto")); }

std::string ErrorOf(const std::string& text) {
  return InputErrorMessage([&] { (void)Load(text); });
}

std::vector<uint32_t> NodesOf(const ClusterPlacement& p, uint32_t gpus) {
  std::vector<uint32_t> nodes;
  for (uint32_t r = 0; r < gpus; r += 8) nodes.push_back(p.gpu_of_rank.empty() ? r / 8 : p.gpu_of_rank[r] / 8);
  return nodes;
}

TEST(Placement, PoliciesPickWholeNodes) {
  const ClusterPlacement c = PlaceJobs(Load(Text("placement { fabric_gpus: 64 }")));
  EXPECT_TRUE(c.gpu_of_rank.empty());  // contiguous: rank r on GPU r, as without placement
  EXPECT_EQ(c.fabric_gpus, 64u);
  const ClusterPlacement s = PlaceJobs(Load(Text("placement { fabric_gpus: 64 policy: \"spread\" }")));
  EXPECT_EQ(NodesOf(s, 32), (std::vector<uint32_t>{0, 2, 4, 6}));
  for (uint32_t r = 0; r < 32; ++r) EXPECT_EQ(s.gpu_of_rank[r] % 8, r % 8);  // local order kept
  const std::string frag = "placement { fabric_gpus: 256 policy: \"fragmented\" }";
  const ClusterPlacement f1 = PlaceJobs(Load(Text(frag)));
  const ClusterPlacement f2 = PlaceJobs(Load(Text(frag)));
  EXPECT_EQ(f1.gpu_of_rank, f2.gpu_of_rank);  // seeded
  const ClusterPlacement f3 = PlaceJobs(Load(Text("placement { fabric_gpus: 256 policy: \"fragmented\" seed: 99 }")));
  EXPECT_NE(f1.gpu_of_rank, f3.gpu_of_rank);
  const std::vector<uint32_t> nodes = NodesOf(f1, 32);
  EXPECT_TRUE(std::is_sorted(nodes.begin(), nodes.end()));
  EXPECT_EQ(std::set<uint32_t>(nodes.begin(), nodes.end()).size(), 4u);
  // Half scattered: a run of 2 nodes stays together.
  const ClusterPlacement half =
      PlaceJobs(Load(Text("placement { fabric_gpus: 256 policy: \"fragmented\" fragmentation: 0.5 }")));
  const std::vector<uint32_t> hn = NodesOf(half, 32);
  bool run = false;
  for (size_t i = 1; i < hn.size(); ++i) run = run || hn[i] == hn[i - 1] + 1;
  EXPECT_TRUE(run);
}

TEST(Placement, ScaleUpDomainsAreNotSplit) {
  // GB200 NVL72 domains of 72 GPUs (18 nodes of 4): a 144-GPU job on 432 GPUs takes two whole domains.
  const std::string t =
      "name: \"p\"\naccelerator { name: \"GB200\" }\ncluster { num_gpus: 144 placement { "
      "fabric_gpus: 432 policy: \"spread\" } }\nworkload { model { preset: \"llama3_8b\" } "
      "parallelism { tp: 4 global_batch_size: 36 } }\n";
  const ClusterPlacement p = PlaceJobs(Load(t));
  EXPECT_EQ(p.unit_gpus, 72u);
  for (uint32_t r = 0; r < 144; ++r) EXPECT_EQ(p.gpu_of_rank[r] % 72, r % 72);
  EXPECT_EQ(p.gpu_of_rank[72] / 72 - p.gpu_of_rank[0] / 72, 3u);  // domains 0 and 3 of 6
}

TEST(Placement, BackgroundJobsTakeFreeGpus) {
  const ClusterPlacement p = PlaceJobs(Load(Text(
      "placement { fabric_gpus: 128 policy: \"spread\" } background { name: \"a\" gpus: 40 pattern: \"all_to_all\" "
      "load_fraction: 0.5 } background { gpu_ids: [120, 121, 122] pattern: \"all_reduce\" load_bytes_per_s: 1e9 }")));
  std::set<uint32_t> job;
  for (uint32_t g : p.gpu_of_rank) job.insert(g);
  ASSERT_EQ(p.background.size(), 2u);
  EXPECT_EQ(p.background[0].gpus.size(), 40u);
  for (uint32_t g : p.background[0].gpus) EXPECT_FALSE(job.count(g) || g / 8 == 15) << g;
  for (uint32_t g : p.gpu_of_rank) EXPECT_NE(g / 8, 15u);  // explicit GPUs' node stays free of the job
  EXPECT_DOUBLE_EQ(p.background[0].bytes_per_s, 0.5 * 400e9 / 8);
  EXPECT_EQ(p.background[1].name, "background 1");
}

TEST(Placement, PatternsOfferTheirLoad) {
  BackgroundTraffic t;
  t.gpus = {0, 8, 16, 24, 32};
  t.bytes_per_s = 10;
  std::vector<OfferedFlow> flows;
  for (const char* pattern : {"all_to_all", "all_reduce", "uniform_random"}) {
    t.pattern = pattern;
    t.seed = 3;
    BackgroundFlows(t, flows);
    std::map<uint32_t, double> out;
    std::set<std::pair<uint32_t, uint32_t>> pairs;
    for (const OfferedFlow& f : flows) {
      EXPECT_NE(f.src, f.dst) << pattern;
      out[f.src] += f.bytes_per_s;
      pairs.insert({f.src, f.dst});
    }
    EXPECT_EQ(pairs.size(), flows.size()) << pattern;
    for (uint32_t g : t.gpus) EXPECT_DOUBLE_EQ(out[g], 10) << pattern;
  }
  t.pattern = "all_to_all";
  BackgroundFlows(t, flows);
  EXPECT_EQ(flows.size(), 20u);  // every other GPU below kBackgroundPeers
}

TEST(Placement, RefusesWhatDoesNotFit) {
  EXPECT_NE(ErrorOf(Text("placement { fabric_gpus: 16 }")).find("cluster.placement.fabric_gpus = 16: must hold"),
            std::string::npos);
  const std::string e =
      ErrorOf(Text("placement { fabric_gpus: 64 } background { gpus: 40 pattern: \"all_to_all\" load_fraction: 0.5 }"));
  EXPECT_NE(e.find("cluster.placement.fabric_gpus = 64: cannot hold the job (cluster.num_gpus = 32) and the "
                   "background jobs (40 GPUs in cluster.background)"),
            std::string::npos)
      << e;
  EXPECT_NE(ErrorOf(Text("placement { policy: \"random\" }")).find("cluster.placement.policy"), std::string::npos);
  EXPECT_NE(ErrorOf(Text("placement { fabric_gpus: 64 } background { gpus: 8 pattern: \"all_to_all\" }"))
                .find("give exactly one of load_fraction"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Text("placement { fabric_gpus: 64 } background { gpus: 8 load_fraction: 0.2 }"))
                .find("cluster.background.pattern"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Text("placement { fabric_gpus: 64 } background { gpu_ids: [3, 3] pattern: \"all_reduce\" "
                         "load_fraction: 0.2 }"))
                .find("is listed twice"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Text("placement { fabric_gpus: 64 } background { gpus: 8 pattern: \"all_to_all\" "
                         "load_fraction: 1.5 }"))
                .find("load_fraction = 1.5"),
            std::string::npos);
}

double CollectiveTime(const std::string& cluster_extra, const std::string& collective, const std::string& algo) {
  CollectiveBenchSpec spec;
  spec.collective = collective;
  spec.algorithm = algo;
  spec.sizes_bytes = {uint64_t{1} << 30};
  spec.group_size = 32;
  return SimulateCollective(Load(Text(cluster_extra)), spec).at(0).time_s;
}

// Off the leaf, 8:1: a ring's cross-leaf hops and an all-to-all's cross-leaf half share 4 up-links, where the
// contiguous job never leaves its leaf.
TEST(Placement, SpreadAndFragmentedJobsCrossTheOversubscribedTier) {
  for (const char* coll : {"all_reduce", "all_to_all"}) {
    const std::string algo = std::string(coll) == "all_reduce" ? "ring" : "direct";
    const double contiguous = CollectiveTime("placement { fabric_gpus: 64 }", coll, algo);
    EXPECT_DOUBLE_EQ(contiguous, CollectiveTime("", coll, algo)) << coll;
    const double spread = CollectiveTime("placement { fabric_gpus: 64 policy: \"spread\" }", coll, algo);
    const double fragmented =
        CollectiveTime("placement { fabric_gpus: 128 policy: \"fragmented\" seed: 5 }", coll, algo);
    EXPECT_GT(spread, 1.5 * contiguous) << coll;
    EXPECT_LT(spread, 8 * contiguous) << coll;
    EXPECT_GT(fragmented, 1.5 * contiguous) << coll;
    EXPECT_LT(fragmented, 8 * contiguous) << coll;
  }
}

// The job spread over both leaves (2 nodes each), a 32-GPU background all-to-all on the other 4 nodes. Per leaf
// its 16 GPUs offer 0.5 x 50 GB/s x 16/31 off the leaf = 206 GB/s to the 4 x 47.5 = 190 GB/s up-links: it is
// slowed to fill them and keeps half of each (95 GB/s). The job's ring, bound by those up-links, runs on half of
// them: 2x slower. At 20% it offers 82.6 GB/s and leaves 107.4: 190 / 107.4 = 1.77x.
TEST(Placement, BackgroundAllToAllSlowsACrossLeafRingAsByHand) {
  const std::string spread = "placement { fabric_gpus: 64 policy: \"spread\" } ";
  const double alone = CollectiveTime(spread, "all_reduce", "ring");
  const double half = CollectiveTime(spread + "background { gpus: 32 pattern: \"all_to_all\" load_fraction: 0.5 }",
                                     "all_reduce", "ring");
  const double fifth = CollectiveTime(spread + "background { gpus: 32 pattern: \"all_to_all\" load_fraction: 0.2 }",
                                      "all_reduce", "ring");
  EXPECT_NEAR(half / alone, 2.0, 0.05 * 2.0);
  EXPECT_NEAR(fifth / alone, 190.0 / (190.0 - 0.2 * 50 * 0.5 * 16 * 16 / 31 * 2), 0.05 * 1.77);
}

// A training step: placement and background change the step, the exact reductions stay exact (same step as the
// full-fidelity solve), contiguous placement changes nothing, and the result reports the interference.
// Joint traffic on a job placed beyond its own ranks (GPU ids up to the fabric's 128 for a 32-GPU job): the joint
// solves index GPUs, not ranks; the overlapping TP and DP traffic can only slow the step, and reruns agree.
TEST(Placement, JointTrafficOnAFragmentedJob) {
  const std::string work =
      "workload { model { preset: \"llama3_8b\" seq_len: 2048 } parallelism { tp: 8 global_batch_size: 8 } }\n";
  const std::string where = "placement { fabric_gpus: 128 policy: \"fragmented\" }";
  const v1::RunResult separate = SimulateStep(Load(Text(where, 32, work)), "");
  const std::string joint_text = Text(where, 32, work + "options { traffic: \"joint\" }");
  const v1::RunResult joint = SimulateStep(Load(joint_text), "");
  EXPECT_GE(joint.step_time_s(), separate.step_time_s() * (1 - 1e-9));
  EXPECT_EQ(SimulateStep(Load(joint_text), "").step_time_s(), joint.step_time_s());
}

TEST(Placement, StepWithPlacementAndBackground) {
  const std::string work =
      "workload { model { preset: \"llama3_8b\" seq_len: 2048 } parallelism { tp: 8 global_batch_size: 8 } }\n";
  const v1::RunResult today = SimulateStep(Load(Text("", 32, work)), "");
  const v1::RunResult contiguous = SimulateStep(Load(Text("placement { fabric_gpus: 64 }", 32, work)), "");
  EXPECT_EQ(contiguous.step_time_s(), today.step_time_s());
  EXPECT_EQ(contiguous.breakdown().SerializeAsString(), today.breakdown().SerializeAsString());
  // On the same fabric, the whole result but the scenario, the wall-clock statistics and the placement report.
  auto stripped = [](v1::RunResult x) {
    x.clear_scenario();
    x.clear_sim();
    x.clear_shared_cluster();
    return x.SerializeAsString();
  };
  EXPECT_EQ(stripped(SimulateStep(Load(Text("placement { policy: \"contiguous\" }", 32, work)), "")), stripped(today));
  const std::string shared =
      "placement { fabric_gpus: 128 policy: \"fragmented\" } background { gpus: 64 pattern: "
      "\"all_to_all\" load_fraction: 0.5 policy: \"spread\" }";
  const v1::RunResult r = SimulateStep(Load(Text(shared, 32, work)), "");
  const v1::RunResult full = SimulateStep(Load(Text(shared, 32, work + "options { fidelity: \"full\" }")), "");
  EXPECT_NEAR(r.step_time_s(), full.step_time_s(), 1e-9 * full.step_time_s());
  ASSERT_TRUE(r.has_shared_cluster());
  EXPECT_EQ(r.shared_cluster().policy(), "fragmented");
  EXPECT_EQ(r.shared_cluster().fabric_gpus(), 128u);
  ASSERT_EQ(r.shared_cluster().background_size(), 1);
  EXPECT_GT(r.shared_cluster().background(0).links_loaded(), 0u);
  EXPECT_GT(r.shared_cluster().step_time_alone_s(), today.step_time_s());  // fragmented crosses leaves
  EXPECT_GT(r.step_time_s(), r.shared_cluster().step_time_alone_s());
  EXPECT_NEAR(r.shared_cluster().step_time_change(), r.step_time_s() / r.shared_cluster().step_time_alone_s() - 1,
              1e-12);
  const v1::RunResult again = SimulateStep(Load(Text(shared, 32, work)), "");
  EXPECT_EQ(again.step_time_s(), r.step_time_s());
  EXPECT_EQ(again.shared_cluster().SerializeAsString(), r.shared_cluster().SerializeAsString());
}

// A torus of 128 GPUs (4 x 4 x 8 unless `dims`); `placement` goes into the cluster block.
std::string TorusText(const std::string& placement, const std::string& options = "",
                      const std::string& dims = "4, 4, 8") {
  return "name: \"t\"\nseed: 7\naccelerator { name: \"H100-SXM\" }\ncluster { num_gpus: 128 scale_out { topology: "
         "\"torus\" torus_dims: [" +
         dims + "] } " + placement +
         " }\nworkload { model { preset: \"llama3_8b\" seq_len: 2048 } parallelism { tp: 8 pp: 2 global_batch_size: "
         "32 zero_stage: 1 } }\n" +
         options;
}

// Tiles of 2 x 2 x 2: rank r's offset in its tile (x fastest) and the tile's place in the 2 x 2 x 4 grid of tiles.
TEST(Placement, TorusTilesMapRanksToBlocks) {
  const ClusterPlacement p = PlaceJobs(Load(TorusText("placement { torus_tile: [2, 2, 2] }")));
  ASSERT_EQ(p.gpu_of_rank.size(), 128u);
  const std::vector<uint32_t> first(p.gpu_of_rank.begin(), p.gpu_of_rank.begin() + 8);
  EXPECT_EQ(first, (std::vector<uint32_t>{0, 1, 4, 5, 16, 17, 20, 21}));
  EXPECT_EQ(p.gpu_of_rank[8], 2u);    // the next tile along x
  EXPECT_EQ(p.gpu_of_rank[16], 8u);   // then along y
  EXPECT_EQ(p.gpu_of_rank[32], 32u);  // then along z
  EXPECT_EQ(std::set<uint32_t>(p.gpu_of_rank.begin(), p.gpu_of_rank.end()).size(), 128u);
  EXPECT_TRUE(PlaceJobs(Load(TorusText("placement { torus_tile: [4, 1, 1] }"))).gpu_of_rank.empty());  // identity
  EXPECT_FALSE(SharesCluster(Load(TorusText("placement { torus_tile: [2, 2, 2] }"))));
}

TEST(Placement, RefusesTorusTilesThatDoNotFit) {
  EXPECT_NE(ErrorOf(Text("placement { torus_tile: [2, 2] }"))
                .find("cluster.placement.torus_tile = 2x2: needs cluster.scale_out.topology \"torus\""),
            std::string::npos);
  EXPECT_NE(ErrorOf(TorusText("placement { torus_tile: [2, 2] }")).find("needs one entry per"), std::string::npos);
  EXPECT_NE(ErrorOf(TorusText("placement { torus_tile: [3, 2, 2] }"))
                .find("cluster.placement.torus_tile = 3x2x2: each entry must divide its torus dimension (4)"),
            std::string::npos);
  EXPECT_NE(ErrorOf(TorusText("placement { torus_tile: [2, 2, 2] fabric_gpus: 256 }")).find("to own the torus"),
            std::string::npos);
}

// On an 8 x 4 x 4 torus each TP8 group is an x-ring (bidirectional_ring: two link directions out of each GPU); on
// 2 x 2 x 2 tiles it is a cube whose collectives reduce over all three dimensions (multidim_ring: three), and TP's
// exposed time drops by about a third. The symmetry reductions stay exact under the tile placement.
// The plan search's tile for a group of `volume` ranks: the most cube-like block whose entries divide the torus.
TEST(Placement, TorusCubeTilesAreAsCubicAsTheTorusAllows) {
  using V = std::vector<uint32_t>;
  EXPECT_EQ(TorusCubeTile(V{8, 4, 4}, 8), (V{2, 2, 2}));
  EXPECT_EQ(TorusCubeTile(V{32, 32, 64}, 64), (V{4, 4, 4}));
  EXPECT_EQ(TorusCubeTile(V{32, 32, 64}, 16), (V{4, 2, 2}));
  EXPECT_EQ(TorusCubeTile(V{8, 128, 128}, 8), (V{2, 2, 2}));
  EXPECT_EQ(TorusCubeTile(V{6, 4, 4}, 12), (V{3, 2, 2}));  // the largest prime first, then the smallest extents
  EXPECT_EQ(TorusCubeTile(V{2, 4, 4}, 8), (V{2, 2, 2}));
  EXPECT_EQ(TorusCubeTile(V{2, 2, 2}, 16), V{});  // no block of 16 in 8 GPUs
  EXPECT_EQ(TorusCubeTile(V{8, 8, 8}, 3), V{});   // 3 divides no dimension
  EXPECT_EQ(TorusCubeTile(V{8, 8, 8}, 1), V{});
}

TEST(Placement, TorusTilesGiveTensorParallelCubes) {
  const v1::RunResult line = SimulateStep(Load(TorusText("", "", "8, 4, 4")), "");
  const std::string cube = "placement { torus_tile: [2, 2, 2] }";
  const v1::RunResult tiled = SimulateStep(Load(TorusText(cube, "", "8, 4, 4")), "");
  const v1::RunResult full = SimulateStep(Load(TorusText(cube, "options { fidelity: \"full\" }\n", "8, 4, 4")), "");
  EXPECT_FALSE(tiled.has_shared_cluster());
  bool tp_multidim = false;
  for (const v1::CommStat& c : tiled.comms())
    if (c.kind() == "tp") tp_multidim = c.algorithm() == "multidim_ring";
  EXPECT_TRUE(tp_multidim);
  EXPECT_LT(tiled.breakdown().exposed_tp_comm_s(), 0.85 * line.breakdown().exposed_tp_comm_s());
  EXPECT_LT(tiled.step_time_s(), line.step_time_s());
  EXPECT_NEAR(tiled.step_time_s(), full.step_time_s(), 1e-6 * full.step_time_s());
}

}  // namespace
}  // namespace clustersim::sim
