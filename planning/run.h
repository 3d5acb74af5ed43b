// Running scenarios end to end, shared by every command that simulates steps (run, sweep, plan, goal).
//
// planning is the top layer: it joins sim (SimulateStep) and results (projection) and owns the example scenarios
// embedded in the build (workloads/scenarios/*.textproto).
#pragma once

#include <span>
#include <string>

#include "common/embedded.h"
#include "results.pb.h"
#include "scenario.pb.h"
#include "sim/scenario_loader.h"

namespace clustersim::planning {

// The example scenarios embedded in the build, sorted by file name ("default.textproto" is the default).
std::span<const EmbeddedFile> ExampleScenarios();

// Loads, validates and resolves a scenario file (facility included); an empty path is the embedded default.
// Throws InputError naming the file, line and field.
// How messages name the scenario LoadScenario(path) reads: the path, or "<embedded default>" for "".
std::string ScenarioSource(const std::string& path);
v1::Scenario LoadScenario(const std::string& path);
// The resolution LoadScenario applies to a parsed scenario: sim::ResolveScenario, then the facility and the
// reliability defaults. Throws InputError naming the file, line and field.
v1::Scenario Resolve(const sim::LoadedScenario& loaded);

// Simulates one step of a resolved scenario and adds the version stamp and, when facility.training_tokens > 0, the
// projection to the whole run. A serving scenario (a `serving` block) is simulated as a serving fleet instead
// (RunServe, planning/serve.h). Deterministic for a given scenario. `source` (the scenario's file) names it in input
// errors raised by the simulation (memory); default: the scenario's name.
v1::RunResult RunStep(const v1::Scenario& resolved, const std::string& source = {});

// Adds the projection of `r`'s step to its scenario's token budget (nothing when facility.training_tokens is 0).
void AddProjection(v1::RunResult& r);

}  // namespace clustersim::planning
