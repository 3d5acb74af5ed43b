// See run.h.
#include "planning/run.h"

#include "common/error.h"
#include "planning/goodput.h"
#include "planning/serve.h"
#include "results/projection.h"
#include "sim/plausible.h"
#include "sim/scenario_loader.h"
#include "sim/simulation.h"
#include "sim/stages.h"

namespace clustersim {
extern const EmbeddedFile kExampleScenarios[];
extern const std::size_t kExampleScenarios_count;
}  // namespace clustersim

namespace clustersim::planning {

std::span<const EmbeddedFile> ExampleScenarios() { return {kExampleScenarios, kExampleScenarios_count}; }

std::string ScenarioSource(const std::string& path) { return path.empty() ? "<embedded default>" : path; }

v1::Scenario LoadScenario(const std::string& path) {
  sim::LoadedScenario loaded;
  if (path.empty()) {
    bool found = false;
    for (const EmbeddedFile& f : ExampleScenarios()) {
      if (f.name != "default.textproto") continue;
      loaded = sim::ParseScenario(std::string(f.content), "textproto", ScenarioSource(path));
      found = true;
    }
    if (!found) throw SimulationError("the embedded default scenario is missing from this build");
  } else {
    loaded = sim::LoadScenarioFile(path);
  }
  return Resolve(loaded);
}

v1::Scenario Resolve(const sim::LoadedScenario& loaded) {
  v1::Scenario s = sim::ResolveScenario(loaded);
  *s.mutable_facility() = ResolveFacility(s.facility(), loaded.file);
  *s.mutable_reliability() = ResolveReliability(s.reliability(), s.cluster().num_gpus());
  return s;
}

void AddProjection(v1::RunResult& r) {
  const v1::Scenario& s = r.scenario();
  if (s.facility().training_tokens() <= 0) return;
  ProjectionInputs in;
  in.step_time_s = r.step_time_s();
  in.tokens_per_step = r.tokens_per_s() * r.step_time_s();
  in.num_gpus = s.cluster().num_gpus();
  in.it_avg_w = r.power().it_total_avg_w();
  in.facility = s.facility();
  in.embodied_kgco2e_per_gpu = s.accelerator().embodied_kgco2e();
  in.price_usd_per_gpu = s.accelerator().price_usd();
  in.network_embodied_kgco2e =
      static_cast<double>(r.topology().switches()) * s.cluster().parts().switch_embodied_kgco2e();
  in.network_price_usd = r.topology().network_cost_usd();
  *r.mutable_projection() = Project(in, s.name());
  *r.mutable_projection()->mutable_goodput() = AnalyzeGoodput(r);
}

v1::RunResult RunStep(const v1::Scenario& resolved, const std::string& source) {
  if (resolved.has_serving()) return RunServe(resolved, source);  // a serving fleet (planning/serve.h)
  v1::RunResult r = sim::SimulateStep(resolved, source);
  r.set_clustersim_version(CLUSTERSIM_VERSION);
  AddProjection(r);
  CheckReportedNumbers(r, sim::SourceName(resolved, source), "result");  // the projection too (sim/plausible.h)
  return r;
}

}  // namespace clustersim::planning
