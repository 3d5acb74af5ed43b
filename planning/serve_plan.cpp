// Serving deployment search; see serve_plan.h.
#include "planning/serve_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "planning/run.h"
#include "planning/serve.h"
#include "results/csv.h"
#include "results/serving_report.h"
#include "sim/scenario_loader.h"
#include "sim/serving_loader.h"

namespace clustersim::planning {
namespace {

constexpr uint32_t kBatches[] = {32, 64, 128, 256, 512};

std::string Label(const v1::Serving& sv) {
  std::string out;
  for (const v1::ServingPool& p : sv.pools())
    out += (out.empty() ? "" : " + ") + fmt::format("{} {} x tp{} pp{} dpa{} ep{}", p.role(), p.instances(), p.tp(),
                                                    p.pp(), p.dp_attention(), p.ep());
  const v1::ServingPool& last = sv.pools(sv.pools_size() - 1);
  return out + fmt::format(", batch {}", last.max_batch() / std::max(1u, last.dp_attention()));
}

// A mixed pool of `tp` x `dpa` GPUs per instance filling `gpus`, `batch` sequences per attention rank.
v1::Scenario Mixed(const v1::Scenario& base, uint64_t gpus, uint32_t tp, uint32_t dpa, uint32_t batch) {
  v1::Scenario s = base;
  v1::ServingPool p = base.serving().pools(0);
  p.set_role("mixed");
  p.set_tp(tp);
  p.set_pp(1);
  p.set_dp_attention(dpa);
  p.set_ep(dpa > 1 ? dpa : 1);
  p.set_expert_imbalance(0);
  p.set_instances(static_cast<uint32_t>(gpus / (tp * dpa)));
  p.set_max_batch(batch * dpa);
  s.mutable_serving()->clear_pools();
  *s.mutable_serving()->add_pools() = p;
  return s;
}

// GPUs of rp prefill and rd decode instances of the scenario's two shapes.
uint64_t UnitGpus(const v1::Serving& sv, uint32_t rp, uint32_t rd) {
  const auto gpus = [](const v1::ServingPool& p) { return uint64_t(p.tp()) * p.pp() * p.dp_attention(); };
  return rp * gpus(sv.pools(0)) + rd * gpus(sv.pools(1));
}

// The scenario's prefill and decode shapes at a ratio of instances that fills `gpus` (at least one unit).
v1::Scenario Disaggregated(const v1::Scenario& base, uint64_t gpus, uint32_t rp, uint32_t rd, uint32_t batch) {
  v1::Scenario s = base;
  v1::ServingPool& pre = *s.mutable_serving()->mutable_pools(0);
  v1::ServingPool& dec = *s.mutable_serving()->mutable_pools(1);
  const uint32_t k = static_cast<uint32_t>(gpus / UnitGpus(base.serving(), rp, rd));
  pre.set_instances(k * rp);
  dec.set_instances(k * rd);
  dec.set_max_batch(batch * dec.dp_attention());
  return s;
}

// Every shape's candidates, the batch limits ascending.
using Shape = std::vector<v1::Scenario>;

std::vector<Shape> Candidates(const v1::Scenario& s) {
  std::vector<Shape> out;
  const uint64_t gpus = sim::ServingGpus(s.serving());
  const auto add = [&out](const auto& make) {
    out.emplace_back();
    for (uint32_t b : kBatches) out.back().push_back(make(b));
  };
  if (s.serving().pools_size() == 2) {
    const std::pair<uint32_t, uint32_t> ratios[] = {{1, 1}, {1, 2}, {1, 3}, {1, 4}, {1, 6}, {2, 1}, {2, 3}};
    for (const auto& [rp, rd] : ratios)
      if (UnitGpus(s.serving(), rp, rd) <= gpus)
        add([&, rp = rp, rd = rd](uint32_t b) { return Disaggregated(s, gpus, rp, rd, b); });
    return out;
  }
  const uint32_t domain = s.cluster().scale_up().domain_size();
  for (uint32_t tp : {1u, 2u, 4u, 8u})
    if (tp <= domain && tp <= gpus) add([&](uint32_t b) { return Mixed(s, gpus, tp, 1, b); });
  const uint32_t experts = s.workload().model().routed_experts() + s.serving().pools(0).redundant_experts();
  if (s.workload().model().routed_experts() > 0)
    for (uint32_t g : {8u, 16u, 32u, 64u})
      if (g <= gpus && experts % g == 0) add([&](uint32_t b) { return Mixed(s, gpus, 1, g, b); });
  return out;
}

double Score(const v1::RunResult& r, PlanMetric by) {
  const v1::ServeResult& o = r.serving();
  switch (by) {
    case PlanMetric::kTime:
      return -o.output_tokens_per_s_per_gpu();
    // Whole-fleet figures (the traffic's input:output mix is the same for every candidate), not the split by
    // prefill_time_share, which depends on how each deployment divides its time.
    case PlanMetric::kEnergy:
      return o.joules_per_output_token();
    case PlanMetric::kCost:
      return o.cost_usd_per_m_tokens_blended();
  }
  return 0;
}

// Re-validates a candidate through the loader (defaults, rules) as if it had been written.
v1::Scenario Revalidate(const v1::Scenario& s) {
  sim::LoadedScenario loaded;
  loaded.scenario = s;
  loaded.file = s.name();
  return Resolve(loaded);
}

v1::Scenario AtRate(v1::Scenario s, double rate) {
  s.mutable_serving()->mutable_traffic()->set_rate_per_s(rate);
  return s;
}

bool Meets(const v1::RunResult& r, double target) {
  return r.serving().slo_attainment() >= target && r.serving().requests_unfinished() == 0;
}

// The candidate at the highest offered rate that still meets the SLO: doublings of the scenario's rate until it
// fails (at most kDoublings), then kBisections halvings of the interval. Closed loops and traces run as given.
ServeChoice AtCapacity(const v1::Scenario& c, const std::string& source, double target, uint64_t& runs) {
  constexpr int kDoublings = 6, kBisections = 4;
  const auto run = [&source, &runs](const v1::Scenario& at) {
    ++runs;
    return RunServe(at, source);
  };
  ServeChoice best{Label(c.serving()), c, run(c), false};
  best.meets_slo = Meets(best.result, target);
  const std::string& arrival = c.serving().traffic().arrival();
  if (arrival == "closed" || arrival == "trace") return best;
  double lo = best.meets_slo ? c.serving().traffic().rate_per_s() : 0;
  double hi = best.meets_slo ? 0 : c.serving().traffic().rate_per_s();
  for (int i = 0; i < kDoublings && hi == 0; ++i) {
    const v1::Scenario up = AtRate(c, 2 * lo);
    v1::RunResult r = run(up);
    if (!Meets(r, target))
      hi = 2 * lo;
    else
      best = {Label(up.serving()), up, std::move(r), true}, lo *= 2;
  }
  for (int i = 0; i < kBisections && hi > 0; ++i) {
    const double mid = lo > 0 ? 0.5 * (lo + hi) : 0.5 * hi;
    const v1::Scenario at = AtRate(c, mid);
    v1::RunResult r = run(at);
    if (Meets(r, target))
      best = {Label(at.serving()), at, std::move(r), true}, lo = mid;
    else
      hi = mid;
  }
  return best;
}

// Whether two capacity searches found the same operating point (a batch limit that no longer binds).
bool SameResult(const ServeChoice& a, const ServeChoice& b) {
  const v1::ServeResult &x = a.result.serving(), &y = b.result.serving();
  return a.meets_slo == b.meets_slo && x.offered_rate_per_s() == y.offered_rate_per_s() &&
         x.output_tokens_per_s() == y.output_tokens_per_s() && x.ttft().p99_s() == y.ttft().p99_s() &&
         x.tpot().p99_s() == y.tpot().p99_s();
}

}  // namespace

std::string ServeMetricName(PlanMetric by) {
  switch (by) {
    case PlanMetric::kTime:
      return "output tokens/s per GPU";
    case PlanMetric::kEnergy:
      return "energy per output token";
    case PlanMetric::kCost:
      return "cost per million tokens (blended)";
  }
  return "?";
}

ServePlanResult SearchServingPlans(const v1::Scenario& s, const ServePlanOptions& o) {
  if (!s.has_serving()) throw InputError(s.name() + ": plan: not a serving scenario");
  if (!(o.slo_target >= 0 && o.slo_target <= 1))
    throw InputError::Field("", 0, "--slo-target", fmt::format("{}", o.slo_target), "must be in [0, 1]");
  ServePlanResult r;
  for (const Shape& shape : Candidates(s)) {
    r.candidates += static_cast<uint32_t>(shape.size());
    for (size_t b = 0; b < shape.size(); ++b) {
      try {
        ServeChoice c = AtCapacity(Revalidate(shape[b]), s.name(), o.slo_target, r.simulations);
        if (b > 0 && SameResult(c, r.ranked.back())) {
          r.not_binding += static_cast<uint32_t>(shape.size() - b);
          break;
        }
        r.ranked.push_back(std::move(c));
      } catch (const DoesNotFitError&) {
        r.not_fitting += static_cast<uint32_t>(shape.size() - b);  // the weights do not depend on the batch limit
        break;
      }
    }
  }
  std::stable_sort(r.ranked.begin(), r.ranked.end(), [&o](const ServeChoice& a, const ServeChoice& b) {
    if (a.meets_slo != b.meets_slo) return a.meets_slo;
    return Score(a.result, o.by) < Score(b.result, o.by);
  });
  return r;
}

std::string ServePlanTable(const ServePlanResult& r, const ServePlanOptions& o) {
  std::string t = fmt::format(
      "serving plan search: {} candidates, {} at their SLO capacity ({} simulations), {} do not fit, {} with a batch "
      "limit that no longer binds; ranked by {} among those meeting the SLO (>= {:.4g}% of requests)\n",
      r.candidates, r.ranked.size(), r.simulations, r.not_fitting, r.not_binding, ServeMetricName(o.by),
      100 * o.slo_target);
  size_t w = 10;  // the deployment column fits the longest label shown
  for (size_t i = 0; i < r.ranked.size() && i < o.top; ++i) w = std::max(w, r.ranked[i].label.size());
  t += fmt::format("{:>4}  {:<{}} {:>9} {:>13} {:>9} {:>9} {:>7} {:>9} {:>9}\n", "rank", "deployment", w, "req/s",
                   "out tok/s/GPU", "TTFT p99", "TPOT p99", "SLO", "$/1M tok", "J/out tok");
  for (size_t i = 0; i < r.ranked.size() && i < o.top; ++i) {
    const ServeChoice& c = r.ranked[i];
    const v1::ServeResult& s = c.result.serving();
    t += fmt::format("{:>4}  {:<{}} {:>9.4g} {:>13.0f} {:>7.0f}ms {:>7.1f}ms {:>6.1f}% {:>9.3g} {:>9.3g}{}\n", i + 1,
                     c.label, w, s.offered_rate_per_s(), s.output_tokens_per_s_per_gpu(), 1e3 * s.ttft().p99_s(),
                     1e3 * s.tpot().p99_s(), 100 * s.slo_attainment(), s.cost_usd_per_m_tokens_blended(),
                     s.joules_per_output_token(), c.meets_slo ? "" : "  (misses the SLO)");
  }
  return t;
}

std::string ServePlanCsv(const ServePlanResult& r) {
  std::string out = "rank,deployment,meets_slo,";
  std::vector<v1::RunResult> rs;
  for (const ServeChoice& c : r.ranked) rs.push_back(c.result);
  const std::string body = results::ServeCsv(rs);
  const size_t nl = body.find('\n');
  out += body.substr(0, nl + 1);
  size_t pos = nl + 1;
  for (size_t i = 0; i < r.ranked.size(); ++i) {
    const size_t end = body.find('\n', pos);
    out += fmt::format("{},{},{},", i + 1, results::CsvField(r.ranked[i].label), r.ranked[i].meets_slo ? 1 : 0);
    out += body.substr(pos, end - pos + 1);
    pos = end + 1;
  }
  return out;
}

}  // namespace clustersim::planning
