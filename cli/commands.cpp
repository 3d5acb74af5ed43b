// clustersim subcommands; see commands.h.
#include "cli/commands.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <span>
#include <sstream>

#include "cli/progress_line.h"
#include "cli/serve_cmd.h"
#include "common/embedded.h"
#include "common/error.h"
#include "common/input_file.h"
#include "planning/run.h"
#include "planning/serve.h"
#include "results/compare.h"
#include "results/csv.h"
#include "results/html_report.h"
#include "results/projection.h"
#include "results/report.h"
#include "results/trace.h"
#include "results/validation.h"
#include "sim/hardware/accelerator.h"
#include "sim/memory_guard.h"
#include "sim/network/collectives.h"
#include "sim/plausible.h"
#include "sim/scenario_loader.h"
#include "sim/simulation.h"
#include "topologies/dot.h"
#include "topologies/fabric.h"
#include "topologies/routing.h"
#include "workloads/model.h"
#include "workloads/zero3_impl.h"

namespace clustersim::cli {
namespace {

v1::Scenario Load(const std::string& path) { return planning::LoadScenario(path); }

}  // namespace

void CheckOutputDir(const std::string& dir, const std::string& option) {
  namespace fs = std::filesystem;
  if (dir.empty()) return;
  std::error_code ec;
  const fs::path p(dir);
  if (fs::exists(p, ec)) {
    if (!fs::is_directory(p, ec))
      throw InputError::Field("", 0, option, "\"" + dir + "\"", "exists and is not a directory");
    return;
  }
  // The nearest existing ancestor must be a directory, or the directory cannot be created.
  for (fs::path a = p.parent_path(); !a.empty(); a = a.parent_path()) {
    if (fs::exists(a, ec)) {
      if (!fs::is_directory(a, ec))
        throw InputError::Field("", 0, option, "\"" + dir + "\"",
                                "cannot create the directory: " + a.string() + " is not a directory");
      return;
    }
    if (a == a.parent_path()) return;
  }
}

void CheckOutputFile(const std::string& file, const std::string& option) {
  namespace fs = std::filesystem;
  if (file.empty()) return;
  std::error_code ec;
  const fs::path p(file);
  if (fs::is_directory(p, ec)) throw InputError::Field("", 0, option, "\"" + file + "\"", "is a directory: give a file path");
  const fs::path parent = p.parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec))
    throw InputError::Field("", 0, option, "\"" + file + "\"", "the directory " + parent.string() + " does not exist");
}

int Run(const RunOptions& o) {
  CheckOutputDir(o.out_dir, "--out");
  v1::Scenario s = Load(o.scenario);
  if (o.strict_memory) s.mutable_options()->set_strict_memory(true);
  ProgressLine progress(o.quiet);
  v1::RunResult r = planning::RunStep(s, planning::ScenarioSource(o.scenario), progress.Fn());
  if (r.has_serving()) return ServeOutputs(r, {o.scenario, o.out_dir, o.json});  // a serving scenario
  if (!o.out_dir.empty()) {
    const std::vector<results::TraceEvent> timeline = results::TraceEventsOf(r.timeline());
    results::WriteRunOutputs(o.out_dir, r,
                             {{"trace.json", results::ChromeTrace(timeline, r)},
                              {"report.html", results::HtmlReport({r}, timeline)},
                              {"step.csv", results::StepCsv({r})},
                              {"comms.csv", results::CommsCsv(r)}});
  }
  std::cout << (o.json ? results::ToJson(r) : results::SummaryText(r));
  return 0;
}

int Compare(const CompareOptions& o) {
  CheckOutputFile(o.html, "--html");
  CheckOutputFile(o.csv, "--csv");
  std::vector<v1::RunResult> rs;
  for (const std::string& file : o.results) {
    std::error_code ec;
    if (std::filesystem::is_directory(file, ec))
      throw InputError(file + ": is a directory, not a result file (give DIR/result.json)");
    rs.push_back(results::FromJson(ReadTextInputFile(file, "result file", kMaxResultInputBytes), file));
    if (rs.back().clustersim_version().empty() || !rs.back().has_scenario())
      throw InputError(file + ": not a clustersim result (no clustersim_version or scenario: give a result.json "
                       "written by clustersim run)");
  }
  std::cout << results::CompareTable(rs, o.labels);
  std::vector<std::pair<std::string, std::string>> files;
  if (!o.html.empty())
    files.emplace_back(o.html, results::HtmlReport(rs, results::TraceEventsOf(rs.front().timeline()), o.labels));
  if (!o.csv.empty())
    files.emplace_back(o.csv, results::StepCsv(rs, o.labels.empty() ? results::DefaultLabels(rs.size()) : o.labels));
  results::WriteFilesAtomic(files);
  return 0;
}

int List() {
  AcceleratorCatalog cat;
  std::cout << "Accelerators (sim/hardware/catalog):\n";
  for (const std::string& n : cat.Names()) {
    const v1::Accelerator* a = cat.Find(n);
    std::cout << fmt::format("  {:<18} bf16 {:>6.0f} TFLOP/s  fp8 {:>6.0f}  HBM {:>4.0f} GB  scale-up {:>4.0f} GB/s x {:<4}"
                             "  TDP {:>5.0f} W  [{}]\n",
                             n, a->bf16_tflops(), a->fp8_tflops(), a->hbm_gb(), a->scale_up_bandwidth_gbyte_per_s(),
                             a->scale_up_domain_size(), a->tdp_w(), a->confidence());
  }
  std::cout << "Topologies (cluster.scale_out.topology):\n";
  for (const auto& k : topo::ListFabricKinds()) std::cout << fmt::format("  {:<16} {}\n", k.name, k.description);
  std::cout << "Routing schemes (cluster.scale_out.routing; default per fabric, docs/topologies.md):\n";
  for (const auto& r : topo::ListRoutings())
    std::cout << fmt::format("  {:<16} {} [{}]\n", r.name, r.description, r.fabrics);
  std::cout << "Model presets (workload.model.preset):\n";
  for (const auto& m : wl::ListModelPresets()) std::cout << "  " << m << "\n";
  std::cout << "ZeRO-3 implementations (workload.parallelism.zero3_implementation):\n";
  for (const wl::Zero3Implementation& z : wl::Zero3Implementations()) {
    std::cout << fmt::format("  {:<16} compute x{:.3f}, DP collectives at x{:.3f} of the modelled bandwidth: {}\n",
                             z.name, z.compute_efficiency, z.collective_efficiency, z.summary);
  }
  std::cout << "Collective algorithms (collectives.*):\n";
  for (auto k : {sim::CollectiveKind::kAllReduce, sim::CollectiveKind::kAllGather, sim::CollectiveKind::kAllToAll}) {
    std::cout << "  " << sim::ToString(k) << (k == sim::CollectiveKind::kAllGather ? " / reduce_scatter" : "") << ":\n";
    for (const auto& a : sim::ListAlgorithms(k)) std::cout << fmt::format("    {:<18} {}\n", a.name, a.description);
  }
  std::cout << "Example scenarios (workloads/scenarios, embedded; run as clustersim run example:NAME):\n";
  for (const std::string& n : planning::ExampleNames()) std::cout << "  example:" << n << "\n";
  std::cout << "Serving examples (workloads/scenarios/serving, embedded; run as clustersim serve example:NAME):\n";
  for (const std::string& n : planning::ServingExampleNames()) std::cout << "  example:" << n << "\n";
  std::cout << "Grid regions (facility.grid_region, gCO2e/kWh; or a number in facility.grid_carbon_g_per_kwh):\n ";
  for (const std::string& n : GridRegionNames()) std::cout << fmt::format(" {} {:.0f}", n, *FindGridRegion(n));
  std::cout << "\n";
  return 0;
}

namespace {

// One line per field reachable from `d`: dotted path, type (a message's name for a message field), label
// ("repeated", "optional" for proto3 presence, "-"), and the plausible range with its unit for a numeric field.
void PrintFields(const google::protobuf::Descriptor& d, const std::string& prefix,
                 std::vector<const google::protobuf::Descriptor*>& open) {
  open.push_back(&d);
  for (int i = 0; i < d.field_count(); ++i) {
    const google::protobuf::FieldDescriptor& f = *d.field(i);
    const std::string path = prefix.empty() ? std::string(f.name()) : prefix + "." + std::string(f.name());
    const google::protobuf::Descriptor* m = f.message_type();
    const std::string type = m ? std::string(m->name()) : std::string(f.type_name());
    const char* label = f.is_repeated() ? "repeated" : (f.has_presence() && !m ? "optional" : "-");
    std::string range;
    if (const FieldRange* r = FindFieldRange(f))
      range = fmt::format("{:g}..{:g}{}{}", r->range.lo, r->range.hi, *r->range.unit ? " " : "", r->range.unit);
    std::cout << fmt::format("{}\t{}\t{}\t{}\n", path, type, label, range);
    if (m && std::find(open.begin(), open.end(), m) == open.end()) PrintFields(*m, path, open);
  }
  open.pop_back();
}

}  // namespace

int ListFields() {
  std::vector<const google::protobuf::Descriptor*> open;
  PrintFields(*v1::Scenario::descriptor(), "", open);
  return 0;
}

int Topo(const TopoOptions& o) {
  CheckOutputFile(o.dot_file, "--dot");
  const v1::Scenario s = Load(o.scenario);
  sim::RequireMemory(sim::MemoryNeed{sim::EstimateFabricBytes(s), 0, 0}, s, "fabric", planning::ScenarioSource(o.scenario),
                     "cluster.num_gpus", std::to_string(s.cluster().num_gpus()));
  const auto fabric = topo::BuildFabric(sim::FabricParamsOf(s));
  const topo::Inventory inv = fabric->ComputeInventory();
  std::cout << fmt::format("fabric {} for {} GPUs ({} nodes, {} NICs)\n", fabric->params().topology, inv.gpus,
                           inv.nodes, inv.nics);
  std::cout << fmt::format("  switches: {} scale-out", inv.switches);
  for (size_t t = 0; t < inv.switches_per_tier.size(); ++t)
    std::cout << fmt::format(" | tier {}: {}", t + 1, inv.switches_per_tier[t]);
  std::cout << fmt::format(" | scale-up: {}\n", inv.scale_up_switches);
  std::cout << "  links:";
  for (size_t k = 0; k < inv.links_per_kind.size(); ++k)
    if (inv.links_per_kind[k] > 0)
      std::cout << fmt::format(" {} {}", topo::ToString(static_cast<topo::LinkKind>(k)), inv.links_per_kind[k]);
  std::cout << fmt::format("\n  switch-to-switch links {}, endpoint links {}, transceivers {}\n", inv.switch_links,
                           inv.endpoint_links, inv.transceivers);
  std::cout << fmt::format("  bisection bandwidth {:.1f} Tb/s, diameter {} switch hops\n",
                           inv.bisection_bandwidth_gbps / 1e3, inv.diameter_hops);
  const v1::TopologySummary t = sim::SummarizeTopology(*fabric, inv, s);
  std::cout << fmt::format(
      "  network cost ${:.3g} (${:.0f} per GPU), network power {:.3g} kW (scale-out); scale-up "
      "fabric ${:.3g}, {:.3g} kW\n",
      t.network_cost_usd(), t.network_cost_usd() / static_cast<double>(inv.gpus), t.network_power_w() / 1e3,
      t.scale_up_cost_usd(), t.scale_up_power_w() / 1e3);
  std::cout << "  per tier:\n" << results::NetworkTierLines(t, "    ");
  if (!o.dot_file.empty()) {
    std::ostringstream dot;  // rendered first: a fabric too large for Graphviz leaves no file behind
    try {
      topo::WriteDot(*fabric, dot);
    } catch (const InputError& e) {
      throw InputError("--dot " + o.dot_file + ": " + e.what());
    }
    results::WriteFileAtomic(o.dot_file, dot.str());
  }
  return 0;
}

int Coll(const CollOptions& o) {
  const v1::Scenario s = Load(o.scenario);
  sim::CollectiveBenchSpec spec;
  spec.collective = o.collective;
  spec.algorithm = o.algorithm;
  if (o.stride == 0) throw InputError::Field("", 0, "--stride", "0", "must be >= 1 (1 = adjacent ranks)");
  for (const std::string& t : o.sizes) spec.sizes_bytes.push_back(planning::ParseSize(t, "--sizes"));
  spec.group_size = o.group;
  spec.group_stride = o.stride;
  spec.all_groups = o.all_groups;
  ProgressLine progress(o.quiet);
  const auto rows = sim::SimulateCollective(s, spec, progress.Fn());
  std::cout << fmt::format("# {} on {} x {} ({}), group {} ranks stride {}{}\n", spec.collective,
                           s.cluster().num_gpus(), s.accelerator().name(), s.cluster().scale_out().topology(),
                           rows.empty() ? 0 : rows[0].ranks, spec.group_stride,
                           spec.all_groups ? ", all groups at once" : "");
  std::cout << fmt::format("# {:>14} {:>18} {:>12} {:>12} {:>12} {:>10}\n", "size(B)", "algorithm", "time(us)",
                           "algbw(GB/s)", "busbw(GB/s)", "flows");
  for (const auto& r : rows)
    std::cout << fmt::format("  {:>14} {:>18} {:>12.2f} {:>12.2f} {:>12.2f} {:>10}\n", r.bytes, r.algorithm,
                             r.time_s * 1e6, r.algbw_gbyte_per_s, r.busbw_gbyte_per_s, r.flows);
  return 0;
}

int Validate(const ValidateOptions& o) {
  // Every input and output path is checked before any case runs.
  CheckOutputFile(o.markdown, "--markdown");
  std::vector<std::string> known;
  if (!o.known_misses.empty()) {
    std::istringstream in(ReadTextInputFile(o.known_misses, "known-misses file"));
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      const size_t hash = line.find(" #");
      if (hash != std::string::npos) line.resize(hash);
      while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
      known.push_back(line);
    }
  }
  const std::vector<std::string> files =
      results::ExpandCaseFiles(o.paths.empty() ? std::vector<std::string>{"tests/validation"} : o.paths);
  if (files.empty()) throw InputError("validate: no case files found in the given paths");
  std::vector<results::LoadedCase> cases;
  for (const std::string& f : files) cases.push_back(results::LoadCase(f));  // all inputs checked first
  std::vector<results::ValidationRow> rows;
  for (size_t i = 0; i < cases.size(); ++i) {
    std::cerr << fmt::format("[{}/{}] {}\n", i + 1, cases.size(), cases[i].spec.id());
    for (auto& r : results::RunCase(cases[i])) rows.push_back(std::move(r));
  }
  std::cout << results::RenderTable(rows) << "\n" << results::RenderSummary(rows);
  if (!o.markdown.empty()) {
    std::string command = "clustersim validate";
    for (const std::string& p : o.paths.empty() ? std::vector<std::string>{"tests/validation"} : o.paths)
      command += " " + p;
    if (o.report_only) command += " --report-only";
    command += " --markdown " + o.markdown;
    std::string page =
        "# Validation\n\nGenerated by `" + command + "` (do not "
        "edit by hand). Each row compares one published measurement with clustersim's prediction; `fit` marks the "
        "cases the calibration was fitted on (the others are held out). The case format, the calibration and the "
        "discussion of the misses are in [validation-notes.md](validation-notes.md).\n\n";
    page += results::RenderMarkdown(rows);
    results::WriteFileAtomic(o.markdown, page);
  }
  std::vector<std::string> misses;
  for (const auto& r : rows)
    if (!r.pass) misses.push_back(r.case_id + " " + r.quantity);
  if (!o.known_misses.empty()) {
    std::sort(known.begin(), known.end());
    std::sort(misses.begin(), misses.end());
    std::vector<std::string> new_misses, now_passing;
    std::set_difference(misses.begin(), misses.end(), known.begin(), known.end(), std::back_inserter(new_misses));
    std::set_difference(known.begin(), known.end(), misses.begin(), misses.end(), std::back_inserter(now_passing));
    for (const auto& m : new_misses) std::cout << "NEW MISS: " << m << "\n";
    for (const auto& m : now_passing) std::cout << "NOW PASSING (update " << o.known_misses << "): " << m << "\n";
    return new_misses.empty() && now_passing.empty() ? 0 : 1;
  }
  return (misses.empty() || o.report_only) ? 0 : 1;
}

}  // namespace clustersim::cli
