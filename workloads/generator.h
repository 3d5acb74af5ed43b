// Step program generator: turns a workload (model + parallelism plan) into the StepProgram of step_program.h, the
// ordered operations of one representative rank per pipeline stage for one training step. What each parallelism
// emits, the schedules and the approximations are documented in docs/workloads.md ("Step programs").
//
// Cost: O(stages x chunks x microbatches x layers-per-chunk x ~15 ops); no strings per op. Deterministic: the
// same inputs give the same program (MoE routing draws from `seed`).
#pragma once

#include <cstdint>

#include "scenario.pb.h"
#include "workloads/step_program.h"

namespace clustersim::wl {

class RoutingMemo;

// `workload` may name a model preset (it is resolved here); the plan is validated with ResolvePlan and errors are
// InputError naming the field. gpus_per_node (> 0) places expert-parallel ranks on nodes for node-limited routing.
// `routing_memo` (optional, not owned) reuses the MoE routing of earlier programs with the same routing shape (a
// caller that builds many programs of one model: the plan search); the program is the same with or without it.
StepProgram BuildStepProgram(const v1::Workload& workload, uint32_t num_gpus, uint32_t gpus_per_node, uint64_t seed,
                             RoutingMemo* routing_memo = nullptr);

}  // namespace clustersim::wl
