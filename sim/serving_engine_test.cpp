// Tests of the serving iteration model and instance memory (serving_engine.h) against closed forms.
#include "sim/serving_engine.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "sim/hardware/accelerator.h"
#include "workloads/model.h"

namespace clustersim::sim {
namespace {

v1::Accelerator Chip(const char* name) {
  v1::Accelerator a;
  a.set_name(name);
  return AcceleratorCatalog().Resolve(a, "test");
}

wl::InferenceModel Model(const char* preset, const char* precision, const char* kv = "fp8") {
  v1::Model m;
  m.set_preset(preset);
  return wl::BuildInferenceModel(wl::ResolveModel(m, "test"), precision, kv, "test");
}

InstanceSpec Spec(uint32_t tp, uint32_t dpa = 1, uint32_t ep = 1) {
  InstanceSpec s;
  s.role = "mixed";
  s.tp = tp;
  s.dpa = dpa;
  s.ep = ep;
  return s;
}

TEST(ServingEngine, CurveInterpolates) {
  const Curve c{{1, 2, 4}, {10, 20, 30}};
  EXPECT_DOUBLE_EQ(c.At(0), 0);
  EXPECT_DOUBLE_EQ(c.At(0.5), 10);  // below the first point: its time
  EXPECT_DOUBLE_EQ(c.At(1.5), 15);
  EXPECT_DOUBLE_EQ(c.At(3), 25);
  EXPECT_DOUBLE_EQ(c.At(8), 50);  // beyond the last point: the last segment's slope
  EXPECT_DOUBLE_EQ(Curve{}.At(3), 0);
}

TEST(ServingEngine, Families) {
  EXPECT_EQ(ServingFamilyOf(Chip("H800")).name, "hopper");
  EXPECT_EQ(ServingFamilyOf(Chip("B200")).name, "blackwell");
  EXPECT_EQ(ServingFamilyOf(Chip("Ascend-910C")).name, "ascend");
  EXPECT_EQ(ServingFamilyOf(Chip("A100-80GB")).name, "other");
}

TEST(ServingEngine, MemoryPlan) {
  const wl::InferenceModel m = Model("llama3_70b", "fp8");
  const InstanceMemory mem = PlanInstanceMemory(m, Spec(2), 80e9, "test", 0);
  // About 70.6B parameters (embedding and output layer both held) in fp8 over TP2.
  EXPECT_NEAR(mem.weights_bytes / 1e9, 35.3, 0.3);
  // The KV cache takes 90% of what weights and workspace leave; each GPU holds 4 of the 8 KV heads.
  EXPECT_NEAR(mem.kv_bytes, 0.9 * (80e9 - mem.weights_bytes - mem.activation_bytes), 1);
  EXPECT_DOUBLE_EQ(mem.kv_bytes_per_token, 163840.0 / 2);
  EXPECT_EQ(mem.kv_capacity_tokens, static_cast<uint64_t>(mem.kv_bytes / mem.kv_bytes_per_token));
  // bf16 weights on one GPU do not fit.
  EXPECT_THROW(PlanInstanceMemory(Model("llama3_70b", "bf16"), Spec(1), 80e9, "test", 3), DoesNotFitError);
  // MLA's latent is not split by tensor parallelism; DP attention multiplies the instance's capacity.
  const wl::InferenceModel ds = Model("deepseek_v3_671b", "fp8");
  const InstanceMemory ep = PlanInstanceMemory(ds, Spec(1, 32, 32), 80e9, "test", 0);
  EXPECT_DOUBLE_EQ(ep.kv_bytes_per_token, ds.kv_bytes_per_token());
  EXPECT_EQ(ep.kv_capacity_tokens, static_cast<uint64_t>(ep.kv_bytes / ep.kv_bytes_per_token) * 32);
}

TEST(ServingEngine, DecodeOfOneSequenceReadsTheWeights) {
  const v1::Accelerator h100 = Chip("H100-SXM");
  const ComputeModel compute(h100, "fp8");
  const wl::InferenceModel m = Model("llama3_70b", "fp8");
  const IterationModel it(m, Spec(1), compute, 0.67, CommTable{}, EngineParams{0, 1, 0});
  BatchShape one;
  one.decode_seqs = 1;
  one.decode_kv = 1000;
  const IterationTime t = it.Time(one);
  // Batch 1 is memory-bound: every weight read once, plus the kernel gaps (about 12 per layer); the KV of 1,000
  // tokens and the output layer in their own parts.
  const double gap = ComputeModel::kKernelOverheadS, bw = compute.hbm_bytes_per_s();
  EXPECT_FALSE(t.compute_bound);
  EXPECT_NEAR(t.dense_s, (m.attention_params + m.dense_mlp_params) / bw + 80 * 12 * gap, 1e-3 * t.dense_s);
  EXPECT_NEAR(t.other_s, m.logits_params / bw + gap, 0.02 * t.other_s);
  EXPECT_GE(t.attention_s, 1000 * 163840.0 / bw + 80 * gap);
  EXPECT_DOUBLE_EQ(t.experts_s, 0);
  EXPECT_NEAR(t.gpu_s, t.dense_s + t.attention_s + t.other_s, 1e-12);
  EXPECT_DOUBLE_EQ(t.comm_s, 0);
  EXPECT_DOUBLE_EQ(t.host_s, 0);
  EXPECT_DOUBLE_EQ(t.seconds, t.gpu_s);
  // A larger batch takes longer but far less than proportionally (the weights are read once).
  BatchShape many = one;
  many.decode_seqs = 64;
  many.decode_kv = 64000;
  EXPECT_GT(it.Time(many).seconds, t.seconds);
  EXPECT_LT(it.Time(many).seconds, 4 * t.seconds);
  // A long prompt is compute-bound.
  BatchShape prompt;
  prompt.prefill_tokens = 8192;
  prompt.prefill_pairs = 8192.0 * 4096.5;
  prompt.prefill_kv = 8192;
  prompt.logit_tokens = 1;
  prompt.prefill_max_chunk = 8192;
  EXPECT_TRUE(it.Time(prompt).compute_bound);
  EXPECT_DOUBLE_EQ(it.PrefillShare(prompt), 1);
  EXPECT_DOUBLE_EQ(it.PrefillShare(one), 0);
}

TEST(ServingEngine, CommunicationOverheadAndSoftware) {
  const ComputeModel compute(Chip("H100-SXM"), "fp8");
  const wl::InferenceModel m = Model("llama3_70b", "fp8");
  CommTable comm;
  comm.tp_all_reduce = {{1, 1024}, {10e-6, 20e-6}};
  BatchShape b;
  b.decode_seqs = 32;
  b.decode_kv = 32000;
  const IterationModel base(m, Spec(2), compute, 0.67, comm, EngineParams{0, 1, 0});
  // Two all-reduces per layer of 32 tokens each.
  EXPECT_NEAR(base.Time(b).comm_s, 2 * 80 * comm.tp_all_reduce.At(32), 1e-12);
  const IterationModel slow(m, Spec(2), compute, 0.67, comm, EngineParams{0, 0.5, 2e-3});
  EXPECT_NEAR(slow.Time(b).gpu_s, 2 * base.Time(b).gpu_s, 1e-12);
  EXPECT_DOUBLE_EQ(slow.Time(b).host_s, 2e-3);
  // Draft tokens are verified by the model and drafted by the MTP module: more work per step.
  const IterationModel mtp(Model("deepseek_v3_671b", "fp8"), Spec(1, 8, 8), compute, 0.67, CommTable{},
                           EngineParams{2, 1, 0});
  const IterationModel plain(Model("deepseek_v3_671b", "fp8"), Spec(1, 8, 8), compute, 0.67, CommTable{},
                             EngineParams{0, 1, 0});
  EXPECT_GT(mtp.Time(b).seconds, plain.Time(b).seconds);
}

TEST(ServingEngine, TwoBatchOverlapHidesPartOfTheExpertExchange) {
  const ComputeModel compute(Chip("H800"), "fp8");
  const wl::InferenceModel m = Model("deepseek_v3_671b", "fp8");
  InstanceSpec spec = Spec(1, 32, 32);
  BatchShape b;
  b.decode_seqs = 32 * 64;
  b.decode_kv = b.decode_seqs * 2000;
  const auto times = [&](double exchange_s) {
    CommTable comm;
    comm.ep_dispatch_ll = comm.ep_combine_ll = {{1, 128}, {exchange_s, exchange_s}};
    spec.two_batch_overlap = false;
    const IterationTime plain = IterationModel(m, spec, compute, 0.67, comm, EngineParams{0, 1, 0}).Time(b);
    spec.two_batch_overlap = true;
    return std::pair{plain, IterationModel(m, spec, compute, 0.67, comm, EngineParams{0, 1, 0}).Time(b)};
  };
  // Communication as long as the computation: the overlap wins (SGLang's +25% at 256 tokens per device).
  const auto [plain, tbo] = times(400e-6);
  EXPECT_NEAR(plain.comm_s, 58 * 2 * 400e-6, 1e-9);  // every MoE layer's dispatch and combine, all exposed
  EXPECT_LT(tbo.comm_s, plain.comm_s);
  EXPECT_LT(tbo.seconds, plain.seconds);
  EXPECT_GE(tbo.gpu_s, plain.gpu_s);  // two half-batches read the weights twice
  // Little communication: splitting the batch costs more than it hides (SGLang's -27% at 32 tokens per device).
  const auto [plain_small, tbo_small] = times(5e-6);
  EXPECT_GT(tbo_small.seconds, plain_small.seconds);
}

}  // namespace
}  // namespace clustersim::sim
