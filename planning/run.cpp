// See run.h.
#include "planning/run.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "common/error.h"
#include "planning/goodput.h"
#include "planning/serve.h"
#include "results/projection.h"
#include "sim/plausible.h"
#include "sim/scenario_loader.h"
#include "sim/simulation.h"
#include "sim/stages.h"
#include "workloads/model.h"

namespace clustersim {
extern const EmbeddedFile kExampleScenarios[];
extern const std::size_t kExampleScenarios_count;
}  // namespace clustersim

namespace clustersim::planning {
namespace {

constexpr std::string_view kExamplePrefix = "example:";
constexpr std::string_view kExampleSuffix = ".textproto";

std::string_view ExampleName(const EmbeddedFile& f) {
  std::string_view n = f.name;
  if (n.size() > kExampleSuffix.size() && n.substr(n.size() - kExampleSuffix.size()) == kExampleSuffix)
    n.remove_suffix(kExampleSuffix.size());
  return n;
}

const EmbeddedFile* FindExample(std::string_view name) { return FindEmbeddedScenario(ExampleScenarios(), name); }

}  // namespace

std::span<const EmbeddedFile> ExampleScenarios() { return {kExampleScenarios, kExampleScenarios_count}; }

const EmbeddedFile* FindEmbeddedScenario(std::span<const EmbeddedFile> files, std::string_view name) {
  for (const EmbeddedFile& f : files)
    if (ExampleName(f) == name) return &f;
  return nullptr;
}

std::vector<std::string> EmbeddedScenarioNames(std::span<const EmbeddedFile> files) {
  std::vector<std::string> names;
  for (const EmbeddedFile& f : files) names.emplace_back(ExampleName(f));
  return names;
}

std::vector<std::string> ExampleNames() { return EmbeddedScenarioNames(ExampleScenarios()); }

std::string ScenarioSource(const std::string& path) { return path.empty() ? "<embedded default>" : path; }

sim::LoadedScenario LoadScenarioText(const std::string& path) {
  const bool example = path.rfind(kExamplePrefix, 0) == 0;
  if (!example && !path.empty()) return sim::LoadScenarioFile(path);
  const std::string name = example ? path.substr(kExamplePrefix.size()) : "default";
  const EmbeddedFile* f = FindExample(name);
  if (f == nullptr && !example) throw SimulationError("the embedded default scenario is missing from this build");
  if (f == nullptr) {
    std::string known;
    for (const std::string& n : ExampleNames()) known += (known.empty() ? "" : ", ") + n;
    throw InputError::Field("", 0, "scenario", "\"" + path + "\"", "no such example; examples: " + known);
  }
  return sim::ParseScenario(std::string(f->content), "textproto", ScenarioSource(path));
}

v1::Scenario LoadScenario(const std::string& path) { return Resolve(LoadScenarioText(path)); }

double FlopsPerToken6ND(const v1::Model& m) { return 6 * wl::CountParams(m).active; }

void ResolveTrainingBudget(v1::Scenario& s, const std::string& file) {
  v1::Facility& f = *s.mutable_facility();
  const double flops = f.training_flops();
  if (!(flops >= 0) || !std::isfinite(flops))
    throw InputError::Field(file, 0, "facility.training_flops", fmt::format("{}", flops),
                            "must be a finite number >= 0 (model FLOPs of the run, 6 x active parameters x tokens)");
  if (flops == 0) return;
  const double per_token = FlopsPerToken6ND(s.workload().model());
  const double tokens = flops / per_token;
  if (f.training_tokens() > 0 && std::fabs(f.training_tokens() - tokens) > 1e-9 * tokens)
    throw InputError::Field(
        file, 0, "facility.training_tokens", fmt::format("{:g}", f.training_tokens()),
        fmt::format("give training_tokens or training_flops, not both (training_flops {:g} = 6 x {:.4g} active "
                    "parameters x {:.4g} tokens)",
                    flops, per_token / 6, tokens));
  f.set_training_tokens(tokens);
}

v1::Scenario Resolve(const sim::LoadedScenario& loaded) {
  v1::Scenario s = sim::ResolveScenario(loaded);
  *s.mutable_facility() = ResolveFacility(s.facility(), loaded.file);
  ResolveTrainingBudget(s, loaded.file);
  *s.mutable_reliability() = ResolveReliability(s.reliability(), s.cluster().num_gpus());
  return s;
}

void AddCost(v1::RunResult& r) {
  const v1::Scenario& s = r.scenario();
  CostInputs in;
  in.num_gpus = s.cluster().num_gpus();
  in.price_usd_per_gpu = s.accelerator().price_usd();
  in.host_price_usd_per_gpu = s.accelerator().host_price_usd();
  in.network_parts.assign(r.topology().parts().begin(), r.topology().parts().end());
  if (r.topology().scale_up_in_accelerator())  // at most the accelerators' price; the rest is on top
    in.scale_up_in_accelerator_usd =
        std::min(r.topology().scale_up_cost_usd(), s.accelerator().price_usd() * static_cast<double>(in.num_gpus));
  in.facility_avg_w = r.power().facility_avg_w();
  in.facility_peak_w = r.power().facility_peak_w();
  in.facility = ResolveFacility(s.facility(), s.name());
  in.run_usd = r.projection().cost_usd();
  *r.mutable_cost() = RollUpCost(in);
}

void AddProjection(v1::RunResult& r) {
  const v1::Scenario& s = r.scenario();
  if (s.facility().training_tokens() <= 0) return;
  if (!r.has_cost()) AddCost(r);
  ProjectionInputs in;
  in.step_time_s = r.step_time_s();
  in.tokens_per_step = r.tokens_per_s() * r.step_time_s();
  in.num_gpus = s.cluster().num_gpus();
  in.it_avg_w = r.power().it_total_avg_w();
  in.facility = s.facility();
  // The accelerator's lines less the scale-up fabric they include (sim/network_cost.h), which the network carries.
  const v1::TopologySummary& t = r.topology();
  const double carved_kg =
      t.scale_up_in_accelerator()
          ? std::min(t.scale_up_embodied_kgco2e() / static_cast<double>(in.num_gpus), s.accelerator().embodied_kgco2e())
          : 0;
  in.embodied_kgco2e_per_gpu = s.accelerator().embodied_kgco2e() - carved_kg;
  in.price_usd_per_gpu =
      r.cost().rental() ? s.accelerator().price_usd() : r.cost().accelerators_usd() / static_cast<double>(in.num_gpus);
  in.network_embodied_kgco2e = t.network_embodied_kgco2e() + t.scale_up_embodied_kgco2e();
  // Every capex line beside the accelerators (network by tier with the scale-up fabric, hosts, facility).
  in.network_price_usd = r.cost().capex_usd() - r.cost().accelerators_usd();
  in.maintenance_usd_per_year = r.cost().maintenance_usd_per_year();
  v1::Projection& p = *r.mutable_projection();
  p = Project(in, s.name());
  r.mutable_cost()->set_run_usd(p.cost_usd());
  const double per_token = FlopsPerToken6ND(s.workload().model());
  p.set_active_parameters(per_token / 6);
  p.set_training_flops(per_token * p.training_tokens());
  p.set_simulated_model_flops(r.model_tflops_per_gpu() * 1e12 * static_cast<double>(in.num_gpus) * p.wall_clock_days() *
                              86400);
  *p.mutable_goodput() = AnalyzeGoodput(r);
  AddRunPowerSwing(r);
}

void AddRunPowerSwing(v1::RunResult& r) {
  v1::PowerSwing& w = *r.mutable_power_swing();
  const v1::Goodput& g = r.projection().goodput();
  // Synchronous checkpoint stalls and restarts idle the whole cluster: once per checkpoint interval (compute plus the
  // stall) and once per failure.
  if (g.checkpoint_s() > 0 && g.checkpoint_interval_s() > 0)
    w.set_checkpoint_drops_per_hour(3600 / (g.checkpoint_interval_s() + g.checkpoint_s()));
  if (g.mtbf_hours() > 0 && std::isfinite(g.mtbf_hours())) w.set_failure_drops_per_hour(1 / g.mtbf_hours());
  if (w.checkpoint_drops_per_hour() > 0 || w.failure_drops_per_hour() > 0) {
    w.set_run_swing_w(w.step_max_w() - w.idle_w());
    if (w.ramp_window_s() > 0) w.set_run_ramp_w_per_s(w.run_swing_w() / w.ramp_window_s());
  }
}

v1::RunResult RunStep(const v1::Scenario& resolved, const std::string& source, const ProgressFn& progress) {
  if (resolved.has_serving()) return RunServe(resolved, source);  // a serving fleet (planning/serve.h)
  v1::RunResult r = sim::SimulateStep(resolved, source, progress);
  r.set_clustersim_version(CLUSTERSIM_VERSION);
  AddCost(r);
  AddProjection(r);
  CheckReportedNumbers(r, sim::SourceName(resolved, source), "result");  // the projection too (sim/plausible.h)
  return r;
}

uint64_t ParseSize(const std::string& text, const std::string& field) {
  // A number (digits with at most one decimal point) and a binary unit; the result must be 1 byte to 1 PiB.
  size_t i = 0, dots = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
    if (text[i] == '.') ++dots;
    ++i;
  }
  double v = -1;
  if (i > 0 && dots <= 1 && text.substr(0, i) != ".") {
    try {
      v = std::stod(text.substr(0, i));
    } catch (const std::exception&) {
      v = -1;
    }
  }
  const std::string unit = text.substr(i);
  double mult = 1;
  if (unit == "K" || unit == "KiB" || unit == "k")
    mult = 1024.0;
  else if (unit == "M" || unit == "MiB")
    mult = 1024.0 * 1024;
  else if (unit == "G" || unit == "GiB")
    mult = 1024.0 * 1024 * 1024;
  else if (unit == "B" || unit.empty())
    mult = 1;
  else
    v = -1;
  const double bytes = v * mult;
  if (!(v > 0) || !(bytes >= 1) || bytes > 1125899906842624.0)
    throw InputError::Field("", 0, field, "\"" + text + "\"",
                            "must be a positive size (1 byte to 1 PiB) like 4096, 64K, 1.5M, 1G");
  return static_cast<uint64_t>(std::llround(bytes));
}

}  // namespace clustersim::planning
