// The serving HTML report (serving_report.h): built from the report blocks of html_parts.h.
#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "results/html_parts.h"
#include "results/report.h"
#include "results/serving_report.h"

namespace clustersim::results {

using namespace html;

namespace {

struct Series {
  std::string label;
  const char* color;
  std::function<double(const v1::ServeSample&)> value;
};

// Lines of `series` over the window's samples (step lines: each sample holds over its bin), y axis from 0.
std::string LineChart(const v1::RunResult& r, const std::vector<Series>& series, const std::string& y_title) {
  const auto& samples = r.serving().samples();
  const double T = r.serving().window_s();
  double max_v = 0;
  for (const v1::ServeSample& x : samples)
    for (const Series& s : series) max_v = std::max(max_v, s.value(x));
  std::vector<LegendItem> legend;
  for (const Series& s : series) legend.push_back({s.label, s.color, "line"});
  const double W = 1100, H = 280, x0 = 80, x1 = W - 30, y0 = 12, y1 = H - 46;
  const Unit tu = TimeUnit(T);
  const std::vector<double> ticks = NiceTicks(max_v);
  const double v_max = ticks.back() > 0 ? ticks.back() : 1, t_max = AxisMax(T, tu, x1 - x0);
  Svg svg(W, H, y_title + " over the window");
  XAxis(svg, x0, x1, y0, y1, T, tu, "Time in the window");
  const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : 1;
  for (double t : ticks) {
    const double y = y1 - (y1 - y0) * t / v_max;
    if (t > 0) svg.Line(x0, y, x1, y, "#e6e9ee");
    svg.Text(x0 - 8, y + 4, TickLabel(t, step), "end", "muted small");
  }
  svg.VText(22, (y0 + y1) / 2, y_title, "muted");
  const int n = samples.size();
  for (const Series& s : series) {
    std::string d;
    for (int i = 0; i < n; ++i) {
      const double a = x0 + (x1 - x0) * samples[i].t_s() / t_max;
      const double b = x0 + (x1 - x0) * (i + 1 < n ? samples[i + 1].t_s() : T) / t_max;
      const double y = y1 - (y1 - y0) * s.value(samples[i]) / v_max;
      d += fmt::format("{}{},{} L{},{}", i == 0 ? "M" : " L", F1(a), F1(y), F1(b), F1(y));
    }
    if (!d.empty()) svg.Path(d, s.color, "none", 2, s.label);
  }
  return Legend(legend) + svg.Done();
}

std::string Cards(const v1::RunResult& r) {
  const v1::ServeResult& o = r.serving();
  std::string c = "<div class=\"cards\">\n";
  c += Card("Output tokens/s per GPU", fmt::format("{:.0f}", o.output_tokens_per_s_per_gpu()),
            fmt::format("fleet {} tok/s", Grouped(o.output_tokens_per_s())));
  c += Card("TTFT p99", fmt::format("{:.0f} ms", 1e3 * o.ttft().p99_s()),
            fmt::format("mean {:.0f} ms", 1e3 * o.ttft().mean_s()));
  c += Card("TPOT p99", fmt::format("{:.1f} ms", 1e3 * o.tpot().p99_s()),
            fmt::format("mean {:.1f} ms", 1e3 * o.tpot().mean_s()));
  c += Card("$ per 1M output tokens", fmt::format("{:.3g}", o.cost_usd_per_m_output_tokens()),
            fmt::format("input {:.3g}", o.cost_usd_per_m_input_tokens()));
  c += Card("kWh per 1M output tokens", fmt::format("{:.3g}", o.energy_kwh_per_m_output_tokens()),
            fmt::format("{:.3g} kgCO2e", o.carbon_kg_per_m_output_tokens()));
  c += Card("Facility power", FormatPower(r.power().facility_avg_w()),
            fmt::format("SLO met by {:.1f}%", 100 * o.slo_attainment()));
  return c + "</div>\n";
}

std::string PoolTable(const v1::ServeResult& o) {
  std::string t =
      "<table><thead><tr><th>Pool</th><th>Instances</th><th>Layout</th><th>GPUs each</th><th>Input tok/s per GPU</th>"
      "<th>Output tok/s per GPU</th><th>Batch</th><th>Iteration</th><th>KV mean / max</th><th>Busy</th>"
      "<th>Weights / KV per GPU</th><th>GPU avg</th></tr></thead><tbody>\n";
  for (const v1::ServePoolResult& p : o.pools())
    t += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.0f}</td><td>{:.0f}</td><td>{:.1f}</td><td>{}</td>"
        "<td>{:.0f}% / {:.0f}%</td><td>{:.0f}%</td><td>{:.1f} / {:.1f} GB</td><td>{}</td></tr>\n",
        HtmlEscape(p.role()), Grouped(p.instances()), HtmlEscape(p.layout()), p.gpus_per_instance(),
        p.input_tokens_per_s_per_gpu(), p.output_tokens_per_s_per_gpu(), p.mean_batch(),
        FormatSeconds(p.mean_iteration_s()), 100 * p.kv_utilization_mean(), 100 * p.kv_utilization_max(),
        100 * p.busy_fraction(), p.weights_gb_per_gpu(), p.kv_cache_gb_per_gpu(), FormatPower(p.gpu_avg_w()));
  return t + "</tbody></table>\n";
}

std::string LatencyTable(const v1::ServeResult& o) {
  std::string t = "<table><thead><tr><th>Latency</th><th>mean</th><th>p50</th><th>p90</th><th>p99</th><th>max</th>"
                  "</tr></thead><tbody>\n";
  const auto row = [&t](const char* name, const v1::LatencyStats& l) {
    t += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n", name,
                     FormatSeconds(l.mean_s()), FormatSeconds(l.p50_s()), FormatSeconds(l.p90_s()),
                     FormatSeconds(l.p99_s()), FormatSeconds(l.max_s()));
  };
  row("Time to first token", o.ttft());
  row("Time per output token", o.tpot());
  row("End to end", o.e2e());
  row("Queueing (arrival to admission)", o.queue());
  return t + "</tbody></table>\n";
}

std::string CostTable(const v1::ServeResult& o) {
  return fmt::format(
      "<table><thead><tr><th>Per 1M tokens</th><th>Cost</th><th>Facility energy</th><th>Carbon</th></tr></thead>"
      "<tbody>\n<tr><td>Input (prompt)</td><td>${:.4g}</td><td>{:.4g} kWh</td><td>{:.4g} kgCO2e</td></tr>\n"
      "<tr><td>Output (generated)</td><td>${:.4g}</td><td>{:.4g} kWh</td><td>{:.4g} kgCO2e</td></tr>\n"
      "<tr><td>Blended (input + output)</td><td>${:.4g}</td><td></td><td></td></tr>\n</tbody></table>\n"
      "<p class=\"note\">Fleet: ${:.4g} per hour, {:.4g} MWh and {:.4g} tCO2e per day; prompt work takes {:.0f}% of the "
      "GPU time (its share of cost, energy and carbon).</p>\n",
      o.cost_usd_per_m_input_tokens(), o.energy_kwh_per_m_input_tokens(), o.carbon_kg_per_m_input_tokens(),
      o.cost_usd_per_m_output_tokens(), o.energy_kwh_per_m_output_tokens(), o.carbon_kg_per_m_output_tokens(),
      o.cost_usd_per_m_tokens_blended(), o.cost_usd_per_hour(), o.energy_kwh_per_day() / 1e3, o.carbon_t_per_day(),
      100 * o.prefill_time_share());
}

std::string CommTable(const v1::RunResult& r) {
  std::string t = "<table><thead><tr><th>Kind</th><th>Operation</th><th>Algorithm</th><th>Bytes per rank</th>"
                  "<th>Group</th><th>Time</th><th>Flows simulated</th></tr></thead><tbody>\n";
  for (const v1::CommStat& c : r.comms())
    t += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                     HtmlEscape(c.kind()), HtmlEscape(c.collective()), HtmlEscape(c.algorithm()),
                     Bytes(c.bytes_per_rank()), c.group_size(), FormatSeconds(c.time_s()),
                     Grouped(double(c.flows_simulated())));
  return t + "</tbody></table>\n";
}

}  // namespace

std::string ServeHtmlReport(const v1::RunResult& r) {
  const v1::Scenario& s = r.scenario();
  const v1::ServeResult& o = r.serving();
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>clustersim serving: " +
                  HtmlEscape(s.name()) + "</title>\n<style>" + kCss + "</style>\n</head>\n<body>\n<main>\n";
  h += "<header class=\"top\">\n<h1><span class=\"brand\">clustersim</span> " + HtmlEscape(s.name()) + "</h1>\n";
  h += "<p class=\"sub\">" +
       HtmlEscape(fmt::format("{} x {} on {} | {} ({} weights, {} KV) | {} | seed {}", Grouped(s.cluster().num_gpus()),
                              s.accelerator().name(), s.cluster().scale_out().topology(), s.workload().model().name(),
                              s.workload().precision(), s.serving().engine().kv_cache_precision(), o.cell(), r.seed())) +
       "</p>\n</header>\n" + Cards(r);
  h += Section("Deployment", "Each pool's instances, their layout and what one instance did over the window.",
               PoolTable(o));
  h += Section("Latency",
               fmt::format("Requests of the simulated cell that arrived in the window ({} measured, {} unfinished).",
                           o.requests_measured(), o.requests_unfinished()),
               LatencyTable(o));
  h += Section("Throughput over the window", "Fleet tokens per second (the cell's, scaled).",
               LineChart(r,
                         {{"input tokens/s", "#4e79a7", [](const v1::ServeSample& x) { return x.input_tokens_per_s(); }},
                          {"output tokens/s", "#f28e2b",
                           [](const v1::ServeSample& x) { return x.output_tokens_per_s(); }}},
                         "tokens/s"));
  h += Section("Batch and queue", "Requests running and waiting, summed over the cell's instances.",
               LineChart(r,
                         {{"running", "#59a14f", [](const v1::ServeSample& x) { return x.running(); }},
                          {"waiting", "#e15759", [](const v1::ServeSample& x) { return x.waiting(); }}},
                         "requests"));
  h += Section("KV cache", "KV-cache utilisation, mean over the cell's instances.",
               LineChart(r, {{"KV utilisation (%)", "#b07aa1",
                              [](const v1::ServeSample& x) { return 100 * x.kv_utilization(); }}},
                         "percent"));
  h += Section("Power over the window", "Cluster power: IT load stacked by component, facility power as a line.",
               PowerChart(r, o.window_s(), "Time in the window"));
  h += Section("Cost, energy and carbon", "", CostTable(o));
  if (r.comms_size() > 0)
    h += Section("Communication", "Every priced communication: one row per size of the ladder, solved on the fabric "
                                  "with every instance at once.",
                 "<details><summary>Table</summary>\n" + CommTable(r) + "</details>\n");
  h += Section("Scenario", "The resolved scenario as JSON.",
               "<details><summary>" + HtmlEscape(s.name()) + "</summary>\n<pre>" + HtmlEscape(ScenarioJson(s)) +
                   "</pre>\n</details>\n");
  h += "<footer>Generated by clustersim " + HtmlEscape(r.clustersim_version()) +
       ". Self-contained: no scripts and no external resources.</footer>\n</main>\n</body>\n</html>\n";
  return h;
}

}  // namespace clustersim::results
