// StepProgram: the compute and traffic of one training step, as the ordered operations of one representative rank
// per pipeline stage. Ranks that do identical work (tensor/context-parallel peers, data-parallel replicas) share
// one representative; the sim layer runs representatives and multiplies.
//
// The workloads layer knows nothing of topologies: communication names a parallel dimension (TP, DP, ...), and the
// sim layer turns (rank, dimension) into the group of GPUs through RankLayout.
//
// Units: FLOPs, bytes. Sizes per collective follow nccl-tests conventions: all_reduce/reduce_scatter `bytes` is the
// input buffer per rank, all_gather `bytes` is the output buffer per rank, all_to_all `bytes` is what one rank sends
// in total (to all peers, itself included).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace clustersim::wl {

// kEdp: expert-data-parallel group (ranks holding the same experts). kDpCp: the data x context-parallel ranks of a
// stage (the replicas of the dense parameters when cp > 1; the generator uses kDp when cp == 1).
enum class Dim : uint8_t { kTp, kCp, kPp, kDp, kEp, kEdp, kTpCp, kDpCp };
const char* ToString(Dim d);
// The data-parallel dimensions (kDp, kDpCp, kEdp): gradient reduction and ZeRO sharding groups.
inline bool IsDataParallel(Dim d) { return d == Dim::kDp || d == Dim::kDpCp || d == Dim::kEdp; }

enum class Coll : uint8_t { kAllReduce, kReduceScatter, kAllGather, kAllToAll, kBroadcast };
const char* ToString(Coll c);

// The MoE layer's parts are kinds of their own so that they are priced and reported separately (docs/workloads.md,
// "MoE layer"): kGroupedGemm (routed experts' GEMMs), kQuantize (FP8 quantise / cast / transpose, memory-bound),
// kPermute (token permute / unpermute, memory-bound), kHostSync (GPU idle while the host reads the token counts).
enum class ComputeKind : uint8_t {
  kGemm,
  kAttention,
  kElementwise,
  kOptimizer,
  kEmbedding,
  kRouter,
  kGroupedGemm,
  kQuantize,
  kPermute,
  kHostSync,
};
inline constexpr ComputeKind kAllComputeKinds[] = {
    ComputeKind::kGemm,      ComputeKind::kAttention, ComputeKind::kElementwise, ComputeKind::kOptimizer,
    ComputeKind::kEmbedding, ComputeKind::kRouter,    ComputeKind::kGroupedGemm, ComputeKind::kQuantize,
    ComputeKind::kPermute,   ComputeKind::kHostSync};
const char* ToString(ComputeKind k);

// What an operation belongs to, for breakdowns and timelines.
enum class Phase : uint8_t { kForward, kBackward, kRecompute, kOptimizer, kGradSync };

enum class OpType : uint8_t {
  kCompute,     // runs on the GPU's compute stream
  kCollective,  // blocking on the compute stream unless `async`
  kSend,        // pipeline send to stage + peer_delta (non-blocking for the sender)
  kRecv,        // pipeline receive; blocks until the matching send has arrived
  kWait,        // waits for every async collective issued with this `tag` and not yet complete (none: no-op)
};
// Send/receive matching: a kSend on stage a with peer_delta d, phase p (kForward: activations, kBackward:
// gradients), microbatch m and chunk c matches the kRecv on stage (a + d) mod pp with peer_delta -d and the same
// phase, microbatch and chunk. `chunk` is the receiver's model chunk. A kWait may name a tag issued in the previous
// step (ZeRO-1/2 parameter all-gather overlapped with the next forward); in the first step it is a no-op.

struct Op {
  OpType type = OpType::kCompute;
  Phase phase = Phase::kForward;
  // kCompute
  ComputeKind compute = ComputeKind::kGemm;
  double flops = 0;       // floating-point operations
  double bytes = 0;       // HBM bytes read + written
  double gemm_count = 1;  // number of equal GEMMs the flops split into (for the small-GEMM efficiency falloff)
  // kGroupedGemm: the smaller of the GEMM's reduction and output widths, elements (shape-dependent efficiency).
  double gemm_min_dim = 0;
  // Issued while the host has no lead on the GPU (after a kHostSync, until the MoE layer ends): the op takes at least
  // host_kernels x the accelerator's kernel_launch_host_us. kHostSync: the number of synchronisations.
  bool host_bound = false;
  // kAttention: FP8 dot-product attention (TransformerEngine's fp8_dot_product_attention; workload.fp8_attention).
  bool fp8 = false;
  uint32_t host_kernels = 1;
  // kCollective
  Coll coll = Coll::kAllReduce;
  Dim dim = Dim::kTp;
  uint64_t comm_bytes = 0;
  bool async = false;  // issued on a separate communication stream; completion awaited by a kWait
  uint32_t tag = 0;
  // kAllToAll: multiplier (0 < x <= 1) on the part of comm_bytes this rank sends to GPUs of other nodes. Below 1
  // with node-limited MoE routing and per-node deduplication (DeepEP style: a token crosses the network once per
  // destination node and is forwarded inside it). 1 = every (token, expert) pair travels separately.
  double internode_scale = 1;
  // kSend / kRecv
  int32_t peer_delta = 0;   // +1 next stage, -1 previous stage (wraps for interleaved schedules)
  uint32_t microbatch = 0;  // set on every op of a microbatch's pass (for timelines), 0 on per-step ops
  uint32_t chunk = 0;       // model chunk 0 .. chunks_per_stage-1 of the op; kSend/kRecv: the receiver's chunk
};

// How global ranks map to parallel coordinates (Megatron order, fastest first): tp, cp, dp, pp. Expert parallelism
// reuses the dp x cp ranks of a stage: ep groups are contiguous blocks of the (cp, dp) grid; edp = the ranks holding
// the same experts. General form (Megatron's expert grid): the tp*cp*dp ranks of a stage, in rank order, are
// factored as etp x ep x edp (etp fastest), where etp = expert_tp (0 = tp). With etp = tp this is the rule above;
// with etp = 1 the ep groups are blocks of ep consecutive ranks of the stage (they may span tp).
struct RankLayout {
  uint32_t tp = 1, cp = 1, dp = 1, pp = 1, ep = 1;
  uint32_t expert_tp = 0;  // tensor parallelism inside experts; 0 = tp
  uint32_t etp() const { return expert_tp == 0 ? tp : expert_tp; }
  uint32_t world() const { return tp * cp * dp * pp; }
  // Ranks of the `dim` group that contains `rank`, in ring order. Deterministic; O(group size).
  std::vector<uint32_t> Group(uint32_t rank, Dim dim) const;
  uint32_t GroupSize(Dim dim) const;
  // Coordinates of a rank.
  uint32_t TpIndex(uint32_t rank) const { return rank % tp; }
  uint32_t CpIndex(uint32_t rank) const { return (rank / tp) % cp; }
  uint32_t DpIndex(uint32_t rank) const { return (rank / (tp * cp)) % dp; }
  uint32_t PpIndex(uint32_t rank) const { return rank / (tp * cp * dp); }
  // The representative rank of a pipeline stage (tp = cp = dp = 0).
  uint32_t StageRepresentative(uint32_t stage) const { return stage * tp * cp * dp; }
};

struct MemoryEstimate {  // per GPU, bytes
  double weights = 0, gradients = 0, optimizer = 0, activations = 0;
  // CUDA context, NCCL buffers, library workspaces and allocator fragmentation (workloads/memory.h).
  double overhead = 0;
  double offloaded = 0;  // optimizer states and activations held in host memory (not in total)
  // What the framework's caching allocator holds at peak (PyTorch "max allocated").
  double allocated() const { return weights + gradients + optimizer + activations; }
  double total() const { return allocated() + overhead; }
};

struct StepProgram {
  RankLayout layout;
  // Model chunks (virtual stages) per pipeline rank: vpp for "interleaved", 2 for "dualpipe" (V-shaped), else 1.
  uint32_t chunks_per_stage = 1;
  std::vector<uint32_t> layers_per_stage;    // transformer layers held by each pipeline rank (all chunks, MTP incl.)
  std::vector<std::vector<Op>> stages;       // stages[s] = ordered ops of the representative of pipeline stage s
  uint32_t microbatches = 0;                 // per pipeline per step
  uint64_t tokens_per_step = 0;              // global batch x sequence length
  double model_flops_per_step = 0;           // whole cluster, no recompute (MFU convention)
  double hardware_flops_per_step = 0;        // whole cluster, including recompute (HFU)
  double model_flops_causal_per_step = 0;    // model FLOPs with causal attention halved (StepFlops::model_causal)
  std::string flop_convention;               // human-readable statement of the convention used
  MemoryEstimate memory;                     // worst stage (largest total)
  uint32_t memory_stage = 0;                 // its index
  std::vector<MemoryEstimate> stage_memory;  // per pipeline stage
  std::string precision = "bf16";
  std::string schedule;      // "1f1b", "interleaved", "dualpipe", "gpipe"
  double params_total = 0;   // model parameters (MTP modules included)
  double params_active = 0;  // parameters touched per token (MoE: top_k routed + shared experts)
  // MoE only: the max over mean of tokens received per EP rank, averaged over MoE layers (1 = balanced).
  double moe_load_imbalance = 1;
  // Software the step runs on (zero_stage 3: workloads/zero3_impl.h). The simulator divides every compute
  // operation's time by compute_efficiency, and runs every collective over the data-parallel dimensions (kDp,
  // kDpCp, kEdp: the ZeRO-3 gathers and reduce-scatters) at sharded_dp_collective_efficiency of the modelled
  // bandwidth. Both 1 and the name empty unless the plan uses ZeRO-3.
  std::string zero3_implementation;
  double compute_efficiency = 1;
  double sharded_dp_collective_efficiency = 1;
};

}  // namespace clustersim::wl
