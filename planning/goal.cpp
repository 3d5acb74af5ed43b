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
#include "results/projection.h"
#include "workloads/plan.h"

namespace clustersim::planning {

bool MeetsGoal(const v1::GoalPoint& p, const GoalSpec& g) {
  return p.wall_clock_days() <= g.deadline_days && (g.max_energy_mwh <= 0 || p.energy_mwh() <= g.max_energy_mwh) &&
         (g.max_cost_usd <= 0 || p.cost_usd() <= g.max_cost_usd);
}

void MarkParetoFront(std::vector<v1::GoalPoint>& points) {
  for (v1::GoalPoint& p : points) {
    bool dominated = !std::isfinite(p.wall_clock_days());  // a point that cannot run is on no front
    for (const v1::GoalPoint& q : points) {
      const bool no_worse = q.wall_clock_days() <= p.wall_clock_days() && q.energy_mwh() <= p.energy_mwh() &&
                            q.cost_usd() <= p.cost_usd();
      const bool better = q.wall_clock_days() < p.wall_clock_days() || q.energy_mwh() < p.energy_mwh() ||
                          q.cost_usd() < p.cost_usd();
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
  if (!fabric.empty()) l.scenario.mutable_cluster()->mutable_scale_out()->set_topology(fabric);
  l.scenario.mutable_workload()->mutable_parallelism()->set_dp(0);
  if (tokens > 0) l.scenario.mutable_facility()->set_training_tokens(tokens);
  v1::Scenario s = sim::ResolveScenario(l);
  *s.mutable_facility() = ResolveFacility(s.facility(), l.file);
  *s.mutable_reliability() = ResolveReliability(s.reliability(), s.cluster().num_gpus());
  return s;
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
  if (!(goal.deadline_days > 0)) throw InputError::Field("", 0, "--deadline-days", fmt::format("{}", goal.deadline_days), "must be > 0");
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
    const v1::GoalPoint& p = r.points[i];
    if (!p.meets_goal()) continue;
    if (!r.smallest || p.num_gpus() < r.points[*r.smallest].num_gpus() ||
        (p.num_gpus() == r.points[*r.smallest].num_gpus() && p.cost_usd() < r.points[*r.smallest].cost_usd()))
      r.smallest = i;
    if (!r.cheapest || p.cost_usd() < r.points[*r.cheapest].cost_usd()) r.cheapest = i;
  }
  return r;
}

GoalResult SeekGoal(const sim::LoadedScenario& loaded, const GoalSpec& goal) {
  const double tokens = goal.training_tokens > 0 ? goal.training_tokens : loaded.scenario.facility().training_tokens();
  if (!(tokens > 0))
    throw InputError::Field(loaded.file, 0, "facility.training_tokens", "0",
                            "goal seeking needs a token budget (--tokens or facility.training_tokens)");
  const std::vector<uint32_t> sizes = AdmissibleSizes(loaded, goal.max_gpus);
  if (sizes.empty())
    throw InputError::Field(loaded.file, 0, "workload.parallelism", "(goal)",
                            "no cluster size up to " + std::to_string(goal.max_gpus) + " GPUs admits the plan");
  return SeekGoal(sizes, goal, [&](uint32_t n, const std::string& fabric) {
    v1::Scenario s = ResizedScenario(loaded, n, fabric, tokens);
    v1::GoalPoint p;
    p.set_topology(s.cluster().scale_out().topology());
    p.set_num_gpus(n);
    bool fits = true;
    if (goal.replan_top_k > 0) {
      SearchOptions so;
      so.top_k = goal.replan_top_k;
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
    if (!fits || PlanMemoryGb(s) * 1e9 > UsableHbmBytes(s, goal.memory_margin_gb)) {  // too few GPUs to shard the model states: never meets
      p.set_label(p.label() + " (out of memory)");
      p.set_wall_clock_days(std::numeric_limits<double>::infinity());
      p.set_energy_mwh(std::numeric_limits<double>::infinity());
      p.set_cost_usd(std::numeric_limits<double>::infinity());
      return p;
    }
    const v1::RunResult run = RunStep(s);
    p.set_step_time_s(run.step_time_s());
    const v1::Projection& pr = run.projection();
    const bool failures = pr.has_goodput() && pr.goodput().goodput() > 0;
    p.set_wall_clock_days(failures ? pr.goodput().wall_clock_days() : pr.wall_clock_days());
    p.set_energy_mwh(failures ? pr.goodput().energy_mwh() : pr.energy_mwh());
    p.set_cost_usd(failures ? pr.goodput().cost_usd() : pr.cost_usd());
    return p;
  });
}

std::string GoalTable(const GoalResult& r, const GoalSpec& goal) {
  std::vector<size_t> order(r.points.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&r](size_t a, size_t b) {
    const v1::GoalPoint &p = r.points[a], &q = r.points[b];
    return p.topology() != q.topology() ? p.topology() < q.topology() : p.num_gpus() < q.num_gpus();
  });
  std::string o = fmt::format("# goal: {} days", goal.deadline_days);
  if (goal.max_energy_mwh > 0) o += fmt::format(", <= {:.4g} MWh", goal.max_energy_mwh);
  if (goal.max_cost_usd > 0) o += fmt::format(", <= ${:.4g}", goal.max_cost_usd);
  o += fmt::format("; {} points simulated (* = Pareto front of days, energy, cost)\n", r.points.size());
  o += fmt::format("  {:<16} {:>8} {:<40} {:>10} {:>10} {:>12} {:>12} {:>5}\n", "fabric", "GPUs", "plan", "step(s)",
                   "days", "MWh", "cost($)", "meets");
  for (size_t i : order) {
    const v1::GoalPoint& p = r.points[i];
    o += fmt::format("{} {:<16} {:>8} {:<40} {:>10.3f} {:>10.2f} {:>12.4g} {:>12.4g} {:>5}\n", p.pareto() ? "*" : " ",
                     p.topology(), p.num_gpus(), p.label(), p.step_time_s(), p.wall_clock_days(), p.energy_mwh(),
                     p.cost_usd(), p.meets_goal() ? "yes" : "no");
  }
  if (!r.smallest) {
    o += "no evaluated cluster meets the goal\n";
  } else {
    const v1::GoalPoint& s = r.points[*r.smallest];
    o += fmt::format("smallest cluster meeting the goal: {} GPUs on {} ({:.2f} days, {:.4g} MWh, ${:.4g})\n",
                     s.num_gpus(), s.topology(), s.wall_clock_days(), s.energy_mwh(), s.cost_usd());
    const v1::GoalPoint& c = r.points[*r.cheapest];
    o += fmt::format("cheapest point meeting the goal: {} GPUs on {} (${:.4g})\n", c.num_gpus(), c.topology(),
                     c.cost_usd());
  }
  return o;
}

std::string GoalCsv(const GoalResult& r) {
  std::string o = "topology,num_gpus,plan,step_time_s,wall_clock_days,energy_mwh,cost_usd,meets_goal,pareto\n";
  for (const v1::GoalPoint& p : r.points)
    o += fmt::format("{},{},{},{:.6g},{:.6g},{:.6g},{:.6g},{},{}\n", p.topology(), p.num_gpus(), p.label(),
                     p.step_time_s(), p.wall_clock_days(), p.energy_mwh(), p.cost_usd(), p.meets_goal() ? 1 : 0,
                     p.pareto() ? 1 : 0);
  return o;
}

}  // namespace clustersim::planning
