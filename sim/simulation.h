// The simulation entry points. Each call validates nothing (pass a scenario from ResolveScenario), forks a SimGrid
// process (sim/child_process.h), and returns what it produced; calls are independent and may be repeated.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/progress.h"
#include "results.pb.h"
#include "scenario.pb.h"
#include "topologies/fabric.h"
#include "validation.pb.h"
#include "workloads/step_program.h"

namespace clustersim::sim {

// Topology parameters of a resolved scenario.
topo::FabricParams FabricParamsOf(const v1::Scenario& scenario);
// One capex line: `count` parts of `tier` at `unit_usd` each (total = count x unit_usd); `note` says why a zero
// price is zero (included elsewhere, not counted).
v1::CostItem CostItemOf(const std::string& tier, const std::string& part, double count, double unit_usd,
                        const std::string& note = "");
// Inventory roll-up of a fabric with the scenario's per-part prices and power: counts, bisection, diameter, network
// cost (switches, optics, NICs, cables), network power (NetworkPowerW) and the parts by tier with their prices.
v1::TopologySummary SummarizeTopology(const topo::Fabric& fabric, const topo::Inventory& inventory,
                                      const v1::Scenario& scenario);

// One training step of the scenario's workload on its cluster. Before forking the SimGrid process it compares a
// lower bound of the memory the run needs (EstimateRunMemoryGb) with options.memory_limit_gb (default: 90% of this
// machine's physical memory) and throws InputError, saying how much, if it is exceeded; inside the process, each
// phase is checked against the same limit before it is solved, so a run that outgrows it ends with that InputError
// instead of being killed. `source` names the scenario in those errors (its file; default: the scenario's name).
// `progress` receives the simulation's stages (program, platform, communication and step, account) with the phase
// solves nested in the third.
v1::RunResult SimulateStep(const v1::Scenario& resolved, const std::string& source = {},
                           const ProgressFn& progress = {});

// Rejects a plan whose worst pipeline stage needs more per-GPU memory than the accelerator's HBM (DoesNotFitError, an
// InputError, naming `source`, saying by how much and where it goes; SimulateStep passes it on as that type).
// SimulateStep and export call it only with options.strict_memory: by default such a plan runs and is flagged.
void CheckMemoryFits(const wl::StepProgram& program, const v1::Scenario& resolved, const std::string& source);

// Estimate of the SimGrid process's peak memory, in GB, before the phases: what the fabric, platform and step
// program take (sim/memory_guard.h). Phases that the symmetry reductions cannot shrink add ~2 KiB per flow and
// ~16 KiB per GPU; those are checked as the run goes.
double EstimateRunMemoryGb(const v1::Scenario& resolved);

// Collective microbenchmark (`clustersim coll`): one collective over a group, all other groups of the same shape
// idle (group = the first `group_size` GPUs, or every GPU when 0).
struct CollectiveBenchRow {
  std::string collective;
  std::string algorithm;
  uint32_t ranks = 0;
  uint64_t bytes = 0;
  double time_s = 0;
  double algbw_gbyte_per_s = 0;
  double busbw_gbyte_per_s = 0;
  uint64_t flows = 0;
  double wall_s = 0;         // of the whole SimGrid process (platform build included), same for every row
  double peak_rss_mib = 0;
  uint64_t events = 0;       // SimGrid time advances of the whole process
  // DeepEP's accounting, with spec.moe only (0 otherwise): one copy per (token, destination node), the sender's own
  // node included, over time_s (0 when the group sits in one node); one copy per (token, destination rank) received
  // by a rank, over time_s. GB/s (1e9 bytes).
  double deepep_rdma_gbyte_per_s = 0;
  double deepep_nvl_gbyte_per_s = 0;
};
// A DeepEP-style MoE exchange (validation `moe` block, proto/validation.proto MoeExchangeCase): tokens > 0 makes the
// all_to_all a DeepEP normal-mode dispatch or combine (PlanDeepEpNormal) over routed tokens.
struct MoeExchangeSpec {
  uint32_t tokens = 0;               // per EP rank; 0 = not a MoE exchange
  uint32_t top_k = 0;
  uint32_t experts = 0;              // a multiple of the group size
  uint32_t max_nodes_per_token = 0;  // 0 = unlimited
  uint64_t token_bytes = 0;          // bytes per token copy
  bool combine = false;
  uint64_t seed = 0;                 // 0 = the scenario's seed
};
struct CollectiveBenchSpec {
  std::string collective = "all_reduce";
  std::string algorithm = "auto";
  std::vector<uint64_t> sizes_bytes;
  uint32_t group_size = 0;      // 0 = every GPU
  uint32_t group_stride = 1;    // members g*stride for g < group_size (e.g. 8: one GPU per node)
  bool all_groups = false;      // run every disjoint group of this shape at once (congestion)
  bool exact = false;           // solve every group of every phase, without the symmetry reductions (for tests)
  MoeExchangeSpec moe;          // sizes_bytes is ignored when moe.tokens > 0 (bytes = tokens x top_k x token_bytes)
  // How messages name the inputs: false, the command line's ("coll: group"); true, the fields of a `collective`
  // block of a validation or benchmark file ("collective.group_size"; BenchSpecOf sets it).
  bool from_case_block = false;
};
// `progress` receives the "sizes" solved.
std::vector<CollectiveBenchRow> SimulateCollective(const v1::Scenario& resolved, const CollectiveBenchSpec& spec,
                                                   const ProgressFn& progress = {});
// The input rules SimulateCollective checks before it simulates (collective name, group, MoE exchange), alone: for
// callers that validate many specs before running any (clustersim validate).
void ValidateCollectiveSpec(const v1::Scenario& resolved, const CollectiveBenchSpec& spec);
// The microbenchmark a validation or benchmark file's `collective` block describes (one size).
CollectiveBenchSpec BenchSpecOf(const v1::CollectiveCase& c);

// Compares, for `pairs` GPU pairs drawn deterministically (every pair when the cluster has at most 64 GPUs), the
// route SimGrid resolves on the platform (Host::route_to: links and latency) with the fabric graph's route mapped to
// SimGrid links. Returns the number of pairs checked and a description of the first mismatch ("" if none).
struct RouteCheck {
  uint64_t pairs = 0;
  uint64_t mismatches = 0;
  std::string first_mismatch;
};
RouteCheck CompareRoutes(const v1::Scenario& resolved, uint32_t pairs);

}  // namespace clustersim::sim
