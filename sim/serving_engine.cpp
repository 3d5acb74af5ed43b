// Serving iteration time and instance memory; see serving_engine.h.
#include "sim/serving_engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "common/error.h"

namespace clustersim::sim {

ServingFamily ServingFamilyOf(const v1::Accelerator& a) {
  std::string n;
  for (char c : a.name()) n.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  const auto has = [&n](const char* s) { return n.find(s) != std::string::npos; };
  // Fitted values and their cases: docs/serving.md "Calibration" and docs/validation-notes.md "Serving". Refit after
  // the training catalog's refit (issue #17: FP8 GEMM efficiency 0.59 -> 0.53 Hopper, 0.50 Blackwell): Blackwell on
  // its fit case over {0.80, 0.83, 0.87, 0.90}: -3.9%, -3.3%, -2.9%, +2.1%; Hopper stays at its bound 1.0 (-9.6%).
  if (has("h100") || has("h200") || has("h800") || has("h20")) return {"hopper", 1.0, 1.0e-3, 0.67};
  if (has("b200") || has("gb200") || has("b300")) return {"blackwell", 0.90, 1.0e-3, 0.67};
  if (has("ascend")) return {"ascend", 0.80, 1.5e-3, 0.5};
  return {"other", 0.80, 1.0e-3, 0.5};
}

double Curve::At(double v) const {
  if (x.empty() || !(v > 0)) return 0;
  if (v <= x.front()) return t.front();
  const size_t n = x.size();
  size_t hi = static_cast<size_t>(std::upper_bound(x.begin(), x.end(), v) - x.begin());
  if (hi >= n) hi = n - 1;
  const size_t lo = hi - 1;
  const double slope = (t[hi] - t[lo]) / (x[hi] - x[lo]);
  return std::max(0.0, t[lo] + slope * (v - x[lo]));
}

std::string InstanceSpec::Label() const { return fmt::format("tp{} pp{} dpa{} ep{}", tp, pp, dpa, ep); }

InstanceSpec InstanceSpecOf(const v1::ServingPool& p) {
  InstanceSpec s;
  s.role = p.role();
  s.tp = p.tp();
  s.pp = p.pp();
  s.dpa = p.dp_attention();
  s.ep = p.ep();
  s.max_batch = p.max_batch();
  s.max_num_tokens = p.max_num_tokens();
  s.two_batch_overlap = p.two_batch_overlap();
  s.redundant_experts = p.redundant_experts();
  s.expert_imbalance = p.expert_imbalance();
  s.kv_memory_fraction = p.kv_memory_fraction();
  return s;
}

namespace {

// Splits of the KV cache and the weights of one GPU (serving_engine.h).
double KvSplit(const wl::InferenceModel& m, const InstanceSpec& s) {
  return m.mla ? 1.0 : double(std::min(s.tp, std::max(1u, m.kv_heads)));
}

double WeightParamsPerGpu(const wl::InferenceModel& m, const InstanceSpec& s) {
  const double dense = m.attention_params + m.dense_mlp_params + 2 * m.logits_params + m.mtp_weight_params;
  const double layers = double(m.moe_layers + m.mtp_moe_layers);
  const double experts = double(m.routed_experts) * layers * m.expert_params;
  const double expert_share =
      s.ep > 1 ? (experts + double(s.redundant_experts) * layers * m.expert_params) / s.ep : experts / s.tp;
  return (dense / s.tp + expert_share) / s.pp;
}

}  // namespace

InstanceMemory PlanInstanceMemory(const wl::InferenceModel& m, const InstanceSpec& s, double hbm_bytes,
                                  const std::string& file, int pool) {
  InstanceMemory mem;
  mem.weights_bytes = WeightParamsPerGpu(m, s) * m.weight_bytes_per_param;
  // Workspace: CUDA graphs, communication buffers and the activations of a max_num_tokens iteration (per attention
  // rank).
  mem.activation_bytes = 2e9 + double(s.max_num_tokens) / s.dpa * m.hidden * 16.0 / s.tp;
  const double free = hbm_bytes - mem.weights_bytes - mem.activation_bytes;
  if (!(free > 0)) {
    throw DoesNotFitError(InputError::Field(
        file, 0, fmt::format("serving.pools[{}]", pool), s.Label(),
        fmt::format("the weights need {:.1f} GB per GPU and the workspace {:.1f} GB, but the accelerator has {:.0f} "
                    "GB: use more tensor, pipeline or expert parallelism, or a smaller weight precision",
                    mem.weights_bytes / 1e9, mem.activation_bytes / 1e9, hbm_bytes / 1e9))
                              .what());
  }
  mem.kv_bytes = free * s.kv_memory_fraction;
  mem.kv_bytes_per_token = m.kv_bytes_per_token_layer * (double(m.layers) / s.pp) / KvSplit(m, s);
  mem.kv_capacity_tokens = static_cast<uint64_t>(mem.kv_bytes / mem.kv_bytes_per_token) * s.dpa;
  return mem;
}

IterationModel::IterationModel(const wl::InferenceModel& model, const InstanceSpec& spec, const ComputeModel& compute,
                               double attention_efficiency, const CommTable& comm, const EngineParams& engine)
    : model_(model), spec_(spec), compute_(compute), comm_(comm), engine_(engine) {
  const double base = compute.Efficiency(wl::ComputeKind::kAttention, 1e30);
  attention_scale_ = base > 0 ? attention_efficiency / base : 1;
}

IterationModel::Part IterationModel::Roofline(wl::ComputeKind kind, double flops, double bytes,
                                              double flops_per_kernel, double kernels) const {
  Part p;
  if (flops > 0) {
    const bool attention = kind == wl::ComputeKind::kAttention;
    const double peak = attention ? compute_.attention_peak_flops() : compute_.peak_flops();
    const double eff = compute_.Efficiency(kind, std::max(1.0, flops_per_kernel)) * (attention ? attention_scale_ : 1);
    p.compute_s = flops / (peak * eff);
  }
  p.memory_s = bytes / compute_.hbm_bytes_per_s();
  p.overhead_s = ComputeModel::kKernelOverheadS * kernels;
  return p;
}

namespace {
constexpr double kGemmsPerLayer = 4;        // QKV (or MLA projections), output, gate/up, down
constexpr double kOtherKernelsPerLayer = 8;  // norms, rope, KV write, activation, residuals, collectives' launches
constexpr double kMoeKernelsPerLayer = 7;    // router, top-k, permute, 3 grouped GEMMs, unpermute
constexpr double kMtpKernelsPerStep = 16;
// Grouped expert GEMMs run in tiles of this many tokens per expert (CUTLASS / DeepGEMM block M): an expert's tokens
// are padded up to a multiple of it.
constexpr double kExpertTileTokens = 64;
// Activation bytes read and written per token and layer by the memory-bound kernels, in units of the hidden size in
// bf16 (norms, residuals, rope, quantisation, activation function): about 8 passes.
constexpr double kActivationPassesPerLayer = 8;
// Two-batch overlap hides the shorter of a micro-batch's compute and its EP communication only partly: the
// communication kernels take SMs from the computation and the two halves do not align. Half of it stays exposed:
// SGLang's ablation gains 27-35% in prefill and 25% in decode when compute and communication are about equal
// (LMSYS blog 2025-05-05), i.e. t = max + 0.5 x min against max + min without overlap.
constexpr double kTboExposed = 0.5;
}  // namespace

IterationModel::Part IterationModel::Experts(double tokens, double per_rank) const {
  const wl::InferenceModel& m = model_;
  const InstanceSpec& s = spec_;
  if (m.moe_layers == 0 || tokens <= 0) return {};
  const double moe_layers = double(m.moe_layers) / s.pp;
  const bool ep = s.ep > 1;
  const double pairs = ep ? tokens * m.top_k / s.ep * s.expert_imbalance : per_rank * m.top_k;
  const double held = ep ? double(m.routed_experts + s.redundant_experts) / s.ep : m.routed_experts;
  const double touched = std::max(1.0, wl::ExpertsTouched(held, m.routed_experts, m.top_k, ep ? tokens : per_rank));
  const double padded = touched * std::ceil(pairs / touched / kExpertTileTokens) * kExpertTileTokens;
  const double split = ep ? 1.0 : s.tp;  // ep = 1: every expert tensor-parallel over tp
  const double flops = 2 * m.expert_params * padded * moe_layers / split;
  const double bytes = touched * m.expert_params * m.weight_bytes_per_param * moe_layers / split;
  return Roofline(wl::ComputeKind::kGemm, flops, bytes, flops / (3 * moe_layers), kMoeKernelsPerLayer * moe_layers);
}

IterationModel::StageWork IterationModel::StageCompute(const BatchShape& b) const {
  const wl::InferenceModel& m = model_;
  const InstanceSpec& s = spec_;
  const double layers = double(m.layers) / s.pp;
  const double q_per_seq = 1.0 + engine_.draft_tokens;
  const double tokens = b.prefill_tokens + b.decode_seqs * q_per_seq;
  // The busiest attention rank's share of the prompt work (DP attention: a chunk is not split over ranks).
  const double skew = b.prefill_tokens > 0 ? std::max(1.0, b.prefill_max_chunk * s.dpa / b.prefill_tokens) : 1;
  const double per_rank = (b.prefill_tokens * skew + b.decode_seqs * q_per_seq) / s.dpa;
  const double wb = m.weight_bytes_per_param;
  StageWork w;
  const double dense = (m.attention_params + m.dense_mlp_params) / s.pp;
  const double dense_flops = 2 * dense * per_rank / s.tp, dense_kernels = kGemmsPerLayer * layers;
  w.dense = Roofline(wl::ComputeKind::kGemm, dense_flops, dense * wb / s.tp, dense_flops / dense_kernels,
                     dense_kernels + kOtherKernelsPerLayer * layers);
  w.experts = Experts(tokens, per_rank);
  const double kv_split = KvSplit(m, s), heads_split = double(s.tp) * s.dpa;
  const double kv_bytes = m.kv_bytes_per_token_layer * layers / (kv_split * s.dpa);
  const double pf = b.prefill_pairs * skew * m.prefill_pair_flops * layers / heads_split;
  const double df = b.decode_kv * q_per_seq * m.decode_pair_flops * layers / heads_split;
  const Part pa = Roofline(wl::ComputeKind::kAttention, pf, b.prefill_kv * skew * kv_bytes, pf / std::max(1.0, layers),
                           b.prefill_tokens > 0 ? layers : 0);
  const Part da = Roofline(wl::ComputeKind::kAttention, df, b.decode_kv * kv_bytes, df / std::max(1.0, layers),
                           b.decode_seqs > 0 ? layers : 0);
  w.attention = Sum(pa, da);
  w.attention_s = pa.Seconds() + da.Seconds();
  const double sampled = (b.logit_tokens + b.decode_seqs * q_per_seq) / s.dpa;
  const double lf = 2 * m.logits_params * sampled / s.tp;
  const double expert_ffn = m.moe_layers > 0 ? m.expert_params / (3.0 * m.hidden) : 0;
  const double pairs_per_rank = (s.ep > 1 ? tokens / s.ep : per_rank / s.tp) * m.top_k;
  const double act_bytes = kActivationPassesPerLayer * 2.0 * m.hidden * per_rank / s.tp * layers +
                           pairs_per_rank * (5.0 * m.hidden + 8.0 * expert_ffn) * m.moe_layers / s.pp;
  const Part logits =
      Roofline(wl::ComputeKind::kGemm, lf, (sampled > 0 ? m.logits_params * wb / s.tp : 0) + act_bytes, lf, 1);
  Part mtp;
  if (engine_.draft_tokens > 0 && b.decode_seqs > 0) {
    const double p = m.mtp_params + m.logits_params, steps = engine_.draft_tokens;
    const double f = 2 * p * b.decode_seqs / s.dpa / s.tp;
    mtp = Roofline(wl::ComputeKind::kGemm, f * steps, p * wb / s.tp * steps, f, kMtpKernelsPerStep * steps);
  }
  w.other = Sum(logits, mtp);
  w.other_s = logits.Seconds() + mtp.Seconds();
  return w;
}

double IterationModel::StageComm(const BatchShape& b, double& ep_s) const {
  const InstanceSpec& s = spec_;
  const double tokens = b.prefill_tokens + b.decode_seqs * (1.0 + engine_.draft_tokens);
  double other = 0;
  ep_s = 0;
  if (tokens <= 0) return 0;
  if (s.tp > 1) other += 2 * (double(model_.layers) / s.pp) * comm_.tp_all_reduce.At(tokens / s.dpa);
  if (s.pp > 1) other += comm_.pp_transfer.At(tokens);
  if (s.ep > 1 && model_.moe_layers > 0) {
    const double per_rank = tokens / s.ep;
    const bool ll = per_rank <= comm_.ll_max_tokens;
    const double one = ll ? comm_.ep_dispatch_ll.At(per_rank) + comm_.ep_combine_ll.At(per_rank)
                          : comm_.ep_dispatch_normal.At(per_rank) + comm_.ep_combine_normal.At(per_rank);
    ep_s = one * double(model_.moe_layers) / s.pp;
  }
  return other;
}

namespace {
BatchShape Scaled(const BatchShape& b, double f) {
  return {b.prefill_tokens * f, b.prefill_pairs * f, b.prefill_kv * f,      b.decode_seqs * f,
          b.decode_kv * f,      b.logit_tokens * f,  b.prefill_max_chunk * f};
}
}  // namespace

double IterationModel::StageWork::Seconds() const {
  return dense.Seconds() + experts.Seconds() + attention_s + other_s;
}

IterationModel::StageWork IterationModel::StageWork::Twice() const {
  StageWork w = *this;
  for (Part* p : {&w.dense, &w.experts, &w.attention, &w.other}) *p = Sum(*p, *p);
  w.attention_s *= 2;
  w.other_s *= 2;
  return w;
}

IterationTime IterationModel::Time(const BatchShape& batch) const {
  IterationTime it;
  const double pp = spec_.pp, scale = pp / engine_.software_efficiency;
  const BatchShape mb = Scaled(batch, 1 / pp);
  StageWork w = StageCompute(mb);
  double ep = 0;
  const double other = StageComm(mb, ep);
  double gpu = w.Seconds(), exposed = other + ep;
  if (spec_.two_batch_overlap && ep > 0) {
    w = StageCompute(Scaled(mb, 0.5));
    gpu = 2 * w.Seconds();
    const double scaled_gpu = gpu / engine_.software_efficiency;
    exposed = other + std::max(0.0, ep - scaled_gpu) + kTboExposed * std::min(ep, scaled_gpu);
    w = w.Twice();
  }
  it.gpu_s = scale * gpu;
  it.comm_s = pp * exposed;
  it.host_s = it.gpu_s + it.comm_s > 0 ? engine_.iteration_overhead_s : 0;
  it.seconds = it.gpu_s + it.comm_s + it.host_s;
  const double c = w.dense.compute_s + w.experts.compute_s + w.attention.compute_s + w.other.compute_s;
  const double m = w.dense.memory_s + w.experts.memory_s + w.attention.memory_s + w.other.memory_s;
  it.compute_bound = c >= m;
  it.dense_s = scale * w.dense.Seconds();
  it.experts_s = scale * w.experts.Seconds();
  it.attention_s = scale * w.attention_s;
  it.other_s = scale * w.other_s;
  return it;
}

double IterationModel::PrefillShare(const BatchShape& b) const {
  if (b.prefill_tokens <= 0 && b.logit_tokens <= 0) return 0;
  if (b.decode_seqs <= 0) return 1;
  const IterationTime p = Time({b.prefill_tokens, b.prefill_pairs, b.prefill_kv, 0, 0, b.logit_tokens,
                                b.prefill_max_chunk});
  const IterationTime d = Time({0, 0, 0, b.decode_seqs, b.decode_kv, 0, 0});
  const double tp = p.gpu_s + p.comm_s, td = d.gpu_s + d.comm_s;  // NOLINT(readability-identifier-naming)
  return tp + td > 0 ? tp / (tp + td) : 0;
}

}  // namespace clustersim::sim
