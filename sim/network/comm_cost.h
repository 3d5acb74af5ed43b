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
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "sim/network/collectives.h"
#include "sim/network/phase_solver.h"
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
  // One occurrence of a phase, on every group, puts `bytes` (SimGrid link index into Platform::links(), bytes) on
  // the links it crosses; it runs `weight` times per step (weight already covers repetitions and sizes: the loads of
  // an exchange repeated with other byte counts are routed once and scaled).
  virtual void OnLinkBytes(const std::vector<std::pair<uint32_t, double>>& bytes, double weight) = 0;
};

class CommCostModel {
 public:
  // `reuse_shapes` = false solves every phase on SimGrid, even when a phase of the same shape was solved (used by
  // options.fidelity "full" and by the tests that bound the error of reuse).
  // `reduce_symmetry` = false disables the exact symmetry reductions (IndependentClasses, SymmetricUnits) and
  // solves every instance of every phase together (used to test that the reductions change nothing).
  CommCostModel(PhaseSolver& solver, const topo::Fabric& fabric, const wl::RankLayout& layout,
                const v1::Collectives& params, uint64_t max_flows_per_phase, bool in_network_reduction,
                bool reuse_shapes = true, bool reduce_symmetry = true);

  // Collective `kind` of `bytes` over the `dim` group containing `rank`. `occurrences` (per step, for the
  // observer) is taken from the first request of an entry.
  // `internode_scale`: wl::Op::internode_scale of an all-to-all (PlanCollective), 1 otherwise; part of the cache key.
  const CommCost& Collective(CollectiveKind kind, wl::Dim dim, uint32_t rank, double bytes, double occurrences = 1,
                             double internode_scale = 1);
  // Pipeline transfer of `bytes` from every rank of stage `from_stage` to the same position of stage
  // (from_stage + delta) mod pp.
  const CommCost& PipelineTransfer(uint32_t from_stage, int32_t delta, double bytes, double occurrences = 1);
  void SetObserver(PhaseObserver* observer) { observer_ = observer; }
  // Collectives over the data-parallel dimensions (wl::IsDataParallel) reach `efficiency` (0 < x <= 1) of the
  // modelled bandwidth: their flows are inflated by 1 / efficiency (software below NCCL's rate:
  // StepProgram::sharded_dp_collective_efficiency); latencies are unchanged. Call before the first Collective().
  void SetDataParallelEfficiency(double efficiency);
  // Rank r runs on fabric GPU gpu_of_rank[r] (sim/placement.h; empty = GPU r, the default). Every group and pipeline
  // transfer is mapped through this one table before it is planned, so plans, symmetry checks and flows see fabric
  // GPUs. The table must keep each node's ranks on one node in local order (whole nodes are placed), since plans
  // read node and rail from the GPU id. Call before the first Collective().
  void SetPlacement(std::vector<uint32_t> gpu_of_rank);
  // Solves `plan`, made for groups[0], with every group of `groups` running it at once (the collective
  // microbenchmark); `out` receives the flows solved. Same phase rules as Collective(), no cache.
  double SolveGroups(const CollectivePlan& plan, const std::vector<std::vector<uint32_t>>& groups, CommCost& out) {
    return SolvePlan(plan, groups, groups.at(0), out, 1);
  }
  // Group shape (node, domain, NVLS, achievable bandwidths) the plans are made with.
  const GroupShape& shape() const { return shape_; }
  // The collectives parameters (algorithms by name, latencies, efficiencies) the plans are made with.
  const v1::Collectives& params() const { return params_; }

  // Entries are keyed by (CollectiveKind, wl::Dim, pipeline slot, bytes, inter-node scale); the slot is 0 for
  // collectives and from_stage x 2 + (delta > 0) for pipeline transfers; the scale is 1 but for a deduplicated
  // all-to-all.
  using Key = std::tuple<int, int, uint32_t, double, double>;
  static Key CollectiveKey(CollectiveKind kind, wl::Dim dim, double bytes, double internode_scale = 1) {
    return {static_cast<int>(kind), static_cast<int>(dim), 0u, bytes, internode_scale};
  }
  static Key PipelineKey(uint32_t from_stage, int32_t delta, double bytes) {
    return {static_cast<int>(CollectiveKind::kSendRecv), static_cast<int>(wl::Dim::kPp),
            from_stage * 2 + (delta > 0 ? 1u : 0u), bytes, 1.0};
  }
  const std::map<Key, CommCost>& entries() const { return cache_; }

  // Joint traffic (docs/collectives.md, "Joint traffic"). After KeepJointPhases, every entry solved keeps its
  // dominant phase: the step of its plan with the longest solved time, on the representative's group.
  struct JointPhase {
    std::vector<Flow> flows;      // one repetition of the step on the representative's group (global GPU ids)
    std::vector<uint32_t> group;  // the representative's group; empty: `flows` already cover every instance
    int dim = -1;                 // wl::Dim of the instances the flows are replicated over (when group is set)
    double solved_s = 0;          // one repetition alone, as solved
    double transfer_share = 0;    // solved transfer time / the entry's time (the rest is latency terms), <= 1
    uint64_t shape = 0;           // (src, dst, relative size) of the flows and the dimension
  };
  // Keep the dominant phases from now on; a joint solve takes whole instances of both entries until it would hold
  // more than `sample_flows` flows (0: every instance). Call before the first Collective().
  void KeepJointPhases(uint64_t sample_flows) {
    keep_joint_ = true;
    joint_sample_flows_ = sample_flows;
  }
  const JointPhase* joint_phase(const Key& k) const {
    const auto it = joint_.find(k);
    return it == joint_.end() ? nullptr : &it->second;
  }
  // How many times longer `a`'s dominant phase takes while `b`'s flows are in flight throughout (b's sizes scaled
  // so that it outlasts a), against `a` alone on the same instances: >= 1 up to the solver's rounding. Both solved
  // together in one max-min problem (PhaseSolver::SolveParts) on `a`'s representative group and the instances of both
  // that reach it (KeepJointPhases' limit). Cached per pair of shapes. Call from the controller actor.
  double JointSlowdown(const Key& a, const Key& b);
  uint64_t joint_solves() const { return joint_solves_; }
  // After Freeze(), a request that is not cached throws SimulationError instead of solving (solves must happen in
  // the controller actor before the step starts, not in the middle of it).
  void Freeze() { frozen_ = true; }

 private:
  double SolvePlan(const CollectivePlan& plan, const std::vector<std::vector<uint32_t>>& instances,
                   const std::vector<uint32_t>& rep, CommCost& out, double occurrences);
  // The steps of SolvePlan for one PhaseStep (comm_cost.cpp).
  struct StepUnits;
  enum class Mode { kAll, kClasses, kScaled };
  double SolveStep(const StepUnits& units, CommCost& out, double occurrences);
  Mode ChooseMode(const StepUnits& units);
  uint64_t StructureKey(const StepUnits& units, bool sizes) const;
  size_t GatherFlows(const StepUnits& units, Mode mode, CommCost& out);
  double SolveGathered(Mode mode, CommCost& out);
  void ObserveStep(const StepUnits& units, bool all_solved, double weight);
  // The bytes each SimGrid link carries in one occurrence of the step on every instance, into `out`.
  void LinkBytes(const StepUnits& units, bool all_solved, std::vector<std::pair<uint32_t, double>>& out);
  // Solves `flows` on SimGrid, or derives the time from a solved phase of the same shape. Adds the flows actually
  // solved to `solved`.
  // `salt` distinguishes phases solved on modified link capacities (symmetry reductions) in the shape cache.
  double SolveScaled(const std::vector<Flow>& flows, uint64_t& solved, uint64_t salt = 0);
  using FlowsOf = std::function<void(size_t, std::vector<Flow>&)>;
  // Whether the `units` units whose flows `flows_of(i, out)` yields use pairwise disjoint SimGrid links (then each
  // is its own max-min problem). If so, fills `reps` with the first unit of every class of identical problems (same
  // flow sizes, same routes up to renaming of links, same capacities and latencies) and returns true. Returns false
  // at the first link two units share. Cost: one route per flow, O(hops).
  // With `links`, also records each unit's SimGrid links in first-use order (`links->first[k]` .. `first[k + 1]`) and
  // its class (`links->cls[k]`, an index into `reps`), for LinkBytes.
  struct UnitLinks {
    std::vector<uint32_t> first, links, cls;
  };
  bool IndependentClasses(size_t units, const FlowsOf& flows_of, std::vector<size_t>& reps, UnitLinks* links = nullptr);
  // Whether every link used by several units is used by each of them through the same flow positions, and every
  // unit is the same problem once such a link's capacity is divided by its number of users. Then the max-min
  // allocation is the same for every unit (it is unique and the units are interchangeable), and unit 0 solved alone
  // on the divided capacities gives it exactly. Fills `shared` with unit 0's shared links (index, users). Two routes
  // per flow.
  bool SymmetricUnits(size_t units, const FlowsOf& flows_of, std::vector<std::pair<uint32_t, uint32_t>>& shared);
  void EnsureLinkScratch();
  double MaxRouteLatency(const std::vector<Flow>& flows);
  const std::vector<std::vector<uint32_t>>& Instances(wl::Dim dim);
  uint32_t Gpu(uint32_t rank) const { return gpu_of_rank_.empty() ? rank : gpu_of_rank_[rank]; }
  void ToGpus(std::vector<uint32_t>& ranks) const {
    for (uint32_t& r : ranks) r = Gpu(r);
  }

  PhaseSolver& solver_;
  const topo::Fabric& fabric_;
  wl::RankLayout layout_;
  v1::Collectives params_;
  uint64_t max_flows_;
  GroupShape shape_;
  std::map<Key, CommCost> cache_;
  double dp_inflation_ = 1;  // 1 / SetDataParallelEfficiency
  std::vector<uint32_t> gpu_of_rank_;  // SetPlacement; empty = identity
  std::map<int, std::vector<std::vector<uint32_t>>> instances_;
  bool frozen_ = false;
  bool reuse_shapes_ = true;
  bool reduce_symmetry_ = true;
  PhaseObserver* observer_ = nullptr;
  struct ShapeFit {
    double latency_s = 0;      // L
    double seconds_per_unit = 0;  // 1 / R, per unit of the reference flow's bytes
  };
  std::map<uint64_t, ShapeFit> shapes_;
  std::vector<topo::Hop> hops_;
  // Per SimGrid link scratch for the symmetry checks (all reset after each check).
  std::vector<int32_t> owner_;       // unit using it, or -1
  std::vector<int32_t> local_;       // its number within the unit
  std::vector<uint32_t> users_;      // units using it
  std::vector<uint64_t> pattern_;    // hash of the flow positions the current unit uses it with
  std::vector<uint64_t> reference_;  // the same for its first user
  std::vector<std::pair<int32_t, double>> route_;
  std::vector<Flow> unit_flows_;
  // SolveStep scratch: the flows to solve, one unit's flows, the class representatives, the shared links.
  std::vector<Flow> step_flows_, one_;
  const std::vector<Flow>* gathered_ = &step_flows_;  // what GatherFlows chose to solve
  std::vector<size_t> reps_;
  std::vector<std::pair<uint32_t, uint32_t>> shared_;
  size_t scaled_unit_ = 0;  // the unit solved in kScaled mode, in the current order
  // ChooseMode's result per structure of a step (see ChooseMode); units as (instance, block).
  struct Choice {
    Mode mode;
    std::vector<std::pair<size_t, size_t>> reps;
    std::vector<std::pair<uint32_t, uint32_t>> shared;
    std::pair<size_t, size_t> scaled;  // the unit solved in kScaled mode (shared are its links)
    // kClasses, representative listed first in the order: per unit (instance x blocks + block), its links and class
    // (IndependentClasses), so that the links' loads are the class representative's loads, scattered
    // (RepresentativeLoads, ScatterLoads).
    UnitLinks units;
  };
  // The class representatives' link loads of a kClasses step, per class in its links' first-use order, when choice_
  // holds the units' links (false otherwise); ScatterLoads puts them on every unit's links.
  bool RepresentativeLoads(const StepUnits& units, std::vector<std::vector<double>>& loads);
  static void ScatterLoads(const UnitLinks& units, const std::vector<std::vector<double>>& loads,
                           std::vector<std::pair<uint32_t, double>>& out);
  static UnitLinks InstanceOrder(const StepUnits& units, const UnitLinks& found);
  const Choice* choice_ = nullptr;  // ChooseMode's choice for the current step
  std::unordered_map<uint64_t, Choice> choices_;
  uint64_t step_key_ = 0;  // the structure key of the step ChooseMode last saw, when has_key_
  bool has_key_ = false;
  // ObserveStep's link loads per structure key, for the size of the step's first flow `unit`.
  struct Observed {
    double unit = 0;
    std::vector<std::pair<uint32_t, double>> bytes;
    // Class-reduced steps: their choice's unit links (stable: choices_ never drops an entry) and the representatives'
    // loads, scattered at each observation instead of kept per link.
    const UnitLinks* units = nullptr;
    std::vector<std::vector<double>> class_loads;
  };
  std::unordered_map<uint64_t, Observed> observed_;
  std::vector<std::pair<uint32_t, double>> link_bytes_;
  std::vector<double> load_;  // per SimGrid link, LinkBytes scratch (reset after use)

 public:
  uint64_t phases_reused() const { return phases_reused_; }
  // Phases solved on one group per class of independent identical groups (see IndependentClasses).
  uint64_t phases_reduced() const { return phases_reduced_; }

 private:
  uint64_t phases_reused_ = 0;
  uint64_t phases_reduced_ = 0;
  // Joint traffic (KeepJointPhases).
  void KeepStep(const PhaseStep& step, double solved_s);
  void FinishKeeping(double time_s);
  // The instances of `p` (indices into its Instances, or {0} for a pipeline transfer), chosen from `seed`'s GPUs
  // outwards (see JointSlowdown); `a_units`/`b_units` receive the instances of a and b to solve.
  void JointSample(const JointPhase& a, const JointPhase& b, std::vector<size_t>& a_units,
                   std::vector<size_t>& b_units);
  void JointFlows(const JointPhase& p, const std::vector<size_t>& units, double scale, std::vector<Flow>& out);
  const std::vector<int32_t>& GroupOf(int dim);
  bool keep_joint_ = false;
  uint64_t joint_sample_flows_ = 0;
  std::map<Key, JointPhase> joint_;
  JointPhase* keeping_ = nullptr;  // the entry SolvePlan is solving
  double keeping_transfer_s_ = 0;
  std::map<int, std::vector<int32_t>> group_of_;    // per dimension: GPU -> its instance
  std::unordered_map<uint64_t, double> slowdowns_;  // JointSlowdown per (shape a, shape b)
  uint64_t joint_solves_ = 0;
};

}  // namespace clustersim::sim
