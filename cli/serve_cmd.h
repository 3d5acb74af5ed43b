// clustersim serve (cli/serve_cmd.cpp; docs/serving.md).
#pragma once

#include <string>

#include "cli/commands.h"
#include "results.pb.h"
#include "scenario.pb.h"

namespace clustersim::cli {

struct ServeOptions {
  std::string scenario;  // empty = the embedded serving default
  std::string out_dir;   // empty = no files
  bool json = false;     // print JSON instead of the summary
};
// Simulates a serving fleet, prints the summary (or JSON) and writes the output files.
int Serve(const ServeOptions& o);
// Prints and writes a serving result as Serve does (shared with `run` on a serving scenario).
int ServeOutputs(const v1::RunResult& r, const ServeOptions& o);
// `clustersim plan` on a serving scenario: the deployment search of planning/serve_plan.h (--by, default cost;
// --top = rows printed; --slo-target; --out: plan.csv with every candidate).
int ServePlan(const PlanCmdOptions& o, const v1::Scenario& resolved);

}  // namespace clustersim::cli
