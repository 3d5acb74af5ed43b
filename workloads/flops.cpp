#include "workloads/flops.h"

#include "workloads/model.h"

namespace clustersim::wl {

const char* const kFlopConvention =
    "FLOPs = 2 per multiply-accumulate of the matrix products: linear layers, attention QK^T and softmax x V over "
    "the full s x s matrix (no causal halving), MoE router and top_k routed experts at average load, shared "
    "experts, output layer and MTP modules; norms, activations, softmax, loss and optimizer not counted. "
    "model_flops_per_step = 3 x forward x global batch (backward = 2 x forward, no recompute; MFU). "
    "hardware_flops_per_step adds the recomputed forward: full = every transformer layer once more, "
    "selective = the recomputed modules' matrix products once more (default core_attn: attention QK^T and "
    "softmax x V; mla_up_proj, mlp, moe, shared_experts: their GEMMs) (HFU). For GPT shapes hardware FLOPs with full "
    "recompute equal Megatron-LM Eq. 3, 96 B s l h^2 (1 + s/(6h) + V/(16 l h)).";

LayerFlops LayerForwardFlops(const v1::Model& m, bool moe_layer) {
  LayerFlops f;
  const double s = m.seq_len(), h = m.hidden();
  const AttentionShape a = Attention(m);
  if (a.mla) {
    const double q_lora = m.mla_q_lora_rank(), kv_lora = m.mla_kv_lora_rank(), rope = m.mla_qk_rope_head_dim();
    const double q = q_lora > 0 ? h * q_lora + q_lora * a.q_width() : h * a.q_width();
    const double kv = h * (kv_lora + rope) + kv_lora * a.heads * (m.mla_qk_nope_head_dim() + a.v_head_dim);
    f.attention_proj = 2 * s * (q + kv + a.o_width() * h);
  } else {
    f.attention_proj = 2 * s * (h * (a.q_width() + a.k_width() + a.v_width()) + a.o_width() * h);
  }
  f.attention_core = 2 * s * s * (a.q_width() + a.o_width());
  const double mats = MlpMatrices(m);
  if (moe_layer) {
    const double e = m.expert_ffn_hidden();
    f.router = 2 * s * h * m.routed_experts();
    f.experts = 2 * s * m.top_k() * mats * h * e;
    f.mlp = 2 * s * m.shared_experts() * mats * h * e;
  } else {
    f.mlp = 2 * s * mats * h * m.ffn_hidden();
  }
  return f;
}

double MlaUpProjFlops(const v1::Model& m) {
  const AttentionShape a = Attention(m);
  if (!a.mla) return 0;
  const double s = m.seq_len(), q_lora = m.mla_q_lora_rank();
  const double up_q = (q_lora > 0 ? q_lora : double(m.hidden())) * a.q_width();
  const double up_kv = double(m.mla_kv_lora_rank()) * a.heads * (m.mla_qk_nope_head_dim() + a.v_head_dim);
  return 2 * s * (up_q + up_kv);
}

double LogitsForwardFlops(const v1::Model& m) { return 2.0 * m.seq_len() * m.hidden() * m.vocab(); }

double MtpForwardFlops(const v1::Model& m) {
  if (m.mtp_depth() == 0) return 0;
  const double h = m.hidden();
  const double projection = 2.0 * m.seq_len() * 2 * h * h;
  return m.mtp_depth() * (projection + LayerForwardFlops(m, MtpIsMoe(m)).total() + LogitsForwardFlops(m));
}

double ForwardFlopsPerSequence(const v1::Model& m) {
  double f = LogitsForwardFlops(m) + MtpForwardFlops(m);
  for (uint32_t l = 0; l < m.layers(); ++l) f += LayerForwardFlops(m, IsMoeLayer(m, l)).total();
  return f;
}

StepFlops ComputeStepFlops(const v1::Model& m, uint64_t sequences, Recompute recompute, uint32_t recompute_modules) {
  const uint32_t modules = recompute_modules == 0 ? uint32_t{kRecomputeCoreAttn} : recompute_modules;
  const double up_proj = (modules & kRecomputeMlaUpProj) ? MlaUpProjFlops(m) : 0;
  StepFlops r;
  const double fwd = ForwardFlopsPerSequence(m);
  r.model = 3 * fwd * double(sequences);
  double extra = 0, core = 0;
  const uint32_t layers = m.layers() + m.mtp_depth();
  for (uint32_t l = 0; l < layers; ++l) {
    const LayerFlops lf = LayerForwardFlops(m, l < m.layers() ? IsMoeLayer(m, l) : MtpIsMoe(m));
    core += lf.attention_core;
    if (recompute == Recompute::kFull) extra += lf.total();
    if (recompute != Recompute::kSelective) continue;
    const bool moe_layer = l < m.layers() ? IsMoeLayer(m, l) : MtpIsMoe(m);
    if (modules & kRecomputeCoreAttn) extra += lf.attention_core;
    extra += up_proj;
    if (!moe_layer && (modules & kRecomputeMlp)) extra += lf.mlp;
    if (moe_layer && (modules & kRecomputeMoe)) extra += lf.router + lf.experts + lf.mlp;
    if (moe_layer && !(modules & kRecomputeMoe) && (modules & kRecomputeSharedExperts)) extra += lf.mlp;
  }
  r.hardware = r.model + extra * double(sequences);
  r.model_causal = r.model - 3 * 0.5 * core * double(sequences);
  return r;
}

}  // namespace clustersim::wl
