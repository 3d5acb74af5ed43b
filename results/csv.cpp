// CSV renderings; see csv.h.
#include "results/csv.h"

#include <fmt/format.h>

#include <algorithm>

namespace clustersim::results {

namespace {

// Appends fields separated by commas; Num() prints the shortest round-trip form of a double.
class Row {
 public:
  explicit Row(std::string& out) : out_(out) {}
  Row& Text(std::string_view s) {
    Sep();
    out_ += CsvField(s);
    return *this;
  }
  Row& Num(double v) {
    Sep();
    out_ += fmt::format("{}", v);
    return *this;
  }
  Row& Int(uint64_t v) {
    Sep();
    out_ += std::to_string(v);
    return *this;
  }
  void End() { out_ += '\n'; }

 private:
  void Sep() {
    if (!first_) out_ += ',';
    first_ = false;
  }
  std::string& out_;
  bool first_ = true;
};

template <size_t N>
void Header(std::string& out, const std::array<std::string_view, N>& columns) {
  Row row(out);
  for (const std::string_view c : columns) row.Text(c);
  row.End();
}

}  // namespace

std::string CsvField(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
  std::string q = "\"";
  for (const char c : text) {
    if (c == '"') q += '"';
    q += c;
  }
  q += '"';
  return q;
}

std::string StepCsv(const std::vector<v1::RunResult>& results, const std::vector<std::string>& labels) {
  std::string out;
  Header(out, kStepCsvColumns);
  for (size_t i = 0; i < results.size(); ++i) {
    const v1::RunResult& r = results[i];
    const v1::Scenario& s = r.scenario();
    const v1::Parallelism& p = s.workload().parallelism();
    const v1::TimeBreakdown& b = r.breakdown();
    const v1::PowerSummary& pw = r.power();
    const v1::Projection& pr = r.projection();
    Row row(out);
    row.Text(s.name()).Text(r.clustersim_version()).Int(r.seed());
    row.Int(s.cluster().num_gpus()).Text(s.accelerator().name()).Text(s.cluster().scale_out().topology());
    row.Text(s.workload().model().name()).Text(s.workload().precision());
    row.Int(p.tp()).Int(p.cp()).Int(p.pp()).Int(p.dp()).Int(p.ep());
    row.Int(p.micro_batch_size()).Int(p.global_batch_size());
    row.Num(r.step_time_s()).Num(b.compute_s()).Num(b.exposed_tp_comm_s()).Num(b.exposed_cp_comm_s());
    row.Num(b.exposed_pp_comm_s()).Num(b.exposed_dp_comm_s()).Num(b.exposed_ep_comm_s());
    row.Num(b.pipeline_bubble_s()).Num(b.other_s());
    row.Num(r.tokens_per_s()).Num(r.tokens_per_s_per_gpu()).Num(r.model_tflops_per_gpu());
    row.Num(r.hardware_tflops_per_gpu()).Num(r.mfu()).Num(r.hfu()).Num(r.gpu_utilization());
    row.Num(pw.gpu_avg_w()).Num(pw.gpu_peak_w()).Num(pw.facility_avg_w()).Num(pw.facility_peak_w());
    row.Num(pw.it_total_avg_w()).Num(pw.network_total_avg_w()).Num(pw.energy_per_step_j());
    row.Num(pw.energy_per_token_j());
    row.Num(r.memory().total_gb()).Num(r.memory().capacity_gb()).Num(r.topology().network_cost_usd());
    row.Num(pr.training_tokens()).Num(pr.wall_clock_days()).Num(pr.gpu_hours()).Num(pr.energy_mwh());
    row.Num(pr.operational_tco2e()).Num(pr.embodied_tco2e()).Num(pr.cost_usd());
    const v1::Goodput& g = pr.goodput();
    row.Text(r.effective_precision()).Num(s.facility().grid_carbon_g_per_kwh()).Num(pr.training_flops());
    row.Num(g.goodput()).Num(g.wall_clock_days()).Num(g.energy_mwh()).Num(g.cost_usd());
    row.Num(r.cost().capex_usd()).Num(r.cost().opex_usd_per_year()).Num(r.cost().tco_usd());
    const v1::PowerSwing& w = r.power_swing();
    row.Num(w.step_swing_w()).Num(std::max(w.step_ramp_up_w_per_s(), w.step_ramp_down_w_per_s()));
    const v1::ServeResult& sv = r.serving();
    row.Num(sv.input_tokens_per_s()).Num(sv.output_tokens_per_s()).Num(sv.ttft().p99_s()).Num(sv.tpot().p99_s());
    row.Num(sv.slo_attainment()).Num(sv.cost_usd_per_m_input_tokens()).Num(sv.cost_usd_per_m_output_tokens());
    row.Num(sv.energy_kwh_per_m_output_tokens());
    row.Num(b.straggler_s()).Num(b.link_capacity_s());
    row.Text(i < labels.size() ? labels[i] : s.name());
    row.End();
  }
  return out;
}

std::string CommsCsv(const v1::RunResult& r) {
  std::string out;
  Header(out, kCommsCsvColumns);
  for (const v1::CommStat& c : r.comms()) {
    Row row(out);
    row.Text(c.kind()).Text(c.collective()).Text(c.algorithm()).Int(c.bytes_per_rank()).Int(c.group_size());
    row.Int(c.count_per_step()).Num(c.time_s()).Num(c.bus_bandwidth_gbyte_per_s()).Int(c.flows_simulated());
    row.Text(c.stages());
    row.End();
  }
  return out;
}

}  // namespace clustersim::results
