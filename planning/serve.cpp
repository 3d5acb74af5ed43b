// See serve.h.
#include "planning/serve.h"

#include "common/error.h"
#include "planning/run.h"
#include "results/serving_projection.h"
#include "sim/plausible.h"
#include "sim/scenario_loader.h"
#include "sim/serving_simulation.h"

namespace clustersim {
extern const EmbeddedFile kServingScenarios[];
extern const std::size_t kServingScenarios_count;
}  // namespace clustersim

namespace clustersim::planning {

std::span<const EmbeddedFile> ServingScenarios() { return {kServingScenarios, kServingScenarios_count}; }

std::string ServingSource(const std::string& path) { return path.empty() ? "<embedded serving default>" : path; }

std::vector<std::string> ServingExampleNames() { return EmbeddedScenarioNames(ServingScenarios()); }

v1::Scenario LoadServingScenario(const std::string& path) {
  const bool example = path.starts_with("example:");
  if (!path.empty() && !example) return ResolveServing(sim::LoadScenarioFile(path));
  const EmbeddedFile* f =
      FindEmbeddedScenario(ServingScenarios(), example ? std::string_view(path).substr(8) : "default");
  if (f == nullptr && !example)
    throw SimulationError("the embedded serving default scenario is missing from this build");
  // Not a serving example: a training example (refused by ResolveServing) or the list of every example.
  if (f == nullptr) return ResolveServing(LoadScenarioText(path));
  return ResolveServing(sim::ParseScenario(std::string(f->content), "textproto", ServingSource(path)));
}

v1::Scenario ResolveServing(const sim::LoadedScenario& loaded) {
  if (!loaded.scenario.has_serving())
    throw InputError(loaded.file +
                     ": serving = (none): a serving scenario needs a serving block (pools, traffic); "
                     "`clustersim run` simulates training steps");
  return Resolve(loaded);
}

v1::RunResult RunServe(const v1::Scenario& resolved, const std::string& source) {
  v1::RunResult r = sim::SimulateServing(resolved, source);
  r.set_clustersim_version(CLUSTERSIM_VERSION);
  AddServingProjection(r);
  CheckReportedNumbers(r, sim::SourceName(resolved, source), "result");  // sim/plausible.h: the output rule
  return r;
}

}  // namespace clustersim::planning
