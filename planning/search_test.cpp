// Parallelism search on a public case: NeMo 24.12's Llama-3-70B on 64 H100 (tests/validation), whose scenario holds
// the published plan (tp 4, cp 2, pp 4, vpp 5, dp 2, mbs 1). The search must find that plan or one within a few
// percent of its simulated throughput.
#include "planning/search.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "common/error.h"
#include "planning/goal.h"
#include "planning/run.h"
#include "results/validation.h"
#include "workloads/generator.h"
#include "workloads/plan.h"

namespace clustersim::planning {
namespace {

v1::Scenario PublicCase() {
  const results::LoadedCase c = results::LoadCase(std::string(CLUSTERSIM_SOURCE_DIR) +
                                                  "/tests/validation/nemo2412_llama3_70b_64gpu_fp8.textproto");
  sim::LoadedScenario l;
  l.scenario = c.spec.scenario();
  l.file = c.file;
  return ResizedScenario(l, l.scenario.cluster().num_gpus(), "", 1e12);
}

// The candidates of `s` with micro-batch size 1.
std::vector<v1::Parallelism> Mbs1Plans(const v1::Scenario& s) {
  SearchOptions o;
  o.micro_batch_sizes = {1};
  uint64_t valid = 0;
  return EnumeratePlans(s, o, &valid);
}

TEST(PlanSearch, EnumeratedPlansAreValidFitAndIncludeThePublishedShape) {
  const v1::Scenario s = PublicCase();
  uint64_t valid = 0;
  const std::vector<v1::Parallelism> plans = EnumeratePlans(s, {}, &valid);
  ASSERT_GT(plans.size(), 10u);
  EXPECT_GE(valid, plans.size());
  bool published = false;
  for (const v1::Parallelism& p : plans) {
    v1::Scenario c = s;
    *c.mutable_workload()->mutable_parallelism() = p;
    EXPECT_NO_THROW(wl::ValidatePlan(c.workload(), 64, "t")) << PlanLabel(p);
    EXPECT_LE(PlanMemoryGb(c), s.accelerator().hbm_gb()) << PlanLabel(p);
    EXPECT_EQ(uint64_t{p.tp()} * p.cp() * p.pp() * p.dp(), 64u);
    published |= PlanLabel(p) == "tp4 cp2 pp4 vpp5 dp2 mbs1 zero1 rc=none";
  }
  EXPECT_TRUE(published);
}

// The shapes are evaluated by several workers; each result goes to its own slot, so the plans, their order, memory and
// estimates are the same with one worker or three.
TEST(PlanSearch, EnumerationDoesNotDependOnTheWorkers) {
  const v1::Scenario s = PublicCase();
  SearchOptions one;
  one.threads = 1;
  SearchOptions three = one;
  three.threads = 3;
  uint64_t valid1 = 0, valid3 = 0;
  const std::vector<v1::Parallelism> a = EnumeratePlans(s, one, &valid1);
  const std::vector<v1::Parallelism> b = EnumeratePlans(s, three, &valid3);
  EXPECT_EQ(valid1, valid3);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].SerializeAsString(), b[i].SerializeAsString()) << i;
}

// A plan with many micro-batches per pipeline is estimated from two shorter programs (EstimatePlan): the
// extrapolated step and the memory match the whole program's. 400 micro-batches on tp4 cp2 pp4 vpp5 dp2 (sampled
// with 40 and 80); 40 micro-batches are built whole and match exactly.
TEST(PlanSearch, SampledMicrobatchesEstimateLikeTheWholeProgram) {
  v1::Scenario s = PublicCase();
  for (const uint32_t batch : {800u, 80u}) {
    SCOPED_TRACE(batch);
    s.mutable_workload()->mutable_parallelism()->set_global_batch_size(batch);
    const wl::StepProgram whole = wl::BuildStepProgram(s.workload(), 64, 8, s.seed());
    ASSERT_EQ(whole.microbatches, batch / 2);
    const PlanEstimate e = EstimatePlan(s);
    const double exact = EstimateStepS(s, whole);
    EXPECT_NEAR(e.estimate_s, exact, (batch > 400 ? 1e-3 : 1e-12) * exact);
    EXPECT_NEAR(e.memory_gb, PlanMemoryGb(s), 1e-9 * PlanMemoryGb(s));
  }
}

// A scenario's zero3_implementation goes to the ZeRO-3 candidates only (a ZeRO-1 plan naming it would be invalid),
// and the estimate runs ZeRO-3 at that implementation's rates.
TEST(PlanSearch, Zero3ImplementationGoesToZero3CandidatesOnly) {
  v1::Scenario s = PublicCase();
  s.mutable_workload()->mutable_parallelism()->set_zero_stage(3);
  s.mutable_workload()->mutable_parallelism()->set_zero3_implementation("deepspeed_2021");
  uint64_t valid = 0;
  const std::vector<v1::Parallelism> plans = EnumeratePlans(s, {}, &valid);
  ASSERT_FALSE(plans.empty());
  int zero3 = 0;
  for (const v1::Parallelism& p : plans) {
    EXPECT_EQ(p.zero3_implementation(), p.zero_stage() == 3 ? "deepspeed_2021" : "") << PlanLabel(p);
    if (p.zero_stage() != 3 || ++zero3 > 4) continue;  // estimate a few
    v1::Scenario c = s;
    *c.mutable_workload()->mutable_parallelism() = p;
    v1::Scenario n = c;
    n.mutable_workload()->mutable_parallelism()->clear_zero3_implementation();
    const double slow = EstimateStepS(c, wl::BuildStepProgram(c.workload(), 64, 8, c.seed()));
    const double fast = EstimateStepS(n, wl::BuildStepProgram(n.workload(), 64, 8, n.seed()));
    EXPECT_GT(slow, 1.2 * fast) << PlanLabel(p);  // compute / 0.7 dominates; pipeline transfers are not scaled
  }
  EXPECT_GT(zero3, 0);
}

// The recipe's all-to-all overlap is carried to every candidate where Megatron-LM allows it (wl::A2aOverlapConflict):
// not on 1F1B pipelines (pp > 1, vpp 1) nor with full recompute, which keep the plan with the overlap off instead of
// dropping it. The public case with its MLP made a MoE of 8 experts of the same total width.
TEST(PlanSearch, A2aOverlapOnlyWhereTheScheduleAllowsIt) {
  v1::Scenario s = PublicCase();
  v1::Model* m = s.mutable_workload()->mutable_model();
  m->set_kind("moe");
  m->set_routed_experts(8);
  m->set_top_k(1);
  m->set_expert_ffn_hidden(m->ffn_hidden() / 8);
  s.mutable_workload()->mutable_parallelism()->set_overlap_moe_a2a(true);
  const std::vector<v1::Parallelism> plans = Mbs1Plans(s);
  int overlapped = 0, one_f_one_b = 0;
  for (const v1::Parallelism& p : plans) {
    if (p.ep() < 2) continue;
    const bool allowed = (p.pp() == 1 || p.vpp() > 1) && p.recompute() != "full";
    EXPECT_EQ(p.overlap_moe_a2a(), allowed) << PlanLabel(p);
    overlapped += p.overlap_moe_a2a();
    one_f_one_b += p.pp() > 1 && p.vpp() == 1;
  }
  EXPECT_GT(overlapped, 0);
  EXPECT_GT(one_f_one_b, 0);
}

// A DualPipe recipe keeps DualPipe on the candidates that can run it (pp > 1, vpp 1, at least 2 pp micro-batches
// and 2 pp layers);
// the others stay 1F1B or interleaved, and every candidate validates.
TEST(PlanSearch, DualPipeRecipeKeepsDualPipeWhereItRuns) {
  v1::Scenario s = PublicCase();
  v1::Parallelism* g = s.mutable_workload()->mutable_parallelism();
  g->set_vpp(1);
  g->set_schedule("dualpipe");
  const std::vector<v1::Parallelism> plans = Mbs1Plans(s);
  int dualpipe = 0;
  for (const v1::Parallelism& p : plans) {
    const uint64_t micro = p.global_batch_size() / (uint64_t{p.dp()} * p.micro_batch_size());
    const bool runs = p.pp() > 1 && p.vpp() <= 1 && micro >= 2ull * p.pp() &&
                      2ull * p.pp() <= s.workload().model().layers();  // two virtual stages per rank
    EXPECT_EQ(p.schedule() == "dualpipe", runs) << PlanLabel(p);
    dualpipe += p.schedule() == "dualpipe";
  }
  EXPECT_GT(dualpipe, 0);
}

// A recipe's custom pipeline layout (20 virtual stages here: the public case's pp 4 x vpp 5) is kept on the candidates
// with 20 virtual stages; the others split evenly, and every candidate validates.
TEST(PlanSearch, CustomLayoutGoesToCandidatesWithItsStageCount) {
  v1::Scenario s = PublicCase();
  s.mutable_workload()->mutable_parallelism()->set_pipeline_model_parallel_layout("Et*3|(t*4|)*18t*5L");
  const std::vector<v1::Parallelism> plans = Mbs1Plans(s);
  int kept = 0;
  for (const v1::Parallelism& p : plans) {
    const uint32_t chunks = p.vpp() > 1 ? p.vpp() : p.schedule() == "dualpipe" ? 2 : 1;
    EXPECT_EQ(!p.pipeline_model_parallel_layout().empty(), p.pp() * chunks == 20) << PlanLabel(p);
    kept += !p.pipeline_model_parallel_layout().empty();
    EXPECT_EQ(PlanLabel(p).find(" layout") != std::string::npos, !p.pipeline_model_parallel_layout().empty());
  }
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, static_cast<int>(plans.size()));
}

// A layer count that no power of two divides (Llama 3 405B: 126 layers) still gets deep pipelines: the generator
// splits unevenly, as Meta's 405B run did on PP16, so the search must not skip those depths.
TEST(PlanSearch, UnevenPipelineSplitsAreCandidates) {
  v1::Scenario s = PublicCase();
  s.mutable_workload()->mutable_model()->set_layers(78);  // 2 x 3 x 13: only pp 1 and 2 divide it
  uint64_t valid = 0;
  const std::vector<v1::Parallelism> plans = EnumeratePlans(s, {}, &valid);
  const bool deep = std::any_of(plans.begin(), plans.end(), [](const v1::Parallelism& p) { return p.pp() >= 8; });
  EXPECT_TRUE(deep);
}

// The estimate prices a collective across scale-up domains with NCCL's network hop latency per step, as the
// collective layer does: dropping that latency makes a plan with a data-parallel group spanning every node faster.
TEST(PlanSearch, EstimateCountsTheNetworkHopLatency) {
  v1::Scenario s = PublicCase();
  const wl::StepProgram prog = wl::BuildStepProgram(s.workload(), 64, 8, s.seed());
  const double with = EstimateStepS(s, prog);
  s.mutable_collectives()->set_net_step_latency_ns(1);
  EXPECT_LT(EstimateStepS(s, prog), with);
}

// On a torus the estimate prices collectives on the torus links over the dimensions a group spans as a block, as
// the collective layer runs them: TP8 as an x-ring of an 8 x 4 x 4 torus (two link directions per GPU) is estimated
// slower than TP8 on 2 x 2 x 2 tiles (three dimensions, one direction each: multidim_ring), as the simulation finds
// it (292 and 266 ms; Placement.TorusTilesGiveTensorParallelCubes). The torus links set it, not the NIC bandwidth
// the scenario leaves at its default (a torus has no NIC).
// Llama 3 8B, TP8 PP2, global batch 32, on 128 H100 with `cluster` after num_gpus (fabric, placement).
v1::Scenario Llama8bOn128(const std::string& cluster) {
  const std::string text = "accelerator { name: \"H100-SXM\" }\ncluster { num_gpus: 128 " + cluster +
                           " }\nworkload { model { preset: \"llama3_8b\" seq_len: 2048 } parallelism { tp: 8 pp: 2 "
                           "global_batch_size: 32 zero_stage: 1 } }\n";
  return sim::ResolveScenario(sim::ParseScenario(text, "textproto", "torus.textproto"));
}

TEST(PlanSearch, EstimateOnATorusFollowsTheGroupsBlocks) {
  const auto load = Llama8bOn128;
  const v1::Scenario line = load("scale_out { topology: \"torus\" torus_dims: [8, 4, 4] }");
  const v1::Scenario cube =
      load("scale_out { topology: \"torus\" torus_dims: [8, 4, 4] } placement { torus_tile: [2, 2, 2] }");
  const wl::StepProgram prog = wl::BuildStepProgram(line.workload(), 128, 8, line.seed());
  const double t_line = EstimateStepS(line, prog), t_cube = EstimateStepS(cube, prog);
  EXPECT_LT(t_cube, t_line);
  v1::Scenario slow_nic = cube, slow_links = cube;
  slow_nic.mutable_cluster()->mutable_scale_out()->set_nic_bandwidth_gbps(10);
  slow_links.mutable_cluster()->mutable_scale_up()->set_bandwidth_gbyte_per_s(45);
  EXPECT_EQ(EstimateStepS(slow_nic, prog), t_cube);
  EXPECT_GT(EstimateStepS(slow_links, prog), 1.5 * t_cube);
}

// On a torus the search tries each shape in the scenario's placement and with the cube tile of its innermost group
// (TP x CP here), keeps the better, and simulates the plan with it: the best plans carry their tile, whose volume is
// their TP x CP, and run faster than the same shape in GPU order. On a switched fabric nothing is tiled.
TEST(PlanSearch, TorusPlansCarryTheCubeTileOfTheirInnermostGroup) {
  auto load = [](const std::string& scale_out) { return Llama8bOn128("scale_out { " + scale_out + " }"); };
  SearchOptions o;
  o.top_k = 2;
  o.micro_batch_sizes = {1};
  o.max_vpp = 1;
  const v1::PlanSearchResult r = SearchPlans(load("topology: \"torus\" torus_dims: [8, 4, 4]"), o);
  ASSERT_EQ(r.choices_size(), 2);
  const v1::PlanChoice& best = r.choices(0);
  const v1::Parallelism& p = best.parallelism();
  ASSERT_GT(p.tp() * p.cp(), 1u) << best.label();
  ASSERT_EQ(best.torus_tile_size(), 3) << best.label();
  uint32_t volume = 1;
  for (uint32_t t : best.torus_tile()) volume *= t;
  EXPECT_EQ(volume, std::max(p.tp() * p.cp(), p.ep()));
  EXPECT_NE(best.label().find(" tile "), std::string::npos);
  EXPECT_TRUE(r.given().torus_tile().empty());  // the scenario's own placement: GPU order
  v1::Scenario untiled = load("topology: \"torus\" torus_dims: [8, 4, 4]");
  *untiled.mutable_workload()->mutable_parallelism() = p;
  EXPECT_LT(best.step_time_s(), RunStep(untiled).step_time_s());
  const v1::PlanSearchResult tree = SearchPlans(load("topology: \"fat_tree\" switch_radix: 16"), o);
  for (const v1::PlanChoice& c : tree.choices()) EXPECT_TRUE(c.torus_tile().empty()) << c.label();
}

// The estimate times each compute op as the executor does (ComputeModel::Evaluate(op)): a MoE plan's grouped GEMMs
// carry their shape (Op::gemm_min_dim), so a chip whose grouped GEMMs lose more to narrow experts is estimated
// slower.
TEST(PlanSearch, EstimateTimesGroupedGemmsWithTheirShape) {
  const results::LoadedCase c = results::LoadCase(std::string(CLUSTERSIM_SOURCE_DIR) +
                                                  "/tests/validation/mcore_qwen3_235b_256xh100_bf16.textproto");
  sim::LoadedScenario l;
  l.scenario = c.spec.scenario();
  l.file = c.file;
  v1::Scenario s = ResizedScenario(l, l.scenario.cluster().num_gpus(), "", 1e12);
  s.mutable_workload()->mutable_parallelism()->set_global_batch_size(s.workload().parallelism().dp() *
                                                                     s.workload().parallelism().micro_batch_size() * 8 *
                                                                     std::max(1u, s.workload().parallelism().pp()));
  const wl::StepProgram prog = wl::BuildStepProgram(s.workload(), s.cluster().num_gpus(), 8, s.seed());
  const double tuned = EstimateStepS(s, prog);
  s.mutable_accelerator()->set_grouped_gemm_half_efficiency_elements(
      10 * s.accelerator().grouped_gemm_half_efficiency_elements());
  EXPECT_GT(EstimateStepS(s, prog), tuned * 1.01);
}

TEST(PlanSearch, EstimateTracksTheSimulation) {
  const v1::Scenario s = PublicCase();
  const wl::StepProgram prog = wl::BuildStepProgram(s.workload(), 64, 8, s.seed());
  const double est = EstimateStepS(s, prog);
  EXPECT_NEAR(est / RunStep(s).step_time_s(), 1, 0.25);
}

TEST(PlanSearch, TopChoiceMatchesThePublishedPlanThroughput) {
  const v1::Scenario s = PublicCase();
  SearchOptions o;
  o.top_k = 4;
  const v1::PlanSearchResult r = SearchPlans(s, o);
  ASSERT_EQ(r.choices_size(), 4);
  ASSERT_TRUE(r.given().simulated());
  const v1::PlanChoice& top = r.choices(0);
  EXPECT_EQ(top.rank(), 1u);
  for (int i = 1; i < r.choices_size(); ++i) EXPECT_LE(top.step_time_s(), r.choices(i).step_time_s());
  // The published configuration, or within 3% of its simulated throughput.
  EXPECT_TRUE(top.label() == r.given().label() || top.tokens_per_s() >= 0.97 * r.given().tokens_per_s())
      << top.label() << " " << top.tokens_per_s() << " vs published " << r.given().tokens_per_s();
  // Rendering: the table lists every simulated plan and the given one; JSON names the ranking.
  const std::string table = PlanTable(r);
  EXPECT_NE(table.find(top.label()), std::string::npos);
  EXPECT_NE(table.find("given"), std::string::npos);
  EXPECT_NE(PlanJson(r).find("\"ranked_by\": \"time\""), std::string::npos);
  const std::string csv = PlanCsv(r);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 4 + 1);
}

// A scenario whose own plan does not fit is still searched; the table lists that plan as not simulated, with its
// memory estimate (Llama-3-70B unsharded on 64 GPUs: no ZeRO, no recompute, tp 1).
TEST(PlanSearch, GivenPlanThatDoesNotFitIsListedNotSimulated) {
  v1::Scenario s = PublicCase();
  v1::Parallelism* p = s.mutable_workload()->mutable_parallelism();
  p->set_tp(1);
  p->set_cp(1);
  p->set_pp(1);
  p->set_vpp(1);
  p->clear_schedule();
  p->set_dp(64);
  p->set_zero_stage(0);
  p->set_sequence_parallel(false);
  p->set_tp_comm_overlap(false);
  SearchOptions o;
  o.top_k = 1;
  o.micro_batch_sizes = {1};
  const v1::PlanSearchResult r = SearchPlans(s, o);
  ASSERT_TRUE(r.has_given());
  EXPECT_FALSE(r.given().simulated());
  EXPECT_GT(r.given().memory_gb(), s.accelerator().hbm_gb());
  const std::string table = PlanTable(r);
  EXPECT_NE(table.find("given  tp1 cp1 pp1 dp64 mbs1 zero0 rc=none"), std::string::npos) << table;
  EXPECT_NE(table.find("not simulated"), std::string::npos);
}

TEST(PlanSearch, RejectsUnknownMetric) {
  EXPECT_EQ(ParsePlanMetric("energy", "--by"), PlanMetric::kEnergy);
  EXPECT_THROW(ParsePlanMetric("speed", "--by"), InputError);
}

}  // namespace
}  // namespace clustersim::planning
