// The time of one serving iteration of a model instance (docs/serving.md, "Engine model"), and the memory plan that
// sizes its KV cache. The discrete-event model that schedules the iterations is sim/serving_cell.h.
//
// An iteration runs every running sequence of the instance once: prompt chunks (chunked prefill) and decode steps
// (1 + draft tokens per sequence). With pp pipeline stages pp micro-batches are in flight, each stage holding
// layers / pp, so an iteration takes pp x the stage time of a micro-batch of 1 / pp of the batch. Per GPU and
// micro-batch, each part is a roofline on the accelerator (ComputeModel's peaks and efficiencies):
//
//   dense GEMMs   2 x (attention + dense MLP + shared expert + router params) x tokens / (dp_attention x tp) FLOPs,
//                 weights / tp bytes read once;
//   experts       ep > 1: tokens x top_k / ep x expert_imbalance pairs per rank over the (experts + redundant) / ep
//                 experts it holds, of which ExpertsTouched are read; ep = 1: every expert, tensor-parallel;
//   DP attention  a prompt's chunk runs on one attention rank: the busiest rank holds max(prefill tokens / dp_attention,
//                 the largest chunk) of them, and the others wait for it at the next expert exchange;
//   attention     prefill pairs x pair FLOPs (bf16 peak, attention efficiency) against the KV bytes read, and the
//                 same for decode (MLA absorbed); the KV is split over min(tp, kv_heads) (MLA: not split) and
//                 dp_attention ranks;
//   logits, MTP   the sampled tokens through the output layer; draft_tokens MTP steps over the decode sequences;
//   overhead      ComputeModel::kKernelOverheadS per kernel (about 12 per dense layer, 4 more per MoE layer).
//
//   experts       grouped GEMMs: each expert's tokens padded to 64-token tiles, one kernel per matrix and layer;
//   activations   memory-bound kernels: 8 bf16 passes over the hidden state per layer, and per routed pair
//                 5 x hidden + 8 x expert_ffn bytes (dispatch buffers, gate/up/down intermediates, combine).
//
// Communication per micro-batch, from the curves priced on the fabric (CommTable): 2 TP all-reduces per layer, an EP
// dispatch and combine per MoE layer (DeepEP low-latency kernels up to CommTable::ll_max_tokens tokens per rank,
// normal kernels above), a pipeline transfer per stage boundary. It is exposed, except that with two_batch_overlap
// the EP exchange of one half-batch runs under the other's compute, half of the shorter of the two staying exposed:
// max(C, E) + 0.5 min(C, E), C the compute of two half-batches (SGLang's ablation, serving_engine.cpp). The engine's
// iteration overhead (host scheduling) is added once. GPU time is divided by the engine's software efficiency.
//
// Units: seconds, bytes, tokens. Thread-safe after construction; Time() does no allocation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scenario.pb.h"
#include "sim/hardware/compute_model.h"
#include "workloads/serving_model.h"

namespace clustersim::sim {

// The serving calibration of an accelerator family (docs/serving.md "Calibration"), filled into serving.engine where
// it is left at zero. Families: "hopper" (H100, H200, H800, H20), "blackwell" (B200, GB200), "ascend", "other".
struct ServingFamily {
  std::string name;
  double software_efficiency = 1;
  double iteration_overhead_s = 0;
  double attention_efficiency = 0.5;
};
ServingFamily ServingFamilyOf(const v1::Accelerator& accelerator);

// A piecewise-linear time curve over a size (tokens or bytes), from solved points in increasing x; linear
// extrapolation beyond the last point, the first point's time below it (and 0 at size 0).
struct Curve {
  std::vector<double> x, t;
  double At(double v) const;
};

// Communication of one instance of a pool, priced with every instance of every pool on the fabric at once.
struct CommTable {
  Curve tp_all_reduce;   // by tokens per attention rank (bytes = tokens x hidden x 2)
  Curve ep_dispatch_ll;  // by tokens per EP rank
  Curve ep_combine_ll;
  Curve ep_dispatch_normal;
  Curve ep_combine_normal;
  Curve pp_transfer;     // by tokens per micro-batch
  Curve kv_transfer;     // by prompt tokens of one request (prefill -> decode pool)
  uint32_t ll_max_tokens = 128;  // DeepEP low-latency kernels' tokens per rank; normal kernels above
};

// One pool's instance shape and limits, resolved (serving.pools[i]).
struct InstanceSpec {
  std::string role;  // "mixed", "prefill", "decode"
  uint32_t tp = 1, pp = 1, dpa = 1, ep = 1;
  uint32_t max_batch = 0;       // 0 = KV-bound only
  uint32_t max_num_tokens = 8192;
  bool two_batch_overlap = false;
  uint32_t redundant_experts = 0;
  double expert_imbalance = 1;
  double kv_memory_fraction = 0.9;
  uint32_t gpus() const { return tp * pp * dpa; }
  std::string Label() const;  // "tp8 pp1 dpa1 ep1"
};
InstanceSpec InstanceSpecOf(const v1::ServingPool& resolved_pool);

// Per-GPU memory of an instance and the KV capacity it leaves (bytes; tokens per instance).
struct InstanceMemory {
  double weights_bytes = 0;      // per GPU
  double activation_bytes = 0;   // per GPU: workspace for max_num_tokens
  double kv_bytes = 0;           // per GPU
  double kv_bytes_per_token = 0; // per GPU holding a token's KV
  uint64_t kv_capacity_tokens = 0;  // whole instance
};
// Throws DoesNotFitError (naming `file` and serving.pools[pool]) when the weights and workspace exceed the HBM.
InstanceMemory PlanInstanceMemory(const wl::InferenceModel& model, const InstanceSpec& spec, double hbm_bytes,
                                  const std::string& file, int pool);

// What one iteration of an instance processes (whole instance: all dp_attention ranks and micro-batches).
struct BatchShape {
  double prefill_tokens = 0;   // prompt tokens computed (chunks)
  double prefill_pairs = 0;    // (query, key) pairs of the chunks: sum of chunk x (context before + (chunk + 1) / 2)
  double prefill_kv = 0;       // KV tokens the chunks' attention reads (context after the chunk)
  double decode_seqs = 0;      // sequences taking a decode step
  double decode_kv = 0;        // their KV lengths, summed
  double logit_tokens = 0;     // prompts completing this iteration (their first token)
  double prefill_max_chunk = 0;  // the largest chunk of one prompt (it runs on one attention rank)
};

struct IterationTime {
  double seconds = 0;       // the whole iteration
  double gpu_s = 0;         // GPU busy on compute (rooflines and kernel gaps): dense + experts + attention + other
  double comm_s = 0;        // exposed communication
  double host_s = 0;        // iteration overhead (host)
  bool compute_bound = false;  // compute time of the rooflines >= their memory time
  // gpu_s by part, each with its kernel gaps: dense GEMMs, routed experts, attention, and the rest (logits, MTP
  // drafts, memory-bound activation kernels).
  double dense_s = 0, experts_s = 0, attention_s = 0, other_s = 0;
};

struct EngineParams {
  uint32_t draft_tokens = 0;
  double software_efficiency = 1;
  double iteration_overhead_s = 0;
};

class IterationModel {
 public:
  // `compute` must outlive the model. Copies the rest.
  IterationModel(const wl::InferenceModel& model, const InstanceSpec& spec, const ComputeModel& compute,
                 double attention_efficiency, const CommTable& comm, const EngineParams& engine);
  IterationTime Time(const BatchShape& batch) const;
  // Share of the iteration attributable to its prompt work: t(prefill part) / (t(prefill part) + t(decode part)).
  double PrefillShare(const BatchShape& batch) const;
  const InstanceSpec& spec() const { return spec_; }
  const wl::InferenceModel& model() const { return model_; }
  const CommTable& comm() const { return comm_; }
  uint32_t draft_tokens() const { return engine_.draft_tokens; }

 private:
  struct Part {
    double compute_s = 0, memory_s = 0, overhead_s = 0;
    double Seconds() const { return (compute_s > memory_s ? compute_s : memory_s) + overhead_s; }
  };
  static Part Sum(const Part& a, const Part& b) {
    return {a.compute_s + b.compute_s, a.memory_s + b.memory_s, a.overhead_s + b.overhead_s};
  }
  // GPU work of one micro-batch on one stage, by part (attention and other: their own rooflines summed).
  struct StageWork {
    Part dense, experts, attention, other;
    double attention_s = 0, other_s = 0;
    double Seconds() const;
    StageWork Twice() const;
  };
  Part Roofline(wl::ComputeKind kind, double flops, double bytes, double flops_per_kernel, double kernels) const;
  Part Experts(double tokens, double per_rank) const;
  StageWork StageCompute(const BatchShape& mb) const;
  // Exposed TP and pipeline communication of a micro-batch; `ep_s` receives its EP dispatch and combine time.
  double StageComm(const BatchShape& mb, double& ep_s) const;

  wl::InferenceModel model_;
  InstanceSpec spec_;
  const ComputeModel& compute_;
  double attention_scale_ = 1;  // serving attention efficiency / the accelerator's
  CommTable comm_;
  EngineParams engine_;
};

}  // namespace clustersim::sim
