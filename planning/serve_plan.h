// Deployment search for a serving scenario (`clustersim plan` on a scenario with a serving block; docs/serving.md
// "Planning"): the instance layout, the batch limit and, for a disaggregated fleet, the prefill:decode ratio that
// serve the scenario's traffic at the lowest cost per million tokens (blended: input and output; or the lowest energy
// per output token, or the highest output throughput per GPU) while meeting its SLO.
//
// Candidates, each on the scenario's cluster (instances fill the GPUs the scenario's pools use), grouped by shape:
//   one mixed pool       tp in {1, 2, 4, 8} (at most the scale-up domain), and for a MoE model also attention data
//                        parallelism with expert parallelism over g = 8, 16, 32, 64 GPUs (tp 1, dp_attention = ep =
//                        g, where g divides the routed plus redundant experts);
//   prefill + decode     the scenario's two instance shapes at prefill:decode instance ratios 1:1, 1:2, 1:3, 1:4,
//                        1:6, 2:1, 2:3 (those that fit the GPUs);
// and per shape the batch limits 32, 64, 128, 256, 512 sequences per attention rank (of the decode pool), smallest
// first; a shape's larger limits are dropped once one gives the same result as the one below it (the limit no longer
// binds: KV cache or max_num_tokens does).
// Each candidate is simulated (RunServe) at the highest offered rate that meets the SLO (slo_attainment >=
// `slo_target`, no request left unfinished): the scenario's rate doubled until it fails (at most 6 times), then
// bisected 4 times, so up to 11 simulations per candidate; a closed loop or a trace runs as given. A candidate whose
// weights do not fit is skipped. The ranking puts those meeting the SLO first, each group ordered by the metric at
// that rate: the cheapest deployment per token at its SLO capacity.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "planning/search.h"
#include "results.pb.h"
#include "scenario.pb.h"

namespace clustersim::planning {

struct ServePlanOptions {
  PlanMetric by = PlanMetric::kCost;  // kTime ranks by output tokens/s per GPU (higher first)
  double slo_target = 0.99;           // fraction of requests within the SLO
  uint32_t top = 8;                   // rows of the table (plan.csv has every candidate simulated)
};

struct ServeChoice {
  std::string label;      // e.g. "mixed 128 x tp8 pp1 dpa1 ep1, batch 256"
  v1::Scenario scenario;  // resolved
  v1::RunResult result;   // its simulation
  bool meets_slo = false;
};

struct ServePlanResult {
  uint32_t candidates = 0;          // enumerated
  uint32_t not_fitting = 0;         // skipped: the weights do not fit
  uint32_t not_binding = 0;         // skipped: a larger batch limit of a shape whose limit stopped binding
  uint64_t simulations = 0;         // RunServe calls
  std::vector<ServeChoice> ranked;  // best first
};

// Enumerates, simulates and ranks the candidates of a resolved serving scenario. Throws InputError for bad options.
ServePlanResult SearchServingPlans(const v1::Scenario& resolved, const ServePlanOptions& options);

// What a metric ranks serving plans by, in words ("cost per million tokens (blended)").
std::string ServeMetricName(PlanMetric by);
// The ranked table for the terminal (the first options.top rows) and plan.csv (every row).
std::string ServePlanTable(const ServePlanResult& r, const ServePlanOptions& options);
std::string ServePlanCsv(const ServePlanResult& r);

}  // namespace clustersim::planning
