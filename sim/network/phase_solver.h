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
  // The engine run that hosted the workers has ended (daemons are killed): forget them.
  void WorkersGone();
  // Memory guard: before each phase, the process's resident memory plus what the phase adds (~2 KiB per flow,
  // ~16 KiB per worker actor created) is compared with `limit_bytes`; above it, `on_exceed(estimate_bytes, flows)` is
  // called, which must not return (it ends the process: see ChildChannel). 0 = no limit.
  void SetMemoryLimit(double limit_bytes, std::function<void(double, uint64_t)> on_exceed) {
    limit_bytes_ = limit_bytes;
    on_exceed_ = std::move(on_exceed);
  }

  Platform& platform() { return platform_; }
  uint64_t flows_solved() const { return flows_solved_; }
  uint64_t solves() const { return solves_; }
  uint64_t actors_created() const { return actors_created_; }

  struct Worker;

 private:
  Worker& WorkerOf(uint32_t gpu);

  Platform& platform_;
  std::vector<std::unique_ptr<Worker>> workers_;  // by GPU, created on first use
  std::vector<uint32_t> touched_;                 // GPUs in the current phase
  std::vector<Flow> merged_;                      // the phase's flows, one per (src, dst) pair
  simgrid::s4u::SemaphorePtr phase_done_;
  uint32_t pending_ = 0;                          // workers still busy in the current phase
  uint64_t flows_solved_ = 0;
  uint64_t solves_ = 0;
  uint64_t actors_created_ = 0;
  int token_ = 0;  // payload address handed to SimGrid; simulated comms never copy it
  double limit_bytes_ = 0;
  std::function<void(double, uint64_t)> on_exceed_;
};

}  // namespace clustersim::sim
