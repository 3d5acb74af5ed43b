// The clustersim Python module's native part (`clustersim._clustersim`, pybind11): a thin layer over the functions
// the command line calls (planning/, results/, sim/). Messages cross as the Protobuf JSON mapping of results.proto
// and scenario.proto, turned into Python dicts by the json module; the CSV and text renderings come from the same
// C++ functions as the CLI's files. No logic of its own beyond argument conversion: see python/clustersim/__init__.py
// for the documented Python API and docs/python.md for the walkthrough.
//
// Errors: InputError (bad input: the same "file:line: field = value: rule" message as the CLI) becomes
// clustersim.InputError (a ValueError), DoesNotFitError its subclass clustersim.DoesNotFitError, SimulationError
// clustersim.SimulationError (a RuntimeError). Progress: a Python callable receives a list of dicts, one per level
// (what, done, total, item, elapsed_s, eta_s), on the calling thread; an exception it raises ends the simulation and
// propagates. The GIL is released while C++ runs.
#include <fmt/format.h>
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/error.h"
#include "planning/goal.h"
#include "planning/goodput.h"
#include "planning/run.h"
#include "planning/search.h"
#include "planning/serve.h"
#include "planning/serve_plan.h"
#include "planning/sweep.h"
#include "results/compare.h"
#include "results/csv.h"
#include "results/html_report.h"
#include "results/report.h"
#include "results/serving_report.h"
#include "results/trace.h"
#include "sim/scenario_loader.h"
#include "sim/simulation.h"

namespace py = pybind11;
using namespace clustersim;

namespace {

py::object FromJson(const std::string& json) { return py::module_::import("json").attr("loads")(json); }
std::string ToJson(const py::object& obj) { return py::module_::import("json").attr("dumps")(obj).cast<std::string>(); }

// A scenario given as a path, "example:NAME" or "" (the embedded default), or as a dict (scenario.proto's JSON
// mapping), parsed but not resolved.
sim::LoadedScenario Parse(const py::object& scenario) {
  if (py::isinstance<py::dict>(scenario)) return sim::ParseScenario(ToJson(scenario), "json", "<scenario dict>");
  if (scenario.is_none()) return planning::LoadScenarioText("");
  return planning::LoadScenarioText(py::str(scenario).cast<std::string>());
}

std::string SourceOf(const py::object& scenario) {
  if (py::isinstance<py::dict>(scenario)) return "<scenario dict>";
  return planning::ScenarioSource(scenario.is_none() ? "" : py::str(scenario).cast<std::string>());
}

// The Python progress callable as a ProgressFn (empty for None), taking the GIL for each call.
ProgressFn Progress(const py::object& callback) {
  if (callback.is_none()) return {};
  return [callback](const std::vector<ProgressLevel>& levels) {
    py::gil_scoped_acquire gil;
    py::list out;
    for (const ProgressLevel& l : levels) {
      py::dict d;
      d["what"] = l.what;
      d["done"] = l.done;
      d["total"] = l.total;
      d["item"] = l.item;
      d["elapsed_s"] = l.elapsed_s;
      d["eta_s"] = l.eta_s < 0 ? py::object(py::none()) : py::object(py::float_(l.eta_s));
      out.append(d);
    }
    callback(out);
  };
}

py::dict ParseFn(const py::object& scenario) {
  return FromJson(results::MessageJson(Parse(scenario).scenario, "scenario"));
}

py::dict ResolveFn(const py::object& scenario) {
  return FromJson(results::MessageJson(planning::Resolve(Parse(scenario)), "scenario"));
}

// A result as Python receives it: the dict, the text the CLI prints and its CSV (a serving result's are
// `clustersim serve`'s summary and serve.csv).
py::tuple ResultTuple(const v1::RunResult& r) {
  if (r.has_serving())
    return py::make_tuple(FromJson(results::ToJson(r)), results::ServeSummaryText(r), results::ServeCsv({r}));
  return py::make_tuple(FromJson(results::ToJson(r)), results::SummaryText(r), results::StepCsv({r}));
}

// run: the result, its summary text and its CSV row.
py::tuple RunFn(const py::object& scenario, const py::object& progress) {
  const v1::Scenario s = planning::Resolve(Parse(scenario));
  const std::string source = SourceOf(scenario);
  const ProgressFn fn = Progress(progress);
  v1::RunResult r;
  {
    py::gil_scoped_release release;
    r = planning::RunStep(s, source, fn);
  }
  return ResultTuple(r);
}

// serve: a serving scenario (None = the embedded serving default) simulated as `clustersim serve` does.
py::tuple ServeFn(const py::object& scenario) {
  const bool dict = py::isinstance<py::dict>(scenario);
  const std::string path = dict || scenario.is_none() ? "" : py::str(scenario).cast<std::string>();
  const v1::Scenario s = dict ? planning::ResolveServing(Parse(scenario)) : planning::LoadServingScenario(path);
  const std::string source = dict ? SourceOf(scenario) : planning::ServingSource(path);
  v1::RunResult r;
  {
    py::gil_scoped_release release;
    r = planning::RunServe(s, source);
  }
  return ResultTuple(r);
}

// coll: one dict per size, and the rows as CSV (the columns of `clustersim coll`).
py::tuple CollFn(const py::object& scenario, const std::string& collective, const std::string& algorithm,
                 const std::vector<std::string>& sizes, uint32_t group, uint32_t stride, bool all_groups,
                 const py::object& progress) {
  const v1::Scenario s = planning::Resolve(Parse(scenario));
  sim::CollectiveBenchSpec spec;
  spec.collective = collective;
  spec.algorithm = algorithm;
  for (const std::string& t : sizes) spec.sizes_bytes.push_back(planning::ParseSize(t, "sizes"));
  spec.group_size = group;
  spec.group_stride = stride;
  spec.all_groups = all_groups;
  const ProgressFn fn = Progress(progress);
  std::vector<sim::CollectiveBenchRow> rows;
  {
    py::gil_scoped_release release;
    rows = sim::SimulateCollective(s, spec, fn);
  }
  py::list out;
  std::string csv = "collective,algorithm,ranks,bytes,time_s,algbw_gbyte_per_s,busbw_gbyte_per_s,flows\n";
  for (const sim::CollectiveBenchRow& r : rows) {
    csv += fmt::format("{},{},{},{},{},{},{},{}\n", results::CsvField(r.collective), results::CsvField(r.algorithm),
                       r.ranks, r.bytes, r.time_s, r.algbw_gbyte_per_s, r.busbw_gbyte_per_s, r.flows);
    py::dict d;
    d["collective"] = r.collective;
    d["algorithm"] = r.algorithm;
    d["ranks"] = r.ranks;
    d["bytes"] = r.bytes;
    d["time_s"] = r.time_s;
    d["algbw_gbyte_per_s"] = r.algbw_gbyte_per_s;
    d["busbw_gbyte_per_s"] = r.busbw_gbyte_per_s;
    d["flows"] = r.flows;
    out.append(d);
  }
  return py::make_tuple(out, csv);
}

// plan: PlanSearchResult, its table and CSV.
// A serving scenario's deployment search (`clustersim plan` on it): the ranked choices (label, meets_slo, result),
// the table and plan.csv.
py::tuple ServePlanFn(const v1::Scenario& s, uint32_t top, const std::string& by, double slo_target) {
  planning::ServePlanOptions so;
  so.by = planning::ParsePlanMetric(by.empty() ? "cost" : by, "by");
  so.slo_target = slo_target;
  so.top = top;
  planning::ServePlanResult r;
  {
    py::gil_scoped_release release;
    r = planning::SearchServingPlans(s, so);
  }
  py::list ranked;
  for (const planning::ServeChoice& c : r.ranked) {
    py::dict d;
    d["label"] = c.label;
    d["meets_slo"] = c.meets_slo;
    d["result"] = FromJson(results::ToJson(c.result));
    ranked.append(d);
  }
  py::dict data;
  data["candidates"] = r.candidates;
  data["not_fitting"] = r.not_fitting;
  data["simulations"] = r.simulations;
  data["ranked"] = ranked;
  return py::make_tuple(data, planning::ServePlanTable(r, so), planning::ServePlanCsv(r));
}

py::tuple PlanFn(const py::object& scenario, uint32_t top, const std::string& by, double slo_target,
                 const py::object& progress) {
  const v1::Scenario s = planning::Resolve(Parse(scenario));
  if (s.has_serving()) return ServePlanFn(s, top, by, slo_target);
  planning::SearchOptions so;
  so.top_k = top;
  so.by = planning::ParsePlanMetric(by.empty() ? "time" : by, "by");
  so.progress = Progress(progress);
  v1::PlanSearchResult r;
  {
    py::gil_scoped_release release;
    r = planning::SearchPlans(s, so);
  }
  return py::make_tuple(FromJson(planning::PlanJson(r)), planning::PlanTable(r), planning::PlanCsv(r));
}

// goal: the points (GoalPoint), the indices of the smallest and cheapest point meeting the goal (None if none), the
// table (with the explanation when nothing meets the goal) and the CSV.
py::tuple GoalFn(const py::object& scenario, double deadline_days, double tokens, double flops, double max_energy_gwh,
                 double max_cost_usd, const std::vector<std::string>& fabrics, uint32_t max_gpus, uint32_t replan,
                 const py::object& progress) {
  planning::GoalSpec g;
  g.training_tokens = tokens;
  g.training_flops = flops;
  g.deadline_days = deadline_days;
  g.max_energy_mwh = max_energy_gwh * 1e3;
  g.max_cost_usd = max_cost_usd;
  g.fabrics = fabrics;
  g.max_gpus = max_gpus;
  g.replan_top_k = replan;
  g.progress = Progress(progress);
  const sim::LoadedScenario loaded = Parse(scenario);
  planning::GoalResult r;
  {
    py::gil_scoped_release release;
    r = planning::SeekGoal(loaded, g);
  }
  py::list points;
  for (const v1::GoalPoint& p : r.points) points.append(FromJson(results::MessageJson(p, "goal point")));
  auto index = [](const std::optional<size_t>& i) { return i ? py::object(py::int_(*i)) : py::object(py::none()); };
  return py::make_tuple(points, index(r.smallest), index(r.cheapest), planning::GoalTable(r, g), planning::GoalCsv(r));
}

// goodput: the run result, the Monte-Carlo numbers, the table.
py::tuple GoodputFn(const py::object& scenario, double tokens, uint32_t trials, uint64_t seed,
                    const py::object& progress) {
  const v1::Scenario s = planning::Resolve(Parse(scenario));
  const std::string source = SourceOf(scenario);
  const ProgressFn fn = Progress(progress);
  planning::GoodputStudy g;
  {
    py::gil_scoped_release release;
    g = planning::StudyGoodput(s, tokens, trials, seed, source, fn);
  }
  py::dict mc;
  mc["trials"] = g.monte_carlo.trials;
  mc["mean_wall_s"] = g.monte_carlo.mean_wall_s;
  mc["stddev_wall_s"] = g.monte_carlo.stddev_wall_s;
  mc["mean_interruptions"] = g.monte_carlo.mean_interruptions;
  mc["goodput"] = g.monte_carlo.goodput;
  return py::make_tuple(FromJson(results::ToJson(g.result)), mc, planning::GoodputTable(g));
}

// sweep: a sweep file path, or a dict (sweep.proto's JSON mapping; a base_scenario path is read relative to the
// current directory). Points are kept in `out_dir` (resumable, as the CLI) or, when it is empty, in a temporary
// directory removed afterwards. Returns the points (SweepPointResult) and the table's CSV.
py::tuple SweepFn(const py::object& sweep, const std::string& out_dir, const py::object& progress) {
  const planning::SweepPlan plan = py::isinstance<py::dict>(sweep)
                                       ? planning::ParseSweep(ToJson(sweep), "json", "<sweep dict>", ".")
                                       : planning::LoadSweep(py::str(sweep).cast<std::string>());
  namespace fs = std::filesystem;
  std::string dir = out_dir;
  if (dir.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "clustersim-sweep-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw SimulationError("cannot create a temporary sweep directory");
    dir = tmpl;
  }
  planning::SweepOptions so;
  so.out_dir = dir;
  so.live = Progress(progress);
  std::vector<v1::SweepPointResult> points;
  try {
    py::gil_scoped_release release;
    (void)planning::RunSweep(plan, so);
    points = planning::GatherPoints(plan, dir);
  } catch (...) {
    std::error_code ec;
    if (out_dir.empty()) fs::remove_all(dir, ec);
    throw;
  }
  std::error_code ec;
  if (out_dir.empty()) fs::remove_all(dir, ec);
  py::list out;
  for (const v1::SweepPointResult& p : points) out.append(FromJson(results::MessageJson(p, "sweep point")));
  return py::make_tuple(out, planning::SweepCsv(plan, points));
}

// compare: results (dicts as run() returns them) side by side: the text table and the CSV; writes the HTML and CSV
// files when paths are given.
py::tuple CompareFn(const std::vector<py::dict>& dicts, const std::vector<std::string>& labels, const std::string& html,
                    const std::string& csv) {
  std::vector<v1::RunResult> rs;
  for (const py::dict& d : dicts) rs.push_back(results::FromJson(ToJson(d), "<result dict>"));
  const std::string table = results::CompareTable(rs, labels);
  const std::string rows = results::StepCsv(rs, labels.empty() ? results::DefaultLabels(rs.size()) : labels);
  std::vector<std::pair<std::string, std::string>> files;
  if (!html.empty())
    files.emplace_back(html, results::HtmlReport(rs, results::TraceEventsOf(rs.front().timeline()), labels));
  if (!csv.empty()) files.emplace_back(csv, rows);
  results::WriteFilesAtomic(files);
  return py::make_tuple(table, rows);
}

}  // namespace

PYBIND11_MODULE(_clustersim, m) {
  m.doc() = "clustersim native module: see the clustersim package for the documented API";
  auto input_error = py::register_exception<InputError>(m, "InputError", PyExc_ValueError);
  py::register_exception<DoesNotFitError>(m, "DoesNotFitError", input_error.ptr());
  py::register_exception<SimulationError>(m, "SimulationError", PyExc_RuntimeError);
  m.attr("version") = CLUSTERSIM_VERSION;
  m.def("examples", &planning::ExampleNames);
  m.def("parse", &ParseFn, py::arg("scenario"));
  m.def("resolve", &ResolveFn, py::arg("scenario"));
  m.def("run", &RunFn, py::arg("scenario"), py::arg("progress"));
  m.def("coll", &CollFn, py::arg("scenario"), py::arg("collective"), py::arg("algorithm"), py::arg("sizes"),
        py::arg("group"), py::arg("stride"), py::arg("all_groups"), py::arg("progress"));
  m.def("serve", &ServeFn, py::arg("scenario"));
  m.def("plan", &PlanFn, py::arg("scenario"), py::arg("top"), py::arg("by"), py::arg("slo_target"),
        py::arg("progress"));
  m.def("goal", &GoalFn, py::arg("scenario"), py::arg("deadline_days"), py::arg("tokens"), py::arg("flops"),
        py::arg("max_energy_gwh"), py::arg("max_cost_usd"), py::arg("fabrics"), py::arg("max_gpus"), py::arg("replan"),
        py::arg("progress"));
  m.def("goodput", &GoodputFn, py::arg("scenario"), py::arg("tokens"), py::arg("trials"), py::arg("seed"),
        py::arg("progress"));
  m.def("sweep", &SweepFn, py::arg("sweep"), py::arg("out_dir"), py::arg("progress"));
  m.def("compare", &CompareFn, py::arg("results"), py::arg("labels"), py::arg("html"), py::arg("csv"));
}
