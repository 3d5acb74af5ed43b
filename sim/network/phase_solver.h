// PhaseSolver: runs one phase of concurrent flows on the SimGrid platform and reports how long it took.
//
// Each GPU that takes part in a phase is served by a persistent worker actor on its host that posts the GPU's sends
// (Mailbox::put_async) and receives (get_async) and waits for them; SimGrid's max-min fairness shares every link
// among the flows crossing it. Workers are created on first use and reused by every later phase, because creating
// and destroying actors (stack mappings, page faults) costs more than the flows themselves at 100k GPUs. Host-to-host
// Comm::sendto_async is not used: in SimGrid 3.32 it is quadratic in the number of flows (detached comms are removed
// from a global list by linear scan).
//
// Solve() must be called from inside a SimGrid actor (the controller): it blocks in simulated time until the phase
// ends. Workers are daemons, so an engine run ends when the controller ends; call WorkersGone() after such a run.
#pragma once

#include <simgrid/s4u.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "sim/network/collectives.h"
#include "sim/network/flow_classes.h"
#include "sim/network/platform.h"

namespace clustersim::sim {

class PhaseSolver {
 public:
  explicit PhaseSolver(Platform& platform);
  ~PhaseSolver();
  PhaseSolver(const PhaseSolver&) = delete;
  PhaseSolver& operator=(const PhaseSolver&) = delete;

  // Starts every flow at once and returns the simulated seconds until the last one completes (0 for no flows).
  // Flows with src == dst or no bytes are ignored. Call from a SimGrid actor.
  double Solve(const std::vector<Flow>& flows);
  // Joint traffic (docs/collectives.md, "Joint traffic"): the flows of every part started together as one max-min
  // problem; returns each part's completion time, seconds (0 for a part without flows). Flows are merged per (src,
  // dst) pair only within a part, and the class reduction colours each part apart, so interchangeable flows of
  // different parts stay distinguishable. Call from a SimGrid actor.
  // With `max_solved` > 0, a phase that would still solve more flows than that after the class reduction is not
  // solved: the result is empty.
  std::vector<double> SolveParts(const std::vector<const std::vector<Flow>*>& parts, uint64_t max_solved = 0);
  // The engine run that hosted the workers has ended (daemons are killed): forget them.
  void WorkersGone();
  // Memory guard: before each phase, the process's resident memory plus what the phase adds (~2 KiB per flow,
  // ~16 KiB per worker actor created) is compared with `limit_bytes`; above it, `on_exceed(estimate_bytes, flows)` is
  // called, which must not return (it ends the process: see ChildChannel). 0 = no limit.
  void SetMemoryLimit(double limit_bytes, std::function<void(double, uint64_t)> on_exceed) {
    limit_bytes_ = limit_bytes;
    on_exceed_ = std::move(on_exceed);
  }
  // A phase that still has more than `max_flows` flows to solve after the class reduction calls `on_exceed(flows)`,
  // which must throw or not return. 0 = no limit.
  void SetFlowLimit(uint64_t max_flows, std::function<void(uint64_t)> on_exceed) {
    max_flows_ = max_flows;
    on_flows_exceed_ = std::move(on_exceed);
  }

  // Class reduction (sim/network/flow_classes.h, exact): a phase whose flows form at most half as many classes of
  // interchangeable flows is solved as one flow per class. On by default; options.fidelity "full" turns it off.
  void SetClassReduction(bool on) { reduce_classes_ = on; }

  Platform& platform() { return platform_; }
  // Flows solved on SimGrid (one per class for a reduced phase).
  uint64_t flows_solved() const { return flows_solved_; }
  // Flows that reduced phases stood for, and the phases reduced.
  uint64_t flows_represented() const { return flows_represented_; }
  uint64_t phases_class_reduced() const { return phases_class_reduced_; }
  uint64_t solves() const { return solves_; }
  uint64_t actors_created() const { return actors_created_; }

  struct Worker;

 private:
  Worker& WorkerOf(uint32_t gpu);
  // The phase's flows, one per (src, dst) pair, in merged_; then reduced to one per class where that pays.
  const std::vector<Flow>& Prepare(const std::vector<Flow>& input);
  // Sorts and merges merged_[first, end) per (src, dst) pair, rounds sizes as SimGrid receives them, drops empty
  // flows; returns the new end.
  size_t MergeRange(size_t first);
  // Solves `flows` (merged_ or reps_); with several parts, part_of[i] is flow i's part and part_end_ receives each
  // part's completion time.
  double Run(const std::vector<Flow>& flows, bool reduced, const std::vector<uint32_t>* part_of);
  // The body of a worker actor: posts its sends and receives on each release of its semaphore and waits for them.
  void Serve(Worker& w);

  Platform& platform_;
  std::vector<std::unique_ptr<Worker>> workers_;  // by GPU, created on first use
  std::vector<uint32_t> touched_;                 // GPUs in the current phase
  std::vector<Flow> merged_;                      // the phase's flows, one per (src, dst) pair
  std::vector<Flow> reps_;                        // one flow per class when the phase is reduced
  std::vector<uint32_t> rep_ids_;                 // their positions in merged_
  std::vector<uint32_t> part_, rep_part_;         // SolveParts: part of each merged flow, of each rep
  std::vector<double> part_end_;                  // SolveParts: completion time of each part
  double t0_ = 0;                                 // engine clock at the start of the current phase
  bool timed_parts_ = false;                      // the current phase records part_end_
  RouteOverride routes_;                          // their weighted routes
  FlowClasses classes_;
  bool reduce_classes_ = true;
  uint64_t flows_represented_ = 0;
  uint64_t phases_class_reduced_ = 0;
  simgrid::s4u::SemaphorePtr phase_done_;
  uint32_t pending_ = 0;                          // workers still busy in the current phase
  uint64_t flows_solved_ = 0;
  uint64_t solves_ = 0;
  uint64_t actors_created_ = 0;
  int token_ = 0;  // payload address handed to SimGrid; simulated comms never copy it
  double limit_bytes_ = 0;
  std::function<void(double, uint64_t)> on_exceed_;
  uint64_t max_flows_ = 0;
  std::function<void(uint64_t)> on_flows_exceed_;
};

}  // namespace clustersim::sim
