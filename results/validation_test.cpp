// Validation runner tests on carbon cases (no simulation needed): tolerance bands, error sign, rendering of misses,
// and the input checks of case files.
#include "results/validation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "common/error.h"

namespace clustersim::results {
namespace {

LoadedCase Carbon(double expected_t, double tol_pct, double tol_abs = 0) {
  LoadedCase loaded;
  loaded.file = "c.textproto";
  v1::ValidationCase& c = loaded.spec;
  c.set_id("c");
  c.set_category("energy_carbon");
  v1::CarbonCase* k = c.mutable_carbon();
  k->set_gpu_hours(1000);
  k->set_power_w_per_gpu(500);   // 0.5 MWh
  k->set_kgco2e_per_kwh(0.4);    // 0.2 t
  v1::Expectation* e = c.add_expected();
  e->set_quantity("tco2e");
  e->set_value(expected_t);
  e->set_tolerance_pct(tol_pct);
  e->set_tolerance_abs(tol_abs);
  return loaded;
}

TEST(Validation, ErrorAndToleranceBands) {
  const auto pass = RunCase(Carbon(0.2, 1));
  ASSERT_EQ(pass.size(), 1u);
  EXPECT_NEAR(pass[0].simulated, 0.2, 1e-12);
  EXPECT_NEAR(pass[0].error_pct, 0, 1e-9);
  EXPECT_TRUE(pass[0].pass);
  const auto miss = RunCase(Carbon(0.25, 10));  // -20%
  EXPECT_NEAR(miss[0].error_pct, -20, 1e-9);
  EXPECT_FALSE(miss[0].pass);
  const auto abs = RunCase(Carbon(0.25, 0, 0.06));  // |0.2 - 0.25| <= 0.06
  EXPECT_TRUE(abs[0].pass);
}

TEST(Validation, MarkdownListsMisses) {
  auto rows = RunCase(Carbon(0.25, 10));
  const std::string md = RenderMarkdown(rows);
  EXPECT_NE(md.find("**miss**"), std::string::npos);
  EXPECT_NE(md.find("- `c` tco2e"), std::string::npos) << md;
  EXPECT_NE(RenderSummary(rows).find("total: 0 pass, 1 miss"), std::string::npos);
}

TEST(Validation, CaseFilesAreChecked) {
  const std::string path = testing::TempDir() + "/case.textproto";
  std::ofstream(path) << "id: \"x\"\nexpected { quantity: \"tco2e\" value: 1 }\ncarbon { gpu_hours: 1 }\n";
  EXPECT_THROW(LoadCase(path), InputError);  // no tolerance
  std::ofstream(path) << "id: \"x\"\nexpected { quantity: \"tco2e\" value: 1 tolerance_pct: 5 }\n";
  EXPECT_THROW(LoadCase(path), InputError);  // neither scenario nor carbon
  std::ofstream(path) << "id: \"x\"\nexpected { quantity: \"tco2e\" value: 1 tolerance_pct: 5 }\ncarbon { }\n";
  EXPECT_THROW(LoadCase(path), InputError);  // no category
  std::ofstream(path) << "id: \"x\" category: \"poetry\"\nexpected { quantity: \"tco2e\" value: 1 tolerance_pct: 5 }\n"
                         "carbon { }\n";
  EXPECT_THROW(LoadCase(path), InputError);  // unknown category
  std::ofstream(path) << "id: \"x\" category: \"energy_carbon\"\nexpected { quantity: \"tco2e\" value: -1 "
                         "tolerance_pct: 5 }\ncarbon { }\n";
  EXPECT_THROW(LoadCase(path), InputError);  // a measured value is positive
  std::ofstream(path) << "id: \"x\" category: \"energy_carbon\"\nexpected { quantity: \"tco2e\" value: 1 "
                         "tolerance_pct: 5 }\ncarbon { }\n";
  EXPECT_EQ(LoadCase(path).spec.id(), "x");
}

TEST(Validation, DeepEpQuantitiesComeFromTheMoeExchange) {
  // 16 H800 on 2 nodes, a small DeepEP dispatch: both DeepEP figures are produced, each its logical bytes over the
  // same simulated time, so their ratio is distinct ranks / distinct nodes per token (between 1 and top_k).
  const std::string path = testing::TempDir() + "/deepep.textproto";
  const std::string scenario =
      "scenario { name: \"d\" accelerator { name: \"H800\" } cluster { num_gpus: 16 scale_out { topology: "
      "\"fat_tree\" nic_bandwidth_gbps: 400 } } workload { model { preset: \"llama3_8b\" } parallelism { "
      "micro_batch_size: 1 global_batch_size: 16 } } }\n";
  const std::string expect =
      "expected { quantity: \"deepep_rdma_gbyte_per_s\" value: 40 tolerance_pct: 10 }\n"
      "expected { quantity: \"deepep_nvl_gbyte_per_s\" value: 100 tolerance_pct: 10 }\n"
      "expected { quantity: \"time_us\" value: 100 tolerance_pct: 10 }\n";
  std::ofstream(path) << "id: \"d\"\ncategory: \"collective\"\n" << scenario
                      << "collective { collective: \"all_to_all\" group_size: 16 moe { tokens: 256 top_k: 8 "
                         "experts: 256 max_nodes_per_token: 2 token_bytes: 7392 } }\n"
                      << expect;
  const auto rows = RunCase(LoadCase(path));
  ASSERT_EQ(rows.size(), 3u);
  for (const ValidationRow& r : rows) EXPECT_FALSE(std::isnan(r.error_pct)) << r.quantity << ": " << r.note;
  const double rdma = rows[0].simulated, nvl = rows[1].simulated, time_us = rows[2].simulated;
  EXPECT_GT(time_us, 0);
  EXPECT_GT(nvl / rdma, 1.0);
  EXPECT_LT(nvl / rdma, 8.0);
  EXPECT_GT(rdma * time_us * 1e3, 256 * 1.9 * 7392);  // about 2 destination nodes per token
  EXPECT_LE(rdma * time_us * 1e3, 256 * 2 * 7392 * (1 + 1e-9));
  // Without a moe block the DeepEP quantities are not produced.
  std::ofstream(path) << "id: \"p\"\ncategory: \"collective\"\n" << scenario
                      << "collective { collective: \"all_to_all\" size_bytes: 1048576 group_size: 16 }\n" << expect;
  const auto plain = RunCase(LoadCase(path));
  EXPECT_TRUE(std::isnan(plain[0].error_pct));
  EXPECT_EQ(plain[0].note, "quantity not produced by this case");
  EXPECT_FALSE(std::isnan(plain[2].error_pct));
}

// A training case whose plan clustersim predicts not to fit in memory (Llama-3 405B on 8 GPUs) is simulated as if it
// fit and is a miss with the memory verdict as its note, not bad input: the measurement says the run happened.
TEST(Validation, APlanPredictedNotToFitIsAMiss) {
  const std::string path = testing::TempDir() + "/nofit.textproto";
  std::ofstream(path) << "id: \"n\"\ncategory: \"training_dense\"\n"
                      << "scenario { name: \"n\" accelerator { name: \"H100-SXM\" } cluster { num_gpus: 8 } "
                         "workload { model { preset: \"llama3_405b\" } parallelism { tp: 8 global_batch_size: 8 } } }\n"
                      << "expected { quantity: \"tokens_per_s_per_gpu\" value: 100 tolerance_pct: 10 }\n";
  const auto rows = RunCase(LoadCase(path));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_FALSE(rows[0].pass);
  EXPECT_FALSE(std::isnan(rows[0].error_pct));
  EXPECT_GT(rows[0].simulated, 0);
  EXPECT_NE(rows[0].note.find("does not fit in memory"), std::string::npos) << rows[0].note;
  EXPECT_NE(rows[0].note.find("H100-SXM has 80 GB"), std::string::npos) << rows[0].note;
  EXPECT_NE(RenderMarkdown(rows).find("| n | tokens_per_s_per_gpu | 100 |"), std::string::npos) << RenderMarkdown(rows);
}

// A topology-effect case: 96 H100 (12 nodes) on a 2-tier fat-tree of 64-port switches, pairs (g, g + 48) exchanging
// 1 GiB at once (a 2-rank broadcast per pair, every pair together). `fabric` is the scale_out block's extra fields.
std::string PairsScenario(const std::string& field, const std::string& fabric) {
  return field +
         " { name: \"p\" accelerator { name: \"H100-SXM\" } cluster { num_gpus: 96 scale_out { topology: "
         "\"fat_tree\" nic_bandwidth_gbps: 400 switch_radix: 64 tiers: 2 " +
         fabric +
         " } } workload { model { preset: \"llama3_8b\" } parallelism { micro_batch_size: 1 global_batch_size: 96 } "
         "} }\n";
}
std::string PairsCase(const std::string& variant_fabric, const std::string& reference_fabric, double expected) {
  return "id: \"t\"\ncategory: \"topology_effect\"\n" + PairsScenario("scenario", variant_fabric) +
         PairsScenario("reference_scenario", reference_fabric) +
         "collective { collective: \"broadcast\" size_bytes: 1073741824 group_size: 2 group_stride: 48 all_groups: "
         "true }\nexpected { quantity: \"ratio_busbw_gbyte_per_s\" value: " +
         std::to_string(expected) +
         " tolerance_pct: 1 }\nexpected { quantity: \"ratio_time_us\" value: 1 tolerance_pct: 1 }\n";
}

TEST(Validation, RatioOfAScenarioToItselfIsOne) {
  const auto rows = RunCase(ParseCase(PairsCase("", "", 1), "same.textproto"));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].quantity, "ratio_busbw_gbyte_per_s");
  EXPECT_EQ(rows[0].category, "topology_effect");
  EXPECT_DOUBLE_EQ(rows[0].simulated, 1.0) << rows[0].note;
  EXPECT_DOUBLE_EQ(rows[1].simulated, 1.0) << rows[1].note;
  EXPECT_TRUE(rows[0].pass && rows[1].pass);
}

// 3:1 leaf oversubscription: a 64-port leaf keeps 48 ports down and 16 up. The 48 GPUs of leaf 0 (6 nodes) each send
// 1 GiB to a partner on another leaf, all at once: 48 flows over 16 uplinks, a third of a NIC each, against a full NIC
// per flow on the non-blocking reference (32 down, 32 up). busbw divides by 3 and the time (1 GiB at 400 Gb/s is
// ~21 ms, against microseconds of latency) triples.
TEST(Validation, LeafOversubscriptionDividesTheCrossLeafBandwidthByItsRatio) {
  const auto rows = RunCase(ParseCase(PairsCase("oversubscription: 3", "", 1.0 / 3), "over.textproto"));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_NEAR(rows[0].simulated, 1.0 / 3, 0.005) << rows[0].note;
  EXPECT_TRUE(rows[0].pass);
  EXPECT_NEAR(rows[1].simulated, 3.0, 0.03) << rows[1].note;
  EXPECT_FALSE(rows[1].pass);  // expected 1 in PairsCase: a miss, with its error
  EXPECT_NEAR(rows[1].error_pct, 200, 3);
}

TEST(Validation, RatioQuantitiesNeedAReferenceScenario) {
  const std::string text = "id: \"r\"\ncategory: \"topology_effect\"\n" + PairsScenario("scenario", "") +
                           "collective { collective: \"broadcast\" size_bytes: 1024 group_size: 2 }\n"
                           "expected { quantity: \"ratio_time_us\" value: 1 tolerance_pct: 1 }\n";
  EXPECT_THROW(ParseCase(text, "noref.textproto"), InputError);
  // A ratio of a quantity that is neither a training nor a collective quantity is unknown.
  const std::string counts =
      PairsCase("", "", 1) + "expected { quantity: \"ratio_switches\" value: 1 tolerance_abs: 0.5 }\n";
  EXPECT_THROW(ParseCase(counts, "counts.textproto"), InputError);
  // Bad input in the reference scenario is reported as such.
  EXPECT_THROW(ParseCase(PairsCase("", "oversubscription: 0.5", 1), "badref.textproto"), InputError);
}

// A ratio of two runs of a plan estimated over the HBM is still scored (both runs use the same plan); the memory
// verdict is reported in the note.
TEST(Validation, ARatioOfAPlanOverTheHbmIsScoredWithTheVerdictInItsNote) {
  const std::string s =
      " { name: \"n\" accelerator { name: \"H100-SXM\" } cluster { num_gpus: 8 } workload { model { "
      "preset: \"llama3_405b\" } parallelism { tp: 8 global_batch_size: 8 } } }\n";
  const auto rows =
      RunCase(ParseCase("id: \"n\"\ncategory: \"topology_effect\"\nscenario" + s + "reference_scenario" + s +
                            "expected { quantity: \"ratio_step_time_s\" value: 1 tolerance_pct: 1 }\n",
                        "nofit_ratio.textproto"));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_DOUBLE_EQ(rows[0].simulated, 1.0);
  EXPECT_TRUE(rows[0].pass);
  EXPECT_NE(rows[0].note.find("does not fit in memory"), std::string::npos) << rows[0].note;
}

}  // namespace
}  // namespace clustersim::results
