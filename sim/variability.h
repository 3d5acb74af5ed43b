// GPU-to-GPU variability and stragglers (docs/workloads.md, "What grows with scale").
//
// Every GPU g has a slowdown d_g >= some positive floor: the time its compute takes relative to a median-speed GPU of
// the same family. It is the product of a persistent part (1 + cv z_g, z_g standard normal, seeded per GPU; named slow
// GPUs and nodes; a seeded fraction of slow nodes) and, per step, a transient part (1 + jitter_cv z_{g,step}).
//
// Synchronous points wait for the slowest GPU they join. Inside a pipeline stage, the tensor- and context-parallel
// peers of a data-parallel replica synchronise every layer, and with experts the expert-parallel all-to-all joins the
// replicas of an EP group: the stage of a replica runs at the largest slowdown of its synchronisation component (the
// union of overlapping TP x CP units and EP blocks, contiguous ranges of a stage's ranks). The step waits for the
// slowest replica (gradient synchronisation), so only that replica needs simulating: SlowestReplica returns its
// per-stage slowdowns. Cost O(GPUs) per step, no allocation per GPU beyond two arrays.
#pragma once

#include <cstdint>
#include <vector>

#include "scenario.pb.h"
#include "workloads/step_program.h"

namespace clustersim::sim {

struct ReplicaSlowdown {
  std::vector<double> stage;  // per pipeline stage, >= the stage's median (1 when every GPU is at median speed)
  uint32_t replica = 0;       // data-parallel index
  double max() const;
};

class VariabilityModel {
 public:
  // `resolved` gives cluster.variability, the accelerator's speed_cv, the GPUs per node and the seed; `layout` the
  // rank placement; `experts` whether stages synchronise over expert-parallel groups.
  VariabilityModel(const v1::Scenario& resolved, const wl::RankLayout& layout, bool experts);
  // False for model "none" with no slow components and no jitter: every replica runs at median speed.
  bool active() const { return active_; }
  double gpu_speed_cv() const { return cv_; }
  // The replica whose slowest stage is slowest (ties: the larger sum of stage slowdowns, then the lower index) for
  // step `step` (0-based; the transient part is drawn afresh per step).
  ReplicaSlowdown SlowestReplica(uint32_t step) const;
  // Every data-parallel replica's slowdown at pipeline stage `stage` in step `step` (for tests and reports).
  std::vector<double> StageReplicaSlowdowns(uint32_t step, uint32_t stage) const;

 private:
  void SampleStep(uint32_t step, std::vector<double>& slowdown) const;
  void StageComponents(uint32_t stage, const std::vector<double>& slowdown, std::vector<double>& per_replica) const;

  wl::RankLayout layout_;
  bool experts_ = false;
  bool active_ = false;
  double cv_ = 0, jitter_cv_ = 0;
  uint64_t seed_ = 0;
  std::vector<double> persistent_;  // per GPU
};

// Standard normal deviate from (seed, a, b): deterministic on every platform (splitmix64 + Box-Muller).
double NormalDeviate(uint64_t seed, uint64_t a, uint64_t b);

}  // namespace clustersim::sim
