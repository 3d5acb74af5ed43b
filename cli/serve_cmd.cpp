// clustersim serve; see serve_cmd.h.
#include "cli/serve_cmd.h"

#include <iostream>

#include "cli/commands.h"
#include "planning/serve.h"
#include "planning/serve_plan.h"
#include "results/csv.h"
#include "results/report.h"
#include "results/serving_report.h"

namespace clustersim::cli {

int ServeOutputs(const v1::RunResult& r, const ServeOptions& o) {
  if (!o.out_dir.empty())
    results::WriteRunOutputs(o.out_dir, r,
                             {{"report.html", results::ServeHtmlReport(r)},
                              {"trace.json", results::ServeTrace(r)},
                              {"serve.csv", results::ServeCsv({r})},
                              {"comms.csv", results::CommsCsv(r)}});
  std::cout << (o.json ? results::ToJson(r) : results::ServeSummaryText(r));
  return 0;
}

int Serve(const ServeOptions& o) {
  CheckOutputDir(o.out_dir, "--out");
  const v1::Scenario s = planning::LoadServingScenario(o.scenario);
  return ServeOutputs(planning::RunServe(s, planning::ServingSource(o.scenario)), o);
}

int ServePlan(const PlanCmdOptions& o, const v1::Scenario& s) {
  planning::ServePlanOptions so;
  so.by = planning::ParsePlanMetric(o.by.empty() ? "cost" : o.by, "--by");
  so.slo_target = o.slo_target;
  so.top = o.top;
  const planning::ServePlanResult r = planning::SearchServingPlans(s, so);
  if (!o.out_dir.empty()) {
    results::MakeOutputDirectory(o.out_dir);
    results::WriteFilesAtomic({{o.out_dir + "/plan.csv", planning::ServePlanCsv(r)}});
  }
  std::cout << planning::ServePlanTable(r, so);
  return 0;
}

}  // namespace clustersim::cli
