#include "workloads/model.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <algorithm>

#include "common/embedded.h"
#include "common/error.h"

namespace clustersim {
extern const EmbeddedFile kModelPresets[];
extern const std::size_t kModelPresets_count;
}  // namespace clustersim

namespace clustersim::wl {
namespace {

constexpr std::string_view kSuffix = ".textproto";

std::string PresetName(std::string_view file) {
  if (file.size() > kSuffix.size() && file.substr(file.size() - kSuffix.size()) == kSuffix) {
    file.remove_suffix(kSuffix.size());
  }
  return std::string(file);
}

class ParseErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column, const std::string& message) override {
    if (text.empty()) text = std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": " + message;
  }
  std::string text;
};

std::string Join(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

std::string Quote(const std::string& s) { return "\"" + s + "\""; }

[[noreturn]] void Fail(const std::string& file, const char* field, const std::string& value, const std::string& rule) {
  throw InputError::Field(file, 0, std::string("workload.model.") + field, value, rule);
}

void RequirePositive(const std::string& file, const char* field, uint32_t v) {
  if (v == 0) Fail(file, field, "0", "must be > 0");
}

void Validate(const v1::Model& m, const std::string& file) {
  RequirePositive(file, "layers", m.layers());
  if (m.layers() > kMaxLayers)
    Fail(file, "layers", std::to_string(m.layers()),
         "must be at most " + std::to_string(kMaxLayers) + " (every layer is an operation of the simulated step)");
  RequirePositive(file, "hidden", m.hidden());
  RequirePositive(file, "heads", m.heads());
  RequirePositive(file, "vocab", m.vocab());
  RequirePositive(file, "seq_len", m.seq_len());
  if (m.kind() != "dense" && m.kind() != "moe") Fail(file, "kind", Quote(m.kind()), "must be \"dense\" or \"moe\"");
  const bool mla = m.mla_kv_lora_rank() > 0;
  if (mla) {
    RequirePositive(file, "mla_qk_rope_head_dim", m.mla_qk_rope_head_dim());
    RequirePositive(file, "mla_qk_nope_head_dim", m.mla_qk_nope_head_dim());
    RequirePositive(file, "mla_v_head_dim", m.mla_v_head_dim());
    if (m.kv_heads() != m.heads()) {
      Fail(file, "kv_heads", std::to_string(m.kv_heads()),
           "must equal heads (" + std::to_string(m.heads()) + ") with multi-head latent attention");
    }
  } else {
    if (m.mla_q_lora_rank() > 0) {
      Fail(file, "mla_q_lora_rank", std::to_string(m.mla_q_lora_rank()), "needs mla_kv_lora_rank > 0");
    }
    if (m.mla_qk_rope_head_dim() > 0) {
      Fail(file, "mla_qk_rope_head_dim", std::to_string(m.mla_qk_rope_head_dim()), "needs mla_kv_lora_rank > 0");
    }
    const bool explicit_dims = m.mla_qk_nope_head_dim() > 0 || m.mla_v_head_dim() > 0;
    if (m.head_dim() > 0 && explicit_dims) {
      Fail(file, "head_dim", std::to_string(m.head_dim()),
           "give the head dimension either as head_dim or as mla_qk_nope_head_dim/mla_v_head_dim, not both");
    } else if (m.head_dim() > 0) {
      // Explicit head width (Qwen3): hidden need not be heads x head_dim.
    } else if (explicit_dims) {
      if (m.mla_qk_nope_head_dim() == 0 || m.mla_v_head_dim() == 0) {
        Fail(file, m.mla_qk_nope_head_dim() == 0 ? "mla_qk_nope_head_dim" : "mla_v_head_dim", "0",
             "explicit head dimensions of standard attention need both mla_qk_nope_head_dim and mla_v_head_dim");
      }
    } else if (m.hidden() % m.heads() != 0) {
      Fail(file, "hidden", std::to_string(m.hidden()),
           "must be divisible by heads (" + std::to_string(m.heads()) + ") unless head dimensions are given");
    }
    if (m.kv_heads() > m.heads() || m.heads() % m.kv_heads() != 0) {
      Fail(file, "kv_heads", std::to_string(m.kv_heads()), "must divide heads (" + std::to_string(m.heads()) + ")");
    }
  }
  if (m.kind() == "moe" && m.dense_layers() >= m.layers()) {
    Fail(file, "dense_layers", std::to_string(m.dense_layers()),
         "must be < layers (" + std::to_string(m.layers()) + ")");
  }
  const bool has_dense_mlp = m.kind() == "dense" || m.dense_layers() > 0;
  if (has_dense_mlp && m.ffn_hidden() == 0) Fail(file, "ffn_hidden", "0", "must be > 0 for a gated MLP");
  if (m.kind() == "moe") {
    RequirePositive(file, "routed_experts", m.routed_experts());
    RequirePositive(file, "expert_ffn_hidden", m.expert_ffn_hidden());
    if (m.top_k() == 0 || m.top_k() > m.routed_experts()) {
      Fail(file, "top_k", std::to_string(m.top_k()),
           "must be in [1, routed_experts = " + std::to_string(m.routed_experts()) + "]");
    }
  } else {
    if (m.routed_experts() > 0) Fail(file, "routed_experts", std::to_string(m.routed_experts()), "needs kind \"moe\"");
    if (m.shared_experts() > 0) Fail(file, "shared_experts", std::to_string(m.shared_experts()), "needs kind \"moe\"");
    if (m.top_k() > 0) Fail(file, "top_k", std::to_string(m.top_k()), "needs kind \"moe\"");
    if (m.dense_layers() > 0) Fail(file, "dense_layers", std::to_string(m.dense_layers()), "needs kind \"moe\"");
    if (m.expert_ffn_hidden() > 0) {
      Fail(file, "expert_ffn_hidden", std::to_string(m.expert_ffn_hidden()), "needs kind \"moe\"");
    }
  }
}

double MlpParams(const v1::Model& m, double ffn) {
  const double h = m.hidden();
  double p = MlpMatrices(m) * h * ffn;
  if (!m.gated_mlp()) p += ffn + h;  // biases
  return p;
}

double NormParams(const v1::Model& m) { return m.gated_mlp() ? m.hidden() : 2.0 * m.hidden(); }

}  // namespace

std::vector<std::string> ListModelPresets() {
  std::vector<std::string> names;
  names.reserve(kModelPresets_count);
  for (std::size_t i = 0; i < kModelPresets_count; ++i) names.push_back(PresetName(kModelPresets[i].name));
  std::sort(names.begin(), names.end());
  return names;
}

v1::Model ModelPreset(const std::string& name, const std::string& file) {
  for (std::size_t i = 0; i < kModelPresets_count; ++i) {
    const EmbeddedFile& f = kModelPresets[i];
    if (PresetName(f.name) != name) continue;
    v1::ModelPreset preset;
    google::protobuf::TextFormat::Parser parser;
    ParseErrors errors;
    parser.RecordErrorsTo(&errors);
    if (!parser.ParseFromString(std::string(f.content), &preset)) {
      throw InputError(std::string(f.name) + ":" + (errors.text.empty() ? " cannot parse model preset" : errors.text));
    }
    return preset.model();
  }
  throw InputError::Field(file, 0, "workload.model.preset", Quote(name),
                          "unknown model preset; known: " + Join(ListModelPresets()));
}

v1::Model ResolveModel(const v1::Model& m, const std::string& file) {
  v1::Model r;
  if (!m.preset().empty()) r = ModelPreset(m.preset(), file);
  r.MergeFrom(m);
  if (r.name().empty()) r.set_name(r.preset());
  if (r.kind().empty()) r.set_kind(r.routed_experts() > 0 ? "moe" : "dense");
  if (r.kv_heads() == 0) r.set_kv_heads(r.heads());
  if (r.ffn_hidden() == 0 && !r.gated_mlp()) r.set_ffn_hidden(4 * r.hidden());
  // GPT-style recipes (GELU MLP) train with dropout 0.1; gated-MLP models (Llama, Qwen, DeepSeek, Mixtral) without.
  if (!r.has_dropout()) r.set_dropout(!r.gated_mlp());
  Validate(r, file);
  return r;
}

AttentionShape Attention(const v1::Model& m) {
  AttentionShape a;
  a.heads = m.heads();
  a.kv_heads = m.kv_heads() == 0 ? m.heads() : m.kv_heads();
  if (m.mla_kv_lora_rank() > 0) {
    a.mla = true;
    a.kv_heads = m.heads();
    a.qk_head_dim = m.mla_qk_nope_head_dim() + m.mla_qk_rope_head_dim();
    a.v_head_dim = m.mla_v_head_dim();
  } else if (m.head_dim() > 0) {
    a.qk_head_dim = m.head_dim();
    a.v_head_dim = m.head_dim();
  } else if (m.mla_qk_nope_head_dim() > 0) {
    a.qk_head_dim = m.mla_qk_nope_head_dim();
    a.v_head_dim = m.mla_v_head_dim() > 0 ? m.mla_v_head_dim() : m.mla_qk_nope_head_dim();
  } else {
    a.qk_head_dim = m.hidden() / m.heads();
    a.v_head_dim = a.qk_head_dim;
  }
  return a;
}

bool IsMoeLayer(const v1::Model& m, uint32_t layer) { return m.kind() == "moe" && layer >= m.dense_layers(); }

bool MtpIsMoe(const v1::Model& m) { return m.kind() == "moe"; }

uint32_t MlpMatrices(const v1::Model& m) { return m.gated_mlp() ? 3 : 2; }

LayerParams CountLayerParams(const v1::Model& m, bool moe_layer) {
  LayerParams p;
  const double h = m.hidden();
  const AttentionShape a = Attention(m);
  if (a.mla) {
    const double q_lora = m.mla_q_lora_rank(), kv_lora = m.mla_kv_lora_rank(), rope = m.mla_qk_rope_head_dim();
    const double q = q_lora > 0 ? h * q_lora + q_lora + q_lora * a.q_width() : h * a.q_width();
    const double kv = h * (kv_lora + rope) + kv_lora + kv_lora * a.heads * (m.mla_qk_nope_head_dim() + a.v_head_dim);
    p.attention = q + kv + a.o_width() * h;
  } else {
    p.attention = h * (a.q_width() + a.k_width() + a.v_width()) + a.o_width() * h;
    if (!m.gated_mlp()) p.attention += a.q_width() + a.k_width() + a.v_width() + h;  // biases
  }
  p.norms = 2 * NormParams(m);
  if (moe_layer) {
    const double e = m.expert_ffn_hidden();
    p.router = h * m.routed_experts();
    p.mlp = m.shared_experts() * MlpParams(m, e);
    p.routed_experts = m.routed_experts() * MlpParams(m, e);
    p.routed_active = m.top_k() * MlpParams(m, e);
  } else {
    p.mlp = MlpParams(m, m.ffn_hidden());
  }
  return p;
}

double MtpModuleParams(const v1::Model& m, bool active) {
  if (m.mtp_depth() == 0) return 0;
  const double h = m.hidden();
  const LayerParams layer = CountLayerParams(m, MtpIsMoe(m));
  // Projection of [hidden; embedding] (2h -> h), the norms of its two inputs, the layer, the final norm.
  return 2 * h * h + 3 * NormParams(m) + (active ? layer.active() : layer.total());
}

ParamCount CountParams(const v1::Model& m) {
  ParamCount c;
  const double h = m.hidden();
  c.embedding = double(m.vocab()) * h;
  if (!m.gated_mlp()) c.embedding += double(m.seq_len()) * h;  // learned positions
  if (!m.tied_embeddings()) c.embedding += double(m.vocab()) * h;
  c.total = c.embedding + NormParams(m);
  c.active = c.total;
  for (uint32_t l = 0; l < m.layers(); ++l) {
    const LayerParams p = CountLayerParams(m, IsMoeLayer(m, l));
    c.total += p.total();
    c.active += p.active();
  }
  c.mtp = m.mtp_depth() * MtpModuleParams(m, false);
  c.mtp_active = m.mtp_depth() * MtpModuleParams(m, true);
  return c;
}

}  // namespace clustersim::wl
