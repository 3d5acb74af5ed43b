// Inference cost of a model; see serving_model.h.
#include "workloads/serving_model.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "workloads/model.h"

namespace clustersim::wl {

double WeightBytesPerParam(std::string_view precision, const std::string& file, const std::string& field) {
  if (precision == "bf16" || precision == "fp16") return 2;
  if (precision == "fp8") return 1;
  if (precision == "fp4") return 0.5625;  // NVFP4: 16 4-bit values share one fp8 scale
  throw InputError::Field(file, 0, field, "\"" + std::string(precision) + "\"",
                          "must be one of bf16, fp16, fp8, fp4 for serving");
}

double KvBytesPerValue(std::string_view kv_precision, const std::string& file, const std::string& field) {
  if (kv_precision == "bf16") return 2;
  if (kv_precision == "fp8") return 1;
  throw InputError::Field(file, 0, field, "\"" + std::string(kv_precision) + "\"", "must be bf16 or fp8");
}

namespace {

// KV-cache bytes per token and layer (see the header comment).
double KvBytesPerTokenLayer(const v1::Model& m, const AttentionShape& a, double kv_bytes) {
  if (!a.mla) return 2.0 * a.kv_heads * a.qk_head_dim * kv_bytes;
  const double latent = m.mla_kv_lora_rank(), rope = m.mla_qk_rope_head_dim();
  if (kv_bytes == 1) return latent + 4 * 4 + 2 * rope;  // FlashMLA fp8: fp8 latent, 4 fp32 scales, bf16 rope
  return (latent + rope) * kv_bytes;
}

void CountParts(const v1::Model& m, InferenceModel& im) {
  for (uint32_t l = 0; l < m.layers(); ++l) {
    const bool moe = IsMoeLayer(m, l);
    const LayerParams p = CountLayerParams(m, moe);
    im.attention_params += p.attention + p.norms;
    im.dense_mlp_params += p.mlp + p.router;
    if (moe) ++im.moe_layers;
  }
  if (im.moe_layers > 0) {
    const LayerParams p = CountLayerParams(m, true);
    im.expert_params = p.routed_experts / m.routed_experts();
  }
}

}  // namespace

InferenceModel BuildInferenceModel(const v1::Model& m, std::string_view precision, std::string_view kv_precision,
                                   const std::string& file) {
  InferenceModel im;
  im.layers = m.layers();
  im.hidden = m.hidden();
  im.vocab = m.vocab();
  im.routed_experts = m.routed_experts();
  im.top_k = m.top_k();
  const AttentionShape a = Attention(m);
  im.mla = a.mla;
  im.kv_heads = a.mla ? 1 : a.kv_heads;
  CountParts(m, im);
  im.logits_params = double(m.hidden()) * m.vocab();
  im.mtp_params = m.mtp_depth() > 0 ? MtpModuleParams(m, true) : 0;
  im.prefill_pair_flops = 2.0 * a.heads * (a.qk_head_dim + a.v_head_dim);
  im.decode_pair_flops = a.mla ? 2.0 * a.heads * (2.0 * m.mla_kv_lora_rank() + m.mla_qk_rope_head_dim())
                               : im.prefill_pair_flops;
  im.weight_bytes_per_param = WeightBytesPerParam(precision, file, "workload.precision");
  const double kv = KvBytesPerValue(kv_precision, file, "serving.engine.kv_cache_precision");
  im.kv_bytes_per_token_layer = KvBytesPerTokenLayer(m, a, kv);
  const ParamCount c = CountParams(m);
  im.mtp_moe_layers = MtpIsMoe(m) ? m.mtp_depth() : 0;
  im.mtp_weight_params = c.mtp - im.mtp_moe_layers * im.expert_params * m.routed_experts();
  im.params_total = c.total + c.mtp;
  im.params_active = c.active;
  return im;
}

double ExpertsTouched(double experts, double routed, double top_k, double tokens) {
  if (!(routed > 0) || !(tokens > 0)) return 0;
  const double miss = 1 - top_k / routed;
  return experts * (1 - std::pow(std::max(0.0, miss), tokens));
}

}  // namespace clustersim::wl
