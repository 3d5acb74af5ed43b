// FLOP accounting of a training step (the convention is kFlopConvention, also docs/workloads.md).
//
// FLOPs are 2 per multiply-accumulate of the matrix products: linear layers (GEMMs), attention scores QK^T and
// softmax x V over the full s x s matrix (no causal halving, as Megatron-LM's Eq. 3 and NeMo's reported model
// TFLOP/s), the MoE router and the top_k routed experts at average load, shared experts, the output layer
// (logits) and the multi-token-prediction modules. Norms, activations, softmax, the loss and the optimizer are not
// counted. Figures are for a whole sequence of seq_len tokens and a whole layer (no parallelism).
#pragma once

#include <cstdint>

#include "scenario.pb.h"
#include "workloads/plan.h"

namespace clustersim::wl {

extern const char* const kFlopConvention;

struct LayerFlops {           // forward FLOPs of one transformer layer for one sequence
  double attention_proj = 0;  // Q, K, V (or MLA down/up) and output projections
  double attention_core = 0;  // QK^T and softmax x V
  double mlp = 0;             // dense MLP, or the shared experts of a MoE layer
  double router = 0;
  double experts = 0;  // top_k routed experts
  double total() const { return attention_proj + attention_core + mlp + router + experts; }
};
LayerFlops LayerForwardFlops(const v1::Model& m, bool moe_layer);

// The MLA up-projections (part of attention_proj): latents to per-head queries (or hidden to queries without a
// query latent), keys and values; 0 for standard attention.
double MlaUpProjFlops(const v1::Model& m);

double LogitsForwardFlops(const v1::Model& m);       // output layer, per sequence: 2 s h V
double MtpForwardFlops(const v1::Model& m);          // all MTP modules per sequence: projection, layer, logits
double ForwardFlopsPerSequence(const v1::Model& m);  // layers + logits + MTP

struct StepFlops {
  double model = 0;     // 3 x forward x sequences (backward = 2 x forward)
  // model with causal attention counted as half the s x s matrix (QK^T and softmax x V halved): the convention of
  // Megatron-Core's num_floating_point_operations and Megatron-Bridge's reported TFLOP/s. For comparison with those
  // reports only; MFU and HFU use `model` and `hardware`.
  double model_causal = 0;
  double hardware = 0;  // model + the recomputed forward (full: every layer; selective: the recomputed modules)
};
// recompute_modules: RecomputeModule bits for kSelective (0 = kRecomputeCoreAttn). Recomputed GEMMs count:
// core_attn: attention_core; mla_up_proj: MlaUpProjFlops; mlp: the dense layers' mlp; moe: router, experts and
// shared experts; shared_experts: the MoE layers' mlp; layernorm and moe_act recompute no matrix products.
StepFlops ComputeStepFlops(const v1::Model& resolved, uint64_t sequences, Recompute recompute,
                           uint32_t recompute_modules = 0);

}  // namespace clustersim::wl
