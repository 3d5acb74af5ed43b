#include "results/csv.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace clustersim::results {
namespace {

// RFC 4180 reader for the tests: rows of fields, quotes honoured.
std::vector<std::vector<std::string>> ReadCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(field);
      field.clear();
    } else if (c == '\n') {
      row.push_back(field);
      field.clear();
      rows.push_back(row);
      row.clear();
    } else {
      field += c;
    }
  }
  EXPECT_TRUE(field.empty() && row.empty()) << "the last line must end with a newline";
  return rows;
}

v1::RunResult Sample(const std::string& name, double step) {
  v1::RunResult r;
  r.set_clustersim_version("0.1.0");
  r.set_seed(9);
  v1::Scenario& s = *r.mutable_scenario();
  s.set_name(name);
  s.mutable_cluster()->set_num_gpus(1024);
  s.mutable_cluster()->mutable_scale_out()->set_topology("fat_tree");
  s.mutable_accelerator()->set_name("H100-SXM");
  s.mutable_workload()->mutable_model()->set_name("llama3_70b");
  s.mutable_workload()->set_precision("bf16");
  v1::Parallelism& p = *s.mutable_workload()->mutable_parallelism();
  p.set_tp(8);
  p.set_cp(1);
  p.set_pp(4);
  p.set_dp(32);
  p.set_ep(1);
  r.set_step_time_s(step);
  r.mutable_breakdown()->set_compute_s(step * 0.75);
  r.mutable_breakdown()->set_exposed_tp_comm_s(step * 0.25);
  r.set_tokens_per_s(123456.5);
  r.set_mfu(0.4);
  r.mutable_power()->set_facility_avg_w(1.5e6);
  r.mutable_power()->set_energy_per_token_j(1.25);
  r.mutable_projection()->set_training_tokens(15e12);
  r.mutable_projection()->set_cost_usd(7.5e6);
  v1::CommStat& c = *r.add_comms();
  c.set_kind("tp");
  c.set_collective("all_reduce");
  c.set_algorithm("ring");
  c.set_bytes_per_rank(1 << 20);
  c.set_group_size(8);
  c.set_count_per_step(160);
  c.set_time_s(5.5e-5);
  c.set_bus_bandwidth_gbyte_per_s(33.25);
  c.set_flows_simulated(8);
  return r;
}

size_t Column(std::string_view name) {
  for (size_t i = 0; i < kStepCsvColumns.size(); ++i)
    if (kStepCsvColumns[i] == name) return i;
  ADD_FAILURE() << "no column " << name;
  return 0;
}

TEST(StepCsv, HeaderIsPinned) {
  const std::string expected =
      "scenario,clustersim_version,seed,gpus,accelerator,topology,model,precision,tp,cp,pp,dp,ep,micro_batch_size,"
      "global_batch_size,step_time_s,compute_s,exposed_tp_comm_s,exposed_cp_comm_s,exposed_pp_comm_s,"
      "exposed_dp_comm_s,exposed_ep_comm_s,pipeline_bubble_s,other_s,tokens_per_s,tokens_per_s_per_gpu,"
      "model_tflops_per_gpu,hardware_tflops_per_gpu,mfu,hfu,gpu_utilization,gpu_avg_w,gpu_peak_w,facility_avg_w,"
      "facility_peak_w,it_total_avg_w,network_total_avg_w,energy_per_step_j,energy_per_token_j,memory_total_gb,"
      "memory_capacity_gb,network_cost_usd,training_tokens,wall_clock_days,gpu_hours,energy_mwh,operational_tco2e,"
      "embodied_tco2e,cost_usd,effective_precision,grid_carbon_g_per_kwh,training_flops,goodput,"
      "wall_clock_days_with_failures,energy_mwh_with_failures,cost_usd_with_failures,capex_usd,opex_usd_per_year,"
      "tco_usd,step_power_swing_w,step_ramp_w_per_s,"
      "serve_input_tokens_per_s,serve_output_tokens_per_s,serve_ttft_p99_s,serve_tpot_p99_s,"
      "serve_slo_attainment,serve_cost_usd_per_m_input_tokens,serve_cost_usd_per_m_output_tokens,"
      "serve_energy_kwh_per_m_output_tokens,straggler_s,link_capacity_s,label\n";
  EXPECT_EQ(StepCsv({}), expected);
}

TEST(StepCsv, LabelColumnTakesTheGivenLabelsOrTheScenarioName) {
  const std::string named = StepCsv({Sample("a", 2.5), Sample("b", 3.0)}, {"H800 on fat_tree", "B200, NVL8"});
  EXPECT_NE(named.find(",H800 on fat_tree\n"), std::string::npos) << named;
  EXPECT_NE(named.find(",\"B200, NVL8\"\n"), std::string::npos) << named;  // quoted: it holds a comma
  const std::string plain = StepCsv({Sample("a", 2.5)});
  EXPECT_EQ(plain.substr(plain.rfind(',') + 1), "a\n");
}

TEST(StepCsv, OneRowPerResultWithEveryColumn) {
  const std::string csv = StepCsv({Sample("a", 2.5), Sample("b", 3.0)});
  const auto rows = ReadCsv(csv);
  ASSERT_EQ(rows.size(), 3u);
  for (const auto& row : rows) EXPECT_EQ(row.size(), kStepCsvColumns.size());
  EXPECT_EQ(rows[1][Column("scenario")], "a");
  EXPECT_EQ(rows[2][Column("scenario")], "b");
  EXPECT_EQ(rows[1][Column("gpus")], "1024");
  EXPECT_EQ(rows[1][Column("accelerator")], "H100-SXM");
  EXPECT_EQ(rows[1][Column("topology")], "fat_tree");
  EXPECT_EQ(rows[1][Column("tp")], "8");
  EXPECT_EQ(rows[1][Column("dp")], "32");
  EXPECT_EQ(rows[2][Column("step_time_s")], "3");
  EXPECT_EQ(rows[1][Column("mfu")], "0.4");
  EXPECT_EQ(rows[1][Column("facility_avg_w")], "1500000");
  EXPECT_EQ(rows[1][Column("energy_per_token_j")], "1.25");
  EXPECT_EQ(rows[1][Column("training_tokens")], "15000000000000");
  EXPECT_EQ(rows[1][Column("cost_usd")], "7500000");
  EXPECT_EQ(rows[1][Column("seed")], "9");
}

TEST(StepCsv, NumbersReadBackExactly) {
  const double step = 2.935535830923593;
  const auto rows = ReadCsv(StepCsv({Sample("x", step)}));
  EXPECT_EQ(std::stod(rows[1][Column("step_time_s")]), step);
  EXPECT_EQ(std::stod(rows[1][Column("compute_s")]), step * 0.75);
  EXPECT_EQ(std::stod(rows[1][Column("tokens_per_s")]), 123456.5);
}

TEST(StepCsv, QuotesFieldsThatNeedIt) {
  const std::string name = "default: 8,192 GPUs, \"fast\"\nsecond line";
  const std::string csv = StepCsv({Sample(name, 1)});
  EXPECT_NE(csv.find("\"default: 8,192 GPUs, \"\"fast\"\"\nsecond line\""), std::string::npos);
  const auto rows = ReadCsv(csv);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1][0], name);
  EXPECT_EQ(rows[1].size(), kStepCsvColumns.size());
}

TEST(CsvField, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(CsvField("plain"), "plain");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField("cr\r"), "\"cr\r\"");
  EXPECT_EQ(CsvField(""), "");
}

TEST(CommsCsv, HeaderIsPinnedAndRowsFollowComms) {
  v1::RunResult r = Sample("x", 1);
  *r.add_comms() = r.comms(0);
  r.mutable_comms(1)->set_kind("dp");
  const auto rows = ReadCsv(CommsCsv(r));
  ASSERT_EQ(rows.size(), 3u);
  const std::vector<std::string> header = {"kind",           "collective",     "algorithm", "bytes_per_rank",
                                           "group_size",     "count_per_step", "time_s",    "bus_bandwidth_gbyte_per_s",
                                           "flows_simulated", "stages"};
  EXPECT_EQ(rows[0], header);
  EXPECT_EQ(rows[1],
            (std::vector<std::string>{"tp", "all_reduce", "ring", "1048576", "8", "160", "5.5e-05", "33.25", "8", ""}));
  EXPECT_EQ(rows[2][0], "dp");
}

}  // namespace
}  // namespace clustersim::results
