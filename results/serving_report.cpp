// Serving result renderings; see serving_report.h. The HTML report is serving_html.cpp.
#include "results/serving_report.h"

#include <fmt/format.h>

#include <set>

#include "results/report.h"
#include "results/trace.h"

namespace clustersim::results {
namespace {

std::string Ms(double s) { return fmt::format("{:.0f}", s * 1e3); }
std::string Ms1(double s) { return fmt::format("{:.1f}", s * 1e3); }

std::string Latency(const char* name, const v1::LatencyStats& l, bool fine) {
  const auto f = fine ? Ms1 : Ms;
  return fmt::format("{} mean {} ms, p50 {}, p90 {}, p99 {}", name, f(l.mean_s()), f(l.p50_s()), f(l.p90_s()),
                     f(l.p99_s()));
}

std::string Traffic(const v1::ServingTraffic& t) {
  std::string a = t.arrival();
  if (t.arrival() == "closed") a = fmt::format("closed loop, {} in flight per instance", t.concurrency());
  else if (t.arrival() == "trace") a = "trace " + t.trace_file();
  else a = fmt::format("{} {:.4g} req/s", t.arrival(), t.rate_per_s());
  if (t.arrival() == "trace") return a;
  return fmt::format("{}, {} in / {} out tokens ({})", a, t.input_tokens(), t.output_tokens(),
                     t.length_distribution());
}

std::string PoolLine(const v1::ServePoolResult& p) {
  const v1::IterationBreakdown& b = p.iteration();
  return fmt::format(
      "  {:<7}   {} x {} ({} GPUs each): in {:.0f} / out {:.0f} tok/s per GPU, batch {:.1f}, iteration {}, KV {:.0f}% "
      "(max {:.0f}%), busy {:.0f}%, {:.1f} + {:.1f} GB weights + KV per GPU{}\n"
      "            iteration: dense {}, experts {}, attention {}, other {}, exposed comm {}, host {}\n",
      p.role(), p.instances(), p.layout(), p.gpus_per_instance(), p.input_tokens_per_s_per_gpu(),
      p.output_tokens_per_s_per_gpu(), p.mean_batch(), FormatSeconds(p.mean_iteration_s()),
      100 * p.kv_utilization_mean(), 100 * p.kv_utilization_max(), 100 * p.busy_fraction(), p.weights_gb_per_gpu(),
      p.kv_cache_gb_per_gpu(), p.preemptions() > 0 ? fmt::format(", {} preemptions", p.preemptions()) : "",
      FormatSeconds(b.dense_s()), FormatSeconds(b.experts_s()), FormatSeconds(b.attention_s()),
      FormatSeconds(b.other_s()), FormatSeconds(b.comm_s()), FormatSeconds(b.host_s()));
}

}  // namespace

std::string ServeSummaryText(const v1::RunResult& r) {
  const v1::Scenario& s = r.scenario();
  const v1::Serving& sv = s.serving();
  const v1::ServeResult& o = r.serving();
  std::string t;
  t += fmt::format("clustersim {} | {}\n", r.clustersim_version(), s.name());
  t += fmt::format("  cluster   {} x {} on {} ({} GPUs/node, scale-up {} x {:.0f} GB/s, NIC {:.0f} Gb/s)\n",
                   s.cluster().num_gpus(), s.accelerator().name(), s.cluster().scale_out().topology(),
                   s.cluster().scale_up().gpus_per_node(), s.cluster().scale_up().domain_size(),
                   s.cluster().scale_up().bandwidth_gbyte_per_s(), s.cluster().scale_out().nic_bandwidth_gbps());
  t += fmt::format("  serving   {} ({} weights, {} KV{}), {}\n", s.workload().model().name(),
                   s.workload().precision(), sv.engine().kv_cache_precision(),
                   sv.engine().draft_tokens() > 0 ? fmt::format(", {} draft tokens accepting {:.2f}",
                                                                sv.engine().draft_tokens(),
                                                                sv.engine().mean_accepted_tokens())
                                                  : "",
                   Traffic(sv.traffic()));
  for (const v1::ServePoolResult& p : o.pools()) t += PoolLine(p);
  t += fmt::format("  throughput input {:.0f} tok/s, output {:.0f} tok/s ({:.0f} / {:.0f} per GPU, {:.0f} / {:.0f} per node)\n",
                   o.input_tokens_per_s(), o.output_tokens_per_s(), o.input_tokens_per_s_per_gpu(),
                   o.output_tokens_per_s_per_gpu(), o.input_tokens_per_s_per_node(), o.output_tokens_per_s_per_node());
  t += "  latency   " + Latency("TTFT", o.ttft(), false) + " | " + Latency("TPOT", o.tpot(), true) +
       fmt::format(" | {:.1f} tok/s per user\n", o.output_tokens_per_s_per_user());
  t += fmt::format("  SLO       TTFT <= {} ms, TPOT <= {} ms: {:.1f}% of requests, goodput {:.0f} output tok/s{}\n",
                   sv.slo().ttft_ms() > 0 ? fmt::format("{:g}", sv.slo().ttft_ms()) : "-",
                   sv.slo().tpot_ms() > 0 ? fmt::format("{:g}", sv.slo().tpot_ms()) : "-", 100 * o.slo_attainment(),
                   o.goodput_output_tokens_per_s(),
                   o.requests_unfinished() > 0 ? fmt::format(" ({} requests unfinished: overloaded)",
                                                             o.requests_unfinished())
                                               : "");
  const v1::PowerSummary& pw = r.power();
  t += fmt::format("  power     facility {} avg / {} peak (GPU avg {} each, network {}, PUE {:.2f}), {:.3g} J per output token\n",
                   FormatPower(pw.facility_avg_w()), FormatPower(pw.facility_peak_w()), FormatPower(pw.gpu_avg_w()),
                   FormatPower(pw.network_total_avg_w()), s.facility().pue(), o.joules_per_output_token());
  t += fmt::format("  per 1M    output tokens ${:.3g}, {:.3g} kWh, {:.3g} kgCO2e | input tokens ${:.3g}, {:.3g} kWh, "
                   "{:.3g} kgCO2e | blended ${:.3g}\n",
                   o.cost_usd_per_m_output_tokens(), o.energy_kwh_per_m_output_tokens(),
                   o.carbon_kg_per_m_output_tokens(), o.cost_usd_per_m_input_tokens(),
                   o.energy_kwh_per_m_input_tokens(), o.carbon_kg_per_m_input_tokens(), o.cost_usd_per_m_tokens_blended());
  t += fmt::format("  fleet     ${:.4g} per hour, {:.4g} MWh and {:.4g} tCO2e per day; prompt work {:.0f}% of GPU time\n",
                   o.cost_usd_per_hour(), o.energy_kwh_per_day() / 1e3, o.carbon_t_per_day(),
                   100 * o.prefill_time_share());
  t += fmt::format("  simulated {} of {} instances ({} family calibration), x{:.4g}; {:g} s window after {:g} s warm-up, "
                   "{} requests, {} iterations; {} SimGrid hosts, {} flows in {} phase solves; {:.2f} s wall, {:.0f} MiB\n",
                   o.cell(), o.fleet_instances(), o.family(), o.cell_scale(), o.window_s(), sv.warmup_s(),
                   o.requests_simulated(), o.iterations_simulated(), r.sim().simgrid_hosts(), r.sim().flows(),
                   r.sim().phase_solves(), r.sim().wall_s(), r.sim().peak_rss_mib());
  return t;
}

std::string ServeCsv(const std::vector<v1::RunResult>& rs) {
  std::string o =
      "scenario,accelerator,gpus,model,precision,pools,input_tokens_per_s,output_tokens_per_s,"
      "output_tokens_per_s_per_gpu,ttft_mean_s,ttft_p99_s,tpot_mean_s,tpot_p99_s,slo_attainment,"
      "goodput_output_tokens_per_s,facility_avg_w,joules_per_output_token,cost_usd_per_m_input_tokens,"
      "cost_usd_per_m_output_tokens,energy_kwh_per_m_output_tokens,carbon_kg_per_m_output_tokens\n";
  for (const v1::RunResult& r : rs) {
    const v1::ServeResult& s = r.serving();
    std::string pools;
    for (const v1::ServePoolResult& p : s.pools())
      pools += (pools.empty() ? "" : " + ") + fmt::format("{} {}x {}", p.role(), p.instances(), p.layout());
    std::string name = r.scenario().name();
    for (char& c : name)
      if (c == ',' || c == '"') c = ' ';
    o += fmt::format("{},{},{},{},{},{},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},{:.6g},"
                     "{:.6g},{:.6g},{:.6g},{:.6g}\n",
                     name, r.scenario().accelerator().name(), r.scenario().cluster().num_gpus(),
                     r.scenario().workload().model().name(), r.scenario().workload().precision(), pools,
                     s.input_tokens_per_s(), s.output_tokens_per_s(), s.output_tokens_per_s_per_gpu(),
                     s.ttft().mean_s(), s.ttft().p99_s(), s.tpot().mean_s(), s.tpot().p99_s(), s.slo_attainment(),
                     s.goodput_output_tokens_per_s(), r.power().facility_avg_w(), s.joules_per_output_token(),
                     s.cost_usd_per_m_input_tokens(), s.cost_usd_per_m_output_tokens(),
                     s.energy_kwh_per_m_output_tokens(), s.carbon_kg_per_m_output_tokens());
  }
  return o;
}

namespace {

// The pool and index within the pool of the cell's instance `i` (pools are laid out in order in the cell).
std::string InstanceName(const v1::RunResult& r, uint32_t i) {
  uint32_t k = i;
  const v1::ServeResult& s = r.serving();
  for (const v1::ServePoolResult& p : s.pools()) {
    if (k < p.cell_instances()) return fmt::format("{} instance {}", p.role(), k);
    k -= p.cell_instances();
  }
  return fmt::format("instance {}", i);
}

void AppendCounter(std::string& out, const char* name, uint32_t pid, double t_s, const std::string& args) {
  out += fmt::format("{{\"name\":\"{}\",\"ph\":\"C\",\"pid\":{},\"ts\":{},\"args\":{{{}}}}},\n", name, pid,
                     TraceMicros(t_s), args);
}

}  // namespace

std::string ServeTrace(const v1::RunResult& r) {
  std::string out = "{\"traceEvents\":[\n";
  std::set<uint32_t> instances;
  for (const v1::TraceEvent& e : r.timeline()) instances.insert(e.stage());
  for (uint32_t i : instances) {
    AppendMetadata(out, "process_name", i + 1, -1, "name", fmt::format("\"{}\"", InstanceName(r, i)));
    AppendMetadata(out, "process_sort_index", i + 1, -1, "sort_index", std::to_string(i));
    AppendMetadata(out, "thread_name", i + 1, 1, "name", "\"iterations\"");
    AppendMetadata(out, "thread_name", i + 1, 2, "name", "\"exposed communication / KV transfer\"");
  }
  for (const v1::TraceEvent& e : r.timeline()) {
    out += "{\"name\":";
    AppendJsonString(out, e.name());
    out += ",\"cat\":";
    AppendJsonString(out, e.category());
    out += fmt::format(",\"ph\":\"X\",\"pid\":{},\"tid\":{},\"ts\":{},\"dur\":{}}},\n", e.stage() + 1, e.track() + 1,
                       TraceMicros(e.start_s()), TraceMicros(e.duration_s()));
  }
  const uint32_t cell = (instances.empty() ? 0 : *instances.rbegin()) + 2;
  AppendMetadata(out, "process_name", cell, -1, "name", "\"Cell (all simulated instances)\"");
  for (const v1::ServeSample& s : r.serving().samples()) {
    AppendCounter(out, "requests", cell, s.t_s(),
                  fmt::format("\"running\":{},\"waiting\":{}", JsonNumber(s.running()), JsonNumber(s.waiting())));
    AppendCounter(out, "KV utilisation", cell, s.t_s(), "\"kv\":" + JsonNumber(s.kv_utilization()));
    AppendCounter(out, "fleet tokens/s", cell, s.t_s(),
                  fmt::format("\"input\":{},\"output\":{}", JsonNumber(s.input_tokens_per_s()),
                              JsonNumber(s.output_tokens_per_s())));
  }
  for (const v1::PowerSample& p : r.power_timeline())
    AppendCounter(out, "power (MW)", cell, p.t_s(),
                  fmt::format("\"facility\":{},\"gpus\":{}", JsonNumber(p.facility_w() / 1e6),
                              JsonNumber(p.gpus_w() / 1e6)));
  if (out.ends_with(",\n")) out.erase(out.size() - 2, 1);
  out += "],\n\"displayTimeUnit\":\"ms\",\n\"otherData\":{\"scenario\":";
  AppendJsonString(out, r.scenario().name());
  out += ",\"clustersim_version\":";
  AppendJsonString(out, r.clustersim_version());
  out += ",\"time_origin\":\"start of the measured window\"}}\n";
  return out;
}

}  // namespace clustersim::results
