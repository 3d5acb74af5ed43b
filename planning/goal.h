// Goal seeking (`clustersim goal`): the smallest cluster (and, over several fabric kinds, the cheapest) that trains a
// token budget within a deadline and optional energy and cost budgets, keeping the scenario's parallelism plan and
// re-deriving only data parallelism at each size (or, with replan_top_k, searching the plan at each size); and the Pareto front of (days, energy, cost) of every point
// evaluated. Rules in docs/capacity-planning.md ("Goal seeking").
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/progress.h"
#include "results.pb.h"
#include "scenario.pb.h"
#include "sim/scenario_loader.h"

namespace clustersim::planning {

struct GoalSpec {
  double training_tokens = 0;        // > 0 (0 = the scenario's facility.training_tokens)
  // The budget as model FLOPs (6 x active parameters x tokens, planning/run.h FlopsPerToken6ND) instead of tokens;
  // 0 = use training_tokens. Give at most one.
  double training_flops = 0;
  double deadline_days = 0;          // > 0
  double max_energy_mwh = 0;         // 0 = no limit
  double max_cost_usd = 0;           // 0 = no limit
  std::vector<std::string> fabrics;  // scale-out topologies to try; empty = the scenario's
  uint32_t max_gpus = 131072;        // largest cluster tried
  // 0: keep the scenario's plan and re-derive data parallelism at each size. K > 0: run the parallelism search
  // (planning/search.h, its K best estimates simulated) at each size and evaluate the fastest plan found.
  uint32_t replan_top_k = 0;
  ProgressFn progress;  // "cluster sizes" evaluated, each point's simulation nested
  double memory_margin_gb = 0;       // as SearchOptions::memory_margin_gb
};

// Whether a point meets the goal (days <= deadline, energy and cost within their limits when set).
bool MeetsGoal(const v1::GoalPoint& p, const GoalSpec& goal);
// The first limit the point misses, in the order "memory" (it cannot run), "deadline", "energy", "cost"; "" if it
// meets the goal.
std::string MissedLimit(const v1::GoalPoint& p, const GoalSpec& goal);

// Marks `pareto` on every point not dominated in (wall_clock_days, energy_mwh, cost_usd) by another point (<= in all
// three, < in one). Equal points are all on the front.
void MarkParetoFront(std::vector<v1::GoalPoint>& points);

// Index into `sizes` (ascending) of the smallest size for which `meets` holds, assuming it is monotone (false ...
// false true ... true), evaluating sizes 1, 2, 4, ... entries in (doubling) then bisecting; nullopt if the largest
// size fails. Each size is evaluated at most once.
std::optional<size_t> SmallestMeeting(const std::vector<uint32_t>& sizes, const std::function<bool(size_t)>& meets);

// The cluster sizes, ascending and at most max_gpus, at which the loaded scenario's plan (tp, cp, pp, ep, vpp,
// micro-batch, global batch) is valid with data parallelism re-derived: tp x cp x pp x dp with dp x micro_batch
// dividing the global batch, a whole number of nodes, and the plan's other rules.
std::vector<uint32_t> AdmissibleSizes(const sim::LoadedScenario& loaded, uint32_t max_gpus);

// The loaded scenario resized to `num_gpus` GPUs on `fabric` ("" = its own), dp re-derived, resolved like
// LoadScenario (facility and reliability included), with facility.training_tokens = tokens. Throws InputError.
v1::Scenario ResizedScenario(const sim::LoadedScenario& loaded, uint32_t num_gpus, const std::string& fabric,
                             double tokens);

struct GoalResult {
  std::vector<v1::GoalPoint> points;  // in evaluation order, pareto marked
  std::optional<size_t> smallest;     // the point with the fewest GPUs meeting the goal (ties: cheapest)
  std::optional<size_t> cheapest;     // the cheapest point meeting the goal
  // What bounded the sizes tried (SeekGoal on a loaded scenario; 0 when unknown): the GPU cap (GoalSpec.max_gpus),
  // the largest size the plan admits (tp x cp x pp x global_batch / micro_batch), and the largest size tried.
  uint32_t max_gpus = 0;
  uint64_t batch_limit_gpus = 0;
  uint32_t largest_size = 0;
  double training_tokens = 0;  // the budget used
  double training_flops = 0;   // its 6·N·D FLOPs
};

// Evaluates a point (simulating one step and projecting the run); the default simulates with RunStep.
using PointEvaluator = std::function<v1::GoalPoint(uint32_t num_gpus, const std::string& fabric)>;
// For each fabric: SmallestMeeting over `sizes` on the deadline (monotone in the GPU count), then the energy and cost
// limits checked at the size found. Deterministic.
GoalResult SeekGoal(const std::vector<uint32_t>& sizes, const GoalSpec& goal, const PointEvaluator& evaluate);
// SeekGoal on the loaded scenario with simulated points.
GoalResult SeekGoal(const sim::LoadedScenario& loaded, const GoalSpec& goal);

// Terminal table of the points (sorted by fabric and size, Pareto points starred) and the answer, or why no point met
// the goal and what to change; CSV of the points.
std::string GoalTable(const GoalResult& r, const GoalSpec& goal);
// The explanation GoalTable ends with when no point meets the goal: which limit the closest points missed (the GPU
// cap, the global batch, memory, the energy or cost budget) and what to change.
std::string WhyNoPointMeetsGoal(const GoalResult& r, const GoalSpec& goal);
std::string GoalCsv(const GoalResult& r);

}  // namespace clustersim::planning
