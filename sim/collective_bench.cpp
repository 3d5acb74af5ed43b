// The collective microbenchmark (SimulateCollective) and the route check (CompareRoutes); see simulation.h.
#include <algorithm>
#include <cmath>
#include <limits>
#include <simgrid/s4u.hpp>
#include <string>
#include <vector>

#include "common/error.h"
#include "sim/child_process.h"
#include "sim/engine.h"
#include "sim/memory_guard.h"
#include "sim/network/collectives.h"
#include "sim/plausible.h"
#include "sim/simulation.h"
#include "sim/stages.h"
#include "workloads/moe_routing.h"

namespace clustersim::sim {

namespace sg4 = simgrid::s4u;

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

// The flows one group's plan lists in its largest phase, in closed form (an all_to_all's plan is n(n - 1) flows, or
// with PXN one per rail and node pair plus the NVLink forwarding; other collectives list O(n) flows per phase).
uint64_t PlannedFlowsPerGroup(const v1::Scenario& s, const CollectiveBenchSpec& spec, CollectiveKind kind, uint32_t gs,
                              uint32_t stride) {
  if (kind != CollectiveKind::kAllToAll) return uint64_t{gs} * 2;
  const uint64_t n = gs;
  const uint32_t gpn = std::max(1u, s.cluster().scale_up().gpus_per_node());
  const uint64_t per_node = std::clamp(gpn / stride, 1u, gs);
  const bool pxn = spec.algorithm == "auto" || spec.algorithm == "pxn" || spec.moe.tokens > 0;
  if (!pxn || per_node <= 1 || n % per_node != 0) return n * (n - 1);
  const uint64_t nodes = n / per_node;
  return nodes * per_node * (per_node - 1) + nodes * (nodes - 1) * per_node;
}

// What SimulateCollective derives from its spec before forking; every input rule of the spec is checked here.
struct CollectiveSetup {
  CollectiveKind kind = CollectiveKind::kAllReduce;
  uint32_t stride = 1;
  uint32_t gs = 0;
  uint64_t planned_flows = 0;  // flows the plans of all groups list (before any reduction)
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
  const uint64_t groups = spec.all_groups ? uint64_t{n / (c.gs * c.stride)} * c.stride : 1;
  c.planned_flows = groups * PlannedFlowsPerGroup(s, spec, c.kind, c.gs, c.stride);
  c.sizes = spec.sizes_bytes;
  c.moe = PrepareMoeExchange(s, spec, c.gs, c.stride, c.kind);
  if (c.moe.active) c.sizes = {c.moe.nominal_bytes};
  return c;
}

}  // namespace

void ValidateCollectiveSpec(const v1::Scenario& s, const CollectiveBenchSpec& spec) {
  (void)PrepareCollective(s, spec);
}

namespace {

// Every group of the benchmark's shape: the first `gs` members at `stride`, or with all_groups every disjoint group
// of that shape (the first group first).
std::vector<std::vector<uint32_t>> BenchGroups(const CollectiveSetup& setup, const CollectiveBenchSpec& spec,
                                               uint32_t n) {
  std::vector<std::vector<uint32_t>> groups;
  const uint32_t span = setup.gs * setup.stride;
  const uint32_t blocks = spec.all_groups ? n / span : 1;
  for (uint32_t b = 0; b < blocks; ++b)
    for (uint32_t o = 0; o < (spec.all_groups ? setup.stride : 1); ++o) {
      std::vector<uint32_t> g;
      for (uint32_t k = 0; k < setup.gs; ++k) g.push_back(b * span + o + k * setup.stride);
      groups.push_back(std::move(g));
    }
  return groups;
}

// In the controller actor: solves each size with every group at once; one CommStat per size in `holder`. `first` is
// the plan of the first size when it was made already (empty steps otherwise); it is consumed.
void SolveBenchSizes(const v1::Scenario& s, const CollectiveBenchSpec& spec, const CollectiveSetup& setup,
                     const std::vector<std::vector<uint32_t>>& groups, CommCostModel& costs, v1::RunResult& holder,
                     ProgressTask& shown, CollectivePlan& first) {
  for (uint64_t size : setup.sizes) {
    shown.Start(std::to_string(size) + " bytes");
    const CollectivePlan plan = !first.steps.empty() ? std::move(first)
                                : setup.moe.active
                                    ? PlanDeepEpNormal(groups[0], costs.shape(), s.collectives(), setup.moe.traffic)
                                    : PlanCollective(setup.kind, spec.algorithm, groups[0], static_cast<double>(size),
                                                     costs.shape(), s.collectives());
    first.steps.clear();
    CommCost cost;
    const double total = costs.SolveGroups(plan, groups, cost);
    v1::CommStat* cs = holder.add_comms();
    cs->set_collective(ToString(setup.kind));
    cs->set_algorithm(plan.algorithm);
    cs->set_bytes_per_rank(size);
    cs->set_group_size(setup.gs);
    cs->set_time_s(total);
    cs->set_flows_simulated(cost.flows);
    shown.Finish();
  }
}

// The benchmark's simulation process: build and price stages (stages.h) with every size solved by a controller
// actor. Rows travel as CommStat entries of a RunResult.
v1::RunResult RunBench(const v1::Scenario& s, const CollectiveBenchSpec& spec, const CollectiveSetup& setup,
                       const ChildChannel& channel) {
  ProgressTask shown(channel.Progress(), "sizes", setup.sizes.size(), false);  // sizes grow: no ETA
  shown.Start("platform of " + std::to_string(s.cluster().num_gpus()) + " GPUs");
  SimWorld world(s, 1e15);
  // No sampling and no shape reuse: every size of the sweep is solved with every group.
  const PricingOptions options{std::numeric_limits<uint64_t>::max(), /*reuse_shapes=*/false,
                               /*reduce_symmetry=*/!spec.exact, /*reduce_classes=*/!spec.exact};
  Pricing pricing(world, s, wl::RankLayout{}, options, &channel);
  // options.max_flows_per_phase bounds the flows of a phase as solved, after the reductions (an all_to_all of one
  // group is one phase of n(n - 1) flows, which only the class reduction shrinks).
  const uint64_t most_flows = std::max<uint64_t>(1, s.options().max_flows_per_phase());
  pricing.solver().SetFlowLimit(most_flows, [&s, &setup, &spec, most_flows](uint64_t flows) {
    throw InputError(InputPrefix(spec) + (spec.from_case_block ? "group_size" : "group") + " = " +
                     std::to_string(setup.gs) + ": a phase of the " + spec.collective + " over " +
                     std::to_string(setup.gs) + " ranks has " + std::to_string(flows) +
                     " flows to solve after the reductions; at most " + std::to_string(most_flows) +
                     " (options.max_flows_per_phase) are solved in one phase: use a smaller group (" + s.name() + ")");
  });
  std::vector<std::vector<uint32_t>> groups = BenchGroups(setup, spec, s.cluster().num_gpus());
  if (const auto& table = pricing.placement().gpu_of_rank; !table.empty())  // ranks on the job's GPUs
    for (auto& g : groups)
      for (uint32_t& m : g) m = table[m];
  // Plan errors (an unknown algorithm, one that cannot run on this group) depend on the group only: raise them here,
  // on the process's own stack, before any actor runs. An exception must not escape a SimGrid actor (the engine
  // aborts, and unwinding an actor's stack trips AddressSanitizer), so the actor below also catches and the error
  // is re-thrown after the run.
  // The plan of the first size is kept for the actor (a global all-to-all's lists 10^7 flows).
  CollectivePlan first;
  if (!setup.moe.active && !setup.sizes.empty())
    first = PlanCollective(setup.kind, spec.algorithm, groups[0], static_cast<double>(setup.sizes.front()),
                           pricing.costs().shape(), s.collectives());
  v1::RunResult holder;
  world.RunController([&]() { SolveBenchSizes(s, spec, setup, groups, pricing.costs(), holder, shown, first); });
  holder.mutable_sim()->set_wall_s(world.WallSeconds());
  holder.mutable_sim()->set_peak_rss_mib(PeakRssMib());
  holder.mutable_sim()->set_events(world.events());
  return holder;
}

CollectiveBenchRow RowOf(const v1::CommStat& cs, const v1::SimStats& sim, const CollectiveSetup& setup) {
  CollectiveBenchRow row;
  row.collective = cs.collective();
  row.algorithm = cs.algorithm();
  row.ranks = cs.group_size();
  row.bytes = cs.bytes_per_rank();
  row.time_s = cs.time_s();
  row.algbw_gbyte_per_s = cs.time_s() > 0 ? static_cast<double>(cs.bytes_per_rank()) / cs.time_s() / 1e9 : 0;
  row.busbw_gbyte_per_s = row.algbw_gbyte_per_s * BusBandwidthFactor(setup.kind, cs.group_size());
  row.flows = cs.flows_simulated();
  row.wall_s = sim.wall_s();
  row.peak_rss_mib = sim.peak_rss_mib();
  row.events = sim.events();
  if (setup.moe.active && cs.time_s() > 0) {
    row.deepep_rdma_gbyte_per_s = setup.moe.rdma_logical_bytes / cs.time_s() / 1e9;
    row.deepep_nvl_gbyte_per_s = setup.moe.nvl_logical_bytes / cs.time_s() / 1e9;
  }
  return row;
}

}  // namespace

std::vector<CollectiveBenchRow> SimulateCollective(const v1::Scenario& s, const CollectiveBenchSpec& spec,
                                                   const ProgressFn& progress) {
  const CollectiveSetup setup = PrepareCollective(s, spec);
  // The plan's flows are listed, merged and classed (flow_classes.h) before any reduction: about 100 bytes each.
  RequireMemory(MemoryNeed{EstimateFabricBytes(s), 0, 100.0 * static_cast<double>(setup.planned_flows)}, s,
                "collective benchmark", s.name(), spec.from_case_block ? "collective.group_size" : "coll: group",
                std::to_string(setup.gs) + " (" + std::to_string(setup.planned_flows) + " flows planned)");
  const v1::RunResult holder =
      RunResultInChild([&](const ChildChannel& channel) { return RunBench(s, spec, setup, channel); }, progress);
  std::vector<CollectiveBenchRow> rows;
  for (const v1::CommStat& cs : holder.comms()) {
    rows.push_back(RowOf(cs, holder.sim(), setup));
    const std::string what = spec.collective + " of " + std::to_string(rows.back().bytes) + " bytes";
    CheckReportedNumber(rows.back().time_s, "time_s", s.name(), what);
    CheckReportedNumber(rows.back().algbw_gbyte_per_s, "algbw_gbyte_per_s", s.name(), what);
    CheckReportedNumber(rows.back().busbw_gbyte_per_s, "busbw_gbyte_per_s", s.name(), what);
  }
  return rows;
}

RouteCheck CompareRoutes(const v1::Scenario& s, uint32_t pairs) {
  const std::string bytes = RunInChild([&]() {
    SimWorld world(s, 1e15);
    const Platform& platform = world.platform();
    const uint32_t n = world.fabric().num_gpus();
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
