// clustersim plan, goal and goodput (see commands.h; docs/capacity-planning.md).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iostream>

#include "cli/commands.h"
#include "cli/progress_line.h"
#include "cli/serve_cmd.h"
#include "common/error.h"
#include "planning/goal.h"
#include "planning/goodput.h"
#include "planning/run.h"
#include "planning/search.h"
#include "results/compare.h"
#include "results/report.h"
#include "sim/plausible.h"
#include "sim/scenario_loader.h"
#include "topologies/fabric.h"

namespace clustersim::cli {
namespace {

// --tokens: 0 = facility.training_tokens; otherwise a finite positive budget within facility.training_tokens' range.
void CheckTokens(double tokens) {
  if (!(tokens >= 0) || !std::isfinite(tokens))
    throw InputError::Field("", 0, "--tokens", fmt::format("{}", tokens),
                            "must be a finite number > 0 (omit it to use facility.training_tokens)");
  const FieldRange* range = FindFieldRange(*v1::Facility::descriptor()->FindFieldByName("training_tokens"));
  const std::string rule = range != nullptr ? ImplausibleRule(tokens, range->range) : "";
  if (!rule.empty()) throw InputError::Field("", 0, "--tokens", fmt::format("{}", tokens), rule);
}

double CheckMargin(double gb) {
  if (!std::isfinite(gb) || std::abs(gb) > 1e4)
    throw InputError::Field("", 0, "--memory-margin-gb", fmt::format("{}", gb), "must be a finite number of GB");
  return gb;
}

}  // namespace

int Plan(const PlanCmdOptions& o) {
  planning::SearchOptions so;
  so.top_k = o.top;
  so.by = planning::ParsePlanMetric(o.by.empty() ? "time" : o.by, "--by");
  so.memory_margin_gb = CheckMargin(o.memory_margin_gb);
  if (o.top == 0) throw InputError::Field("", 0, "--top", "0", "must be >= 1");
  CheckOutputDir(o.out_dir, "--out");
  const v1::Scenario s = planning::LoadScenario(o.scenario);
  if (s.has_serving()) return ServePlan(o, s);  // a serving fleet's deployment search (cli/serve_cmd.h)
  ProgressLine progress(o.quiet);
  so.progress = progress.Fn();
  const v1::PlanSearchResult r = planning::SearchPlans(s, so);
  CheckReportedNumbers(r, planning::ScenarioSource(o.scenario), "plan");
  if (!o.out_dir.empty()) {
    results::MakeOutputDirectory(o.out_dir);
    results::WriteFilesAtomic({{o.out_dir + "/plan.csv", planning::PlanCsv(r)},
                               {o.out_dir + "/plan.json", planning::PlanJson(r)}});
  }
  std::cout << planning::PlanTable(r);
  return 0;
}

int Goal(const GoalCmdOptions& o) {
  planning::GoalSpec g;
  g.training_tokens = o.tokens;
  g.training_flops = o.flops;
  g.deadline_days = o.deadline_days;
  g.max_energy_mwh = o.max_energy_gwh * 1e3;
  g.max_cost_usd = o.max_cost_usd;
  g.fabrics = o.fabrics;
  g.max_gpus = o.max_gpus;
  g.replan_top_k = o.replan;
  g.memory_margin_gb = CheckMargin(o.memory_margin_gb);
  if (!(o.deadline_days > 0) || !std::isfinite(o.deadline_days))
    throw InputError::Field("", 0, "--deadline-days", fmt::format("{}", o.deadline_days), "must be > 0");
  CheckTokens(o.tokens);
  if (!(o.flops >= 0) || !std::isfinite(o.flops))
    throw InputError::Field(
        "", 0, "--flops", fmt::format("{}", o.flops),
        "must be a finite number > 0, e.g. 1e26 (omit it to use --tokens or the scenario's budget)");
  if (!(o.max_energy_gwh >= 0) || !std::isfinite(o.max_energy_gwh))
    throw InputError::Field("", 0, "--max-energy-gwh", fmt::format("{}", o.max_energy_gwh),
                            "must be a finite number >= 0 (0 = no limit)");
  if (!(o.max_cost_usd >= 0) || !std::isfinite(o.max_cost_usd))
    throw InputError::Field("", 0, "--max-cost-usd", fmt::format("{}", o.max_cost_usd),
                            "must be a finite number >= 0 (0 = no limit)");
  if (o.max_gpus == 0) throw InputError::Field("", 0, "--max-gpus", "0", "must be >= 1");
  const std::vector<topo::FabricKindInfo> kinds = topo::ListFabricKinds();
  for (const std::string& f : o.fabrics) {
    const bool known = f.empty() ||  // "" = the scenario's own fabric
                       std::any_of(kinds.begin(), kinds.end(), [&f](const auto& k) { return k.name == f; });
    if (known) continue;
    std::string names;
    for (const auto& k : kinds) names += (names.empty() ? "" : ", ") + k.name;
    throw InputError::Field("", 0, "--fabrics", "\"" + f + "\"", "must be one of: " + names);
  }
  CheckOutputDir(o.out_dir, "--out");
  const sim::LoadedScenario loaded = planning::LoadScenarioText(o.scenario);
  ProgressLine progress(o.quiet);
  g.progress = progress.Fn();
  const planning::GoalResult r = planning::SeekGoal(loaded, g);
  // A point out of memory has no days, energy or cost (infinite by convention: it never meets the goal).
  for (const v1::GoalPoint& p : r.points)
    if (p.missed() != "memory") CheckReportedNumbers(p, o.scenario, "goal point");
  if (!o.out_dir.empty()) {
    results::MakeOutputDirectory(o.out_dir);
    results::WriteFileAtomic(o.out_dir + "/goal.csv", planning::GoalCsv(r));
  }
  std::cout << planning::GoalTable(r, g);
  return 0;
}

int Goodput(const GoodputCmdOptions& o) {
  if (o.trials == 0 || o.trials > 1000000)
    throw InputError::Field("", 0, "--trials", std::to_string(o.trials),
                            "must be 1 to 1,000,000 (the Monte-Carlo error falls as 1/sqrt(trials))");
  CheckTokens(o.tokens);
  const v1::Scenario s = planning::LoadScenario(o.scenario);
  const std::string source = planning::ScenarioSource(o.scenario);
  ProgressLine progress(o.quiet);
  const planning::GoodputStudy study = planning::StudyGoodput(s, o.tokens, o.trials, o.seed, source, progress.Fn());
  const planning::MonteCarloResult& mc = study.monte_carlo;
  CheckReportedNumber(mc.goodput, "goodput", source, "monte-carlo");
  CheckReportedNumber(mc.mean_wall_s / 86400, "wall_clock_days", source, "monte-carlo");
  CheckReportedNumber(mc.stddev_wall_s, "stddev_wall_s", source, "monte-carlo");
  std::cout << planning::GoodputTable(study);
  return 0;
}

}  // namespace clustersim::cli
