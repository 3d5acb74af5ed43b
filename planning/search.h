// Parallelism search (`clustersim plan`): enumerates the TP/CP/PP/VPP/DP/EP/micro-batch/recompute/ZeRO plans of a
// scenario's model, cluster and global batch that the plan validator accepts and that fit in memory, ranks them by an
// analytic step-time estimate, simulates the best `top_k` with SimGrid (RunStep) and orders those by time, energy or
// cost per step. The rules are in docs/capacity-planning.md ("Parallelism search").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/progress.h"
#include "results.pb.h"
#include "scenario.pb.h"
#include "workloads/step_program.h"

namespace clustersim::planning {

enum class PlanMetric : uint8_t { kTime, kEnergy, kCost };
const char* ToString(PlanMetric m);
// "time", "energy" or "cost"; throws InputError naming `field` otherwise.
PlanMetric ParsePlanMetric(const std::string& text, const std::string& field);

struct SearchOptions {
  uint32_t top_k = 8;  // plans simulated (>= 1)
  PlanMetric by = PlanMetric::kTime;
  std::vector<uint32_t> micro_batch_sizes{1, 2, 4, 8};
  uint32_t max_vpp = 8;  // largest interleaving depth tried
  // Reports "plans examined" while enumerating, then "candidates" (each simulation's stages nested).
  ProgressFn progress;
  // A plan fits when its memory estimate is at most the HBM minus this margin (GB; negative allows plans estimated
  // over the HBM by that much).
  double memory_margin_gb = 0;
  // Workers evaluating shapes at once (0 = the machine's cores, at most 4); the result does not depend on it.
  uint32_t threads = 0;
};

// HBM bytes a plan may use under `margin_gb` (SearchOptions::memory_margin_gb).
double UsableHbmBytes(const v1::Scenario& resolved, double margin_gb);

// Every plan of the search space for the resolved scenario's model, GPU count, global batch and precision that
// ResolvePlan accepts and that fits in HBM, with the first memory-saving choice that fits for each shape
// (docs/capacity-planning.md). On a torus each shape is estimated in GPU order (or the scenario's torus_tile) and with
// the cube tile of its innermost group, and keeps the better placement (SearchPlans reports it). `valid` (if given)
// receives the number of valid plans before the memory filter. Deterministic order.
std::vector<v1::Parallelism> EnumeratePlans(const v1::Scenario& resolved, const SearchOptions& options,
                                            uint64_t* valid = nullptr);

// Analytic step time (s) of `program` on the resolved scenario's cluster: per stage, compute through the compute
// model, blocking collectives and pipeline sends at bus bandwidth (scale-up or scale-out by group placement),
// asynchronous collectives on a second stream that a wait joins (as the step executor runs them, without link
// sharing); the slowest stage stretched by the pipeline bubble
// (m + (p - 1) / v) / m. No SimGrid.
double EstimateStepS(const v1::Scenario& resolved, const wl::StepProgram& program);

// Worst-stage memory per GPU (GB) and EstimateStepS of `resolved`'s plan as the search computes them: a plan with
// more than 4 x pp x vpp micro-batches per pipeline (at least 16) is built with 2 x pp x vpp and 4 x pp x vpp
// micro-batches instead of all, its slowest stage extrapolated linearly in the micro-batch count (past the warm-up
// each micro-batch adds the same ops) and its memory taken from the larger program (in-flight activations have
// saturated). A 131k-GPU candidate with a small dp would otherwise build thousands of micro-batches' ops.
struct PlanEstimate {
  double memory_gb = 0;
  double estimate_s = 0;
};
PlanEstimate EstimatePlan(const v1::Scenario& resolved);

// Worst-stage memory per GPU (GB) of `resolved`'s plan, and whether it fits the accelerator's HBM.
double PlanMemoryGb(const v1::Scenario& resolved);

// The whole search (EnumeratePlans, EstimateStepS, RunStep of the top_k and of the scenario's own plan).
// Deterministic. Throws InputError if no plan fits.
v1::PlanSearchResult SearchPlans(const v1::Scenario& resolved, const SearchOptions& options);

// Short label of a plan: "tp4 cp2 pp4 vpp5 dp2 mbs1 zero1 rc=none" (ep, "dualpipe", "layout" and "a2a-overlap"
// where they apply).
std::string PlanLabel(const v1::Parallelism& p);
// The same with the job's placement where it is not GPU order: " tile 2x2x2" (cluster.placement.torus_tile).
std::string PlanLabel(const v1::Parallelism& p, const v1::Placement& placement);

// Renderings of a search: the terminal table, CSV (one row per plan, the given plan last) and JSON (Protobuf's JSON
// mapping of PlanSearchResult).
std::string PlanTable(const v1::PlanSearchResult& r);
std::string PlanCsv(const v1::PlanSearchResult& r);
std::string PlanJson(const v1::PlanSearchResult& r);

}  // namespace clustersim::planning
