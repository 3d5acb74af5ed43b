// Collective algorithms: decompose a collective over a group of GPUs into phases of concurrent point-to-point flows,
// the way NCCL/HCCL move data (rings with channels, double binary trees, recursive halving-doubling, hierarchical
// intra-node/inter-node schemes, NVLink-SHARP in-switch reduction, direct and PXN all-to-all).
//
// A plan is per group; the sim layer replicates it over every group of the same parallel dimension to solve the
// concurrent traffic of the whole cluster on the SimGrid platform.
//
// Sizes follow nccl-tests: all_reduce/reduce_scatter `bytes` = input per rank; all_gather `bytes` = output per rank;
// all_to_all `bytes` = sent per rank in total (its own share included).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scenario.pb.h"

namespace clustersim::sim {

enum class CollectiveKind : uint8_t { kAllReduce, kReduceScatter, kAllGather, kAllToAll, kBroadcast, kSendRecv };
const char* ToString(CollectiveKind k);

struct AlgorithmInfo {
  std::string name;
  std::string description;
};
// Algorithms registered for a collective kind (names accepted in scenario.collectives and `clustersim coll`).
std::vector<AlgorithmInfo> ListAlgorithms(CollectiveKind kind);
// Fills zero/empty fields of the collectives block with the documented defaults.
void FillCollectiveDefaults(v1::Collectives& c);

struct Flow {
  uint32_t src = 0;
  uint32_t dst = 0;
  double bytes = 0;
};

// One phase: flows that run concurrently, repeated `repeat` times back to back (ring steps are identical phases).
struct PhaseStep {
  std::vector<Flow> flows;
  uint32_t repeat = 1;
  // Software latency steps charged per repetition (alpha), in units of collectives.step_latency_ns.
  double alpha_steps = 1;
  // Network hops charged per repetition, in units of collectives.net_step_latency_ns: the hops of a chunk's path
  // that cross nodes (NCCL's tuning charges hwLat[NET] per inter-node hop instead of the intra-node latency). The
  // ring of n ranks on N nodes, for instance, charges (n - N) alpha steps and N - 1 network hops per pass.
  double net_steps = 0;
  // Steps with the same non-zero pipeline_group overlap: their times combine by max, not sum (e.g. the NVLink and
  // RDMA halves of a PXN all-to-all, which DeepEP pipelines).
  uint32_t pipeline_group = 0;
  // The flows form `blocks` consecutive runs of equal length with the same structure (one run per node, or per
  // channel), so run b's k-th flow plays the part of run 0's k-th flow. A hint for the cost model, which may solve one
  // run when the fabric makes them equivalent (sim/network/comm_cost.h); 1 = no structure declared.
  uint32_t blocks = 1;
};

struct CollectivePlan {
  std::string algorithm;
  std::vector<PhaseStep> steps;
  double bytes_sent_total = 0;      // over all flows and repetitions (byte conservation checks)
};

// Where group members sit, so algorithms can tell intra-node from inter-node hops.
struct GroupShape {
  uint32_t gpus_per_node = 8;
  uint32_t scale_up_domain = 8;
  bool in_network_reduction = false;  // NVLS available in the scale-up domain
  // Achievable per-GPU bandwidths (bytes/s) the automatic choice estimates with; 0 = unknown (auto picks ring).
  double scale_out_bytes_per_s = 0;
  double scale_up_bytes_per_s = 0;
  // A direct network (torus): each GPU's links lead to its neighbours, one per direction, so a ring run backwards
  // uses links the forward ring leaves idle; "auto" then runs reductions and gathers as "bidirectional_ring", or as
  // "multidim_ring" where the group is a block of two or more torus dimensions (torus_dims).
  bool direct_links = false;
  // A torus's dimensions (topologies/torus.cpp: GPU g sits at x_d = (g / stride_d) % n_d, stride_0 = 1); empty on
  // other fabrics. "multidim_ring" and "auto" read it to run a group that is a block of the torus dimension by
  // dimension.
  std::vector<uint32_t> torus_dims{};
};

// Plans `kind` over `group` (global GPU ids, in ring order) with `algorithm` ("auto" chooses as NCCL would by size
// and group shape: an alpha-beta estimate of ring, double binary tree and hierarchical all-reduce picks the
// fastest; see docs/collectives.md). Throws InputError for an unknown algorithm or one that cannot run on this group.
// `internode_scale` (0 < x <= 1, all_to_all only; wl::Op::internode_scale) multiplies the bytes of every flow between
// two nodes: an MoE dispatch deduplicated per destination node (DeepEP) sends a token across the network once per
// node, not once per expert. The DeepEP low-latency kernel ("deepep_ll") sends every (token, expert) message and is
// not scaled.
CollectivePlan PlanCollective(CollectiveKind kind, const std::string& algorithm, const std::vector<uint32_t>& group,
                              double bytes, const GroupShape& shape, const v1::Collectives& params,
                              double internode_scale = 1);

// DeepEP V1 normal-mode (high-throughput) MoE dispatch, or its combine (the same flows reversed), from routing
// statistics rather than a uniform size. Each token crosses the network once per destination node (RDMA from the
// sender to the GPU with the sender's local index on that node; nothing for the sender's own node), then once per
// destination rank over NVLink from that GPU (nothing when it is the destination itself). The RDMA and NVLink halves
// are pipelined, as DeepEP's forwarding kernels do (time = max of the two). Flows, bytes each:
//   RDMA   (node A, local i) -> (node B, local i), B != A   rdma_bytes_per_node x the RDMA inflation
//   NVLink (node B, local i) -> (node B, local j), j != i   nvl_bytes_per_rank_pair x the NVLink inflation
// The platform's links run at NCCL's rates, DeepEP's kernels below them: NVLink flows are inflated by
// params.scale_up_protocol_efficiency / 0.672 and RDMA flows by params.protocol_efficiency / 0.872, DeepEP's fitted
// efficiencies (docs/collectives.md); `params` has its defaults filled (FillCollectiveDefaults), as everywhere here.
// The group must hold the same number of members on every node; throws InputError otherwise. Algorithm name
// "deepep_normal"; not in the all-to-all registry, since a uniform size cannot express its de-duplication.
struct DeepEpNormalTraffic {
  double rdma_bytes_per_node = 0;      // per (sending rank, other node)
  double nvl_bytes_per_rank_pair = 0;  // per (forwarding rank, other rank of its node)
  bool combine = false;                // reverse every flow (combine gathers what dispatch scattered)
};
CollectivePlan PlanDeepEpNormal(const std::vector<uint32_t>& group, const GroupShape& shape,
                                const v1::Collectives& params, const DeepEpNormalTraffic& traffic);

// The alpha (in units of collectives.step_latency_ns, for PhaseStep::alpha_steps) of one point-to-point message:
// p2p_latency_ns / step_latency_ns.
double P2pAlphaSteps(const v1::Collectives& params);

// Latency terms of the automatic algorithm choice, for n ranks with `per_node` of them in each scale-up domain:
// `step_latency_ns` per hop inside a domain (alpha), `net_step_latency_ns` per hop across (net), N = n / per_node.
// Ring, one pass (reduce-scatter or all-gather; all-reduce makes two): (n - N) alpha + (N - 1) net.
double RingLatencyS(double n, double per_node, const v1::Collectives& params);
// Tree all-reduce (a chain in each domain, a double binary tree over the domains):
// 2 (ceil(log2 N) net + (per_node - 1) alpha).
double TreeAllReduceLatencyS(double n, double per_node, const v1::Collectives& params);

// A group on a torus (`torus_dims`, GroupShape::torus_dims) as "multidim_ring" sees it: the dimensions it spans as a
// block (0 when it is not a block of the torus), the ring steps of one pass over them, sum of (extent - 1), and the
// link directions each GPU sends on: two per spanned dimension that the block fills (a whole ring, or a dimension of
// 2 with its two parallel links), one per other (a pair, or a segment whose wrap-around flows come back over it).
struct TorusSpan {
  uint32_t dims = 0;
  uint32_t steps = 0;
  uint32_t link_directions = 0;
};
TorusSpan TorusBlockSpan(const std::vector<uint32_t>& group, const std::vector<uint32_t>& torus_dims);

// nccl-tests bus-bandwidth factor: busbw = algbw * factor (all_reduce 2(n-1)/n; rs/ag/a2a (n-1)/n; broadcast 1).
double BusBandwidthFactor(CollectiveKind kind, uint32_t n);

}  // namespace clustersim::sim
