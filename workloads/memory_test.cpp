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
  EXPECT_DOUBLE_EQ(ModelStateMemory(p, 0, 8, 1, 0).total(), 16 * p);
  EXPECT_DOUBLE_EQ(ModelStateMemory(p, 0, 8, 1, 1).total(), 4 * p + 12 * p / n);
  EXPECT_DOUBLE_EQ(ModelStateMemory(p, 0, 8, 1, 2).total(), 2 * p + 14 * p / n);
  EXPECT_DOUBLE_EQ(ModelStateMemory(p, 0, 8, 1, 3).total(), 16 * p / n);
  // Expert parameters are sharded over their own (expert-data-parallel) group.
  const MemoryEstimate e = ModelStateMemory(0, p, 8, 2, 3);
  EXPECT_DOUBLE_EQ(e.weights, 2 * p / 2);
  EXPECT_DOUBLE_EQ(e.optimizer, 12 * p / 2);
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

}  // namespace
}  // namespace clustersim::wl
