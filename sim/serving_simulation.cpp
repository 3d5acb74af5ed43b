// Serving simulation stages 2, 5 and the entry point; see serving_simulation.h.
#include "sim/serving_simulation.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <numeric>

#include "common/error.h"

namespace clustersim::sim {

namespace {

uint32_t LargestDivisorUpTo(uint32_t n, uint32_t max) {
  for (uint32_t d = std::min(n, std::max(1u, max)); d > 1; --d)
    if (n % d == 0) return d;
  return 1;
}

std::vector<uint32_t> Divisors(uint32_t n, uint32_t max) {
  std::vector<uint32_t> out;
  for (uint32_t d = 1; d <= std::min(n, max); ++d)
    if (n % d == 0) out.push_back(d);
  return out;
}

}  // namespace

std::vector<uint32_t> ChooseCell(const std::vector<uint32_t>& n, uint32_t max, bool full) {
  if (full) return n;
  if (n.size() == 1) return {LargestDivisorUpTo(n[0], max)};
  const double target = std::log(double(n[0]) / n[1]);
  uint32_t best_p = 1, best_d = 1;
  double best_err = 1e300;
  for (uint32_t p : Divisors(n[0], max))
    for (uint32_t d : Divisors(n[1], max)) {
      if (p + d > std::max(2u, max)) continue;
      const double err = std::abs(std::log(double(p) / d) - target);
      if (err < best_err - 1e-12 || (std::abs(err - best_err) <= 1e-12 && p + d > best_p + best_d))
        best_p = p, best_d = d, best_err = err;
    }
  return {best_p, best_d};
}

ServingWork GenerateServing(const v1::Scenario& s, const std::string& source) {
  const v1::Serving& sv = s.serving();
  const v1::ServingEngine& eng = sv.engine();
  ServingWork w{wl::BuildInferenceModel(s.workload().model(), s.workload().precision(), eng.kv_cache_precision(),
                                        source),
                {},
                ComputeModel(s.accelerator(), s.workload().precision(), source),
                {eng.draft_tokens(), eng.software_efficiency(), eng.iteration_overhead_us() * 1e-6},
                eng.attention_efficiency(),
                {},
                0,
                1,
                {}};
  std::vector<uint32_t> counts;
  uint32_t gpu = 0;
  for (int i = 0; i < sv.pools_size(); ++i) {
    ServingPoolWork p;
    p.spec = InstanceSpecOf(sv.pools(i));
    p.memory = PlanInstanceMemory(w.model, p.spec, s.accelerator().hbm_gb() * 1e9, source, i);
    p.instances = sv.pools(i).instances();
    p.first_gpu = gpu;
    gpu += p.instances * p.spec.gpus();
    counts.push_back(p.instances);
    w.pools.push_back(p);
  }
  const std::vector<uint32_t> cell = ChooseCell(counts, sv.max_cell_instances(), s.options().fidelity() == "full");
  for (size_t i = 0; i < cell.size(); ++i) w.pools[i].cell_instances = cell[i];
  const double entry_scale = w.pools[0].scale();
  w.cell_rate_per_s = sv.traffic().rate_per_s() / entry_scale;
  w.cell_share = static_cast<uint32_t>(std::llround(entry_scale));
  w.cell_label = cell.size() == 1 ? fmt::format("{} mixed", cell[0])
                                  : fmt::format("{} prefill + {} decode", cell[0], cell[1]);
  if (sv.traffic().arrival() == "trace") w.trace = wl::ReadTrace(sv.traffic().trace_file());
  return w;
}

CellResult ExecuteServing(const v1::Scenario& s, const ServingWork& w, const std::vector<IterationModel>& models) {
  const v1::Serving& sv = s.serving();
  CellConfig c;
  for (size_t p = 0; p < w.pools.size(); ++p)
    for (uint32_t k = 0; k < w.pools[p].cell_instances; ++k)
      c.instances.push_back(
          {&models[p], w.pools[p].memory.kv_capacity_tokens, static_cast<uint32_t>(p), w.pools[p].scale()});
  c.traffic = sv.traffic();
  c.cell_rate_per_s = w.cell_rate_per_s;
  c.kv_block_tokens = sv.engine().kv_block_tokens();
  c.reserve_output = sv.engine().admission() == "reserve_output";
  c.accepted_tokens = sv.engine().mean_accepted_tokens();
  c.router = sv.engine().router();
  c.warmup_s = sv.warmup_s();
  c.window_s = sv.duration_s();
  c.seed = s.seed();
  c.trace = w.trace.empty() ? nullptr : &w.trace;
  c.trace_parts = std::max(1u, w.cell_share);
  c.slo_ttft_s = sv.slo().ttft_ms() * 1e-3;
  c.slo_tpot_s = sv.slo().tpot_ms() * 1e-3;
  return RunCell(c);
}

namespace {

// The controller actor's work: stage 4, then stage 5 and 6 after the engine has run.
v1::RunResult RunServing(const v1::Scenario& s, const std::string& source, const ChildChannel& channel) {
  const auto started = std::chrono::steady_clock::now();
  const ServingWork work = GenerateServing(s, source);                                  // 2. program
  SimWorld world(s, work.compute.peak_flops(), started);                                // 3. build
  Pricing pricing(world, s, wl::RankLayout{}, PricingOptionsOf(s), &channel);           // 4. price
  v1::RunResult r;
  std::vector<CommTable> tables;
  world.RunController([&]() { tables = PriceServing(s, work, pricing.costs(), r); });
  std::vector<IterationModel> models;
  for (size_t p = 0; p < work.pools.size(); ++p)
    models.emplace_back(work.model, work.pools[p].spec, work.compute, work.attention_efficiency, tables[p],
                        work.engine);
  const CellResult cell = ExecuteServing(s, work, models);  // 5. execute
  AccountServing(s, work, cell, pricing, world, r);         // 6. account
  return r;
}

}  // namespace

v1::RunResult SimulateServing(const v1::Scenario& s, const std::string& source_file) {
  if (!s.has_serving()) throw SimulationError("SimulateServing: the scenario has no serving block");
  const std::string source = SourceName(s, source_file);
  GuardMemory(s, source);  // 1. resolve
  return RunResultInChild([&s, &source](const ChildChannel& channel) { return RunServing(s, source, channel); });
}

}  // namespace clustersim::sim
