// clustersim plan, goal and goodput (see commands.h; docs/capacity-planning.md).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iostream>

#include "cli/commands.h"
#include "common/error.h"
#include "planning/goal.h"
#include "planning/goodput.h"
#include "planning/run.h"
#include "planning/search.h"
#include "results/report.h"
#include "cli/serve_cmd.h"
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
  const sim::LoadedScenario loaded = sim::LoadScenarioFile(o.scenario);
  const planning::GoalResult r = planning::SeekGoal(loaded, g);
  for (const v1::GoalPoint& p : r.points) CheckReportedNumbers(p, o.scenario, "goal point");
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
  v1::Scenario s = planning::LoadScenario(o.scenario);
  if (o.tokens > 0) s.mutable_facility()->set_training_tokens(o.tokens);
  if (!(s.facility().training_tokens() > 0))
    throw InputError::Field(planning::ScenarioSource(o.scenario), 0,
                            "facility.training_tokens", "0",
                            "goodput needs a token budget (--tokens or facility.training_tokens)");
  const v1::RunResult r = planning::RunStep(s, planning::ScenarioSource(o.scenario));
  const v1::Projection& pr = r.projection();
  const v1::Goodput& g = pr.goodput();
  const planning::FailureModel m = planning::FailureModelOf(r);
  const planning::MonteCarloResult mc = planning::SimulateFailures(m, o.trials, o.seed);
  const std::string source = planning::ScenarioSource(o.scenario);
  CheckReportedNumber(mc.goodput, "goodput", source, "monte-carlo");
  CheckReportedNumber(mc.mean_wall_s / 86400, "wall_clock_days", source, "monte-carlo");
  CheckReportedNumber(mc.stddev_wall_s, "stddev_wall_s", source, "monte-carlo");
  std::cout << fmt::format("# {}: {:.3g} tokens on {} GPUs, step {:.3f} s, {:.2f} days without failures\n", s.name(),
                           pr.training_tokens(), s.cluster().num_gpus(), r.step_time_s(), pr.wall_clock_days());
  std::cout << fmt::format("  MTBF        {:.3g} h ({:.3g} interruptions per day)\n", g.mtbf_hours(),
                           24 / g.mtbf_hours());
  std::cout << fmt::format("  checkpoint  {:.1f} GB, {:.1f} s stall; restart {:.0f} s\n", g.checkpoint_gb(),
                           g.checkpoint_s(), g.restart_s());
  std::cout << fmt::format("  interval    {:.0f} s used (Young {:.0f} s, Daly {:.0f} s)\n", g.checkpoint_interval_s(),
                           g.young_interval_s(), g.daly_interval_s());
  std::cout << fmt::format("  {:<12} {:>10} {:>12} {:>14}\n", "", "goodput", "days", "interruptions");
  std::cout << fmt::format("  {:<12} {:>9.2f}% {:>12.3f} {:>14.1f}\n", "analytic", 100 * g.goodput(),
                           g.wall_clock_days(), g.expected_interruptions());
  std::cout << fmt::format("  {:<12} {:>9.2f}% {:>12.3f} {:>14.1f}   ({} trials, seed {}, +-{:.3f} days)\n",
                           "monte-carlo", 100 * mc.goodput, mc.mean_wall_s / 86400, mc.mean_interruptions, mc.trials,
                           o.seed, mc.stddev_wall_s / std::sqrt(static_cast<double>(mc.trials)) / 86400);
  return 0;
}

}  // namespace clustersim::cli
