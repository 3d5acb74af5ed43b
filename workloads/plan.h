// Parallelism plan: the scenario's `workload.parallelism` (and precision) with every default applied, checked
// against the model and the GPU count. The rules are listed in docs/workloads.md ("Plan validation"); each failure
// is one InputError "file: workload.parallelism.<field> = <value>: <rule>".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scenario.pb.h"
#include "workloads/pipeline_layout.h"
#include "workloads/zero3_impl.h"

namespace clustersim::wl {

enum class Recompute : uint8_t { kNone, kSelective, kFull };
// Modules recomputed by selective recompute (Megatron-Core `recompute_modules`), as bits of Plan::recompute_modules.
// kCoreAttn: QK^T, softmax and x V; kLayernorm: input_layernorm and pre_mlp_layernorm; kMoeAct: the activation
// function of routed and shared experts; kMlp: the dense MLP; kMlaUpProj: the MLA up-projections and RoPE; kMoe: the
// whole MoE block (router, dispatch, experts, combine); kSharedExperts: the shared experts of a MoE layer.
enum RecomputeModule : uint32_t {
  kRecomputeCoreAttn = 1u << 0,
  kRecomputeLayernorm = 1u << 1,
  kRecomputeMoeAct = 1u << 2,
  kRecomputeMlp = 1u << 3,
  kRecomputeMlaUpProj = 1u << 4,
  kRecomputeMoe = 1u << 5,
  kRecomputeSharedExperts = 1u << 6,
};
enum class Schedule : uint8_t { k1F1B, kInterleaved, kDualPipe, kGPipe };
const char* ToString(Recompute r);
const char* ToString(Schedule s);
// Parallelism.schedule as a Schedule: "" is interleaved with vpp > 1, else 1F1B; throws InputError naming
// `workload.parallelism.schedule` in `file` for an unknown name.
Schedule ParseSchedule(const std::string& schedule, uint32_t vpp, const std::string& file);

// Why an overlapped expert-parallel all-to-all (Parallelism.overlap_moe_a2a) cannot run with this pipeline and
// recompute choice, or "" when it can. Megatron-LM's rules (TransformerConfig): with pp > 1 the overlap pairs a
// forward and a backward of different virtual stages, so it needs the interleaved schedule (vpp > 1) or DualPipe;
// full recomputation re-runs the dispatch and is refused.
std::string A2aOverlapConflict(uint32_t pp, Schedule schedule, Recompute recompute);

// Model chunks per pipeline rank as `schedule` runs them: vpp (interleaved), 2 (dualpipe, V-shaped), 1 otherwise.
uint32_t ChunksPerStage(Schedule schedule, uint32_t vpp);

// Layer slots of the default pipeline split: the model's `layers` plus one each for the embedding and the output
// layer where the recipe counts them (Parallelism.account_for_{embedding,loss}_in_pipeline_split; none at pp = 1).
uint64_t PipelineSplitSlots(uint32_t layers, const v1::Parallelism& p, uint32_t pp);

// How model states and activations are stored (scenario MemoryOptions, resolved).
struct MemoryPlan {
  double moment_bytes = 4;      // per Adam moment: 4 (fp32) or 2 (bf16)
  double main_grad_bytes = 2;   // 2 (bf16) or 4 (fp32)
  bool fp8_params = false;
  double optimizer_offload_fraction = 0;
  double activation_offload_fraction = 0;
  double framework_overhead_bytes = 0;  // 0 = derived (FrameworkOverheadBytes)
  double fragmentation = 0.05;
  bool fp8_moe_glu_input = false;  // memory.fp8_moe_glu_input: the experts' GLU inputs stored in FP8
};

struct Plan {
  uint32_t tp = 1, cp = 1, pp = 1, dp = 1, ep = 1;
  uint32_t expert_tp = 1;  // 1 or tp
  uint32_t vpp = 1;        // model chunks per pipeline rank for "interleaved" (implied by vpp > 1); else 1
  uint32_t micro_batch_size = 1;
  uint32_t global_batch_size = 0;
  uint32_t microbatches = 0;  // per pipeline per step = global_batch_size / (dp x micro_batch_size)
  uint32_t zero_stage = 0;
  bool sequence_parallel = false;
  bool overlap_grad_reduce = false, overlap_param_gather = false, overlap_moe_a2a = false;
  bool tp_comm_overlap = false;
  // Layer slots taken by the embedding (first virtual stage) and the output layer (last) in the pipeline split:
  // Parallelism.account_for_{embedding,loss}_in_pipeline_split, each 0 or 1 (0 when pp = 1).
  uint32_t embedding_slot = 0, loss_slot = 0;
  uint64_t split_slots(uint32_t layers) const { return uint64_t{layers} + embedding_slot + loss_slot; }
  // Parallelism.pipeline_model_parallel_layout parsed: one entry per virtual stage in model order (pp x chunks()),
  // checked against the model; empty = the default split (layers spread evenly, Generator::PlaceLayers).
  std::vector<LayoutStage> layout;
  Recompute recompute = Recompute::kNone;
  // RecomputeModule bits: kRecomputeCoreAttn alone for "selective" without recompute_modules; 0 for "none"/"full".
  uint32_t recompute_modules = 0;
  Schedule schedule = Schedule::k1F1B;
  bool fp8 = false;
  bool fp8_attention = false;  // workload.fp8_attention (needs fp8)
  bool fused_grouped_mlp = false;  // workload.fused_grouped_mlp (fp8, gated MoE, expert widths multiples of 256)
  // workload.fp8_recipe "delayed" with its amax all-reduce (workload.fp8_reduce_amax, unset = true): one blocking
  // all-reduce over the stage's tensor x data x context-parallel ranks after every chunk's forward and backward pass.
  // The other recipes scale locally (no collective; see fp8_current_scaling for what the default costs).
  bool fp8_amax_reduction = false;
  // workload.fp8_recipe "tensorwise" (the default FP8 recipe): per-tensor current scaling, whose quantisation reads its
  // input once for the amax before the cast (TransformerEngine's Float8CurrentScalingQuantizer: amax, scale and cast
  // kernels; the scale "cannot be fused with the quantize kernel"). Delayed, MXFP8 and blockwise scaling cast in one
  // pass.
  bool fp8_current_scaling = false;
  // How zero_stage 3 runs (workloads/zero3_impl.h); never null, "nccl" unless the scenario names another.
  const Zero3Implementation* zero3 = FindZero3Implementation("");
  MemoryPlan memory;
  // Model chunks per pipeline rank as scheduled (ChunksPerStage).
  uint32_t chunks() const;
};

// The most micro-batches per pipeline per step (global_batch_size / (dp x micro_batch_size)): each is simulated.
inline constexpr uint64_t kMaxMicrobatches = 65536;

// Resolves the model (ResolveModel) and the plan; validates both. `file` names the scenario in messages.
Plan ResolvePlan(const v1::Workload& w, uint32_t num_gpus, const std::string& file);
// ResolvePlan, discarding the result.
void ValidatePlan(const v1::Workload& w, uint32_t num_gpus, const std::string& file);

}  // namespace clustersim::wl
