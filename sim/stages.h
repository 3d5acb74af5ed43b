// The stages of a simulation process. SimulateStep (simulation.cpp) reads as this list:
//
//   1. resolve   GuardMemory: the resolved scenario (ResolveScenario) against the memory limit, before forking
//   2. program   GenerateStep: the step program (workloads layer) and the compute model that times it; with
//                options.strict_memory the HBM is checked first, so a plan refused for memory fails before a
//                10^5-GPU platform is built
//   3. build     SimWorld (engine.h): fabric graph, engine, SimGrid platform
//   4. price     Pricing: the communication cost model that solves on the platform every collective and pipeline
//                transfer the program needs (PricingOptionsOf: the scenario's fidelity), memory-guarded
//   5. execute   ExecuteStep: one representative per pipeline stage runs the program, at median GPU speed and,
//                per simulated step, as the slowest replica under GPU-to-GPU variability (VariabilityModel)
//   6. account   AccountStep (accounting.h): the RunResult (performance, breakdown, timelines, communication table,
//                power and energy, memory, link load, topology, simulator statistics)
//
// The collective microbenchmark (collective_bench.cpp) and trace replay (trace_replay.cpp) run stages 3 and 4 with
// their own work instead of a step program. A new model enters as a stage or as an implementation behind one:
// per-rank perturbations (slow GPUs, degraded links) transform StepWork or the pricing between stages 2 and 5; a
// second workload kind brings its own program and accounting stages around the same build and price stages.
//
// Stages 2-6 run inside the forked simulation process (RunResultInChild).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "results.pb.h"
#include "scenario.pb.h"
#include "sim/child_process.h"
#include "sim/engine.h"
#include "sim/hardware/compute_model.h"
#include "sim/network/comm_cost.h"
#include "sim/network/phase_solver.h"
#include "sim/placement.h"
#include "sim/step_executor.h"
#include "sim/variability.h"
#include "workloads/step_program.h"

namespace clustersim::sim {

// Runs `work` in a forked simulation process (RunInChild) and returns the RunResult it built: serialized in the child,
// parsed here. The child ends through ChildChannel::Succeed (no engine teardown). The child's progress
// (ChildChannel::Progress) goes to `progress`.
v1::RunResult RunResultInChild(const std::function<v1::RunResult(const ChildChannel&)>& work,
                               const ProgressFn& progress = {});

// --- 1. resolve ---------------------------------------------------------------------------------------------------
// The name errors give the scenario: its file, else its name.
std::string SourceName(const v1::Scenario& resolved, const std::string& file);
// The memory limit of a simulation process, GB: 90% of the memory this process may use (physical, or the cgroup's
// limit when smaller: memory_guard.h), or options.memory_limit_gb when that is lower.
double MemoryLimitGb(const v1::Scenario& resolved);
// Throws InputError (naming `source`, and cluster.num_gpus or, when the step program dominates,
// workload.parallelism.global_batch_size) when EstimateStepMemory exceeds MemoryLimitGb.
void GuardMemory(const v1::Scenario& resolved, const std::string& source);

// --- 2. program ---------------------------------------------------------------------------------------------------
// What one training step computes and sends, and the timing of its compute operations.
struct StepWork {
  wl::StepProgram program;
  ComputeModel compute;  // the scenario's accelerator and precision, at the program's software efficiency
};
// Builds the step program of the scenario's workload on its cluster. With options.strict_memory, a plan whose memory
// estimate exceeds the HBM is refused (CheckMemoryFits: DoesNotFitError naming `source`); otherwise it runs and the
// account stage flags the excess (MemorySummary.over_hbm_gb).
StepWork GenerateStep(const v1::Scenario& resolved, const std::string& source);

// --- 4. price -----------------------------------------------------------------------------------------------------
// How much of the fabric's traffic the cost model solves (CommCostModel's constructor arguments).
struct PricingOptions {
  uint64_t max_flows_per_phase = 0;  // a phase larger than this is sampled
  bool reuse_shapes = true;          // phases of an already solved shape are not solved again
  bool reduce_symmetry = true;       // the exact symmetry reductions
  bool reduce_classes = true;        // the exact class reduction of each phase (PhaseSolver::SetClassReduction)
  bool joint = false;                // options.traffic "joint": overlapping communications priced together
  uint64_t joint_sample_flows = 0;   // CommCostModel::KeepJointPhases (0 = every instance)
};
// Flows a joint solve of two communications holds at most (options.fidelity "symmetric"): the instances that reach the
// representative's GPUs, a stage or more of a 131,072-GPU MoE step (CommCostModel::JointSample).
inline constexpr uint64_t kJointSampleFlows = 300'000;
// options.fidelity "full": no sampling, no shape reuse, no symmetry or class reductions; otherwise all of them, with
// options.max_flows_per_phase. options.traffic "joint" sets `joint` (sampled as kJointSampleFlows unless "full").
PricingOptions PricingOptionsOf(const v1::Scenario& resolved);

// The phase solver and the communication cost model on a world's platform. With a channel, each phase is checked
// against MemoryLimitGb before it is solved and the process ends with an InputError instead of being killed.
// Not copyable or movable (the cost model holds the solver).
class Pricing {
 public:
  Pricing(SimWorld& world, const v1::Scenario& resolved, const wl::RankLayout& layout, const PricingOptions& options,
          const ChildChannel* channel);
  Pricing(const Pricing&) = delete;
  Pricing& operator=(const Pricing&) = delete;
  PhaseSolver& solver() { return solver_; }
  const PhaseSolver& solver() const { return solver_; }
  CommCostModel& costs() { return costs_; }
  const CommCostModel& costs() const { return costs_; }
  // Where the job runs on the fabric and the other jobs' traffic (sim/placement.h), applied to the cost model and
  // the platform at construction; what the background did to each link, per background job.
  const ClusterPlacement& placement() const { return placement_; }
  const std::vector<BackgroundEffect>& background() const { return background_; }
  bool joint() const { return joint_; }

 private:
  bool joint_ = false;
  PhaseSolver solver_;
  CommCostModel costs_;
  ClusterPlacement placement_;
  std::vector<BackgroundEffect> background_;
};

// --- 5. execute ---------------------------------------------------------------------------------------------------
// What the executed steps produced.
struct ExecutedStep {
  StepTimeline nominal;               // every GPU at median speed: the breakdown's reference
  StepTimeline first;                 // the first simulated step (its slowest replica): timelines, stages, power
  std::vector<double> step_times_s;   // every simulated step (workload.steps of them)
  ReplicaSlowdown slowest;            // the first step's slowest replica
  bool perturbed = false;             // variability applied (else first == nominal)
  // Joint traffic (options.traffic "joint"): the separate run's nominal step, pairs priced together, runs after it.
  bool joint = false;
  double separate_step_s = 0;
  uint64_t joint_pairs = 0;
  uint32_t joint_runs = 0;
  double mean_s() const;
};

// Raises every simulated step (nominal, first, step_times_s) to at least `floor_s`, the busiest link's bytes per step
// over its capacity (LinkLoad::MinStepS): communications priced one by one may overlap on a link and promise it more
// than its capacity. The raised end of a timeline (StepTimeline::floor_added_s) is communication time for the power
// model and neither compute nor bubble for the breakdown (nominal.floor_added_s is breakdown.link_capacity_s).
void ApplyLinkCapacityFloor(double floor_s, ExecutedStep& ex);
// Solves every communication of the program (StepExecutor::PrecomputeCosts, reporting "phase solves" to `progress`),
// runs the step once with every GPU at median speed (with joint traffic, iterated to its fixed point: JointTraffic),
// then, when `variability` is active or `steps` > 1, once per step with the slowest replica's per-stage slowdowns
// (sim/variability.h).
ExecutedStep ExecuteStep(SimWorld& world, const StepWork& work, Pricing& pricing, const VariabilityModel& variability,
                         uint32_t steps, const ProgressFn& progress = {});

}  // namespace clustersim::sim
