#include "workloads/serving_model.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "workloads/model.h"

namespace clustersim::wl {
namespace {

v1::Model Preset(const char* name) {
  v1::Model m;
  m.set_preset(name);
  return ResolveModel(m, "test");
}

TEST(ServingModel, GqaKvBytesPerToken) {
  // Llama-3-70B: 80 layers x 8 KV heads x 128 x (K and V): 320 KiB in bf16, half in fp8 (research notes 7.1).
  const InferenceModel bf16 = BuildInferenceModel(Preset("llama3_70b"), "bf16", "bf16", "test");
  EXPECT_DOUBLE_EQ(bf16.kv_bytes_per_token(), 327680);
  const InferenceModel fp8 = BuildInferenceModel(Preset("llama3_70b"), "fp8", "fp8", "test");
  EXPECT_DOUBLE_EQ(fp8.kv_bytes_per_token(), 163840);
  EXPECT_DOUBLE_EQ(fp8.weight_bytes_per_param, 1);
  EXPECT_FALSE(fp8.mla);
  EXPECT_EQ(fp8.kv_heads, 8u);
  EXPECT_EQ(fp8.moe_layers, 0u);
  // Standard attention: a (query, key) pair costs QK^T and PV over every head, prefill and decode alike.
  EXPECT_DOUBLE_EQ(fp8.prefill_pair_flops, 2.0 * 64 * (128 + 128));
  EXPECT_DOUBLE_EQ(fp8.decode_pair_flops, fp8.prefill_pair_flops);
}

TEST(ServingModel, MlaLatentCache) {
  // DeepSeek-V3: one 512 + 64 latent per layer: 70,272 B per token in bf16; FlashMLA's fp8 layout is 656 B/layer.
  const InferenceModel bf16 = BuildInferenceModel(Preset("deepseek_v3_671b"), "fp8", "bf16", "test");
  EXPECT_DOUBLE_EQ(bf16.kv_bytes_per_token(), 70272);
  const InferenceModel m = BuildInferenceModel(Preset("deepseek_v3_671b"), "fp8", "fp8", "test");
  EXPECT_DOUBLE_EQ(m.kv_bytes_per_token(), 61 * 656.0);
  EXPECT_TRUE(m.mla);
  // Decode runs absorbed into the latent (FlashMLA): 2 x heads x (2 x 512 + 64); prefill decompresses the heads.
  EXPECT_DOUBLE_EQ(m.decode_pair_flops, 2.0 * 128 * (2 * 512 + 64));
  EXPECT_DOUBLE_EQ(m.prefill_pair_flops, 2.0 * 128 * (192 + 128));
  EXPECT_EQ(m.moe_layers, 58u);
  EXPECT_EQ(m.routed_experts, 256u);
  // 37B active, 671B in the main model plus the MTP module.
  EXPECT_NEAR(m.params_active / 1e9, 37.5, 1.0);
  EXPECT_NEAR(m.params_total / 1e9, 685, 5);
  // The routed experts and the rest add up to the total (one expert of one layer: 3 x 7168 x 2048).
  EXPECT_DOUBLE_EQ(m.expert_params, 3.0 * 7168 * 2048);
  EXPECT_GT(m.mtp_params, 0);
}

TEST(ServingModel, WeightBytesAndErrors) {
  EXPECT_DOUBLE_EQ(WeightBytesPerParam("bf16", "f", "x"), 2);
  EXPECT_DOUBLE_EQ(WeightBytesPerParam("fp4", "f", "x"), 0.5625);
  EXPECT_THROW(WeightBytesPerParam("int3", "f", "x"), InputError);
  EXPECT_THROW(KvBytesPerValue("fp4", "f", "x"), InputError);
}

TEST(ServingModel, ExpertsTouched) {
  // One token picks top_k of the routed experts: a rank holding 8 of 256 sees 8 x 8 / 256 of them on average.
  EXPECT_NEAR(ExpertsTouched(8, 256, 8, 1), 8 * 8.0 / 256, 1e-12);
  // Many tokens touch every expert held; none touch none.
  EXPECT_NEAR(ExpertsTouched(8, 256, 8, 1e5), 8, 1e-9);
  EXPECT_DOUBLE_EQ(ExpertsTouched(8, 256, 8, 0), 0);
  // Monotone in the tokens.
  EXPECT_LT(ExpertsTouched(32, 256, 8, 16), ExpertsTouched(32, 256, 8, 64));
}

}  // namespace
}  // namespace clustersim::wl
