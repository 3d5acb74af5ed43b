#include "workloads/plan.h"

#include <gtest/gtest.h>

#include <string>

#include "common/error.h"

namespace clustersim::wl {
namespace {

// A small dense model: 8 layers, 16 heads (8 KV heads), seq 1024; 64 GPUs as tp 2 x pp 2 x dp 16.
v1::Workload Base() {
  v1::Workload w;
  v1::Model* m = w.mutable_model();
  m->set_layers(8);
  m->set_hidden(1024);
  m->set_heads(16);
  m->set_kv_heads(8);
  m->set_ffn_hidden(4096);
  m->set_vocab(32000);
  m->set_seq_len(1024);
  v1::Parallelism* p = w.mutable_parallelism();
  p->set_tp(2);
  p->set_pp(2);
  p->set_global_batch_size(64);
  return w;
}

v1::Workload Moe() {
  v1::Workload w = Base();
  w.mutable_model()->set_routed_experts(16);
  w.mutable_model()->set_top_k(2);
  w.mutable_model()->set_expert_ffn_hidden(512);
  w.mutable_parallelism()->set_sequence_parallel(true);
  return w;
}

std::string Err(const v1::Workload& w, uint32_t gpus = 64) {
  try {
    ValidatePlan(w, gpus, "plan.textproto");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_ERROR(w, text)                                                     \
  do {                                                                            \
    const std::string e_ = Err(w);                                                \
    EXPECT_NE(e_.find(text), std::string::npos) << "error was: \"" << e_ << "\""; \
  } while (0)

TEST(Plan, DefaultsAndDerivedDp) {
  const Plan p = ResolvePlan(Base(), 64, "");
  EXPECT_EQ(p.dp, 16u);
  EXPECT_EQ(p.cp, 1u);
  EXPECT_EQ(p.micro_batch_size, 1u);
  EXPECT_EQ(p.microbatches, 4u);
  EXPECT_EQ(p.schedule, Schedule::k1F1B);
  EXPECT_EQ(p.recompute, Recompute::kNone);
  EXPECT_FALSE(p.fp8);
  EXPECT_EQ(p.chunks(), 1u);
  EXPECT_EQ(Err(Moe()), "");
}

TEST(Plan, Zero3ImplementationIsChosenByNameForZero3Only) {
  v1::Workload w = Base();
  EXPECT_EQ(ResolvePlan(w, 64, "").zero3->name, "nccl");
  w.mutable_parallelism()->set_zero_stage(3);
  EXPECT_EQ(ResolvePlan(w, 64, "").zero3->name, "nccl");
  w.mutable_parallelism()->set_zero3_implementation("deepspeed_2021");
  const Plan p = ResolvePlan(w, 64, "");
  EXPECT_EQ(p.zero3->name, "deepspeed_2021");
  EXPECT_GT(p.zero3->compute_efficiency, 0);
  EXPECT_LT(p.zero3->compute_efficiency, 1);
  EXPECT_GT(p.zero3->collective_efficiency, 0);
  EXPECT_LT(p.zero3->collective_efficiency, 1);
  w.mutable_parallelism()->set_zero3_implementation("deepspeed");
  EXPECT_ERROR(w,
               "plan.textproto: workload.parallelism.zero3_implementation = \"deepspeed\": must be one of \"nccl\", "
               "\"deepspeed_2021\"");
  w.mutable_parallelism()->set_zero_stage(1);
  w.mutable_parallelism()->set_zero3_implementation("nccl");  // the default is harmless at any stage
  EXPECT_EQ(Err(w), "");
  w.mutable_parallelism()->set_zero3_implementation("deepspeed_2021");
  EXPECT_ERROR(w,
               "workload.parallelism.zero3_implementation = \"deepspeed_2021\": applies to zero_stage 3 only "
               "(zero_stage is 1)");
}

TEST(Plan, GpuCountMustFactor) {
  v1::Workload w = Base();
  w.mutable_parallelism()->set_dp(8);
  EXPECT_ERROR(w,
               "plan.textproto: workload.parallelism.dp = 8: tp x cp x pp x dp = 32 must equal cluster.num_gpus = 64");
  EXPECT_NE(Err(Base(), 66).find("workload.parallelism.dp = 0 (derived): tp x cp x pp = 4 must divide"),
            std::string::npos);
}

TEST(Plan, TpDividesHeads) {
  v1::Workload w = Base();
  w.mutable_parallelism()->set_tp(32);
  w.mutable_parallelism()->set_dp(1);
  EXPECT_ERROR(w, "workload.parallelism.tp = 32: must divide model heads (16)");
}

TEST(Plan, TpAndKvHeads) {
  v1::Workload w = Base();
  w.mutable_model()->set_kv_heads(4);
  w.mutable_parallelism()->set_tp(8);  // 8 is a multiple of 4: KV heads replicated, allowed
  EXPECT_EQ(Err(w), "");
  w.mutable_model()->set_heads(12);
  w.mutable_model()->set_hidden(1152);
  w.mutable_model()->set_kv_heads(6);
  w.mutable_parallelism()->set_tp(4);  // neither divides the other
  EXPECT_ERROR(w, "workload.parallelism.tp = 4: must divide model kv_heads (6) or be a multiple of it");
}

TEST(Plan, TpDividesFfn) {
  v1::Workload w = Base();
  w.mutable_model()->set_ffn_hidden(4097);
  EXPECT_ERROR(w, "workload.parallelism.tp = 2: must divide model ffn_hidden (4097)");
}

TEST(Plan, LayersCoverEveryVirtualStage) {
  v1::Workload w = Base();
  w.mutable_parallelism()->set_pp(16);
  w.mutable_parallelism()->set_tp(1);
  EXPECT_ERROR(w, "workload.parallelism.pp = 16: pp x model chunks per stage (1) must not exceed model layers (8)");
  // Uneven splits are allowed (Llama 3 405B: 126 layers on 16 stages).
  w.mutable_model()->set_layers(9);
  w.mutable_parallelism()->set_pp(4);
  EXPECT_EQ(Err(w), "");
}

TEST(Plan, InterleavedNeedsVpp) {
  v1::Workload w = Base();
  w.mutable_parallelism()->set_schedule("interleaved");
  EXPECT_ERROR(w, "workload.parallelism.vpp = 1: schedule \"interleaved\" needs vpp > 1");
  w.mutable_parallelism()->set_vpp(2);
  EXPECT_EQ(Err(w), "");
  w.mutable_parallelism()->set_vpp(8);  // 2 x 8 = 16 virtual stages > 8 layers
  EXPECT_ERROR(w, "workload.parallelism.pp = 2: pp x model chunks per stage (8)");
}

TEST(Plan, VppNeedsInterleaved) {
  v1::Workload w = Base();
  w.mutable_parallelism()->set_vpp(2);
  EXPECT_EQ(ResolvePlan(w, 64, "").schedule, Schedule::kInterleaved);  // implied when no schedule is named
  w.mutable_parallelism()->set_schedule("1f1b");
  EXPECT_ERROR(w, "workload.parallelism.vpp = 2: vpp > 1 needs schedule \"interleaved\"");
}

TEST(Plan, InterleavedNeedsMicrobatchesDivisibleByPp) {
  v1::Workload w = Base();
  w.mutable_parallelism()->set_schedule("interleaved");
  w.mutable_parallelism()->set_vpp(2);
  w.mutable_parallelism()->set_global_batch_size(48);  // 3 microbatches per pipeline
  EXPECT_ERROR(w, "needs microbatches per pipeline (3) divisible by pp (2)");
}

TEST(Plan, DualPipeNeedsTwicePpMicrobatches) {
  v1::Workload w = Base();
  w.mutable_parallelism()->set_schedule("dualpipe");
  w.mutable_parallelism()->set_global_batch_size(48);
  EXPECT_ERROR(w, "schedule \"dualpipe\" needs microbatches per pipeline (3) >= 2 x pp (4)");
}

TEST(Plan, ScheduleName) {
  v1::Workload w = Base();
  w.mutable_parallelism()->set_schedule("zb-v");
  EXPECT_ERROR(w, "workload.parallelism.schedule = \"zb-v\": must be one of");
}

TEST(Plan, RecomputeName) {
  v1::Workload w = Base();
  w.mutable_parallelism()->set_recompute("partial");
  EXPECT_ERROR(w, "workload.parallelism.recompute = \"partial\": must be one of \"none\", \"selective\", \"full\"");
}

TEST(Plan, RecomputeModulesDefaultToCoreAttention) {
  v1::Workload w = Base();
  EXPECT_EQ(ResolvePlan(w, 64, "").recompute_modules, 0u);
  w.mutable_parallelism()->set_recompute("selective");
  EXPECT_EQ(ResolvePlan(w, 64, "").recompute_modules, uint32_t{kRecomputeCoreAttn});
  w.mutable_parallelism()->add_recompute_modules("layernorm");
  w.mutable_parallelism()->add_recompute_modules("mlp");
  EXPECT_EQ(ResolvePlan(w, 64, "").recompute_modules, uint32_t{kRecomputeLayernorm | kRecomputeMlp});
  v1::Workload moe = Moe();
  moe.mutable_model()->set_shared_experts(1);
  moe.mutable_parallelism()->set_recompute("selective");
  for (const char* name : {"core_attn", "moe_act", "moe", "shared_experts"}) {
    moe.mutable_parallelism()->add_recompute_modules(name);
  }
  EXPECT_EQ(ResolvePlan(moe, 64, "").recompute_modules,
            uint32_t{kRecomputeCoreAttn | kRecomputeMoeAct | kRecomputeMoe | kRecomputeSharedExperts});
}

TEST(Plan, RecomputeModulesRejected) {
  v1::Workload w = Base();
  w.mutable_parallelism()->add_recompute_modules("mlp");
  EXPECT_ERROR(w, "workload.parallelism.recompute_modules = \"mlp\": needs recompute \"selective\"");
  w.mutable_parallelism()->set_recompute("full");
  EXPECT_ERROR(w,
               "workload.parallelism.recompute_modules = \"mlp\": needs recompute \"selective\" (recompute is "
               "\"full\")");
  w.mutable_parallelism()->set_recompute("selective");
  w.mutable_parallelism()->add_recompute_modules("attention");
  EXPECT_ERROR(w,
               "workload.parallelism.recompute_modules[1] = \"attention\": must be one of \"core_attn\", "
               "\"layernorm\", \"moe_act\", \"mlp\", \"mla_up_proj\", \"moe\", \"shared_experts\"");
  w.mutable_parallelism()->set_recompute_modules(1, "mlp");
  EXPECT_ERROR(w, "workload.parallelism.recompute_modules[1] = \"mlp\": listed twice");
  w.mutable_parallelism()->set_recompute_modules(1, "mla_up_proj");
  EXPECT_ERROR(w, "recompute_modules[1] = \"mla_up_proj\": needs multi-head latent attention");
  w.mutable_parallelism()->set_recompute_modules(1, "moe");
  EXPECT_ERROR(w, "recompute_modules[1] = \"moe\": needs a MoE model");
  w.mutable_parallelism()->set_recompute_modules(1, "moe_act");
  EXPECT_ERROR(w, "recompute_modules[1] = \"moe_act\": needs a MoE model");
  v1::Workload moe = Moe();
  moe.mutable_parallelism()->set_recompute("selective");
  moe.mutable_parallelism()->add_recompute_modules("shared_experts");
  EXPECT_ERROR(moe, "recompute_modules[0] = \"shared_experts\": needs a MoE model with shared experts");
  moe.mutable_parallelism()->set_recompute_modules(0, "mlp");
  EXPECT_ERROR(moe, "recompute_modules[0] = \"mlp\": needs dense MLP layers");
}

TEST(Plan, ZeroStage) {
  v1::Workload w = Base();
  w.mutable_parallelism()->set_zero_stage(4);
  EXPECT_ERROR(w, "workload.parallelism.zero_stage = 4: must be 0, 1, 2 or 3");
}

TEST(Plan, Precision) {
  v1::Workload w = Base();
  w.set_precision("fp4");
  EXPECT_ERROR(w, "workload.precision = \"fp4\": must be \"bf16\" or \"fp8\"");
  w.set_precision("fp8");
  EXPECT_TRUE(ResolvePlan(w, 64, "").fp8);
}

TEST(Plan, GlobalBatchRequiredAndDivisible) {
  v1::Workload w = Base();
  w.mutable_parallelism()->set_global_batch_size(0);
  EXPECT_ERROR(w, "workload.parallelism.global_batch_size = 0: must be > 0");
  w.mutable_parallelism()->set_global_batch_size(40);
  EXPECT_ERROR(w, "workload.parallelism.global_batch_size = 40: must be divisible by dp x micro_batch_size = 16");
  w.mutable_parallelism()->set_global_batch_size(64);
  w.mutable_parallelism()->set_micro_batch_size(8);
  EXPECT_ERROR(w, "must be divisible by dp x micro_batch_size = 128");
}

TEST(Plan, ContextParallelNeedsTwoCpChunks) {
  v1::Workload w = Base();
  w.mutable_model()->set_seq_len(1020);
  w.mutable_parallelism()->set_cp(4);
  EXPECT_ERROR(w, "workload.parallelism.cp = 4: 2 x cp must divide model seq_len (1020)");
}

TEST(Plan, SequenceParallelNeedsTpToDivideSequence) {
  v1::Workload w = Base();
  w.mutable_model()->set_seq_len(1025);
  w.mutable_parallelism()->set_sequence_parallel(true);
  EXPECT_ERROR(w, "workload.parallelism.sequence_parallel = true: tp (2) must divide the sequence");
}

TEST(Plan, ExpertParallelNeedsMoe) {
  v1::Workload w = Base();
  w.mutable_parallelism()->set_ep(2);
  EXPECT_ERROR(w, "workload.parallelism.ep = 2: ep > 1 needs a MoE model");
}

TEST(Plan, EpDividesExperts) {
  v1::Workload w = Moe();
  w.mutable_parallelism()->set_ep(3);
  EXPECT_ERROR(w, "workload.parallelism.ep = 3: must divide model routed_experts (16)");
}

// Redundant experts: ep divides experts + replicas (16 + 8 = 24: ep 4 holds 6 copies per rank, ep 16 is refused),
// replicas need ep > 1, and at most one replica per routed expert.
TEST(Plan, RedundantExperts) {
  v1::Workload w = Moe();
  w.mutable_moe_routing()->set_redundant_experts(8);
  w.mutable_parallelism()->set_ep(16);
  EXPECT_ERROR(w, "workload.parallelism.ep = 16: must divide routed_experts + redundant_experts (16 + 8)");
  w.mutable_parallelism()->set_ep(4);
  EXPECT_EQ(Err(w), "");
  w.mutable_parallelism()->set_ep(1);
  EXPECT_ERROR(w, "workload.moe_routing.redundant_experts = 8: replicas balance expert-parallel ranks: needs ep > 1");
  w.mutable_parallelism()->set_ep(4);
  w.mutable_moe_routing()->set_redundant_experts(20);
  EXPECT_ERROR(w, "workload.moe_routing.redundant_experts = 20: must not exceed routed_experts (16)");
  v1::Workload dense = Base();
  dense.mutable_moe_routing()->set_redundant_experts(4);
  EXPECT_ERROR(dense, "routing needs a MoE model");
}

// Megatron-LM's rules for the overlapped expert-parallel all-to-all: with pp > 1 it needs the interleaved schedule
// or DualPipe (1F1B pairs would chain every stage's forward and backward into one serial wait), and no full
// recompute. Without expert parallelism the flag has nothing to overlap and is not checked.
TEST(Plan, A2aOverlapNeedsVirtualStagesAndNoFullRecompute) {
  v1::Workload w = Moe();
  w.mutable_parallelism()->set_ep(4);
  w.mutable_parallelism()->set_overlap_moe_a2a(true);
  EXPECT_ERROR(w, "workload.parallelism.overlap_moe_a2a = true: with pp > 1 (pp = 2) needs schedule \"interleaved\" "
                  "(vpp > 1) or \"dualpipe\", not \"1f1b\"");
  w.mutable_parallelism()->set_schedule("gpipe");
  EXPECT_ERROR(w, "not \"gpipe\"");
  w.mutable_parallelism()->set_schedule("dualpipe");
  EXPECT_EQ(Err(w), "");
  w.mutable_parallelism()->set_schedule("interleaved");
  w.mutable_parallelism()->set_vpp(2);
  EXPECT_EQ(Err(w), "");
  w.mutable_parallelism()->set_recompute("full");
  EXPECT_ERROR(w, "workload.parallelism.overlap_moe_a2a = true: needs recompute other than \"full\"");
  v1::Workload one_stage = Moe();
  one_stage.mutable_parallelism()->set_pp(1);
  one_stage.mutable_parallelism()->set_ep(4);
  one_stage.mutable_parallelism()->set_overlap_moe_a2a(true);
  EXPECT_EQ(Err(one_stage), "");
  v1::Workload no_ep = Moe();
  no_ep.mutable_parallelism()->set_overlap_moe_a2a(true);
  EXPECT_EQ(Err(no_ep), "");
  one_stage.mutable_moe_routing()->set_dispatcher("allgather");
  EXPECT_ERROR(one_stage, "workload.parallelism.overlap_moe_a2a = true: needs the \"alltoall\" or \"flex\" "
                          "dispatcher, not \"allgather\"");
}

TEST(Plan, Fp8AttentionNeedsFp8) {
  v1::Workload w = Base();
  w.set_fp8_attention(true);
  EXPECT_ERROR(w, "workload.fp8_attention = true: needs workload.precision \"fp8\" (precision is \"bf16\")");
  w.set_precision("fp8");
  EXPECT_EQ(Err(w), "");
  EXPECT_TRUE(ResolvePlan(w, 64, "").fp8_attention);
}

TEST(Plan, FusedGroupedMlpNeedsFp8AGatedMoeAndTileWidths) {
  v1::Workload w = Moe();
  w.set_fused_grouped_mlp(true);
  EXPECT_ERROR(w, "workload.fused_grouped_mlp = true: needs workload.precision \"fp8\" (precision is \"bf16\")");
  w.set_precision("fp8");
  EXPECT_ERROR(w, "workload.fused_grouped_mlp = true: needs a gated MLP (gated_mlp: true)");
  w.mutable_model()->set_gated_mlp(true);
  EXPECT_EQ(Err(w), "");
  EXPECT_TRUE(ResolvePlan(w, 64, "").fused_grouped_mlp);
  w.mutable_model()->set_expert_ffn_hidden(640);
  EXPECT_ERROR(w, "needs hidden (1024) and expert_ffn_hidden / expert_tp (640) to be multiples of 256");
  v1::Workload dense = Base();
  dense.set_precision("fp8");
  dense.set_fused_grouped_mlp(true);
  EXPECT_ERROR(dense, "workload.fused_grouped_mlp = true: needs a MoE model (routed_experts > 0)");
}

TEST(Plan, DispatchDtypeFp8NeedsFp8AndTheFlexDispatcher) {
  v1::Workload w = Moe();
  w.mutable_moe_routing()->set_dispatch_dtype("fp16");
  EXPECT_ERROR(w, "workload.moe_routing.dispatch_dtype = \"fp16\": must be \"bf16\" or \"fp8\"");
  w.mutable_moe_routing()->set_dispatch_dtype("fp8");
  w.mutable_moe_routing()->set_dispatcher("flex");
  EXPECT_ERROR(w, "workload.moe_routing.dispatch_dtype = \"fp8\": needs workload.precision \"fp8\" and the \"flex\"");
  w.set_precision("fp8");
  EXPECT_EQ(Err(w), "");
  w.mutable_moe_routing()->set_dispatcher("alltoall");
  EXPECT_ERROR(w, "needs workload.precision \"fp8\" and the \"flex\" dispatcher");
  w.mutable_moe_routing()->set_dispatch_dtype("bf16");
  EXPECT_EQ(Err(w), "");
  v1::Workload dense = Base();
  dense.mutable_moe_routing()->set_dispatch_dtype("bf16");
  EXPECT_ERROR(dense, "routing needs a MoE model");
}

TEST(Plan, Fp8MoeGluInputNeedsFp8AndAGatedMoe) {
  v1::Workload w = Moe();
  w.mutable_memory()->set_fp8_moe_glu_input(true);
  EXPECT_ERROR(w, "workload.memory.fp8_moe_glu_input = true: FP8 storage of the GLU inputs needs workload.precision");
  w.set_precision("fp8");
  EXPECT_ERROR(w, "workload.memory.fp8_moe_glu_input = true: needs a MoE model with a gated MLP");
  w.mutable_model()->set_gated_mlp(true);
  EXPECT_EQ(Err(w), "");
  EXPECT_TRUE(ResolvePlan(w, 64, "").memory.fp8_moe_glu_input);
}

TEST(Plan, EpCarvedFromStage) {
  v1::Workload w = Moe();
  w.mutable_parallelism()->set_ep(16);
  w.mutable_parallelism()->set_expert_tp(2);  // ep x expert_tp = 32 = tp x cp x dp
  EXPECT_EQ(Err(w), "");
  w.mutable_parallelism()->set_pp(4);  // stage = 16 ranks
  EXPECT_ERROR(w, "workload.parallelism.ep = 16: ep x expert_tp (32) must divide tp x cp x dp (16)");
  w.mutable_parallelism()->set_expert_tp(1);  // experts span tensor-parallel ranks
  EXPECT_EQ(Err(w), "");
}

TEST(Plan, ExpertTpIsOneOrTp) {
  v1::Workload w = Moe();
  w.mutable_parallelism()->set_tp(4);
  w.mutable_parallelism()->set_expert_tp(2);
  EXPECT_ERROR(w, "workload.parallelism.expert_tp = 2: must be 1 or tp (4)");
}

TEST(Plan, MoeWithTpNeedsSequenceParallel) {
  v1::Workload w = Moe();
  w.mutable_parallelism()->set_sequence_parallel(false);
  EXPECT_ERROR(w, "workload.parallelism.sequence_parallel = false: must be true for a MoE model with tp > 1");
}

TEST(Plan, MoeRoutingRules) {
  v1::Workload w = Moe();
  w.mutable_moe_routing()->set_distribution("zipf");
  EXPECT_ERROR(w, "workload.moe_routing.distribution = \"zipf\"");
  w.mutable_moe_routing()->set_distribution("skewed");
  w.mutable_moe_routing()->set_imbalance(9);  // > 16 experts / top 2
  EXPECT_ERROR(w, "workload.moe_routing.imbalance");
  w.mutable_moe_routing()->set_imbalance(2);
  EXPECT_EQ(Err(w), "");
  w.mutable_moe_routing()->set_distribution("balanced");
  EXPECT_ERROR(w, "applies only to distribution \"skewed\"");
}

TEST(Plan, ModelErrorsComeThrough) {
  v1::Workload w = Base();
  w.mutable_model()->set_preset("nope");
  EXPECT_ERROR(w, "workload.model.preset = \"nope\"");
}

}  // namespace
}  // namespace clustersim::wl
