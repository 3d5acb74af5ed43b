// Tests of the serving deployment search (serve_plan.h): candidates at their SLO capacity, ranking, skipped shapes.
#include "planning/serve_plan.h"

#include <gtest/gtest.h>

#include <set>
#include <utility>

#include "common/error.h"
#include "sim/scenario_loader.h"

namespace clustersim::planning {
namespace {

// `gpus` GPUs in nodes of two (TP1 and TP2 candidates); a short window (2 s warm-up, 8 s measured) keeps the ~6
// simulations per candidate fast.
v1::Scenario Fleet(uint32_t gpus, const std::string& model, const std::string& precision, const std::string& pools) {
  const std::string text =
      "name: \"t\"\nseed: 3\naccelerator { name: \"H100-SXM\" }\ncluster { num_gpus: " + std::to_string(gpus) +
      " scale_up { gpus_per_node: 2 domain_size: 2 } }\nworkload { model { preset: \"" + model + "\" } precision: \"" +
      precision + "\" }\nserving { " + pools +
      " traffic { rate_per_s: 20 input_tokens: 2000 output_tokens: 500 } slo { ttft_ms: 1000 tpot_ms: 40 } "
      "warmup_s: 2 duration_s: 8 }\n";
  return sim::ResolveScenario(sim::ParseScenario(text, "textproto", "t.textproto"));
}

const v1::ServeResult& Of(const ServeChoice& c) { return c.result.serving(); }

// Every candidate ends in exactly one of: ranked, not fitting, not binding. Those meeting the SLO come first, in
// ascending cost, each at a rate where it still meets the SLO; the scenario's own rate (20/s) is met, so the best
// deployment serves at least that.
TEST(ServePlan, RanksDeploymentsAtTheirSloCapacity) {
  ServePlanOptions o;
  const ServePlanResult r = SearchServingPlans(Fleet(2, "llama3_8b", "fp8", "pools { tp: 1 }"), o);
  EXPECT_EQ(r.candidates, 10u);  // tp 1, 2 x five batch limits
  EXPECT_EQ(r.ranked.size() + r.not_fitting + r.not_binding, r.candidates);
  EXPECT_EQ(r.not_binding, 1u);  // TP2 at 512 sequences: the TPOT bound keeps the batch below 256
  EXPECT_GE(r.simulations, 2 * r.ranked.size());
  ASSERT_FALSE(r.ranked.empty());
  ASSERT_TRUE(r.ranked[0].meets_slo);
  EXPECT_GE(Of(r.ranked[0]).offered_rate_per_s(), 20);
  for (size_t i = 0; i < r.ranked.size(); ++i) {
    const ServeChoice& c = r.ranked[i];
    if (c.meets_slo) {
      EXPECT_GE(Of(c).slo_attainment(), o.slo_target) << c.label;
      EXPECT_EQ(Of(c).requests_unfinished(), 0u) << c.label;
    }
    if (i == 0) continue;
    EXPECT_FALSE(c.meets_slo && !r.ranked[i - 1].meets_slo);
    if (c.meets_slo) {
      EXPECT_LE(Of(r.ranked[i - 1]).cost_usd_per_m_tokens_blended(), Of(c).cost_usd_per_m_tokens_blended());
    }
  }
  const std::string table = ServePlanTable(r, o);
  EXPECT_NE(table.find("cost per million tokens"), std::string::npos);
  const std::string csv = ServePlanCsv(r);
  EXPECT_EQ(static_cast<size_t>(std::count(csv.begin(), csv.end(), '\n')), r.ranked.size() + 1);
}

TEST(ServePlan, SkipsShapesWhoseWeightsDoNotFit) {
  // Llama-3-70B in BF16 (141 GB of weights) does not fit one 80 GB GPU: the five TP1 candidates are skipped.
  const ServePlanResult r = SearchServingPlans(Fleet(2, "llama3_70b", "bf16", "pools { tp: 2 }"), {});
  EXPECT_EQ(r.not_fitting, 5u);
  for (const ServeChoice& c : r.ranked) EXPECT_GE(c.scenario.serving().pools(0).tp(), 2u) << c.label;
}

// Prefill:decode ratios whose unit fits the GPUs (24 GPUs, units of 8: 1:1, 1:2 and 2:1), each run once (a closed
// loop has no capacity to search); with 64 requests in flight per prefill instance no batch limit above 32 binds.
TEST(ServePlan, SearchesPrefillDecodeRatios) {
  const std::string text =
      "name: \"pd\"\nseed: 3\naccelerator { name: \"H100-SXM\" }\ncluster { num_gpus: 24 }\nworkload { model { "
      "preset: \"qwen3_30b_a3b\" } precision: \"fp8\" }\nserving { pools { role: \"prefill\" instances: 1 "
      "dp_attention: 8 ep: 8 } pools { role: \"decode\" instances: 2 dp_attention: 8 ep: 8 } traffic { arrival: "
      "\"closed\" concurrency: 64 input_tokens: 1000 output_tokens: 200 } slo { ttft_ms: 2000 tpot_ms: 50 } "
      "warmup_s: 2 duration_s: 8 }\n";
  const ServePlanResult r =
      SearchServingPlans(sim::ResolveScenario(sim::ParseScenario(text, "textproto", "pd.textproto")), {});
  EXPECT_EQ(r.candidates, 15u);
  EXPECT_EQ(r.simulations, 6u);  // two batch limits per ratio: the second equals the first
  ASSERT_EQ(r.ranked.size(), 3u);
  std::set<std::pair<uint32_t, uint32_t>> ratios;
  for (const ServeChoice& c : r.ranked) {
    ASSERT_EQ(c.scenario.serving().pools_size(), 2);
    ratios.emplace(c.scenario.serving().pools(0).instances(), c.scenario.serving().pools(1).instances());
    EXPECT_EQ(c.scenario.serving().pools(1).max_batch(), 32u * 8);  // per attention rank x dp_attention
  }
  EXPECT_EQ(ratios, (std::set<std::pair<uint32_t, uint32_t>>{{1, 1}, {1, 2}, {2, 1}}));
}

TEST(ServePlan, RejectsAnSloTargetOutsideZeroToOne) {
  ServePlanOptions o;
  o.slo_target = 1.5;
  EXPECT_THROW(SearchServingPlans(Fleet(2, "llama3_8b", "fp8", "pools { tp: 1 }"), o), InputError);
}

}  // namespace
}  // namespace clustersim::planning
