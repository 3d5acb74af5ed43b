// Joint traffic (options.traffic "joint"): checks by hand on a NIC that two kinds of traffic share, the sampled joint
// solve against the full union, and whole steps (slower when exchanges overlap on the NICs, unchanged without shared
// links, deterministic).
#include "sim/joint_traffic.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "sim/child_process.h"
#include "sim/scenario_loader.h"
#include "sim/simulation.h"

namespace clustersim::sim {
namespace {

v1::Scenario Scenario(const std::string& text) {
  return ResolveScenario(ParseScenario(text, "textproto", "joint.textproto"));
}

// 16 GPUs on two nodes under one leaf, one 400 Gb/s NIC each.
const char* kTwoNodes =
    "accelerator { name: \"H100-SXM\" }\ncluster { num_gpus: 16 scale_out { topology: \"fat_tree\" "
    "nic_bandwidth_gbps: 400 } }\nworkload { model { preset: \"llama3_8b\" } parallelism { tp: 8 "
    "global_batch_size: 2 } }\n";

// s(a|b) and s(b|a) of an all-to-all over EP and a reduce-scatter over `b_dim` of `bytes` each (CommCostModel::
// JointSlowdown), solved in a child with joint samples of at most `sample` flows (0: every instance), as "ab ba".
std::string SlowdownsBothWays(const v1::Scenario& s, uint32_t dp, uint32_t ep, wl::Dim b_dim, double bytes,
                              uint64_t sample) {
  return RunInChild([&s, dp, ep, b_dim, bytes, sample]() {
    SimWorld world(s, 1e15);
    PhaseSolver solver(world.platform());
    wl::RankLayout layout;
    layout.dp = dp;
    layout.ep = ep;
    CommCostModel costs(solver, world.fabric(), layout, s.collectives(), 2'000'000, false);
    costs.KeepJointPhases(sample);
    double ab = 0, ba = 0;
    world.RunController([&]() {
      (void)costs.Collective(CollectiveKind::kAllToAll, wl::Dim::kEp, 0, bytes);
      (void)costs.Collective(CollectiveKind::kReduceScatter, b_dim, 0, bytes);
      const auto a = CommCostModel::CollectiveKey(CollectiveKind::kAllToAll, wl::Dim::kEp, bytes);
      const auto b = CommCostModel::CollectiveKey(CollectiveKind::kReduceScatter, b_dim, bytes);
      ab = costs.JointSlowdown(a, b);
      ba = costs.JointSlowdown(b, a);
    });
    return std::to_string(ab) + " " + std::to_string(ba);
  });
}

// Two flows leave GPU 0's NIC for the other node: alone, one takes L + S / B; with the other in flight throughout,
// max-min fairness gives it half the NIC: L + 2 S / B, so nearly twice as long for 64 MiB.
TEST(JointTraffic, TwoFlowsOnOneNicShareItEqually) {
  const v1::Scenario s = Scenario(kTwoNodes);
  const std::string out = RunInChild([&s]() {
    SimWorld world(s, 1e15);
    PhaseSolver solver(world.platform());
    double alone = 0;
    std::vector<double> joint;
    world.RunController([&]() {
      const std::vector<Flow> a = {{0, 8, 64.0 * (1 << 20)}};
      const std::vector<Flow> b = {{0, 9, 1e4 * 64.0 * (1 << 20)}};
      alone = solver.SolveParts({&a}).at(0);
      joint = solver.SolveParts({&a, &b});
    });
    char buf[128];
    std::snprintf(buf, sizeof buf, "%.12g %.12g %.12g", alone, joint.at(0), joint.at(1));
    return std::string(buf);
  });
  double alone = 0, a = 0, b = 0;
  ASSERT_EQ(std::sscanf(out.c_str(), "%lf %lf %lf", &alone, &a, &b), 3);
  const double bytes_per_s = 400e9 / 8 * s.collectives().protocol_efficiency();
  EXPECT_NEAR(alone, 64.0 * (1 << 20) / bytes_per_s, 0.01 * alone);
  EXPECT_NEAR(a / alone, 2.0, 0.02);
  EXPECT_GT(b, 100 * a);  // b outlasted a
}

// The slowdown of an EP all-to-all by a DP reduce-scatter in flight, on 16 GPUs over two nodes (EP 16 = DP 16): the
// PXN exchange sends one flow per GPU across its NIC (to the same-rail GPU of the other node) and every ring step of
// the reduce-scatter one flow per channel across the nodes, so each NIC carries one flow of each and max-min gives
// each half: s = 2 by hand (a little less: route latency is not shared).
TEST(JointTraffic, ExchangeUnderReduceScatterTakesTwiceAsLongOnSharedNics) {
  const v1::Scenario s = Scenario(kTwoNodes);
  const std::string out = SlowdownsBothWays(s, 16, 16, wl::Dim::kDp, 256.0 * (1 << 20), 0);
  double ab = 0, ba = 0;
  ASSERT_EQ(std::sscanf(out.c_str(), "%lf %lf", &ab, &ba), 2);
  EXPECT_NEAR(ab, 2.0, 0.1) << out;
  EXPECT_NEAR(ba, 2.0, 0.1) << out;
}

// The sampled joint solve (instances that reach the representative's GPUs, CommCostModel::JointSample) against the
// union of every instance, on 1,024 GPUs: EP 64 all-to-all and the expert-data-parallel reduce-scatter (16 ranks, one
// per EP group), on a non-blocking and a 2:1 fat-tree (where the sample leaves out spine traffic).
TEST(JointTraffic, SampledUnionStaysCloseToTheFullUnion) {
  for (const char* fabric : {"switch_radix: 16", "switch_radix: 16 oversubscription: 2"}) {
    const v1::Scenario s = Scenario(std::string("accelerator { name: \"H100-SXM\" }\ncluster { num_gpus: 1024 "
                                                "scale_out { topology: \"fat_tree\" ") +
                                    fabric +
                                    " } }\nworkload { model { preset: \"llama3_8b\" } parallelism { tp: 8 "
                                    "global_batch_size: 128 } }\n");
    const auto slowdowns = [&s](uint64_t sample) {
      return SlowdownsBothWays(s, 1024, 64, wl::Dim::kEdp, 64.0 * (1 << 20), sample);
    };
    const std::string sampled = slowdowns(2000), full = slowdowns(0);
    double sab = 0, sba = 0, fab = 0, fba = 0;
    ASSERT_EQ(std::sscanf(sampled.c_str(), "%lf %lf", &sab, &sba), 2);
    ASSERT_EQ(std::sscanf(full.c_str(), "%lf %lf", &fab, &fba), 2);
    EXPECT_GT(fab, 1.01) << fabric;  // they do share links
    EXPECT_NEAR(sab, fab, 0.05 * fab) << fabric << ": sampled " << sampled << ", full " << full;
    EXPECT_NEAR(sba, fba, 0.05 * fba) << fabric << ": sampled " << sampled << ", full " << full;
  }
}

v1::RunResult Step(const std::string& workload, const std::string& traffic, uint32_t gpus = 32,
                   const std::string& options = "") {
  return SimulateStep(Scenario("accelerator { name: \"H100-SXM\" }\ncluster { num_gpus: " + std::to_string(gpus) +
                               " scale_out { topology: \"fat_tree\" nic_bandwidth_gbps: 400 } }\n" + workload +
                               "options { traffic: \"" + traffic + "\" " + options + " }\n"));
}

// An MoE step whose EP exchanges (across four nodes) and DP reduce-scatters (overlapped with the backward) share the
// NICs: slower with joint traffic. By hand, two kinds of traffic on one NIC each get at most half of it while they
// overlap, so the step grows by more than nothing and by at most the communication that overlapped (every
// communication of the step, counted once); the breakdown still adds up.
TEST(JointTraffic, MoeExchangeAndGradientReductionOnSharedNicsSlowTheStep) {
  const std::string w =
      "workload { model { preset: \"qwen3_30b_a3b\" } parallelism { tp: 1 ep: 32 global_batch_size: 64 "
      "zero_stage: 1 overlap_moe_a2a: true overlap_grad_reduce: true } }\n";
  const v1::RunResult separate = Step(w, "separate"), joint = Step(w, "joint");
  double comm = 0;
  for (const v1::CommStat& c : separate.comms()) comm += c.count_per_step() * c.time_s();
  const double grown = joint.step_time_s() - separate.step_time_s();
  EXPECT_GT(grown, 1e-4 * separate.step_time_s()) << separate.step_time_s() << " -> " << joint.step_time_s();
  EXPECT_LT(grown, comm);
  EXPECT_GT(joint.breakdown().exposed_ep_comm_s() + joint.breakdown().exposed_dp_comm_s(),
            separate.breakdown().exposed_ep_comm_s() + separate.breakdown().exposed_dp_comm_s());
  EXPECT_EQ(joint.scenario().options().traffic(), "joint");
  // The result says what sharing cost, on the nominal step (every GPU at median speed: stragglers apart): the
  // separate run is the separate pricing's nominal step.
  ASSERT_TRUE(joint.has_joint_traffic());
  EXPECT_FALSE(separate.has_joint_traffic());
  const double nominal_separate = separate.step_time_s() - separate.breakdown().straggler_s();
  const double nominal_joint = joint.step_time_s() - joint.breakdown().straggler_s();
  EXPECT_NEAR(joint.joint_traffic().step_time_separate_s(), nominal_separate, 1e-9 * nominal_separate);
  EXPECT_NEAR(joint.joint_traffic().step_time_change(), nominal_joint / nominal_separate - 1, 1e-9);
  EXPECT_GT(joint.joint_traffic().pairs(), 0u);
  EXPECT_GE(joint.joint_traffic().runs(), 1u);
}

// A dense pipeline without data-parallel overlap: TP collectives on NVLink and pipeline sends on the NICs overlap in
// time but share no link, so the step is unchanged.
TEST(JointTraffic, OverlapWithoutSharedLinksLeavesTheStepUnchanged) {
  const std::string w =
      "workload { model { preset: \"llama3_8b\" seq_len: 2048 } parallelism { tp: 8 pp: 2 global_batch_size: 16 } }\n";
  const v1::RunResult separate = Step(w, "separate", 16), joint = Step(w, "joint", 16);
  EXPECT_NEAR(joint.step_time_s(), separate.step_time_s(), 1e-9 * separate.step_time_s());
}

TEST(JointTraffic, SameInputSameOutput) {
  const std::string w =
      "workload { model { preset: \"qwen3_30b_a3b\" } parallelism { tp: 1 ep: 32 global_batch_size: 64 "
      "zero_stage: 1 overlap_moe_a2a: true overlap_grad_reduce: true } }\n";
  v1::RunResult a = Step(w, "joint"), b = Step(w, "joint");
  a.clear_sim();
  b.clear_sim();
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());
}

}  // namespace
}  // namespace clustersim::sim
