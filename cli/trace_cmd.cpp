// `clustersim replay` / `clustersim export`; see trace_cmd.h.
#include "cli/trace_cmd.h"

#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "common/error.h"
#include "planning/run.h"
#include "results/report.h"
#include "sim/memory_guard.h"
#include "sim/scenario_loader.h"
#include "sim/simulation.h"
#include "sim/trace_replay.h"
#include "workloads/chakra_trace.h"
#include "workloads/generator.h"

namespace clustersim::cli {

namespace ct = wl::chakra;

int Replay(const ReplayCmdOptions& o) {
  CheckOutputDir(o.out_dir, "--out");
  const v1::Scenario s = sim::ResolveScenario(planning::LoadScenarioText(o.scenario));
  const ct::Trace trace = ct::LoadTrace(o.trace);
  for (const std::string& w : trace.warnings) std::cerr << "warning: " << o.trace << ": " << w << "\n";
  sim::ReplayOptions ro;
  ro.replicas = o.replicas;
  ro.dp_pg_regex = o.dp_pg;
  ro.timing = o.retime               ? sim::ComputeTiming::kRetime
              : o.recorded_durations ? sim::ComputeTiming::kRecordedOnly
                                     : sim::ComputeTiming::kRecordedFirst;
  ro.scenario_file = o.scenario;
  const v1::RunResult r = sim::ReplayTrace(s, trace, ro);
  if (!o.out_dir.empty()) results::WriteRunOutputs(o.out_dir, r);
  const std::string timing =
      sim::DescribeTiming(sim::CountTiming(trace, ro.timing), ro.timing, s.accelerator().name()) + "\n";
  if (o.json) {
    std::cerr << timing;
    std::cout << results::ToJson(r);
  } else {
    const uint32_t replicas =
        o.replicas == 0 ? s.cluster().num_gpus() / static_cast<uint32_t>(trace.ranks.size()) : o.replicas;
    std::cout << fmt::format("trace {}: {} ranks, {} nodes, replayed as {} replica(s) on {} GPUs\n", o.trace,
                             trace.ranks.size(), trace.nodes(), replicas, s.cluster().num_gpus());
    std::cout << timing << results::SummaryText(r);
  }
  return 0;
}

int Export(const ExportCmdOptions& o) {
  // The prefix names files inside outdir: no separators, no hidden or parent-directory names.
  if (o.prefix.empty() || o.prefix.find('/') != std::string::npos || o.prefix[0] == '.')
    throw InputError::Field("", 0, "--prefix", "\"" + o.prefix + "\"",
                            "must be a plain file name prefix (not empty, no '/', not starting with '.')");
  CheckOutputDir(o.out_dir, "outdir");
  const v1::Scenario s = sim::ResolveScenario(planning::LoadScenarioText(o.scenario));
  const wl::StepProgram p =
      wl::BuildStepProgram(s.workload(), s.cluster().num_gpus(), s.cluster().scale_up().gpus_per_node(), s.seed());
  if (s.options().strict_memory()) sim::CheckMemoryFits(p, s, o.scenario);  // the same plans as `run` accepts
  // Every exported rank's file is held in memory until the set is written: ~200 bytes per node (165 serialized,
  // measured), a compressed copy besides with --gzip.
  double nodes = 0;
  const double ranks_per_stage = o.replica_only ? static_cast<double>(p.layout.tp) * p.layout.cp
                                                : static_cast<double>(p.layout.tp) * p.layout.cp * p.layout.dp;
  for (const auto& stage : p.stages) nodes += static_cast<double>(stage.size()) * ranks_per_stage;
  sim::RequireMemory(
      sim::MemoryNeed{0, 0, nodes * 200 * (o.gzip ? 1.5 : 1)}, s, "export", o.scenario, "cluster.num_gpus",
      std::to_string(s.cluster().num_gpus()) + (o.replica_only ? "" : " (--replica-only exports one replica)"));
  ct::ExportOptions eo;
  eo.replica_only = o.replica_only;
  const std::vector<std::string> streams = ct::ExportTrace(p, eo);
  results::MakeOutputDirectory(o.out_dir);
  uint64_t total = 0;
  std::vector<std::pair<std::string, std::string>> files;
  files.reserve(streams.size());
  for (uint32_t r = 0; r < streams.size(); ++r) {
    files.emplace_back((std::filesystem::path(o.out_dir) / ct::TraceFileName(o.prefix, r, o.gzip)).string(),
                       o.gzip ? ct::GzipCompress(streams[r]) : streams[r]);
    total += files.back().second.size();
  }
  results::WriteFilesAtomic(files);  // every rank's file or none
  std::cout << fmt::format("wrote {} Chakra ET files ({}{}.<rank>.et{}, {:.1f} MB) for {} of {} ranks\n",
                           streams.size(), (std::filesystem::path(o.out_dir) / "").string(), o.prefix,
                           o.gzip ? ".gz" : "", static_cast<double>(total) / 1e6, streams.size(), p.layout.world());
  return 0;
}

}  // namespace clustersim::cli
