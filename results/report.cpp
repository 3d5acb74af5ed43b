// Result rendering; see report.h.
#include "results/report.h"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>

#include <cctype>
#include <cmath>

#include "common/error.h"
#include "common/input_file.h"
#include "results/compare.h"
#include "results/serving_report.h"

namespace clustersim::results {
namespace {

// "bf16", or "fp8 requested, runs as bf16: Ascend-910C has no FP8 peak" when the chip lacks the precision.
std::string PrecisionText(const v1::RunResult& r) {
  const std::string& asked = r.scenario().workload().precision();
  const std::string& ran = r.effective_precision();
  if (ran.empty() || ran == asked || (asked == "fp16" && ran == "bf16")) return asked;
  std::string upper = asked;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return fmt::format("{} requested, runs as {}: {} has no {} peak", asked, ran, r.scenario().accelerator().name(),
                     upper);
}

std::string ScaleUpText(const v1::ScaleUp& su) {
  if (su.kind() == "none" || su.domain_size() <= 1) return "no scale-up (1 GPU per domain)";
  return fmt::format("scale-up {} x {:.0f} GB/s", su.domain_size(), su.bandwidth_gbyte_per_s());
}

std::string RunLines(const v1::RunResult& r) {
  const v1::Projection& pr = r.projection();
  std::string o = fmt::format(
      "  run       {} tokens ({} FLOPs = 6 x {} active parameters x tokens; clustersim counts {} with "
      "attention): {:.1f} days, {} GPU-hours, {} MWh, {} tCO2e (+{} embodied at {:.0f} g/kWh), {}\n",
      FormatTokens(pr.training_tokens()), FormatFlops(pr.training_flops()), FormatTokens(pr.active_parameters()),
      FormatFlops(pr.simulated_model_flops()), pr.wall_clock_days(), FormatCount(pr.gpu_hours()),
      FormatCount(pr.energy_mwh()), FormatCount(pr.operational_tco2e()), FormatCount(pr.embodied_tco2e()),
      r.scenario().facility().grid_carbon_g_per_kwh(), FormatUsd(pr.cost_usd()));
  if (pr.has_goodput() && pr.goodput().goodput() > 0) {
    const v1::Goodput& g = pr.goodput();
    o += fmt::format(
        "  goodput   {:.1f}% with failures (MTBF {:.3g} h, {} interruptions, checkpoint {:.1f} s every {:.0f} s): "
        "{:.1f} days, {} MWh, {}\n",
        100 * g.goodput(), g.mtbf_hours(), FormatCount(g.expected_interruptions()), g.checkpoint_s(),
        g.checkpoint_interval_s(), g.wall_clock_days(), FormatCount(g.energy_mwh()), FormatUsd(g.cost_usd()));
  }
  return o;
}

std::string CostLine(const v1::CostSummary& c) {
  if (c.rental())
    return fmt::format("  cost      rental: {}/year, {} over {:.0f} years; this run {}\n",
                       FormatUsd(c.opex_usd_per_year()), FormatUsd(c.tco_usd()), c.lifetime_years(),
                       FormatUsd(c.run_usd()));
  auto part = [](double usd) { return usd > 0 ? FormatUsd(usd) : std::string("-"); };
  std::string o = fmt::format(
      "  cost      capex {} (accelerators {}, hosts {}, network {} of which scale-up {}, facility {}), opex {}/year "
      "(energy {}, maintenance {}), TCO {} over {:.0f} years",
      FormatUsd(c.capex_usd()), part(c.accelerators_usd()), part(c.hosts_usd()), part(c.network_usd()),
      part(c.scale_up_usd()), part(c.facility_usd()), FormatUsd(c.opex_usd_per_year()), part(c.energy_usd_per_year()),
      part(c.maintenance_usd_per_year()), FormatUsd(c.tco_usd()), c.lifetime_years());
  if (c.run_usd() > 0) o += fmt::format("; this run {}", FormatUsd(c.run_usd()));
  return o + "\n";
}

}  // namespace

std::string NetworkTierLines(const v1::TopologySummary& t, const std::string& indent) {
  std::string o;
  for (const v1::NetworkTier& x : t.tiers()) {
    o += fmt::format("{}{:<9} capex {:>10}  power {:>10}  embodied {:>9} tCO2e{}\n", indent, x.tier(),
                     FormatUsd(x.capex_usd()), FormatPower(x.power_w()), FormatCount(x.embodied_kgco2e() / 1000),
                     x.tier() == "scale_up" && t.scale_up_in_accelerator()
                         ? " (in the accelerator's price, power and embodied carbon: subtracted there)"
                         : "");
  }
  return o;
}

namespace {

std::string SwingLines(const v1::PowerSwing& w) {
  std::string o =
      fmt::format("  swing     facility {} to {} within a step ({}; ramps +{}/s, -{}/s over {}; {:.2g} swings/s)",
                  FormatPower(w.step_min_w()), FormatPower(w.step_max_w()), FormatPower(w.step_swing_w()),
                  FormatPower(w.step_ramp_up_w_per_s()), FormatPower(w.step_ramp_down_w_per_s()),
                  FormatSeconds(w.ramp_window_s()), w.step_swings_per_s());
  if (w.run_swing_w() > 0)
    o +=
        fmt::format("; down to idle {} ({}) at checkpoints ({:.3g}/h) and failures ({:.3g}/h)", FormatPower(w.idle_w()),
                    FormatPower(w.run_swing_w()), w.checkpoint_drops_per_hour(), w.failure_drops_per_hour());
  o += "\n";
  if (w.power_cap_w() > 0 || w.power_floor_w() > 0)
    o += fmt::format("  mitigate  {}{}: step swing {} instead of {}, {} {} per step\n",
                     w.power_cap_w() > 0 ? "GPU power cap " + FormatPower(w.power_cap_w()) : "",
                     w.power_floor_w() > 0 ? std::string(w.power_cap_w() > 0 ? ", " : "") + "power floor " +
                                                 FormatPower(w.power_floor_w())
                                           : "",
                     FormatPower(w.step_swing_w()), FormatPower(w.unmitigated_swing_w()),
                     w.mitigation_saved_j_per_step() > 0 ? "saves" : "costs",
                     FormatEnergy(w.mitigation_saved_j_per_step() > 0 ? w.mitigation_saved_j_per_step()
                                                                      : w.mitigation_energy_j_per_step()));
  return o;
}

// Placement on a larger fabric and the other jobs on it (RunResult.shared_cluster).
std::string SharedClusterLines(const v1::SharedCluster& c, uint32_t job_gpus) {
  std::string o = fmt::format("  placement {} of a {}-GPU fabric, {} ({} leaves)\n", FormatCount(job_gpus),
                              FormatCount(c.fabric_gpus()), c.policy(), c.job_leaves());
  for (const v1::SharedCluster::Background& b : c.background())
    o += fmt::format("  neighbour {}: {} GPUs, {} at {:.3g} GB/s per GPU ({:.0f}% carried), up to {:.0f}% of a link\n",
                     b.name(), FormatCount(b.gpus()), b.pattern(), b.offered_bytes_per_s() / 1e9,
                     100 * b.carried_fraction(), 100 * b.max_share_of_link());
  if (c.step_time_alone_s() > 0)
    o += fmt::format("  interference step {} alone, {:+.1f}% with the other jobs\n",
                     FormatSeconds(c.step_time_alone_s()), 100 * c.step_time_change());
  return o;
}

}  // namespace

std::string FormatSeconds(double s) {
  if (s >= 1) return fmt::format("{:.3f} s", s);
  if (s >= 1e-3) return fmt::format("{:.3f} ms", s * 1e3);
  return fmt::format("{:.1f} us", s * 1e6);
}

std::string FormatPower(double w) {
  if (w >= 1e9) return fmt::format("{:.2f} GW", w / 1e9);
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
  o += fmt::format("  cluster   {} x {} on {} ({} GPUs/node, {}, NIC {:.0f} Gb/s)\n",
                   FormatCount(s.cluster().num_gpus()), s.accelerator().name(), s.cluster().scale_out().topology(),
                   s.cluster().scale_up().gpus_per_node(), ScaleUpText(s.cluster().scale_up()),
                   s.cluster().scale_out().nic_bandwidth_gbps());
  if (r.has_shared_cluster()) o += SharedClusterLines(r.shared_cluster(), s.cluster().num_gpus());
  std::string zero = fmt::format("ZeRO-{}", p.zero_stage());
  if (p.zero_stage() == 3 && !p.zero3_implementation().empty()) zero += " (" + p.zero3_implementation() + ")";
  o += fmt::format("  workload  {} ({}), TP{} CP{} PP{} DP{} EP{}, micro-batch {}, global batch {}, {}, {}\n",
                   s.workload().model().name(), PrecisionText(r), p.tp(), p.cp(), p.pp(), p.dp(), p.ep(),
                   p.micro_batch_size(), p.global_batch_size(), p.schedule(), zero);
  const v1::TimeBreakdown& b = r.breakdown();
  o += fmt::format("  step time {}\n", FormatSeconds(r.step_time_s()));
  o += fmt::format("    compute {} | exposed comm: TP {}, CP {}, PP {}, DP {}, EP {} | pipeline bubble {}\n",
                   FormatSeconds(b.compute_s()), FormatSeconds(b.exposed_tp_comm_s()),
                   FormatSeconds(b.exposed_cp_comm_s()), FormatSeconds(b.exposed_pp_comm_s()),
                   FormatSeconds(b.exposed_dp_comm_s()), FormatSeconds(b.exposed_ep_comm_s()),
                   FormatSeconds(b.pipeline_bubble_s()));
  if (b.link_capacity_s() > 0)
    o += fmt::format("    link capacity floor +{}: the busiest link carries more than the overlapped communications, "
                     "priced one by one, leave it time for; the step is that link's bytes / capacity\n",
                     FormatSeconds(b.link_capacity_s()));
  const double moe =
      b.moe_router_s() + b.moe_permute_s() + b.moe_expert_gemm_s() + b.moe_quantize_s() + b.moe_host_sync_s();
  if (moe > 0)
    o += fmt::format("    moe layers: expert GEMMs {} | router {} | permute {} | FP8 quantise {} | host sync {}\n",
                     FormatSeconds(b.moe_expert_gemm_s()), FormatSeconds(b.moe_router_s()),
                     FormatSeconds(b.moe_permute_s()), FormatSeconds(b.moe_quantize_s()),
                     FormatSeconds(b.moe_host_sync_s()));
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
  if (r.has_joint_traffic())
    o += fmt::format("    joint traffic: {} with every communication alone, {:+.2f}% with overlaps shared ({} pairs, {} "
                     "reruns)\n",
                     FormatSeconds(r.joint_traffic().step_time_separate_s()),
                     100 * r.joint_traffic().step_time_change(), r.joint_traffic().pairs(), r.joint_traffic().runs());
  o += fmt::format("  throughput {} tokens/s ({} per GPU), {:.0f} model TFLOP/s per GPU\n",
                   FormatCount(r.tokens_per_s()), FormatCount(r.tokens_per_s_per_gpu()), r.model_tflops_per_gpu());
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
  if (r.topology().has_faults()) {
    const v1::FaultsApplied& fa = r.topology().faults();
    o += fmt::format("  faults    {} links down, {} slowed, {} switches down, {} planes down (routing {})\n",
                     FormatCount(fa.links_down()), FormatCount(fa.links_slowed()), fa.switches_down(), fa.planes_down(),
                     r.topology().routing());
  }
  if (r.link_usage_size() > 0) {
    o += "  links    ";
    for (const v1::LinkClassUsage& u : r.link_usage())
      o += fmt::format(" {} {:.0f}% (max {:.0f}%)", u.kind(), 100 * u.avg_utilization(), 100 * u.max_utilization());
    o += "\n";
    if (r.hottest_links_size() > 0)
      o +=
          fmt::format("  hottest   {} at {:.0f}%\n", r.hottest_links(0).name(), 100 * r.hottest_links(0).utilization());
  }
  if (r.has_power_swing() && r.power_swing().step_max_w() > 0) o += SwingLines(r.power_swing());
  if (r.has_projection() && r.projection().training_tokens() > 0) o += RunLines(r);
  if (r.has_cost() && r.cost().tco_usd() > 0) o += CostLine(r.cost());
  if (r.topology().tiers_size() > 0) o += "  network   per tier:\n" + NetworkTierLines(r.topology(), "    ");
  const v1::SimStats& st = r.sim();
  o += fmt::format("  simulated {} SimGrid hosts, {} links, {} flows in {} phase solves; {:.2f} s wall, {:.0f} MiB\n",
                   FormatCount(st.simgrid_hosts()), FormatCount(st.simgrid_links()), FormatCount(st.flows()),
                   st.phase_solves(), st.wall_s(), st.peak_rss_mib());
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
