#include "workloads/memory.h"

#include <gtest/gtest.h>

#include "workloads/model.h"

namespace clustersim::wl {
namespace {

// GPT-3 175B shape as in Korthikanti et al.: s = 2048, h = 12288, a = 96.
v1::Model Gpt3() {
  v1::Model m;
  m.set_preset("gpt3_175b");
  return ResolveModel(m, "");
}

ActivationShape Shape(uint32_t tp, bool sp, Recompute r) {
  ActivationShape c;
  c.micro_batch = 1;
  c.seq = 2048;
  c.tp = tp;
  c.sequence_parallel = sp;
  c.recompute = r;
  return c;
}

TEST(Activations, KorthikantiTable2) {
  const v1::Model m = Gpt3();
  const double s = 2048, b = 1, h = 12288, a = 96, t = 8;
  const double sbh = s * b * h;
  // No parallelism: sbh (34 + 5as/h).
  EXPECT_DOUBLE_EQ(LayerActivationBytes(m, false, Shape(1, false, Recompute::kNone)), sbh * (34 + 5 * a * s / h));
  // Tensor parallelism: sbh (10 + 24/t + 5as/(ht)).
  EXPECT_DOUBLE_EQ(LayerActivationBytes(m, false, Shape(8, false, Recompute::kNone)),
                   sbh * (10 + 24 / t + 5 * a * s / (h * t)));
  // Tensor + sequence parallelism: sbh/t (34 + 5as/h).
  EXPECT_DOUBLE_EQ(LayerActivationBytes(m, false, Shape(8, true, Recompute::kNone)), sbh / t * (34 + 5 * a * s / h));
  // Selective recompute (with sequence parallelism): 34 sbh / t.
  EXPECT_DOUBLE_EQ(LayerActivationBytes(m, false, Shape(8, true, Recompute::kSelective)), 34 * sbh / t);
  // Full recompute: 2 sbh (the layer input), sharded by sequence parallelism.
  EXPECT_DOUBLE_EQ(LayerActivationBytes(m, false, Shape(1, false, Recompute::kFull)), 2 * sbh);
  EXPECT_DOUBLE_EQ(LayerActivationBytes(m, false, Shape(8, true, Recompute::kFull)), 2 * sbh / t);
}

TEST(Activations, FusedAttentionStoresNoScores) {
  const v1::Model m = Gpt3();
  ActivationShape c = Shape(8, true, Recompute::kNone);
  c.fused_attention = true;
  const double sbh = 2048.0 * 12288;
  EXPECT_DOUBLE_EQ(LayerActivationBytes(m, false, c), 34 * sbh / 8 + 4.0 * 96 * 2048 / 8);
  c.recompute = Recompute::kSelective;
  EXPECT_DOUBLE_EQ(LayerActivationBytes(m, false, c), 34 * sbh / 8);
}

TEST(Activations, GqaAndGatedMlpScaleTheTerms) {
  v1::Model m;
  m.set_preset("llama3_70b");
  m = ResolveModel(m, "");
  ActivationShape c = Shape(1, false, Recompute::kSelective);
  const double sbh = 2048.0 * 8192;
  // Norm, QKV input, masks: 10 sbh; Q and O: 2 x 2 sbh; K and V at 1/8 (8 of 64 heads): 2 x 2 sbh / 8;
  // SwiGLU: first output 2 x 2f, second input 2f with f = 28672 = 3.5h: 6 x 3.5 sbh.
  EXPECT_DOUBLE_EQ(LayerActivationBytes(m, false, c), sbh * (10 + 4 + 0.5 + 21));
}

TEST(ModelStates, SixteenBytesPerParamSplitByZero) {
  const double p = 1e9, n = 8;
  const StateBytes b;
  EXPECT_DOUBLE_EQ(ModelStateMemory(p, 0, 8, 1, 0, b).total(), 16 * p);
  EXPECT_DOUBLE_EQ(ModelStateMemory(p, 0, 8, 1, 1, b).total(), 4 * p + 12 * p / n);
  EXPECT_DOUBLE_EQ(ModelStateMemory(p, 0, 8, 1, 2, b).total(), 2 * p + 14 * p / n);
  EXPECT_DOUBLE_EQ(ModelStateMemory(p, 0, 8, 1, 3, b).total(), 16 * p / n);
  // Expert parameters are sharded over their own (expert-data-parallel) group.
  const MemoryEstimate e = ModelStateMemory(0, p, 8, 2, 3, b);
  EXPECT_DOUBLE_EQ(e.weights, 2 * p / 2);
  EXPECT_DOUBLE_EQ(e.optimizer, 12 * p / 2);
}

Plan PlanWith(bool fp8, MemoryPlan m) {
  Plan p;
  p.fp8 = fp8;
  p.memory = m;
  return p;
}

// Megatron-Core's distributed optimizer: bf16 params + fp32 grads = 6 + 12/d bytes per parameter (dist_optimizer.md);
// bf16 moments (DeepSeek-V3) 8 bytes of optimizer state; FP8 training keeps an FP8 weight copy beside the bf16 one
// unless the FP8 weights are primary.
TEST(ModelStates, BytesPerParamFollowTheMemoryOptions) {
  MemoryPlan m;
  m.main_grad_bytes = 4;
  const double p = 1e9, d = 16;
  EXPECT_DOUBLE_EQ(ModelStateMemory(p, 0, 16, 1, 1, StateBytesOf(PlanWith(false, m))).total(), (6 + 12 / d) * p);
  m.main_grad_bytes = 2;
  m.moment_bytes = 2;
  EXPECT_DOUBLE_EQ(StateBytesOf(PlanWith(false, m)).optimizer, 8);
  EXPECT_DOUBLE_EQ(StateBytesOf(PlanWith(true, m)).weights, 3);
  EXPECT_DOUBLE_EQ(StateBytesOf(PlanWith(true, m)).gather, 2);
  m.fp8_params = true;
  EXPECT_DOUBLE_EQ(StateBytesOf(PlanWith(true, m)).weights, 1);
  EXPECT_DOUBLE_EQ(StateBytesOf(PlanWith(true, m)).gather, 1);
}

TEST(ModelStates, OffloadedOptimizerStatesLeaveTheGpu) {
  MemoryPlan m;
  m.optimizer_offload_fraction = 0.75;
  const MemoryEstimate e = ModelStateMemory(1e9, 0, 1, 1, 1, StateBytesOf(PlanWith(false, m)));
  EXPECT_DOUBLE_EQ(e.optimizer, 3e9);
  EXPECT_DOUBLE_EQ(e.offloaded, 9e9);
  EXPECT_DOUBLE_EQ(e.total(), 2e9 + 2e9 + 3e9);
}

TEST(ModelStates, FrameworkOverheadCountsTheCommunicatorsInUse) {
  Plan p;
  RankLayout one;
  EXPECT_DOUBLE_EQ(FrameworkOverheadBytes(p, one), 0.65e9);  // context and workspaces
  RankLayout l;
  l.tp = 8;
  l.pp = 4;
  l.dp = 16;
  EXPECT_DOUBLE_EQ(FrameworkOverheadBytes(p, l), 0.65e9 + 3 * 0.3e9);  // tp, dp, pp
  l.ep = 8;
  EXPECT_DOUBLE_EQ(FrameworkOverheadBytes(p, l), 0.65e9 + 4 * 0.3e9 + 1e9);  // + edp and the all-to-all
  p.memory.framework_overhead_bytes = 2e9;
  EXPECT_DOUBLE_EQ(FrameworkOverheadBytes(p, l), 2e9);
  MemoryEstimate e;
  e.activations = 10e9;
  AddOverhead(p, 2e9, e);
  EXPECT_DOUBLE_EQ(e.overhead, 2e9 + 0.05 * 10e9);
  EXPECT_DOUBLE_EQ(e.total(), 12.5e9);
}

TEST(Activations, NoDropoutKeepsNoMasks) {
  const v1::Model m = Gpt3();
  ActivationShape c = Shape(8, true, Recompute::kSelective);
  const double sbh = 2048.0 * 12288;
  c.dropout = false;
  // Two 1-byte masks per sbh (attention and MLP blocks) fewer than Korthikanti's 34.
  EXPECT_DOUBLE_EQ(LayerActivationBytes(m, false, c), 32 * sbh / 8);
}

}  // namespace
}  // namespace clustersim::wl

namespace clustersim::wl {
namespace {

// FP8 keeps the linear-layer inputs as 1-byte casts: a GPT layer (MLP 4h) with sequence parallelism and selective
// recompute stores 34 s b h / t in BF16 and (34 - 2 - 1 - 4) s b h / t = 27 s b h / t in FP8.
TEST(Memory, Fp8StoresLinearInputsInOneByte) {
  v1::Model m;
  m.set_hidden(4096);
  m.set_ffn_hidden(4 * 4096);
  m.set_heads(32);
  m.set_kv_heads(32);
  m.set_layers(2);
  m.set_vocab(1000);
  m.set_seq_len(2048);
  ActivationShape c;
  c.micro_batch = 1;
  c.seq = 2048;
  c.tp = 8;
  c.sequence_parallel = true;
  c.recompute = Recompute::kSelective;
  c.fused_attention = true;
  const double bf16 = LayerActivationBytes(m, false, c);
  c.fp8 = true;
  const double fp8 = LayerActivationBytes(m, false, c);
  const double sbh_t = 2048.0 * 4096 / 8;
  EXPECT_NEAR(bf16 - fp8, 7 * sbh_t, 1e-6 * bf16);
}

double WithModules(const v1::Model& m, bool moe_layer, ActivationShape c, uint32_t modules) {
  c.recompute = Recompute::kSelective;
  c.recompute_modules = modules;
  return LayerActivationBytes(m, moe_layer, c);
}

ActivationShape Tp2Sp4096() {
  ActivationShape c;
  c.micro_batch = 1;
  c.seq = 4096;
  c.tp = 2;
  c.sequence_parallel = true;
  c.fused_attention = true;
  return c;
}

v1::Model PresetAt4096(const char* name) {
  v1::Model m;
  m.set_preset(name);
  m.set_seq_len(4096);
  return ResolveModel(m, "");
}

// GPT-3 (Korthikanti's 34 s b h / t with selective recompute and sequence parallelism): layernorm drops the two norm
// outputs (2 + 2), mlp the GeLU input and output (8 + 8); without core_attn the 5 a s / h scores are back.
TEST(RecomputeModules, DenseTermsInKorthikantiUnits) {
  v1::Model pm;
  pm.set_preset("gpt3_175b");
  const v1::Model m = ResolveModel(pm, "");
  const double s = 2048, h = 12288, a = 96, t = 8, sbh_t = s * h / t;
  ActivationShape c;
  c.seq = 2048;
  c.tp = 8;
  c.sequence_parallel = true;
  EXPECT_DOUBLE_EQ(WithModules(m, false, c, 0), 34 * sbh_t);
  EXPECT_DOUBLE_EQ(WithModules(m, false, c, kRecomputeCoreAttn), 34 * sbh_t);
  EXPECT_DOUBLE_EQ(WithModules(m, false, c, kRecomputeCoreAttn | kRecomputeLayernorm), 30 * sbh_t);
  EXPECT_DOUBLE_EQ(WithModules(m, false, c, kRecomputeCoreAttn | kRecomputeMlp), 18 * sbh_t);
  EXPECT_DOUBLE_EQ(WithModules(m, false, c, kRecomputeLayernorm), (30 + 5 * a * s / h) * sbh_t);
  // MoE-only modules do nothing on a dense layer.
  EXPECT_DOUBLE_EQ(WithModules(m, false, c, kRecomputeCoreAttn | kRecomputeMoeAct | kRecomputeMoe), 34 * sbh_t);

  // FP8: the norm outputs are stored as 1-byte casts, so layernorm frees 2 s b h / t; the checkpointed MLP keeps its
  // input in bf16 (1 byte more than the cast) and frees the GeLU input (8) and the 1-byte GeLU output cast (4).
  c.fp8 = true;
  const double base = WithModules(m, false, c, kRecomputeCoreAttn);
  EXPECT_NEAR(base - WithModules(m, false, c, kRecomputeCoreAttn | kRecomputeLayernorm), 2 * sbh_t, 1e-9 * base);
  EXPECT_NEAR(base - WithModules(m, false, c, kRecomputeCoreAttn | kRecomputeMlp), (8 + 4 - 1) * sbh_t, 1e-9 * base);
}

// Qwen3-235B-A22B MoE layer (h 4096, 128 experts, top 8, expert ffn 1536, gated, no shared experts), tp 2 + SP:
// moe_act drops the routed experts' activation output, 2 x pairs x ffn; moe the whole block but its input.
TEST(RecomputeModules, MoeTerms) {
  const v1::Model m = PresetAt4096("qwen3_235b_a22b");
  ASSERT_EQ(m.shared_experts(), 0u);
  const ActivationShape c = Tp2Sp4096();
  const double rows = 4096, h = 4096, fe = 1536, pairs = rows * 8 / 2;
  const double base = WithModules(m, true, c, kRecomputeCoreAttn);
  EXPECT_DOUBLE_EQ(base - WithModules(m, true, c, kRecomputeCoreAttn | kRecomputeMoeAct), 2 * pairs * fe);
  const double router = 4 * rows * 128 / 2, routed = (2 * h + 4) * pairs + 2 * pairs * fe * 3;
  EXPECT_DOUBLE_EQ(base - WithModules(m, true, c, kRecomputeCoreAttn | kRecomputeMoe), router + routed);
  // moe includes moe_act; layernorm adds its own 2 x 2 s b h / t.
  EXPECT_DOUBLE_EQ(
      base - WithModules(m, true, c, kRecomputeCoreAttn | kRecomputeMoe | kRecomputeMoeAct | kRecomputeLayernorm),
      router + routed + 4 * rows * h / 2);
}

// A routed (token, expert) pair keeps its expert input (2 h bytes in BF16, h as the FP8 cast), its fp32 routing
// probability and its GLU input (2 x 2 ffn) and output (2 ffn, as FP8 1 ffn): the experts apply the probability, so
// the combine keeps no expert output (Megatron-Core since core_r0.12, DeepEP). Halving top_k removes half the pairs.
TEST(RecomputeModules, ARoutedPairKeepsItsInputProbabilityAndGlu) {
  v1::Model m = PresetAt4096("qwen3_235b_a22b");
  ActivationShape c = Tp2Sp4096();
  const double h = 4096, fe = 1536, removed_pairs = 4096.0 * 4 / 2;
  const auto top8_minus_top4 = [&](uint32_t modules = kRecomputeCoreAttn) {
    m.set_top_k(8);
    const double top8 = WithModules(m, true, c, modules);
    m.set_top_k(4);
    return top8 - WithModules(m, true, c, modules);
  };
  EXPECT_DOUBLE_EQ(top8_minus_top4(), removed_pairs * (2 * h + 4 + 6 * fe));
  c.fp8 = true;
  EXPECT_DOUBLE_EQ(top8_minus_top4(), removed_pairs * (h + 4 + 5 * fe));
  // The moe module recomputes the whole block: what the pairs store, it frees, in BF16 and in FP8.
  EXPECT_NEAR(top8_minus_top4(kRecomputeCoreAttn | kRecomputeMoe), 0, 1e-6);
  c.fp8 = false;
  EXPECT_NEAR(top8_minus_top4(kRecomputeCoreAttn | kRecomputeMoe), 0, 1e-6);
}

// DeepSeek-V3 caches the experts' GLU inputs in FP8 (memory.fp8_moe_glu_input): one byte less per element of the
// routed (pairs x 2 ffn) and shared (s b x 2 ffn / t) GLU inputs; moe_act and moe still free what is stored.
TEST(RecomputeModules, Fp8GluInputsHalveTheGluInputs) {
  const v1::Model m = PresetAt4096("deepseek_v3_671b");
  ActivationShape c = Tp2Sp4096();
  c.fp8 = true;
  const double rows = 4096, t = 2, fe = 2048, pairs = rows * 8 / 2;
  const double bf16_glu = WithModules(m, true, c, kRecomputeCoreAttn);
  const double bf16_moe = WithModules(m, true, c, kRecomputeCoreAttn | kRecomputeMoe);
  c.fp8_glu_input = true;
  EXPECT_DOUBLE_EQ(bf16_glu - WithModules(m, true, c, kRecomputeCoreAttn), pairs * fe * 2 + rows * fe * 2 / t);
  EXPECT_DOUBLE_EQ(WithModules(m, true, c, kRecomputeCoreAttn | kRecomputeMoe), bf16_moe);
  EXPECT_DOUBLE_EQ(WithModules(m, false, c, kRecomputeCoreAttn), [&] {
    ActivationShape d = c;
    d.fp8_glu_input = false;
    return WithModules(m, false, d, kRecomputeCoreAttn);
  }());
}

// DeepSeek-V3: a shared expert of ffn 2048; shared_experts drops its activation input (2 x 2048, gated) and output,
// moe_act the activation outputs of shared and routed experts. MLA (128 heads, q/k head dim 192, v 128):
// mla_up_proj drops Q, K and V, 2 s b (q + k + v) / t, and keeps the latents; in the dense layers mlp drops the gated
// MLP's inner activations, 2 s b (2 + 1) ffn / t.
TEST(RecomputeModules, DeepSeekV3Terms) {
  const v1::Model m = PresetAt4096("deepseek_v3_671b");
  const ActivationShape c = Tp2Sp4096();
  const double rows = 4096, t = 2, fe = 2048, pairs = rows * 8 / 2;
  const double moe = WithModules(m, true, c, kRecomputeCoreAttn);
  EXPECT_DOUBLE_EQ(moe - WithModules(m, true, c, kRecomputeCoreAttn | kRecomputeSharedExperts), 2 * rows * fe * 3 / t);
  EXPECT_DOUBLE_EQ(moe - WithModules(m, true, c, kRecomputeCoreAttn | kRecomputeMoeAct),
                   2 * rows * fe / t + 2 * pairs * fe);
  for (bool moe_layer : {false, true}) {
    const double base = WithModules(m, moe_layer, c, kRecomputeCoreAttn);
    EXPECT_DOUBLE_EQ(base - WithModules(m, moe_layer, c, kRecomputeCoreAttn | kRecomputeMlaUpProj),
                     2 * rows * 128 * (192 + 192 + 128) / t);
  }
  const double dense = WithModules(m, false, c, kRecomputeCoreAttn);
  EXPECT_DOUBLE_EQ(dense - WithModules(m, false, c, kRecomputeCoreAttn | kRecomputeMlp), 2 * rows * 3 * 18432 / t);
}

}  // namespace
}  // namespace clustersim::wl
