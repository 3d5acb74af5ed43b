// Result rendering; see report.h.
#include "results/report.h"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>

#include "common/error.h"
#include "common/input_file.h"
#include "results/serving_report.h"

namespace clustersim::results {

std::string FormatSeconds(double s) {
  if (s >= 1) return fmt::format("{:.3f} s", s);
  if (s >= 1e-3) return fmt::format("{:.3f} ms", s * 1e3);
  return fmt::format("{:.1f} us", s * 1e6);
}

std::string FormatPower(double w) {
  if (w >= 1e6) return fmt::format("{:.2f} MW", w / 1e6);
  if (w >= 1e3) return fmt::format("{:.2f} kW", w / 1e3);
  return fmt::format("{:.0f} W", w);
}

std::string FormatEnergy(double j) {
  const double kwh = j / 3.6e6;
  if (kwh >= 1e3) return fmt::format("{:.2f} MWh", kwh / 1e3);
  if (kwh >= 1) return fmt::format("{:.2f} kWh", kwh);
  return fmt::format("{:.1f} kJ", j / 1e3);
}

std::string SummaryText(const v1::RunResult& r) {
  if (r.has_serving()) return ServeSummaryText(r);  // a serving fleet (serving_report.h)
  const v1::Scenario& s = r.scenario();
  const v1::Parallelism& p = s.workload().parallelism();
  std::string o;
  o += fmt::format("clustersim {} | {}\n", r.clustersim_version(), s.name());
  o += fmt::format("  cluster   {} x {} on {} ({} GPUs/node, scale-up {} x {:.0f} GB/s, NIC {:.0f} Gb/s)\n",
                   s.cluster().num_gpus(), s.accelerator().name(), s.cluster().scale_out().topology(),
                   s.cluster().scale_up().gpus_per_node(), s.cluster().scale_up().domain_size(),
                   s.cluster().scale_up().bandwidth_gbyte_per_s(), s.cluster().scale_out().nic_bandwidth_gbps());
  std::string zero = fmt::format("ZeRO-{}", p.zero_stage());
  if (p.zero_stage() == 3 && !p.zero3_implementation().empty()) zero += " (" + p.zero3_implementation() + ")";
  o += fmt::format("  workload  {} ({}), TP{} CP{} PP{} DP{} EP{}, micro-batch {}, global batch {}, {}, {}\n",
                   s.workload().model().name(), s.workload().precision(), p.tp(), p.cp(), p.pp(), p.dp(), p.ep(),
                   p.micro_batch_size(), p.global_batch_size(), p.schedule(), zero);
  const v1::TimeBreakdown& b = r.breakdown();
  o += fmt::format("  step time {}\n", FormatSeconds(r.step_time_s()));
  o += fmt::format("    compute {} | exposed comm: TP {}, CP {}, PP {}, DP {}, EP {} | pipeline bubble {}\n",
                   FormatSeconds(b.compute_s()), FormatSeconds(b.exposed_tp_comm_s()),
                   FormatSeconds(b.exposed_cp_comm_s()), FormatSeconds(b.exposed_pp_comm_s()),
                   FormatSeconds(b.exposed_dp_comm_s()), FormatSeconds(b.exposed_ep_comm_s()),
                   FormatSeconds(b.pipeline_bubble_s()));
  if (b.straggler_s() > 0 || r.has_step_statistics()) {
    const v1::StepStatistics& st = r.step_statistics();
    o += fmt::format("    stragglers {} (slowest replica {}: slowest stage at {:.1f}% speed; GPU speed spread {:.1f}%)",
                     FormatSeconds(b.straggler_s()), st.slowest_replica(), 100 * st.slowest_stage_speed(),
                     100 * st.gpu_speed_cv());
    if (st.steps() > 1)
      o += fmt::format(" | {} steps: mean {}, p50 {}, p99 {}", st.steps(), FormatSeconds(st.mean_s()),
                       FormatSeconds(st.p50_s()), FormatSeconds(st.p99_s()));
    o += "\n";
  }
  o += fmt::format("  throughput {:.0f} tokens/s ({:.0f} per GPU), {:.0f} model TFLOP/s per GPU\n", r.tokens_per_s(),
                   r.tokens_per_s_per_gpu(), r.model_tflops_per_gpu());
  o += fmt::format("  MFU {:.1f}%  HFU {:.1f}%  GPU utilization {:.1f}%\n", 100 * r.mfu(), 100 * r.hfu(),
                   100 * r.gpu_utilization());
  const v1::PowerSummary& pw = r.power();
  o += fmt::format("  power     facility {} avg / {} peak (GPU avg {} each, network {}, PUE {:.2f})\n",
                   FormatPower(pw.facility_avg_w()), FormatPower(pw.facility_peak_w()), FormatPower(pw.gpu_avg_w()),
                   FormatPower(pw.network_total_avg_w()), s.facility().pue());
  o += fmt::format("  energy    {} per step, {:.2f} J per token\n", FormatEnergy(pw.energy_per_step_j()),
                   pw.energy_per_token_j());
  const v1::MemorySummary& m = r.memory();
  o += fmt::format(
      "  memory    {:.1f} GB of {:.0f} GB per GPU (weights {:.1f}, grads {:.1f}, optimizer {:.1f}, "
      "activations {:.1f}, framework {:.1f}{})\n",
      m.total_gb(), m.capacity_gb(), m.weights_gb(), m.gradients_gb(), m.optimizer_gb(), m.activations_gb(),
      m.overhead_gb(), m.offloaded_gb() > 0 ? fmt::format("; {:.1f} offloaded to host", m.offloaded_gb()) : "");
  if (m.over_hbm_gb() > 0)
    o += fmt::format(
        "  WARNING   memory estimated over HBM by {:.1f} GB on pipeline stage {} (simulated anyway; "
        "--strict-memory refuses such plans)\n",
        m.over_hbm_gb(), m.worst_stage());
  if (r.link_usage_size() > 0) {
    o += "  links    ";
    for (const v1::LinkClassUsage& u : r.link_usage())
      o += fmt::format(" {} {:.0f}% (max {:.0f}%)", u.kind(), 100 * u.avg_utilization(), 100 * u.max_utilization());
    o += "\n";
    if (r.hottest_links_size() > 0)
      o +=
          fmt::format("  hottest   {} at {:.0f}%\n", r.hottest_links(0).name(), 100 * r.hottest_links(0).utilization());
  }
  if (r.has_projection() && r.projection().training_tokens() > 0) {
    const v1::Projection& pr = r.projection();
    o += fmt::format(
        "  run       {:.3g} tokens: {:.1f} days, {:.3g} GPU-hours, {:.3g} MWh, {:.3g} tCO2e "
        "(+{:.3g} embodied), ${:.3g}\n",
        pr.training_tokens(), pr.wall_clock_days(), pr.gpu_hours(), pr.energy_mwh(), pr.operational_tco2e(),
        pr.embodied_tco2e(), pr.cost_usd());
    if (pr.has_goodput() && pr.goodput().goodput() > 0) {
      const v1::Goodput& g = pr.goodput();
      o += fmt::format(
          "  goodput   {:.1f}% with failures (MTBF {:.3g} h, {:.0f} interruptions, checkpoint {:.1f} s every {:.0f} s): "
          "{:.1f} days, {:.3g} MWh, ${:.3g}\n",
          100 * g.goodput(), g.mtbf_hours(), g.expected_interruptions(), g.checkpoint_s(), g.checkpoint_interval_s(),
          g.wall_clock_days(), g.energy_mwh(), g.cost_usd());
    }
  }
  const v1::SimStats& st = r.sim();
  o += fmt::format("  simulated {} SimGrid hosts, {} links, {} flows in {} phase solves; {:.2f} s wall, {:.0f} MiB\n",
                   st.simgrid_hosts(), st.simgrid_links(), st.flows(), st.phase_solves(), st.wall_s(),
                   st.peak_rss_mib());
  return o;
}

std::string MessageJson(const google::protobuf::Message& m, const std::string& what) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.preserve_proto_field_names = true;
  opts.always_print_primitive_fields = true;
  std::string out;
  const auto st = google::protobuf::util::MessageToJsonString(m, &out, opts);
  if (!st.ok()) throw SimulationError("cannot render " + what + " as JSON: " + std::string(st.message()));
  return out;
}

std::string ToJson(const v1::RunResult& r) { return MessageJson(r, "result"); }

v1::RunResult FromJson(const std::string& json, const std::string& file) {
  v1::RunResult r;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  const auto st = google::protobuf::util::JsonStringToMessage(json, &r, opts);
  if (!st.ok()) throw InputError(file + ": not a clustersim result: " + ParserMessageShown(std::string(st.message())));
  return r;
}

void WriteRunOutputs(const std::string& dir, const v1::RunResult& r,
                     const std::vector<std::pair<std::string, std::string>>& extra) {
  MakeOutputDirectory(dir);
  std::vector<std::pair<std::string, std::string>> files{{dir + "/result.json", ToJson(r)},
                                                         {dir + "/summary.txt", SummaryText(r)}};
  for (const auto& [name, content] : extra) files.emplace_back(dir + "/" + name, content);
  WriteFilesAtomic(files);
}

}  // namespace clustersim::results
