// The account stage; see accounting.h.
#include "sim/accounting.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <tuple>

#include "common/error.h"
#include "sim/hardware/power_model.h"
#include "sim/network_cost.h"
#include "sim/simulation.h"

namespace clustersim::sim {

namespace {

PowerState ToPowerState(Activity a) {
  switch (a) {
    case Activity::kComputeBound:
      return PowerState::kComputeBound;
    case Activity::kMemoryBound:
      return PowerState::kMemoryBound;
    case Activity::kComm:
    case Activity::kAsyncComm:
      return PowerState::kCommunicating;
    default:
      return PowerState::kIdle;
  }
}

const char* PhaseName(wl::Phase p) {
  switch (p) {
    case wl::Phase::kForward:
      return "forward";
    case wl::Phase::kBackward:
      return "backward";
    case wl::Phase::kRecompute:
      return "recompute";
    case wl::Phase::kOptimizer:
      return "optimizer";
    case wl::Phase::kGradSync:
      return "grad sync";
  }
  return "other";
}

// Trace category of a communication dimension, grouped as the breakdown groups them.
const char* DimCategory(wl::Dim d) {
  switch (d) {
    case wl::Dim::kTp:
      return "tp";
    case wl::Dim::kCp:
    case wl::Dim::kTpCp:
      return "cp";
    case wl::Dim::kPp:
      return "pp";
    case wl::Dim::kEp:
      return "ep";
    case wl::Dim::kDp:
    case wl::Dim::kDpCp:
    case wl::Dim::kEdp:
      return "dp";
  }
  return "dp";
}

bool IsMoePart(wl::ComputeKind k) {
  return k == wl::ComputeKind::kRouter || k == wl::ComputeKind::kGroupedGemm || k == wl::ComputeKind::kQuantize ||
         k == wl::ComputeKind::kPermute;
}

// Adds a compute or host-sync interval of `kind` to the MoE parts of the breakdown.
void AddMoePart(v1::TimeBreakdown& b, wl::ComputeKind kind, double d) {
  switch (kind) {
    case wl::ComputeKind::kRouter:
      b.set_moe_router_s(b.moe_router_s() + d);
      break;
    case wl::ComputeKind::kPermute:
      b.set_moe_permute_s(b.moe_permute_s() + d);
      break;
    case wl::ComputeKind::kGroupedGemm:
      b.set_moe_expert_gemm_s(b.moe_expert_gemm_s() + d);
      break;
    case wl::ComputeKind::kQuantize:
      b.set_moe_quantize_s(b.moe_quantize_s() + d);
      break;
    case wl::ComputeKind::kHostSync:
      b.set_moe_host_sync_s(b.moe_host_sync_s() + d);
      break;
    default:
      break;
  }
}

// Appends one stage's intervals on one track to r.timeline (times from the step start t0), merging back-to-back
// intervals that carry the same name.
void AppendTimeline(v1::RunResult& r, uint32_t stage, uint32_t track, const std::vector<Interval>& ivs, double t0) {
  v1::TraceEvent* last = nullptr;
  std::string name;
  for (const Interval& iv : ivs) {
    const char* category = "compute";
    switch (iv.activity) {
      case Activity::kComputeBound:
      case Activity::kMemoryBound:
        name = IsMoePart(iv.kind) ? std::string("moe ") + wl::ToString(iv.kind) + " (" + PhaseName(iv.phase) + ")"
                                  : std::string(PhaseName(iv.phase));
        break;
      case Activity::kComm:
      case Activity::kAsyncComm:
        category = DimCategory(iv.dim);
        name = std::string(wl::ToString(iv.dim)) + " comm (" + PhaseName(iv.phase) + ")";
        break;
      case Activity::kWaitRecv:
        category = "wait";
        name = std::string("pipeline wait (") + PhaseName(iv.phase) + ")";
        break;
      case Activity::kWaitAsync:
        category = "wait";
        name = std::string("async comm wait (") + PhaseName(iv.phase) + ")";
        break;
      case Activity::kHost:
        category = "host";
        name = iv.kind == wl::ComputeKind::kHostSync ? std::string("moe host sync (") + PhaseName(iv.phase) + ")"
                                                     : std::string("host and framework (per step)");
        break;
    }
    const double start = iv.start_s - t0;
    const double end = iv.end_s - t0;
    if (last != nullptr && last->name() == name &&
        std::abs(start - (last->start_s() + last->duration_s())) <= 1e-12 * std::max(1.0, end)) {
      last->set_duration_s(end - last->start_s());
      continue;
    }
    last = r.add_timeline();
    last->set_stage(stage);
    last->set_name(name);
    last->set_category(category);
    last->set_start_s(start);
    last->set_duration_s(end - start);
    last->set_track(track);
  }
}

}  // namespace

void LinkLoad::OnLinkBytes(const std::vector<std::pair<uint32_t, double>>& bytes, double weight) {
  for (const auto& [link, b] : bytes) bytes_[link] += b * weight;
}

double LinkLoad::MinStepS() const {
  const auto& links = platform_.links();
  double t = 0;
  for (size_t i = 0; i < links.size(); ++i)
    if (links[i].capacity_bytes_per_s > 0) t = std::max(t, bytes_[i] / links[i].capacity_bytes_per_s);
  return t;
}

void LinkLoad::Report(double step_s, v1::RunResult& r) const {
  const auto& links = platform_.links();
  std::map<int, std::tuple<uint64_t, double, double, double>> per_kind;  // count, bytes, capacity, max util
  std::vector<std::pair<double, size_t>> util(links.size());
  for (size_t i = 0; i < links.size(); ++i) {
    const double u = bytes_[i] / (links[i].capacity_bytes_per_s * step_s);
    util[i] = {u, i};
    auto& [count, bytes, cap, max_u] = per_kind[static_cast<int>(links[i].kind)];
    ++count;
    bytes += bytes_[i];
    cap += links[i].capacity_bytes_per_s;
    max_u = std::max(max_u, u);
  }
  for (const auto& [kind, t] : per_kind) {
    v1::LinkClassUsage* u = r.add_link_usage();
    u->set_kind(topo::ToString(static_cast<topo::LinkKind>(kind)));
    u->set_links(std::get<0>(t));
    u->set_bytes_per_step(std::get<1>(t));
    u->set_avg_utilization(std::get<1>(t) / (std::get<2>(t) * step_s));
    u->set_max_utilization(std::get<3>(t));
  }
  const size_t top = std::min<size_t>(5, util.size());
  std::partial_sort(util.begin(), util.begin() + static_cast<long>(top), util.end(), [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  });
  for (size_t k = 0; k < top; ++k) {
    v1::HotLink* h = r.add_hottest_links();
    const auto& info = links[util[k].second];
    h->set_name(platform_.LinkName(util[k].second));
    h->set_kind(topo::ToString(info.kind));
    h->set_utilization(util[k].first);
    h->set_bytes_per_step(bytes_[util[k].second]);
  }
}

v1::RunResult AccountStep(const v1::Scenario& s, const StepWork& work, const ExecutedStep& ex, const Pricing& pricing,
                          const LinkLoad& links, const SimWorld& world, const VariabilityModel& variability) {
  const double T = ex.mean_s();
  if (!(T > 0) || !(ex.nominal.step_time_s > 0))
    throw SimulationError("step time is not positive; the program has no work");
  v1::RunResult r;
  r.set_seed(s.seed());
  *r.mutable_scenario() = s;
  FillThroughput(s, work, T, r);
  const size_t crit = FillBreakdown(ex.nominal, r);
  if (const double added = ex.nominal.floor_added_s; added > 0) {  // the floor's raised end is not bubble
    v1::TimeBreakdown& b = *r.mutable_breakdown();
    b.set_pipeline_bubble_s(std::max(0.0, b.pipeline_bubble_s() - added));
    b.set_link_capacity_s(added);
  }
  if (ex.perturbed) r.mutable_breakdown()->set_straggler_s(T - ex.nominal.step_time_s);
  FillStageStats(ex.first, r);
  FillTimeline(s, work.program, ex.first, r);
  r.add_critical_path("stage " + std::to_string(crit) + " (most compute): compute " +
                      std::to_string(r.breakdown().compute_s()) + " s of " + std::to_string(T) + " s");
  FillCommTable(work.program, pricing.costs(), r);
  FillPowerAndEnergy(s, work.program, ex.first, world.fabric(), r);
  FillMemory(s, work.program, r);
  links.Report(T, r);
  FillSimStats(world, pricing, ex.first.stages.size(), r);
  FillStepStatistics(ex, variability, r);
  FillJointTraffic(ex, r);
  return r;
}

void FillJointTraffic(const ExecutedStep& ex, v1::RunResult& r) {
  if (!ex.joint) return;
  v1::JointTrafficStats& j = *r.mutable_joint_traffic();
  j.set_step_time_separate_s(ex.separate_step_s);
  j.set_step_time_change(ex.separate_step_s > 0 ? ex.nominal.step_time_s / ex.separate_step_s - 1 : 0);
  j.set_pairs(ex.joint_pairs);
  j.set_runs(ex.joint_runs);
}

void FillThroughput(const v1::Scenario& s, const StepWork& work, double T, v1::RunResult& r) {
  const wl::StepProgram& program = work.program;
  const double gpus = s.cluster().num_gpus();
  const double peak = work.compute.peak_flops();
  r.set_step_time_s(T);
  r.set_tokens_per_s(program.tokens_per_step / T);
  r.set_tokens_per_s_per_gpu(program.tokens_per_step / T / gpus);
  r.set_model_tflops_per_gpu(program.model_flops_per_step / T / gpus / 1e12);
  r.set_hardware_tflops_per_gpu(program.hardware_flops_per_step / T / gpus / 1e12);
  r.set_model_tflops_per_gpu_causal(program.model_flops_causal_per_step / T / gpus / 1e12);
  r.set_mfu(program.model_flops_per_step / (T * gpus * peak));
  r.set_hfu(program.hardware_flops_per_step / (T * gpus * peak));
  r.set_flop_convention(program.flop_convention);
  r.set_effective_precision(work.compute.effective_precision());  // after the chip's fallback (fp8 -> bf16)
}

namespace {

// Adds `d` seconds of exposed communication to the breakdown entry of `dim`.
void AddExposed(v1::TimeBreakdown& b, wl::Dim dim, double d) {
  switch (dim) {
    case wl::Dim::kTp:
      b.set_exposed_tp_comm_s(b.exposed_tp_comm_s() + d);
      break;
    case wl::Dim::kCp:
    case wl::Dim::kTpCp:
      b.set_exposed_cp_comm_s(b.exposed_cp_comm_s() + d);
      break;
    case wl::Dim::kPp:
      b.set_exposed_pp_comm_s(b.exposed_pp_comm_s() + d);
      break;
    case wl::Dim::kDp:
    case wl::Dim::kDpCp:
    case wl::Dim::kEdp:
      b.set_exposed_dp_comm_s(b.exposed_dp_comm_s() + d);
      break;
    case wl::Dim::kEp:
      b.set_exposed_ep_comm_s(b.exposed_ep_comm_s() + d);
      break;
  }
}

bool IsCompute(Activity a) { return a == Activity::kComputeBound || a == Activity::kMemoryBound; }

}  // namespace

std::vector<double> StageBusy(const StepTimeline& tl) {
  std::vector<double> busy(tl.stages.size(), 0);
  for (size_t st = 0; st < tl.stages.size(); ++st)
    for (const Interval& iv : tl.stages[st].main)
      if (IsCompute(iv.activity)) busy[st] += iv.end_s - iv.start_s;
  return busy;
}

size_t FillBreakdown(const StepTimeline& tl, v1::RunResult& r) {
  const std::vector<double> busy = StageBusy(tl);
  size_t crit = 0;
  for (size_t st = 0; st < busy.size(); ++st)
    if (busy[st] > busy[crit]) crit = st;
  v1::TimeBreakdown& b = *r.mutable_breakdown();
  double accounted = 0;
  for (const Interval& iv : tl.stages[crit].main) {
    const double d = iv.end_s - iv.start_s;
    accounted += d;
    switch (iv.activity) {
      case Activity::kComputeBound:
      case Activity::kMemoryBound:
        b.set_compute_s(b.compute_s() + d);
        AddMoePart(b, iv.kind, d);
        break;
      case Activity::kWaitRecv:
        b.set_pipeline_bubble_s(b.pipeline_bubble_s() + d);
        break;
      case Activity::kHost:
        b.set_other_s(b.other_s() + d);
        AddMoePart(b, iv.kind, d);
        break;
      case Activity::kWaitAsync:  // waiting for overlapped collectives: charged to what was awaited
      case Activity::kComm:
        AddExposed(b, iv.dim, d);
        break;
      case Activity::kAsyncComm:
        break;
    }
  }
  b.set_pipeline_bubble_s(b.pipeline_bubble_s() + std::max(0.0, tl.step_time_s - accounted));
  return crit;
}

void FillStageStats(const StepTimeline& tl, v1::RunResult& r) {
  const std::vector<double> busy = StageBusy(tl);
  const double T = tl.step_time_s;
  double util = 0;
  for (size_t st = 0; st < tl.stages.size(); ++st) {
    v1::StageTimeline* stage = r.add_stages();
    stage->set_stage(static_cast<uint32_t>(st));
    stage->set_busy_compute_s(busy[st]);
    double comm = 0;
    for (const Interval& iv : tl.stages[st].main)
      if (iv.activity == Activity::kComm) comm += iv.end_s - iv.start_s;
    stage->set_comm_s(comm);
    stage->set_idle_s(std::max(0.0, T - busy[st] - comm));
    util += busy[st] / T;
  }
  r.set_gpu_utilization(util / static_cast<double>(tl.stages.size()));
}

void FillTimeline(const v1::Scenario& s, const wl::StepProgram& program, const StepTimeline& tl, v1::RunResult& r) {
  // Each rank is played by its stage's representative, so a rank's timeline is its stage's.
  std::vector<bool> traced(tl.stages.size(), s.options().trace_ranks_size() == 0);
  for (uint32_t rank : s.options().trace_ranks()) traced[program.layout.PpIndex(rank)] = true;
  for (size_t st = 0; st < tl.stages.size(); ++st) {
    if (!traced[st]) continue;
    AppendTimeline(r, static_cast<uint32_t>(st), 0, tl.stages[st].main, tl.start_s);
    AppendTimeline(r, static_cast<uint32_t>(st), 1, tl.stages[st].stream, tl.start_s);
  }
}

namespace {

// Occurrences per step of each cost entry: pipeline transfers per (stage, direction), collectives on the stage whose
// representative issues the most of them.
std::map<CommCostModel::Key, uint32_t> CommOccurrences(const wl::StepProgram& program) {
  std::map<CommCostModel::Key, uint32_t> occurrences;
  for (uint32_t st = 0; st < program.stages.size(); ++st) {
    std::map<CommCostModel::Key, uint32_t> here;
    for (const wl::Op& op : program.stages[st]) {
      const double op_bytes = static_cast<double>(op.comm_bytes);
      if (op.type == wl::OpType::kCollective) {
        ++here[CommCostModel::CollectiveKey(ToCollectiveKind(op.coll), op.dim, op_bytes, op.internode_scale)];
      } else if (op.type == wl::OpType::kSend) {
        ++here[CommCostModel::PipelineKey(st, op.peer_delta, op_bytes)];
      }
    }
    for (const auto& [k, n] : here) occurrences[k] = std::max(occurrences[k], n);
  }
  return occurrences;
}

}  // namespace

void FillCommTable(const wl::StepProgram& program, const CommCostModel& costs, v1::RunResult& r) {
  const std::map<CommCostModel::Key, uint32_t> occurrences = CommOccurrences(program);
  for (const auto& [key, cost] : costs.entries()) {
    v1::CommStat* cs = r.add_comms();
    const auto occ = occurrences.find(key);
    cs->set_count_per_step(occ == occurrences.end() ? 0 : occ->second);
    const auto kind = static_cast<CollectiveKind>(std::get<0>(key));
    const auto dim = static_cast<wl::Dim>(std::get<1>(key));
    cs->set_kind(wl::ToString(dim));
    if (kind == CollectiveKind::kSendRecv) {
      const uint32_t pp = program.layout.pp, from = std::get<2>(key) / 2;
      const uint32_t to = std::get<2>(key) % 2 == 1 ? (from + 1) % pp : (from + pp - 1) % pp;
      cs->set_stages(std::to_string(from) + "->" + std::to_string(to));
    }
    cs->set_collective(ToString(kind));
    cs->set_algorithm(cost.algorithm);
    cs->set_bytes_per_rank(static_cast<uint64_t>(std::get<3>(key)));
    cs->set_group_size(cost.group_size);
    cs->set_time_s(cost.time_s);
    if (cost.time_s > 0)
      cs->set_bus_bandwidth_gbyte_per_s(std::get<3>(key) / cost.time_s * BusBandwidthFactor(kind, cost.group_size) /
                                        1e9);
    cs->set_flows_simulated(cost.flows);
  }
}

// Default window of the power ramp measurement (facility.power_ramp_window_s).
constexpr double kRampWindowS = 0.01;

void FillPowerAndEnergy(const v1::Scenario& s, const wl::StepProgram& program, const StepTimeline& tl,
                        const topo::Fabric& fabric, v1::RunResult& r) {
  const v1::Cluster& c = s.cluster();
  const PowerModel power(s.accelerator());
  const topo::Inventory inv = fabric.ComputeInventory();
  *r.mutable_topology() = SummarizeTopology(fabric, inv, s);
  EnergyConfig ec;
  ec.step_time_s = tl.step_time_s;
  ec.num_gpus = c.num_gpus();
  ec.gpus_per_node = c.scale_up().gpus_per_node();
  ApplyNetworkPower(r.topology(), ec);
  ec.pue = s.facility().pue();
  ec.tokens_per_step = static_cast<double>(program.tokens_per_step);
  EnergyAccumulator acc(power, ec);
  // Without the power cap and floor, for what they cost (only built when the scenario applies one).
  const PowerModel raw_power(s.accelerator(), false);
  const bool mitigated = power.cap_w() > 0 || power.floor_w() > 0;
  std::optional<EnergyAccumulator> raw;
  if (mitigated) raw.emplace(raw_power, ec);
  const uint64_t mult = static_cast<uint64_t>(program.layout.tp) * program.layout.cp * program.layout.dp;
  std::vector<GpuInterval> ivs;
  for (const StageTimeline& st : tl.stages) {
    ivs.clear();
    for (const Interval& iv : st.main)
      ivs.push_back({ToPowerState(iv.activity), iv.start_s - tl.start_s, iv.end_s - tl.start_s});
    for (const Interval& iv : st.stream)
      ivs.push_back({ToPowerState(iv.activity), iv.start_s - tl.start_s, iv.end_s - tl.start_s});
    if (tl.floor_added_s > 0)  // the link capacity floor's end: links busy, GPUs in communication kernels
      ivs.push_back({PowerState::kCommunicating, tl.step_time_s - tl.floor_added_s, tl.step_time_s});
    acc.AddTimeline(ivs, mult);
    if (raw) raw->AddTimeline(ivs, mult);
  }
  *r.mutable_power() = acc.Summary();
  for (const v1::PowerSample& ps : acc.Samples(100)) *r.add_power_timeline() = ps;
  v1::PowerSwing& swing = *r.mutable_power_swing();
  swing = acc.Swing(s.facility().power_ramp_window_s() > 0 ? s.facility().power_ramp_window_s() : kRampWindowS);
  swing.set_power_cap_w(power.cap_w());
  swing.set_power_floor_w(power.floor_w());
  if (raw) {
    swing.set_unmitigated_swing_w(raw->Swing(swing.ramp_window_s()).step_swing_w());
    const double extra_j = acc.Energy().facility_j - raw->Energy().facility_j;
    swing.set_mitigation_energy_j_per_step(std::max(0.0, extra_j));
    swing.set_mitigation_saved_j_per_step(std::max(0.0, -extra_j));
  }
}

void FillMemory(const v1::Scenario& s, const wl::StepProgram& program, v1::RunResult& r) {
  const wl::MemoryEstimate& e = program.memory;
  v1::MemorySummary& m = *r.mutable_memory();
  m.set_weights_gb(e.weights / 1e9);
  m.set_gradients_gb(e.gradients / 1e9);
  m.set_optimizer_gb(e.optimizer / 1e9);
  m.set_activations_gb(e.activations / 1e9);
  m.set_overhead_gb(e.overhead / 1e9);
  m.set_allocated_gb(e.allocated() / 1e9);
  m.set_offloaded_gb(e.offloaded / 1e9);
  m.set_total_gb(e.total() / 1e9);
  m.set_capacity_gb(s.accelerator().hbm_gb());
  m.set_over_hbm_gb(std::max(0.0, m.total_gb() - m.capacity_gb()));
  m.set_worst_stage(program.memory_stage);
}

void FillSimStats(const SimWorld& world, const Pricing& pricing, size_t stage_actors, v1::RunResult& r) {
  v1::SimStats& st = *r.mutable_sim();
  st.set_simgrid_hosts(world.platform().num_hosts());
  st.set_simgrid_links(world.platform().num_links());
  st.set_flows(pricing.solver().flows_solved());
  st.set_phase_solves(pricing.solver().solves());
  st.set_actors(pricing.solver().actors_created() + 2 * stage_actors);
  st.set_events(world.events());
  st.set_wall_s(world.WallSeconds());
  st.set_peak_rss_mib(PeakRssMib());
}

void FillStepStatistics(const ExecutedStep& ex, const VariabilityModel& variability, v1::RunResult& r) {
  if (!ex.perturbed) return;
  v1::StepStatistics& st = *r.mutable_step_statistics();
  std::vector<double> sorted = ex.step_times_s;
  std::sort(sorted.begin(), sorted.end());
  // Nearest-rank percentiles.
  auto pct = [&sorted](double q) {
    const size_t k = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
    return sorted[std::min(sorted.size() - 1, k == 0 ? 0 : k - 1)];
  };
  st.set_steps(static_cast<uint32_t>(sorted.size()));
  st.set_mean_s(ex.mean_s());
  st.set_p50_s(pct(0.5));
  st.set_p99_s(pct(0.99));
  st.set_min_s(sorted.front());
  st.set_max_s(sorted.back());
  for (double t : ex.step_times_s) st.add_step_time_s(t);
  st.set_gpu_speed_cv(variability.gpu_speed_cv());
  st.set_slowest_replica(ex.slowest.replica);
  st.set_slowest_stage_speed(1 / ex.slowest.max());
}

}  // namespace clustersim::sim
