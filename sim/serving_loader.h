// Validation and defaults of a serving scenario's workload and `serving` block (docs/serving.md "Scenario"),
// called by ResolveScenario (scenario_loader.h) in place of the training workload's resolution when the scenario
// has a `serving` block. Messages name the file, the line, the field, the value and the rule (InputError).
#pragma once

#include "scenario.pb.h"
#include "sim/scenario_loader.h"

namespace clustersim::sim {

// Resolves workload.model and workload.precision (workload.parallelism must be empty) and fills every serving field:
// pools (role, parallelism, instances, limits), traffic (a trace file is read here, so a bad one fails at load, and
// its path made absolute), engine (KV precision, page size, speculation, the accelerator family's calibration:
// ServingFamilyOf), SLO and the simulated window. The accelerator and the cluster must be resolved already.
void ResolveServingScenario(const LoadedScenario& loaded, v1::Scenario& scenario);

// GPUs the pools occupy (instances x tp x pp x dp_attention, summed).
uint64_t ServingGpus(const v1::Serving& resolved);

}  // namespace clustersim::sim
