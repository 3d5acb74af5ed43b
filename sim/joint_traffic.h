// JointTraffic: communication in flight at the same time shares the fabric (options.traffic "joint", issue #19 item
// 1, issue #18 item 4; docs/collectives.md, "Joint traffic").
//
// The cost model prices each distinct collective and pipeline transfer alone (every group of its dimension at once).
// Joint traffic then iterates pricing and execution: the step runs with every communication span recorded; on each
// stage, every pair of communications whose spans overlap (two instances of one too) is priced together: the
// dominant phases of both, with the instances that reach the representative's GPUs, in one max-min solve (CommCostModel::JointSlowdown gives
// s(a|b), how much longer a takes while b is in flight). Each span then takes
//     d' = d / (1 - sum_b f_b (1 - 1 / s_b)),   s_b = 1 + share (s(a|b) - 1)
// where d is its time alone, f_b the fraction of its span that b overlapped in the last run and `share` the part of
// d that is transfer (not latency terms): in the overlapped fraction it progresses at 1 / s_b of its rate. A span
// that b covers entirely takes d s(a|b). The step is run again with the new durations until the step time moves by
// less than 1e-4 (relative) or after kMaxJointRuns runs. Deterministic: the spans, pairs and solves follow the
// program's order.
#pragma once

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "sim/engine.h"
#include "sim/network/comm_cost.h"
#include "sim/network/phase_solver.h"
#include "sim/step_executor.h"
#include "workloads/step_program.h"

namespace clustersim::sim {

class JointTraffic {
 public:
  static constexpr int kMaxJointRuns = 4;  // runs after the first (separate) one, at most

  // `costs` must have kept its joint phases (CommCostModel::KeepJointPhases) before pricing the program.
  JointTraffic(SimWorld& world, const wl::StepProgram& program, CommCostModel& costs, PhaseSolver& solver);
  // The extra seconds of every collective and send (per stage, per op index) for StepExecutor::SetJoint.
  const std::vector<std::vector<double>>& extra_s() const { return extra_; }
  // Prices the overlaps of `timeline` (recorded spans) jointly and updates extra_s(). Solves in its own engine run.
  void Update(const StepTimeline& timeline);
  // Runs `executor` (already priced) to the fixed point; returns the last timeline. `first` is the separate run.
  StepTimeline Iterate(StepExecutor& executor, StepTimeline first);
  // Distinct pairs priced jointly, and the runs made after the first.
  size_t pairs() const { return slowdown_.size(); }
  int runs() const { return runs_; }

 private:
  struct Overlap {
    uint32_t op;
    uint32_t other_entry;
    double seconds;
  };
  void CollectOverlaps(const StageTimeline& tl, uint32_t stage, std::vector<Overlap>& out) const;
  double Slowdown(uint32_t a, uint32_t b) const;

  SimWorld& world_;
  const wl::StepProgram& program_;
  CommCostModel& costs_;
  PhaseSolver& solver_;
  std::vector<CommCostModel::Key> keys_;     // distinct communications
  std::vector<std::vector<int32_t>> entry_;  // per stage, per op: its index in keys_, -1 for no communication
  std::vector<double> alone_s_, share_;      // per entry: time alone, transfer share
  std::map<std::pair<uint32_t, uint32_t>, double> slowdown_;  // (a, b) -> s(a|b)
  std::vector<std::vector<double>> extra_;
  int runs_ = 0;
};

}  // namespace clustersim::sim
