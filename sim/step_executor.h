// StepExecutor: replays a StepProgram on the SimGrid platform.
//
// One actor per pipeline stage runs the representative rank's operations on its GPU host: compute as SimGrid
// executions timed by the ComputeModel, blocking collectives for the time the CommCostModel solved on the full
// fabric, pipeline receives that block until the matching send (issued by the neighbouring stage's actor) has
// arrived, and asynchronous collectives (gradient reduction overlapped with backward, overlapped tensor-parallel and
// expert-parallel exchanges) on communication streams: one actor per stage and class of communicator (tensor, context,
// data, expert parallel), as collectives on different NCCL communicators run concurrently. Dependencies and overlap
// are therefore ordered as the framework orders them.
//
// Steady state: an asynchronous collective of a stage's program that no later wait awaits (the ZeRO-1/2 parameter
// all-gather issued after the optimizer, awaited by the next step's forward) is queued on the communication stream at
// the start of the step, as the previous step left it, and the forward's waits for it block until it is done.
//
// Output: a timeline of intervals per stage (compute / communication / waiting), from which step time, breakdown,
// utilisation and power are derived. Only usable inside the SimGrid process.
#pragma once

#include <cstdint>
#include <vector>

#include "common/progress.h"
#include "sim/hardware/compute_model.h"
#include "sim/network/comm_cost.h"
#include "sim/network/platform.h"
#include "workloads/step_program.h"

namespace clustersim::sim {

enum class Activity : uint8_t {
  kComputeBound,  // GPU computing, compute-bound kernel
  kMemoryBound,   // GPU computing, memory-bound kernel
  kComm,          // blocked in a collective or pipeline transfer (GPU mostly idle, links busy)
  kWaitRecv,      // waiting for a pipeline receive (bubble)
  kWaitAsync,     // waiting for asynchronous collectives to finish (exposed async communication)
  kAsyncComm,     // communication-stream activity (may overlap compute)
  kHost,          // per-step framework and host time outside the program (accelerator step_overhead_ms)
};

struct Interval {
  double start_s = 0;
  double end_s = 0;
  Activity activity = Activity::kComputeBound;
  wl::Dim dim = wl::Dim::kTp;  // for communication intervals
  wl::Phase phase = wl::Phase::kForward;
  wl::ComputeKind kind = wl::ComputeKind::kGemm;  // compute and host-sync intervals: what ran
};

// When a communication of the program was in flight on a stage (joint traffic: StepExecutor::RecordSpans).
struct CommSpan {
  double start_s = 0;
  double end_s = 0;
  uint32_t op = 0;  // index of the collective or send in the stage's op list
};

struct StageTimeline {
  std::vector<Interval> main;    // the compute stream, intervals never overlap
  std::vector<Interval> stream;  // the communication streams (async collectives; intervals may overlap)
  std::vector<CommSpan> comm;    // every collective and pipeline send, when spans are recorded
  double end_s = 0;
};

struct StepTimeline {
  double start_s = 0;  // engine clock when the step began (phase solves come first)
  double step_time_s = 0;
  // Seconds at the end of step_time_s added by the link capacity floor (ApplyLinkCapacityFloor, sim/stages.h): the
  // busiest links still carry the step's bytes, so the power model counts every GPU as communicating there.
  double floor_added_s = 0;
  std::vector<StageTimeline> stages;
};

// Runs one step. PrecomputeCosts() walks the program and solves every communication it needs on the fabric; it runs
// its own engine run (a controller actor) before the stage actors start, then freezes the cost model. It reports
// "phase solves" (distinct communications solved of those the program needs) to `progress`.
class StepExecutor {
 public:
  StepExecutor(simgrid::s4u::Engine& engine, Platform& platform, const wl::StepProgram& program,
               const ComputeModel& compute, CommCostModel& costs);
  void PrecomputeCosts(PhaseSolver& solver, const ProgressFn& progress = {});
  // Runs the step; may be called again (each run starts at the engine's current clock). `stage_slowdown` (one factor
  // per pipeline stage, empty = all 1) multiplies every compute operation's time: the stage's slowest GPU
  // (sim/variability.h). While a stage's communication streams run collectives, its compute proceeds at
  // (1 - comm_compute_interference) of its rate per active stream: each holds that share of the GPU host in SimGrid.
  StepTimeline Run(const std::vector<double>& stage_slowdown = {});
  // Joint traffic (sim/joint_traffic.h): with `record`, Run fills StageTimeline::comm; `extra_s` (per stage, per op
  // index; empty = none) lengthens each collective and send by that many seconds. The vectors must outlive the runs.
  void SetJoint(bool record, const std::vector<std::vector<double>>* extra_s) {
    record_spans_ = record;
    extra_s_ = extra_s;
  }

 private:
  class StageRun;  // one stage's compute stream (step_executor.cpp)
  simgrid::s4u::Engine& engine_;
  Platform& platform_;
  const wl::StepProgram& program_;
  const ComputeModel& compute_;
  CommCostModel& costs_;
  bool record_spans_ = false;
  const std::vector<std::vector<double>>* extra_s_ = nullptr;
};

CollectiveKind ToCollectiveKind(wl::Coll c);

}  // namespace clustersim::sim
