// Serving fleets end to end (clustersim serve, docs/serving.md): the embedded serving scenarios, and a simulated
// serving result with its cost, energy and carbon per million tokens.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "common/embedded.h"
#include "results.pb.h"
#include "scenario.pb.h"
#include "sim/scenario_loader.h"

namespace clustersim::planning {

// The serving scenarios embedded in the build (workloads/scenarios/serving/*.textproto), sorted by file name;
// "default.textproto" is `clustersim serve`'s default.
std::span<const EmbeddedFile> ServingScenarios();
// Names of the embedded serving scenarios, as `serve example:NAME` takes them.
std::vector<std::string> ServingExampleNames();

// Loads and resolves a serving scenario; an empty path is the embedded serving default, example:NAME an embedded
// serving scenario. Throws InputError (also for
// a scenario without a serving block).
v1::Scenario LoadServingScenario(const std::string& path);
// The resolution LoadServingScenario applies to a parsed scenario: the serving block is required (InputError naming
// loaded.file otherwise), then Resolve (planning/run.h).
v1::Scenario ResolveServing(const sim::LoadedScenario& loaded);
// How messages name it: the path, or "<embedded serving default>".
std::string ServingSource(const std::string& path);

// Simulates a resolved serving scenario (sim::SimulateServing) and adds the version stamp and the per-million-token
// cost, energy and carbon (AddServingProjection). Deterministic.
v1::RunResult RunServe(const v1::Scenario& resolved, const std::string& source = {});

}  // namespace clustersim::planning
