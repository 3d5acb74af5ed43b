// Report tests: the result JSON round-trips through Protobuf's parser (it is the schema), unknown fields are
// rejected, and files are written atomically.
#include "results/report.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/error.h"

namespace clustersim::results {
namespace {

v1::RunResult Sample() {
  v1::RunResult r;
  r.set_clustersim_version("test");
  r.mutable_scenario()->set_name("sample");
  r.mutable_scenario()->mutable_cluster()->set_num_gpus(64);
  r.set_step_time_s(1.25);
  r.mutable_breakdown()->set_compute_s(1.0);
  r.set_mfu(0.41);
  v1::CommStat* c = r.add_comms();
  c->set_kind("tp");
  c->set_bytes_per_rank(1ull << 40);
  v1::LinkClassUsage* u = r.add_link_usage();
  u->set_kind("scale_up");
  u->set_avg_utilization(0.25);
  return r;
}

TEST(Report, JsonRoundTripsThroughTheSchema) {
  const v1::RunResult r = Sample();
  const std::string json = ToJson(r);
  EXPECT_NE(json.find("\"step_time_s\": 1.25"), std::string::npos) << json;
  const v1::RunResult back = FromJson(json, "r.json");
  EXPECT_EQ(back.SerializeAsString(), r.SerializeAsString());
  EXPECT_EQ(ToJson(back), json);  // deterministic
}

TEST(Report, UnknownFieldsAreRejected) {
  EXPECT_THROW(FromJson(R"({"step_time_s": 1, "speed": 2})", "r.json"), InputError);
}

TEST(Report, OutputsAreWrittenWhole) {
  const std::string dir = testing::TempDir() + "/report_test_out";
  std::filesystem::remove_all(dir);
  WriteRunOutputs(dir, Sample());
  EXPECT_TRUE(std::filesystem::exists(dir + "/result.json"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/summary.txt"));
  std::ifstream in(dir + "/result.json");
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(FromJson(ss.str(), "result.json").step_time_s(), 1.25);
}

TEST(Report, SummaryPrintsTheNetworkPerTier) {
  v1::RunResult r = Sample();
  v1::TopologySummary& t = *r.mutable_topology();
  t.set_scale_up_in_accelerator(true);
  v1::NetworkTier* up = t.add_tiers();
  up->set_tier("scale_up");
  up->set_capex_usd(4e6);
  up->set_power_w(57600);
  up->set_embodied_kgco2e(43200);
  v1::NetworkTier* optics = t.add_tiers();
  optics->set_tier("optics");
  optics->set_capex_usd(2.1e8);
  optics->set_power_w(3.4e6);
  const std::string text = SummaryText(r);
  EXPECT_NE(text.find("network   per tier:"), std::string::npos) << text;
  EXPECT_NE(text.find("scale_up  capex"), std::string::npos) << text;
  EXPECT_NE(text.find("57.60 kW"), std::string::npos) << text;
  EXPECT_NE(text.find("subtracted there"), std::string::npos) << text;
  EXPECT_NE(text.find("optics    capex"), std::string::npos) << text;
  EXPECT_EQ(NetworkTierLines(v1::TopologySummary(), "  "), "");
}

TEST(Report, SummaryPrintsAPrecisionFallbackAndTheCostOfOwnership) {
  v1::RunResult r = Sample();
  r.mutable_scenario()->mutable_accelerator()->set_name("Ascend-910C");
  r.mutable_scenario()->mutable_workload()->set_precision("fp8");
  r.set_effective_precision("bf16");
  r.mutable_cost()->set_capex_usd(2.5e9);
  r.mutable_cost()->set_accelerators_usd(2e9);
  r.mutable_cost()->set_network_usd(0.5e9);
  r.mutable_cost()->set_opex_usd_per_year(1.2e8);
  r.mutable_cost()->set_energy_usd_per_year(1.2e8);
  r.mutable_cost()->set_tco_usd(3.1e9);
  r.mutable_cost()->set_lifetime_years(5);
  const std::string text = SummaryText(r);
  EXPECT_NE(text.find("(fp8 requested, runs as bf16: Ascend-910C has no FP8 peak)"), std::string::npos) << text;
  EXPECT_NE(text.find("cost      capex $2.50B (accelerators $2.00B, hosts -, network $500.00M"), std::string::npos)
      << text;
  EXPECT_NE(text.find("TCO $3.10B over 5 years"), std::string::npos) << text;
  r.set_effective_precision("fp8");
  EXPECT_NE(SummaryText(r).find("(fp8),"), std::string::npos);  // no fallback: nothing to say
}


}  // namespace
}  // namespace clustersim::results
