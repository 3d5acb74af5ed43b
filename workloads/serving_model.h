// The inference cost of a model for the serving engine (sim/serving_engine.h, docs/serving.md "Engine model"): the
// parameters and FLOPs of its parts per token, the attention work per (query, key) pair and the KV-cache bytes per
// token, for a resolved model at an inference precision. Whole model, no parallelism: the engine divides by its
// instance layout.
//
//   weights         bytes per parameter of the precision: bf16/fp16 2, fp8 1, fp4 0.5625 (NVFP4: 4-bit values and
//                   one fp8 scale per 16); the embedding table is read one row per token (not counted).
//   dense work      per token 2 x (attention projections + norms + dense MLPs + shared experts + router) FLOPs;
//   routed experts  per token 2 x top_k x one expert's parameters FLOPs, over moe_layers layers;
//   attention core  per (query, key) pair and layer: standard attention 2 x heads x (qk_head_dim + v_head_dim);
//                   MLA in prefill the same with the decompressed heads (nope + rope, v); MLA in decode absorbed
//                   into the latent (FlashMLA): 2 x heads x (2 x kv_lora_rank + rope_dim);
//   KV cache        bytes per token and layer: standard 2 x kv_heads x head_dim x kv bytes; MLA one latent of
//                   kv_lora_rank + rope dims (fp8: FlashMLA's 656-byte layout for 512 + 64, i.e. the latent in fp8,
//                   4 fp32 scales and the rope part in bf16; bf16: 2 bytes per value).
//   logits          per sampled token 2 x hidden x vocab FLOPs, the output layer read once per iteration.
//   MTP             one draft step over one MTP module: its active parameters plus the logits.
//
// Units: parameters (count), FLOPs, bytes. Pure functions of their arguments.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "scenario.pb.h"

namespace clustersim::wl {

// Bytes per weight of an inference precision ("bf16", "fp16", "fp8", "fp4"); InputError naming `field` otherwise.
double WeightBytesPerParam(std::string_view precision, const std::string& file, const std::string& field);
// Bytes per KV-cache value ("bf16" 2, "fp8" 1); InputError naming `field` otherwise.
double KvBytesPerValue(std::string_view kv_precision, const std::string& file, const std::string& field);

struct InferenceModel {
  uint32_t layers = 0;      // transformer layers of the main model
  uint32_t moe_layers = 0;  // of them with routed experts
  uint32_t hidden = 0;
  uint32_t vocab = 0;
  bool mla = false;
  uint32_t kv_heads = 0;    // KV heads (standard attention; MLA: 1 shared latent)
  // Parameters (counts), summed over the layers they occur in.
  double attention_params = 0;  // projections and norms, every layer
  double dense_mlp_params = 0;  // dense MLPs (dense layers), shared experts and routers (MoE layers)
  double expert_params = 0;     // one routed expert of one layer
  uint32_t routed_experts = 0;
  uint32_t top_k = 0;
  double logits_params = 0;     // output layer (hidden x vocab)
  double mtp_params = 0;        // one MTP module's active parameters (0 without MTP)
  double mtp_weight_params = 0; // every MTP module's parameters but their routed experts (held in memory)
  uint32_t mtp_moe_layers = 0;  // MTP modules whose layer has routed experts (held like a MoE layer's)
  // Attention core FLOPs per (query, key) pair per layer.
  double prefill_pair_flops = 0;
  double decode_pair_flops = 0;
  // Bytes.
  double weight_bytes_per_param = 2;
  double kv_bytes_per_token_layer = 0;
  double kv_bytes_per_token() const { return kv_bytes_per_token_layer * layers; }
  // Parameters of the whole model (main model, MTP modules included) and those touched per token.
  double params_total = 0;
  double params_active = 0;
};

// The inference model of a resolved model (wl::ResolveModel) with weights in `precision` and the KV cache in
// `kv_precision`. `file` names the scenario in errors (fields "workload.precision", "serving.engine.kv_cache_precision").
InferenceModel BuildInferenceModel(const v1::Model& resolved, std::string_view precision,
                                   std::string_view kv_precision, const std::string& file);

// Expected number of distinct experts, out of `experts` held, that `tokens` tokens touch when each picks `top_k` of
// `routed` experts uniformly: experts x (1 - (1 - top_k / routed)^tokens).
double ExpertsTouched(double experts, double routed, double top_k, double tokens);

}  // namespace clustersim::wl
