#include "workloads/plan.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>

#include "common/checked.h"
#include "common/error.h"
#include "workloads/model.h"
#include "workloads/moe_routing.h"

namespace clustersim::wl {
namespace {

std::string S(uint64_t v) { return std::to_string(v); }
std::string Quote(const std::string& s) { return "\"" + s + "\""; }

// The rule of a field that only an FP8 run can use, naming the run's precision ("" reads as its default, bf16).
std::string NeedsFp8Rule(const std::string& precision) {
  return "needs workload.precision \"fp8\" (precision is \"" + (precision.empty() ? "bf16" : precision) + "\")";
}

[[noreturn]] void Fail(const std::string& file, const char* field, const std::string& value, const std::string& rule) {
  throw InputError::Field(file, 0, std::string("workload.parallelism.") + field, value, rule);
}

uint32_t OrOne(uint32_t v) { return v == 0 ? 1 : v; }

// Sets r.layout from p.pipeline_model_parallel_layout (r.pp and r.schedule resolved). Megatron-Core refuses a layout
// beside the account_for_* split flags.
void ResolveLayout(const v1::Parallelism& p, const v1::Model& m, Plan& r, const std::string& file) {
  const std::string& layout = p.pipeline_model_parallel_layout();
  if (layout.empty()) return;
  if (p.account_for_embedding_in_pipeline_split() || p.account_for_loss_in_pipeline_split()) {
    Fail(file, "pipeline_model_parallel_layout", Quote(layout),
         "cannot be set with account_for_embedding_in_pipeline_split or account_for_loss_in_pipeline_split (the "
         "layout places the embedding and the loss itself)");
  }
  r.layout = ParsePipelineLayout(layout, file);
  CheckPipelineLayout(r.layout, layout, uint64_t{r.pp} * r.chunks(), m.layers(), m.mtp_depth(), file);
}

struct ModuleName {
  const char* name;
  RecomputeModule bit;
};
constexpr ModuleName kModuleNames[] = {
    {"core_attn", kRecomputeCoreAttn},
    {"layernorm", kRecomputeLayernorm},
    {"moe_act", kRecomputeMoeAct},
    {"mlp", kRecomputeMlp},
    {"mla_up_proj", kRecomputeMlaUpProj},
    {"moe", kRecomputeMoe},
    {"shared_experts", kRecomputeSharedExperts},
};

// Sets r.recompute_modules from p.recompute_modules (r.recompute already resolved). Megatron-Core semantics: the
// list replaces the default ["core_attn"] and needs recompute "selective".
void ResolveRecomputeModules(const v1::Parallelism& p, const v1::Model& m, Plan& r, const std::string& file) {
  if (p.recompute_modules().empty()) {
    r.recompute_modules = r.recompute == Recompute::kSelective ? uint32_t{kRecomputeCoreAttn} : 0u;
    return;
  }
  if (r.recompute != Recompute::kSelective) {
    Fail(file, "recompute_modules", Quote(p.recompute_modules(0)),
         std::string("needs recompute \"selective\" (recompute is \"") + ToString(r.recompute) + "\")");
  }
  const bool moe = m.kind() == "moe";
  const bool has_dense_mlp = !moe || m.dense_layers() > 0;
  const bool mla = Attention(m).mla;
  r.recompute_modules = 0;
  for (int i = 0; i < p.recompute_modules_size(); ++i) {
    const std::string& name = p.recompute_modules(i);
    const std::string field = "recompute_modules[" + S(uint64_t(i)) + "]";
    uint32_t bit = 0;
    for (const ModuleName& n : kModuleNames) {
      if (name == n.name) bit = n.bit;
    }
    if (bit == 0) {
      Fail(file, field.c_str(), Quote(name),
           "must be one of \"core_attn\", \"layernorm\", \"moe_act\", \"mlp\", \"mla_up_proj\", \"moe\", "
           "\"shared_experts\"");
    }
    if (r.recompute_modules & bit) Fail(file, field.c_str(), Quote(name), "listed twice");
    if (bit == kRecomputeMlaUpProj && !mla) {
      Fail(file, field.c_str(), Quote(name), "needs multi-head latent attention (model mla_kv_lora_rank > 0)");
    }
    if ((bit == kRecomputeMoe || bit == kRecomputeMoeAct) && !moe) {
      Fail(file, field.c_str(), Quote(name), "needs a MoE model");
    }
    if (bit == kRecomputeSharedExperts && (!moe || m.shared_experts() == 0)) {
      Fail(file, field.c_str(), Quote(name), "needs a MoE model with shared experts");
    }
    if (bit == kRecomputeMlp && !has_dense_mlp) {
      Fail(file, field.c_str(), Quote(name), "needs dense MLP layers (\"mlp\" is the dense MLP; use \"moe\")");
    }
    r.recompute_modules |= bit;
  }
}

[[noreturn]] void FailMemory(const std::string& file, const char* field, const std::string& value,
                             const std::string& rule) {
  throw InputError::Field(file, 0, std::string("workload.memory.") + field, value, rule);
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Bytes of a dtype name, for the memory options that take one.
double DtypeBytes(const std::string& file, const char* field, const std::string& name, double default_bytes) {
  if (name.empty()) return default_bytes;
  if (name == "fp32") return 4;
  if (name == "bf16") return 2;
  FailMemory(file, field, Quote(name), "must be \"fp32\" or \"bf16\"");
}

double Fraction(const std::string& file, const char* field, double v) {
  if (!(v >= 0 && v <= 1)) FailMemory(file, field, Num(v), "must be a fraction in [0, 1]");
  return v;
}

MemoryPlan ResolveMemory(const v1::MemoryOptions& o, bool fp8, const std::string& file) {
  MemoryPlan m;
  m.moment_bytes = DtypeBytes(file, "moment_dtype", o.moment_dtype(), 4);
  m.main_grad_bytes = DtypeBytes(file, "main_grad_dtype", o.main_grad_dtype(), 2);
  m.fp8_params = o.fp8_params();
  if (m.fp8_params && !fp8) {
    FailMemory(file, "fp8_params", "true", "FP8 primary weights need workload.precision \"fp8\"");
  }
  m.optimizer_offload_fraction = Fraction(file, "optimizer_offload_fraction", o.optimizer_offload_fraction());
  m.activation_offload_fraction = Fraction(file, "activation_offload_fraction", o.activation_offload_fraction());
  if (!(o.framework_overhead_gb() >= 0 && o.framework_overhead_gb() <= 1000)) {
    FailMemory(file, "framework_overhead_gb", Num(o.framework_overhead_gb()), "must be in [0, 1000] GB");
  }
  m.framework_overhead_bytes = o.framework_overhead_gb() * 1e9;
  if (!(o.fragmentation() >= 0 && o.fragmentation() <= 1)) {
    FailMemory(file, "fragmentation", Num(o.fragmentation()), "must be in [0, 1] (reserved / allocated - 1)");
  }
  if (o.fragmentation() > 0) m.fragmentation = o.fragmentation();
  m.fp8_moe_glu_input = o.fp8_moe_glu_input();
  if (m.fp8_moe_glu_input && !fp8) {
    FailMemory(file, "fp8_moe_glu_input", "true", "FP8 storage of the GLU inputs needs workload.precision \"fp8\"");
  }
  return m;
}

// The first field of a routing block that only a MoE model can use, with its value; empty when there is none (the
// block's defaults, distribution "balanced", a dispatcher or a capacity factor are harmless on a dense model).
std::pair<std::string, std::string> ExpertOnlyRoutingField(const v1::MoeRouting& r) {
  if (r.distribution() == "skewed" || r.distribution() == "observed") return {"distribution", Quote(r.distribution())};
  if (r.expert_load_size() != 0) return {"expert_load", std::to_string(r.expert_load_size()) + " entries"};
  if (r.imbalance() != 0) return {"imbalance", std::to_string(r.imbalance())};
  if (r.max_nodes_per_token() != 0) return {"max_nodes_per_token", std::to_string(r.max_nodes_per_token())};
  if (r.redundant_experts() != 0) return {"redundant_experts", std::to_string(r.redundant_experts())};
  if (!r.dispatch_dtype().empty()) return {"dispatch_dtype", Quote(r.dispatch_dtype())};
  return {};
}

// workload.fp8_recipe and workload.fp8_reduce_amax (proto/scenario.proto).
void ResolveFp8Recipe(const v1::Workload& w, Plan& r, const std::string& file) {
  const std::string& recipe = w.fp8_recipe();
  if (!recipe.empty() && recipe != "tensorwise" && recipe != "delayed" && recipe != "mxfp8" && recipe != "blockwise")
    throw InputError::Field(file, 0, "workload.fp8_recipe", Quote(recipe),
                            "must be \"tensorwise\", \"delayed\", \"mxfp8\" or \"blockwise\"");
  if (!recipe.empty() && !r.fp8)
    throw InputError::Field(file, 0, "workload.fp8_recipe", Quote(recipe), NeedsFp8Rule(w.precision()));
  const std::string resolved = r.fp8 ? (recipe.empty() ? std::string("tensorwise") : recipe) : std::string();
  if (w.has_fp8_reduce_amax() && resolved != "delayed")
    throw InputError::Field(file, 0, "workload.fp8_reduce_amax", w.fp8_reduce_amax() ? "true" : "false",
                            "needs workload.fp8_recipe \"delayed\" (the only recipe that reduces amaxes across "
                            "replicas; recipe is " +
                                Quote(resolved.empty() ? "none" : resolved) + ")");
  r.fp8_amax_reduction = resolved == "delayed" && (!w.has_fp8_reduce_amax() || w.fp8_reduce_amax());
  r.fp8_current_scaling = resolved == "tensorwise";
}

// workload.fused_grouped_mlp: TransformerEngine fuses fc1 + GLU + fc2 only for MXFP8 grouped linears without bias
// whose in/out widths are multiples of 256 (ops/fused forward_grouped_mlp pattern check); the rest is refused here
// rather than silently left unfused.
void ValidateFusedGroupedMlp(const v1::Model& m, const Plan& r, const std::string& precision,
                             const std::string& file) {
  auto fail = [&](const std::string& rule) {
    throw InputError::Field(file, 0, "workload.fused_grouped_mlp", "true", rule);
  };
  if (!r.fp8) fail(NeedsFp8Rule(precision));
  if (m.routed_experts() == 0) fail("needs a MoE model (routed_experts > 0): it fuses the experts' grouped MLP");
  if (!m.gated_mlp()) fail("needs a gated MLP (gated_mlp: true): the fused kernel's epilogue is a GLU");
  const uint64_t f = m.expert_ffn_hidden() / r.expert_tp;
  if (m.hidden() % 256 != 0 || f % 256 != 0) {
    fail("needs hidden (" + S(m.hidden()) + ") and expert_ffn_hidden / expert_tp (" + S(f) +
         ") to be multiples of 256 (the fused kernel's tile)");
  }
}

}  // namespace

const char* ToString(Recompute r) {
  switch (r) {
    case Recompute::kNone:
      return "none";
    case Recompute::kSelective:
      return "selective";
    case Recompute::kFull:
      return "full";
  }
  return "?";
}

Schedule ParseSchedule(const std::string& schedule, uint32_t vpp, const std::string& file) {
  if (schedule.empty()) return vpp > 1 ? Schedule::kInterleaved : Schedule::k1F1B;
  if (schedule == "1f1b") return Schedule::k1F1B;
  if (schedule == "interleaved") return Schedule::kInterleaved;
  if (schedule == "dualpipe") return Schedule::kDualPipe;
  if (schedule == "gpipe") return Schedule::kGPipe;
  Fail(file, "schedule", Quote(schedule), "must be one of \"1f1b\", \"interleaved\", \"dualpipe\", \"gpipe\"");
}

const char* ToString(Schedule s) {
  switch (s) {
    case Schedule::k1F1B:
      return "1f1b";
    case Schedule::kInterleaved:
      return "interleaved";
    case Schedule::kDualPipe:
      return "dualpipe";
    case Schedule::kGPipe:
      return "gpipe";
  }
  return "?";
}

std::string A2aOverlapConflict(uint32_t pp, Schedule schedule, Recompute recompute) {
  if (pp > 1 && (schedule == Schedule::k1F1B || schedule == Schedule::kGPipe)) {
    return "with pp > 1 (pp = " + S(pp) + ") needs schedule \"interleaved\" (vpp > 1) or \"dualpipe\", not \"" +
           ToString(schedule) +
           "\": the overlap pairs a forward and a backward of different virtual stages (Megatron-LM's rule)";
  }
  if (recompute == Recompute::kFull) {
    return "needs recompute other than \"full\": full recomputation re-runs the dispatch (Megatron-LM's rule)";
  }
  return "";
}

uint32_t ChunksPerStage(Schedule schedule, uint32_t vpp) {
  if (schedule == Schedule::kInterleaved) return vpp;
  if (schedule == Schedule::kDualPipe) return 2;
  return 1;
}

uint64_t PipelineSplitSlots(uint32_t layers, const v1::Parallelism& p, uint32_t pp) {
  if (pp <= 1) return layers;
  return uint64_t{layers} + (p.account_for_embedding_in_pipeline_split() ? 1 : 0) +
         (p.account_for_loss_in_pipeline_split() ? 1 : 0);
}

uint32_t Plan::chunks() const { return ChunksPerStage(schedule, vpp); }

Plan ResolvePlan(const v1::Workload& w, uint32_t num_gpus, const std::string& file) {
  const v1::Model m = ResolveModel(w.model(), file);
  const v1::Parallelism& p = w.parallelism();
  Plan r;
  r.tp = OrOne(p.tp());
  r.cp = OrOne(p.cp());
  r.pp = OrOne(p.pp());
  r.ep = OrOne(p.ep());
  r.vpp = OrOne(p.vpp());
  r.expert_tp = OrOne(p.expert_tp());
  r.micro_batch_size = OrOne(p.micro_batch_size());
  r.global_batch_size = p.global_batch_size();
  r.zero_stage = p.zero_stage();
  r.sequence_parallel = p.sequence_parallel();
  r.overlap_grad_reduce = p.overlap_grad_reduce();
  r.overlap_param_gather = p.overlap_param_gather();
  r.overlap_moe_a2a = p.overlap_moe_a2a();
  r.tp_comm_overlap = p.tp_comm_overlap();
  r.embedding_slot = r.pp > 1 && p.account_for_embedding_in_pipeline_split() ? 1 : 0;
  r.loss_slot = r.pp > 1 && p.account_for_loss_in_pipeline_split() ? 1 : 0;

  // GPU count.
  if (num_gpus == 0) throw InputError::Field(file, 0, "cluster.num_gpus", "0", "must be > 0");
  // Checked: sizes come from the input, and a product that wrapped around could be 0 (a division by zero below).
  const std::optional<uint64_t> checked_mp = CheckedProduct({r.tp, r.cp, r.pp});
  if (!checked_mp || *checked_mp > num_gpus) {
    const char* largest = r.tp >= r.cp && r.tp >= r.pp ? "tp" : (r.cp >= r.pp ? "cp" : "pp");
    Fail(
        file, largest, S(std::max({r.tp, r.cp, r.pp})),
        "tp x cp x pp = " + S(r.tp) + " x " + S(r.cp) + " x " + S(r.pp) + " exceeds cluster.num_gpus = " + S(num_gpus));
  }
  const uint64_t model_parallel = *checked_mp;
  if (p.dp() == 0) {
    if (num_gpus % model_parallel != 0) {
      Fail(file, "dp", "0 (derived)",
           "tp x cp x pp = " + S(model_parallel) + " must divide cluster.num_gpus = " + S(num_gpus));
    }
    r.dp = static_cast<uint32_t>(num_gpus / model_parallel);
  } else {
    r.dp = p.dp();
    if (model_parallel * r.dp != num_gpus) {
      Fail(file, "dp", S(r.dp),
           "tp x cp x pp x dp = " + S(model_parallel * r.dp) + " must equal cluster.num_gpus = " + S(num_gpus));
    }
  }

  // Strings.
  r.schedule = ParseSchedule(p.schedule(), r.vpp, file);
  const std::string& rec = p.recompute();
  if (rec.empty() || rec == "none") {
    r.recompute = Recompute::kNone;
  } else if (rec == "selective") {
    r.recompute = Recompute::kSelective;
  } else if (rec == "full") {
    r.recompute = Recompute::kFull;
  } else {
    Fail(file, "recompute", Quote(rec), "must be one of \"none\", \"selective\", \"full\"");
  }
  ResolveRecomputeModules(p, m, r, file);
  if (w.precision().empty() || w.precision() == "bf16") {
    r.fp8 = false;
  } else if (w.precision() == "fp8") {
    r.fp8 = true;
  } else {
    throw InputError::Field(file, 0, "workload.precision", Quote(w.precision()), "must be \"bf16\" or \"fp8\"");
  }
  r.fp8_attention = w.fp8_attention();
  if (r.fp8_attention && !r.fp8) {
    throw InputError::Field(file, 0, "workload.fp8_attention", "true", NeedsFp8Rule(w.precision()));
  }
  r.fused_grouped_mlp = w.fused_grouped_mlp();
  ResolveFp8Recipe(w, r, file);
  r.memory = ResolveMemory(w.memory(), r.fp8, file);
  if (r.zero_stage > 3) Fail(file, "zero_stage", S(r.zero_stage), "must be 0, 1, 2 or 3");
  r.zero3 = FindZero3Implementation(p.zero3_implementation());
  if (r.zero3 == nullptr) {
    std::string names;
    for (const Zero3Implementation& z : Zero3Implementations())
      names += std::string(names.empty() ? "" : ", ") + "\"" + std::string(z.name) + "\"";
    Fail(file, "zero3_implementation", Quote(p.zero3_implementation()), "must be one of " + names);
  }
  if (r.zero3 != FindZero3Implementation("") && r.zero_stage != 3) {
    Fail(file, "zero3_implementation", Quote(p.zero3_implementation()),
         "applies to zero_stage 3 only (zero_stage is " + S(r.zero_stage) + ")");
  }

  // Tensor parallelism.
  if (m.heads() % r.tp != 0) Fail(file, "tp", S(r.tp), "must divide model heads (" + S(m.heads()) + ")");
  if (m.kv_heads() % r.tp != 0 && r.tp % m.kv_heads() != 0) {
    Fail(file, "tp", S(r.tp),
         "must divide model kv_heads (" + S(m.kv_heads()) + ") or be a multiple of it (KV heads replicated)");
  }
  const bool has_dense_mlp = m.kind() == "dense" || m.dense_layers() > 0;
  if (has_dense_mlp && m.ffn_hidden() % r.tp != 0) {
    Fail(file, "tp", S(r.tp), "must divide model ffn_hidden (" + S(m.ffn_hidden()) + ")");
  }
  const bool moe = m.kind() == "moe";
  if (r.tp_comm_overlap && (r.tp < 2 || !r.sequence_parallel)) {
    Fail(file, "tp_comm_overlap", "true",
         "needs tp > 1 and sequence_parallel (it overlaps the sequence-parallel "
         "all-gather and reduce-scatter with their GEMMs)");
  }
  if (moe && r.tp > 1 && !r.sequence_parallel) {
    Fail(file, "sequence_parallel", "false", "must be true for a MoE model with tp > 1 (as in Megatron-LM)");
  }
  if (r.expert_tp != 1 && r.expert_tp != r.tp) {
    Fail(file, "expert_tp", S(r.expert_tp), "must be 1 or tp (" + S(r.tp) + ")");
  }
  if (moe && m.expert_ffn_hidden() % r.expert_tp != 0) {
    Fail(file, "expert_tp", S(r.expert_tp), "must divide model expert_ffn_hidden (" + S(m.expert_ffn_hidden()) + ")");
  }

  // Context parallelism and sequence sharding.
  if (r.cp > 1 && m.seq_len() % (2 * r.cp) != 0) {
    Fail(file, "cp", S(r.cp),
         "2 x cp must divide model seq_len (" + S(m.seq_len()) + "): load-balanced causal split into 2 x cp chunks");
  }
  if (r.sequence_parallel && r.tp > 1 && (m.seq_len() / r.cp) % r.tp != 0) {
    Fail(file, "sequence_parallel", "true",
         "tp (" + S(r.tp) + ") must divide the sequence per context-parallel rank (" + S(m.seq_len() / r.cp) + ")");
  }

  // Pipeline.
  if (r.vpp > 1 && r.schedule != Schedule::kInterleaved) {
    Fail(file, "vpp", S(r.vpp), "vpp > 1 needs schedule \"interleaved\"");
  }
  if (r.schedule == Schedule::kInterleaved && r.vpp < 2) {
    Fail(file, "vpp", S(r.vpp), "schedule \"interleaved\" needs vpp > 1");
  }
  if (r.overlap_moe_a2a && moe && r.ep > 1) {
    const std::string conflict = A2aOverlapConflict(r.pp, r.schedule, r.recompute);
    if (!conflict.empty()) Fail(file, "overlap_moe_a2a", "true", conflict);
  }
  ResolveLayout(p, m, r, file);
  const uint64_t slots = r.split_slots(m.layers());
  if (r.layout.empty() && uint64_t{r.pp} * r.chunks() > slots) {
    Fail(file, "pp", S(r.pp),
         "pp x model chunks per stage (" + S(r.chunks()) + ") must not exceed model layers (" + S(m.layers()) +
             (slots > m.layers() ? " + " + S(slots - m.layers()) + " counted for embedding and loss" : "") +
             "): every virtual stage needs a layer");
  }

  // Batch.
  if (r.global_batch_size == 0) Fail(file, "global_batch_size", "0", "must be > 0");
  const uint64_t per_step = uint64_t{r.dp} * r.micro_batch_size;
  if (r.global_batch_size % per_step != 0) {
    Fail(file, "global_batch_size", S(r.global_batch_size),
         "must be divisible by dp x micro_batch_size = " + S(per_step));
  }
  if (r.global_batch_size / per_step > kMaxMicrobatches) {
    Fail(file, "global_batch_size", S(r.global_batch_size),
         "gives " + S(r.global_batch_size / per_step) +
             " micro-batches per pipeline (global_batch_size / (dp x "
             "micro_batch_size)); at most " +
             S(kMaxMicrobatches) + " are simulated: raise micro_batch_size or dp");
  }
  r.microbatches = static_cast<uint32_t>(r.global_batch_size / per_step);
  if (r.schedule == Schedule::kInterleaved && r.microbatches % r.pp != 0) {
    Fail(file, "global_batch_size", S(r.global_batch_size),
         "schedule \"interleaved\" needs microbatches per pipeline (" + S(r.microbatches) + ") divisible by pp (" +
             S(r.pp) + ")");
  }
  if (r.schedule == Schedule::kDualPipe && r.microbatches < 2 * r.pp) {
    Fail(file, "global_batch_size", S(r.global_batch_size),
         "schedule \"dualpipe\" needs microbatches per pipeline (" + S(r.microbatches) + ") >= 2 x pp (" + S(2 * r.pp) +
             ")");
  }

  // Expert parallelism.
  if (r.ep > 1 && !moe) Fail(file, "ep", S(r.ep), "ep > 1 needs a MoE model");
  if (moe) {
    const uint32_t redundant = w.moe_routing().redundant_experts();
    if (redundant > 0 && r.ep < 2) {
      throw InputError::Field(file, 0, "workload.moe_routing.redundant_experts", S(redundant),
                              "replicas balance expert-parallel ranks: needs ep > 1 (ep = " + S(r.ep) + ")");
    }
    if (redundant > m.routed_experts()) {
      throw InputError::Field(file, 0, "workload.moe_routing.redundant_experts", S(redundant),
                              "must not exceed routed_experts (" + S(m.routed_experts()) + ")");
    }
    if ((m.routed_experts() + redundant) % r.ep != 0) {
      Fail(file, "ep", S(r.ep),
           redundant > 0
               ? "must divide routed_experts + redundant_experts (" + S(m.routed_experts()) + " + " + S(redundant) + ")"
               : "must divide model routed_experts (" + S(m.routed_experts()) + ")");
    }
    const uint64_t stage = uint64_t{r.tp} * r.cp * r.dp;
    if (stage % (uint64_t{r.ep} * r.expert_tp) != 0) {
      Fail(file, "ep", S(r.ep),
           "ep x expert_tp (" + S(uint64_t{r.ep} * r.expert_tp) + ") must divide tp x cp x dp (" + S(stage) +
               "): expert parallelism is carved out of a pipeline stage");
    }
    ValidateMoeRouting(w.moe_routing(), m, r.fp8, file);
    if (r.overlap_moe_a2a && r.ep > 1 &&
        ParseMoeDispatcher(w.moe_routing().dispatcher(), file) == MoeDispatcher::kAllGather) {
      Fail(file, "overlap_moe_a2a", "true",
           "needs the \"alltoall\" or \"flex\" dispatcher, not \"allgather\" (Megatron-LM's rule: the all-gather "
           "dispatcher has no exchange to overlap)");
    }
  } else if (const auto [field, value] = ExpertOnlyRoutingField(w.moe_routing()); !field.empty()) {
    throw InputError::Field(file, 0, "workload.moe_routing." + field, value,
                            "routing needs a MoE model (routed_experts > 0): remove the block for a dense model");
  }
  if (r.fused_grouped_mlp) ValidateFusedGroupedMlp(m, r, w.precision(), file);
  if (r.memory.fp8_moe_glu_input && (m.routed_experts() == 0 || !m.gated_mlp())) {
    FailMemory(file, "fp8_moe_glu_input", "true", "needs a MoE model with a gated MLP (routed_experts > 0, gated_mlp)");
  }
  return r;
}

void ValidatePlan(const v1::Workload& w, uint32_t num_gpus, const std::string& file) {
  (void)ResolvePlan(w, num_gpus, file);
}

}  // namespace clustersim::wl
