#include "workloads/flops.h"

#include <gtest/gtest.h>

#include "workloads/model.h"

namespace clustersim::wl {
namespace {

v1::Model Preset(const std::string& name) {
  v1::Model m;
  m.set_preset(name);
  return ResolveModel(m, "");
}

v1::Model Gpt(uint32_t layers, uint32_t hidden, uint32_t heads) {
  v1::Model m;
  m.set_layers(layers);
  m.set_hidden(hidden);
  m.set_heads(heads);
  m.set_vocab(51200);
  m.set_seq_len(2048);
  m.set_tied_embeddings(true);
  return ResolveModel(m, "");
}

// The GPT shapes of Narayanan et al. SC21, Table 1 (published parameter count in billions).
struct Sc21 {
  double params_b;
  uint32_t layers, hidden, heads;
};
constexpr Sc21 kSc21[] = {{1.7, 24, 2304, 24},      {3.6, 30, 3072, 32},     {7.5, 36, 4096, 32},
                          {18.4, 40, 6144, 48},     {39.1, 48, 8192, 64},    {76.1, 60, 10240, 80},
                          {145.6, 80, 12288, 96},   {310.1, 96, 16384, 128}, {529.6, 105, 20480, 128},
                          {1008.0, 128, 25600, 160}};

TEST(Flops, MegatronEq3IsHardwareFlopsWithFullRecompute) {
  const uint64_t batch = 1536;
  for (const Sc21& c : kSc21) {
    SCOPED_TRACE(c.params_b);
    const v1::Model m = Gpt(c.layers, c.hidden, c.heads);
    const double b = batch, s = 2048, l = c.layers, h = c.hidden, v = 51200;
    const double eq3 = 96 * b * s * l * h * h * (1 + s / (6 * h) + v / (16 * l * h));
    const StepFlops f = ComputeStepFlops(m, batch, Recompute::kFull);
    EXPECT_NEAR(f.hardware / eq3, 1.0, 0.005);
    // Model FLOPs leave out the recomputed forward of the layers: Eq. 3 less 24 B s l h^2 (1 + s/(6h)).
    EXPECT_NEAR(f.model / (eq3 - 24 * b * s * l * h * h * (1 + s / (6 * h))), 1.0, 1e-9);
    // And the published parameter counts (one decimal) follow from Eq. 2.
    EXPECT_NEAR(CountParams(m).total / 1e9, c.params_b, 0.05);
  }
  // For GPT-3 175B the logits are small enough that model FLOPs are 3/4 of Eq. 3.
  const v1::Model gpt3 = Preset("gpt3_175b");
  const double b = batch, s = 2048, l = 96, h = 12288, v = 51200;
  const double eq3 = 96 * b * s * l * h * h * (1 + s / (6 * h) + v / (16 * l * h));
  EXPECT_NEAR(ComputeStepFlops(gpt3, batch, Recompute::kNone).model / (0.75 * eq3), 1.0, 0.005);
}

TEST(Flops, NoRecomputeMeansHardwareEqualsModel) {
  const StepFlops f = ComputeStepFlops(Preset("llama3_8b"), 16, Recompute::kNone);
  EXPECT_DOUBLE_EQ(f.hardware, f.model);
}

TEST(Flops, SelectiveRecomputeAddsAttentionCoreOnly) {
  const v1::Model m = Preset("llama3_70b");
  const StepFlops f = ComputeStepFlops(m, 8, Recompute::kSelective);
  const LayerFlops lf = LayerForwardFlops(m, false);
  EXPECT_NEAR(f.hardware - f.model, 8.0 * m.layers() * lf.attention_core, 1e-6 * f.model);
  // Q K^T and softmax x V over the full s x s matrix: 2 s^2 (heads x head_dim) each.
  EXPECT_DOUBLE_EQ(lf.attention_core, 2.0 * 8192 * 8192 * (8192 + 8192));
}

TEST(Flops, PerTokenMatchesNemoReportedModelTflops) {
  // NeMo 24.12 performance summary (cases.yaml): model TFLOP/s per GPU / tokens per second per GPU.
  const double llama70 = ForwardFlopsPerSequence(Preset("llama3_70b")) * 3 / 8192;
  EXPECT_NEAR(llama70 / (734e12 / 1524), 1.0, 0.01);
  const double gpt3 = ForwardFlopsPerSequence(Preset("gpt3_175b")) * 3 / 2048;
  EXPECT_NEAR(gpt3 / (771e12 / 716), 1.0, 0.01);
}

TEST(Flops, CausalConventionHalvesTheAttentionCoreAndMatchesMegatronBridgeReports) {
  const v1::Model m = Preset("llama3_70b");
  const StepFlops f = ComputeStepFlops(m, 4, Recompute::kSelective);
  const double core = m.layers() * LayerForwardFlops(m, false).attention_core;
  EXPECT_DOUBLE_EQ(f.model - f.model_causal, 3 * 0.5 * core * 4);
  // Megatron-Bridge 25.11 Llama-3 70B on 64 H100 (cases.yaml): 719 model TFLOP/s per GPU at 1602 tokens/s per GPU.
  EXPECT_NEAR(f.model_causal / (4 * 8192.0) / (719e12 / 1602), 1.0, 0.01);
  // DeepSeek-V3 (Megatron-Bridge 25.09, 1024 H100): 338 TFLOP/s at 1297 tokens/s, MLA and the MTP layer included.
  const v1::Model d = Preset("deepseek_v3_671b");
  const StepFlops fd = ComputeStepFlops(d, 1, Recompute::kNone);
  EXPECT_NEAR(fd.model_causal / 4096.0 / (338e12 / 1297), 1.0, 0.02);
}

TEST(Flops, SixNRuleForLlama70B) {
  v1::Model m = Preset("llama3_70b");
  m.set_seq_len(2048);
  const ParamCount p = CountParams(m);
  const double tokens = 1024.0 * 2048;
  const StepFlops f = ComputeStepFlops(m, 1024, Recompute::kNone);
  EXPECT_NEAR(f.model / (6 * p.total * tokens), 1.0, 0.05);
  // Exactly: every matrix parameter but the input embedding is one multiply-accumulate per token, plus the
  // attention core 2 x 2 s (heads x head_dim) per layer.
  const double norms = (2.0 * m.layers() + 1) * m.hidden();
  const double input_embedding = double(m.vocab()) * m.hidden();
  const double per_token = 2 * (p.total - input_embedding - norms) + m.layers() * 4.0 * 2048 * 8192;
  EXPECT_NEAR(f.model / (3 * per_token * tokens), 1.0, 1e-9);
}

TEST(Flops, MoeCountsTopKAndSharedExperts) {
  const v1::Model m = Preset("deepseek_v3_671b");
  const double s = 4096, h = 7168;
  const LayerFlops moe = LayerForwardFlops(m, true);
  EXPECT_DOUBLE_EQ(moe.experts, 2 * s * 8 * 3 * h * 2048);
  EXPECT_DOUBLE_EQ(moe.mlp, 2 * s * 1 * 3 * h * 2048);
  EXPECT_DOUBLE_EQ(moe.router, 2 * s * h * 256);
  const LayerFlops dense = LayerForwardFlops(m, false);
  EXPECT_DOUBLE_EQ(dense.experts, 0);
  EXPECT_DOUBLE_EQ(dense.mlp, 2 * s * 3 * h * 18432);
  // MLA projections: every projection weight is one multiply-accumulate per token.
  const LayerParams lp = CountLayerParams(m, true);
  const double mla_norms = 1536 + 512;
  EXPECT_NEAR(moe.attention_proj / (2 * s * (lp.attention - mla_norms)), 1.0, 1e-12);
  // Per token, the forward is 2 x active parameters (less input embedding and norms) plus the attention core.
  const ParamCount p = CountParams(m);
  double core = 0;
  for (uint32_t l = 0; l < m.layers() + m.mtp_depth(); ++l) core += LayerForwardFlops(m, true).attention_core / s;
  const double logits_mtp = 2 * h * m.vocab();  // the MTP module's own output layer (shared weights)
  const double approx = 2 * (p.active + p.mtp_active - double(m.vocab()) * h) + core + logits_mtp;
  EXPECT_NEAR(ForwardFlopsPerSequence(m) / s / approx, 1.0, 0.002);
}

TEST(Flops, ConventionIsStated) {
  EXPECT_NE(std::string(kFlopConvention).find("no causal halving"), std::string::npos);
  EXPECT_NE(std::string(kFlopConvention).find("Eq. 3"), std::string::npos);
}

// DeepSeek-V3 (seq 4096): the MLA up-projections are 2 s (q_lora x heads x 192 + kv_lora x heads x (128 + 128));
// mla_up_proj recomputes them in all 61 layers and the MTP module, mlp the dense MLP of the 3 dense layers, and
// without core_attn the attention core is not recomputed.
TEST(Flops, RecomputeModulesAddTheirGemms) {
  v1::Model pm;
  pm.set_preset("deepseek_v3_671b");
  pm.set_seq_len(4096);
  const v1::Model m = ResolveModel(pm, "");
  const double s = 4096;
  EXPECT_DOUBLE_EQ(MlaUpProjFlops(m), 2 * s * (1536.0 * 128 * 192 + 512.0 * 128 * (128 + 128)));
  const StepFlops none = ComputeStepFlops(m, 2, Recompute::kNone);
  const StepFlops f = ComputeStepFlops(m, 2, Recompute::kSelective, kRecomputeMlaUpProj | kRecomputeMlp);
  const double dense_mlp = LayerForwardFlops(m, false).mlp;
  EXPECT_NEAR(f.hardware - none.hardware, 2 * (62 * MlaUpProjFlops(m) + 3 * dense_mlp), 1e-9 * f.hardware);
  EXPECT_DOUBLE_EQ(f.model, none.model);
  // moe: router, routed and shared experts of the 58 MoE layers and the MTP module; shared_experts: the shared ones.
  const LayerFlops moe = LayerForwardFlops(m, true);
  const StepFlops fm = ComputeStepFlops(m, 2, Recompute::kSelective, kRecomputeMoe | kRecomputeSharedExperts);
  EXPECT_NEAR(fm.hardware - none.hardware, 2 * 59 * (moe.router + moe.experts + moe.mlp), 1e-9 * fm.hardware);
  const StepFlops fs = ComputeStepFlops(m, 2, Recompute::kSelective, kRecomputeSharedExperts | kRecomputeLayernorm);
  EXPECT_NEAR(fs.hardware - none.hardware, 2 * 59 * moe.mlp, 1e-9 * fs.hardware);
  // The default module list is core_attn.
  EXPECT_EQ(ComputeStepFlops(m, 2, Recompute::kSelective).hardware,
            ComputeStepFlops(m, 2, Recompute::kSelective, kRecomputeCoreAttn).hardware);
  EXPECT_EQ(MlaUpProjFlops(Preset("llama3_8b")), 0);
}

}  // namespace
}  // namespace clustersim::wl
