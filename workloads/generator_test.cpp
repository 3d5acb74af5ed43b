#include "workloads/generator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <numeric>

#include "common/error.h"
#include "workloads/memory.h"
#include "workloads/model.h"
#include "workloads/moe_routing.h"
#include "workloads/plan.h"
#include "workloads/test_list_scheduler.h"

namespace clustersim::wl {
namespace {

// GPT-style model with a tiny vocabulary so that pipeline stages are uniform: 8 layers, h 1024, 16 heads.
v1::Workload Dense(uint32_t tp, uint32_t pp, uint32_t dp, uint32_t microbatches) {
  v1::Workload w;
  v1::Model* m = w.mutable_model();
  m->set_layers(8);
  m->set_hidden(1024);
  m->set_heads(16);
  m->set_vocab(64);
  m->set_seq_len(1024);
  m->set_tied_embeddings(true);
  v1::Parallelism* p = w.mutable_parallelism();
  p->set_tp(tp);
  p->set_pp(pp);
  p->set_dp(dp);
  p->set_global_batch_size(dp * microbatches);
  return w;
}

v1::Workload Moe(uint32_t pp, uint32_t dp, uint32_t ep, uint32_t microbatches) {
  v1::Workload w = Dense(1, pp, dp, microbatches);
  v1::Model* m = w.mutable_model();
  m->set_routed_experts(8);
  m->set_top_k(2);
  m->set_expert_ffn_hidden(1024);
  m->set_shared_experts(1);
  w.mutable_parallelism()->set_ep(ep);
  return w;
}

uint32_t Gpus(const v1::Workload& w) {
  const v1::Parallelism& p = w.parallelism();
  return std::max(1u, p.tp()) * std::max(1u, p.cp()) * std::max(1u, p.pp()) * std::max(1u, p.dp());
}

StepProgram Build(const v1::Workload& w, uint64_t seed = 1) { return BuildStepProgram(w, Gpus(w), 8, seed); }

double FlopTime(const Op& op) { return op.type == OpType::kCompute ? op.flops * 1e-12 : 0; }

double SumBytes(const StepProgram& p, uint32_t stage, Dim dim, Coll coll) {
  double s = 0;
  for (const Op& op : p.stages[stage]) {
    if (op.type == OpType::kCollective && op.dim == dim && op.coll == coll) s += double(op.comm_bytes);
  }
  return s;
}

int Count(const StepProgram& p, uint32_t stage, const std::function<bool(const Op&)>& pred) {
  int n = 0;
  for (const Op& op : p.stages[stage]) n += pred(op) ? 1 : 0;
  return n;
}

TEST(PipelineBubble, OneFOneBMatchesFormula) {
  for (auto [pp, m] : {std::pair{4u, 8u}, std::pair{4u, 16u}, std::pair{8u, 8u}, std::pair{2u, 1u}}) {
    SCOPED_TRACE(::testing::Message() << "pp " << pp << " m " << m);
    const StepProgram p = Build(Dense(1, pp, 1, m));
    const testing::ScheduleResult r = testing::RunListSchedule(p, FlopTime);
    ASSERT_FALSE(r.deadlock);
    EXPECT_EQ(r.unmatched_sends, 0u);
    const double expected = double(pp - 1) / (m + pp - 1);
    for (uint32_t s = 0; s < pp; ++s) EXPECT_NEAR(r.bubble(s), expected, 0.01) << "stage " << s;
  }
}

TEST(PipelineBubble, GpipeMatchesFormula) {
  v1::Workload w = Dense(1, 4, 1, 8);
  w.mutable_parallelism()->set_schedule("gpipe");
  const testing::ScheduleResult r = testing::RunListSchedule(Build(w), FlopTime);
  ASSERT_FALSE(r.deadlock);
  EXPECT_NEAR(r.bubble(0), 3.0 / 11, 0.01);
}

TEST(PipelineBubble, InterleavedDividesBubbleByVpp) {
  v1::Workload w = Dense(1, 4, 1, 8);
  w.mutable_parallelism()->set_schedule("interleaved");
  w.mutable_parallelism()->set_vpp(2);
  const StepProgram p = Build(w);
  EXPECT_EQ(p.chunks_per_stage, 2u);
  const testing::ScheduleResult r = testing::RunListSchedule(p, FlopTime);
  ASSERT_FALSE(r.deadlock);
  EXPECT_EQ(r.unmatched_sends, 0u);
  const double expected = 3.0 / (2 * 8 + 3);  // (p-1) / (v m + p - 1)
  for (uint32_t s = 0; s < 4; ++s) EXPECT_NEAR(r.bubble(s), expected, 0.01) << "stage " << s;
}

TEST(PipelineBubble, DualPipeHalvesTheBubble) {
  v1::Workload w = Dense(1, 4, 1, 8);
  w.mutable_parallelism()->set_schedule("dualpipe");
  const StepProgram p = Build(w);
  EXPECT_EQ(p.chunks_per_stage, 2u);
  const testing::ScheduleResult r = testing::RunListSchedule(p, FlopTime);
  ASSERT_FALSE(r.deadlock);
  EXPECT_EQ(r.unmatched_sends, 0u);
  const double one_f_one_b = 3.0 / 11;
  // Measured 0.187 vs 0.273 (the ideal halving, 1.5 / 9.5 = 0.158, needs the zero-bubble B/W split).
  for (uint32_t s = 0; s < 4; ++s) EXPECT_LT(r.bubble(s), 0.75 * one_f_one_b) << "stage " << s;
}

TEST(PipelineBubble, EveryScheduleCompletesWithMoeOverlap) {
  const char* schedules[] = {"1f1b", "gpipe", "interleaved", "dualpipe"};
  for (const char* s : schedules) {
    for (bool overlap : {false, true}) {
      SCOPED_TRACE(::testing::Message() << s << " overlap " << overlap);
      v1::Workload w = Moe(4, 2, 2, 8);
      w.mutable_parallelism()->set_schedule(s);
      if (std::string(s) == "interleaved") w.mutable_parallelism()->set_vpp(2);
      w.mutable_parallelism()->set_overlap_moe_a2a(overlap);
      w.mutable_parallelism()->set_overlap_grad_reduce(true);
      const std::string sched = s;
      if (overlap && (sched == "1f1b" || sched == "gpipe")) {  // Megatron-LM's rule: needs vpp > 1 or DualPipe
        EXPECT_THROW(Build(w), InputError);
        continue;
      }
      const StepProgram p = Build(w);
      auto time = [](const Op& op) {
        return op.type == OpType::kCompute ? op.flops * 1e-12 : double(op.comm_bytes) * 1e-10;
      };
      const testing::ScheduleResult r = testing::RunListSchedule(p, time);
      EXPECT_FALSE(r.deadlock);
      EXPECT_EQ(r.unmatched_sends, 0u);
    }
  }
}

TEST(PipelineBubble, NoDeadlockAcrossShapes) {
  for (uint32_t pp : {1u, 2u, 3u, 4u, 8u}) {
    for (uint32_t m : {1u, 2u, 5u, 8u, 16u, 24u}) {
      for (const char* s : {"1f1b", "gpipe", "interleaved", "dualpipe"}) {
        const std::string sched = s;
        if (sched == "interleaved" && m % pp != 0) continue;
        if (sched == "dualpipe" && m < 2 * pp) continue;
        SCOPED_TRACE(::testing::Message() << s << " pp " << pp << " m " << m);
        v1::Workload w = Moe(pp, 2, 2, m);
        w.mutable_model()->set_layers(16);
        w.mutable_model()->set_hidden(256);
        w.mutable_model()->set_seq_len(128);
        w.mutable_model()->set_expert_ffn_hidden(256);
        w.mutable_parallelism()->set_schedule(sched);
        if (sched == "interleaved") w.mutable_parallelism()->set_vpp(2);
        // The all-to-all overlap where it is allowed (wl::A2aOverlapConflict): every schedule at pp 1, else
        // interleaved and DualPipe.
        w.mutable_parallelism()->set_overlap_moe_a2a(pp == 1 || sched == "interleaved" || sched == "dualpipe");
        const testing::ScheduleResult r = testing::RunListSchedule(Build(w), FlopTime);
        ASSERT_FALSE(r.deadlock);
        ASSERT_EQ(r.unmatched_sends, 0u);
        // Messages between two neighbours in one direction are received in the order they were sent, except with
        // DualPipeV, where chunk-1 activations and chunk-0 gradients share a direction: match on the key there.
        if (sched != "dualpipe") {
          EXPECT_EQ(r.fifo_mismatches, 0u);
        }
      }
    }
  }
}

// Data-parallel traffic of one rank (tp = pp = 1, one microbatch): parameters P, 2 bytes each.
TEST(DataParallel, ZeroTrafficVolumes) {
  double bus[4] = {0, 0, 0, 0};
  for (uint32_t zero : {0u, 1u, 2u, 3u}) {
    SCOPED_TRACE(zero);
    v1::Workload w = Dense(1, 1, 4, 1);
    w.mutable_parallelism()->set_zero_stage(zero);
    const StepProgram p = Build(w);
    const double grad_bytes = 2 * CountParams(ResolveModel(w.model(), "")).total;
    const double ar = SumBytes(p, 0, Dim::kDp, Coll::kAllReduce);
    const double rs = SumBytes(p, 0, Dim::kDp, Coll::kReduceScatter);
    const double ag = SumBytes(p, 0, Dim::kDp, Coll::kAllGather);
    const double n = 4;
    bus[zero] = ar * 2 * (n - 1) / n + (rs + ag) * (n - 1) / n;
    if (zero == 0) {
      EXPECT_NEAR(ar / grad_bytes, 1.0, 1e-4);  // all-reduce of the gradients: 2x their size in bus terms
      EXPECT_EQ(rs + ag, 0);
    } else if (zero < 3) {
      EXPECT_EQ(ar, 0);
      EXPECT_NEAR(rs / grad_bytes, 1.0, 1e-4);  // gradient reduce-scatter
      EXPECT_NEAR(ag / grad_bytes, 1.0, 1e-4);  // parameter all-gather after the optimizer
    } else {
      EXPECT_NEAR(ag / grad_bytes, 2.0, 1e-4);  // parameters gathered before forward and before backward
      EXPECT_NEAR(rs / grad_bytes, 1.0, 1e-4);
    }
  }
  EXPECT_NEAR(bus[1] / bus[0], 1.0, 1e-6);
  EXPECT_NEAR(bus[3] / bus[0], 1.5, 1e-6);  // ZeRO-3: 3x parameters vs 2x
}

TEST(DataParallel, OverlappedBucketsAreAsyncAndAwaitedBeforeTheOptimizer) {
  v1::Workload w = Dense(1, 1, 4, 2);
  w.mutable_model()->set_hidden(2048);  // about 400M parameters: several 40M buckets
  w.mutable_model()->set_heads(16);
  w.mutable_parallelism()->set_zero_stage(1);
  w.mutable_parallelism()->set_overlap_grad_reduce(true);
  w.mutable_parallelism()->set_overlap_param_gather(true);
  const StepProgram p = Build(w);
  const std::vector<Op>& ops = p.stages[0];
  size_t optimizer = 0, wait = 0, last_backward = 0, buckets = 0;
  for (size_t i = 0; i < ops.size(); ++i) {
    const Op& op = ops[i];
    if (op.type == OpType::kCompute && op.compute == ComputeKind::kOptimizer) optimizer = i;
    if (op.type == OpType::kWait && op.phase == Phase::kGradSync) wait = i;
    if (op.type == OpType::kCompute && op.phase == Phase::kBackward) last_backward = i;
    if (op.type == OpType::kCollective && op.coll == Coll::kReduceScatter && op.dim == Dim::kDp) {
      EXPECT_TRUE(op.async);
      EXPECT_EQ(op.phase, Phase::kGradSync);
      ++buckets;
    }
  }
  EXPECT_GE(buckets, 5u);
  EXPECT_GT(wait, 0u);
  EXPECT_LT(wait, optimizer);
  EXPECT_GT(last_backward, 0u);
  // The parameter all-gather runs async after the optimizer; the next step's first forward waits for it.
  EXPECT_EQ(ops.front().type, OpType::kWait);
  const uint32_t tag = ops.front().tag;
  EXPECT_GT(Count(p, 0, [&](const Op& op) { return op.async && op.coll == Coll::kAllGather && op.tag == tag; }), 0);
}

TEST(TensorParallel, SequenceParallelCollectivesAndBytes) {
  for (bool sp : {false, true}) {
    SCOPED_TRACE(sp);
    v1::Workload w = Dense(2, 1, 1, 1);
    w.mutable_parallelism()->set_sequence_parallel(sp);
    const StepProgram p = Build(w);
    const int layers = 8;
    auto tp_ops = [&](Phase phase, Coll c) {
      return Count(p, 0, [&](const Op& op) {
        return op.type == OpType::kCollective && op.dim == Dim::kTp && op.phase == phase && op.coll == c;
      });
    };
    if (sp) {
      // Per layer: all-gather before and reduce-scatter after attention and MLP; embedding reduce-scatter, output
      // layer all-gather; the loss statistics all-reduce. Backward swaps them.
      EXPECT_EQ(tp_ops(Phase::kForward, Coll::kAllGather), 2 * layers + 1);
      EXPECT_EQ(tp_ops(Phase::kForward, Coll::kReduceScatter), 2 * layers + 1);
      EXPECT_EQ(tp_ops(Phase::kBackward, Coll::kAllGather), 2 * layers + 1);
      EXPECT_EQ(tp_ops(Phase::kBackward, Coll::kReduceScatter), 2 * layers + 1);
    } else {
      EXPECT_EQ(tp_ops(Phase::kForward, Coll::kAllReduce), 2 * layers + 2);
      EXPECT_EQ(tp_ops(Phase::kBackward, Coll::kAllReduce), 2 * layers + 1);
      EXPECT_EQ(tp_ops(Phase::kForward, Coll::kAllGather), 0);
    }
    for (const Op& op : p.stages[0]) {
      if (op.type == OpType::kCollective && op.dim == Dim::kTp && op.coll != Coll::kAllReduce) {
        EXPECT_EQ(op.comm_bytes, 1024u * 1024 * 2);  // s b h x 2 bytes
      }
    }
  }
}

TEST(ContextParallel, KeyValueAllGatherAndPipelineBytes) {
  v1::Workload w = Dense(2, 2, 1, 2);
  w.mutable_parallelism()->set_cp(2);
  w.mutable_parallelism()->set_sequence_parallel(true);
  const StepProgram p = Build(w);
  // K and V of the full sequence for this rank's 8 heads of 64: 2 x 1024 x 8 x 128 bytes.
  const uint64_t kv = 2ull * 1024 * 8 * 64 * 2;
  int ag = 0, rs = 0;
  for (const Op& op : p.stages[0]) {
    if (op.type != OpType::kCollective || op.dim != Dim::kCp) continue;
    EXPECT_EQ(op.comm_bytes, kv);
    ag += op.coll == Coll::kAllGather;
    rs += op.coll == Coll::kReduceScatter;
  }
  EXPECT_EQ(ag, 4 * 2);  // 4 layers on the stage x 2 microbatches
  EXPECT_EQ(rs, 4 * 2);
  // Pipeline activations: micro_batch x seq / cp x hidden x 2 bytes / tp (sequence parallel).
  for (const Op& op : p.stages[0]) {
    if (op.type == OpType::kSend) {
      EXPECT_EQ(op.comm_bytes, 1024u / 2 * 1024 * 2 / 2);
    }
  }
  EXPECT_EQ(Count(p, 0, [](const Op& op) { return op.type == OpType::kSend; }), 2);
  EXPECT_EQ(Count(p, 1, [](const Op& op) { return op.type == OpType::kSend; }), 2);
  // Dense gradients are reduced over data x context parallel ranks (here dp = 1, cp = 2).
  EXPECT_GT(SumBytes(p, 0, Dim::kDpCp, Coll::kAllReduce), 0);
}

// The compute FLOPs of the representatives, times the ranks sharing their work, are the hardware FLOPs.
TEST(Flops, OpsAddUpToHardwareFlops) {
  for (const char* rec : {"none", "selective", "full"}) {
    SCOPED_TRACE(rec);
    v1::Workload w = Dense(2, 2, 2, 4);
    w.mutable_model()->set_vocab(50000);
    w.mutable_parallelism()->set_cp(2);
    w.mutable_parallelism()->set_recompute(rec);
    const StepProgram p = Build(w);
    double flops = 0, recompute = 0;
    for (const auto& stage : p.stages) {
      for (const Op& op : stage) {
        if (op.type != OpType::kCompute) continue;
        flops += op.flops;
        if (op.phase == Phase::kRecompute) recompute += op.flops;
      }
    }
    const double ranks = 2 * 2 * 2;  // tp x cp x dp
    EXPECT_NEAR(flops * ranks / p.hardware_flops_per_step, 1.0, 1e-9);
    EXPECT_NEAR(recompute * ranks, p.hardware_flops_per_step - p.model_flops_per_step,
                1e-9 * p.hardware_flops_per_step);
    if (std::string(rec) == "none") {
      EXPECT_EQ(recompute, 0);
    }
  }
}

TEST(Recompute, OpsAreMarkedAndPlacedBeforeBackward) {
  v1::Workload w = Dense(1, 1, 1, 1);
  w.mutable_parallelism()->set_recompute("selective");
  const StepProgram p = Build(w);
  int selective = 0;
  for (const Op& op : p.stages[0]) {
    if (op.phase == Phase::kRecompute) {
      EXPECT_EQ(op.compute, ComputeKind::kAttention);
      ++selective;
    }
  }
  EXPECT_EQ(selective, 8);
}

TEST(Moe, AllToAllSizedByTheMostLoadedRank) {
  v1::Workload w = Moe(1, 4, 4, 2);
  const StepProgram p = Build(w);
  // Balanced: each EP rank receives its own tokens x top_k: 1024 x 2 pairs of 1024 x 2 bytes.
  int a2a = 0, expert_gemms = 0;
  for (const Op& op : p.stages[0]) {
    if (op.type == OpType::kCollective && op.coll == Coll::kAllToAll) {
      EXPECT_EQ(op.dim, Dim::kEp);
      EXPECT_EQ(op.comm_bytes, 1024u * 2 * 1024 * 2);
      ++a2a;
    }
    if (op.type == OpType::kCompute && op.compute == ComputeKind::kGroupedGemm && op.gemm_count == 2 &&
        op.phase == Phase::kForward) {
      ++expert_gemms;  // 8 experts / 4 EP ranks = 2 local experts
    }
  }
  EXPECT_EQ(expert_gemms, 8 * 2 * 2);  // 8 layers x (fc1, fc2) x 2 microbatches
  EXPECT_EQ(a2a, 8 * 4 * 2);           // 8 layers x (dispatch, combine) x (forward, backward) x 2 microbatches
  EXPECT_DOUBLE_EQ(p.moe_load_imbalance, 1.0);
  // Expert gradients are reduced over the expert-data-parallel group (4 x 1 / 4 = 1 here: none), dense over dp.
  EXPECT_EQ(SumBytes(p, 0, Dim::kEdp, Coll::kAllReduce), 0);
  EXPECT_GT(SumBytes(p, 0, Dim::kDp, Coll::kAllReduce), 0);

  w.mutable_parallelism()->set_ep(2);  // edp = 2
  const StepProgram q = Build(w);
  const LayerParams lp = CountLayerParams(ResolveModel(w.model(), ""), true);
  EXPECT_NEAR(SumBytes(q, 0, Dim::kEdp, Coll::kAllReduce), 8 * 2 * lp.routed_experts / 2, 1);

  v1::Workload skewed = Moe(1, 4, 4, 2);
  skewed.mutable_moe_routing()->set_distribution("skewed");
  skewed.mutable_moe_routing()->set_imbalance(3);
  const StepProgram s = Build(skewed);
  EXPECT_GT(s.moe_load_imbalance, 1.2);
  uint64_t max_a2a = 0;
  for (const Op& op : s.stages[0]) {
    if (op.type == OpType::kCollective && op.coll == Coll::kAllToAll) max_a2a = std::max(max_a2a, op.comm_bytes);
  }
  EXPECT_GT(max_a2a, 1024u * 2 * 1024 * 2);
}

// An interleaved schedule (the overlap needs vpp > 1 with pp > 1: Megatron-LM's rule).
v1::Workload InterleavedMoe(uint32_t pp, uint32_t dp, uint32_t ep, uint32_t microbatches) {
  v1::Workload w = Moe(pp, dp, ep, microbatches);
  w.mutable_parallelism()->set_schedule("interleaved");
  w.mutable_parallelism()->set_vpp(2);
  return w;
}

TEST(Moe, OverlapInterleavesForwardAndBackwardOfAPair) {
  v1::Workload w = InterleavedMoe(2, 2, 2, 4);
  w.mutable_parallelism()->set_overlap_moe_a2a(true);
  const StepProgram p = Build(w);
  // Find a forward async all-to-all followed by backward compute before its wait.
  const std::vector<Op>& ops = p.stages[0];
  bool interleaved = false;
  for (size_t i = 0; i < ops.size() && !interleaved; ++i) {
    if (!(ops[i].async && ops[i].coll == Coll::kAllToAll && ops[i].phase == Phase::kForward)) continue;
    for (size_t j = i + 1; j < ops.size(); ++j) {
      if (ops[j].type == OpType::kWait && ops[j].tag == ops[i].tag) break;
      if (ops[j].type == OpType::kCompute && ops[j].phase == Phase::kBackward) {
        interleaved = true;
        break;
      }
    }
  }
  EXPECT_TRUE(interleaved);
}

// With the interleaved schedule the paired forward and backward hide each other's exchanges without chaining the
// stages into one serial wait (what 1F1B pairs did, and why the overlap needs vpp > 1 with pp > 1): every stage
// finishes sooner with the overlap than without it.
TEST(Moe, InterleavedOverlapHidesExchangesWithoutSerialisingStages) {
  auto finish = [](bool overlap) {
    v1::Workload w = InterleavedMoe(4, 2, 2, 8);
    w.mutable_parallelism()->set_overlap_moe_a2a(overlap);
    auto time = [](const Op& op) {
      if (op.type == OpType::kCompute) return op.flops * 1e-12;
      return op.coll == Coll::kAllToAll ? double(op.comm_bytes) * 1e-9 : 0.0;
    };
    return testing::RunListSchedule(Build(w), time);
  };
  const testing::ScheduleResult with = finish(true), without = finish(false);
  ASSERT_FALSE(with.deadlock);
  for (size_t s = 0; s < with.finish.size(); ++s) EXPECT_LT(with.finish[s], without.finish[s]) << "stage " << s;
}

// workload.fp8_attention marks the attention ops (forward, backward, recompute) and nothing else.
TEST(Generator, Fp8AttentionMarksTheAttentionOpsOnly) {
  v1::Workload w = Dense(1, 2, 2, 4);
  w.set_precision("fp8");
  w.mutable_parallelism()->set_recompute("selective");
  for (bool on : {false, true}) {
    w.set_fp8_attention(on);
    size_t attention = 0;
    const StepProgram p = Build(w);
    for (const Op& op : p.stages[0]) {
      const bool is_attention = op.type == OpType::kCompute && op.compute == ComputeKind::kAttention;
      attention += is_attention;
      EXPECT_EQ(op.fp8, on && is_attention);
    }
    EXPECT_GT(attention, 0u);
  }
}

// workload.fused_grouped_mlp: the GLU and fc2's input quantise run in fc1's epilogue (and their backward in fc2's
// dgrad epilogue), so each MoE layer keeps one quantise pass of two and no expert activation pass; the FLOPs stay.
TEST(Moe, FusedGroupedMlpDropsTheActivationAndTheSecondQuantise) {
  struct Count {
    size_t quantize = 0;
    double flops = 0, elementwise_bytes = 0, grouped_bytes = 0;
  };
  auto count = [](bool fused) {
    v1::Workload w = Moe(1, 8, 8, 2);
    w.set_precision("fp8");
    w.mutable_model()->set_gated_mlp(true);
    w.set_fused_grouped_mlp(fused);
    Count c;
    const StepProgram p = Build(w);
    for (const Op& op : p.stages[0]) {
      if (op.type != OpType::kCompute) continue;
      c.quantize += op.compute == ComputeKind::kQuantize;
      c.flops += op.flops;
      if (op.compute == ComputeKind::kElementwise) c.elementwise_bytes += op.bytes;
      if (op.compute == ComputeKind::kGroupedGemm) c.grouped_bytes += op.bytes;
    }
    return c;
  };
  const Count unfused = count(false), fused = count(true);
  ASSERT_GT(unfused.quantize, 0u);
  EXPECT_EQ(fused.quantize * 2, unfused.quantize);
  EXPECT_DOUBLE_EQ(fused.flops, unfused.flops);
  EXPECT_LT(fused.elementwise_bytes, unfused.elementwise_bytes);
  EXPECT_GT(fused.grouped_bytes, unfused.grouped_bytes);  // the FP8 copies fc1's epilogue writes
}

// A routing memo shared by several programs (the plan search's) leaves every program as it is built without one.
TEST(Moe, RoutingMemoBuildsTheSameProgram) {
  v1::Workload w = Moe(2, 8, 8, 4);
  w.mutable_moe_routing()->set_distribution("skewed");
  w.mutable_moe_routing()->set_imbalance(2.5);
  w.mutable_moe_routing()->set_dispatcher("flex");
  RoutingMemo memo;
  for (int round = 0; round < 2; ++round) {
    const StepProgram with = BuildStepProgram(w, Gpus(w), 8, 3, &memo), without = BuildStepProgram(w, Gpus(w), 8, 3);
    ASSERT_EQ(with.stages.size(), without.stages.size());
    for (size_t s = 0; s < with.stages.size(); ++s) {
      ASSERT_EQ(with.stages[s].size(), without.stages[s].size());
      for (size_t i = 0; i < with.stages[s].size(); ++i) {
        EXPECT_EQ(with.stages[s][i].comm_bytes, without.stages[s][i].comm_bytes);
        EXPECT_EQ(with.stages[s][i].flops, without.stages[s][i].flops);
        EXPECT_EQ(with.stages[s][i].internode_scale, without.stages[s][i].internode_scale);
      }
    }
    EXPECT_EQ(with.moe_load_imbalance, without.moe_load_imbalance);
  }
  EXPECT_GT(memo.size(), 0u);
}

TEST(Moe, PerNodeDeduplicationScalesInternodeBytes) {
  // The flex (DeepEP) dispatcher sends a token once per destination node; NCCL's all-to-all sends every pair, with
  // or without node-limited routing.
  const auto scales = [](const std::string& dispatcher, uint32_t max_nodes) {
    v1::Workload w = Moe(1, 32, 8, 1);
    w.mutable_parallelism()->set_tp(1);
    w.mutable_model()->set_routed_experts(32);
    w.mutable_model()->set_top_k(8);
    w.mutable_moe_routing()->set_max_nodes_per_token(max_nodes);
    w.mutable_moe_routing()->set_dispatcher(dispatcher);
    const StepProgram p = BuildStepProgram(w, 32, 2, 3);  // 8 EP ranks over 4 nodes of 2
    std::vector<double> out;
    for (const Op& op : p.stages[0])
      if (op.coll == Coll::kAllToAll && op.type == OpType::kCollective) out.push_back(op.internode_scale);
    return out;
  };
  for (uint32_t max_nodes : {0u, 2u}) {
    const std::vector<double> flex = scales("flex", max_nodes), nccl = scales("alltoall", max_nodes);
    ASSERT_FALSE(flex.empty());
    ASSERT_FALSE(nccl.empty());
    for (double x : flex) {
      EXPECT_GT(x, 0.0);
      EXPECT_LT(x, 0.6) << max_nodes;
    }
    for (double x : nccl) EXPECT_EQ(x, 1.0) << max_nodes;
  }
  // Top-8 over 4 nodes of 2 ranks: about 2.7 distinct remote nodes for 6 remote pairs (0.45); limited to 2 nodes,
  // about 1.5 for 6 (0.25).
  EXPECT_LT(scales("flex", 2)[0], scales("flex", 0)[0]);
}

// Compute ops of `kind` in `phase` on stage 0, and the sum of their flops and bytes.
struct KindCount {
  int n = 0;
  double flops = 0, bytes = 0;
  int host_bound = 0;
  uint64_t host_kernels = 0;
};
KindCount CountKind(const StepProgram& p, ComputeKind kind, Phase phase) {
  KindCount c;
  for (const Op& op : p.stages[0]) {
    if (op.type != OpType::kCompute || op.compute != kind || op.phase != phase) continue;
    ++c.n;
    c.flops += op.flops;
    c.bytes += op.bytes;
    c.host_bound += op.host_bound ? 1 : 0;
    c.host_kernels += op.host_kernels;
  }
  return c;
}

TEST(Moe, LayerPartsArePricedSeparately) {
  v1::Workload w = Moe(1, 4, 4, 2);  // 8 MoE layers x 2 micro-batches, default dispatcher alltoall, bf16
  const StepProgram p = Build(w);
  constexpr int kPasses = 8 * 2;
  EXPECT_EQ(CountKind(p, ComputeKind::kRouter, Phase::kForward).n, kPasses);
  // One device-to-host sync per MoE layer and micro-batch, forward only.
  EXPECT_EQ(CountKind(p, ComputeKind::kHostSync, Phase::kForward).n, kPasses);
  EXPECT_EQ(CountKind(p, ComputeKind::kHostSync, Phase::kBackward).n, 0);
  // Global permute, local permute, local unpermute, global unpermute.
  EXPECT_EQ(CountKind(p, ComputeKind::kPermute, Phase::kForward).n, 4 * kPasses);
  const KindCount gemm = CountKind(p, ComputeKind::kGroupedGemm, Phase::kForward);
  EXPECT_EQ(gemm.n, 2 * kPasses);
  EXPECT_EQ(gemm.host_bound, gemm.n);  // issued after the sync
  EXPECT_EQ(CountKind(p, ComputeKind::kGroupedGemm, Phase::kBackward).host_bound, 0);
  EXPECT_EQ(CountKind(p, ComputeKind::kQuantize, Phase::kForward).n, 0);  // bf16
  for (const Op& op : p.stages[0])
    if (op.compute == ComputeKind::kGroupedGemm && op.type == OpType::kCompute) {
      EXPECT_DOUBLE_EQ(op.gemm_min_dim, 1024);  // min(hidden 1024, 2 x ffn 1024) and min(ffn, hidden)
    }

  w.set_precision("fp8");
  w.set_fp8_recipe("blockwise");  // one-pass casts
  const StepProgram q = Build(w);
  const KindCount quant = CountKind(q, ComputeKind::kQuantize, Phase::kForward);
  EXPECT_EQ(quant.n, 2 * kPasses);  // the inputs of fc1 and fc2
  // Rows 1024 x top_k 2 per rank, 3 bytes per element (read BF16, write FP8) of hidden + ffn.
  const double values = kPasses * 2048.0 * (1024 + 1024);
  EXPECT_DOUBLE_EQ(quant.bytes, 3 * values);
  EXPECT_DOUBLE_EQ(CountKind(q, ComputeKind::kQuantize, Phase::kBackward).bytes, 3 * quant.bytes);
  // Per-tensor current scaling (the default recipe) reads every quantised tensor once more for its amax, forward and
  // backward, and launches amax and scale kernels beside each cast.
  w.set_fp8_recipe("tensorwise");
  const StepProgram cs = Build(w);
  const KindCount cs_quant = CountKind(cs, ComputeKind::kQuantize, Phase::kForward);
  EXPECT_DOUBLE_EQ(cs_quant.bytes, 5 * values);
  EXPECT_DOUBLE_EQ(CountKind(cs, ComputeKind::kQuantize, Phase::kBackward).bytes, 11 * values);
  EXPECT_EQ(cs_quant.host_kernels, 3 * quant.host_kernels);
}

// The flex dispatcher permutes inside the exchange and has no host sync of its own; TransformerEngine's GroupedLinear
// then needs the experts' token counts on the host (Megatron-Core's TEGroupedMLP: one .tolist() per MoE layer and
// micro-batch, forward), so the expert GEMMs are host-bound, unless the fused grouped MLP keeps the counts on the
// device.
TEST(Moe, FlexDispatcherFusesPermuteAndSyncsOnlyForTheExperts) {
  v1::Workload w = Moe(1, 4, 4, 2);
  w.set_precision("fp8");
  const StepProgram a2a = Build(w);
  w.mutable_moe_routing()->set_dispatcher("flex");
  const StepProgram flex = Build(w);
  EXPECT_EQ(CountKind(flex, ComputeKind::kHostSync, Phase::kForward).n,
            CountKind(a2a, ComputeKind::kHostSync, Phase::kForward).n);  // one per MoE layer and micro-batch
  EXPECT_EQ(CountKind(flex, ComputeKind::kHostSync, Phase::kForward).n, 8u * 2);
  EXPECT_EQ(CountKind(flex, ComputeKind::kHostSync, Phase::kBackward).n, 0u);
  EXPECT_EQ(CountKind(flex, ComputeKind::kPermute, Phase::kForward).n, 2 * 8 * 2);  // local permute and unpermute
  const auto flex_gemm = CountKind(flex, ComputeKind::kGroupedGemm, Phase::kForward);
  EXPECT_EQ(flex_gemm.host_bound, flex_gemm.n);  // issued after the sync
  v1::Workload fused = w;
  fused.mutable_model()->set_gated_mlp(true);
  fused.set_fused_grouped_mlp(true);
  EXPECT_EQ(CountKind(Build(fused), ComputeKind::kHostSync, Phase::kForward).n, 0u);
  EXPECT_LT(CountKind(flex, ComputeKind::kPermute, Phase::kForward).bytes,
            CountKind(a2a, ComputeKind::kPermute, Phase::kForward).bytes);
  // DeepEP dispatches FP8 (a scale per 128 values); the NCCL all-to-all dispatcher BF16.
  uint64_t flex_dispatch = 0, a2a_dispatch = 0;
  for (const Op& op : flex.stages[0])
    if (op.type == OpType::kCollective && op.coll == Coll::kAllToAll)
      flex_dispatch = std::max(flex_dispatch, op.comm_bytes);
  for (const Op& op : a2a.stages[0])
    if (op.type == OpType::kCollective && op.coll == Coll::kAllToAll)
      a2a_dispatch = std::max(a2a_dispatch, op.comm_bytes);
  EXPECT_EQ(a2a_dispatch, 1024u * 2 * 1024 * 2);
  std::vector<uint64_t> sizes;
  for (const Op& op : flex.stages[0])
    if (op.type == OpType::kCollective && op.coll == Coll::kAllToAll) sizes.push_back(op.comm_bytes);
  EXPECT_EQ(*std::min_element(sizes.begin(), sizes.end()),
            static_cast<uint64_t>(std::llround(1024.0 * 2 * 1024 * (1 + 4.0 / 128))));
  EXPECT_EQ(flex_dispatch, a2a_dispatch);  // the combine stays BF16
  // HybridEP dispatches BF16 (dispatch_dtype "bf16"): every exchange is the NCCL dispatcher's size.
  w.mutable_moe_routing()->set_dispatch_dtype("bf16");
  sizes.clear();
  const StepProgram hybridep = Build(w);
  for (const Op& op : hybridep.stages[0])
    if (op.type == OpType::kCollective && op.coll == Coll::kAllToAll) sizes.push_back(op.comm_bytes);
  ASSERT_FALSE(sizes.empty());
  EXPECT_EQ(*std::min_element(sizes.begin(), sizes.end()), a2a_dispatch);
}

TEST(Moe, CapacityFactorPadsExpertRowsAndRemovesTheSync) {
  v1::Workload w = Moe(1, 4, 4, 2);
  const double balanced = CountKind(Build(w), ComputeKind::kGroupedGemm, Phase::kForward).flops;
  w.mutable_moe_routing()->set_capacity_factor(1.5);
  const StepProgram p = Build(w);
  EXPECT_EQ(CountKind(p, ComputeKind::kHostSync, Phase::kForward).n, 0);  // static shapes
  EXPECT_DOUBLE_EQ(CountKind(p, ComputeKind::kGroupedGemm, Phase::kForward).flops, 1.5 * balanced);
  // Skewed routing with capacity 1: the most loaded rank's rows are capped at the capacity (tokens dropped).
  v1::Workload skewed = Moe(1, 4, 4, 2);
  skewed.mutable_moe_routing()->set_distribution("skewed");
  skewed.mutable_moe_routing()->set_imbalance(3);
  const double dropless = CountKind(Build(skewed), ComputeKind::kGroupedGemm, Phase::kForward).flops;
  skewed.mutable_moe_routing()->set_capacity_factor(1);
  const double dropped = CountKind(Build(skewed), ComputeKind::kGroupedGemm, Phase::kForward).flops;
  EXPECT_GT(dropless, balanced * 1.1);
  EXPECT_DOUBLE_EQ(dropped, balanced);
}

// Redundant experts (EPLB): with skewed routing, replicas shrink the most loaded rank's expert GEMMs and exchange
// towards the balanced ones; each rank holds (8 + 4) / 4 = 3 experts instead of 2, so its expert weights grow 1.5x.
TEST(Moe, RedundantExpertsBalanceTheSlowestRank) {
  v1::Workload w = Moe(1, 4, 4, 2);
  const double balanced = CountKind(Build(w), ComputeKind::kGroupedGemm, Phase::kForward).flops;
  w.mutable_moe_routing()->set_distribution("skewed");
  w.mutable_moe_routing()->set_imbalance(3);
  const StepProgram skewed = Build(w);
  w.mutable_moe_routing()->set_redundant_experts(4);
  const StepProgram replicated = Build(w);
  const double skewed_gemm = CountKind(skewed, ComputeKind::kGroupedGemm, Phase::kForward).flops;
  const double replicated_gemm = CountKind(replicated, ComputeKind::kGroupedGemm, Phase::kForward).flops;
  EXPECT_LT(replicated_gemm, skewed_gemm);
  EXPECT_GE(replicated_gemm, balanced);
  EXPECT_LT(replicated.moe_load_imbalance, skewed.moe_load_imbalance);
  EXPECT_LT(SumBytes(replicated, 0, Dim::kEp, Coll::kAllToAll), SumBytes(skewed, 0, Dim::kEp, Coll::kAllToAll));
  EXPECT_GT(replicated.memory.weights, skewed.memory.weights);
}

TEST(Moe, AllGatherDispatcherGathersTokensOverEp) {
  v1::Workload w = Moe(1, 4, 4, 1);
  w.mutable_moe_routing()->set_dispatcher("allgather");
  const StepProgram p = Build(w);
  // Forward: all-gather of every EP rank's 1024 tokens x hidden 1024 x 2 bytes, reduce-scatter back; no all-to-all.
  EXPECT_DOUBLE_EQ(SumBytes(p, 0, Dim::kEp, Coll::kAllToAll), 0);
  EXPECT_GT(SumBytes(p, 0, Dim::kEp, Coll::kAllGather), 0);
  EXPECT_GT(SumBytes(p, 0, Dim::kEp, Coll::kReduceScatter), 0);
  EXPECT_EQ(CountKind(p, ComputeKind::kHostSync, Phase::kForward).n, 8);
  w.mutable_moe_routing()->set_dispatcher("deepep");
  EXPECT_THROW(Build(w), InputError);
}

bool SameOp(const Op& a, const Op& b) {
  return a.type == b.type && a.phase == b.phase && a.compute == b.compute && a.flops == b.flops && a.bytes == b.bytes &&
         a.gemm_count == b.gemm_count && a.coll == b.coll && a.dim == b.dim && a.comm_bytes == b.comm_bytes &&
         a.async == b.async && a.tag == b.tag && a.internode_scale == b.internode_scale &&
         a.peer_delta == b.peer_delta && a.microbatch == b.microbatch && a.chunk == b.chunk && a.fp8 == b.fp8;
}

bool SamePrograms(const StepProgram& a, const StepProgram& b) {
  if (a.stages.size() != b.stages.size()) return false;
  for (size_t s = 0; s < a.stages.size(); ++s) {
    if (a.stages[s].size() != b.stages[s].size()) return false;
    for (size_t i = 0; i < a.stages[s].size(); ++i) {
      if (!SameOp(a.stages[s][i], b.stages[s][i])) return false;
    }
  }
  return a.model_flops_per_step == b.model_flops_per_step && a.memory.total() == b.memory.total();
}

TEST(Determinism, SameSeedSameProgram) {
  v1::Workload w = InterleavedMoe(2, 4, 4, 4);
  w.mutable_moe_routing()->set_distribution("skewed");
  w.mutable_moe_routing()->set_imbalance(2);
  w.mutable_parallelism()->set_overlap_moe_a2a(true);
  EXPECT_TRUE(SamePrograms(Build(w, 11), Build(w, 11)));
  EXPECT_FALSE(SamePrograms(Build(w, 11), Build(w, 12)));
}

// Selective recompute without recompute_modules is ["core_attn"]: the same program as naming it.
TEST(Recompute, DefaultModuleListIsCoreAttention) {
  v1::Workload moe = InterleavedMoe(2, 4, 4, 4);
  moe.mutable_parallelism()->set_overlap_moe_a2a(true);
  for (v1::Workload w : {Dense(2, 2, 2, 4), moe}) {
    w.mutable_parallelism()->set_recompute("selective");
    v1::Workload named = w;
    named.mutable_parallelism()->add_recompute_modules("core_attn");
    const StepProgram a = Build(w), b = Build(named);
    EXPECT_TRUE(SamePrograms(a, b));
    EXPECT_EQ(a.hardware_flops_per_step, b.hardware_flops_per_step);
    EXPECT_EQ(a.memory.activations, b.memory.activations);
  }
}

// Each module re-runs its forward ops at the start of the layer's backward: the recompute FLOPs are the HFU extra,
// and the activations shrink. 8 layers (2 dense, 6 MoE with a shared expert), 2 microbatches, tp 1.
TEST(Recompute, ModulesRerunTheirForwardWork) {
  v1::Workload base = Moe(1, 4, 4, 2);
  base.mutable_model()->set_dense_layers(2);
  base.mutable_model()->set_ffn_hidden(4096);
  base.mutable_parallelism()->set_recompute("selective");
  const StepProgram def = Build(base);
  struct Expect {
    const char* module;
    int ops;  // recompute ops in the stage
    bool (*is)(const Op&);
  };
  const Expect cases[] = {
      {"layernorm", 2 * 8 * 2,
       [](const Op& op) { return op.compute == ComputeKind::kElementwise && op.bytes == 2 * 1024.0 * 1024 * 2; }},
      {"moe_act", 2 * 6 * 2, [](const Op& op) { return op.compute == ComputeKind::kElementwise; }},
      {"mlp", 3 * 2 * 2, [](const Op& op) { return op.type == OpType::kCompute; }},
      {"shared_experts", 3 * 6 * 2, [](const Op& op) { return op.type == OpType::kCompute; }},
      // router, host sync, 4 permutes, 2 grouped GEMMs, activation; shared expert; dispatch and combine
      {"moe", (9 + 3 + 2) * 6 * 2, [](const Op& op) { return op.type != OpType::kSend; }},
  };
  for (const Expect& c : cases) {
    SCOPED_TRACE(c.module);
    v1::Workload w = base;
    w.mutable_parallelism()->add_recompute_modules(c.module);
    const StepProgram p = Build(w);
    double flops = 0, recompute = 0;
    int ops = 0, matching = 0, a2a = 0;
    for (const Op& op : p.stages[0]) {
      if (op.type == OpType::kCompute) flops += op.flops;
      if (op.phase != Phase::kRecompute) continue;
      ++ops;
      matching += c.is(op) ? 1 : 0;
      a2a += op.type == OpType::kCollective && op.coll == Coll::kAllToAll ? 1 : 0;
      if (op.type == OpType::kCompute) recompute += op.flops;
    }
    EXPECT_EQ(ops, c.ops);
    EXPECT_EQ(matching, c.ops);
    EXPECT_EQ(a2a, std::string(c.module) == "moe" ? 2 * 6 * 2 : 0);  // dispatch and combine re-run
    const double ranks = 4;                                          // tp x cp x dp
    EXPECT_NEAR(flops * ranks / p.hardware_flops_per_step, 1.0, 1e-9);
    EXPECT_NEAR(recompute * ranks, p.hardware_flops_per_step - p.model_flops_per_step,
                1e-9 * p.hardware_flops_per_step);
    EXPECT_LT(p.memory.activations, def.memory.activations);
    EXPECT_EQ(p.model_flops_per_step, def.model_flops_per_step);
  }
}

// Llama 3 405B's 126 layers on 16 pipeline ranks: 7 on the first and last, 8 on the others.
void ExpectLlama3Stages(const StepProgram& p) {
  ASSERT_EQ(p.layers_per_stage.size(), 16u);
  EXPECT_EQ(p.layers_per_stage.front(), 7u);
  EXPECT_EQ(p.layers_per_stage.back(), 7u);
  EXPECT_EQ(p.layers_per_stage[5], 8u);
  EXPECT_EQ(std::accumulate(p.layers_per_stage.begin(), p.layers_per_stage.end(), 0u), 126u);
}

TEST(Layers, UnevenSplitsPutExtraLayersInTheMiddle) {
  v1::Workload w;
  w.mutable_model()->set_preset("llama3_405b");
  w.mutable_model()->set_layers(126);
  w.mutable_parallelism()->set_tp(8);
  w.mutable_parallelism()->set_pp(16);
  w.mutable_parallelism()->set_global_batch_size(16);
  w.mutable_model()->set_seq_len(512);  // keep the test light
  const StepProgram p = BuildStepProgram(w, 128, 8, 1);
  ExpectLlama3Stages(p);
}

// Llama 3's split (Dubey et al. 2024, section 3.3.2): 126 layers on PP 16 with 8 chunks per rank, the first chunk
// holding only the embedding and the last only the output layer. Without the counted slots it does not fit.
TEST(Layers, EmbeddingAndLossCountAsLayerSlots) {
  v1::Workload w;
  w.mutable_model()->set_preset("llama3_405b");
  w.mutable_model()->set_seq_len(512);  // keep the test light
  v1::Parallelism* par = w.mutable_parallelism();
  par->set_tp(8);
  par->set_pp(16);
  par->set_vpp(8);
  par->set_global_batch_size(16);
  EXPECT_THROW(BuildStepProgram(w, 128, 8, 1), InputError);
  par->set_account_for_embedding_in_pipeline_split(true);
  EXPECT_THROW(BuildStepProgram(w, 128, 8, 1), InputError);  // 127 slots for 128 chunks
  par->set_account_for_loss_in_pipeline_split(true);
  const StepProgram p = BuildStepProgram(w, 128, 8, 1);
  ExpectLlama3Stages(p);
  auto attention_in_chunk = [&](uint32_t stage, uint32_t chunk) {
    return Count(p, stage, [&](const Op& op) {
      return op.type == OpType::kCompute && op.compute == ComputeKind::kAttention && op.chunk == chunk;
    });
  };
  EXPECT_EQ(attention_in_chunk(0, 0), 0);  // the embedding alone
  EXPECT_GT(attention_in_chunk(0, 1), 0);
  EXPECT_EQ(attention_in_chunk(15, 7), 0);  // the output layer and loss alone
  EXPECT_GT(attention_in_chunk(15, 6), 0);
  // 8 layers on 3 stages: 3 / 3 / 2 plain (the extra layers to the middle, then the first); with the embedding
  // counted 9 slots, 3 each, the first runs 2 layers; with both counted 10 slots, 3 / 4 / 3, so 2 / 4 / 2.
  v1::Workload d = Dense(1, 3, 1, 6);
  EXPECT_EQ(Build(d).layers_per_stage, (std::vector<uint32_t>{3, 3, 2}));
  d.mutable_parallelism()->set_account_for_embedding_in_pipeline_split(true);
  EXPECT_EQ(Build(d).layers_per_stage, (std::vector<uint32_t>{2, 3, 3}));
  d.mutable_parallelism()->set_account_for_loss_in_pipeline_split(true);
  EXPECT_EQ(Build(d).layers_per_stage, (std::vector<uint32_t>{2, 4, 2}));
}

// DeepSeek-V3 at a short sequence on 128 GPUs: TP2 PP8 VPP4 EP8, 8 micro-batches per pipeline.
v1::Workload DeepSeekPp8Vpp4() {
  v1::Workload w;
  w.mutable_model()->set_preset("deepseek_v3_671b");
  w.mutable_model()->set_seq_len(256);
  v1::Parallelism* par = w.mutable_parallelism();
  par->set_tp(2);
  par->set_pp(8);
  par->set_vpp(4);
  par->set_ep(8);
  par->set_sequence_parallel(true);
  par->set_global_batch_size(64);
  return w;
}

// Megatron-Bridge 25.11's DeepSeek-V3 H100 layout on PP 8 x VPP 4: the last virtual stage holds only the MTP module
// and the loss, so rank 7 runs 6 decoder layers + MTP where the default split gives it 7 + MTP.
TEST(Layers, CustomLayoutPlacesLayersAsWritten) {
  v1::Workload w = DeepSeekPp8Vpp4();
  v1::Parallelism* par = w.mutable_parallelism();
  const StepProgram even = BuildStepProgram(w, 128, 8, 1);
  EXPECT_EQ(even.layers_per_stage, (std::vector<uint32_t>{7, 8, 8, 8, 8, 8, 7, 8}));
  par->set_pipeline_model_parallel_layout("Et|(tt|)*30mL");
  const StepProgram custom = BuildStepProgram(w, 128, 8, 1);
  EXPECT_EQ(custom.layers_per_stage, (std::vector<uint32_t>{7, 8, 8, 8, 8, 8, 8, 7}));
  EXPECT_NEAR(custom.params_total, even.params_total, 1);
  // Rank 6 holds 8 MoE layers now, one more than before: more expert weights.
  EXPECT_GT(custom.stage_memory[6].weights, even.stage_memory[6].weights);
  par->set_account_for_loss_in_pipeline_split(true);
  EXPECT_THROW(BuildStepProgram(w, 128, 8, 1), InputError);  // Megatron-Core refuses both
  par->set_account_for_loss_in_pipeline_split(false);
  par->set_pipeline_model_parallel_layout("Et|(tt|)*29mL");  // 59 decoder layers
  EXPECT_THROW(BuildStepProgram(w, 128, 8, 1), InputError);
}

TEST(Layers, DeepSeekInterleavedWithMtp) {
  v1::Workload w = DeepSeekPp8Vpp4();
  w.mutable_parallelism()->set_schedule("interleaved");
  const StepProgram p = BuildStepProgram(w, 128, 8, 1);
  EXPECT_EQ(std::accumulate(p.layers_per_stage.begin(), p.layers_per_stage.end(), 0u), 62u);  // 61 + MTP
  EXPECT_NEAR(p.params_total / 1e9, 671 + 11.7, 1.0);
  EXPECT_GT(p.memory.total(), 0);
}

TEST(Memory, ActivationsInFlight) {
  const v1::Workload w = Dense(1, 4, 1, 8);
  const StepProgram p = Build(w);
  ActivationShape shape;
  shape.micro_batch = 1;
  shape.seq = 1024;
  shape.fused_attention = true;
  const double layer = LayerActivationBytes(ResolveModel(w.model(), ""), false, shape);
  const double embedding = 1024.0 * 1024 * 2;
  // 1F1B: the first stage holds pp microbatches of its 2 layers; the last one microbatch (+ fp32 logits).
  EXPECT_DOUBLE_EQ(p.stage_memory[0].activations, 4 * (2 * layer + embedding));
  EXPECT_DOUBLE_EQ(p.stage_memory[3].activations, 2 * layer + 4.0 * 1024 * 64);
  EXPECT_DOUBLE_EQ(p.memory.activations, p.stage_memory[0].activations);

  v1::Workload g = w;
  g.mutable_parallelism()->set_schedule("gpipe");
  EXPECT_DOUBLE_EQ(Build(g).stage_memory[1].activations, 8 * 2 * layer);

  v1::Workload il = w;
  il.mutable_parallelism()->set_schedule("interleaved");
  il.mutable_parallelism()->set_vpp(2);
  // Korthikanti: L (1 + (p-1)/(p v)) layers' worth on the first stage: 8 x (1 + 3/8) = 11; at the peak 8 of them
  // are in the chunk holding the embedding (after the first backward, of chunk 1, the next forward is chunk 0's).
  EXPECT_NEAR(Build(il).stage_memory[0].activations, 11 * layer + 8 * embedding, 1);

  // Model states: 16 bytes per parameter without ZeRO.
  EXPECT_NEAR(p.stage_memory[1].weights + p.stage_memory[1].gradients + p.stage_memory[1].optimizer,
              16 * 2 * CountLayerParams(ResolveModel(w.model(), ""), false).total(), 1);
}

TEST(Errors, InvalidInputIsReported) {
  v1::Workload w = Dense(1, 4, 1, 8);
  EXPECT_THROW(BuildStepProgram(w, 4, 0, 1), InputError);
  EXPECT_THROW(BuildStepProgram(w, 6, 8, 1), InputError);
}

TEST(Program, Headline) {
  v1::Workload w;
  w.mutable_model()->set_preset("llama3_70b");
  w.mutable_parallelism()->set_tp(8);
  w.mutable_parallelism()->set_pp(4);
  w.mutable_parallelism()->set_global_batch_size(16);
  w.mutable_parallelism()->set_sequence_parallel(true);
  const StepProgram p = BuildStepProgram(w, 64, 8, 1);
  EXPECT_EQ(p.microbatches, 8u);
  EXPECT_EQ(p.tokens_per_step, 16u * 8192);
  EXPECT_EQ(p.layout.dp, 2u);
  EXPECT_EQ(p.schedule, "1f1b");
  EXPECT_NE(p.flop_convention.find("Eq. 3"), std::string::npos);
  EXPECT_NEAR(p.model_flops_per_step / p.tokens_per_step, 481.5e9, 1e9);
  EXPECT_NEAR(p.params_total / 1e9, 70.55, 0.1);
}

// Blocking all-reduces on a dimension (not async), forward and backward.
struct CollCount {
  int forward = 0, backward = 0;
  double bytes = 0;
};
CollCount CountBlocking(const StepProgram& p, uint32_t stage, Dim dim, Coll coll, uint64_t max_bytes) {
  CollCount c;
  for (const Op& op : p.stages[stage]) {
    if (op.type != OpType::kCollective || op.async || op.dim != dim || op.coll != coll) continue;
    if (op.comm_bytes > max_bytes) continue;
    (op.phase == Phase::kForward ? c.forward : c.backward) += 1;
    c.bytes += double(op.comm_bytes);
  }
  return c;
}

TEST(Fp8Recipe, DelayedScalingReducesAmaxesAfterEveryChunkPass) {
  v1::Workload w = Dense(2, 2, 4, 8);  // tp 2, pp 2, dp 4, 8 micro-batches
  w.mutable_parallelism()->set_vpp(2);
  w.set_precision("fp8");
  w.set_fp8_recipe("delayed");
  const StepProgram p = Build(w);
  // 8 micro-batches x 2 chunks per stage, one reduction when each chunk's forward ends and one when its backward
  // ends, over the data-parallel ranks (Megatron-Core's tensor x data group spans the same nodes).
  for (uint32_t s = 0; s < 2; ++s) {
    const CollCount c = CountBlocking(p, s, Dim::kDp, Coll::kAllReduce, 4096);
    EXPECT_EQ(c.forward, 16) << "stage " << s;
    EXPECT_EQ(c.backward, 16) << "stage " << s;
  }
  // 2 layers per chunk, 4 linears per layer, 3 fp32 amaxes per linear forward, 2 backward.
  const CollCount c = CountBlocking(p, 0, Dim::kDp, Coll::kAllReduce, 4096);
  EXPECT_DOUBLE_EQ(c.bytes, 16 * (2 * 4 * 3 * 4) + 16 * (2 * 4 * 2 * 4));
  // The reduction closes the chunk's forward: it comes before the activation send to the next stage.
  const std::vector<Op>& ops = p.stages[0];
  for (size_t i = 0; i + 1 < ops.size(); ++i) {
    if (ops[i + 1].type == OpType::kSend && ops[i + 1].phase == Phase::kForward) {
      EXPECT_EQ(ops[i].type, OpType::kCollective);
      EXPECT_EQ(ops[i].dim, Dim::kDp);
    }
  }
}

TEST(Fp8Recipe, OnlyDelayedScalingWithReduceAmaxAddsReductions) {
  auto count = [](const std::string& recipe, int reduce_amax) {
    v1::Workload w = Dense(2, 1, 4, 4);
    w.set_precision("fp8");
    if (!recipe.empty()) w.set_fp8_recipe(recipe);
    if (reduce_amax >= 0) w.set_fp8_reduce_amax(reduce_amax == 1);
    const CollCount c = CountBlocking(Build(w), 0, Dim::kDp, Coll::kAllReduce, 4096);
    return c.forward + c.backward;
  };
  EXPECT_EQ(count("delayed", -1), 8);  // 4 micro-batches, forward and backward
  EXPECT_EQ(count("delayed", 1), 8);
  EXPECT_EQ(count("delayed", 0), 0);  // FP8_REDUCE_AMAX False: each rank keeps its own amaxes
  EXPECT_EQ(count("", -1), 0);        // default: per-tensor current scaling
  EXPECT_EQ(count("tensorwise", -1), 0);
  EXPECT_EQ(count("mxfp8", -1), 0);
  EXPECT_EQ(count("blockwise", -1), 0);
  // Without data parallelism the group is the tensor-parallel one.
  v1::Workload w = Dense(2, 1, 1, 4);
  w.set_precision("fp8");
  w.set_fp8_recipe("delayed");
  const CollCount tp = CountBlocking(Build(w), 0, Dim::kTp, Coll::kAllReduce, 4096);
  EXPECT_EQ(tp.forward + tp.backward, 8);
}

TEST(Fp8Recipe, BadRecipesAreRefusedNamingTheField) {
  auto error = [](const std::function<void(v1::Workload&)>& edit) {
    v1::Workload w = Dense(1, 1, 2, 2);
    w.set_precision("fp8");
    edit(w);
    try {
      ResolvePlan(w, Gpus(w), "s.textproto");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error([](v1::Workload& w) { w.set_fp8_recipe("hybrid"); }).find("workload.fp8_recipe"), std::string::npos);
  EXPECT_NE(error([](v1::Workload& w) {
              w.set_precision("bf16");
              w.set_fp8_recipe("delayed");
            }).find("needs workload.precision"),
            std::string::npos);
  EXPECT_NE(error([](v1::Workload& w) { w.set_fp8_reduce_amax(true); }).find("workload.fp8_reduce_amax"),
            std::string::npos);
  EXPECT_EQ(error([](v1::Workload& w) {
              w.set_fp8_recipe("delayed");
              w.set_fp8_reduce_amax(false);
            }),
            "");
}

// distribution "observed": one histogram per MoE layer, repeated cyclically; the step's MoE imbalance is the mean of
// the layers' max-over-mean rank loads.
TEST(Moe, ObservedExpertLoadsApplyPerLayerCyclically) {
  v1::ExpertLoad even, hot;  // 8 experts, top 2, EP 4: experts {0,1} on rank 0, ...
  for (int e = 0; e < 8; ++e) {
    even.add_tokens(1);
    hot.add_tokens(e < 2 ? 3 : 1);  // rank 0 takes 6 of 12 shares: twice the mean rank
  }
  auto imbalance = [](const std::vector<v1::ExpertLoad>& loads) {
    v1::Workload w = Moe(1, 4, 4, 2);  // 8 MoE layers
    w.mutable_moe_routing()->set_distribution("observed");
    for (const v1::ExpertLoad& l : loads) *w.mutable_moe_routing()->add_expert_load() = l;
    return Build(w).moe_load_imbalance;
  };
  EXPECT_NEAR(imbalance({even, hot}), (1.0 + 2.0) / 2, 1e-3);  // layers 0, 2, 4, 6 even; 1, 3, 5, 7 hot
  EXPECT_NEAR(imbalance({even}), 1.0, 1e-9);                   // one entry: every layer alike
  EXPECT_NEAR(imbalance({hot}), 2.0, 1e-3);
  EXPECT_NEAR(imbalance({hot, hot, hot, even}), (3 * 2.0 + 1.0) / 4, 1e-3);
}

}  // namespace
}  // namespace clustersim::wl
