// Per-GPU memory estimate (bytes): model states under mixed precision and ZeRO, and the activations stored for the
// backward pass, after Korthikanti et al., "Reducing Activation Recomputation in Large Transformer Models"
// (MLSys 2023, arXiv:2205.05198), section 4 / Table 2. Formulas in docs/workloads.md ("Memory").
#pragma once

#include <cstdint>

#include "scenario.pb.h"
#include "workloads/plan.h"
#include "workloads/step_program.h"

namespace clustersim::wl {

// Bytes per parameter of each model state under the plan's precision and MemoryOptions (Megatron-Core's
// distributed-optimizer accounting, docs/user-guide/features/dist_optimizer.md: bf16 params + fp32 grads = 6 + 12/d).
struct StateBytes {
  // Weights resident for compute: bf16 (2); FP8 training keeps an FP8 copy beside them (3); FP8 primary weights
  // (fp8_params) only the FP8 copy (1).
  double weights = 2;
  double gather = 2;        // element size of the ZeRO parameter all-gather (the primary weights' dtype)
  double gradients = 2;     // main-gradient buffer and the gradient reduction's element size (main_grad_dtype)
  double optimizer = 12;    // fp32 master weights + Adam m, v (moment_dtype fp32: 4 + 4; bf16: 2 + 2)
  double optimizer_on_gpu = 1;   // 1 - optimizer_offload_fraction
  double activations_on_gpu = 1;  // 1 - activation_offload_fraction
};
StateBytes StateBytesOf(const Plan& plan);

// Model states of one GPU. dense_params / expert_params: parameters held by the GPU before ZeRO sharding (after
// tensor/expert parallelism); dense_shards / expert_shards: the ZeRO sharding group sizes (dp x cp, and the
// expert-data-parallel size). ZeRO-1 shards the optimizer states, ZeRO-2 also gradients, ZeRO-3 also weights. The
// offloaded share of the optimizer states goes to `offloaded`.
MemoryEstimate ModelStateMemory(double dense_params, double expert_params, uint32_t dense_shards,
                                uint32_t expert_shards, uint32_t zero_stage, const StateBytes& bytes);

// Per-GPU memory outside the allocator's tensors (bytes): the CUDA context and kernels (0.5 GB with lazy loading),
// library workspaces (TransformerEngine / cuBLAS, 0.15 GB), NCCL buffers per communicator the rank uses (0.3 GB each:
// tp, cp, dp, pp, ep, edp groups of more than one rank; 1 GB for an expert-parallel all-to-all communicator, whose
// per-peer buffers are larger), unless MemoryOptions.framework_overhead_gb sets it.
double FrameworkOverheadBytes(const Plan& plan, const RankLayout& layout);
// Adds the overhead to a stage's estimate: framework bytes plus fragmentation x allocated (MemoryOptions).
void AddOverhead(const Plan& plan, double framework_bytes, MemoryEstimate& m);

struct ActivationShape {
  uint64_t micro_batch = 1;  // b
  uint64_t seq = 0;          // s: tokens of a sequence held by this context-parallel rank (seq_len / cp)
  uint64_t keys = 0;         // key length attended to (seq_len); 0 = seq
  uint32_t tp = 1;           // t
  bool sequence_parallel = false;
  Recompute recompute = Recompute::kNone;
  // RecomputeModule bits (Plan::recompute_modules) for kSelective; 0 = kRecomputeCoreAttn (the default module).
  uint32_t recompute_modules = 0;
  uint32_t expert_tp = 1;
  double expert_tokens = 0;  // MoE: (token, expert) pairs this GPU's experts process per microbatch; 0 = average
  // A fused (FlashAttention-style) kernel keeps no s x s scores: the 5 a s / h term is not stored (its fp32 row
  // statistics, 4 a s b / t bytes, are). False reproduces the paper's unfused attention.
  bool fused_attention = false;
  // FP8 training (TransformerEngine): the inputs of the linear layers are kept for the backward pass as their FP8
  // casts, 1 byte per element instead of 2 (QKV, output-projection and both MLP GEMM inputs, routed experts too).
  bool fp8 = false;
  // Training with hidden/attention dropout keeps its masks (1 byte per element) for the backward pass; Korthikanti
  // et al. count them (34 s b h). Models trained without dropout keep none.
  bool dropout = true;
  // memory.fp8_moe_glu_input: the experts' GLU inputs (routed and shared) kept as FP8, 1 byte per element.
  bool fp8_glu_input = false;
};

// Activation bytes one transformer layer keeps for the backward pass, for one microbatch, on one GPU. For a GPT
// layer (no GQA, MLP 4h) it is Korthikanti's s b h (34 + 5 a s / h) without parallelism, s b h (10 + 24/t +
// 5 a s / (h t)) with tensor parallelism, (34 + 5 a s / h) s b h / t with sequence parallelism, 34 s b h / t with
// selective recompute (and sequence parallelism), 2 s b h (/ t with sequence parallelism) with full recompute.
// With fused_attention the "none" figures lose the 5 a s / h term (and equal the selective ones but for the row
// statistics). Selective recompute drops what each module of `recompute_modules` recomputes (see memory.cpp, and
// docs/workloads.md "Memory"); each module's input stays stored.
double LayerActivationBytes(const v1::Model& m, bool moe_layer, const ActivationShape& shape);

}  // namespace clustersim::wl
