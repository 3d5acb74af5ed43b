// Placement of the simulated job on a fabric that may be larger than it, and the traffic of other jobs that share
// that fabric (cluster.placement, cluster.background; docs/capacity-planning.md "Placement and shared clusters").
//
// The fabric's GPUs are cut into units of whole nodes (whole scale-up domains when a domain spans several nodes and
// the job fills at least one), numbered in GPU order, which is the order in which every generator fills leaves,
// pods, dragonfly groups and torus rows. A policy picks units from the free ones: "contiguous" the first ones,
// "spread" evenly strided ones, "fragmented" a seeded random set. Rank r of the job runs on GPU gpu_of_rank[r]: the
// (r / unit)-th chosen unit, local index r % unit, so every node keeps its ranks in local order and plans read node
// and rail from the GPU id as before.
//
// Background traffic is not simulated flow by flow: each background job's offered load is routed once on the
// platform (all_to_all: every GPU to kBackgroundPeers evenly strided peers, exact below that many GPUs), slowed as a
// whole until its most loaded link is full (a collective runs at the pace of its bottleneck), and each link then
// keeps min(background load, kBackgroundMaxShare of its capacity) for the background: the job's phases are solved on
// what is left (Platform::Reserve), in every phase of the step.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "results.pb.h"
#include "scenario.pb.h"
#include "sim/network/platform.h"

namespace clustersim::sim {

inline constexpr uint32_t kBackgroundPeers = 64;
inline constexpr double kBackgroundMaxShare = 0.5;

// One background job, placed.
struct BackgroundTraffic {
  std::string name;
  std::string pattern;         // "all_to_all", "all_reduce", "uniform_random"
  std::vector<uint32_t> gpus;  // fabric GPUs, in ring order
  double bytes_per_s = 0;      // offered per GPU
  uint64_t seed = 0;
};

struct ClusterPlacement {
  uint32_t fabric_gpus = 0;
  uint32_t unit_gpus = 0;             // GPUs placed together
  std::string policy;                 // the job's
  std::vector<uint32_t> gpu_of_rank;  // empty: rank r on GPU r (the job owns GPUs 0..num_gpus-1)
  std::vector<BackgroundTraffic> background;
};

// The GPU of rank `rank` when the job's ranks fill tiles of a torus (cluster.placement.torus_tile, as validated at
// load; `tile` has one divisor per entry of `torus_dims`): its offset in its tile and the tile's place in the grid of
// tiles, both first coordinate fastest.
uint32_t TorusTileGpu(uint32_t rank, std::span<const uint32_t> torus_dims, std::span<const uint32_t> tile);

// The most cube-like tile of `volume` ranks on a torus of `torus_dims` (a cluster.placement.torus_tile value): the
// volume's prime factors, largest first, each to the dimension with the smallest extent so far that it still
// divides. Empty when the volume is 1 or has no such tile.
std::vector<uint32_t> TorusCubeTile(std::span<const uint32_t> torus_dims, uint32_t volume);

// A torus tile as scenarios and labels show it: "2x2x2" (empty for none).
std::string TorusTileText(const google::protobuf::RepeatedField<uint32_t>& tile);

// Whether the job owns the whole fabric and lays its ranks out itself, as cluster.placement.torus_tile needs: no
// cluster.placement.fabric_gpus beyond num_gpus, no cluster.background, policy "contiguous" (or unset).
bool JobOwnsFabric(const v1::Cluster& cluster);

// The fabric's GPU count: cluster.placement.fabric_gpus, or num_gpus when 0.
uint32_t FabricGpus(const v1::Cluster& cluster);

// Places the job and the background jobs of a resolved scenario (explicit gpu_ids first, then the job, then the
// counted background jobs in order). Throws InputError naming the field when they do not fit on the fabric.
ClusterPlacement PlaceJobs(const v1::Scenario& resolved);

// Per background job, what ReserveBackground did.
struct BackgroundEffect {
  uint32_t links_loaded = 0;     // SimGrid links its traffic crosses
  double max_share_of_link = 0;  // the largest fraction of one link's capacity it keeps (<= kBackgroundMaxShare)
  double carried_fraction = 1;   // of its offered load, what the fabric carries (1 = all)
};

// Routes the background jobs' traffic on `platform` and reserves its share of every link (see above). Call before
// the first phase is solved.
std::vector<BackgroundEffect> ReserveBackground(Platform& platform, const std::vector<BackgroundTraffic>& jobs);

// Whether the scenario places its job on a larger fabric or adds background jobs (then RunResult.shared_cluster is
// reported).
bool SharesCluster(const v1::Scenario& resolved);
// Whether any background job offers traffic.
bool HasBackgroundLoad(const v1::Scenario& resolved);
// RunResult.shared_cluster (step_time_alone_s left to the caller, which runs the job without background).
v1::SharedCluster ReportSharedCluster(const ClusterPlacement& placement, const std::vector<BackgroundEffect>& effects,
                                      const topo::Fabric& fabric, uint32_t num_gpus);

// The flows (src, dst, bytes/s) a background job offers; for tests and ReserveBackground.
struct OfferedFlow {
  uint32_t src = 0, dst = 0;
  double bytes_per_s = 0;
};
void BackgroundFlows(const BackgroundTraffic& job, std::vector<OfferedFlow>& out);

}  // namespace clustersim::sim
