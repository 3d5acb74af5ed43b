#include "workloads/model.h"

#include <gtest/gtest.h>

#include <string>

#include "common/error.h"
#include "common/input_error_message.h"

namespace clustersim::wl {
namespace {

v1::Model Preset(const std::string& name) {
  v1::Model m;
  m.set_preset(name);
  return ResolveModel(m, "test.textproto");
}

std::string ErrorOf(const v1::Model& m) {
  return InputErrorMessage([&] { ResolveModel(m, "s.textproto"); });
}

TEST(ModelPresets, ListAndResolveEveryPreset) {
  const std::vector<std::string> names = ListModelPresets();
  const std::vector<std::string> expected = {"deepseek_v3_671b", "gpt3_175b",    "llama3_405b",    "llama3_70b",
                                             "llama3_8b",        "mixtral_8x7b", "qwen3_235b_a22b",
                                             "qwen3_30b_a3b"};
  EXPECT_EQ(names, expected);
  for (const std::string& n : names) {
    SCOPED_TRACE(n);
    const v1::Model m = Preset(n);
    EXPECT_EQ(m.name(), n);
    EXPECT_EQ(m.preset(), n);
    // Resolving again changes nothing.
    EXPECT_EQ(ResolveModel(m, "x").SerializeAsString(), m.SerializeAsString());
  }
}

TEST(ModelPresets, UnknownPresetListsTheKnownOnes) {
  v1::Model m;
  m.set_preset("gpt5");
  const std::string e = ErrorOf(m);
  EXPECT_NE(e.find("s.textproto: workload.model.preset = \"gpt5\""), std::string::npos) << e;
  EXPECT_NE(e.find("llama3_70b"), std::string::npos) << e;
  EXPECT_NE(e.find("deepseek_v3_671b"), std::string::npos) << e;
}

TEST(ModelPresets, NonZeroFieldsOverrideThePreset) {
  v1::Model m;
  m.set_preset("llama3_70b");
  m.set_layers(40);
  m.set_seq_len(4096);
  const v1::Model r = ResolveModel(m, "");
  EXPECT_EQ(r.layers(), 40u);
  EXPECT_EQ(r.seq_len(), 4096u);
  EXPECT_EQ(r.hidden(), 8192u);
  EXPECT_EQ(r.kv_heads(), 8u);
}

TEST(ModelPresets, AFalseBooleanSwitchesThePresetsTrueOff) {
  v1::Model m;
  m.set_preset("llama3_70b");
  ASSERT_TRUE(ResolveModel(m, "").gated_mlp());
  m.set_gated_mlp(false);
  m.set_tied_embeddings(true);
  const v1::Model r = ResolveModel(m, "");
  EXPECT_FALSE(r.gated_mlp());
  EXPECT_TRUE(r.tied_embeddings());
}

TEST(ModelDefaults, CustomModelGetsDefaults) {
  v1::Model m;
  m.set_layers(2);
  m.set_hidden(256);
  m.set_heads(4);
  m.set_vocab(1000);
  m.set_seq_len(128);
  const v1::Model r = ResolveModel(m, "");
  EXPECT_EQ(r.kind(), "dense");
  EXPECT_EQ(r.kv_heads(), 4u);
  EXPECT_EQ(r.ffn_hidden(), 1024u);  // 4 x hidden for a GELU MLP
}

// Published parameter counts.
struct Published {
  const char* preset;
  double total_b, active_b;
};

TEST(ParamCount, MatchesPublishedSizes) {
  const Published cases[] = {
      {"gpt3_175b", 174.6, 174.6},  // Megatron SC21 Eq. 2
      {"llama3_8b", 8.03, 8.03},    // Llama 3 model card
      {"llama3_70b", 70.6, 70.6},        {"llama3_405b", 405.0, 405.0}, {"mixtral_8x7b", 46.7, 12.9},  // Mixtral paper
      {"qwen3_235b_a22b", 235.0, 22.0},                                                                // Qwen3 report
      {"qwen3_30b_a3b", 30.5, 3.3},                                                                    // Qwen3 report
      {"deepseek_v3_671b", 671.0, 37.0},  // DeepSeek-V3 report (main model, MTP excluded)
  };
  for (const Published& c : cases) {
    SCOPED_TRACE(c.preset);
    const ParamCount p = CountParams(Preset(c.preset));
    EXPECT_NEAR(p.total / 1e9, c.total_b, 0.02 * c.total_b);
    EXPECT_NEAR(p.active / 1e9, c.active_b, 0.03 * c.active_b);
  }
}

TEST(ParamCount, Gpt3MatchesMegatronEq2) {
  const v1::Model m = Preset("gpt3_175b");
  const double l = m.layers(), h = m.hidden(), v = m.vocab(), s = m.seq_len();
  const double eq2 = 12 * l * h * h * (1 + 13 / (12 * h) + (v + s) / (12 * l * h));
  // Eq. 2 leaves out the final LayerNorm (2h).
  EXPECT_DOUBLE_EQ(CountParams(m).total, eq2 + 2 * h);
}

TEST(ParamCount, DeepSeekMtpModuleAndExperts) {
  const v1::Model m = Preset("deepseek_v3_671b");
  const ParamCount p = CountParams(m);
  // The report's 14B MTP module includes its copies of the embedding and output layer (shared in training).
  EXPECT_NEAR((p.mtp + p.embedding) / 1e9, 14.0, 0.7);
  const LayerParams dense = CountLayerParams(m, false);
  const LayerParams moe = CountLayerParams(m, true);
  EXPECT_DOUBLE_EQ(dense.routed_experts, 0);
  EXPECT_DOUBLE_EQ(moe.routed_experts, 256.0 * 3 * 7168 * 2048);
  EXPECT_DOUBLE_EQ(moe.routed_active, 8.0 * 3 * 7168 * 2048);
  EXPECT_DOUBLE_EQ(moe.mlp, 1.0 * 3 * 7168 * 2048);  // the shared expert
}

TEST(Attention, HeadDimensions) {
  const AttentionShape q = Attention(Preset("qwen3_235b_a22b"));
  EXPECT_EQ(q.q_width(), 8192u);  // 64 x 128, twice the hidden size
  EXPECT_EQ(q.k_width(), 512u);
  const AttentionShape d = Attention(Preset("deepseek_v3_671b"));
  EXPECT_TRUE(d.mla);
  EXPECT_EQ(d.qk_head_dim, 192u);
  EXPECT_EQ(d.v_head_dim, 128u);
  const AttentionShape l = Attention(Preset("llama3_70b"));
  EXPECT_EQ(l.qk_head_dim, 128u);
  EXPECT_EQ(l.kv_heads, 8u);
}

// Validation: one test per rule.
v1::Model Small() {
  v1::Model m;
  m.set_layers(4);
  m.set_hidden(512);
  m.set_heads(8);
  m.set_vocab(1000);
  m.set_seq_len(256);
  return m;
}

TEST(ModelValidation, RequiredFields) {
  v1::Model m = Small();
  m.set_layers(0);
  EXPECT_NE(ErrorOf(m).find("workload.model.layers = 0: must be > 0"), std::string::npos);
  m = Small();
  m.set_seq_len(0);
  EXPECT_NE(ErrorOf(m).find("workload.model.seq_len"), std::string::npos);
}

TEST(ModelValidation, HiddenDivisibleByHeads) {
  v1::Model m = Small();
  m.set_heads(7);
  EXPECT_NE(ErrorOf(m).find("workload.model.hidden = 512: must be divisible by heads (7)"), std::string::npos);
}

TEST(ModelValidation, KvHeadsDivideHeads) {
  v1::Model m = Small();
  m.set_kv_heads(3);
  EXPECT_NE(ErrorOf(m).find("workload.model.kv_heads = 3"), std::string::npos);
}

TEST(ModelValidation, Kind) {
  v1::Model m = Small();
  m.set_kind("sparse");
  EXPECT_NE(ErrorOf(m).find("workload.model.kind = \"sparse\""), std::string::npos);
}

TEST(ModelValidation, GatedMlpNeedsFfnHidden) {
  v1::Model m = Small();
  m.set_gated_mlp(true);
  EXPECT_NE(ErrorOf(m).find("workload.model.ffn_hidden = 0"), std::string::npos);
}

TEST(ModelValidation, TopKAtMostRoutedExperts) {
  v1::Model m = Small();
  m.set_routed_experts(8);
  m.set_expert_ffn_hidden(256);
  m.set_top_k(9);
  EXPECT_NE(ErrorOf(m).find("workload.model.top_k = 9: must be in [1, routed_experts = 8]"), std::string::npos);
  m.set_top_k(0);
  EXPECT_NE(ErrorOf(m).find("workload.model.top_k = 0"), std::string::npos);
}

TEST(ModelValidation, MoeNeedsExpertFfn) {
  v1::Model m = Small();
  m.set_routed_experts(8);
  m.set_top_k(2);
  EXPECT_NE(ErrorOf(m).find("workload.model.expert_ffn_hidden = 0"), std::string::npos);
}

TEST(ModelValidation, DenseLayersBelowLayers) {
  v1::Model m = Small();
  m.set_routed_experts(8);
  m.set_top_k(2);
  m.set_expert_ffn_hidden(256);
  m.set_dense_layers(4);
  EXPECT_NE(ErrorOf(m).find("workload.model.dense_layers = 4"), std::string::npos);
}

TEST(ModelValidation, ExpertFieldsNeedMoe) {
  v1::Model m = Small();
  m.set_kind("dense");
  m.set_shared_experts(1);
  EXPECT_NE(ErrorOf(m).find("workload.model.shared_experts = 1: needs kind \"moe\""), std::string::npos);
}

TEST(ModelValidation, MlaNeedsHeadDims) {
  v1::Model m = Small();
  m.set_mla_kv_lora_rank(128);
  EXPECT_NE(ErrorOf(m).find("workload.model.mla_qk_rope_head_dim = 0"), std::string::npos);
  m = Small();
  m.set_mla_q_lora_rank(64);
  EXPECT_NE(ErrorOf(m).find("workload.model.mla_q_lora_rank = 64: needs mla_kv_lora_rank > 0"), std::string::npos);
}

}  // namespace
}  // namespace clustersim::wl

namespace clustersim::wl {
namespace {

// head_dim gives the head width when it is not hidden / heads (Qwen3: 64 x 128 = 8192 > hidden 4096), and cannot be
// combined with the explicit per-role dimensions.
TEST(Model, HeadDimSetsTheAttentionWidth) {
  v1::Model q;
  q.set_preset("qwen3_235b_a22b");
  const v1::Model m = ResolveModel(q, "m.textproto");
  EXPECT_EQ(m.head_dim(), 128u);
  const AttentionShape a = Attention(m);
  EXPECT_EQ(a.qk_head_dim, 128u);
  EXPECT_EQ(a.v_head_dim, 128u);
  v1::Model both = q;
  both.set_mla_qk_nope_head_dim(128);
  both.set_mla_v_head_dim(128);
  EXPECT_THROW(ResolveModel(both, "m.textproto"), InputError);
}

}  // namespace
}  // namespace clustersim::wl
