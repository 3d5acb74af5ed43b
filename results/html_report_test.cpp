#include "results/html_report.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/error.h"

namespace clustersim::results {
namespace {

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

v1::RunResult Sample(const std::string& name, double step) {
  v1::RunResult r;
  r.set_clustersim_version("0.1.0");
  v1::Scenario& s = *r.mutable_scenario();
  s.set_name(name);
  s.mutable_cluster()->set_num_gpus(64);
  s.mutable_cluster()->mutable_scale_out()->set_topology("fat_tree");
  s.mutable_accelerator()->set_name("H100-SXM");
  s.mutable_facility()->set_pue(1.2);
  r.set_step_time_s(step);
  r.mutable_breakdown()->set_compute_s(step * 0.7);
  r.mutable_breakdown()->set_exposed_tp_comm_s(step * 0.2);
  r.mutable_breakdown()->set_pipeline_bubble_s(step * 0.1);
  r.set_mfu(0.35);
  r.set_tokens_per_s(1e6);
  r.mutable_power()->set_facility_avg_w(1.2e5);
  r.mutable_power()->set_facility_peak_w(1.5e5);
  r.mutable_power()->set_energy_per_token_j(0.5);
  r.mutable_memory()->set_weights_gb(10);
  r.mutable_memory()->set_activations_gb(20);
  r.mutable_memory()->set_total_gb(30);
  r.mutable_memory()->set_capacity_gb(80);
  for (uint32_t st = 0; st < 2; ++st) {
    v1::StageTimeline* t = r.add_stages();
    t->set_stage(st);
    t->set_busy_compute_s(step * 0.7);
    t->set_comm_s(step * 0.2);
    t->set_idle_s(step * 0.1);
  }
  for (int i = 0; i < 10; ++i) {
    v1::PowerSample* p = r.add_power_timeline();
    p->set_t_s(step * i / 10);
    p->set_gpus_w(5e4 + 1e3 * i);
    p->set_hosts_w(3e4);
    p->set_network_w(1e4);
    p->set_facility_w((p->gpus_w() + 4e4) * 1.2);
  }
  for (const char* kind : {"tp", "dp", "pp", "pp"}) {
    v1::CommStat* c = r.add_comms();
    c->set_kind(kind);
    c->set_collective(std::string(kind) == "pp" ? "send_recv" : "all_reduce");
    c->set_algorithm("ring");
    c->set_bytes_per_rank(1 << 24);
    c->set_group_size(8);
    c->set_time_s(1e-4);
    c->set_bus_bandwidth_gbyte_per_s(300);
  }
  return r;
}

std::vector<TraceEvent> Timeline(double step) {
  std::vector<TraceEvent> ev;
  for (uint32_t st = 0; st < 2; ++st) {
    double t = 0;
    for (int i = 0; i < 50; ++i) {
      ev.push_back({st, "forward", "compute", t, step / 200, 0});
      ev.push_back({st, "tp comm (forward)", "tp", t + step / 200, step / 400, 0});
      t += step / 100;
    }
    ev.push_back({st, "dp comm (grad sync)", "dp", step * 0.6, step * 0.1, 1});
  }
  return ev;
}

TEST(HtmlReport, OneSvgPerChart) {
  const v1::RunResult r = Sample("one", 2.0);
  // breakdown, per-stage activity, timeline, power, collectives, memory
  EXPECT_EQ(Count(HtmlReport({r}, Timeline(2.0)), "<svg"), 6u);
  EXPECT_EQ(Count(HtmlReport({r}, {}), "<svg"), 5u) << "no timeline chart without a timeline";
  v1::RunResult bare = r;
  bare.clear_comms();
  bare.clear_power_timeline();
  bare.clear_stages();
  EXPECT_EQ(Count(HtmlReport({bare}, {}), "<svg"), 2u);
  // Several results add the comparison chart.
  const std::string two = HtmlReport({r, Sample("two", 3.0)}, Timeline(2.0));
  EXPECT_EQ(Count(two, "<svg"), 7u);
  EXPECT_EQ(Count(two, "<svg"), Count(two, "</svg>"));
}

// Stragglers and the link capacity floor get segments of their own, so a breakdown bar sums to the step.
TEST(HtmlReport, BreakdownShowsStragglersAndTheLinkCapacityFloorApart) {
  v1::RunResult r = Sample("one", 2.0);
  const std::string plain = HtmlReport({r}, {});
  EXPECT_EQ(plain.find("Link capacity floor"), std::string::npos);
  EXPECT_EQ(plain.find("Stragglers"), std::string::npos);
  r.mutable_breakdown()->set_pipeline_bubble_s(0.05);
  r.mutable_breakdown()->set_straggler_s(0.05);
  r.mutable_breakdown()->set_link_capacity_s(0.1);
  const std::string html = HtmlReport({r}, {});
  EXPECT_NE(html.find("Step: Link capacity floor: 100.000 ms (5.0% of the step)"), std::string::npos);
  EXPECT_NE(html.find("Step: Stragglers: 50.000 ms (2.5% of the step)"), std::string::npos);
  EXPECT_NE(html.find("Step: Pipeline bubble: 50.000 ms (2.5% of the step)"), std::string::npos);
}

TEST(HtmlReport, SelfContained) {
  v1::RunResult r = Sample("one", 2.0);
  const std::string h = HtmlReport({r}, Timeline(2.0));
  EXPECT_EQ(h.find("http://"), std::string::npos);
  EXPECT_EQ(h.find("https://"), std::string::npos);
  // Even when the data holds URLs (catalog sources), nothing is loaded from anywhere.
  r.mutable_scenario()->mutable_accelerator()->set_source("datasheet at https://example.com/h100.pdf");
  const std::string with_url = HtmlReport({r}, {});
  for (const char* loader : {"src=", "href=", "url(", "@import", "<script", "<link", "<img", "<iframe"})
    EXPECT_EQ(with_url.find(loader), std::string::npos) << loader;
  EXPECT_EQ(with_url.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(with_url.find("<meta charset=\"utf-8\">"), std::string::npos);
}

TEST(HtmlReport, EscapesText) {
  const std::string evil = "<script>alert('x')</script> & \"co\"";
  v1::RunResult r = Sample(evil, 2.0);
  r.mutable_comms(0)->set_algorithm("<b>ring</b>");
  std::vector<TraceEvent> tl = Timeline(2.0);
  tl[0].category = "<i>";
  const std::string h = HtmlReport({r, Sample("b", 1.0)}, tl, {"<A>", "B&"});
  EXPECT_EQ(h.find("<script"), std::string::npos);
  EXPECT_EQ(h.find("<b>ring"), std::string::npos);
  EXPECT_EQ(h.find("<A>"), std::string::npos);
  EXPECT_EQ(h.find("<i>"), std::string::npos);
  EXPECT_NE(h.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;co&quot;"), std::string::npos);
  EXPECT_NE(h.find("&lt;A&gt;"), std::string::npos);
  EXPECT_NE(h.find("B&amp;"), std::string::npos);
  EXPECT_EQ(HtmlEscape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
}

TEST(HtmlReport, SummaryAndScenarioEmbedded) {
  const std::string h = HtmlReport({Sample("one", 2.0)}, {});
  for (const char* figure : {"2.000 s", "1.400 s", "35.0%", "120.00 kW", "0.50 J"})
    EXPECT_NE(h.find(figure), std::string::npos) << figure;
  const size_t details = h.find("<details><summary>one</summary>");
  ASSERT_NE(details, std::string::npos);
  EXPECT_NE(h.find("&quot;num_gpus&quot;: 64", details), std::string::npos) << "the resolved scenario as JSON";
  EXPECT_EQ(Count(h, "<details>"), Count(h, "</details>"));
  EXPECT_EQ(Count(h, "<section>"), Count(h, "</section>"));
  EXPECT_EQ(Count(h, "<table"), Count(h, "</table>"));
}

TEST(HtmlReport, ComparisonHasRatioColumns) {
  const std::string h = HtmlReport({Sample("a", 2.0), Sample("b", 3.0)}, {}, {"base", "new"});
  EXPECT_NE(h.find("new / base"), std::string::npos);
  EXPECT_NE(h.find("1.50x"), std::string::npos);
  EXPECT_NE(h.find("Comparison of step time, MFU and energy per token"), std::string::npos);
}

TEST(HtmlReport, Deterministic) {
  const std::vector<v1::RunResult> rs = {Sample("a", 2.0), Sample("b", 3.0)};
  EXPECT_EQ(HtmlReport(rs, Timeline(2.0)), HtmlReport(rs, Timeline(2.0)));
}

TEST(HtmlReport, LargeTimelinesStaySmall) {
  // 16 stages x 20,000 operations: the strip is drawn per pixel column, so the page does not grow with the events.
  std::vector<TraceEvent> ev;
  const double step = 10.0;
  for (uint32_t st = 0; st < 16; ++st)
    for (int i = 0; i < 20000; ++i)
      ev.push_back({st, i % 2 ? "tp comm (forward)" : "forward", i % 2 ? "tp" : "compute", step * i / 20000,
                    step / 20000 * 0.9, 0});
  const std::string h = HtmlReport({Sample("big", step)}, ev);
  EXPECT_LT(h.size(), 400u * 1024) << "bytes";
  EXPECT_NE(h.find("The first 8 pipeline stage(s)"), std::string::npos);
}

TEST(HtmlReport, RejectsBadInput) {
  EXPECT_THROW(HtmlReport({}, {}), InputError);
  EXPECT_THROW(HtmlReport({Sample("a", 1)}, {}, {"x", "y"}), InputError);
  const std::vector<TraceEvent> bad = {{0, "x", "compute", 0, -1, 0}};
  EXPECT_THROW(HtmlReport({Sample("a", 1)}, bad), InputError);
}

TEST(HtmlReport, TwentyResultsScrollSidewaysAndGetOneChartRowEach) {
  std::vector<v1::RunResult> rs;
  std::vector<std::string> labels;
  for (int i = 0; i < 20; ++i) {
    rs.push_back(Sample("point " + std::to_string(i), 1.0 + 0.1 * i));
    labels.push_back("moe-DSV3 Ascend-910C rail_optimized #" + std::to_string(i));  // long sweep-style labels
  }
  const std::string html = HtmlReport(rs, {}, labels);
  EXPECT_NE(html.find("<div class=\"scroll\">\n<table class=\"metrics\">"), std::string::npos);
  // The comparison chart is laid out one row per result: every label once, each at its own height.
  const size_t chart = html.find("aria-label=\"Comparison of step time");
  ASSERT_NE(chart, std::string::npos);
  const std::string svg = html.substr(chart, html.find("</svg>", chart) - chart);
  std::vector<double> ys;
  for (size_t at = svg.find("text-anchor=\"end\">"); at != std::string::npos;
       at = svg.find("text-anchor=\"end\">", at + 1)) {
    const size_t y = svg.rfind(" y=\"", at);
    ys.push_back(std::stod(svg.substr(y + 4)));
  }
  ASSERT_EQ(ys.size(), 20u);
  for (size_t k = 1; k < ys.size(); ++k) EXPECT_GE(ys[k] - ys[k - 1], 12) << k;
  EXPECT_EQ(Count(svg, "rail_optimized #1..."), 0u);  // labels that do not fit are cut with "...", not overlapped
}

TEST(HtmlReport, CostSectionListsTheCapexLines) {
  v1::RunResult r = Sample("costed", 1.0);
  v1::CostItem* i = r.mutable_cost()->add_capex();
  i->set_tier("scale_up");
  i->set_part("switch");
  i->set_count(576);
  i->set_note("in the accelerator's price");
  r.mutable_cost()->set_capex_usd(1e9);
  r.mutable_cost()->set_tco_usd(1.2e9);
  r.mutable_cost()->set_lifetime_years(5);
  const std::string html = HtmlReport({r}, {});
  EXPECT_NE(html.find("Cost of ownership"), std::string::npos);
  EXPECT_NE(html.find("<td>scale_up</td><td>switch</td><td>576</td>"), std::string::npos);
  EXPECT_NE(html.find("TCO over 5 years</th><th>$1.20B"), std::string::npos);
}

}  // namespace
}  // namespace clustersim::results
