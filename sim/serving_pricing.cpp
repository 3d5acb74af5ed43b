// Serving price stage (serving_simulation.h, stage 4): the communication curves of every pool, solved on SimGrid
// with every instance of the fleet communicating at once.
#include <algorithm>
#include <cmath>
#include <functional>

#include "common/error.h"
#include "sim/serving_simulation.h"
#include "workloads/moe_routing.h"

namespace clustersim::sim {
namespace {

using Groups = std::vector<std::vector<uint32_t>>;

// Powers of two from 1 to the first at or above `max` (at least 2 points).
std::vector<double> Ladder(double max) {
  std::vector<double> xs{1};
  while (xs.back() < max || xs.size() < 2) xs.push_back(xs.back() * 2);
  return xs;
}

// GPU of an instance's rank (tp fastest, then dp_attention, then pp).
uint32_t Gpu(const ServingPoolWork& p, uint32_t instance, uint32_t stage, uint32_t rank_in_stage) {
  const uint32_t stage_size = p.spec.tp * p.spec.dpa;
  return p.first_gpu + instance * p.spec.gpus() + stage * stage_size + rank_in_stage;
}

// Groups of `size` consecutive ranks of every stage of every instance of the pool (TP groups: size tp; EP groups:
// size tp x dp_attention).
Groups StageGroups(const ServingPoolWork& p, uint32_t size) {
  Groups g;
  const uint32_t stage_size = p.spec.tp * p.spec.dpa;
  for (uint32_t i = 0; i < p.instances; ++i)
    for (uint32_t st = 0; st < p.spec.pp; ++st)
      for (uint32_t b = 0; b < stage_size / size; ++b) {
        std::vector<uint32_t> grp;
        for (uint32_t k = 0; k < size; ++k) grp.push_back(Gpu(p, i, st, b * size + k));
        g.push_back(std::move(grp));
      }
  return g;
}

class CurvePricer {
 public:
  CurvePricer(const v1::Scenario& s, CommCostModel& costs, v1::RunResult& out) : s_(s), costs_(costs), out_(out) {}
  // Solves plan(x) for every x with every group at once; `bytes(x)` is the per-rank size reported.
  Curve Price(const char* kind, const char* collective, const std::vector<double>& xs, const Groups& groups,
              const std::function<CollectivePlan(double)>& plan, const std::function<double(double)>& bytes) {
    Curve c;
    for (double x : xs) {
      const CollectivePlan pl = plan(x);
      CommCost cost;
      const double t = costs_.SolveGroups(pl, groups, cost);
      c.x.push_back(x);
      c.t.push_back(t);
      v1::CommStat* cs = out_.add_comms();
      cs->set_kind(kind);
      cs->set_collective(collective);
      cs->set_algorithm(pl.algorithm);
      cs->set_bytes_per_rank(static_cast<uint64_t>(std::llround(bytes(x))));
      cs->set_group_size(static_cast<uint32_t>(groups[0].size()));
      cs->set_time_s(t);
      cs->set_flows_simulated(cost.flows);
    }
    return c;
  }
  const v1::Collectives& params() const { return s_.collectives(); }
  const GroupShape& shape() const { return costs_.shape(); }

 private:
  const v1::Scenario& s_;
  CommCostModel& costs_;
  v1::RunResult& out_;
};

void PriceTp(CurvePricer& pr, const ServingWork& w, const ServingPoolWork& p, CommTable& t) {
  if (p.spec.tp < 2) return;
  const Groups groups = StageGroups(p, p.spec.tp);
  const double hidden_bytes = 2.0 * w.model.hidden;
  const auto bytes = [hidden_bytes](double x) { return x * hidden_bytes; };
  t.tp_all_reduce = pr.Price("tp", "all_reduce", Ladder(double(p.spec.max_num_tokens) / p.spec.dpa), groups,
                             [&](double x) {
                               return PlanCollective(CollectiveKind::kAllReduce, pr.params().all_reduce(), groups[0],
                                                     bytes(x), pr.shape(), pr.params());
                             },
                             bytes);
}

// DeepEP normal-mode traffic per token (routing statistics of a sample, linear in tokens), as the collective
// microbenchmark derives it (collective_bench.cpp).
DeepEpNormalTraffic NormalTrafficPerToken(const v1::Scenario& s, const ServingWork& w, const ServingPoolWork& p,
                                          uint32_t per_node, double token_bytes, bool combine) {
  const uint32_t gs = p.spec.tp * p.spec.dpa, nodes = gs / per_node;
  wl::RoutingInput in;
  in.experts = w.model.routed_experts + p.spec.redundant_experts;
  in.top_k = w.model.top_k;
  in.ep = gs;
  in.tokens_per_rank = 256;
  in.ep_ranks_per_node = per_node;
  in.max_nodes_per_token = s.workload().moe_routing().max_nodes_per_token();
  in.sample_tokens = 256;
  const wl::RoutingResult r = wl::RouteTokens(in, s.seed());
  DeepEpNormalTraffic t;
  t.combine = combine;
  t.nvl_bytes_per_rank_pair = nodes * r.mean_dest_ranks / gs * token_bytes;
  t.rdma_bytes_per_node = nodes > 1 ? r.mean_remote_nodes / (nodes - 1) * token_bytes : 0;
  return t;
}

void PriceEp(CurvePricer& pr, const v1::Scenario& s, const ServingWork& w, const ServingPoolWork& p, CommTable& t) {
  if (p.spec.ep < 2 || w.model.moe_layers == 0) return;
  const uint32_t gs = p.spec.tp * p.spec.dpa;
  const Groups groups = StageGroups(p, gs);
  const double h = w.model.hidden, k = w.model.top_k;
  const double dispatch_token = h + h / 128 * 4, combine_token = 2 * h;  // fp8 with scales; bf16
  const std::vector<double> ll = Ladder(t.ll_max_tokens);
  for (bool combine : {false, true}) {
    const double tb = combine ? combine_token : dispatch_token;
    const auto bytes = [tb, k](double x) { return x * k * tb; };
    Curve c = pr.Price("ep", combine ? "combine (deepep_ll)" : "dispatch (deepep_ll)", ll, groups,
                       [&](double x) {
                         return PlanCollective(CollectiveKind::kAllToAll, "deepep_ll", groups[0], bytes(x), pr.shape(),
                                               pr.params());
                       },
                       bytes);
    (combine ? t.ep_combine_ll : t.ep_dispatch_ll) = std::move(c);
  }
  const uint32_t per_node = std::clamp(pr.shape().gpus_per_node, 1u, gs);
  const bool normal_ok = gs % per_node == 0;
  const std::vector<double> xs = Ladder(std::max<double>(2 * t.ll_max_tokens, double(p.spec.max_num_tokens) / gs));
  for (bool combine : {false, true}) {
    const double tb = combine ? combine_token : dispatch_token;
    const DeepEpNormalTraffic unit = NormalTrafficPerToken(s, w, p, per_node, tb, combine);
    const auto bytes = [tb, k](double x) { return x * k * tb; };
    Curve c = pr.Price("ep", combine ? "combine (deepep_normal)" : "dispatch (deepep_normal)", xs, groups,
                       [&](double x) {
                         if (!normal_ok)
                           return PlanCollective(CollectiveKind::kAllToAll, "auto", groups[0], bytes(x), pr.shape(),
                                                 pr.params());
                         DeepEpNormalTraffic tr = unit;
                         tr.nvl_bytes_per_rank_pair *= x;
                         tr.rdma_bytes_per_node *= x;
                         return PlanDeepEpNormal(groups[0], pr.shape(), pr.params(), tr);
                       },
                       bytes);
    (combine ? t.ep_combine_normal : t.ep_dispatch_normal) = std::move(c);
  }
}

// One phase of point-to-point flows, `pairs` (src, dst) each carrying `bytes`.
CollectivePlan P2pPlan(const std::vector<std::pair<uint32_t, uint32_t>>& pairs, double bytes,
                       const v1::Collectives& params) {
  CollectivePlan plan;
  plan.algorithm = "p2p";
  PhaseStep step;
  step.alpha_steps = P2pAlphaSteps(params);
  for (const auto& [a, b] : pairs) step.flows.push_back({a, b, bytes});
  plan.steps.push_back(std::move(step));
  return plan;
}

void PricePp(CurvePricer& pr, const ServingWork& w, const ServingPoolWork& p, CommTable& t) {
  if (p.spec.pp < 2) return;
  const uint32_t stage_size = p.spec.tp * p.spec.dpa;
  Groups groups;
  std::vector<std::pair<uint32_t, uint32_t>> pairs;
  for (uint32_t i = 0; i < p.instances; ++i) {
    std::vector<uint32_t> g;
    for (uint32_t r = 0; r < p.spec.gpus(); ++r) g.push_back(Gpu(p, i, 0, r));
    groups.push_back(std::move(g));
  }
  for (uint32_t st = 0; st + 1 < p.spec.pp; ++st)
    for (uint32_t r = 0; r < stage_size; ++r) pairs.emplace_back(Gpu(p, 0, st, r), Gpu(p, 0, st + 1, r));
  const double per_token = 2.0 * w.model.hidden / p.spec.tp / p.spec.dpa;
  const auto bytes = [per_token](double x) { return x * per_token; };
  t.pp_transfer = pr.Price("pp", "send_recv", Ladder(double(p.spec.max_num_tokens) / p.spec.pp), groups,
                           [&](double x) { return P2pPlan(pairs, bytes(x), pr.params()); }, bytes);
}

// Prefill instance k's GPU r sends its share of a request's KV to GPU r mod G of decode instance k mod D; every
// prefill instance at once.
void PriceKv(CurvePricer& pr, const v1::Scenario& s, const ServingPoolWork& pre, const ServingPoolWork& dec,
             CommTable& t) {
  Groups groups;
  std::vector<std::pair<uint32_t, uint32_t>> pairs;
  const uint32_t gp = pre.spec.gpus(), gd = dec.spec.gpus();
  for (uint32_t k = 0; k < pre.instances; ++k) {
    std::vector<uint32_t> g;
    for (uint32_t r = 0; r < gp; ++r) g.push_back(Gpu(pre, k, 0, r));
    for (uint32_t r = 0; r < gd; ++r) g.push_back(Gpu(dec, k % dec.instances, 0, r));
    groups.push_back(std::move(g));
  }
  for (uint32_t r = 0; r < gp; ++r) pairs.emplace_back(groups[0][r], groups[0][gp + r % gd]);
  const double per_token = pre.memory.kv_bytes_per_token;
  const auto bytes = [per_token](double x) { return x * per_token; };
  const double input = std::max(1u, s.serving().traffic().input_tokens());
  t.kv_transfer = pr.Price("kv", "kv_transfer", {input, 16 * input}, groups,
                           [&](double x) { return P2pPlan(pairs, bytes(x), pr.params()); }, bytes);
}

}  // namespace

std::vector<CommTable> PriceServing(const v1::Scenario& s, const ServingWork& w, CommCostModel& costs,
                                    v1::RunResult& out) {
  CurvePricer pr(s, costs, out);
  std::vector<CommTable> tables(w.pools.size());
  for (size_t i = 0; i < w.pools.size(); ++i) {
    PriceTp(pr, w, w.pools[i], tables[i]);
    PriceEp(pr, s, w, w.pools[i], tables[i]);
    PricePp(pr, w, w.pools[i], tables[i]);
  }
  if (w.pools.size() == 2) PriceKv(pr, s, w.pools[0], w.pools[1], tables[0]);
  return tables;
}

}  // namespace clustersim::sim
