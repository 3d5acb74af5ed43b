// CommCostModel: the time of a collective or pipeline transfer of the representative rank, with every other group of
// the same parallel dimension running the same operation at the same time on the full fabric.
//
// Each distinct (operation, dimension, size) is planned by the collectives layer, replicated over every group of the
// cluster, solved on SimGrid phase by phase (identical ring steps solved once and repeated), and cached: recurring
// phases are never solved twice. Groups whose traffic stays inside one scale-up domain cannot interfere with each
// other, so only one of them is solved. When the replicated phase would exceed `max_flows_per_phase`, a prefix of the
// groups (contiguous, so whole leaves/pods) is solved instead and the cost is marked as sampled.
//
// Phases are also cached by shape: every flow of a planned phase scales with the collective's size, so a phase with
// the same (src, dst, relative size) flows as one already solved is not solved again; its time is taken from the
// affine law t(S) = L + S / R that the fluid model obeys (L = the longest route latency among the phase's flows,
// R fitted from the solved point). Reduce-scatter and all-gather rings of one group, and gradient buckets of
// different sizes, thus cost one SimGrid solve together.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "sim/collectives.h"
#include "sim/phase_solver.h"
#include "topologies/fabric.h"
#include "workloads/step_program.h"

namespace clustersim::sim {

struct CommCost {
  double time_s = 0;
  std::string algorithm;
  uint64_t flows = 0;       // flows solved on SimGrid for this entry
  uint32_t group_size = 0;
  uint32_t groups_solved = 0;
  uint32_t groups_total = 0;
  bool sampled = false;
};

// Receives every phase the cost model accounts for, with the number of times it occurs per step, so metrics (link
// load) attach without branches in the model.
class PhaseObserver {
 public:
  virtual ~PhaseObserver() = default;
  // `flows` run `weight` times per step (weight already covers repetitions and groups not solved).
  virtual void OnPhase(const std::vector<Flow>& flows, double weight) = 0;
};

class CommCostModel {
 public:
  // `reuse_shapes` = false solves every phase on SimGrid, even when a phase of the same shape was solved (used by
  // options.fidelity "full" and by the tests that bound the error of reuse).
  CommCostModel(PhaseSolver& solver, const topo::Fabric& fabric, const wl::RankLayout& layout,
                const v1::Collectives& params, uint64_t max_flows_per_phase, bool in_network_reduction,
                bool reuse_shapes = true);

  // Collective `kind` of `bytes` over the `dim` group containing `rank`. `occurrences` (per step, for the
  // observer) is taken from the first request of an entry.
  const CommCost& Collective(CollectiveKind kind, wl::Dim dim, uint32_t rank, double bytes, double occurrences = 1);
  // Pipeline transfer of `bytes` from every rank of stage `from_stage` to the same position of stage
  // (from_stage + delta) mod pp.
  const CommCost& PipelineTransfer(uint32_t from_stage, int32_t delta, double bytes, double occurrences = 1);
  void SetObserver(PhaseObserver* observer) { observer_ = observer; }
  // Solves `plan`, made for groups[0], with every group of `groups` running it at once (the collective
  // microbenchmark); `out` receives the flows solved. Same phase rules as Collective(), no cache.
  double SolveGroups(const CollectivePlan& plan, const std::vector<std::vector<uint32_t>>& groups, CommCost& out) {
    return SolvePlan(plan, groups, groups.at(0), out, 1);
  }
  // Group shape (node, domain, NVLS, achievable bandwidths) the plans are made with.
  const GroupShape& shape() const { return shape_; }

  const std::map<std::tuple<int, int, uint32_t, double>, CommCost>& entries() const { return cache_; }
  // After Freeze(), a request that is not cached throws SimulationError instead of solving (solves must happen in
  // the controller actor before the step starts, not in the middle of it).
  void Freeze() { frozen_ = true; }

 private:
  double SolvePlan(const CollectivePlan& plan, const std::vector<std::vector<uint32_t>>& instances,
                   const std::vector<uint32_t>& rep, CommCost& out, double occurrences);
  // Solves `flows` on SimGrid, or derives the time from a solved phase of the same shape. Adds the flows actually
  // solved to `solved`.
  double SolveScaled(const std::vector<Flow>& flows, uint64_t& solved);
  double MaxRouteLatency(const std::vector<Flow>& flows);
  const std::vector<std::vector<uint32_t>>& Instances(wl::Dim dim);

  PhaseSolver& solver_;
  const topo::Fabric& fabric_;
  wl::RankLayout layout_;
  v1::Collectives params_;
  uint64_t max_flows_;
  GroupShape shape_;
  std::map<std::tuple<int, int, uint32_t, double>, CommCost> cache_;
  std::map<int, std::vector<std::vector<uint32_t>>> instances_;
  bool frozen_ = false;
  bool reuse_shapes_ = true;
  PhaseObserver* observer_ = nullptr;
  struct ShapeFit {
    double latency_s = 0;      // L
    double seconds_per_unit = 0;  // 1 / R, per unit of the reference flow's bytes
  };
  std::map<uint64_t, ShapeFit> shapes_;
  std::vector<topo::Hop> hops_;

 public:
  uint64_t phases_reused() const { return phases_reused_; }

 private:
  uint64_t phases_reused_ = 0;
};

}  // namespace clustersim::sim
