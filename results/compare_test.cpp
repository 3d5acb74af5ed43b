#include "results/compare.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/error.h"
#include "results/report.h"

namespace clustersim::results {
namespace {

v1::RunResult Sample(const std::string& name, double step, double mfu, double j_per_token) {
  v1::RunResult r;
  r.mutable_scenario()->set_name(name);
  r.mutable_scenario()->mutable_cluster()->set_num_gpus(512);
  r.mutable_scenario()->mutable_accelerator()->set_name("H100-SXM");
  r.set_step_time_s(step);
  r.mutable_breakdown()->set_compute_s(step * 0.8);
  r.mutable_breakdown()->set_exposed_tp_comm_s(step * 0.2);
  r.set_tokens_per_s(4e6 / step);
  r.set_mfu(mfu);
  r.mutable_power()->set_facility_avg_w(11.79e6);
  r.mutable_power()->set_gpu_avg_w(540);
  r.mutable_power()->set_energy_per_step_j(34.6e6);
  r.mutable_power()->set_energy_per_token_j(j_per_token);
  r.mutable_topology()->set_network_cost_usd(8.4e7);
  return r;
}

const Metric& Find(const std::vector<Metric>& ms, const std::string& label) {
  for (const Metric& m : ms)
    if (m.label == label) return m;
  static const Metric kNone;
  ADD_FAILURE() << "no metric " << label;
  return kNone;
}

bool Has(const std::vector<Metric>& ms, const std::string& label) {
  for (const Metric& m : ms)
    if (m.label == label) return true;
  return false;
}

TEST(CompareMetrics, ValuesAndRatiosPerResult) {
  const auto ms = CompareMetrics({Sample("a", 2.0, 0.40, 2.0), Sample("b", 3.0, 0.30, 1.0)});
  const Metric& step = Find(ms, "Step time");
  ASSERT_EQ(step.value.size(), 2u);
  EXPECT_DOUBLE_EQ(step.value[1], 3.0);
  EXPECT_EQ(step.text[0], "2.000 s");
  EXPECT_EQ(RatioText(step, 1), "1.50x");
  EXPECT_EQ(RatioText(Find(ms, "MFU"), 1), "0.75x");
  EXPECT_EQ(Find(ms, "MFU").text[1], "30.0%");
  EXPECT_EQ(RatioText(Find(ms, "Energy per token"), 1), "0.50x");
  EXPECT_EQ(RatioText(Find(ms, "Tokens/s"), 1), "0.67x");
  EXPECT_EQ(RatioText(Find(ms, "Scenario"), 1), "-") << "text rows have no ratio";
  EXPECT_EQ(RatioText(step, 0), "1.00x");
  EXPECT_EQ(RatioText(step, 5), "-");
}

TEST(CompareMetrics, ClusterSizeHasThousandsSeparators) {
  v1::RunResult r = Sample("a", 2.0, 0.40, 2.0);
  r.mutable_scenario()->mutable_cluster()->set_num_gpus(98304);
  EXPECT_EQ(Find(CompareMetrics({r}), "Cluster").text[0], "98,304 x H100-SXM");
}

TEST(CompareMetrics, SmallRatiosKeepTwoSignificantDigits) {
  const auto ms = CompareMetrics({Sample("a", 100.0, 0.4, 1), Sample("b", 1.7, 0.4, 1)});
  EXPECT_EQ(RatioText(Find(ms, "Step time"), 1), "0.017x");
}

TEST(CompareMetrics, ZeroBaselines) {
  Metric m;
  m.value = {0, 0, 2};
  EXPECT_EQ(RatioText(m, 1), "1.00x");
  EXPECT_EQ(RatioText(m, 2), "-");
}

TEST(CompareMetrics, OmitsBreakdownTermsZeroEverywhere) {
  v1::RunResult a = Sample("a", 2, 0.4, 1);
  v1::RunResult b = Sample("b", 2, 0.4, 1);
  EXPECT_FALSE(Has(CompareMetrics({a, b}), "Exposed EP comm"));
  b.mutable_breakdown()->set_exposed_ep_comm_s(0.1);
  const auto ms = CompareMetrics({a, b});
  ASSERT_TRUE(Has(ms, "Exposed EP comm"));
  EXPECT_TRUE(Find(ms, "Exposed EP comm").indent);
  EXPECT_EQ(RatioText(Find(ms, "Exposed EP comm"), 1), "-");
  EXPECT_TRUE(Has(ms, "Compute"));
}

TEST(CompareMetrics, ProjectionOnlyWithATokenBudget) {
  v1::RunResult a = Sample("a", 2, 0.4, 1);
  EXPECT_FALSE(Has(CompareMetrics({a}), "Wall-clock time"));
  a.mutable_projection()->set_training_tokens(15e12);
  a.mutable_projection()->set_wall_clock_days(30.4);
  a.mutable_projection()->set_gpu_hours(5972362.9);
  a.mutable_projection()->set_cost_usd(7.02e6);
  const auto ms = CompareMetrics({a});
  EXPECT_EQ(Find(ms, "Wall-clock time").text[0], "30.4 days");
  EXPECT_EQ(Find(ms, "Training tokens").text[0], "15 T");
  EXPECT_EQ(Find(ms, "GPU-hours").text[0], "5,972,363");
  EXPECT_EQ(Find(ms, "Cost").text[0], "$7.02M");
}

TEST(CompareMetrics, DaysWithFailuresGridIntensityAndCostOfOwnership) {
  v1::RunResult a = Sample("a", 2, 0.4, 1);
  a.mutable_projection()->set_training_tokens(15e12);
  a.mutable_projection()->mutable_goodput()->set_wall_clock_days(31.6);
  a.mutable_projection()->mutable_goodput()->set_goodput(0.964);
  a.mutable_scenario()->mutable_facility()->set_grid_carbon_g_per_kwh(56);
  a.mutable_cost()->set_capex_usd(2.5e9);
  a.mutable_cost()->set_tco_usd(3.1e9);
  a.mutable_cost()->set_lifetime_years(5);
  const auto ms = CompareMetrics({a});
  EXPECT_EQ(Find(ms, "Wall-clock with failures").text[0], "31.6 days");
  EXPECT_EQ(Find(ms, "Goodput with failures").text[0], "96.4%");
  EXPECT_EQ(Find(ms, "Grid intensity").text[0], "56 g/kWh");
  EXPECT_EQ(Find(ms, "Capex").text[0], "$2.50B");
  EXPECT_EQ(Find(ms, "TCO").text[0], "$3.10B");
  EXPECT_EQ(Find(ms, "TCO period").text[0], "5 years");
}

// The comparison shows the same figures as the terminal summary.
TEST(CompareMetrics, SameFormatsAsTheSummary) {
  v1::RunResult r = Sample("a", 2.9355, 0.3396, 2.0637);
  r.mutable_breakdown()->set_pipeline_bubble_s(0.249197);
  const std::string summary = SummaryText(r);
  const auto ms = CompareMetrics({r});
  for (const char* label : {"Step time", "Compute", "Exposed TP comm", "Pipeline bubble", "MFU", "Facility avg power",
                            "Energy per step", "Energy per token"}) {
    const std::string text = Find(ms, label).text[0];
    EXPECT_NE(summary.find(text), std::string::npos) << label << ": \"" << text << "\" not in\n" << summary;
  }
}

TEST(CompareTable, LayoutLabelsAndRatioColumns) {
  const std::string t = CompareTable(
      {Sample("first", 2, 0.4, 2), Sample("second", 3, 0.3, 1), Sample("third", 1, 0.5, 4)}, {"base", "new", "alt"});
  EXPECT_EQ(t.rfind("base: first\nnew: second\nalt: third\n", 0), 0u) << t;
  EXPECT_NE(t.find("new/base"), std::string::npos);
  EXPECT_NE(t.find("alt/base"), std::string::npos);
  EXPECT_NE(t.find("[Step time]"), std::string::npos);
  // The step-time line: label, three values, two ratios.
  const size_t at = t.find("\nStep time ");
  ASSERT_NE(at, std::string::npos);
  const std::string line = t.substr(at + 1, t.find('\n', at + 1) - at - 1);
  EXPECT_NE(line.find("2.000 s"), std::string::npos) << line;
  EXPECT_NE(line.find("1.50x"), std::string::npos) << line;
  EXPECT_NE(line.find("0.50x"), std::string::npos) << line;
  EXPECT_LT(line.find("1.50x"), line.find("0.50x"));
  // Columns line up: every metric line has the same width as the header or less.
  const size_t header_end = t.find("\n-");
  const size_t header_start = t.rfind('\n', header_end - 1) + 1;
  const size_t width = t.find('\n', header_end + 1) - header_end - 1;
  EXPECT_EQ(header_end - header_start, width);
}

TEST(CompareTable, DefaultLabelsAndErrors) {
  const std::string t = CompareTable({Sample("x", 1, 0.4, 1), Sample("y", 2, 0.4, 1)}, {});
  EXPECT_NE(t.find("B/A"), std::string::npos);
  EXPECT_THROW(CompareTable({}, {}), InputError);
  EXPECT_THROW(CompareTable({Sample("x", 1, 0.4, 1)}, {"a", "b"}), InputError);
  const auto labels = DefaultLabels(28);
  EXPECT_EQ(labels[0], "A");
  EXPECT_EQ(labels[25], "Z");
  EXPECT_EQ(labels[26], "#27");
}

TEST(CompareTable, CutsLongTextCells) {
  const std::string name(120, 'n');
  const std::string t = CompareTable({Sample(name, 1, 0.4, 1)}, {});
  EXPECT_NE(t.find("A: " + name + "\n"), std::string::npos) << "the full name heads the table";
  EXPECT_NE(t.find(std::string(37, 'n') + "..."), std::string::npos);
  EXPECT_EQ(t.find(std::string(38, 'n') + "  "), std::string::npos);
}

TEST(Formats, Units) {
  EXPECT_EQ(FormatSeconds(2.5), "2.500 s");
  EXPECT_EQ(FormatSeconds(0.0123), "12.300 ms");
  EXPECT_EQ(FormatSeconds(5e-6), "5.0 us");
  EXPECT_EQ(FormatPower(11.79e6), "11.79 MW");
  EXPECT_EQ(FormatPower(2.5e3), "2.50 kW");
  EXPECT_EQ(FormatPower(8.2465e9), "8.25 GW");  // a 100k-GPU cluster's power ramp, per second
  EXPECT_EQ(FormatEnergy(3.6e9), "1.00 MWh");
  EXPECT_EQ(FormatEnergy(5e5), "500.0 kJ");
  EXPECT_EQ(FormatUsd(8.376e7), "$83.76M");
  EXPECT_EQ(FormatCount(5715214.2), "5,715,214");
  EXPECT_EQ(FormatCount(72.0), "72");
  EXPECT_EQ(FormatCount(0.806), "0.806");
  EXPECT_EQ(FormatTokens(1.5e13), "15 T");
}

}  // namespace
}  // namespace clustersim::results
