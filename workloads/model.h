// Model architectures: the built-in presets (workloads/models/*.textproto, embedded as kModelPresets), their
// resolution against a scenario's `workload.model` block, derived shapes and parameter counts.
//
// Resolution (docs/workloads.md): the preset named in m.preset is the base and every non-zero field of m overrides
// it (protobuf MergeFrom; booleans have presence, so `false` written in the scenario overrides a preset's true). Defaults are then filled
// (name = preset, kind = "moe" if routed_experts > 0 else "dense", kv_heads = heads, ffn_hidden = 4 x hidden for a
// non-gated MLP) and every rule is checked; errors are InputError naming "workload.model.<field>", the value and
// the rule.
//
// Architecture conventions: a non-gated model (gated_mlp = false) is GPT-2/3 style (GELU MLP, biases on every
// linear layer, LayerNorm with gain and bias, learned absolute positions over seq_len); a gated model is Llama
// style (SwiGLU, no biases, RMSNorm, rotary positions). Attention head dimensions are hidden / heads unless
// mla_qk_nope_head_dim / mla_v_head_dim are set: with mla_kv_lora_rank > 0 they describe multi-head latent
// attention (q/k head = nope + rope dims), otherwise they give explicit head dimensions of standard attention
// (Qwen3: 64 heads of 128 with hidden 4096).
//
// Parameter counts are plain numbers of parameters (not bytes). No globals: presets are parsed on each call.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scenario.pb.h"

namespace clustersim::wl {

// The most transformer layers a model may have: every layer is an operation of the simulated step.
inline constexpr uint32_t kMaxLayers = 4096;

// Built-in preset names (file names without ".textproto"), sorted.
std::vector<std::string> ListModelPresets();

// The preset as stored (no defaults applied). Throws InputError listing the known presets if unknown.
v1::Model ModelPreset(const std::string& name, const std::string& file);

// Applies the preset, overrides, defaults; validates (see the header comment). `file` names the scenario in
// messages. Resolving a resolved model returns it unchanged.
v1::Model ResolveModel(const v1::Model& m, const std::string& file);

// Attention shape of a resolved model (per layer, whole model: no parallelism).
struct AttentionShape {
  bool mla = false;          // multi-head latent attention (DeepSeek-V2/V3)
  uint32_t heads = 0;        // query heads
  uint32_t kv_heads = 0;     // key/value heads (GQA); MLA: = heads
  uint32_t qk_head_dim = 0;  // per head, query and key (MLA: nope + rope)
  uint32_t v_head_dim = 0;   // per head, value
  uint64_t q_width() const { return uint64_t{heads} * qk_head_dim; }
  uint64_t k_width() const { return uint64_t{kv_heads} * qk_head_dim; }
  uint64_t v_width() const { return uint64_t{kv_heads} * v_head_dim; }
  uint64_t o_width() const { return uint64_t{heads} * v_head_dim; }  // input of the output projection
};
AttentionShape Attention(const v1::Model& m);

// True if transformer layer `layer` (0-based) of a resolved model has a MoE MLP (MTP modules: see MtpIsMoe).
bool IsMoeLayer(const v1::Model& m, uint32_t layer);
// The transformer layer inside a multi-token-prediction module is MoE iff the model's last layer is.
bool MtpIsMoe(const v1::Model& m);
// Weight matrices per MLP or expert: 3 if gated (gate, up, down), else 2.
uint32_t MlpMatrices(const v1::Model& m);

// Parameters of one transformer layer.
struct LayerParams {
  double attention = 0;       // projections (+ biases, MLA norms)
  double norms = 0;           // the two pre-norms
  double mlp = 0;             // dense MLP, or the shared experts of a MoE layer
  double router = 0;          // MoE gate
  double routed_experts = 0;  // all routed experts
  double routed_active = 0;   // top_k routed experts
  double total() const { return attention + norms + mlp + router + routed_experts; }
  double active() const { return attention + norms + mlp + router + routed_active; }
  double dense() const { return attention + norms + mlp + router; }  // everything but routed experts
};
LayerParams CountLayerParams(const v1::Model& m, bool moe_layer);

struct ParamCount {
  double total = 0;      // main model: embeddings, output layer (if untied), layers, final norm; no MTP modules
  double active = 0;     // touched per token (all but the routed experts not selected)
  double embedding = 0;  // input embedding (+ learned positions) + untied output layer
  double mtp = 0;        // multi-token-prediction modules (they share the embedding and output layer)
  double mtp_active = 0;
};
ParamCount CountParams(const v1::Model& resolved);

// Parameters of one MTP module (projection, norms, one transformer layer); 0 if mtp_depth = 0.
double MtpModuleParams(const v1::Model& m, bool active);

}  // namespace clustersim::wl
