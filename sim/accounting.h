// The account stage (stages.h, stage 6): turns what a simulated step produced (the program, the executed timeline,
// the solved communication costs, the link load observed while pricing) into the RunResult. Every part of the result
// has its own function so that a new model adds a part, not a branch. Only usable inside the simulation process.
#pragma once

#include <vector>

#include "results.pb.h"
#include "scenario.pb.h"
#include "sim/network/comm_cost.h"
#include "sim/network/platform.h"
#include "sim/stages.h"
#include "sim/step_executor.h"
#include "topologies/fabric.h"

namespace clustersim::sim {

// Bytes each SimGrid link carries per step, from every phase the cost model accounts for (attach with
// CommCostModel::SetObserver before pricing).
class LinkLoad : public PhaseObserver {
 public:
  explicit LinkLoad(const Platform& platform) : platform_(platform), bytes_(platform.links().size(), 0.0) {}
  void OnLinkBytes(const std::vector<std::pair<uint32_t, double>>& bytes, double weight) override;
  // Fills link_usage (per class) and hottest_links (top five) of `r` for a step of `step_s` seconds.
  void Report(double step_s, v1::RunResult& r) const;
  // The shortest step these bytes allow: the largest bytes / capacity over the links (seconds; 0 with no traffic).
  double MinStepS() const;

 private:
  const Platform& platform_;
  std::vector<double> bytes_;
};

// The whole account stage: every Fill* below, in order. The step time is the mean of the simulated steps; the
// breakdown is the median-speed run's plus straggler_s; stages, timelines and power are the first simulated step's.
// Throws SimulationError for a step of no positive duration.
v1::RunResult AccountStep(const v1::Scenario& resolved, const StepWork& work, const ExecutedStep& executed,
                          const Pricing& pricing, const LinkLoad& links, const SimWorld& world,
                          const VariabilityModel& variability);

// Step time, tokens/s, model and hardware TFLOP/s per GPU, MFU/HFU, FLOP convention.
void FillThroughput(const v1::Scenario& s, const StepWork& work, double step_s, v1::RunResult& r);
// Seconds each stage of `tl` spent computing.
std::vector<double> StageBusy(const StepTimeline& tl);
// The critical stage (the one with the most compute; ties: the first) and its breakdown: compute, exposed
// communication per dimension (waits for overlapped collectives charged to the awaited dimension), pipeline bubble.
// Returns the critical stage.
size_t FillBreakdown(const StepTimeline& tl, v1::RunResult& r);
// Per-stage busy/communication/idle seconds and the mean GPU utilization.
void FillStageStats(const StepTimeline& tl, v1::RunResult& r);
// Step statistics over the simulated steps and the variability applied (only when variability or several steps).
void FillStepStatistics(const ExecutedStep& executed, const VariabilityModel& variability, v1::RunResult& r);
// RunResult.joint_traffic when the step was priced with joint traffic (nothing otherwise).
void FillJointTraffic(const ExecutedStep& executed, v1::RunResult& r);
// The Perfetto timeline of every stage, or of the stages of options.trace_ranks.
void FillTimeline(const v1::Scenario& s, const wl::StepProgram& program, const StepTimeline& tl, v1::RunResult& r);
// One entry per solved communication (collectives and pipeline transfers) with its occurrences per step.
void FillCommTable(const wl::StepProgram& program, const CommCostModel& costs, v1::RunResult& r);
// Topology summary, power over the step and energy: each stage representative stands for its tp x cp x dp peers.
void FillPowerAndEnergy(const v1::Scenario& s, const wl::StepProgram& program, const StepTimeline& tl,
                        const topo::Fabric& fabric, v1::RunResult& r);
// Per-GPU memory of the worst stage against the HBM.
void FillMemory(const v1::Scenario& s, const wl::StepProgram& program, v1::RunResult& r);
// Hosts, links, flows, phase solves, actors, events, wall time and peak memory of the simulation process.
void FillSimStats(const SimWorld& world, const Pricing& pricing, size_t stage_actors, v1::RunResult& r);

}  // namespace clustersim::sim
