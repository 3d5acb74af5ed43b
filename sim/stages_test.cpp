// Tests of the simulation stages (stages.h): each stage's contract, and that the stages composed by hand give the
// result SimulateStep gives.
#include "sim/stages.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>

#include "common/error.h"
#include "sim/accounting.h"
#include "sim/scenario_loader.h"
#include "sim/simulation.h"

namespace clustersim::sim {
namespace {

v1::Scenario Small(const std::string& extra = "") {
  const std::string text =
      "name: \"stages\"\naccelerator { name: \"H100-SXM\" }\ncluster { num_gpus: 32 }\n"
      "workload { model { preset: \"llama3_8b\" seq_len: 2048 } parallelism { tp: 4 pp: 2 global_batch_size: 16 } }\n" +
      extra;
  return ResolveScenario(ParseScenario(text, "textproto", "stages.textproto"));
}

TEST(Stages, SourceNameIsTheFileElseTheScenarioName) {
  const v1::Scenario s = Small();
  EXPECT_EQ(SourceName(s, "a/b.textproto"), "a/b.textproto");
  EXPECT_EQ(SourceName(s, ""), "stages");
}

TEST(Stages, PricingOptionsFollowTheFidelity) {
  const PricingOptions sym = PricingOptionsOf(Small());
  EXPECT_TRUE(sym.reuse_shapes);
  EXPECT_TRUE(sym.reduce_symmetry);
  EXPECT_EQ(sym.max_flows_per_phase, 2'000'000u);
  const PricingOptions full = PricingOptionsOf(Small("options { fidelity: \"full\" }"));
  EXPECT_FALSE(full.reuse_shapes);
  EXPECT_FALSE(full.reduce_symmetry);
  EXPECT_EQ(full.max_flows_per_phase, std::numeric_limits<uint64_t>::max());
}

TEST(Stages, GenerateStepBuildsOneOpListPerPipelineStage) {
  const StepWork work = GenerateStep(Small(), "stages.textproto");
  EXPECT_EQ(work.program.stages.size(), 2u);
  EXPECT_EQ(work.program.layout.tp, 4u);
  EXPECT_GT(work.program.tokens_per_step, 0u);
  EXPECT_GT(work.compute.peak_flops(), 0);
}

// The fused grouped MLP is TransformerEngine's MXFP8 kernel: an FP8 run on a chip with block-scaled tensor cores.
TEST(Stages, FusedGroupedMlpNeedsBlockScaledTensorCores) {
  const std::string moe =
      "name: \"fused\"\naccelerator { name: \"%s\" }\ncluster { num_gpus: 8 }\n"
      "workload { model { preset: \"qwen3_30b_a3b\" seq_len: 2048 } precision: \"fp8\" fused_grouped_mlp: true "
      "parallelism { ep: 8 global_batch_size: 8 } }\n";
  auto scenario = [&](const char* chip) {
    std::string text = moe;
    text.replace(text.find("%s"), 2, chip);
    return ResolveScenario(ParseScenario(text, "textproto", "fused.textproto"));
  };
  EXPECT_GT(GenerateStep(scenario("GB200"), "fused.textproto").program.stages.size(), 0u);
  try {
    GenerateStep(scenario("H100-SXM"), "fused.textproto");
    ADD_FAILURE() << "H100 has no block-scaled tensor cores";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("workload.fused_grouped_mlp = true: needs a chip with block-scaled (MXFP8) "
                                         "tensor cores, accelerator.fp4_tflops > 0 (H100-SXM has no FP4 peak)"),
              std::string::npos)
        << e.what();
  }
}

TEST(Stages, GenerateStepRefusesAPlanOverTheHbmOnlyWhenStrict) {
  v1::Scenario big = Small("");
  big.mutable_accelerator()->set_hbm_gb(1);
  const StepWork work = GenerateStep(big, "stages.textproto");  // runs, flagged by the account stage
  EXPECT_GT(work.program.memory.total(), 1e9);
  big.mutable_options()->set_strict_memory(true);
  EXPECT_THROW(GenerateStep(big, "stages.textproto"), DoesNotFitError);
}

TEST(Stages, APlanOverTheHbmRunsFlagged) {
  v1::Scenario big = Small("");
  big.mutable_accelerator()->set_hbm_gb(2);
  const v1::RunResult r = SimulateStep(big);
  EXPECT_GT(r.step_time_s(), 0);
  EXPECT_NEAR(r.memory().over_hbm_gb(), r.memory().total_gb() - 2, 1e-9);
  EXPECT_GT(r.memory().over_hbm_gb(), 0);
  EXPECT_NEAR(r.memory().total_gb(), r.memory().allocated_gb() + r.memory().overhead_gb(), 1e-9);
}

TEST(Stages, GuardMemoryNamesTheFieldAndTheLimit) {
  v1::Scenario s = Small();
  s.mutable_options()->set_memory_limit_gb(1e-6);
  try {
    GuardMemory(s, "stages.textproto");
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("cluster.num_gpus"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("memory_limit_gb"), std::string::npos) << e.what();
  }
}

// The build and pricing stages composed by hand (inside the simulation child), as a new entry point composes them.
struct ByHand {
  ByHand(const v1::Scenario& s, const ChildChannel& channel)
      : work(GenerateStep(s, "")),
        world(s, work.compute.peak_flops()),
        pricing(world, s, work.program.layout, PricingOptionsOf(s), &channel),
        links(world.platform()),
        variability(s, work.program.layout, false) {
    pricing.costs().SetObserver(&links);
  }
  const StepWork work;
  SimWorld world;
  Pricing pricing;
  LinkLoad links;
  const VariabilityModel variability;
};

// The stages composed by hand, as a new entry point would compose them, give SimulateStep's result.
TEST(Stages, ComposedStagesGiveSimulateStepsResult) {
  const v1::Scenario s = Small();
  v1::RunResult by_hand = RunResultInChild([&s](const ChildChannel& channel) {
    ByHand h(s, channel);
    const ExecutedStep ex = ExecuteStep(h.world, h.work, h.pricing, h.variability, s.workload().steps());
    EXPECT_EQ(ex.first.stages.size(), 2u);
    return AccountStep(s, h.work, ex, h.pricing, h.links, h.world, h.variability);
  });
  v1::RunResult entry = SimulateStep(s);
  for (v1::RunResult* r : {&by_hand, &entry}) {
    r->mutable_sim()->clear_wall_s();
    r->mutable_sim()->clear_peak_rss_mib();
  }
  EXPECT_GT(entry.step_time_s(), 0);
  EXPECT_EQ(by_hand.SerializeAsString(), entry.SerializeAsString());
}

// Link capacity floor (docs/collectives.md): with 10 Gb/s NICs the overlapped exchanges and gradient reductions,
// priced one by one, promise the NICs more bytes than they carry in the simulated step; the step is raised to the
// busiest NIC's bytes / capacity, which then reads 100%, and the increase is reported apart from the bubble. At 400
// Gb/s every link stays within its capacity and nothing is added.
TEST(LinkCapacityFloor, OverpromisedNicsRaiseTheStepToTheirBytes) {
  const std::string w =
      "workload { model { preset: \"qwen3_30b_a3b\" } parallelism { tp: 1 ep: 32 global_batch_size: 64 "
      "zero_stage: 1 overlap_moe_a2a: true overlap_grad_reduce: true } }\n";
  auto run = [&w](int gbps) {
    const std::string text = "accelerator { name: \"H100-SXM\" }\ncluster { num_gpus: 32 scale_out { topology: "
                             "\"fat_tree\" nic_bandwidth_gbps: " +
                             std::to_string(gbps) + " } }\n" + w;
    return SimulateStep(ResolveScenario(ParseScenario(text, "textproto", "floor.textproto")));
  };
  const v1::RunResult slow = run(10), fast = run(400);
  EXPECT_EQ(fast.breakdown().link_capacity_s(), 0);
  const double added = slow.breakdown().link_capacity_s();
  ASSERT_GT(added, 0);
  EXPECT_LT(added, 0.05 * slow.step_time_s());
  double max_util = 0;
  for (const v1::LinkClassUsage& u : slow.link_usage()) max_util = std::max(max_util, u.max_utilization());
  EXPECT_NEAR(max_util, 1.0, 1e-9);
  const v1::TimeBreakdown& b = slow.breakdown();
  const double parts = b.compute_s() + b.exposed_tp_comm_s() + b.exposed_cp_comm_s() + b.exposed_pp_comm_s() +
                       b.exposed_dp_comm_s() + b.exposed_ep_comm_s() + b.pipeline_bubble_s() + b.other_s() +
                       b.straggler_s() + b.link_capacity_s();
  EXPECT_NEAR(parts, slow.step_time_s(), 1e-9 * slow.step_time_s());
}

// Every simulated step is raised to the floor; a step already longer is kept; the nominal increase is recorded.
TEST(LinkCapacityFloor, RaisesEveryStepToTheFloor) {
  ExecutedStep ex;
  ex.nominal.step_time_s = 10;
  ex.first.step_time_s = 11;
  ex.step_times_s = {11, 12.5};
  ApplyLinkCapacityFloor(12, ex);
  EXPECT_DOUBLE_EQ(ex.nominal.floor_added_s, 2);
  EXPECT_DOUBLE_EQ(ex.nominal.step_time_s, 12);
  EXPECT_DOUBLE_EQ(ex.first.step_time_s, 12);
  EXPECT_DOUBLE_EQ(ex.step_times_s[0], 12);
  EXPECT_DOUBLE_EQ(ex.step_times_s[1], 12.5);
  EXPECT_DOUBLE_EQ(ex.first.floor_added_s, 1);
  ApplyLinkCapacityFloor(5, ex);  // below every step: nothing changes
  EXPECT_DOUBLE_EQ(ex.nominal.step_time_s, 12);
  EXPECT_DOUBLE_EQ(ex.nominal.floor_added_s, 2);
}

// The floor's added time is communication for the power model: the same raised step costs more energy than if that
// time were idle, and more than the unraised step.
TEST(LinkCapacityFloor, AddedTimeDrawsCommunicationPower) {
  const v1::Scenario s = Small();
  const v1::RunResult r = RunResultInChild([&s](const ChildChannel& channel) {
    ByHand h(s, channel);
    const ExecutedStep plain = ExecuteStep(h.world, h.work, h.pricing, h.variability, 1);
    ExecutedStep raised = plain;
    ApplyLinkCapacityFloor(1.5 * plain.nominal.step_time_s, raised);
    ExecutedStep idle_end = raised;
    idle_end.first.floor_added_s = 0;
    auto account = [&](const ExecutedStep& e) {
      return AccountStep(s, h.work, e, h.pricing, h.links, h.world, h.variability);
    };
    v1::RunResult out = account(raised);
    // The other two energies travel back in critical_path (the child returns one RunResult).
    out.add_critical_path(std::to_string(account(plain).power().energy_per_step_j()));
    out.add_critical_path(std::to_string(account(idle_end).power().energy_per_step_j()));
    return out;
  });
  ASSERT_GE(r.critical_path_size(), 2);
  const double comm = r.power().energy_per_step_j();
  const double plain = std::stod(r.critical_path(r.critical_path_size() - 2));
  const double idle = std::stod(r.critical_path(r.critical_path_size() - 1));
  EXPECT_GT(idle, plain);
  EXPECT_GT(comm, idle);
  EXPECT_GT(r.breakdown().link_capacity_s(), 0);
}

}  // namespace
}  // namespace clustersim::sim
