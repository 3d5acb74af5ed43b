// Validation runner; see validation.h.
#include "results/validation.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string_view>

#include "common/error.h"
#include "common/input_file.h"
#include "results/projection.h"
#include "sim/plausible.h"
#include "results/serving_projection.h"
#include "sim/scenario_loader.h"
#include "sim/serving_simulation.h"
#include "sim/simulation.h"
#include "topologies/fabric.h"
#include "workloads/generator.h"

namespace clustersim::results {
namespace {

const std::set<std::string>& TrainingQuantities() {
  static const std::set<std::string> q{"step_time_s",         "tokens_per_s_per_gpu", "model_tflops_per_gpu",
                                       "model_tflops_per_gpu_causal", "hardware_tflops_per_gpu", "mfu_pct",
                                       "hfu_pct"};
  return q;
}

// Quantities of a serving case (a scenario with a `serving` block), from its RunResult (ServeQuantities).
const std::set<std::string>& ServingQuantities() {
  static const std::set<std::string> q{
      "output_tokens_per_s_per_gpu",         "input_tokens_per_s_per_gpu",         "output_tokens_per_s_per_node",
      "input_tokens_per_s_per_node",         "prefill_input_tokens_per_s_per_node", "prefill_input_tokens_per_s_per_gpu",
      "decode_output_tokens_per_s_per_node", "decode_output_tokens_per_s_per_gpu", "ttft_mean_ms",
      "ttft_p99_ms",                         "tpot_mean_ms",                        "tpot_p99_ms",
      "output_tokens_per_s_per_user",        "node_power_w",                        "joules_per_output_token"};
  return q;
}

void ServeQuantities(const v1::RunResult& r, std::map<std::string, double>& sim) {
  const v1::ServeResult& o = r.serving();
  const double gpn = r.scenario().cluster().scale_up().gpus_per_node();
  sim["output_tokens_per_s_per_gpu"] = o.output_tokens_per_s_per_gpu();
  sim["input_tokens_per_s_per_gpu"] = o.input_tokens_per_s_per_gpu();
  sim["output_tokens_per_s_per_node"] = o.output_tokens_per_s_per_node();
  sim["input_tokens_per_s_per_node"] = o.input_tokens_per_s_per_node();
  for (const v1::ServePoolResult& p : o.pools()) {
    if (p.role() == "prefill") {
      sim["prefill_input_tokens_per_s_per_gpu"] = p.input_tokens_per_s_per_gpu();
      sim["prefill_input_tokens_per_s_per_node"] = p.input_tokens_per_s_per_gpu() * gpn;
    }
    if (p.role() == "decode") {
      sim["decode_output_tokens_per_s_per_gpu"] = p.output_tokens_per_s_per_gpu();
      sim["decode_output_tokens_per_s_per_node"] = p.output_tokens_per_s_per_gpu() * gpn;
    }
  }
  sim["ttft_mean_ms"] = 1e3 * o.ttft().mean_s();
  sim["ttft_p99_ms"] = 1e3 * o.ttft().p99_s();
  sim["tpot_mean_ms"] = 1e3 * o.tpot().mean_s();
  sim["tpot_p99_ms"] = 1e3 * o.tpot().p99_s();
  sim["output_tokens_per_s_per_user"] = o.output_tokens_per_s_per_user();
  sim["node_power_w"] = r.power().node_avg_w();
  sim["joules_per_output_token"] = o.joules_per_output_token();
}

// The note of a training row whose plan clustersim estimates over the HBM: the measurement says it ran.
std::string OverHbmNote(const v1::MemorySummary& m, const std::string& accelerator) {
  return fmt::format("the plan does not fit in memory as clustersim estimates it: {:.1f} GB per GPU at stage {}, "
                     "{} has {:.0f} GB (simulated as if it fit)",
                     m.total_gb(), m.worst_stage(), accelerator, m.capacity_gb());
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Resolves `scenario` (the case's `scenario` or `reference_scenario`, named by `field`) with the lines of its fields.
v1::Scenario ResolveCaseScenario(const v1::Scenario& scenario, const std::string& field, const std::string& file,
                                 const sim::FieldLines& lines) {
  sim::LoadedScenario loaded;
  loaded.scenario = scenario;
  loaded.file = file;
  const std::string prefix = field + ".";
  for (const auto& [path, line] : lines)
    if (path.rfind(prefix, 0) == 0) loaded.lines.emplace(path.substr(prefix.size()), line);
  v1::Scenario s = sim::ResolveScenario(loaded);
  *s.mutable_facility() = ResolveFacility(s.facility(), file);
  return s;
}

// Collective quantities (a case with a collective block).
const std::set<std::string>& CollectiveQuantities() {
  static const std::set<std::string> q{"busbw_gbyte_per_s", "algbw_gbyte_per_s", "time_us", "deepep_rdma_gbyte_per_s",
                                       "deepep_nvl_gbyte_per_s"};
  return q;
}

// A topology-effect quantity: "ratio_<q>" = q of the scenario / q of the reference scenario.
constexpr std::string_view kRatioPrefix = "ratio_";
bool IsRatio(const std::string& q) { return q.rfind(kRatioPrefix, 0) == 0; }
// The quantity a ratio is formed of (the quantity itself when it is no ratio).
std::string BaseQuantity(const std::string& q) { return IsRatio(q) ? q.substr(kRatioPrefix.size()) : q; }

// What one scenario of a case produced: the quantities, and the note of a plan estimated over the HBM.
struct ScenarioRun {
  std::map<std::string, double> values;
  std::string memory_note;
};

void AddStepQuantities(const v1::RunResult& r, const std::string& accelerator, ScenarioRun& run) {
  std::map<std::string, double>& sim = run.values;
  sim["step_time_s"] = r.step_time_s();
  sim["tokens_per_s_per_gpu"] = r.tokens_per_s_per_gpu();
  sim["model_tflops_per_gpu"] = r.model_tflops_per_gpu();
  sim["model_tflops_per_gpu_causal"] = r.model_tflops_per_gpu_causal();
  sim["hardware_tflops_per_gpu"] = r.hardware_tflops_per_gpu();
  sim["mfu_pct"] = 100 * r.mfu();
  sim["hfu_pct"] = 100 * r.hfu();
  if (r.memory().over_hbm_gb() > 0) run.memory_note = OverHbmNote(r.memory(), accelerator);
}

void AddCollectiveQuantities(const v1::Scenario& s, const v1::CollectiveCase& coll, ScenarioRun& run) {
  const auto rows = sim::SimulateCollective(s, sim::BenchSpecOf(coll));
  const sim::CollectiveBenchRow& row = rows.at(0);
  run.values["busbw_gbyte_per_s"] = row.busbw_gbyte_per_s;
  run.values["algbw_gbyte_per_s"] = row.algbw_gbyte_per_s;
  run.values["time_us"] = row.time_s * 1e6;
  // DeepEP's accounting exists only for a MoE exchange; its RDMA figure only across nodes.
  if (coll.has_moe()) {
    run.values["deepep_nvl_gbyte_per_s"] = row.deepep_nvl_gbyte_per_s;
    if (row.deepep_rdma_gbyte_per_s > 0) run.values["deepep_rdma_gbyte_per_s"] = row.deepep_rdma_gbyte_per_s;
  }
}

// Simulates one resolved scenario of case `c` for the quantities `wanted` (base names, no "ratio_").
ScenarioRun SimulateCaseScenario(const v1::ValidationCase& c, const v1::Scenario& s, const std::string& file,
                                 const std::set<std::string>& wanted) {
  ScenarioRun run;
  std::map<std::string, double>& sim = run.values;
  bool need_step = false;
  for (const std::string& q : wanted)
    if (TrainingQuantities().count(q)) need_step = true;
  if (c.has_collective()) AddCollectiveQuantities(s, c.collective(), run);
  if (wanted.count("endpoints") || wanted.count("switches") || wanted.count("switch_links")) {
    const auto fabric = topo::BuildFabric(sim::FabricParamsOf(s));
    const topo::Inventory inv = fabric->ComputeInventory();
    sim["endpoints"] = static_cast<double>(fabric->ScaleOutEndpoints());
    sim["switches"] = static_cast<double>(inv.switches);
    sim["switch_links"] = static_cast<double>(inv.switch_links);
  }
  if (s.has_serving()) {
    v1::RunResult r = sim::SimulateServing(s, file);
    AddServingProjection(r);
    ServeQuantities(r, sim);
    need_step = false;
  }
  if (wanted.count("memory_allocated_gb") || wanted.count("memory_total_gb")) {  // the step program's estimate
    const wl::StepProgram p =
        wl::BuildStepProgram(s.workload(), s.cluster().num_gpus(), s.cluster().scale_up().gpus_per_node(), s.seed());
    sim["memory_allocated_gb"] = p.memory.allocated() / 1e9;
    sim["memory_total_gb"] = p.memory.total() / 1e9;
  }
  if (need_step) AddStepQuantities(sim::SimulateStep(s, file), s.accelerator().name(), run);
  return run;
}

// Runs the case's scenario and, with ratio quantities, its reference scenario; returns the quantities by name (the
// ratios under their "ratio_" names).
ScenarioRun SimulateCase(const LoadedCase& loaded) {
  const v1::ValidationCase& c = loaded.spec;
  std::set<std::string> wanted, ratio_bases;
  for (const v1::Expectation& e : c.expected()) {
    wanted.insert(BaseQuantity(e.quantity()));
    if (IsRatio(e.quantity())) ratio_bases.insert(BaseQuantity(e.quantity()));
  }
  const v1::Scenario s = ResolveCaseScenario(c.scenario(), "scenario", loaded.file, loaded.lines);
  ScenarioRun run = SimulateCaseScenario(c, s, loaded.file, wanted);
  if (ratio_bases.empty()) return run;
  const v1::Scenario ref_s =
      ResolveCaseScenario(c.reference_scenario(), "reference_scenario", loaded.file, loaded.lines);
  const ScenarioRun ref = SimulateCaseScenario(c, ref_s, loaded.file, ratio_bases);
  for (const std::string& q : ratio_bases) {
    const auto v = run.values.find(q);
    const auto r = ref.values.find(q);
    if (v != run.values.end() && r != ref.values.end() && r->second > 0)
      run.values[std::string(kRatioPrefix) + q] = v->second / r->second;
  }
  if (run.memory_note.empty() && !ref.memory_note.empty()) run.memory_note = "reference scenario: " + ref.memory_note;
  return run;
}

}  // namespace

std::vector<std::string> ExpandCaseFiles(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const std::string& p : paths) {
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) {
      std::vector<std::string> dir;
      for (const auto& e : std::filesystem::directory_iterator(p))
        if (e.path().extension() == ".textproto") dir.push_back(e.path().string());
      std::sort(dir.begin(), dir.end());
      out.insert(out.end(), dir.begin(), dir.end());
    } else {
      out.push_back(p);
    }
  }
  return out;
}

LoadedCase LoadCase(const std::string& path) { return ParseCase(ReadTextInputFile(path, "validation case"), path); }

namespace {

// Every quantity name a case may expect.
const std::set<std::string>& KnownQuantities() {
  static const std::set<std::string> known = [] {
    std::set<std::string> k = TrainingQuantities();
    k.insert(ServingQuantities().begin(), ServingQuantities().end());
    k.insert(CollectiveQuantities().begin(), CollectiveQuantities().end());
    for (const char* q :
         {"endpoints", "switches", "switch_links", "tco2e", "energy_mwh", "memory_allocated_gb", "memory_total_gb"})
      k.insert(q);
    for (const std::string& q : TrainingQuantities()) k.insert(std::string(kRatioPrefix) + q);
    for (const std::string& q : CollectiveQuantities()) k.insert(std::string(kRatioPrefix) + q);
    return k;
  }();
  return known;
}

// The expectations of a case: known quantity, positive value, a band; ratios only against a reference scenario.
void CheckExpectations(const v1::ValidationCase& c, const std::string& path, const sim::FieldLines& lines) {
  auto line_of = [&lines](const std::string& f) {
    auto it = lines.find(f);
    return it == lines.end() ? 0 : it->second;
  };
  for (int i = 0; i < c.expected_size(); ++i) {
    const v1::Expectation& e = c.expected(i);
    const std::string field = i == 0 ? "expected" : "expected[" + std::to_string(i) + "]";
    if (KnownQuantities().count(e.quantity()) == 0)
      throw InputError::Field(path, line_of(field), field + ".quantity", "\"" + e.quantity() + "\"",
                              "unknown quantity (see docs/validation.md)");
    if (IsRatio(e.quantity()) && !c.has_reference_scenario())
      throw InputError::Field(path, line_of(field), field + ".quantity", "\"" + e.quantity() + "\"",
                              "a ratio needs a reference_scenario to divide by");
    if (!(e.value() > 0) || !std::isfinite(e.value()))
      throw InputError::Field(path, line_of(field), field + ".value", std::to_string(e.value()),
                              "must be a positive measured value");
    if (e.tolerance_pct() < 0 || e.tolerance_abs() < 0 ||
        (e.tolerance_pct() == 0 && e.tolerance_abs() == 0 && e.quantity() != "endpoints" &&
         e.quantity() != "switches" && e.quantity() != "switch_links"))
      throw InputError::Field(path, line_of(field), field + ".tolerance_pct", std::to_string(e.tolerance_pct()),
                              "a positive tolerance_pct or tolerance_abs is required (counts are exact)");
  }
}

// Resolves the scenario named `field` and checks the case's collective against it (cheap: bad input fails before
// any case runs).
void CheckScenario(const v1::ValidationCase& c, const v1::Scenario& scenario, const std::string& field,
                   const std::string& path, const sim::FieldLines& lines) {
  const v1::Scenario s = ResolveCaseScenario(scenario, field, path, lines);
  if (!c.has_collective()) return;
  try {
    sim::ValidateCollectiveSpec(s, sim::BenchSpecOf(c.collective()));
  } catch (const InputError& e) {
    const auto it = lines.find("collective");
    throw InputError(path + ":" + std::to_string(it == lines.end() ? 0 : it->second) + ": " + e.what());
  }
}

}  // namespace

LoadedCase ParseCase(const std::string& text, const std::string& path) {
  CheckUtf8Text(text, path, "validation case");
  LoadedCase loaded;
  loaded.file = path;
  v1::ValidationCase& c = loaded.spec;
  loaded.lines = sim::ParseTextMessage(text, &c, path);
  const sim::FieldLines& lines = loaded.lines;
  auto line_of = [&lines](const std::string& f) {
    auto it = lines.find(f);
    return it == lines.end() ? 0 : it->second;
  };
  // Every number of the case finite and within its range (the scenario's are checked when it is resolved).
  CheckFieldRanges(
      c, "",
      [&](const std::string& field, const std::string& value, const std::string& rule) {
        throw InputError::Field(path, sim::LineOf(sim::LoadedScenario{{}, path, lines}, field), field, value, rule);
      },
      {"clustersim.v1.Scenario"});
  if (c.id().empty()) throw InputError::Field(path, 0, "id", "\"\"", "required (the case id in cases.yaml)");
  if (c.expected_size() == 0) throw InputError::Field(path, 0, "expected", "(none)", "at least one expectation");
  static const std::set<std::string> categories{"training_dense", "training_moe", "collective", "topology",
                                                "energy_carbon",  "memory",       "serving",    "topology_effect"};
  if (categories.count(c.category()) == 0)
    throw InputError::Field(path, line_of("category"), "category", "\"" + c.category() + "\"",
                            "must be training_dense, training_moe, collective, topology, energy_carbon, memory, "
                            "serving or topology_effect");
  if (c.has_collective() && c.collective().size_bytes() == 0 && !c.collective().has_moe())
    throw InputError::Field(path, line_of("collective"), "collective.size_bytes", "0",
                            "must be > 0 (bytes per rank, nccl-tests convention)");
  CheckExpectations(c, path, lines);
  const bool has_scenario = c.has_scenario();
  if (!has_scenario && !c.has_carbon())
    throw InputError::Field(path, 0, "scenario", "(none)", "a case needs a scenario (or a carbon block)");
  if (c.has_reference_scenario() && (!has_scenario || c.has_carbon()))
    throw InputError::Field(path, line_of("reference_scenario"), "reference_scenario", "(given)",
                            "only a case with a scenario (the variant) has a reference scenario");
  if (has_scenario && !c.has_carbon()) {
    CheckScenario(c, c.scenario(), "scenario", path, lines);
    if (c.has_reference_scenario()) CheckScenario(c, c.reference_scenario(), "reference_scenario", path, lines);
  }
  return loaded;
}

std::vector<ValidationRow> RunCase(const LoadedCase& loaded) {
  const v1::ValidationCase& c = loaded.spec;
  const std::string& file = loaded.file;
  const auto t0 = std::chrono::steady_clock::now();
  std::map<std::string, double> sim;
  std::string error;
  std::string memory_note;  // set when the simulated plan is estimated over the HBM
  try {
    if (c.has_carbon()) {
      const v1::CarbonCase& k = c.carbon();
      const DeviceHoursCarbon r =
          CarbonFromDeviceHours(k.gpu_hours(), k.power_w_per_gpu(), k.pue() > 0 ? k.pue() : 1.0, k.kgco2e_per_kwh());
      sim["tco2e"] = r.tco2e;
      sim["energy_mwh"] = r.energy_mwh;
    } else {
      ScenarioRun run = SimulateCase(loaded);
      sim = std::move(run.values);
      memory_note = std::move(run.memory_note);
    }
  } catch (const DoesNotFitError& e) {
    // A plan clustersim predicts not to fit in memory disagrees with the measurement (the run happened): a miss, not
    // bad input; `run` reports the same plan as bad input.
    error = std::string("the plan does not fit in memory as clustersim estimates it: ") + e.what();
  } catch (const InputError& e) {
    // Bad input in the case (a group larger than the cluster, an unknown collective): not a miss.
    const std::string what = e.what();
    throw what.rfind(file, 0) == 0 ? e : InputError(file + ": " + what);
  } catch (const std::exception& e) {
    error = e.what();
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<ValidationRow> rows;
  for (const v1::Expectation& e : c.expected()) {
    ValidationRow r;
    r.case_id = c.id();
    r.category = c.category();
    r.quantity = e.quantity();
    r.source = c.source();
    r.calibration = c.calibration();
    r.measured = e.value();
    r.tolerance_pct = e.tolerance_pct();
    r.tolerance_abs = e.tolerance_abs();
    r.wall_s = wall;
    auto it = sim.find(e.quantity());
    if (!error.empty() || it == sim.end()) {
      r.note = error.empty() ? "quantity not produced by this case" : "did not run: " + error;
      r.pass = false;
      r.error_pct = std::nan("");
    } else {
      r.simulated = it->second;
      r.error_pct = (r.simulated - r.measured) / r.measured * 100;
      const double abs_err = std::abs(r.simulated - r.measured);
      r.pass = (r.tolerance_abs > 0 && abs_err <= r.tolerance_abs + 1e-9) ||
               (r.tolerance_pct > 0 && std::abs(r.error_pct) <= r.tolerance_pct + 1e-9) ||
               (r.tolerance_abs == 0 && r.tolerance_pct == 0 && abs_err < 0.5);
      r.note = !e.note().empty() ? e.note() : c.notes();
      // The run happened: a plan estimated not to fit is a miss of the memory model whatever its timing.
      // A ratio compares two runs of the same plan on different fabrics: the memory verdict is reported, not scored.
      if (!memory_note.empty() && TrainingQuantities().count(BaseQuantity(e.quantity()))) {
        r.pass = r.pass && IsRatio(e.quantity());
        r.note = IsRatio(e.quantity()) ? r.note + " [" + memory_note + "]" : memory_note;
      }
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

namespace {
std::string ToleranceText(const ValidationRow& r) {
  if (r.tolerance_abs > 0) return fmt::format("±{:g}", r.tolerance_abs);
  return r.tolerance_pct > 0 ? fmt::format("{:g}%", r.tolerance_pct) : "exact";
}
// The simulated value, "-" for a row that produced none (the case did not run, or not this quantity).
std::string SimulatedText(const ValidationRow& r) {
  return std::isnan(r.error_pct) ? "-" : fmt::format("{:.4g}", r.simulated);
}
}  // namespace

std::string RenderTable(const std::vector<ValidationRow>& rows) {
  std::string o = fmt::format("{:<44} {:<24} {:>12} {:>12} {:>8} {:>8}  {}\n", "case", "quantity", "measured",
                              "simulated", "error%", "tol", "result");
  for (const ValidationRow& r : rows) {
    const std::string tol = ToleranceText(r);
    o += fmt::format("{:<44} {:<24} {:>12.4g} {:>12} {:>8} {:>8}  {}{}\n", r.case_id, r.quantity, r.measured,
                     SimulatedText(r), std::isnan(r.error_pct) ? "-" : fmt::format("{:+.1f}", r.error_pct), tol,
                     r.pass ? "pass" : "MISS", r.calibration ? " (fit)" : "");
  }
  return o;
}

namespace {
struct CategoryStats {
  std::vector<double> abs_err;
  int pass = 0, miss = 0, fit = 0;
};
std::map<std::string, CategoryStats> Stats(const std::vector<ValidationRow>& rows, int which) {
  // which: 0 all, 1 calibration only, 2 held-out only
  std::map<std::string, CategoryStats> m;
  for (const ValidationRow& r : rows) {
    if ((which == 1 && !r.calibration) || (which == 2 && r.calibration)) continue;
    CategoryStats& s = m[r.category];
    if (!std::isnan(r.error_pct)) s.abs_err.push_back(std::abs(r.error_pct));
    (r.pass ? s.pass : s.miss)++;
    if (r.calibration) s.fit++;
  }
  return m;
}
// Median and maximum |error| of a category as text ("-" when no row of it produced a value), with `unit` appended.
std::pair<std::string, std::string> ErrorTexts(const CategoryStats& s, const char* unit) {
  if (s.abs_err.empty()) return {"-", "-"};
  return {fmt::format("{:.1f}{}", Median(s.abs_err), unit),
          fmt::format("{:.1f}{}", *std::max_element(s.abs_err.begin(), s.abs_err.end()), unit)};
}
// "median / max" of the held-out rows of a category, "-" when it has none.
std::string HeldOutText(const std::map<std::string, CategoryStats>& held, const std::string& cat) {
  const auto h = held.find(cat);
  if (h == held.end() || h->second.abs_err.empty()) return "-";
  return fmt::format("{:.1f}% / {:.1f}%", Median(h->second.abs_err),
                     *std::max_element(h->second.abs_err.begin(), h->second.abs_err.end()));
}
}  // namespace

std::string RenderSummary(const std::vector<ValidationRow>& rows) {
  std::string o = fmt::format("{:<22} {:>6} {:>6} {:>12} {:>10}   (held-out: median / max |error|)\n", "category",
                              "pass", "miss", "median|err|%", "max|err|%");
  const auto all = Stats(rows, 0);
  const auto held = Stats(rows, 2);
  int pass = 0, miss = 0;
  for (const auto& [cat, s] : all) {
    pass += s.pass;
    miss += s.miss;
    const std::string hs = HeldOutText(held, cat);
    const auto [median, max] = ErrorTexts(s, "");
    o += fmt::format("{:<22} {:>6} {:>6} {:>12} {:>10}   {}\n", cat, s.pass, s.miss, median, max, hs);
  }
  o += fmt::format("total: {} pass, {} miss\n", pass, miss);
  return o;
}

std::string RenderMarkdown(const std::vector<ValidationRow>& rows) {
  std::string o;
  o += "## Summary\n\n| category | quantities | pass | miss | median abs error | max abs error | held-out median / max "
       "|\n";
  o += "|---|---|---|---|---|---|---|\n";
  const auto all = Stats(rows, 0);
  const auto held = Stats(rows, 2);
  for (const auto& [cat, s] : all) {
    const std::string hs = HeldOutText(held, cat);
    const auto [median, max] = ErrorTexts(s, "%");
    o += fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", cat, s.pass + s.miss, s.pass, s.miss, median, max, hs);
  }
  o += "\n## Every case\n\n| case | quantity | measured | simulated | error | tolerance | result | fit |\n";
  o += "|---|---|---|---|---|---|---|---|\n";
  for (const ValidationRow& r : rows) {
    const std::string tol = ToleranceText(r);
    o += fmt::format("| {} | {} | {:.4g} | {} | {} | {} | {} | {} |\n", r.case_id, r.quantity, r.measured,
                     SimulatedText(r), std::isnan(r.error_pct) ? "-" : fmt::format("{:+.1f}%", r.error_pct), tol,
                     r.pass ? "pass" : "**miss**", r.calibration ? "yes" : "");
  }
  o += "\n## Misses\n\n";
  bool any = false;
  for (const ValidationRow& r : rows) {
    if (r.pass) continue;
    any = true;
    o += fmt::format("- `{}` {}: measured {:.4g}, simulated {}{}. {}\n", r.case_id, r.quantity, r.measured,
                     SimulatedText(r), std::isnan(r.error_pct) ? "" : fmt::format(" ({:+.1f}%)", r.error_pct), r.note);
  }
  if (!any) o += "None.\n";
  return o;
}

}  // namespace clustersim::results
