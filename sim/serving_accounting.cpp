// Serving account stage (serving_simulation.h, stage 6): the cell's figures scaled to the fleet.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/error.h"
#include "sim/accounting.h"
#include "sim/hardware/power_model.h"
#include "sim/network_cost.h"
#include "sim/serving_simulation.h"
#include "sim/simulation.h"

namespace clustersim::sim {
namespace {

double Percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(std::ceil(q * double(v.size())) - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

v1::LatencyStats Stats(std::vector<double> v) {
  v1::LatencyStats s;
  if (v.empty()) return s;
  s.set_mean_s(std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()));
  s.set_max_s(*std::max_element(v.begin(), v.end()));
  s.set_p50_s(Percentile(v, 0.50));
  s.set_p90_s(Percentile(v, 0.90));
  s.set_p99_s(Percentile(v, 0.99));
  return s;
}

void FillLatency(const CellResult& cell, v1::ServeResult& o) {
  std::vector<double> ttft, tpot, e2e, queue;
  double inv_tpot = 0, good_tokens = 0, all_tokens = 0;
  uint64_t good = 0;
  for (const RequestLatency& l : cell.measured) {
    ttft.push_back(l.ttft);
    e2e.push_back(l.e2e);
    queue.push_back(std::max(0.0, l.queue));
    if (l.output > 1) {
      tpot.push_back(l.tpot);
      inv_tpot += l.tpot > 0 ? 1 / l.tpot : 0;
    }
    all_tokens += l.output;
    if (l.good) good_tokens += l.output, ++good;
  }
  *o.mutable_ttft() = Stats(std::move(ttft));
  *o.mutable_tpot() = Stats(tpot);
  *o.mutable_e2e() = Stats(std::move(e2e));
  *o.mutable_queue() = Stats(std::move(queue));
  o.set_output_tokens_per_s_per_user(tpot.empty() ? 0 : inv_tpot / double(tpot.size()));
  const double all = double(cell.measured.size() + cell.unfinished);
  o.set_slo_attainment(all > 0 ? double(good) / all : 0);
  o.set_goodput_output_tokens_per_s(all_tokens > 0 ? o.output_tokens_per_s() * good_tokens / all_tokens : 0);
  o.set_requests_measured(cell.measured.size());
  o.set_requests_unfinished(cell.unfinished);
  const double n = double(cell.measured.size());
  if (n > 1) {
    double sum = 0, sum2 = 0;
    for (const RequestLatency& l : cell.measured) sum += l.output, sum2 += double(l.output) * l.output;
    const double mean = sum / n, var = std::max(0.0, sum2 / n - mean * mean);
    o.set_throughput_rel_stderr(std::sqrt(1 + var / (mean * mean)) / std::sqrt(n));
  }
  o.set_kv_transfer_mean_s(cell.measured.empty() ? 0 : cell.kv_transfer_s / double(cell.measured.size()));
}

// Mean draw of one GPU over the window from an instance's activity intervals.
double GpuAverageW(const PowerModel& pm, const std::vector<GpuInterval>& ivs, double window) {
  double above = 0;
  for (const GpuInterval& iv : ivs) above += (iv.end_s - iv.start_s) * (pm.GpuWatts(iv.state) - pm.idle_w());
  return pm.idle_w() + above / window;
}

// One pool's figures; returns its prefill-attributed busy seconds (cell) and adds its tokens to the fleet totals.
void FillPool(const v1::Scenario& s, const ServingPoolWork& p, const InstanceStats* st, v1::ServePoolResult& o) {
  const double window = s.serving().duration_s(), n = p.cell_instances, scale = p.scale();
  const PowerModel pm(s.accelerator());
  InstanceStats sum;
  uint64_t iterations = 0;
  double watts = 0;
  for (uint32_t k = 0; k < p.cell_instances; ++k) {
    sum.input_tokens += st[k].input_tokens;
    sum.output_tokens += st[k].output_tokens;
    sum.batch_s += st[k].batch_s;
    sum.kv_s += st[k].kv_s;
    sum.kv_max = std::max(sum.kv_max, st[k].kv_max);
    sum.busy_s += st[k].busy_s;
    sum.iteration_s += st[k].iteration_s;
    sum.preemptions += st[k].preemptions;
    for (auto [to, from] : {std::pair{&sum.parts.dense_s, st[k].parts.dense_s}, {&sum.parts.experts_s, st[k].parts.experts_s},
                            {&sum.parts.attention_s, st[k].parts.attention_s}, {&sum.parts.other_s, st[k].parts.other_s},
                            {&sum.parts.comm_s, st[k].parts.comm_s}, {&sum.parts.host_s, st[k].parts.host_s}})
      *to += from;
    iterations += st[k].iterations;
    watts += GpuAverageW(pm, st[k].power, window) / n;
  }
  const double gpus = double(p.instances) * p.spec.gpus();
  o.set_role(p.spec.role);
  o.set_instances(p.instances);
  o.set_cell_instances(p.cell_instances);
  o.set_gpus_per_instance(p.spec.gpus());
  o.set_layout(p.spec.Label());
  o.set_input_tokens_per_s(sum.input_tokens * scale / window);
  o.set_output_tokens_per_s(sum.output_tokens * scale / window);
  o.set_input_tokens_per_s_per_gpu(o.input_tokens_per_s() / gpus);
  o.set_output_tokens_per_s_per_gpu(o.output_tokens_per_s() / gpus);
  o.set_mean_batch(sum.batch_s / (n * window));
  o.set_mean_iteration_s(iterations > 0 ? sum.iteration_s / double(iterations) : 0);
  o.set_kv_utilization_mean(sum.kv_s / (n * window));
  o.set_kv_utilization_max(sum.kv_max);
  o.set_busy_fraction(sum.busy_s / (n * window));
  o.set_kv_capacity_tokens(p.memory.kv_capacity_tokens);
  o.set_weights_gb_per_gpu(p.memory.weights_bytes / 1e9);
  o.set_kv_cache_gb_per_gpu(p.memory.kv_bytes / 1e9);
  o.set_preemptions(sum.preemptions);
  o.set_gpu_avg_w(watts);
  const double n_it = iterations > 0 ? double(iterations) : 1;
  v1::IterationBreakdown& b = *o.mutable_iteration();
  b.set_dense_s(sum.parts.dense_s / n_it);
  b.set_experts_s(sum.parts.experts_s / n_it);
  b.set_attention_s(sum.parts.attention_s / n_it);
  b.set_other_s(sum.parts.other_s / n_it);
  b.set_comm_s(sum.parts.comm_s / n_it);
  b.set_host_s(sum.parts.host_s / n_it);
}

void FillThroughput(const v1::Scenario& s, const ServingWork& w, const CellResult& cell, v1::ServeResult& o) {
  double gpus = 0, prefill_busy = 0, busy = 0, prefill_gpus = 0;
  size_t k = 0;
  for (size_t i = 0; i < w.pools.size(); ++i) {
    const ServingPoolWork& p = w.pools[i];
    v1::ServePoolResult& pr = *o.add_pools();
    FillPool(s, p, &cell.instances[k], pr);
    o.set_input_tokens_per_s(o.input_tokens_per_s() + pr.input_tokens_per_s());
    o.set_output_tokens_per_s(o.output_tokens_per_s() + pr.output_tokens_per_s());
    const double pool_gpus = double(p.instances) * p.spec.gpus();
    gpus += pool_gpus;
    if (p.spec.role == "prefill") prefill_gpus += pool_gpus;
    for (uint32_t j = 0; j < p.cell_instances; ++j, ++k) {
      prefill_busy += cell.instances[k].prefill_share_s * p.scale() * p.spec.gpus();
      busy += cell.instances[k].busy_s * p.scale() * p.spec.gpus();
    }
  }
  const double gpn = s.cluster().scale_up().gpus_per_node();
  o.set_input_tokens_per_s_per_gpu(o.input_tokens_per_s() / gpus);
  o.set_output_tokens_per_s_per_gpu(o.output_tokens_per_s() / gpus);
  o.set_input_tokens_per_s_per_node(o.input_tokens_per_s_per_gpu() * gpn);
  o.set_output_tokens_per_s_per_node(o.output_tokens_per_s_per_gpu() * gpn);
  o.set_prefill_time_share(w.pools.size() == 2 ? prefill_gpus / gpus : (busy > 0 ? prefill_busy / busy : 0));
}

void FillSamples(const v1::Scenario& s, const ServingWork& w, const CellResult& cell, v1::ServeResult& o) {
  const double bin_s = s.serving().duration_s() / double(cell.bins.size());
  double n = 0;
  for (const ServingPoolWork& p : w.pools) n += p.cell_instances;
  for (size_t b = 0; b < cell.bins.size(); ++b) {
    const CellBin& c = cell.bins[b];
    v1::ServeSample& x = *o.add_samples();
    x.set_t_s(double(b) * bin_s);
    x.set_running(c.running / bin_s);
    x.set_waiting(c.waiting / bin_s);
    x.set_kv_utilization(c.kv / (bin_s * n));
    x.set_input_tokens_per_s(c.input_tokens / bin_s);
    x.set_output_tokens_per_s(c.output_tokens / bin_s);
  }
}

void FillPower(const v1::Scenario& s, const ServingWork& w, const CellResult& cell, const SimWorld& world,
               v1::RunResult& r) {
  const topo::Inventory inv = world.fabric().ComputeInventory();
  *r.mutable_topology() = SummarizeTopology(world.fabric(), inv, s);
  EnergyConfig ec;
  ec.step_time_s = s.serving().duration_s();
  ec.num_gpus = s.cluster().num_gpus();
  ec.gpus_per_node = s.cluster().scale_up().gpus_per_node();
  ApplyNetworkPower(r.topology(), ec);
  ec.pue = s.facility().pue();
  ec.tokens_per_step = r.serving().output_tokens_per_s() * ec.step_time_s;
  EnergyAccumulator acc(PowerModel(s.accelerator()), ec);
  size_t k = 0;
  for (const ServingPoolWork& p : w.pools) {
    const uint64_t mult = static_cast<uint64_t>(std::llround(p.scale())) * p.spec.gpus();
    for (uint32_t j = 0; j < p.cell_instances; ++j, ++k) acc.AddTimeline(cell.instances[k].power, mult);
  }
  *r.mutable_power() = acc.Summary();
  for (const v1::PowerSample& ps : acc.Samples(cell.bins.size())) *r.add_power_timeline() = ps;
}

void FillTimeline(const CellResult& cell, v1::RunResult& r) {
  for (const CellTraceEvent& e : cell.timeline) {
    v1::TraceEvent& t = *r.add_timeline();
    t.set_stage(e.instance);
    t.set_name(e.name);
    t.set_category(e.category);
    t.set_start_s(e.start_s);
    t.set_duration_s(e.duration_s);
    t.set_track(e.track);
  }
}

}  // namespace

void AccountServing(const v1::Scenario& s, const ServingWork& w, const CellResult& cell, const Pricing& pricing,
                    const SimWorld& world, v1::RunResult& r) {
  r.set_seed(s.seed());
  *r.mutable_scenario() = s;
  v1::ServeResult& o = *r.mutable_serving();
  o.set_window_s(s.serving().duration_s());
  FillThroughput(s, w, cell, o);
  FillLatency(cell, o);
  FillSamples(s, w, cell, o);
  const double measured = double(cell.measured.size() + cell.unfinished);
  o.set_offered_rate_per_s(s.serving().traffic().arrival() == "closed"
                               ? measured * w.pools[0].scale() / s.serving().duration_s()
                               : s.serving().traffic().rate_per_s());
  uint32_t fleet = 0, cell_n = 0;
  for (const ServingPoolWork& p : w.pools) fleet += p.instances, cell_n += p.cell_instances;
  o.set_fleet_instances(fleet);
  o.set_cell_instances(cell_n);
  o.set_cell_scale(w.pools[0].scale());
  o.set_cell(w.cell_label);
  o.set_iterations_simulated(cell.iterations);
  o.set_requests_simulated(cell.requests);
  o.set_family(ServingFamilyOf(s.accelerator()).name);
  r.set_tokens_per_s(o.output_tokens_per_s());
  r.set_tokens_per_s_per_gpu(o.output_tokens_per_s_per_gpu());
  FillPower(s, w, cell, world, r);
  FillTimeline(cell, r);
  FillSimStats(world, pricing, 0, r);
}

}  // namespace clustersim::sim
