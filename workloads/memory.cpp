#include "workloads/memory.h"

#include "workloads/model.h"
#include "workloads/step_program.h"

namespace clustersim::wl {

StateBytes StateBytesOf(const Plan& plan) {
  const MemoryPlan& m = plan.memory;
  StateBytes b;
  b.weights = plan.fp8 ? (m.fp8_params ? 1 : 3) : 2;
  b.gather = plan.fp8 && m.fp8_params ? 1 : 2;
  b.gradients = m.main_grad_bytes;
  b.optimizer = 4 + 2 * m.moment_bytes;
  b.optimizer_on_gpu = 1 - m.optimizer_offload_fraction;
  b.activations_on_gpu = 1 - m.activation_offload_fraction;
  return b;
}

MemoryEstimate ModelStateMemory(double dense_params, double expert_params, uint32_t dense_shards,
                                uint32_t expert_shards, uint32_t zero_stage, const StateBytes& bytes) {
  const double ds = dense_shards == 0 ? 1 : dense_shards, es = expert_shards == 0 ? 1 : expert_shards;
  auto sharded = [&](bool shard) {
    return shard ? dense_params / ds + expert_params / es : dense_params + expert_params;
  };
  MemoryEstimate e;
  e.weights = bytes.weights * sharded(zero_stage >= 3);
  e.gradients = bytes.gradients * sharded(zero_stage >= 2);
  const double optimizer = bytes.optimizer * sharded(zero_stage >= 1);
  e.optimizer = optimizer * bytes.optimizer_on_gpu;
  e.offloaded = optimizer - e.optimizer;
  return e;
}

double FrameworkOverheadBytes(const Plan& plan, const RankLayout& layout) {
  if (plan.memory.framework_overhead_bytes > 0) return plan.memory.framework_overhead_bytes;
  constexpr double kContext = 0.5e9, kWorkspaces = 0.15e9, kCommunicator = 0.3e9, kAllToAll = 1e9;
  double bytes = kContext + kWorkspaces;
  for (const Dim d : {Dim::kTp, Dim::kCp, Dim::kDp, Dim::kPp, Dim::kEdp}) {
    const uint32_t n = d == Dim::kDp ? layout.dp * layout.cp : layout.GroupSize(d);
    if (n > 1 && !(d == Dim::kEdp && layout.ep <= 1)) bytes += kCommunicator;
  }
  if (layout.ep > 1) bytes += kAllToAll;
  return bytes;
}

void AddOverhead(const Plan& plan, double framework_bytes, MemoryEstimate& m) {
  m.overhead = framework_bytes + plan.memory.fragmentation * m.allocated();
}

namespace {

// Bytes a routed (token, expert) pair keeps of its hidden-size vectors: the expert's input (BF16, or its FP8 cast in
// FP8 runs) and its routing probability (fp32). The experts apply the probability to their GLU output (Megatron-Core
// since core_r0.12: the permute carries the probabilities and the weighted SwiGLU keeps them; TransformerEngine's
// ScaledSwiGLU in the fused grouped MLP), so the combine keeps only its index map, not the experts' outputs: the
// probability's gradient is recomputed from the GLU input. DeepEP's and HybridEP's combines keep nothing either.
double RoutedTokenBytes(const ActivationShape& c, double h) { return (c.fp8 ? 1 : 2) * h + 4; }

// What one MoE layer stores beyond its attention block and the MLP-in norm, per micro-batch, in bytes: the terms
// LayerActivationBytes adds and RecomputedModuleBytes removes, derived once.
struct MoeActivations {
  double router_probs = 0;   // fp32 router probabilities
  double shared_in = 0;      // shared experts' GLU (activation) input
  double shared_out = 0;     // their activation output, the second GEMM's input (FP8 cast in FP8 runs)
  double routed_tokens = 0;  // routed (token, expert) pairs' inputs and probabilities (RoutedTokenBytes)
  double routed_in = 0;      // routed experts' GLU input
  double routed_out = 0;     // their activation output (FP8 cast in FP8 runs)
  double total() const { return router_probs + shared_in + shared_out + routed_tokens + routed_in + routed_out; }
};

MoeActivations MoeActivationsOf(const v1::Model& m, const ActivationShape& c) {
  const double rows = double(c.micro_batch) * double(c.seq);
  const double t = c.tp == 0 ? 1 : c.tp;
  const double r = c.sequence_parallel ? t : 1;
  const double lin = c.fp8 ? 1 : 2;            // bytes per element of a stored linear-layer input
  const double glu = c.fp8_glu_input ? 1 : 2;  // bytes per stored GLU-input element
  const double first_out = m.gated_mlp() ? 2 : 1;
  const double fe = m.expert_ffn_hidden();
  const double etp = c.expert_tp == 0 ? 1 : c.expert_tp;
  const double fs = double(m.shared_experts()) * fe;
  const double pairs = c.expert_tokens > 0 ? c.expert_tokens : rows * m.top_k() * etp / r;
  MoeActivations a;
  a.router_probs = 4 * rows * double(m.routed_experts()) / r;
  a.shared_in = glu * rows * fs * first_out / t;
  a.shared_out = lin * rows * fs / t;
  a.routed_tokens = RoutedTokenBytes(c, m.hidden()) * pairs;
  a.routed_in = glu * pairs * fe * first_out / etp;
  a.routed_out = lin * pairs * fe / etp;
  return a;
}

// Bytes of the terms above that the selective-recompute modules other than core_attn do not keep (Korthikanti et
// al., section 4.1 per-layer accounting, extended as above for GQA/MLA, gated MLPs and MoE). A module keeps its
// input; a tensor is removed at the size it is stored (FP8 casts: 1 byte per element).
double RecomputedModuleBytes(const v1::Model& m, bool moe_layer, const ActivationShape& c, uint32_t modules) {
  if ((modules & ~uint32_t{kRecomputeCoreAttn}) == 0) return 0;
  const double h = m.hidden();
  const double rows = double(c.micro_batch) * double(c.seq);
  const double t = c.tp == 0 ? 1 : c.tp;
  const double r = c.sequence_parallel ? t : 1;
  const double lin = c.fp8 ? 1 : 2;  // bytes per element of a stored linear-layer input
  const double first_out = m.gated_mlp() ? 2 : 1;
  const AttentionShape a = Attention(m);
  double removed = 0;
  // layernorm (input_layernorm, pre_mlp_layernorm): their outputs, the QKV input and the MLP-in input (2 s b h each
  // in Korthikanti's 34; the norms' inputs, the residual stream, stay stored).
  const bool layernorm = modules & kRecomputeLayernorm;
  if (layernorm) removed += 2 * lin * rows * h / r;
  // mla_up_proj: the up-projected queries, keys and values (with RoPE applied) that the core attention reads, the
  // 4 s b h of Q and K and the 2 s b h of V in Korthikanti's attention block; the low-rank latents stay.
  if ((modules & kRecomputeMlaUpProj) && a.mla) {
    removed += 2 * rows * double(a.q_width() + a.k_width() + a.v_width()) / t;
  }
  // A checkpointed block (mlp, moe) keeps its input as the bf16 norm output, not the FP8 cast counted above.
  const double block_input_fp8 = c.fp8 && !layernorm ? rows * h / r : 0;
  if (!moe_layer) {
    // mlp: the dense MLP block but its input: the activation input (8 s b h for GPT) and the second GEMM input, the
    // activation output (8 s b h).
    if (modules & kRecomputeMlp) {
      const double ffn = m.ffn_hidden();
      removed += 2 * rows * ffn * first_out / t + lin * rows * ffn / t - block_input_fp8;
    }
    return removed;
  }
  const MoeActivations e = MoeActivationsOf(m, c);
  if (modules & kRecomputeMoe) {
    // moe: the whole MoE block but its input: router probabilities, shared experts, routed tokens in and their
    // probabilities, and the experts' inner activations.
    return removed + e.total() - block_input_fp8;
  }
  const bool shared = modules & kRecomputeSharedExperts;
  // shared_experts: the shared experts' activation input and output (their input is the MLP-in norm output).
  if (shared) removed += e.shared_in + e.shared_out;
  // moe_act: the activation function's output, the second GEMM input (the GeLU output of Korthikanti's MLP block),
  // of the routed and the shared experts.
  if (modules & kRecomputeMoeAct) removed += e.routed_out + (shared ? 0 : e.shared_out);
  return removed;
}

}  // namespace

double LayerActivationBytes(const v1::Model& m, bool moe_layer, const ActivationShape& c) {
  const double h = m.hidden();
  const double rows = double(c.micro_batch) * double(c.seq);  // s b
  const double keys = c.keys == 0 ? double(c.seq) : double(c.keys);
  const double t = c.tp == 0 ? 1 : c.tp;
  const double r = c.sequence_parallel ? t : 1;  // sharding of the tensors outside the tensor-parallel region
  if (c.recompute == Recompute::kFull) return 2 * rows * h / r;

  const AttentionShape a = Attention(m);
  // Attention block: norm input, QKV input, dropout mask (replicated without SP); Q, K, V and the output
  // projection input (sharded); softmax output, its dropout mask and output, 5 bytes per score (sharded; 2 without
  // dropout: the softmax output alone).
  const double mask = c.dropout ? 1 : 0;
  double bytes = (4 + mask) * rows * h / r + 2 * rows * double(a.q_width() + a.k_width() + a.v_width() + a.o_width()) / t;
  if (a.mla) bytes += 2 * rows * double(m.mla_q_lora_rank() + m.mla_kv_lora_rank() + m.mla_qk_rope_head_dim());
  const uint32_t modules = c.recompute != Recompute::kSelective ? 0u
                           : c.recompute_modules == 0           ? uint32_t{kRecomputeCoreAttn}
                                                                : c.recompute_modules;
  if (!(modules & kRecomputeCoreAttn)) {
    bytes += c.fused_attention ? 4 * double(a.heads) * rows / t : (2 + 3 * mask) * double(a.heads) * rows * keys / t;
  }

  const double first_out = m.gated_mlp() ? 2 : 1;  // first MLP GEMM output width / ffn
  // MLP block: norm input, first GEMM input, dropout mask; activation input and second GEMM input.
  bytes += (4 + mask) * rows * h / r;
  // MoE: router probabilities, shared and routed experts (their second GEMM inputs already at the FP8 size).
  bytes += moe_layer ? MoeActivationsOf(m, c).total() : 2 * rows * double(m.ffn_hidden()) * (first_out + 1) / t;
  if (c.fp8) {
    // QKV and MLP-in inputs (sharded like the norm outputs), output-projection and dense MLP-out inputs: half the
    // bytes.
    const double ffn = moe_layer ? 0 : double(m.ffn_hidden());
    bytes -= 2 * rows * h / r + rows * double(a.o_width()) / t + rows * ffn / t;
  }
  return bytes - RecomputedModuleBytes(m, moe_layer, c, modules);
}

}  // namespace clustersim::wl
