// CommCostModel; see comm_cost.h.
#include "sim/comm_cost.h"

#include <algorithm>
#include <unordered_map>

#include "common/error.h"

namespace clustersim::sim {

CommCostModel::CommCostModel(PhaseSolver& solver, const topo::Fabric& fabric, const wl::RankLayout& layout,
                             const v1::Collectives& params, uint64_t max_flows_per_phase, bool in_network_reduction,
                             bool reuse_shapes)
    : solver_(solver),
      fabric_(fabric),
      layout_(layout),
      params_(params),
      max_flows_(max_flows_per_phase),
      reuse_shapes_(reuse_shapes) {
  shape_.gpus_per_node = fabric.params().gpus_per_node;
  shape_.scale_up_domain = fabric.params().scale_up_domain;
  shape_.in_network_reduction = in_network_reduction;
  const topo::FabricParams& fp = fabric.params();
  shape_.scale_out_bytes_per_s = fp.nic_bandwidth_gbps * fp.nics_per_gpu * 1e9 / 8 * params.protocol_efficiency();
  shape_.scale_up_bytes_per_s = fp.scale_up_bandwidth_gbps * 1e9 / 8 * params.scale_up_protocol_efficiency();
}

const std::vector<std::vector<uint32_t>>& CommCostModel::Instances(wl::Dim dim) {
  auto it = instances_.find(static_cast<int>(dim));
  if (it != instances_.end()) return it->second;
  std::vector<std::vector<uint32_t>> groups;
  const uint32_t world = layout_.world();
  std::vector<bool> seen(world, false);
  for (uint32_t r = 0; r < world; ++r) {
    if (seen[r]) continue;
    std::vector<uint32_t> g = layout_.Group(r, dim);
    for (uint32_t m : g) seen[m] = true;
    groups.push_back(std::move(g));
  }
  return instances_.emplace(static_cast<int>(dim), std::move(groups)).first->second;
}

double CommCostModel::MaxRouteLatency(const std::vector<Flow>& flows) {
  double worst = 0;
  for (const Flow& f : flows) {
    if (f.src == f.dst) continue;
    hops_.clear();
    fabric_.Route(f.src, f.dst, 0, hops_);
    double lat = 0;
    for (const topo::Hop& h : hops_) lat += fabric_.link(h.link).latency_ns * 1e-9;
    worst = std::max(worst, lat);
  }
  return worst;
}

double CommCostModel::SolveScaled(const std::vector<Flow>& flows, uint64_t& solved) {
  if (flows.empty()) return 0;
  const double unit = flows.front().bytes;
  if (!(unit > 0) || !reuse_shapes_) {
    solved += flows.size();
    return solver_.Solve(flows);
  }
  // Order-independent hash of the set of (src, dst, relative size): the same traffic issued from another stage's
  // representative lists the groups in another order but is the same phase.
  auto splitmix = [](uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  uint64_t h = flows.size();
  for (const Flow& f : flows) {
    const uint64_t rel = static_cast<uint64_t>(std::llround(f.bytes / unit * 1e6));
    h += splitmix((static_cast<uint64_t>(f.src) << 32 | f.dst) ^ splitmix(rel));
  }
  auto it = shapes_.find(h);
  if (it != shapes_.end()) {
    ++phases_reused_;
    return it->second.latency_s + it->second.seconds_per_unit * unit;
  }
  const double t = solver_.Solve(flows);
  solved += flows.size();
  ShapeFit fit;
  fit.latency_s = std::min(t, MaxRouteLatency(flows));
  fit.seconds_per_unit = (t - fit.latency_s) / unit;
  shapes_.emplace(h, fit);
  return t;
}

double CommCostModel::SolvePlan(const CollectivePlan& plan, const std::vector<std::vector<uint32_t>>& instances,
                                const std::vector<uint32_t>& rep, CommCost& out, double occurrences) {
  std::unordered_map<uint32_t, uint32_t> pos;
  for (uint32_t i = 0; i < rep.size(); ++i) pos.emplace(rep[i], i);
  const double alpha_s = params_.step_latency_ns() * 1e-9;
  double total = 0;
  std::map<uint32_t, double> pipelined;  // pipeline group -> max time
  std::vector<Flow> flows;
  for (const PhaseStep& step : plan.steps) {
    bool local = true;
    for (const Flow& f : step.flows)
      if (fabric_.DomainOf(f.src) != fabric_.DomainOf(f.dst)) local = false;
    size_t groups = local ? 1 : instances.size();
    const size_t per = std::max<size_t>(1, step.flows.size());
    if (groups * per > max_flows_) {
      groups = std::max<size_t>(1, max_flows_ / per);
      out.sampled = true;
    }
    flows.clear();
    flows.reserve(groups * step.flows.size());
    // The representative's own group first, then others in order.
    for (const Flow& f : step.flows) flows.push_back(f);
    for (size_t k = 0, added = 1; k < instances.size() && added < groups; ++k) {
      const auto& g = instances[k];
      if (g == rep) continue;
      for (const Flow& f : step.flows) flows.push_back({g[pos.at(f.src)], g[pos.at(f.dst)], f.bytes});
      ++added;
    }
    out.groups_solved = std::max<uint32_t>(out.groups_solved, static_cast<uint32_t>(groups));
    const double t = SolveScaled(flows, out.flows) * step.repeat + alpha_s * step.alpha_steps * step.repeat;
    if (observer_ != nullptr) {
      const double w = occurrences * step.repeat;
      if (groups >= instances.size()) {
        observer_->OnPhase(flows, w);
      } else {  // the groups not solved carry the same traffic on their own links
        std::vector<Flow> one;
        for (const auto& g : instances) {
          one.clear();
          for (const Flow& f : step.flows) one.push_back({g[pos.at(f.src)], g[pos.at(f.dst)], f.bytes});
          observer_->OnPhase(one, w);
        }
      }
    }
    if (step.pipeline_group == 0) {
      total += t;
    } else {
      double& m = pipelined[step.pipeline_group];
      m = std::max(m, t);
    }
  }
  for (const auto& [g, t] : pipelined) total += t;
  return total;
}

const CommCost& CommCostModel::Collective(CollectiveKind kind, wl::Dim dim, uint32_t rank, double bytes,
                                          double occurrences) {
  const auto key = std::make_tuple(static_cast<int>(kind), static_cast<int>(dim), 0u, bytes);
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second;
  if (frozen_) throw SimulationError("communication cost requested after the solve phase: collective");
  CommCost c;
  const std::vector<uint32_t> group = layout_.Group(rank, dim);
  c.group_size = static_cast<uint32_t>(group.size());
  if (group.size() >= 2 && bytes > 0) {
    const CollectivePlan plan = PlanCollective(kind, "auto", group, bytes, shape_, params_);
    c.algorithm = plan.algorithm;
    const auto& inst = Instances(dim);
    c.groups_total = static_cast<uint32_t>(inst.size());
    c.time_s = SolvePlan(plan, inst, group, c, occurrences);
  }
  return cache_.emplace(key, std::move(c)).first->second;
}

const CommCost& CommCostModel::PipelineTransfer(uint32_t from_stage, int32_t delta, double bytes,
                                                double occurrences) {
  const auto key = std::make_tuple(static_cast<int>(CollectiveKind::kSendRecv), static_cast<int>(wl::Dim::kPp),
                                   from_stage * 2 + (delta > 0 ? 1u : 0u), bytes);
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second;
  if (frozen_) throw SimulationError("communication cost requested after the solve phase: pipeline transfer");
  CommCost c;
  c.algorithm = "p2p";
  c.group_size = 2;
  const uint32_t pp = layout_.pp;
  const uint32_t stage_size = layout_.tp * layout_.cp * layout_.dp;
  const uint32_t to_stage = static_cast<uint32_t>((static_cast<int64_t>(from_stage) + delta + pp) % pp);
  if (pp > 1 && bytes > 0 && to_stage != from_stage) {
    std::vector<Flow> flows;
    size_t n = std::min<size_t>(stage_size, max_flows_);
    c.sampled = n < stage_size;
    flows.reserve(n);
    for (uint32_t i = 0; i < n; ++i) flows.push_back({from_stage * stage_size + i, to_stage * stage_size + i, bytes});
    c.groups_total = stage_size;
    c.groups_solved = static_cast<uint32_t>(n);
    c.time_s = SolveScaled(flows, c.flows) + params_.step_latency_ns() * 1e-9;
    if (observer_ != nullptr) observer_->OnPhase(flows, occurrences * static_cast<double>(stage_size) / n);
  }
  return cache_.emplace(key, std::move(c)).first->second;
}

}  // namespace clustersim::sim
