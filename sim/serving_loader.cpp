// Serving scenario validation; see serving_loader.h.
#include "sim/serving_loader.h"

#include <cmath>
#include <filesystem>

#include "common/error.h"
#include "sim/serving_engine.h"
#include "workloads/model.h"
#include "workloads/moe_routing.h"
#include "workloads/serving_traffic.h"

namespace clustersim::sim {
namespace {

constexpr double kDefaultExpertImbalance = 1.3;

using Check = FieldRules;

void ResolveServingModel(const Check& c, const LoadedScenario& loaded, v1::Scenario& s) {
  v1::Workload& w = *s.mutable_workload();
  if (w.has_parallelism())
    c.Fail("workload.parallelism", "(set)", "is not used by a serving scenario: give each pool's tp, pp, "
                                            "dp_attention and ep in serving.pools");
  *w.mutable_model() = wl::ResolveModel(w.model(), loaded.file);
  if (w.precision().empty()) w.set_precision("bf16");
  c.OneOf("workload.precision", w.precision(), {"bf16", "fp16", "fp8", "fp4"});
  if (w.has_moe_routing()) wl::ValidateMoeRouting(w.moe_routing(), w.model(), w.precision() == "fp8", loaded.file);
}

// Max / mean tokens per EP rank that workload.moe_routing's "skewed" or "observed" distribution gives a pool (with
// its redundant experts placed as EPLB places them): the training generator's routing (wl::RouteTokens) on 4,096
// tokens per rank, averaged over the MoE layers' histograms ("observed"), as each layer's busiest rank adds to the
// iteration. 0 for a balanced (or no) distribution.
double RoutedImbalance(const v1::MoeRouting& r, const v1::Model& m, const v1::ServingPool& p, uint64_t seed) {
  if (r.distribution() != "skewed" && r.distribution() != "observed") return 0;
  wl::RoutingInput in;
  in.experts = m.routed_experts();
  in.top_k = m.top_k();
  in.ep = p.ep();
  in.tokens_per_rank = 4096;
  in.redundant_experts = p.redundant_experts();
  in.node_statistics = false;
  const auto layers = static_cast<uint32_t>(std::max(1, r.expert_load_size()));
  double sum = 0;
  for (uint32_t l = 0; l < layers; ++l) {
    wl::SetDistribution(r, l, in);
    sum += wl::RankImbalance(wl::RouteTokens(in, seed + l));
  }
  return sum / layers;
}

void ResolvePool(const Check& c, const v1::Model& model, int i, bool single, v1::ServingPool& p) {
  const std::string f = "serving.pools[" + std::to_string(i) + "]";
  if (p.role().empty() && single) p.set_role("mixed");
  if (p.role().empty()) c.Fail(f + ".role", "\"\"", "must be one of: mixed, prefill, decode");
  c.OneOf(f + ".role", p.role(), {"mixed", "prefill", "decode"});
  if (p.tp() == 0) p.set_tp(1);
  if (p.pp() == 0) p.set_pp(1);
  if (p.dp_attention() == 0) p.set_dp_attention(1);
  if (p.ep() == 0) p.set_ep(1);
  if (p.max_num_tokens() == 0) p.set_max_num_tokens(8192);
  if (p.kv_memory_fraction() == 0) p.set_kv_memory_fraction(0.9);
  // Expert-parallel ranks never receive exactly the mean: after EPLB the busiest holds ~1.3x it (Ant Group's
  // load-balance ratio above 70%, LMSYS 2025-09-26; docs/serving.md). Without expert parallelism no rank waits.
  if (p.expert_imbalance() == 0) p.set_expert_imbalance(p.ep() > 1 ? kDefaultExpertImbalance : 1);
  c.Range(f + ".kv_memory_fraction", p.kv_memory_fraction(), 1e-3, 1, "must be in (0, 1] (0 means 0.9)");
  c.Range(f + ".expert_imbalance", p.expert_imbalance(), 1, 1e3, "must be >= 1 (max / mean tokens per EP rank)");
  if (p.pp() > model.layers())
    c.Fail(f + ".pp", std::to_string(p.pp()), "must not exceed the model's layers (" + std::to_string(model.layers()) + ")");
  const bool moe = model.routed_experts() > 0;
  if (!moe && (p.ep() > 1 || p.dp_attention() > 1 || p.redundant_experts() > 0))
    c.Fail(f + ".ep", std::to_string(p.ep()), "expert parallelism, dp_attention and redundant experts need a MoE model");
  if (p.ep() > 1 && p.ep() != p.tp() * p.dp_attention())
    c.Fail(f + ".ep", std::to_string(p.ep()),
           "must be 1 (experts tensor-parallel) or tp x dp_attention = " + std::to_string(p.tp() * p.dp_attention()) +
               " (experts spread over the instance's stage)");
  if (p.ep() == 1 && p.dp_attention() > 1)
    c.Fail(f + ".dp_attention", std::to_string(p.dp_attention()), "needs expert parallelism (ep = tp x dp_attention)");
  if (p.ep() > 1 && (model.routed_experts() + p.redundant_experts()) % p.ep() != 0)
    c.Fail(f + ".ep", std::to_string(p.ep()),
           "must divide the routed experts plus redundant experts (" +
               std::to_string(model.routed_experts() + p.redundant_experts()) + ")");
}

void ResolvePools(const Check& c, v1::Scenario& s) {
  v1::Serving& sv = *s.mutable_serving();
  const int n = sv.pools_size();
  if (n == 0) c.Fail("serving.pools", "(none)", "give one \"mixed\" pool, or a \"prefill\" and a \"decode\" pool");
  for (int i = 0; i < n; ++i) {
    v1::ServingPool& p = *sv.mutable_pools(i);
    const bool imbalance_unset = p.expert_imbalance() == 0;
    ResolvePool(c, s.workload().model(), i, n == 1, p);
    // A routing distribution in the workload sets the pools that leave expert_imbalance at its default.
    if (imbalance_unset && p.ep() > 1) {
      const double routed = RoutedImbalance(s.workload().moe_routing(), s.workload().model(), p, s.seed());
      if (routed > 0) p.set_expert_imbalance(routed);
    }
  }
  if (n == 1 && sv.pools(0).role() != "mixed")
    c.Fail("serving.pools[0].role", "\"" + sv.pools(0).role() + "\"", "a single pool must be \"mixed\"");
  if (n == 2 && !(sv.pools(0).role() == "prefill" && sv.pools(1).role() == "decode"))
    c.Fail("serving.pools[0].role", "\"" + sv.pools(0).role() + "\"",
           "two pools must be a \"prefill\" pool then a \"decode\" pool");
  if (n > 2) c.Fail("serving.pools", std::to_string(n), "at most two pools (prefill and decode)");
  const uint64_t gpus = s.cluster().num_gpus();
  if (n == 1 && sv.pools(0).instances() == 0) {
    const uint32_t per = sv.pools(0).tp() * sv.pools(0).pp() * sv.pools(0).dp_attention();
    if (per > gpus)
      c.Fail("serving.pools[0]", std::to_string(per) + " GPUs per instance",
             "an instance needs more GPUs than cluster.num_gpus (" + std::to_string(gpus) + ")");
    sv.mutable_pools(0)->set_instances(static_cast<uint32_t>(gpus / per));
  }
  for (int i = 0; i < n; ++i)
    if (sv.pools(i).instances() == 0)
      c.Fail("serving.pools[" + std::to_string(i) + "].instances", "0",
             "must be > 0 (0 fills the cluster only with a single pool)");
  if (ServingGpus(sv) > gpus)
    c.Fail("serving.pools", std::to_string(ServingGpus(sv)) + " GPUs",
           "the pools need more GPUs than cluster.num_gpus (" + std::to_string(gpus) + ")");
}

std::string ResolveTracePath(const LoadedScenario& loaded, const std::string& path) {
  namespace fs = std::filesystem;
  fs::path p(path);
  if (p.is_relative()) p = fs::path(loaded.file).parent_path() / p;
  return p.lexically_normal().string();
}

void ResolveTraffic(const Check& c, const LoadedScenario& loaded, v1::ServingTraffic& t) {
  if (t.arrival().empty()) t.set_arrival("poisson");
  c.OneOf("serving.traffic.arrival", t.arrival(), {"poisson", "bursty", "closed", "trace"});
  if (t.arrival() == "poisson" || t.arrival() == "bursty")
    c.Range("serving.traffic.rate_per_s", t.rate_per_s(), 1e-9, 1e9, "must be > 0 (requests per second, whole fleet)");
  if (t.arrival() == "bursty" && t.burstiness() == 0) t.set_burstiness(2);
  if (t.arrival() == "bursty") c.Range("serving.traffic.burstiness", t.burstiness(), 1, 100, "must be in [1, 100]");
  if (t.arrival() == "closed")
    c.Range("serving.traffic.concurrency", t.concurrency(), 1, 1e6, "must be >= 1 (requests in flight per instance)");
  if (t.arrival() == "trace") {
    if (t.trace_file().empty()) c.Fail("serving.traffic.trace_file", "\"\"", "required with arrival \"trace\"");
    t.set_trace_file(ResolveTracePath(loaded, t.trace_file()));
    (void)wl::ReadTrace(t.trace_file());
  } else {
    c.Range("serving.traffic.input_tokens", t.input_tokens(), 1, 1e7, "must be >= 1 (mean prompt tokens)");
    c.Range("serving.traffic.output_tokens", t.output_tokens(), 1, 1e7, "must be >= 1 (mean output tokens)");
  }
  if (t.length_distribution().empty()) t.set_length_distribution("fixed");
  c.OneOf("serving.traffic.length_distribution", t.length_distribution(),
          {"fixed", "uniform", "exponential", "lognormal"});
  c.Range("serving.traffic.length_spread", t.length_spread(), 0, t.length_distribution() == "uniform" ? 1 : 10,
          "must be in [0, 1] for uniform, [0, 10] otherwise");
  if (t.max_input_tokens() == 0) t.set_max_input_tokens(std::max(1u, 4 * t.input_tokens()));
  if (t.max_output_tokens() == 0) t.set_max_output_tokens(std::max(1u, 4 * t.output_tokens()));
  c.Range("serving.traffic.prefix_cache_hit_rate", t.prefix_cache_hit_rate(), 0, 0.999, "must be in [0, 1)");
}

void ResolveEngine(const Check& c, const v1::Scenario& s, v1::ServingEngine& e) {
  const std::string& precision = s.workload().precision();
  if (e.kv_cache_precision().empty()) e.set_kv_cache_precision(precision == "fp8" || precision == "fp4" ? "fp8" : "bf16");
  c.OneOf("serving.engine.kv_cache_precision", e.kv_cache_precision(), {"bf16", "fp8"});
  if (e.kv_block_tokens() == 0) e.set_kv_block_tokens(32);
  c.Range("serving.engine.kv_block_tokens", e.kv_block_tokens(), 1, 4096, "must be in [1, 4096]");
  c.Range("serving.engine.draft_tokens", e.draft_tokens(), 0, 16, "must be in [0, 16]");
  if (e.mean_accepted_tokens() == 0) e.set_mean_accepted_tokens(1);
  c.Range("serving.engine.mean_accepted_tokens", e.mean_accepted_tokens(), 1, 1.0 + e.draft_tokens(),
          "must be in [1, 1 + draft_tokens]");
  if (e.admission().empty()) e.set_admission("reserve_output");
  c.OneOf("serving.engine.admission", e.admission(), {"reserve_output", "prompt_only"});
  if (e.router().empty()) e.set_router("round_robin");
  c.OneOf("serving.engine.router", e.router(), {"round_robin", "least_loaded"});
  const ServingFamily fam = ServingFamilyOf(s.accelerator());
  if (e.iteration_overhead_us() == 0) e.set_iteration_overhead_us(fam.iteration_overhead_s * 1e6);
  if (e.software_efficiency() == 0) e.set_software_efficiency(fam.software_efficiency);
  if (e.attention_efficiency() == 0) e.set_attention_efficiency(fam.attention_efficiency);
  c.Range("serving.engine.iteration_overhead_us", e.iteration_overhead_us(), 0, 1e6, "must be in [0, 1e6] us");
  c.Range("serving.engine.software_efficiency", e.software_efficiency(), 1e-3, 1, "must be in (0, 1]");
  c.Range("serving.engine.attention_efficiency", e.attention_efficiency(), 1e-3, 1, "must be in (0, 1]");
}

}  // namespace

uint64_t ServingGpus(const v1::Serving& sv) {
  uint64_t n = 0;
  for (const v1::ServingPool& p : sv.pools()) n += uint64_t(p.instances()) * p.tp() * p.pp() * p.dp_attention();
  return n;
}

void ResolveServingScenario(const LoadedScenario& loaded, v1::Scenario& s) {
  const Check c(loaded);
  ResolveServingModel(c, loaded, s);
  ResolvePools(c, s);
  v1::Serving& sv = *s.mutable_serving();
  ResolveTraffic(c, loaded, *sv.mutable_traffic());
  ResolveEngine(c, s, *sv.mutable_engine());
  c.Range("serving.slo.ttft_ms", sv.slo().ttft_ms(), 0, 1e7, "must be >= 0 (0 = no bound)");
  c.Range("serving.slo.tpot_ms", sv.slo().tpot_ms(), 0, 1e7, "must be >= 0 (0 = no bound)");
  if (sv.duration_s() == 0) sv.set_duration_s(60);
  if (sv.warmup_s() == 0) sv.set_warmup_s(20);
  c.Range("serving.duration_s", sv.duration_s(), 1e-3, 86400, "must be in (0, 86400] s");
  c.Range("serving.warmup_s", sv.warmup_s(), 0, 86400, "must be in [0, 86400] s");
  if (sv.max_cell_instances() == 0) sv.set_max_cell_instances(16);
}

}  // namespace clustersim::sim
