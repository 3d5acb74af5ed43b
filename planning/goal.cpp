// See goal.h.
#include "planning/goal.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "common/error.h"
#include "planning/goodput.h"
#include "planning/run.h"
#include "planning/search.h"
#include "results/compare.h"
#include "results/projection.h"
#include "topologies/routing.h"
#include "workloads/plan.h"

namespace clustersim::planning {

bool MeetsGoal(const v1::GoalPoint& p, const GoalSpec& g) { return MissedLimit(p, g).empty(); }

std::string MissedLimit(const v1::GoalPoint& p, const GoalSpec& g) {
  if (!std::isfinite(p.wall_clock_days())) return "memory";
  if (!(p.wall_clock_days() <= g.deadline_days)) return "deadline";
  if (g.max_energy_mwh > 0 && !(p.energy_mwh() <= g.max_energy_mwh)) return "energy";
  if (g.max_cost_usd > 0 && !(p.cost_usd() <= g.max_cost_usd)) return "cost";
  return "";
}

void MarkParetoFront(std::vector<v1::GoalPoint>& points) {
  for (v1::GoalPoint& p : points) {
    bool dominated = !std::isfinite(p.wall_clock_days());  // a point that cannot run is on no front
    for (const v1::GoalPoint& q : points) {
      const bool no_worse = q.wall_clock_days() <= p.wall_clock_days() && q.energy_mwh() <= p.energy_mwh() &&
                            q.cost_usd() <= p.cost_usd();
      const bool better =
          q.wall_clock_days() < p.wall_clock_days() || q.energy_mwh() < p.energy_mwh() || q.cost_usd() < p.cost_usd();
      if (no_worse && better) {
        dominated = true;
        break;
      }
    }
    p.set_pareto(!dominated);
  }
}

std::optional<size_t> SmallestMeeting(const std::vector<uint32_t>& sizes, const std::function<bool(size_t)>& meets) {
  const size_t n = sizes.size();
  if (n == 0) return std::nullopt;
  // lo: largest index known to fail (n = none yet, as "-1"); hi: smallest index known to meet.
  bool have_lo = false;
  size_t lo = 0, hi = n;
  for (size_t probe = 0; probe < n; probe = 2 * probe + 1) {
    if (meets(probe)) {
      hi = probe;
      break;
    }
    have_lo = true;
    lo = probe;
  }
  if (hi == n) {
    if (lo == n - 1 || !meets(n - 1)) return std::nullopt;
    hi = n - 1;
  }
  if (!have_lo) return hi;
  while (hi - lo > 1) {
    const size_t mid = lo + (hi - lo) / 2;
    if (meets(mid)) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return hi;
}

v1::Scenario ResizedScenario(const sim::LoadedScenario& loaded, uint32_t num_gpus, const std::string& fabric,
                             double tokens) {
  sim::LoadedScenario l = loaded;
  l.scenario.mutable_cluster()->set_num_gpus(num_gpus);
  if (!fabric.empty()) {
    v1::ScaleOut& so = *l.scenario.mutable_cluster()->mutable_scale_out();
    so.set_topology(fabric);
    if (!topo::RoutingApplies(fabric, so.routing())) so.clear_routing();  // another fabric: its default routing
  }
  l.scenario.mutable_workload()->mutable_parallelism()->set_dp(0);
  if (tokens > 0) {
    l.scenario.mutable_facility()->set_training_tokens(tokens);
    l.scenario.mutable_facility()->set_training_flops(0);  // the budget given replaces the scenario's
  }
  return Resolve(l);
}

std::vector<uint32_t> AdmissibleSizes(const sim::LoadedScenario& loaded, uint32_t max_gpus) {
  const v1::Scenario base = ResizedScenario(loaded, loaded.scenario.cluster().num_gpus(), "", 0);
  const v1::Parallelism& p = base.workload().parallelism();
  const uint64_t mp = uint64_t{p.tp()} * p.cp() * p.pp();
  const uint32_t per_node = std::max(1u, base.cluster().scale_up().gpus_per_node());
  const uint32_t replicas = p.global_batch_size() / p.micro_batch_size();
  std::vector<uint32_t> sizes;
  for (uint32_t dp = 1; dp <= replicas; ++dp) {
    if (replicas % dp != 0 || mp * dp > max_gpus) continue;
    const auto n = static_cast<uint32_t>(mp * dp);
    if (n % per_node != 0 && n > per_node) continue;
    v1::Workload w = base.workload();
    w.mutable_parallelism()->set_dp(dp);
    try {
      wl::ValidatePlan(w, n, loaded.file);
    } catch (const InputError&) {
      continue;  // a size the plan's rules reject (interleaving, expert parallelism) is not a candidate
    }
    sizes.push_back(n);
  }
  return sizes;
}

GoalResult SeekGoal(const std::vector<uint32_t>& sizes, const GoalSpec& goal, const PointEvaluator& evaluate) {
  if (!(goal.deadline_days > 0))
    throw InputError::Field("", 0, "--deadline-days", fmt::format("{}", goal.deadline_days), "must be > 0");
  GoalResult r;
  const std::vector<std::string> fabrics = goal.fabrics.empty() ? std::vector<std::string>{""} : goal.fabrics;
  for (const std::string& fabric : fabrics) {
    std::map<size_t, size_t> seen;  // size index -> point index
    auto point = [&](size_t i) -> const v1::GoalPoint& {
      auto it = seen.find(i);
      if (it == seen.end()) {
        v1::GoalPoint p = evaluate(sizes[i], fabric);
        p.set_meets_goal(MeetsGoal(p, goal));
        r.points.push_back(p);
        it = seen.emplace(i, r.points.size() - 1).first;
      }
      return r.points[it->second];
    };
    (void)SmallestMeeting(sizes, [&](size_t i) { return point(i).wall_clock_days() <= goal.deadline_days; });
  }
  MarkParetoFront(r.points);
  for (size_t i = 0; i < r.points.size(); ++i) {
    v1::GoalPoint& p = r.points[i];
    p.set_missed(MissedLimit(p, goal));
    if (!p.meets_goal()) continue;
    if (!r.smallest || p.num_gpus() < r.points[*r.smallest].num_gpus() ||
        (p.num_gpus() == r.points[*r.smallest].num_gpus() && p.cost_usd() < r.points[*r.smallest].cost_usd()))
      r.smallest = i;
    if (!r.cheapest || p.cost_usd() < r.points[*r.cheapest].cost_usd()) r.cheapest = i;
  }
  return r;
}

namespace {

// tp x cp x pp x (global batch / micro-batch): the most GPUs the plan can use with data parallelism alone.
uint64_t BatchLimitGpus(const v1::Scenario& s) {
  const v1::Parallelism& p = s.workload().parallelism();
  return uint64_t{p.tp()} * p.cp() * p.pp() * (p.global_batch_size() / std::max(1u, p.micro_batch_size()));
}

// One point: the resized scenario (re-planned with goal.replan_top_k), simulated and projected.
v1::GoalPoint EvaluatePoint(const sim::LoadedScenario& loaded, const GoalSpec& goal, uint32_t n,
                            const std::string& fabric, double tokens, const ProgressFn& progress) {
  v1::Scenario s = ResizedScenario(loaded, n, fabric, tokens);
  v1::GoalPoint p;
  p.set_topology(s.cluster().scale_out().topology());
  p.set_num_gpus(n);
  bool fits = true;
  if (goal.replan_top_k > 0) {
    SearchOptions so;
    so.top_k = goal.replan_top_k;
    so.memory_margin_gb = goal.memory_margin_gb;
    so.progress = progress;
    try {
      // The fastest simulated plan, the scenario's own (given) included, so re-planning never makes a size slower.
      const v1::PlanSearchResult found = SearchPlans(s, so);
      if (found.choices_size() > 0 && found.choices(0).simulated() &&
          !(found.given().simulated() && found.given().step_time_s() <= found.choices(0).step_time_s()))
        *s.mutable_workload()->mutable_parallelism() = found.choices(0).parallelism();
    } catch (const InputError&) {
      fits = false;  // no plan fits this many GPUs
    }
  }
  p.set_label(PlanLabel(s.workload().parallelism()));
  // Too few GPUs to shard the model states: never meets.
  if (!fits || PlanMemoryGb(s) * 1e9 > UsableHbmBytes(s, goal.memory_margin_gb)) {
    p.set_label(p.label() + " (out of memory)");
    p.set_wall_clock_days(std::numeric_limits<double>::infinity());
    p.set_energy_mwh(std::numeric_limits<double>::infinity());
    p.set_cost_usd(std::numeric_limits<double>::infinity());
    return p;
  }
  const v1::RunResult run = RunStep(s, {}, goal.replan_top_k > 0 ? ProgressFn{} : progress);
  p.set_step_time_s(run.step_time_s());
  const v1::Projection& pr = run.projection();
  const bool failures = pr.has_goodput() && pr.goodput().goodput() > 0;
  p.set_wall_clock_days(failures ? pr.goodput().wall_clock_days() : pr.wall_clock_days());
  p.set_energy_mwh(failures ? pr.goodput().energy_mwh() : pr.energy_mwh());
  p.set_cost_usd(failures ? pr.goodput().cost_usd() : pr.cost_usd());
  p.set_capex_usd(run.cost().capex_usd());
  p.set_tco_usd(run.cost().tco_usd());
  return p;
}

}  // namespace

GoalResult SeekGoal(const sim::LoadedScenario& loaded, const GoalSpec& goal) {
  if (goal.training_tokens > 0 && goal.training_flops > 0)
    throw InputError::Field("", 0, "--flops", fmt::format("{:g}", goal.training_flops),
                            "give --tokens or --flops, not both");
  const v1::Scenario base = Resolve(loaded);
  const double per_token = FlopsPerToken6ND(base.workload().model());
  const double tokens = goal.training_tokens > 0  ? goal.training_tokens
                        : goal.training_flops > 0 ? goal.training_flops / per_token
                                                  : base.facility().training_tokens();
  if (!(tokens > 0))
    throw InputError::Field(loaded.file, 0, "facility.training_tokens", "0",
                            "goal seeking needs a budget (--tokens, --flops, facility.training_tokens or "
                            "facility.training_flops)");
  const std::vector<uint32_t> sizes = AdmissibleSizes(loaded, goal.max_gpus);
  if (sizes.empty())
    throw InputError::Field(loaded.file, 0, "workload.parallelism", "(goal)",
                            "no cluster size up to " + std::to_string(goal.max_gpus) + " GPUs admits the plan");
  ProgressTask evaluated(goal.progress, "cluster sizes", 0);
  GoalResult r = SeekGoal(sizes, goal, [&](uint32_t n, const std::string& fabric) {
    evaluated.Start(fmt::format("{} GPUs{}", n, fabric.empty() ? "" : " on " + fabric));
    v1::GoalPoint p = EvaluatePoint(loaded, goal, n, fabric, tokens, evaluated.Inner());
    evaluated.Finish();
    return p;
  });
  r.max_gpus = goal.max_gpus;
  r.batch_limit_gpus = BatchLimitGpus(base);
  r.largest_size = sizes.back();
  r.training_tokens = tokens;
  r.training_flops = tokens * per_token;
  return r;
}

std::string WhyNoPointMeetsGoal(const GoalResult& r, const GoalSpec& goal) {
  std::vector<const v1::GoalPoint*> by_missed[4];  // memory, deadline, energy, cost
  const char* kinds[4] = {"memory", "deadline", "energy", "cost"};
  for (const v1::GoalPoint& p : r.points)
    for (size_t k = 0; k < 4; ++k)
      if (p.missed() == kinds[k]) by_missed[k].push_back(&p);
  std::string o;
  if (by_missed[0].size() == r.points.size())
    return "  every size tried is out of memory: the plan's model states do not fit; use more pipeline or tensor "
           "parallelism, ZeRO-3 or recompute, or let the search choose the plan (--replan K)\n";
  if (!by_missed[2].empty() || !by_missed[3].empty()) {
    o += "  some points meet the deadline but not the budget: ";
    if (!by_missed[2].empty()) {
      const auto* p = *std::min_element(by_missed[2].begin(), by_missed[2].end(),
                                        [](auto* a, auto* b) { return a->energy_mwh() < b->energy_mwh(); });
      o += fmt::format("the least energy is {} MWh (limit {} MWh, --max-energy-gwh); ",
                       results::FormatCount(p->energy_mwh()), results::FormatCount(goal.max_energy_mwh));
    }
    if (!by_missed[3].empty()) {
      const auto* p = *std::min_element(by_missed[3].begin(), by_missed[3].end(),
                                        [](auto* a, auto* b) { return a->cost_usd() < b->cost_usd(); });
      o += fmt::format("the lowest cost is {} (limit {}, --max-cost-usd); ", results::FormatUsd(p->cost_usd()),
                       results::FormatUsd(goal.max_cost_usd));
    }
    o += "a larger cluster does not lower them: raise the budget, or try another chip, fabric or facility\n";
  }
  if (by_missed[1].empty()) return o;
  const auto* fastest = *std::min_element(by_missed[1].begin(), by_missed[1].end(),
                                          [](auto* a, auto* b) { return a->wall_clock_days() < b->wall_clock_days(); });
  o += fmt::format("  the fastest point, {} GPUs on {}, takes {:.1f} days (deadline {} days)", fastest->num_gpus(),
                   fastest->topology(), fastest->wall_clock_days(), goal.deadline_days);
  if (r.largest_size == 0) return o + "\n";
  if (r.batch_limit_gpus > 0 && r.batch_limit_gpus <= r.max_gpus)
    o += fmt::format(
        "; the plan admits at most {} GPUs (tp x cp x pp x global_batch_size / micro_batch_size): raise "
        "workload.parallelism.global_batch_size, use more tensor, context or pipeline parallelism, or let the "
        "search choose the plan (--replan K)\n",
        results::FormatCount(static_cast<double>(r.batch_limit_gpus)));
  else
    o += fmt::format("; sizes stop at the GPU cap of {} (--max-gpus): raise it (the plan admits up to {} GPUs)\n",
                     results::FormatCount(r.max_gpus), results::FormatCount(static_cast<double>(r.batch_limit_gpus)));
  return o;
}

std::string GoalTable(const GoalResult& r, const GoalSpec& goal) {
  std::vector<size_t> order(r.points.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&r](size_t a, size_t b) {
    const v1::GoalPoint &p = r.points[a], &q = r.points[b];
    return p.topology() != q.topology() ? p.topology() < q.topology() : p.num_gpus() < q.num_gpus();
  });
  std::string o = "# goal: ";
  if (r.training_tokens > 0)
    o += fmt::format("{} tokens ({} FLOPs, 6 x active parameters x tokens) ", results::FormatTokens(r.training_tokens),
                     results::FormatFlops(r.training_flops));
  o += fmt::format("in {} days", goal.deadline_days);
  if (goal.max_energy_mwh > 0) o += fmt::format(", <= {} MWh", results::FormatCount(goal.max_energy_mwh));
  if (goal.max_cost_usd > 0) o += fmt::format(", <= {}", results::FormatUsd(goal.max_cost_usd));
  if (r.max_gpus > 0) o += fmt::format("; sizes up to {} GPUs (--max-gpus)", results::FormatCount(r.max_gpus));
  o += fmt::format("; {} points simulated (* = Pareto front of days, energy, cost)\n", r.points.size());
  o += fmt::format("  {:<16} {:>8} {:<56} {:>10} {:>10} {:>12} {:>10} {:>10} {}\n", "fabric", "GPUs", "plan", "step(s)",
                   "days", "MWh", "run cost", "capex", "meets");
  for (size_t i : order) {
    const v1::GoalPoint& p = r.points[i];
    o += fmt::format("{} {:<16} {:>8} {:<56} {:>10.3f} {:>10.2f} {:>12} {:>10} {:>10} {}\n", p.pareto() ? "*" : " ",
                     p.topology(), p.num_gpus(), p.label(), p.step_time_s(), p.wall_clock_days(),
                     results::FormatCount(p.energy_mwh()), results::FormatUsd(p.cost_usd()),
                     results::FormatUsd(p.capex_usd()), p.meets_goal() ? "yes" : "no: " + p.missed());
  }
  if (!r.smallest) {
    o += "no evaluated cluster meets the goal:\n" + WhyNoPointMeetsGoal(r, goal);
  } else {
    const v1::GoalPoint& s = r.points[*r.smallest];
    o += fmt::format("smallest cluster meeting the goal: {} GPUs on {} ({:.2f} days, {} MWh, {}; capex {}, TCO {})\n",
                     s.num_gpus(), s.topology(), s.wall_clock_days(), results::FormatCount(s.energy_mwh()),
                     results::FormatUsd(s.cost_usd()), results::FormatUsd(s.capex_usd()),
                     results::FormatUsd(s.tco_usd()));
    const v1::GoalPoint& c = r.points[*r.cheapest];
    o += fmt::format("cheapest point meeting the goal: {} GPUs on {} ({})\n", c.num_gpus(), c.topology(),
                     results::FormatUsd(c.cost_usd()));
  }
  return o;
}

std::string GoalCsv(const GoalResult& r) {
  std::string o =
      "topology,num_gpus,plan,step_time_s,wall_clock_days,energy_mwh,cost_usd,meets_goal,pareto,capex_usd,tco_usd,"
      "missed\n";
  for (const v1::GoalPoint& p : r.points)
    o += fmt::format("{},{},{},{:.6g},{:.6g},{:.6g},{:.6g},{},{},{:.6g},{:.6g},{}\n", p.topology(), p.num_gpus(),
                     p.label(), p.step_time_s(), p.wall_clock_days(), p.energy_mwh(), p.cost_usd(),
                     p.meets_goal() ? 1 : 0, p.pareto() ? 1 : 0, p.capex_usd(), p.tco_usd(), p.missed());
  return o;
}

}  // namespace clustersim::planning
