// Simulation entry points; see simulation.h.
#include "sim/simulation.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <simgrid/s4u.hpp>
#include <string>
#include <tuple>

#include "common/error.h"
#include "sim/child_process.h"
#include "sim/comm_cost.h"
#include "sim/compute_model.h"
#include "sim/engine.h"
#include "sim/phase_solver.h"
#include "sim/platform.h"
#include "sim/power_model.h"
#include "sim/step_executor.h"
#include "workloads/generator.h"
#include "workloads/moe_routing.h"

namespace clustersim::sim {

namespace sg4 = simgrid::s4u;

namespace {

double PeakRssMib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

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

// Bytes each SimGrid link carries per step, from every phase the cost model accounts for.
class LinkLoad : public PhaseObserver {
 public:
  explicit LinkLoad(const Platform& platform) : platform_(platform), bytes_(platform.links().size(), 0.0) {}
  void OnPhase(const std::vector<Flow>& flows, double weight) override {
    for (const Flow& f : flows) platform_.AddRouteLoad(f.src, f.dst, f.bytes * weight, bytes_);
  }
  // Fills link_usage (per class) and hottest_links (top five) of `r` for a step of `step_s` seconds.
  void Report(double step_s, v1::RunResult& r) const {
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
    std::partial_sort(
        util.begin(), util.begin() + static_cast<long>(top), util.end(),
        [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
    for (size_t k = 0; k < top; ++k) {
      v1::HotLink* h = r.add_hottest_links();
      const auto& info = links[util[k].second];
      h->set_name(platform_.LinkName(util[k].second));
      h->set_kind(topo::ToString(info.kind));
      h->set_utilization(util[k].first);
      h->set_bytes_per_step(bytes_[util[k].second]);
    }
  }

 private:
  const Platform& platform_;
  std::vector<double> bytes_;
};

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
        name = PhaseName(iv.phase);
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

constexpr double kMaxStepTimeS = 1e7;

void CheckMemoryFits(const wl::StepProgram& program, const v1::Scenario& s, const std::string& source) {
  const double capacity = s.accelerator().hbm_gb() * 1e9;
  size_t worst = 0;
  for (size_t i = 0; i < program.stage_memory.size(); ++i)
    if (program.stage_memory[i].total() > program.stage_memory[worst].total()) worst = i;
  const wl::MemoryEstimate& m = program.stage_memory.empty() ? program.memory : program.stage_memory[worst];
  if (m.total() <= capacity) return;
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "needs %.1f GB per GPU on pipeline stage %zu (weights %.1f, gradients %.1f, optimizer %.1f, "
                "activations %.1f) but %s has %.0f GB: over by %.1f GB; use more pipeline/tensor parallelism, a "
                "higher zero_stage, or activation recompute",
                m.total() / 1e9, worst, m.weights / 1e9, m.gradients / 1e9, m.optimizer / 1e9, m.activations / 1e9,
                s.accelerator().name().c_str(), capacity / 1e9, (m.total() - capacity) / 1e9);
  throw DoesNotFitError(InputError::Field(source, 0, "workload.parallelism", "(memory)", buf).what());
}

v1::TopologySummary SummarizeTopology(const topo::Fabric& f, const topo::Inventory& inv, const v1::Scenario& s) {
  v1::TopologySummary t;
  t.set_topology(f.params().topology);
  t.set_gpus(inv.gpus);
  t.set_nodes(inv.nodes);
  for (uint64_t n : inv.switches_per_tier) t.add_switches_per_tier(n);
  t.set_switches(inv.switches);
  uint64_t links = 0;
  for (uint64_t n : inv.links_per_kind) links += n;
  t.set_links(links);
  t.set_switch_links(inv.switch_links);
  t.set_transceivers(inv.transceivers);
  t.set_bisection_bandwidth_gbps(inv.bisection_bandwidth_gbps);
  t.set_diameter_hops(inv.diameter_hops);
  const v1::NetworkParts& p = s.cluster().parts();
  t.set_network_cost_usd(inv.switches * p.switch_price_usd() + inv.transceivers * p.transceiver_price_usd() +
                         inv.nics * p.nic_price_usd() + (inv.switch_links + inv.endpoint_links) * p.cable_price_usd());
  t.set_network_power_w(NetworkPowerW(NetworkInventory{inv.switches, inv.transceivers, inv.nics}, p));
  return t;
}

topo::FabricParams FabricParamsOf(const v1::Scenario& s) {
  const v1::Cluster& c = s.cluster();
  topo::FabricParams p;
  p.topology = c.scale_out().topology();
  p.num_gpus = c.num_gpus();
  p.gpus_per_node = c.scale_up().gpus_per_node();
  p.scale_up_domain = c.scale_up().domain_size();
  p.scale_up_bandwidth_gbps = c.scale_up().bandwidth_gbyte_per_s() * 8;
  p.scale_up_latency_ns = c.scale_up().latency_ns();
  p.nics_per_gpu = c.scale_out().nics_per_gpu();
  p.nic_bandwidth_gbps = c.scale_out().nic_bandwidth_gbps();
  p.link_latency_ns = c.scale_out().link_latency_ns();
  p.switch_latency_ns = c.scale_out().switch_latency_ns();
  p.switch_radix = c.scale_out().switch_radix();
  p.tiers = c.scale_out().tiers();
  p.oversubscription.assign(c.scale_out().oversubscription().begin(), c.scale_out().oversubscription().end());
  p.planes = c.scale_out().planes();  // 0 = the generator default (one plane per NIC port of a node)
  p.dragonfly_routers_per_group = c.scale_out().dragonfly_routers_per_group();
  p.dragonfly_hosts_per_router = c.scale_out().dragonfly_hosts_per_router();
  p.dragonfly_global_links_per_router = c.scale_out().dragonfly_global_links_per_router();
  p.torus_dims.assign(c.scale_out().torus_dims().begin(), c.scale_out().torus_dims().end());
  p.ecmp = c.scale_out().routing() != "static";  // "spray" bundles links in the platform; routes still hash
  p.seed = s.seed();
  return p;
}

double EstimateRunMemoryGb(const v1::Scenario& s) {
  // The fabric graph, the SimGrid platform (hosts, links, bundles) and the step program: measured 0.72 GiB at
  // 131,072 GPUs and 5.6 GiB at 1,048,576 (docs/performance.md), so 6 KiB per GPU plus a small base.
  return 0.03 + 6.0 * 1024 * s.cluster().num_gpus() / 1e9;
}

namespace {

double MemoryLimitGb(const v1::Scenario& s) {
  if (s.options().memory_limit_gb() > 0) return s.options().memory_limit_gb();
  const double pages = static_cast<double>(sysconf(_SC_PHYS_PAGES));
  const double page = static_cast<double>(sysconf(_SC_PAGE_SIZE));
  return 0.9 * pages * page / 1e9;
}

void GuardMemory(const v1::Scenario& s, const std::string& source) {
  const double limit_gb = MemoryLimitGb(s);
  const double need = EstimateRunMemoryGb(s);
  if (need <= limit_gb) return;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "the simulation would need at least %.3g GB of memory and the limit is %.3g GB; run on a larger "
                "machine (options.memory_limit_gb sets the limit)",
                need, limit_gb);
  throw InputError::Field(source, 0, "cluster.num_gpus", std::to_string(s.cluster().num_gpus()), buf);
}

// In the child: before each phase, the phase solver checks the memory the phase would take (see
// PhaseSolver::SetMemoryLimit) and ends the process with this error rather than being killed.
void GuardPhases(PhaseSolver& solver, const v1::Scenario& s, const ChildChannel& channel) {
  const double limit_gb = MemoryLimitGb(s);
  solver.SetMemoryLimit(limit_gb * 1e9, [&s, &channel, limit_gb](double need_bytes, uint64_t flows) {
    char buf[384];
    std::snprintf(buf, sizeof buf,
                  "the simulation would reach about %.3g GB with a phase of %llu flows and the limit is %.3g GB "
                  "(fabrics or plans that the symmetry reductions cannot shrink solve every group: "
                  "docs/performance.md); reduce options.max_flows_per_phase or run on a larger machine "
                  "(options.memory_limit_gb sets the limit)",
                  need_bytes / 1e9, static_cast<unsigned long long>(flows), limit_gb);
    channel.Fail(InputError::Field(s.name(), 0, "cluster.num_gpus", std::to_string(s.cluster().num_gpus()), buf));
  });
}

}  // namespace

v1::RunResult SimulateStep(const v1::Scenario& s, const std::string& source_file) {
  const std::string source = source_file.empty() ? s.name() : source_file;
  GuardMemory(s, source);
  const std::string bytes = RunInChild([&s, &source](const ChildChannel& channel) -> std::string {
    const auto wall0 = std::chrono::steady_clock::now();
    PrepareHeap(s.cluster().num_gpus());
    const v1::Cluster& c = s.cluster();
    const std::unique_ptr<topo::Fabric> fabric = topo::BuildFabric(FabricParamsOf(s));
    const wl::StepProgram program =
        wl::BuildStepProgram(s.workload(), c.num_gpus(), c.scale_up().gpus_per_node(), s.seed());
    const ComputeModel compute(s.accelerator(), s.workload().precision(), s.name(), program.compute_efficiency);
    CheckMemoryFits(program, s, source);

    uint64_t events = 0;
    auto engine = MakeEngine(&events);
    Platform platform(*engine, *fabric, PlatformOptionsOf(s, compute.peak_flops()));
    EndHeapReservation();
    PhaseSolver solver(platform);
    GuardPhases(solver, s, channel);
    const bool full = s.options().fidelity() == "full";
    CommCostModel costs(solver, *fabric, program.layout, s.collectives(),
                        full ? std::numeric_limits<uint64_t>::max() : s.options().max_flows_per_phase(),
                        s.accelerator().scale_up_in_network_reduction(), /*reuse_shapes=*/!full,
                        /*reduce_symmetry=*/!full);
    costs.SetDataParallelEfficiency(program.sharded_dp_collective_efficiency);
    LinkLoad link_load(platform);
    costs.SetObserver(&link_load);
    StepExecutor executor(*engine, platform, program, compute, costs);
    executor.PrecomputeCosts(solver);
    const StepTimeline tl = executor.Run();

    v1::RunResult r;
    r.set_seed(s.seed());
    *r.mutable_scenario() = s;
    const double T = tl.step_time_s;
    if (!(T > 0)) throw SimulationError("step time is not positive; the program has no work");
    r.set_step_time_s(T);
    const double gpus = c.num_gpus();
    r.set_tokens_per_s(program.tokens_per_step / T);
    r.set_tokens_per_s_per_gpu(program.tokens_per_step / T / gpus);
    r.set_model_tflops_per_gpu(program.model_flops_per_step / T / gpus / 1e12);
    r.set_hardware_tflops_per_gpu(program.hardware_flops_per_step / T / gpus / 1e12);
    r.set_model_tflops_per_gpu_causal(program.model_flops_causal_per_step / T / gpus / 1e12);
    r.set_mfu(program.model_flops_per_step / (T * gpus * compute.peak_flops()));
    r.set_hfu(program.hardware_flops_per_step / (T * gpus * compute.peak_flops()));
    r.set_flop_convention(program.flop_convention);

    // Breakdown on the critical stage: the one with the most compute (ties: the first).
    size_t crit = 0;
    std::vector<double> busy(tl.stages.size(), 0);
    for (size_t st = 0; st < tl.stages.size(); ++st) {
      for (const Interval& iv : tl.stages[st].main)
        if (iv.activity == Activity::kComputeBound || iv.activity == Activity::kMemoryBound)
          busy[st] += iv.end_s - iv.start_s;
      if (busy[st] > busy[crit]) crit = st;
    }
    v1::TimeBreakdown& b = *r.mutable_breakdown();
    double accounted = 0;
    for (const Interval& iv : tl.stages[crit].main) {
      const double d = iv.end_s - iv.start_s;
      accounted += d;
      switch (iv.activity) {
        case Activity::kComputeBound:
        case Activity::kMemoryBound:
          b.set_compute_s(b.compute_s() + d);
          break;
        case Activity::kWaitRecv:
          b.set_pipeline_bubble_s(b.pipeline_bubble_s() + d);
          break;
        case Activity::kWaitAsync:  // waiting for overlapped collectives: charged to what was awaited
        case Activity::kComm:
          switch (iv.dim) {
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
          break;
        case Activity::kAsyncComm:
          break;
      }
    }
    b.set_pipeline_bubble_s(b.pipeline_bubble_s() + std::max(0.0, T - accounted));
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
    // Timeline: every stage, or only the stages of options.trace_ranks (each rank is played by its stage's
    // representative, so a rank's timeline is its stage's).
    std::vector<bool> traced(tl.stages.size(), s.options().trace_ranks_size() == 0);
    for (uint32_t rank : s.options().trace_ranks()) traced[program.layout.PpIndex(rank)] = true;
    for (size_t st = 0; st < tl.stages.size(); ++st) {
      if (!traced[st]) continue;
      AppendTimeline(r, static_cast<uint32_t>(st), 0, tl.stages[st].main, tl.start_s);
      AppendTimeline(r, static_cast<uint32_t>(st), 1, tl.stages[st].stream, tl.start_s);
    }
    r.add_critical_path("stage " + std::to_string(crit) + " (most compute): compute " + std::to_string(b.compute_s()) +
                        " s of " + std::to_string(T) + " s");

    // Communication table. Occurrences per step: pipeline transfers per (stage, direction), collectives on the
    // stage whose representative issues the most of them.
    std::map<CommCostModel::Key, uint32_t> occurrences;
    for (uint32_t st = 0; st < program.stages.size(); ++st) {
      std::map<CommCostModel::Key, uint32_t> here;
      for (const wl::Op& op : program.stages[st]) {
        const double op_bytes = static_cast<double>(op.comm_bytes);
        if (op.type == wl::OpType::kCollective) {
          ++here[CommCostModel::CollectiveKey(ToCollectiveKind(op.coll), op.dim, op_bytes)];
        } else if (op.type == wl::OpType::kSend) {
          ++here[CommCostModel::PipelineKey(st, op.peer_delta, op_bytes)];
        }
      }
      for (const auto& [k, n] : here) occurrences[k] = std::max(occurrences[k], n);
    }
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

    // Power and energy: each stage representative stands for its tp x cp x dp peers.
    const PowerModel power(s.accelerator());
    const topo::Inventory inv = fabric->ComputeInventory();
    *r.mutable_topology() = SummarizeTopology(*fabric, inv, s);
    const double network_w = r.topology().network_power_w();
    EnergyConfig ec;
    ec.step_time_s = T;
    ec.num_gpus = c.num_gpus();
    ec.gpus_per_node = c.scale_up().gpus_per_node();
    ec.network_w = network_w;
    ec.pue = s.facility().pue();
    ec.tokens_per_step = static_cast<double>(program.tokens_per_step);
    EnergyAccumulator acc(power, ec);
    const uint64_t mult = static_cast<uint64_t>(program.layout.tp) * program.layout.cp * program.layout.dp;
    std::vector<GpuInterval> ivs;
    for (const StageTimeline& st : tl.stages) {
      ivs.clear();
      for (const Interval& iv : st.main)
        ivs.push_back({ToPowerState(iv.activity), iv.start_s - tl.start_s, iv.end_s - tl.start_s});
      for (const Interval& iv : st.stream)
        ivs.push_back({ToPowerState(iv.activity), iv.start_s - tl.start_s, iv.end_s - tl.start_s});
      acc.AddTimeline(ivs, mult);
    }
    *r.mutable_power() = acc.Summary();
    for (const v1::PowerSample& ps : acc.Samples(100)) *r.add_power_timeline() = ps;

    v1::MemorySummary& m = *r.mutable_memory();
    m.set_weights_gb(program.memory.weights / 1e9);
    m.set_gradients_gb(program.memory.gradients / 1e9);
    m.set_optimizer_gb(program.memory.optimizer / 1e9);
    m.set_activations_gb(program.memory.activations / 1e9);
    m.set_total_gb(program.memory.total() / 1e9);
    m.set_capacity_gb(s.accelerator().hbm_gb());

    link_load.Report(T, r);
    v1::SimStats& st = *r.mutable_sim();
    st.set_simgrid_hosts(platform.num_hosts());
    st.set_simgrid_links(platform.num_links());
    st.set_flows(solver.flows_solved());
    st.set_phase_solves(solver.solves());
    st.set_actors(solver.actors_created() + 2 * tl.stages.size());
    st.set_events(events);
    st.set_wall_s(std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count());
    st.set_peak_rss_mib(PeakRssMib());
    std::string out;
    r.SerializeToString(&out);
    channel.Succeed(out);  // the engine, platform and actors die with the process
  });
  v1::RunResult r;
  if (!r.ParseFromString(bytes)) throw SimulationError("could not decode the simulation result");
  // No valid input gives a training step of months: such a result comes from an implausible value (a TFLOP/s or a
  // bandwidth many orders of magnitude off), which is reported instead of printed.
  if (!std::isfinite(r.step_time_s()) || r.step_time_s() > kMaxStepTimeS) {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "the simulated step takes %.3g s (more than %.0e s): check the accelerator's TFLOP/s and the "
                  "bandwidths and latencies for implausible values",
                  r.step_time_s(), kMaxStepTimeS);
    throw InputError::Field(source, 0, "scenario", "(implausible)", buf);
  }
  return r;
}

CollectiveBenchSpec BenchSpecOf(const v1::CollectiveCase& c) {
  CollectiveBenchSpec spec;
  spec.collective = c.collective();
  spec.algorithm = c.algorithm().empty() ? "auto" : c.algorithm();
  spec.sizes_bytes = {c.size_bytes()};
  spec.group_size = c.group_size();
  spec.group_stride = std::max(1u, c.group_stride());
  spec.all_groups = c.all_groups();
  spec.from_case_block = true;
  if (c.has_moe()) {
    const v1::MoeExchangeCase& m = c.moe();
    spec.moe = {m.tokens(), m.top_k(), m.experts(), m.max_nodes_per_token(), m.token_bytes(), m.combine(), m.seed()};
  }
  return spec;
}

namespace {

// The routed traffic of a DeepEP normal-mode exchange (spec.moe) and DeepEP's logical byte counts per rank.
struct MoeExchange {
  bool active = false;
  DeepEpNormalTraffic traffic;
  uint64_t nominal_bytes = 0;     // tokens x top_k x token_bytes: the size the rows report (algbw)
  double rdma_logical_bytes = 0;  // 0 within one node
  double nvl_logical_bytes = 0;
};

// How input errors name a spec's fields: a case file's `collective` block, or the coll command.
std::string InputPrefix(const CollectiveBenchSpec& spec) { return spec.from_case_block ? "collective." : "coll: "; }

MoeExchange PrepareMoeExchange(const v1::Scenario& s, const CollectiveBenchSpec& spec, uint32_t gs, uint32_t stride,
                               CollectiveKind kind) {
  MoeExchange x;
  const MoeExchangeSpec& m = spec.moe;
  if (m.tokens == 0) return x;
  auto bad = [&spec](const std::string& field, const std::string& value, const std::string& rule) {
    return InputError(InputPrefix(spec) + "moe." + field + " = " + value + ": " + rule);
  };
  if (kind != CollectiveKind::kAllToAll)
    throw bad("tokens", std::to_string(m.tokens), "a MoE exchange is an all_to_all (collective = \"all_to_all\")");
  if (spec.algorithm != "auto" && spec.algorithm != "deepep_normal")
    throw bad("tokens", std::to_string(m.tokens),
              "a MoE exchange runs algorithm \"deepep_normal\", not \"" + spec.algorithm + "\"");
  if (m.top_k == 0 || m.experts == 0 || m.experts % gs != 0 || m.top_k > m.experts)
    throw bad("experts", std::to_string(m.experts),
              "must be a positive multiple of the group size (" + std::to_string(gs) + ") and >= top_k (" +
                  std::to_string(m.top_k) + ")");
  if (m.token_bytes == 0) throw bad("token_bytes", "0", "must be positive");
  const uint32_t gpn = std::max(1u, s.cluster().scale_up().gpus_per_node());
  const uint32_t per_node = std::clamp(gpn / stride, 1u, gs);
  if (gs % per_node != 0)
    throw bad("tokens", std::to_string(m.tokens),
              "the group (" + std::to_string(gs) + " ranks) must fill whole nodes of " + std::to_string(per_node));
  wl::RoutingInput in;
  in.experts = m.experts;
  in.top_k = m.top_k;
  in.ep = gs;
  in.tokens_per_rank = m.tokens;
  in.ep_ranks_per_node = per_node;
  in.max_nodes_per_token = m.max_nodes_per_token;
  in.sample_tokens = m.tokens;  // as many tokens as one rank routes
  const wl::RoutingResult r = wl::RouteTokens(in, m.seed != 0 ? m.seed : s.seed());
  const uint32_t nodes = gs / per_node;
  const double tb = static_cast<double>(m.token_bytes), tokens = m.tokens;
  x.active = true;
  x.nominal_bytes = static_cast<uint64_t>(m.tokens) * m.top_k * m.token_bytes;
  x.traffic.combine = m.combine;
  x.traffic.nvl_bytes_per_rank_pair = nodes * tokens * r.mean_dest_ranks / gs * tb;
  x.traffic.rdma_bytes_per_node = nodes > 1 ? tokens * r.mean_remote_nodes / (nodes - 1) * tb : 0;
  x.rdma_logical_bytes = nodes > 1 ? tokens * r.mean_dest_nodes * tb : 0;
  x.nvl_logical_bytes = tokens * r.mean_dest_ranks * tb;
  return x;
}

}  // namespace

namespace {

// What SimulateCollective derives from its spec before forking; every input rule of the spec is checked here.
struct CollectiveSetup {
  CollectiveKind kind = CollectiveKind::kAllReduce;
  uint32_t stride = 1;
  uint32_t gs = 0;
  std::vector<uint64_t> sizes;
  MoeExchange moe;
};

CollectiveSetup PrepareCollective(const v1::Scenario& s, const CollectiveBenchSpec& spec) {
  CollectiveSetup c;
  bool found = false;
  for (CollectiveKind k : {CollectiveKind::kAllReduce, CollectiveKind::kReduceScatter, CollectiveKind::kAllGather,
                           CollectiveKind::kAllToAll, CollectiveKind::kBroadcast, CollectiveKind::kSendRecv}) {
    if (spec.collective == ToString(k)) {
      c.kind = k;
      found = true;
    }
  }
  if (!found)
    throw InputError(InputPrefix(spec) + "collective = \"" + spec.collective +
                     "\": must be one of all_reduce, reduce_scatter, all_gather, all_to_all, broadcast, send_recv");
  const uint32_t n = s.cluster().num_gpus();
  c.stride = std::max(1u, spec.group_stride);
  c.gs = spec.group_size == 0 ? n / c.stride : spec.group_size;
  const bool block = spec.from_case_block;
  const std::string group = InputPrefix(spec) + (block ? "group_size" : "group");
  if (c.gs < 2 || static_cast<uint64_t>(c.gs) * c.stride > n)
    throw InputError(group + " = " + std::to_string(c.gs) + (block ? " (group_stride " : " x stride ") +
                     std::to_string(c.stride) + (block ? ")" : "") +
                     ": must hold at least 2 ranks and fit in cluster.num_gpus (" + std::to_string(n) + ")");
  if (c.kind == CollectiveKind::kSendRecv && c.gs != 2)
    throw InputError(group + " = " + std::to_string(c.gs) + ": send_recv needs a group of 2 ranks" +
                     (block ? "" : " (-g 2)"));
  c.sizes = spec.sizes_bytes;
  c.moe = PrepareMoeExchange(s, spec, c.gs, c.stride, c.kind);
  if (c.moe.active) c.sizes = {c.moe.nominal_bytes};
  return c;
}

}  // namespace

void ValidateCollectiveSpec(const v1::Scenario& s, const CollectiveBenchSpec& spec) {
  (void)PrepareCollective(s, spec);
}

std::vector<CollectiveBenchRow> SimulateCollective(const v1::Scenario& s, const CollectiveBenchSpec& spec) {
  const CollectiveSetup setup = PrepareCollective(s, spec);
  const CollectiveKind kind = setup.kind;
  const uint32_t n = s.cluster().num_gpus(), stride = setup.stride, gs = setup.gs;
  const std::vector<uint64_t>& sizes = setup.sizes;
  const MoeExchange& moe = setup.moe;
  const std::string bytes = RunInChild([&](const ChildChannel& channel) -> std::string {
    const auto wall0 = std::chrono::steady_clock::now();
    PrepareHeap(s.cluster().num_gpus());
    const std::unique_ptr<topo::Fabric> fabric = topo::BuildFabric(FabricParamsOf(s));
    uint64_t events = 0;
    auto engine = MakeEngine(&events);
    Platform platform(*engine, *fabric, PlatformOptionsOf(s, 1e15));
    EndHeapReservation();
    PhaseSolver solver(platform);
    // No sampling and no shape reuse: every size of the sweep is solved with every group.
    CommCostModel costs(solver, *fabric, wl::RankLayout{}, s.collectives(), std::numeric_limits<uint64_t>::max(),
                        s.accelerator().scale_up_in_network_reduction(), /*reuse_shapes=*/false,
                        /*reduce_symmetry=*/!spec.exact);
    std::vector<std::vector<uint32_t>> groups;
    const uint32_t span = gs * stride;
    const uint32_t blocks = spec.all_groups ? n / span : 1;
    for (uint32_t b = 0; b < blocks; ++b)
      for (uint32_t o = 0; o < (spec.all_groups ? stride : 1); ++o) {
        std::vector<uint32_t> g;
        for (uint32_t k = 0; k < gs; ++k) g.push_back(b * span + o + k * stride);
        groups.push_back(std::move(g));
      }
    v1::RunResult holder;  // rows travel as CommStat entries
    // Plan errors (an unknown algorithm, one that cannot run on this group) depend on the group only: raise them here,
    // on the process's own stack, before any actor runs. An exception must not escape a SimGrid actor (the engine
    // aborts, and unwinding an actor's stack trips AddressSanitizer), so the actor below also catches and the error
    // is re-thrown after the run.
    if (!moe.active && !sizes.empty())
      (void)PlanCollective(kind, spec.algorithm, groups[0], static_cast<double>(sizes.front()), costs.shape(),
                           s.collectives());
    std::string error;
    bool input_error = false;
    sg4::Actor::create("controller", platform.host(0), [&]() {
      try {
        for (uint64_t size : sizes) {
          const CollectivePlan plan = moe.active
                                          ? PlanDeepEpNormal(groups[0], costs.shape(), s.collectives(), moe.traffic)
                                          : PlanCollective(kind, spec.algorithm, groups[0], static_cast<double>(size),
                                                           costs.shape(), s.collectives());
          CommCost cost;
          const double total = costs.SolveGroups(plan, groups, cost);
          const uint64_t flows_count = cost.flows;
          v1::CommStat* cs = holder.add_comms();
          cs->set_collective(ToString(kind));
          cs->set_algorithm(plan.algorithm);
          cs->set_bytes_per_rank(size);
          cs->set_group_size(gs);
          cs->set_time_s(total);
          cs->set_flows_simulated(flows_count);
        }
      } catch (const InputError& e) {
        error = e.what();
        input_error = true;
      } catch (const std::exception& e) {
        error = e.what();
      }
    });
    engine->run();
    if (!error.empty()) {
      if (input_error) throw InputError(error);
      throw SimulationError(error);
    }
    holder.mutable_sim()->set_wall_s(std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count());
    holder.mutable_sim()->set_peak_rss_mib(PeakRssMib());
    holder.mutable_sim()->set_events(events);
    std::string out;
    holder.SerializeToString(&out);
    channel.Succeed(out);
  });
  v1::RunResult holder;
  if (!holder.ParseFromString(bytes)) throw SimulationError("could not decode the collective result");
  std::vector<CollectiveBenchRow> rows;
  for (const v1::CommStat& cs : holder.comms()) {
    CollectiveBenchRow row;
    row.collective = cs.collective();
    row.algorithm = cs.algorithm();
    row.ranks = cs.group_size();
    row.bytes = cs.bytes_per_rank();
    row.time_s = cs.time_s();
    row.algbw_gbyte_per_s = cs.time_s() > 0 ? static_cast<double>(cs.bytes_per_rank()) / cs.time_s() / 1e9 : 0;
    row.busbw_gbyte_per_s = row.algbw_gbyte_per_s * BusBandwidthFactor(kind, cs.group_size());
    row.flows = cs.flows_simulated();
    row.wall_s = holder.sim().wall_s();
    row.peak_rss_mib = holder.sim().peak_rss_mib();
    row.events = holder.sim().events();
    if (moe.active && cs.time_s() > 0) {
      row.deepep_rdma_gbyte_per_s = moe.rdma_logical_bytes / cs.time_s() / 1e9;
      row.deepep_nvl_gbyte_per_s = moe.nvl_logical_bytes / cs.time_s() / 1e9;
    }
    rows.push_back(row);
  }
  return rows;
}

RouteCheck CompareRoutes(const v1::Scenario& s, uint32_t pairs) {
  const std::string bytes = RunInChild([&]() {
    const std::unique_ptr<topo::Fabric> fabric = topo::BuildFabric(FabricParamsOf(s));
    auto engine = MakeEngine();
    Platform platform(*engine, *fabric, PlatformOptionsOf(s, 1e15));
    const uint32_t n = fabric->num_gpus();
    std::vector<std::pair<uint32_t, uint32_t>> todo;
    if (n <= 64) {
      for (uint32_t a = 0; a < n; ++a)
        for (uint32_t b = 0; b < n; ++b)
          if (a != b) todo.emplace_back(a, b);
    } else {
      uint64_t x = s.seed() + 0x9e3779b97f4a7c15ULL;
      auto next = [&x]() {  // splitmix64
        uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
      };
      while (todo.size() < pairs) {
        const auto a = static_cast<uint32_t>(next() % n), b = static_cast<uint32_t>(next() % n);
        if (a != b) todo.emplace_back(a, b);
      }
    }
    RouteCheck rc;
    std::vector<sg4::Link*> links;
    for (const auto& [a, b] : todo) {
      double graph_lat = 0, sg_lat = 0;
      const std::vector<std::string> expected = platform.GraphRouteLinkNames(a, b, &graph_lat);
      links.clear();
      platform.host(a)->route_to(platform.host(b), links, &sg_lat);
      std::vector<std::string> got;
      for (const sg4::Link* l : links) got.push_back(l->get_name());
      ++rc.pairs;
      if (got != expected || std::abs(graph_lat - sg_lat) > 1e-12) {
        if (rc.mismatches++ == 0) {
          rc.first_mismatch = "gpu" + std::to_string(a) + " -> gpu" + std::to_string(b) + ": graph [";
          for (const auto& e : expected) rc.first_mismatch += e + " ";
          rc.first_mismatch += "] simgrid [";
          for (const auto& g : got) rc.first_mismatch += g + " ";
          rc.first_mismatch += "]";
        }
      }
    }
    return std::to_string(rc.pairs) + "\n" + std::to_string(rc.mismatches) + "\n" + rc.first_mismatch;
  });
  RouteCheck rc;
  const size_t p1 = bytes.find('\n'), p2 = bytes.find('\n', p1 + 1);
  rc.pairs = std::stoull(bytes.substr(0, p1));
  rc.mismatches = std::stoull(bytes.substr(p1 + 1, p2 - p1 - 1));
  rc.first_mismatch = bytes.substr(p2 + 1);
  return rc;
}

}  // namespace clustersim::sim
