// Running scenarios end to end, shared by every command that simulates steps (run, sweep, plan, goal).
//
// planning is the top layer: it joins sim (SimulateStep) and results (projection) and owns the example scenarios
// embedded in the build (workloads/scenarios/*.textproto).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/embedded.h"
#include "common/progress.h"
#include "results.pb.h"
#include "scenario.pb.h"
#include "sim/scenario_loader.h"

namespace clustersim::planning {

// The example scenarios embedded in the build, sorted by file name ("default.textproto" is the default).
std::span<const EmbeddedFile> ExampleScenarios();
// Their names, as `example:NAME` takes them: file names without ".textproto", sorted.
std::vector<std::string> ExampleNames();
// In any set of embedded scenarios (the examples, the serving examples): the file called NAME.textproto, or nullptr;
// and the names, without the suffix.
const EmbeddedFile* FindEmbeddedScenario(std::span<const EmbeddedFile> files, std::string_view name);
std::vector<std::string> EmbeddedScenarioNames(std::span<const EmbeddedFile> files);

// A scenario path as every command takes it: "" is the embedded default, "example:NAME" an embedded example (from
// any directory: they are compiled in), anything else a file (.textproto or .json). How messages name it:
// "<embedded default>", "example:NAME" or the path.
std::string ScenarioSource(const std::string& path);
// Reads and parses the scenario at `path` (no validation). Throws InputError for a missing file or an unknown
// example (listing the known ones).
sim::LoadedScenario LoadScenarioText(const std::string& path);
// Loads, validates and resolves the scenario at `path` (Resolve). Throws InputError naming the file, line and field.
v1::Scenario LoadScenario(const std::string& path);
// The resolution LoadScenario applies to a parsed scenario: sim::ResolveScenario, then the facility defaults, the
// run's budget (ResolveTrainingBudget) and the reliability defaults. Throws InputError naming the file, line and
// field.
v1::Scenario Resolve(const sim::LoadedScenario& loaded);

// Model FLOPs per token of the 6·N·D convention: 6 x the model's active parameters (wl::CountParams: every parameter
// a token passes through, embeddings included, multi-token-prediction modules and unselected routed experts
// excluded). `resolved_model` must be resolved (wl::ResolveModel).
double FlopsPerToken6ND(const v1::Model& resolved_model);
// facility.training_flops > 0 sets facility.training_tokens = training_flops / FlopsPerToken6ND (the flops are kept,
// so the summary can state them). Throws InputError when both are given and disagree, or the flops are negative.
void ResolveTrainingBudget(v1::Scenario& resolved, const std::string& file);

// Simulates one step of a resolved scenario and adds the version stamp and, when facility.training_tokens > 0, the
// projection to the whole run. A serving scenario (a `serving` block) is simulated as a serving fleet instead
// (RunServe, planning/serve.h). Deterministic for a given scenario. `source` (the scenario's file) names it in input
// errors raised by the simulation (memory); default: the scenario's name. `progress` receives the simulation's
// stages (sim::SimulateStep).
v1::RunResult RunStep(const v1::Scenario& resolved, const std::string& source = {}, const ProgressFn& progress = {});

// Parses "1G", "256M", "64K", "4096" (binary units) into bytes, as `clustersim coll --sizes` and the Python module
// take them; throws InputError naming `field`.
uint64_t ParseSize(const std::string& text, const std::string& field);

// Adds the cluster's capex, opex and TCO (results/projection.h RollUpCost) to `r` (and the run's share, when `r` has
// a projection).
void AddCost(v1::RunResult& r);
// Adds the projection of `r`'s step to its scenario's token budget (nothing when facility.training_tokens is 0): run
// time, energy, carbon, cost (capex of AddCost amortised), goodput, the 6·N·D FLOPs and the run's power drops
// (AddRunPowerSwing).
void AddProjection(v1::RunResult& r);
// The run-level fields of r.power_swing: how often checkpoints and failures drop the cluster to idle, and that swing.
void AddRunPowerSwing(v1::RunResult& r);

}  // namespace clustersim::planning
