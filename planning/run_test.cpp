// Running scenarios end to end: examples by name, the budget in FLOPs (6·N·D), the cost roll-up and the run's
// power swing carried into the result.
#include "planning/run.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/error.h"
#include "planning/serve.h"
#include "workloads/model.h"

namespace clustersim::planning {
namespace {

TEST(Examples, RunByNameFromAnywhere) {
  const std::vector<std::string> names = ExampleNames();
  ASSERT_FALSE(names.empty());
  EXPECT_NE(std::find(names.begin(), names.end(), "default"), names.end());
  for (const std::string& n : names) {
    const v1::Scenario s = LoadScenario("example:" + n);  // embedded: no file is read
    EXPECT_GT(s.cluster().num_gpus(), 0u) << n;
  }
  EXPECT_EQ(LoadScenario("").name(), LoadScenario("example:default").name());
  try {
    (void)LoadScenario("example:nope");
    FAIL() << "accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("scenario = \"example:nope\": no such example; examples: "),
              std::string::npos);
  }
}

TEST(Examples, ServingExamplesByName) {
  const std::vector<std::string> names = ServingExampleNames();
  ASSERT_NE(std::find(names.begin(), names.end(), "default"), names.end());
  for (const std::string& n : names) EXPECT_TRUE(LoadServingScenario("example:" + n).has_serving()) << n;
  EXPECT_EQ(LoadServingScenario("").name(), LoadServingScenario("example:default").name());
  const auto message = [](const std::string& path) {
    try {
      (void)LoadServingScenario(path);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  // A training example is found, then refused for its missing serving block; an unknown name lists the examples.
  EXPECT_NE(message("example:moe_dsv3_h800").find("needs a serving block"), std::string::npos);
  EXPECT_NE(message("example:nope").find("no such example"), std::string::npos);
}

sim::LoadedScenario Small(const std::string& facility) {
  return sim::ParseScenario(R"(name: "b"
accelerator { name: "H100-SXM" }
cluster { num_gpus: 64 }
workload { model { preset: "llama3_8b" seq_len: 4096 } parallelism { tp: 8 pp: 2 global_batch_size: 64 } }
facility { )" + facility + " }\n",
                            "textproto", "b.textproto");
}

TEST(Budget, FlopsBecomeTokensBySixNd) {
  const v1::Scenario s = Resolve(Small("training_flops: 1e24"));
  const double n = wl::CountParams(s.workload().model()).active;
  EXPECT_NEAR(n, 8.03e9, 0.05e9);  // Llama-3-8B
  EXPECT_DOUBLE_EQ(FlopsPerToken6ND(s.workload().model()), 6 * n);
  EXPECT_NEAR(s.facility().training_tokens(), 1e24 / (6 * n), 1);
  EXPECT_DOUBLE_EQ(s.facility().training_flops(), 1e24);
  // Resolving again (a result's embedded scenario run again) keeps the same budget.
  sim::LoadedScenario again;
  again.scenario = s;
  again.file = "again";
  EXPECT_DOUBLE_EQ(Resolve(again).facility().training_tokens(), s.facility().training_tokens());
  EXPECT_THROW(Resolve(Small("training_flops: 1e24 training_tokens: 5e12")), InputError);
  EXPECT_THROW(Resolve(Small("training_flops: -1")), InputError);
}

TEST(RunStep, ProjectionStatesItsFlopsAndTheResultCarriesCostAndSwing) {
  const v1::RunResult r = RunStep(Resolve(Small("training_tokens: 1e11 capex_usd_per_mw: 1e7")));
  const v1::Projection& p = r.projection();
  EXPECT_NEAR(p.training_flops(), 6 * p.active_parameters() * 1e11, 1e6);
  // clustersim's own count adds attention: somewhat more than 6·N·D for an 8B model at 4k tokens.
  EXPECT_GT(p.simulated_model_flops(), p.training_flops());
  EXPECT_LT(p.simulated_model_flops(), 1.3 * p.training_flops());
  const v1::CostSummary& c = r.cost();
  EXPECT_GT(c.capex_usd(), c.accelerators_usd());
  EXPECT_NEAR(c.facility_usd(), r.power().facility_peak_w() / 1e6 * 1e7, 1e-3);
  EXPECT_DOUBLE_EQ(c.run_usd(), p.cost_usd());
  // The run's cost amortises every capex line (here the facility too), not only accelerators and network.
  EXPECT_GT(p.cost_usd(), 0);
  const v1::PowerSwing& w = r.power_swing();
  EXPECT_GT(w.step_swing_w(), 0);
  EXPECT_LE(w.step_max_w(), r.power().facility_peak_w() * (1 + 1e-9));
  EXPECT_GT(w.checkpoint_drops_per_hour(), 0);
  EXPECT_GT(w.failure_drops_per_hour(), 0);
  EXPECT_NEAR(w.run_swing_w(), w.step_max_w() - w.idle_w(), 1e-6);
}

TEST(RunStep, PowerFloorCostsEnergyAndNarrowsTheSwing) {
  sim::LoadedScenario l = Small("training_tokens: 1e11");
  l.scenario.mutable_accelerator()->set_power_floor_fraction(0.7);
  const v1::RunResult r = RunStep(Resolve(l));
  const v1::PowerSwing& w = r.power_swing();
  EXPECT_DOUBLE_EQ(w.power_floor_w(), 0.7 * 700);
  EXPECT_GT(w.mitigation_energy_j_per_step(), 0);
  EXPECT_EQ(w.mitigation_saved_j_per_step(), 0);
  EXPECT_LT(w.step_swing_w(), w.unmitigated_swing_w());
}

// A power cap clips the compute draw: the step's energy falls (every reported number stays non-negative).
TEST(RunStep, PowerCapSavesEnergyAndNarrowsTheSwing) {
  sim::LoadedScenario l = Small("training_tokens: 1e11");
  l.scenario.mutable_accelerator()->set_power_cap_w(500);
  const v1::RunResult r = RunStep(Resolve(l));
  const v1::PowerSwing& w = r.power_swing();
  EXPECT_DOUBLE_EQ(w.power_cap_w(), 500);
  EXPECT_GT(w.mitigation_saved_j_per_step(), 0);
  EXPECT_EQ(w.mitigation_energy_j_per_step(), 0);
  EXPECT_LT(w.step_swing_w(), w.unmitigated_swing_w());
}

TEST(ParseSize, BinaryUnits) {
  EXPECT_EQ(ParseSize("1G", "s"), 1ull << 30);
  EXPECT_EQ(ParseSize("64K", "s"), 64ull << 10);
  EXPECT_EQ(ParseSize("4096", "s"), 4096u);
  EXPECT_THROW(ParseSize("1T", "s"), InputError);
}

}  // namespace
}  // namespace clustersim::planning
