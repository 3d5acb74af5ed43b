#include "workloads/memory.h"

#include "workloads/model.h"

namespace clustersim::wl {

MemoryEstimate ModelStateMemory(double dense_params, double expert_params, uint32_t dense_shards,
                                uint32_t expert_shards, uint32_t zero_stage) {
  const double ds = dense_shards == 0 ? 1 : dense_shards, es = expert_shards == 0 ? 1 : expert_shards;
  auto sharded = [&](bool shard) {
    return shard ? dense_params / ds + expert_params / es : dense_params + expert_params;
  };
  MemoryEstimate e;
  e.weights = kWeightBytesPerParam * sharded(zero_stage >= 3);
  e.gradients = kGradBytesPerParam * sharded(zero_stage >= 2);
  e.optimizer = kOptimizerBytesPerParam * sharded(zero_stage >= 1);
  return e;
}

double LayerActivationBytes(const v1::Model& m, bool moe_layer, const ActivationShape& c) {
  const double h = m.hidden();
  const double rows = double(c.micro_batch) * double(c.seq);  // s b
  const double keys = c.keys == 0 ? double(c.seq) : double(c.keys);
  const double t = c.tp == 0 ? 1 : c.tp;
  const double r = c.sequence_parallel ? t : 1;  // sharding of the tensors outside the tensor-parallel region
  if (c.recompute == Recompute::kFull) return 2 * rows * h / r;

  const AttentionShape a = Attention(m);
  // Attention block: norm input, QKV input, dropout mask (replicated without SP); Q, K, V and the output
  // projection input (sharded); softmax output, its dropout mask and output, 5 bytes per score (sharded).
  double bytes = 5 * rows * h / r + 2 * rows * double(a.q_width() + a.k_width() + a.v_width() + a.o_width()) / t;
  if (a.mla) bytes += 2 * rows * double(m.mla_q_lora_rank() + m.mla_kv_lora_rank() + m.mla_qk_rope_head_dim());
  if (c.recompute == Recompute::kNone) {
    bytes += c.fused_attention ? 4 * double(a.heads) * rows / t : 5 * double(a.heads) * rows * keys / t;
  }

  const double first_out = m.gated_mlp() ? 2 : 1;  // first MLP GEMM output width / ffn
  // MLP block: norm input, first GEMM input, dropout mask; activation input and second GEMM input.
  bytes += 5 * rows * h / r;
  if (moe_layer) {
    const double fe = m.expert_ffn_hidden();
    const double etp = c.expert_tp == 0 ? 1 : c.expert_tp;
    const double fs = double(m.shared_experts()) * fe;
    bytes += 4 * rows * double(m.routed_experts()) / r;  // fp32 router probabilities
    bytes += 2 * rows * fs * (first_out + 1) / t;        // shared experts
    const double pairs = c.expert_tokens > 0 ? c.expert_tokens : rows * m.top_k() * etp / r;
    bytes += 4 * pairs * h + 2 * pairs * fe * (first_out + 1) / etp;  // routed: input, output, inner
    if (c.fp8) bytes -= pairs * h + pairs * fe / etp;                   // FP8 copies of the expert GEMM inputs
  } else {
    bytes += 2 * rows * double(m.ffn_hidden()) * (first_out + 1) / t;
  }
  if (c.fp8) {
    // QKV and MLP-in inputs (sharded like the norm outputs), output-projection and MLP-out inputs: half the bytes.
    const double ffn = moe_layer ? double(m.shared_experts()) * m.expert_ffn_hidden() : double(m.ffn_hidden());
    bytes -= 2 * rows * h / r + rows * double(a.o_width()) / t + rows * ffn / t;
  }
  return bytes;
}

}  // namespace clustersim::wl
