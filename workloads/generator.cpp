#include "workloads/generator.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "workloads/flops.h"
#include "workloads/memory.h"
#include "workloads/model.h"
#include "workloads/moe_routing.h"
#include "workloads/plan.h"
#include "workloads/schedule.h"

namespace clustersim::wl {
namespace {

// Tags of async collectives (per stage program).
constexpr uint32_t kTagA2AForward = 1;
constexpr uint32_t kTagA2ABackward = 2;
constexpr uint32_t kTagGrad = 3;
constexpr uint32_t kTagZero3Forward = 4;   // and 5 (alternating layers)
constexpr uint32_t kTagZero3Backward = 6;  // and 7
constexpr uint32_t kTagTpForward = 8;      // overlapped tensor-parallel collectives (tp_comm_overlap)
constexpr uint32_t kTagTpBackward = 9;
constexpr uint32_t kTagParamBase = 16;  // + chunk: ZeRO-1/2 parameter all-gather awaited by the next step

constexpr double kBucketParams = 40e6;  // Megatron-LM default DDP bucket: max(40M, 1M x data-parallel size)

uint64_t Bytes(double b) { return b <= 0 ? 0 : static_cast<uint64_t>(std::llround(b)); }

Op ComputeOp(Phase phase, ComputeKind kind, double flops, double bytes, double gemm_count) {
  Op op;
  op.type = OpType::kCompute;
  op.phase = phase;
  op.compute = kind;
  op.flops = flops;
  op.bytes = bytes;
  op.gemm_count = gemm_count;
  return op;
}

Op CollOp(Phase phase, Coll c, Dim d, double bytes) {
  Op op;
  op.type = OpType::kCollective;
  op.phase = phase;
  op.coll = c;
  op.dim = d;
  op.comm_bytes = Bytes(bytes);
  return op;
}

Op WaitOp(Phase phase, uint32_t tag) {
  Op op;
  op.type = OpType::kWait;
  op.phase = phase;
  op.tag = tag;
  return op;
}

// The backward counterpart of a forward op: compute twice the work (input and weight gradients), all-gather and
// reduce-scatter swapped.
Op Mirror(Op op) {
  op.phase = Phase::kBackward;
  if (op.type == OpType::kCompute) {
    op.flops *= 2;
    // Backward of a permute is the inverse permute (same bytes; DeepSeek-V3 H800 trace: 0.52 vs 0.75 ms); FP8
    // backward quantises the output gradients row- and column-wise and the inputs column-wise (~3x the forward's
    // bytes; the same trace: 1.5 vs 0.5 ms per MoE layer).
    op.bytes *= op.compute == ComputeKind::kPermute ? 1 : op.compute == ComputeKind::kQuantize ? 3 : 2;
    if (op.compute == ComputeKind::kGemm || op.compute == ComputeKind::kRouter ||
        op.compute == ComputeKind::kGroupedGemm) {
      op.gemm_count *= 2;
    }
    op.host_kernels *= 2;
    op.host_bound = false;  // no host sync in the backward pass: the host runs ahead again
  } else if (op.type == OpType::kCollective) {
    if (op.coll == Coll::kAllGather) {
      op.coll = Coll::kReduceScatter;
    } else if (op.coll == Coll::kReduceScatter) {
      op.coll = Coll::kAllGather;
    }
  }
  return op;
}

// Operations of one transformer layer (or embedding / output block), forward and backward.
struct LayerOps {
  std::vector<Op> fwd, bwd, rec;  // rec: recompute ops run at the start of the layer's backward
  double dense_params = 0;        // per GPU, before ZeRO sharding
  double expert_params = 0;
  double act_bytes = 0;  // activations kept per microbatch
};

// Builds a forward op list and its backward mirror together: each forward op pushes its backward counterpart,
// and the backward list is reversed at the end.
class OpBuilder {
 public:
  OpBuilder(uint32_t tp, bool sp, bool tp_overlap = false) : tp_(tp), sp_(sp), tp_overlap_(tp_overlap && sp) {}

  void Compute(ComputeKind k, double flops, double bytes, double gemm_count = 1) {
    Push(ComputeOp(Phase::kForward, k, flops, bytes, gemm_count));
  }
  // Dot-product attention; `fp8`: FP8 attention (Op::fp8).
  void Attention(double flops, double bytes, bool fp8) {
    Op op = ComputeOp(Phase::kForward, ComputeKind::kAttention, flops, bytes, 1);
    op.fp8 = fp8;
    Push(op);
  }
  // A routed experts' grouped GEMM over `experts` local experts; `min_dim`: Op::gemm_min_dim.
  void GroupedGemm(double flops, double bytes, double experts, double min_dim) {
    Op op = ComputeOp(Phase::kForward, ComputeKind::kGroupedGemm, flops, bytes, experts);
    op.gemm_min_dim = min_dim;
    op.host_kernels = static_cast<uint32_t>(std::max(1.0, experts));  // one launch per expert (TE GroupedLinear)
    Push(op);
  }
  // A memory-bound op of `kind` launched as `kernels` kernels.
  void MemoryOp(ComputeKind kind, double bytes, uint32_t kernels = 1) {
    Op op = ComputeOp(Phase::kForward, kind, 0, bytes, 1);
    op.host_kernels = std::max(1u, kernels);
    Push(op);
  }
  // An FP8 quantisation of `elements` values in `kernels` launches: the forward reads BF16 and writes FP8 (3 bytes
  // a value), the backward 3x that (Mirror); `amax_pass`: per-tensor current scaling reads each quantised tensor
  // once more first (2 bytes a value, forward and backward) and launches amax and scale kernels beside the cast.
  void Quantize(double elements, uint32_t kernels, bool amax_pass) {
    Op op = ComputeOp(Phase::kForward, ComputeKind::kQuantize, 0, 3 * elements, 1);
    op.host_kernels = std::max(1u, kernels) * (amax_pass ? 3 : 1);
    Push(op);
    if (amax_pass) {  // the amax read is not scaled like the cast's bytes (Mirror)
      f_.back().bytes += 2 * elements;
      b_rev_.back().bytes += 2 * elements;
    }
  }
  // The dispatcher's device-to-host synchronisation (forward only); later forward ops are host-bound until
  // SetHostBound(false).
  void HostSync() {
    Op op = ComputeOp(Phase::kForward, ComputeKind::kHostSync, 0, 0, 1);
    PushF(op);
    host_bound_ = true;
  }
  void SetHostBound(bool on) { host_bound_ = on; }
  void Collective(Coll c, Dim d, double bytes, double internode_scale = 1) {
    Op op = CollOp(Phase::kForward, c, d, bytes);
    op.internode_scale = internode_scale;
    Push(op);
  }
  // A collective of the forward pass only (no backward counterpart).
  void ForwardOnly(Coll c, Dim d, double bytes) { PushF(CollOp(Phase::kForward, c, d, bytes)); }
  // Entering a tensor-parallel region: sequence-parallel all-gather; backward: reduce-scatter (SP) or all-reduce.
  void TpEnter(double bytes) {
    if (tp_ <= 1) return;
    if (tp_overlap_) {  // all-gather beside the GEMM that consumes it; backward: reduce-scatter beside its dgrad
      Op ag = CollOp(Phase::kForward, Coll::kAllGather, Dim::kTp, bytes);
      ag.async = true;
      ag.tag = kTagTpForward;
      PushF(ag);
      b_rev_.push_back(WaitOp(Phase::kBackward, kTagTpBackward));
      overlap_bytes_ = bytes;
      return;
    }
    if (sp_) PushF(CollOp(Phase::kForward, Coll::kAllGather, Dim::kTp, bytes));
    b_rev_.push_back(CollOp(Phase::kBackward, sp_ ? Coll::kReduceScatter : Coll::kAllReduce, Dim::kTp, bytes));
  }
  // Leaving it: reduce-scatter (SP) or all-reduce; backward: all-gather (SP) or nothing.
  void TpExit(double bytes) {
    if (tp_ <= 1) return;
    if (tp_overlap_ && last_gemm_f_ != SIZE_MAX) {  // reduce-scatter beside the GEMM that produces it
      Op rs = CollOp(Phase::kForward, Coll::kReduceScatter, Dim::kTp, bytes);
      rs.async = true;
      rs.tag = kTagTpForward;
      InsertF(last_gemm_f_, rs);
      PushF(WaitOp(Phase::kForward, kTagTpForward));
      b_rev_.insert(b_rev_.begin() + static_cast<long>(last_gemm_b_), WaitOp(Phase::kBackward, kTagTpBackward));
      Op ag = CollOp(Phase::kBackward, Coll::kAllGather, Dim::kTp, bytes);
      ag.async = true;
      ag.tag = kTagTpBackward;
      b_rev_.push_back(ag);
      last_gemm_f_ = last_gemm_b_ = SIZE_MAX;
      return;
    }
    PushF(CollOp(Phase::kForward, sp_ ? Coll::kReduceScatter : Coll::kAllReduce, Dim::kTp, bytes));
    if (sp_) b_rev_.push_back(CollOp(Phase::kBackward, Coll::kAllGather, Dim::kTp, bytes));
  }
  // An async collective awaited by the next Wait(); the backward runs the mirrored collective async at the Wait's
  // position and waits at this one's.
  void Async(Coll c, Dim d, double bytes, double internode_scale) {
    Op op = CollOp(Phase::kForward, c, d, bytes);
    op.internode_scale = internode_scale;
    op.async = true;
    op.tag = kTagA2AForward;
    PushF(op);
    b_rev_.push_back(WaitOp(Phase::kBackward, kTagA2ABackward));
    pending_ = op;
  }
  void Wait() {
    PushF(WaitOp(Phase::kForward, kTagA2AForward));
    Op b = Mirror(pending_);
    b.tag = kTagA2ABackward;
    b_rev_.push_back(b);
  }
  void BeginRecompute() { rec_begin_ = f_.size(); }
  void EndRecompute() { rec_end_ = f_.size(); }
  // The forward ops pushed from here on belong to these selective-recompute modules (RecomputeModule bits; 0: none).
  void SetModule(uint32_t modules) { module_ = modules; }
  // Work that only selective recompute of `module` re-runs, before the forward op pushed next (a norm that the
  // forward fuses into a larger elementwise op).
  void RecomputeOnly(uint32_t module, ComputeKind k, double flops, double bytes) {
    extra_.push_back({f_.size(), module, ComputeOp(Phase::kRecompute, k, flops, bytes, 1)});
  }

  // recompute_modules: Plan::recompute_modules (kSelective); the core attention op is always of kRecomputeCoreAttn.
  LayerOps Finish(Recompute recompute, uint32_t recompute_modules = 0) {
    LayerOps l;
    l.fwd = std::move(f_);
    l.bwd.assign(b_rev_.rbegin(), b_rev_.rend());
    const bool selective = recompute == Recompute::kSelective;
    const uint32_t modules = recompute_modules == 0 ? uint32_t{kRecomputeCoreAttn} : recompute_modules;
    size_t next_extra = 0;
    for (size_t i = rec_begin_; i < rec_end_; ++i) {
      for (; next_extra < extra_.size() && extra_[next_extra].position <= i; ++next_extra) {
        if (selective && extra_[next_extra].position == i && (extra_[next_extra].module & modules)) {
          l.rec.push_back(extra_[next_extra].op);
        }
      }
      Op op = l.fwd[i];
      const bool attention = op.type == OpType::kCompute && op.compute == ComputeKind::kAttention;
      const uint32_t op_modules = attention ? uint32_t{kRecomputeCoreAttn} : module_of_[i];
      if (recompute == Recompute::kFull || (selective && (op_modules & modules))) {
        op.phase = Phase::kRecompute;
        if (op.tag == kTagA2AForward) op.tag = kTagA2ABackward;
        l.rec.push_back(op);
      }
    }
    return l;
  }

 private:
  void PushF(Op op) {
    if (op.type == OpType::kCompute) op.host_bound = op.host_bound || host_bound_;
    f_.push_back(op);
    module_of_.push_back(module_);
  }
  void Push(const Op& op) {
    PushF(op);
    b_rev_.push_back(Mirror(f_.back()));
    if (op.type != OpType::kCompute || op.compute != ComputeKind::kGemm) return;
    last_gemm_f_ = f_.size() - 1;
    last_gemm_b_ = b_rev_.size() - 1;
    if (overlap_bytes_ > 0) {  // the GEMM an overlapped all-gather feeds: wait after it
      PushF(WaitOp(Phase::kForward, kTagTpForward));
      Op rs = CollOp(Phase::kBackward, Coll::kReduceScatter, Dim::kTp, overlap_bytes_);
      rs.async = true;
      rs.tag = kTagTpBackward;
      b_rev_.push_back(rs);
      overlap_bytes_ = 0;
    }
  }
  // Inserts a forward op at `pos` (before f_[pos]), keeping module_of_ and the recompute-only positions in step.
  void InsertF(size_t pos, const Op& op) {
    f_.insert(f_.begin() + static_cast<long>(pos), op);
    module_of_.insert(module_of_.begin() + static_cast<long>(pos), module_of_[pos]);
    for (RecomputeOnlyOp& e : extra_)
      if (e.position > pos) ++e.position;
  }
  struct RecomputeOnlyOp {
    size_t position;  // index in f_ of the op it precedes
    uint32_t module;
    Op op;
  };
  uint32_t tp_;
  bool sp_;
  bool tp_overlap_ = false;
  double overlap_bytes_ = 0;                                // all-gather waiting for the GEMM it feeds
  size_t last_gemm_f_ = SIZE_MAX, last_gemm_b_ = SIZE_MAX;  // latest GEMM in f_ and its mirror in b_rev_
  std::vector<Op> f_, b_rev_;
  std::vector<uint32_t> module_of_;  // per op of f_: RecomputeModule bits
  std::vector<RecomputeOnlyOp> extra_;
  uint32_t module_ = 0;
  bool host_bound_ = false;
  Op pending_;
  size_t rec_begin_ = 0, rec_end_ = 0;
};

struct VirtualStageInfo {
  uint32_t first_layer = 0, num_layers = 0;  // transformer layers [first, first + num) (MTP modules: >= layers)
  bool first = false, last = false;          // holds the embedding / the output layer and loss
};

class Generator {
 public:
  Generator(const v1::Workload& w, uint32_t num_gpus, uint32_t gpus_per_node, uint64_t seed, RoutingMemo* routing_memo)
      : plan_(ResolvePlan(w, num_gpus, "")),
        m_(ResolveModel(w.model(), "")),
        routing_(w.moe_routing()),
        gpus_per_node_(gpus_per_node),
        seed_(seed) {
    if (gpus_per_node == 0) throw InputError::Field("", 0, "cluster.scale_up.gpus_per_node", "0", "must be > 0");
    routing_memo_ = routing_memo;
    att_ = Attention(m_);
    t_ = plan_.tp;
    sp_ = plan_.sequence_parallel && t_ > 1;
    h_ = m_.hidden();
    rows_ = double(plan_.micro_batch_size) * m_.seq_len() / plan_.cp;
    rows_sp_ = sp_ ? rows_ / t_ : rows_;
    act_ = rows_sp_ * h_ * 2;
    act_full_ = rows_ * h_ * 2;
    kv_heads_rank_ = att_.kv_heads >= t_ ? double(att_.kv_heads) / t_ : 1.0;
    etp_ = plan_.expert_tp;
    layout_.tp = plan_.tp;
    layout_.cp = plan_.cp;
    layout_.dp = plan_.dp;
    layout_.pp = plan_.pp;
    layout_.ep = plan_.ep;
    layout_.expert_tp = etp_;
    dense_dim_ = plan_.cp > 1 ? Dim::kDpCp : Dim::kDp;
    dense_shards_ = plan_.dp * plan_.cp;
    expert_shards_ = layout_.GroupSize(Dim::kEdp);
    bucket_params_ = std::max(kBucketParams, 1e6 * dense_shards_);
    bytes_ = StateBytesOf(plan_);
    overlap_a2a_ = plan_.overlap_moe_a2a && m_.kind() == "moe" && plan_.ep > 1;
    dispatcher_ = ParseMoeDispatcher(routing_.dispatcher());
    // Dispatchers that need the token counts on the host sync once per MoE layer and micro-batch (forward), unless
    // padding to capacity makes the shapes static.
    moe_host_sync_ = dispatcher_ != MoeDispatcher::kFlex && routing_.capacity_factor() == 0;
    // The flex dispatcher (DeepEP, HybridEP) hands the experts their token counts on the device; TransformerEngine's
    // GroupedLinear splits its input by host counts, so Megatron-Core's TEGroupedMLP copies them with .tolist() (a
    // synchronisation) before the expert GEMMs, unless the fused grouped MLP's grouped tensors keep them on the
    // device (megatron/core/transformer/moe/experts.py).
    experts_host_sync_ =
        dispatcher_ == MoeDispatcher::kFlex && !plan_.fused_grouped_mlp && routing_.capacity_factor() == 0;
    fp8_dispatch_ = Fp8Dispatch(routing_, plan_.fp8);
    ResolveAmaxReduction();
  }

  StepProgram Build();

 private:
  // Layer construction.
  void AddAttention(OpBuilder& b) const;
  void AddDenseMlp(OpBuilder& b, double ffn) const;
  void AddMoe(OpBuilder& b, uint32_t layer);
  struct MoeRows {
    double recv = 0;             // (token, expert) pairs the most loaded EP rank receives
    double gemm = 0;             // rows its expert GEMMs process (capacity x local experts when padded)
    double internode_scale = 1;  // Op::internode_scale of its exchange
  };
  MoeRows RouteMoe(uint32_t layer);
  // Expert copies over routed experts: (routed_experts + redundant_experts) / routed_experts (1 without replicas).
  double ExpertCopies() const {
    return m_.routed_experts() > 0
               ? double(m_.routed_experts() + routing_.redundant_experts()) / double(m_.routed_experts())
               : 1;
  }
  void MoeDispatch(OpBuilder& b, const MoeRows& r) const;
  void MoeExperts(OpBuilder& b, const MoeRows& r) const;
  LayerOps BuildLayer(uint32_t layer);
  LayerOps BuildEmbedding() const;
  LayerOps BuildOutput() const;
  void PlaceLayers();
  void PlaceLayout();

  // Emission.
  struct RankState {
    std::vector<double> grad_acc_dense, grad_acc_expert;
    std::vector<std::vector<std::pair<Dim, double>>> buckets;  // per chunk: (dim, params)
    std::vector<bool> first_forward_done;
  };
  int32_t ForwardDelta(uint32_t chunk) const { return (plan_.schedule == Schedule::kDualPipe && chunk == 1) ? -1 : 1; }
  void Append(std::vector<Op>& out, const std::vector<Op>& ops, uint32_t mb, uint32_t chunk) const {
    for (Op op : ops) {
      op.microbatch = mb;
      op.chunk = chunk;
      out.push_back(op);
    }
  }
  void EmitP2P(std::vector<Op>& out, OpType type, Phase phase, int32_t delta, uint32_t mb, uint32_t chunk) const;
  void ResolveAmaxReduction();
  void AmaxReduce(std::vector<Op>& out, Phase phase, uint32_t mb, uint32_t chunk, uint32_t layers) const;
  void Zero3Gather(std::vector<Op>& out, const std::vector<uint32_t>& layers, size_t i, Phase phase, uint32_t mb,
                   uint32_t chunk) const;
  void EmitForward(std::vector<Op>& out, uint32_t rank, const Task& task, RankState& st) const;
  void EmitBackward(std::vector<Op>& out, uint32_t rank, const Task& task, bool last_of_chunk, RankState& st) const;
  void GradBucket(std::vector<Op>& out, RankState& st, uint32_t chunk, Dim dim, double params) const;
  void BuildStage(uint32_t rank, StepProgram& prog) const;
  std::vector<uint32_t> ChunkLayers(uint32_t v) const;  // indices into layers_ (incl. embedding/output blocks)

  Plan plan_;
  v1::Model m_;
  v1::MoeRouting routing_;
  uint32_t gpus_per_node_;
  uint64_t seed_;
  AttentionShape att_;
  RankLayout layout_;
  uint32_t t_ = 1, etp_ = 1;
  bool sp_ = false, overlap_a2a_ = false, moe_host_sync_ = false, experts_host_sync_ = false;
  bool fp8_dispatch_ = false;  // moe_routing.dispatch_dtype resolved (Fp8Dispatch)
  double zipf_alpha_ = -1;  // skewed routing's Zipf exponent (ZipfAlpha), solved at the first MoE layer
  RoutingMemo* routing_memo_ = nullptr;  // not owned; null = route every layer afresh
  MoeDispatcher dispatcher_ = MoeDispatcher::kAllToAll;
  double h_ = 0, rows_ = 0, rows_sp_ = 0, act_ = 0, act_full_ = 0, kv_heads_rank_ = 1;
  Dim dense_dim_ = Dim::kDp;
  // Delayed FP8 scaling's amax all-reduce (Plan::fp8_amax_reduction): its group and bytes per layer of a chunk.
  bool amax_ = false;
  Dim amax_dim_ = Dim::kDp;
  double amax_bytes_per_layer_ = 0;
  uint32_t dense_shards_ = 1, expert_shards_ = 1;
  double bucket_params_ = kBucketParams;
  StateBytes bytes_;

  std::vector<LayerOps> layers_;  // transformer layers, MTP modules, then embedding, then output block
  uint32_t embedding_index_ = 0, output_index_ = 0;
  std::vector<VirtualStageInfo> vstages_;
  double imbalance_sum_ = 0;
  uint32_t moe_layers_ = 0;
};

void Generator::AddAttention(OpBuilder& b) const {
  const double rows = rows_, t = t_, h = h_;
  const double heads = double(att_.heads) / t;
  b.RecomputeOnly(kRecomputeLayernorm, ComputeKind::kElementwise, 0, 2 * act_);  // input_layernorm: read, write
  b.TpEnter(act_full_);
  if (att_.mla) {
    const double ql = m_.mla_q_lora_rank(), kvl = m_.mla_kv_lora_rank(), rope = m_.mla_qk_rope_head_dim();
    const double down = (ql > 0 ? ql : 0) + kvl + rope;  // replicated across tensor-parallel ranks
    b.Compute(ComputeKind::kGemm, 2 * rows * h * down, 2 * (h * down + rows * h + rows * down), 2);
    const double up_q = ql > 0 ? ql * heads * att_.qk_head_dim : h * heads * att_.qk_head_dim;
    const double up_kv = kvl * heads * (m_.mla_qk_nope_head_dim() + att_.v_head_dim);
    const double out = heads * (att_.qk_head_dim * 2 + att_.v_head_dim);
    b.SetModule(kRecomputeMlaUpProj);
    b.Compute(ComputeKind::kGemm, 2 * rows * (up_q + up_kv), 2 * (up_q + up_kv + rows * (down + out)), 2);
    b.SetModule(0);
  } else {
    const double out = heads * att_.qk_head_dim + kv_heads_rank_ * (att_.qk_head_dim + att_.v_head_dim);
    b.Compute(ComputeKind::kGemm, 2 * rows * h * out, 2 * (h * out + rows * h + rows * out));
  }
  const double kv_width = (att_.mla ? heads : kv_heads_rank_) * (att_.qk_head_dim + att_.v_head_dim);
  if (plan_.cp > 1) b.Collective(Coll::kAllGather, Dim::kCp, 2 * rows * plan_.cp * kv_width);
  const double keys = m_.seq_len();
  b.Attention(2 * rows * keys * heads * (att_.qk_head_dim + att_.v_head_dim),
              2 * rows * heads * (att_.qk_head_dim + 2 * att_.v_head_dim) + 2 * keys * kv_width, plan_.fp8_attention);
  const double o = heads * att_.v_head_dim;
  b.Compute(ComputeKind::kGemm, 2 * rows * o * h, 2 * (o * h + rows * o + rows * h));
  b.TpExit(act_full_);
  b.Compute(ComputeKind::kElementwise, 0, 6 * act_);  // dropout, residual add, norm
}

void Generator::AddDenseMlp(OpBuilder& b, double ffn) const {
  const double rows = rows_, h = h_, f = ffn / t_;
  const double first = m_.gated_mlp() ? 2 : 1;
  b.RecomputeOnly(kRecomputeLayernorm, ComputeKind::kElementwise, 0, 2 * act_);  // pre_mlp_layernorm
  b.SetModule(kRecomputeMlp);
  b.TpEnter(act_full_);
  b.Compute(ComputeKind::kGemm, 2 * rows * h * f * first, 2 * (h * f * first + rows * h + rows * f * first));
  b.Compute(ComputeKind::kElementwise, 0, 2 * rows * f * (first + 1));
  b.Compute(ComputeKind::kGemm, 2 * rows * f * h, 2 * (f * h + rows * f + rows * h));
  b.TpExit(act_full_);
  b.SetModule(0);
  b.Compute(ComputeKind::kElementwise, 0, 6 * act_);
}

// Rows the most loaded EP rank's experts process in one micro-batch, and the (token, expert) pairs it receives.
Generator::MoeRows Generator::RouteMoe(uint32_t layer) {
  const uint32_t experts = m_.routed_experts(), k = m_.top_k();
  RoutingInput in;
  in.experts = experts;
  in.top_k = k;
  in.ep = plan_.ep;
  in.tokens_per_rank = static_cast<uint64_t>(rows_sp_);
  in.ep_ranks_per_node = std::clamp<uint32_t>(gpus_per_node_ / etp_, 1, plan_.ep);
  SetDistribution(routing_, moe_layers_, in);
  if (in.skewed && zipf_alpha_ < 0) {  // once per program (once per search with a memo), not per layer
    zipf_alpha_ =
        routing_memo_ != nullptr ? routing_memo_->ZipfAlpha(experts, in.imbalance) : ZipfAlpha(experts, in.imbalance);
  }
  in.zipf_alpha = in.skewed ? zipf_alpha_ : 0;
  in.max_nodes_per_token = routing_.max_nodes_per_token();
  in.dedup_per_node = dispatcher_ == MoeDispatcher::kFlex;
  in.redundant_experts = routing_.redundant_experts();
  in.node_statistics = in.dedup_per_node;  // only a deduplicating dispatcher prices internode_scale
  const uint64_t layer_seed = MixSeed(seed_, layer);
  const RoutingResult& r = routing_memo_ != nullptr ? routing_memo_->Route(in, layer_seed) : RouteTokens(in, layer_seed);
  imbalance_sum_ += RankImbalance(r);
  ++moe_layers_;
  MoeRows rows;
  rows.recv = double(r.max_rank_tokens);
  rows.gemm = rows.recv;
  rows.internode_scale = in.dedup_per_node ? r.internode_scale : 1.0;  // NCCL all-to-all sends every pair
  if (routing_.capacity_factor() > 0) {  // drop and pad: every expert processes exactly its capacity
    const double capacity = std::ceil(routing_.capacity_factor() * rows_sp_ * plan_.ep * k / experts);
    rows.gemm = capacity * experts / plan_.ep;
    rows.recv = std::min(rows.recv, rows.gemm);
  }
  return rows;
}

// Router, host sync, permute and the dispatch exchange of one MoE layer (docs/workloads.md, "MoE layer").
void Generator::MoeDispatch(OpBuilder& b, const MoeRows& r) const {
  const double h = h_, tokens = rows_sp_, k = m_.top_k(), experts = m_.routed_experts();
  b.Compute(ComputeKind::kRouter, 2 * tokens * h * experts, 2 * tokens * h + 2 * h * experts + 4 * tokens * experts);
  if (moe_host_sync_) b.HostSync();
  const bool a2a = plan_.ep > 1;
  const double elem = fp8_dispatch_ ? 1 + 4.0 / 128 : 2;  // an FP8 scale per 128 values
  if (dispatcher_ == MoeDispatcher::kAllToAll) b.MemoryOp(ComputeKind::kPermute, 4 * tokens * k * h);  // global
  if (dispatcher_ == MoeDispatcher::kAllGather && a2a) {
    b.Collective(Coll::kAllGather, Dim::kEp, tokens * plan_.ep * h * elem);
  } else if (a2a && overlap_a2a_) {
    b.Async(Coll::kAllToAll, Dim::kEp, r.recv * h * elem, r.internode_scale);
  } else if (a2a) {
    b.Collective(Coll::kAllToAll, Dim::kEp, r.recv * h * elem, r.internode_scale);
  }
}

// The routed experts on the most loaded rank: FP8 quantisation of their inputs, the two grouped GEMMs and the
// activation (in fc1's epilogue with workload.fused_grouped_mlp). Rows are padded to capacity with a capacity factor.
void Generator::MoeExperts(OpBuilder& b, const MoeRows& r) const {
  const double h = h_, first = m_.gated_mlp() ? 2 : 1;
  const double te = r.gemm * (etp_ > 1 ? t_ : 1);  // rows this rank's expert GEMMs process
  const double f = double(m_.expert_ffn_hidden()) / etp_;
  const double local = double(m_.routed_experts() + routing_.redundant_experts()) / plan_.ep;  // replicas included
  const uint32_t kernels = static_cast<uint32_t>(local);
  const double w_bytes = plan_.fp8 ? 1 : 2;
  if (etp_ > 1) b.Collective(Coll::kAllGather, Dim::kTp, te * h * 2);
  b.MemoryOp(ComputeKind::kPermute, 4 * r.recv * h);  // sort by local expert (fused into DeepEP's receive too)
  if (plan_.fp8) b.Quantize(te * h, kernels, plan_.fp8_current_scaling);
  // Fused grouped MLP: fc1's epilogue applies the GLU and writes fc2's input in FP8, row- and column-wise.
  const double fused_out = plan_.fused_grouped_mlp ? 2 * te * f : 0;
  b.GroupedGemm(2 * te * h * f * first,
                local * h * f * first * w_bytes + te * h * w_bytes + 2 * te * f * first + fused_out, local,
                std::min(h, f * first));
  if (!plan_.fused_grouped_mlp) {
    b.SetModule(kRecomputeMoe | kRecomputeMoeAct);
    b.Compute(ComputeKind::kElementwise, 0, 2 * te * f * (first + 1));
    b.SetModule(kRecomputeMoe);
    if (plan_.fp8) b.Quantize(te * f, kernels, plan_.fp8_current_scaling);
  }
  b.GroupedGemm(2 * te * f * h, local * f * h * w_bytes + te * f * w_bytes + 2 * te * h, local, std::min(f, h));
  b.MemoryOp(ComputeKind::kPermute, 4 * r.recv * h);  // back to the exchange's order
  if (etp_ > 1) b.Collective(Coll::kReduceScatter, Dim::kTp, te * h * 2);
}

void Generator::AddMoe(OpBuilder& b, uint32_t layer) {
  const MoeRows r = RouteMoe(layer);
  const double h = h_, tokens = rows_sp_, k = m_.top_k();
  b.RecomputeOnly(kRecomputeLayernorm, ComputeKind::kElementwise, 0, 2 * act_);  // pre_mlp_layernorm
  b.SetModule(kRecomputeMoe);
  MoeDispatch(b, r);
  b.SetHostBound(false);  // the shared expert is issued before the sync point's consumers in Megatron's overlap
  const double first = m_.gated_mlp() ? 2 : 1;
  if (m_.shared_experts() > 0) {
    const double f = double(m_.shared_experts()) * m_.expert_ffn_hidden() / t_;
    b.SetModule(kRecomputeMoe | kRecomputeSharedExperts);
    b.TpEnter(act_full_);
    b.Compute(ComputeKind::kGemm, 2 * rows_ * h * f * first, 2 * (h * f * first + rows_ * h + rows_ * f * first));
    b.SetModule(kRecomputeMoe | kRecomputeSharedExperts | kRecomputeMoeAct);
    b.Compute(ComputeKind::kElementwise, 0, 2 * rows_ * f * (first + 1));
    b.SetModule(kRecomputeMoe | kRecomputeSharedExperts);
    b.Compute(ComputeKind::kGemm, 2 * rows_ * f * h, 2 * (f * h + rows_ * f + rows_ * h));
    b.TpExit(act_full_);
    b.SetModule(kRecomputeMoe);
  }
  if (plan_.ep > 1 && overlap_a2a_ && dispatcher_ != MoeDispatcher::kAllGather) b.Wait();
  b.SetHostBound(moe_host_sync_);
  if (experts_host_sync_) b.HostSync();  // the experts' token counts to the host
  MoeExperts(b, r);
  const bool a2a = plan_.ep > 1;
  if (dispatcher_ == MoeDispatcher::kAllGather && a2a) {
    b.Collective(Coll::kReduceScatter, Dim::kEp, tokens * plan_.ep * h * 2);
  } else if (a2a && overlap_a2a_) {
    b.Async(Coll::kAllToAll, Dim::kEp, r.recv * h * 2, r.internode_scale);
    b.Wait();
  } else if (a2a) {
    b.Collective(Coll::kAllToAll, Dim::kEp, r.recv * h * 2, r.internode_scale);
  }
  // Unpermute with the probability-weighted sum of the top_k copies (DeepEP's combine does it in the exchange).
  if (dispatcher_ != MoeDispatcher::kFlex) b.MemoryOp(ComputeKind::kPermute, 4 * tokens * k * h);
  b.SetHostBound(false);
  b.SetModule(0);
  b.Compute(ComputeKind::kElementwise, 0, 6 * act_);  // residual, norm
}

LayerOps Generator::BuildLayer(uint32_t layer) {
  const bool mtp = layer >= m_.layers();
  const bool moe = mtp ? MtpIsMoe(m_) : IsMoeLayer(m_, layer);
  OpBuilder b(t_, sp_, plan_.tp_comm_overlap);
  const LayerParams lp = CountLayerParams(m_, moe);
  double dense = (lp.attention + lp.mlp) / t_ + lp.norms + lp.router;
  if (mtp) {
    // Multi-token prediction: embedding of the shifted tokens (shared table), norms, projection 2h -> h.
    b.Compute(ComputeKind::kEmbedding, 0, 2 * act_full_ / t_ + 4 * act_);
    b.TpExit(act_full_);
    b.TpEnter(act_full_);
    b.Compute(ComputeKind::kGemm, 2 * rows_ * 2 * h_ * h_ / t_,
              2 * (2 * h_ * h_ / t_ + 2 * rows_ * h_ + rows_ * h_ / t_));
    b.TpExit(act_full_);
    dense += 2 * h_ * h_ / t_ + 3 * h_;
  }
  b.BeginRecompute();
  AddAttention(b);
  if (moe) {
    AddMoe(b, layer);
  } else {
    AddDenseMlp(b, m_.ffn_hidden());
  }
  b.EndRecompute();
  LayerOps l;
  if (mtp) {
    // The module's own output layer and loss (the weights are the model's, shared).
    LayerOps out = BuildOutput();
    l = b.Finish(plan_.recompute, plan_.recompute_modules);
    l.fwd.insert(l.fwd.end(), out.fwd.begin(), out.fwd.end());
    l.bwd.insert(l.bwd.begin(), out.bwd.begin(), out.bwd.end());
    l.act_bytes += out.act_bytes;
  } else {
    l = b.Finish(plan_.recompute, plan_.recompute_modules);
  }
  l.dense_params = dense;
  // Replicas (moe_routing.redundant_experts) are held like the originals.
  l.expert_params = lp.routed_experts * ExpertCopies() / (double(plan_.ep) * etp_);
  ActivationShape shape;
  shape.micro_batch = plan_.micro_batch_size;
  shape.seq = m_.seq_len() / plan_.cp;
  shape.keys = m_.seq_len();
  shape.tp = t_;
  shape.sequence_parallel = sp_;
  shape.recompute = plan_.recompute;
  shape.recompute_modules = plan_.recompute_modules;
  shape.expert_tp = etp_;
  shape.fused_attention = true;
  shape.fp8 = plan_.fp8;
  shape.dropout = m_.dropout();
  shape.fp8_glu_input = plan_.memory.fp8_moe_glu_input;
  l.act_bytes += LayerActivationBytes(m_, moe, shape);
  return l;
}

LayerOps Generator::BuildEmbedding() const {
  OpBuilder b(t_, sp_, plan_.tp_comm_overlap);
  b.Compute(ComputeKind::kEmbedding, 0, 2 * act_full_ / t_ + rows_ * 4);  // vocabulary-parallel lookup
  b.TpExit(act_full_);
  LayerOps l = b.Finish(Recompute::kNone);
  l.dense_params = double(m_.vocab()) * h_ / t_ + (m_.gated_mlp() ? 0.0 : double(m_.seq_len()) * h_);
  l.act_bytes = act_;
  return l;
}

LayerOps Generator::BuildOutput() const {
  OpBuilder b(t_, sp_, plan_.tp_comm_overlap);
  const double v = double(m_.vocab()) / t_;
  b.Compute(ComputeKind::kElementwise, 0, 4 * act_);  // final norm
  b.TpEnter(act_full_);
  b.Compute(ComputeKind::kGemm, 2 * rows_ * h_ * v, 2 * (h_ * v + rows_ * h_) + 4 * rows_ * v);
  b.Compute(ComputeKind::kElementwise, 0, 8 * rows_ * v);             // fp32 softmax cross-entropy
  if (t_ > 1) b.ForwardOnly(Coll::kAllReduce, Dim::kTp, 12 * rows_);  // max, sum of exponentials, target logit
  LayerOps l = b.Finish(Recompute::kNone);
  l.dense_params = double(m_.vocab()) * h_ / t_ + (m_.gated_mlp() ? h_ : 2 * h_);
  l.act_bytes = 4 * rows_ * v;
  return l;
}

void Generator::PlaceLayers() {
  const uint32_t pp = plan_.pp, chunks = plan_.chunks(), nv = pp * chunks, layers = m_.layers();
  vstages_.assign(nv, {});
  if (!plan_.layout.empty()) {
    PlaceLayout();
    return;
  }
  // Layer slots: the transformer layers, plus one each for the embedding and the output layer where the plan counts
  // them (Plan::embedding_slot, loss_slot); ResolvePlan checked that every virtual stage gets a slot.
  const auto slots = static_cast<uint32_t>(plan_.split_slots(layers));
  std::vector<uint32_t> count(nv, slots / nv);
  uint32_t rem = slots % nv;
  // Extra slots go to the middle virtual stages first (the first holds the embedding, the last the output layer),
  // then to the first.
  for (uint32_t v = 1; v + 1 < nv && rem > 0; ++v, --rem) ++count[v];
  if (rem > 0) {
    ++count[0];
    --rem;
  }
  if (rem > 0) ++count[nv - 1];
  count[0] -= plan_.embedding_slot;
  count[nv - 1] -= plan_.loss_slot;
  uint32_t next = 0;
  for (uint32_t v = 0; v < nv; ++v) {
    vstages_[v].first_layer = next;
    vstages_[v].num_layers = count[v];
    next += count[v];
  }
  vstages_.front().first = true;
  vstages_.back().last = true;
  vstages_.back().num_layers += m_.mtp_depth();
}

// The plan's custom layout (ResolvePlan checked it: one entry per virtual stage, E first, L last, every layer and MTP
// module once, in order).
void Generator::PlaceLayout() {
  uint32_t next = 0;
  for (size_t v = 0; v < vstages_.size(); ++v) {
    const LayoutStage& s = plan_.layout[v];
    vstages_[v].first_layer = next;
    vstages_[v].num_layers = s.decoders + s.mtp;
    vstages_[v].first = s.embedding;
    vstages_[v].last = s.loss;
    next += vstages_[v].num_layers;
  }
}

std::vector<uint32_t> Generator::ChunkLayers(uint32_t v) const {
  std::vector<uint32_t> ids;
  const VirtualStageInfo& vs = vstages_[v];
  if (vs.first) ids.push_back(embedding_index_);
  for (uint32_t i = 0; i < vs.num_layers; ++i) ids.push_back(vs.first_layer + i);
  if (vs.last) ids.push_back(output_index_);
  return ids;
}

void Generator::EmitP2P(std::vector<Op>& out, OpType type, Phase phase, int32_t delta, uint32_t mb,
                        uint32_t chunk) const {
  Op op;
  op.type = type;
  op.phase = phase;
  op.peer_delta = delta;
  op.microbatch = mb;
  op.chunk = chunk;
  op.comm_bytes = Bytes(act_);
  out.push_back(op);
}

// ZeRO-3: all-gathers the parameters of layers[i] (blocking), or with overlap_param_gather prefetches layers[i+1]
// and waits for layers[i] (issued one step earlier, or now for i = 0).
void Generator::Zero3Gather(std::vector<Op>& out, const std::vector<uint32_t>& layers, size_t i, Phase phase,
                            uint32_t mb, uint32_t chunk) const {
  const uint32_t tag_base = phase == Phase::kForward ? kTagZero3Forward : kTagZero3Backward;
  auto issue = [&](size_t j, bool async) {
    const LayerOps& l = layers_[layers[j]];
    const uint32_t tag = tag_base + static_cast<uint32_t>(j & 1);
    for (int part = 0; part < 2; ++part) {
      const double params = part == 0 ? l.dense_params : l.expert_params;
      const uint32_t shards = part == 0 ? dense_shards_ : expert_shards_;
      if (params <= 0 || shards <= 1) continue;
      Op op = CollOp(phase, Coll::kAllGather, part == 0 ? dense_dim_ : Dim::kEdp, params * bytes_.gather);
      op.async = async;
      op.tag = async ? tag : 0;
      op.microbatch = mb;
      op.chunk = chunk;
      out.push_back(op);
    }
  };
  if (!plan_.overlap_param_gather) {
    issue(i, false);
    return;
  }
  if (i == 0) issue(0, true);
  if (i + 1 < layers.size()) issue(i + 1, true);
  Op w = WaitOp(phase, tag_base + static_cast<uint32_t>(i & 1));
  w.microbatch = mb;
  w.chunk = chunk;
  out.push_back(w);
}

// TransformerEngine's delayed scaling reduces the amaxes of every FP8 tensor of an autocast region (Megatron-Core:
// one model chunk) when the region's forward ends and when its backward ends, with a blocking all-reduce (MAX) over
// Megatron-Core's amax reduction group: the tensor x data x context-parallel ranks of the stage. Modelled over the
// data(-context)-parallel group, which spans the same nodes when tp fits in a node (TP peers add intra-node hops
// only), or over TP when there is no data parallelism.
void Generator::ResolveAmaxReduction() {
  amax_ = plan_.fp8_amax_reduction && plan_.tp * plan_.dp * plan_.cp > 1;
  amax_dim_ = plan_.dp * plan_.cp > 1 ? dense_dim_ : Dim::kTp;
  // One fp32 amax per FP8 tensor: input, weight and output of each linear (QKV, projection, fc1, fc2; a MoE layer
  // adds fc1 and fc2 of every local expert).
  const double local_experts = m_.kind() == "moe" ? double(m_.routed_experts()) / std::max(1u, plan_.ep) : 0;
  amax_bytes_per_layer_ = 4.0 * 3.0 * (4.0 + 2.0 * local_experts);
}

void Generator::AmaxReduce(std::vector<Op>& out, Phase phase, uint32_t mb, uint32_t chunk, uint32_t layers) const {
  // A chunk without transformer layers (a layout stage holding only the embedding or the loss) has no FP8 tensors:
  // TransformerEngine skips an empty amax buffer.
  if (!amax_ || layers == 0) return;
  // The backward region reduces the gradients' amaxes: two FP8 tensors per linear instead of three.
  const double scale = phase == Phase::kForward ? 1.0 : 2.0 / 3.0;
  Op op = CollOp(phase, Coll::kAllReduce, amax_dim_, double(layers) * amax_bytes_per_layer_ * scale);
  op.microbatch = mb;
  op.chunk = chunk;
  out.push_back(op);
}

void Generator::EmitForward(std::vector<Op>& out, uint32_t rank, const Task& task, RankState& st) const {
  const uint32_t v = VirtualStage(plan_.schedule, plan_.pp, rank, task.chunk);
  const VirtualStageInfo& vs = vstages_[v];
  const bool zero12_overlap = plan_.overlap_param_gather && (plan_.zero_stage == 1 || plan_.zero_stage == 2);
  if (zero12_overlap && !st.first_forward_done[task.chunk]) {
    Op w = WaitOp(Phase::kForward, kTagParamBase + task.chunk);
    w.chunk = task.chunk;
    out.push_back(w);
  }
  st.first_forward_done[task.chunk] = true;
  if (!vs.first) {
    const StageChunk prev = StageOfVirtual(plan_.schedule, plan_.pp, v - 1);
    if (prev.rank != rank)
      EmitP2P(out, OpType::kRecv, Phase::kForward, -ForwardDelta(prev.chunk), task.microbatch, task.chunk);
  }
  const std::vector<uint32_t> ids = ChunkLayers(v);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (plan_.zero_stage == 3) Zero3Gather(out, ids, i, Phase::kForward, task.microbatch, task.chunk);
    Append(out, layers_[ids[i]].fwd, task.microbatch, task.chunk);
  }
  AmaxReduce(out, Phase::kForward, task.microbatch, task.chunk, vs.num_layers);
  if (!vs.last) {
    const StageChunk next = StageOfVirtual(plan_.schedule, plan_.pp, v + 1);
    if (next.rank != rank) {
      EmitP2P(out, OpType::kSend, Phase::kForward, ForwardDelta(task.chunk), task.microbatch, next.chunk);
    }
  }
}

void Generator::GradBucket(std::vector<Op>& out, RankState& st, uint32_t chunk, Dim dim, double params) const {
  const uint32_t shards = dim == Dim::kEdp ? expert_shards_ : dense_shards_;
  if (params <= 0 || shards <= 1) return;
  st.buckets[chunk].push_back({dim, params});
  if (!plan_.overlap_grad_reduce) return;  // issued after the last backward, see BuildStage
  Op op = CollOp(Phase::kGradSync, plan_.zero_stage == 0 ? Coll::kAllReduce : Coll::kReduceScatter, dim,
                 params * bytes_.gradients);
  op.async = true;
  op.tag = kTagGrad;
  op.chunk = chunk;
  out.push_back(op);
}

void Generator::EmitBackward(std::vector<Op>& out, uint32_t rank, const Task& task, bool last_of_chunk,
                             RankState& st) const {
  const uint32_t v = VirtualStage(plan_.schedule, plan_.pp, rank, task.chunk);
  const VirtualStageInfo& vs = vstages_[v];
  if (!vs.last) {
    const StageChunk next = StageOfVirtual(plan_.schedule, plan_.pp, v + 1);
    if (next.rank != rank) {
      EmitP2P(out, OpType::kRecv, Phase::kBackward, ForwardDelta(task.chunk), task.microbatch, task.chunk);
    }
  }
  const std::vector<uint32_t> fwd_ids = ChunkLayers(v);
  const std::vector<uint32_t> ids(fwd_ids.rbegin(), fwd_ids.rend());
  const bool buckets = last_of_chunk && plan_.zero_stage < 3;
  double& acc_dense = st.grad_acc_dense[task.chunk];
  double& acc_expert = st.grad_acc_expert[task.chunk];
  for (size_t i = 0; i < ids.size(); ++i) {
    const LayerOps& l = layers_[ids[i]];
    if (plan_.zero_stage == 3) Zero3Gather(out, ids, i, Phase::kBackward, task.microbatch, task.chunk);
    Append(out, l.rec, task.microbatch, task.chunk);
    Append(out, l.bwd, task.microbatch, task.chunk);
    if (plan_.zero_stage == 3) {
      for (int part = 0; part < 2; ++part) {
        const double params = part == 0 ? l.dense_params : l.expert_params;
        const uint32_t shards = part == 0 ? dense_shards_ : expert_shards_;
        if (params <= 0 || shards <= 1) continue;
        Op op = CollOp(Phase::kGradSync, Coll::kReduceScatter, part == 0 ? dense_dim_ : Dim::kEdp,
                       params * bytes_.gradients);
        op.async = plan_.overlap_grad_reduce;
        op.tag = op.async ? kTagGrad : 0;
        op.microbatch = task.microbatch;
        op.chunk = task.chunk;
        out.push_back(op);
      }
    }
    if (buckets) {
      acc_dense += l.dense_params;
      acc_expert += l.expert_params;
      if (acc_dense >= bucket_params_) {
        GradBucket(out, st, task.chunk, dense_dim_, acc_dense);
        acc_dense = 0;
      }
      if (acc_expert >= bucket_params_) {
        GradBucket(out, st, task.chunk, Dim::kEdp, acc_expert);
        acc_expert = 0;
      }
    }
  }
  if (buckets) {
    GradBucket(out, st, task.chunk, dense_dim_, acc_dense);
    GradBucket(out, st, task.chunk, Dim::kEdp, acc_expert);
    acc_dense = acc_expert = 0;
  }
  AmaxReduce(out, Phase::kBackward, task.microbatch, task.chunk, vs.num_layers);
  if (!vs.first) {
    const StageChunk prev = StageOfVirtual(plan_.schedule, plan_.pp, v - 1);
    if (prev.rank != rank) {
      EmitP2P(out, OpType::kSend, Phase::kBackward, -ForwardDelta(prev.chunk), task.microbatch, prev.chunk);
    }
  }
}

// Interleaves the ops of an overlapped forward/backward pair, switching stream after each async all-to-all so
// that one stream's all-to-all runs while the other computes.
void MergePair(const std::vector<Op>& f, const std::vector<Op>& b, std::vector<Op>& out) {
  size_t i = 0, j = 0;
  bool forward = true;
  while (i < f.size() || j < b.size()) {
    const std::vector<Op>& src = forward ? f : b;
    size_t& k = forward ? i : j;
    while (k < src.size()) {
      const Op& op = src[k++];
      out.push_back(op);
      if (op.type == OpType::kCollective && op.async && op.coll == Coll::kAllToAll) break;
    }
    forward = !forward;
  }
}

void Generator::BuildStage(uint32_t rank, StepProgram& prog) const {
  const uint32_t chunks = plan_.chunks();
  const std::vector<Task> tasks = BuildTaskOrder(plan_.schedule, plan_.pp, chunks, plan_.microbatches, rank);
  std::vector<size_t> last_backward(chunks, 0);
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (!tasks[i].forward) last_backward[tasks[i].chunk] = i;
  }
  RankState st;
  st.grad_acc_dense.assign(chunks, 0);
  st.grad_acc_expert.assign(chunks, 0);
  st.buckets.assign(chunks, {});
  st.first_forward_done.assign(chunks, false);

  // Per-chunk totals: parameters and activations.
  double dense = 0, expert = 0, layer_count = 0;
  std::vector<double> chunk_act(chunks, 0);
  size_t ops_per_round = 0;
  for (uint32_t c = 0; c < chunks; ++c) {
    const uint32_t v = VirtualStage(plan_.schedule, plan_.pp, rank, c);
    for (uint32_t id : ChunkLayers(v)) {
      const LayerOps& l = layers_[id];
      dense += l.dense_params;
      expert += l.expert_params;
      chunk_act[c] += l.act_bytes;
      ops_per_round += l.fwd.size() + l.bwd.size() + l.rec.size() + 8;
    }
    layer_count += vstages_[v].num_layers;
  }
  prog.layers_per_stage[rank] = static_cast<uint32_t>(layer_count);

  std::vector<Op>& out = prog.stages[rank];
  out.reserve(ops_per_round * plan_.microbatches + 64);
  std::vector<Op> fbuf, bbuf;
  double in_flight = 0, peak = 0;
  for (size_t i = 0; i < tasks.size(); ++i) {
    const Task& task = tasks[i];
    if (task.forward) {
      in_flight += chunk_act[task.chunk];
      peak = std::max(peak, in_flight);
    } else {
      in_flight -= chunk_act[task.chunk];
    }
    if (task.forward && task.pair_with_next && overlap_a2a_ && i + 1 < tasks.size()) {
      const Task& next = tasks[i + 1];
      fbuf.clear();
      bbuf.clear();
      EmitForward(fbuf, rank, task, st);
      EmitBackward(bbuf, rank, next, last_backward[next.chunk] == i + 1, st);
      MergePair(fbuf, bbuf, out);
      in_flight -= chunk_act[next.chunk];
      ++i;
    } else if (task.forward) {
      EmitForward(out, rank, task, st);
    } else {
      EmitBackward(out, rank, task, last_backward[task.chunk] == i, st);
    }
  }

  // Gradient synchronization, optimizer, parameter all-gather.
  const Coll grad_coll = plan_.zero_stage == 0 ? Coll::kAllReduce : Coll::kReduceScatter;
  if (plan_.overlap_grad_reduce) {
    out.push_back(WaitOp(Phase::kGradSync, kTagGrad));
  } else if (plan_.zero_stage < 3) {
    for (uint32_t c = 0; c < chunks; ++c) {
      for (const auto& [dim, params] : st.buckets[c]) {
        Op op = CollOp(Phase::kGradSync, grad_coll, dim, params * bytes_.gradients);
        op.chunk = c;
        out.push_back(op);
      }
    }
  }
  const double shard = plan_.zero_stage >= 1 ? dense / dense_shards_ + expert / expert_shards_ : dense + expert;
  out.push_back(ComputeOp(Phase::kOptimizer, ComputeKind::kOptimizer, 0,
                          shard * (bytes_.gather + bytes_.gradients + bytes_.optimizer), 1));
  if (plan_.zero_stage == 1 || plan_.zero_stage == 2) {
    for (uint32_t c = 0; c < chunks; ++c) {
      for (const auto& [dim, params] : st.buckets[c]) {
        Op op = CollOp(Phase::kOptimizer, Coll::kAllGather, dim, params * bytes_.gather);
        op.chunk = c;
        op.async = plan_.overlap_param_gather;
        op.tag = op.async ? kTagParamBase + c : 0;
        out.push_back(op);
      }
    }
  }

  MemoryEstimate mem = ModelStateMemory(dense, expert, dense_shards_, expert_shards_, plan_.zero_stage, bytes_);
  mem.activations = peak * bytes_.activations_on_gpu;
  mem.offloaded += peak - mem.activations;
  AddOverhead(plan_, FrameworkOverheadBytes(plan_, layout_), mem);
  prog.stage_memory[rank] = mem;
}

StepProgram Generator::Build() {
  PlaceLayers();
  const uint32_t total_layers = m_.layers() + m_.mtp_depth();
  layers_.reserve(total_layers + 2);
  for (uint32_t l = 0; l < total_layers; ++l) layers_.push_back(BuildLayer(l));
  embedding_index_ = static_cast<uint32_t>(layers_.size());
  layers_.push_back(BuildEmbedding());
  output_index_ = static_cast<uint32_t>(layers_.size());
  layers_.push_back(BuildOutput());
  // A tied output layer on the embedding's own rank and chunk shares its weights.
  if (m_.tied_embeddings() && vstages_.size() == 1) layers_[output_index_].dense_params = 0;

  StepProgram prog;
  prog.layout = layout_;
  prog.chunks_per_stage = plan_.chunks();
  prog.stages.resize(plan_.pp);
  prog.layers_per_stage.assign(plan_.pp, 0);
  prog.stage_memory.assign(plan_.pp, {});
  prog.microbatches = plan_.microbatches;
  prog.tokens_per_step = uint64_t{plan_.global_batch_size} * m_.seq_len();
  const StepFlops flops = ComputeStepFlops(m_, plan_.global_batch_size, plan_.recompute, plan_.recompute_modules);
  prog.model_flops_per_step = flops.model;
  prog.hardware_flops_per_step = flops.hardware;
  prog.model_flops_causal_per_step = flops.model_causal;
  prog.flop_convention = kFlopConvention;
  prog.precision = plan_.fp8 ? "fp8" : "bf16";
  prog.schedule = ToString(plan_.schedule);
  if (plan_.zero_stage == 3) {
    prog.zero3_implementation = plan_.zero3->name;
    prog.compute_efficiency = plan_.zero3->compute_efficiency;
    prog.sharded_dp_collective_efficiency = plan_.zero3->collective_efficiency;
  }
  const ParamCount pc = CountParams(m_);
  prog.params_total = pc.total + pc.mtp;
  prog.params_active = pc.active + pc.mtp_active;
  prog.moe_load_imbalance = moe_layers_ > 0 ? imbalance_sum_ / moe_layers_ : 1;
  for (uint32_t s = 0; s < plan_.pp; ++s) BuildStage(s, prog);
  for (uint32_t s = 0; s < prog.stage_memory.size(); ++s) {
    if (prog.stage_memory[s].total() > prog.memory.total()) {
      prog.memory = prog.stage_memory[s];
      prog.memory_stage = s;
    }
  }
  return prog;
}

}  // namespace

StepProgram BuildStepProgram(const v1::Workload& workload, uint32_t num_gpus, uint32_t gpus_per_node, uint64_t seed,
                             RoutingMemo* routing_memo) {
  Generator g(workload, num_gpus, gpus_per_node, seed, routing_memo);
  return g.Build();
}

}  // namespace clustersim::wl
