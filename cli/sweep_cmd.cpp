// clustersim sweep; see commands.h and docs/capacity-planning.md ("Sweeps", "MPI / Slurm").
#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <tuple>

#include "cli/commands.h"
#include "cli/progress_line.h"
#include "common/error.h"
#include "planning/mpi_sweep.h"
#include "planning/sweep.h"
#include "results/compare.h"
#include "results/report.h"

namespace clustersim::cli {
namespace {

// "I/N" -> (I, N) with 0 <= I < N.
std::pair<uint32_t, uint32_t> ParseShard(const std::string& text) {
  const size_t slash = text.find('/');
  try {
    if (slash != std::string::npos) {
      size_t used_i = 0, used_n = 0;
      const unsigned long i = std::stoul(text.substr(0, slash), &used_i);
      const unsigned long n = std::stoul(text.substr(slash + 1), &used_n);
      if (used_i == slash && used_n == text.size() - slash - 1 && n > 0 && i < n && n <= 1000000)
        return {static_cast<uint32_t>(i), static_cast<uint32_t>(n)};
    }
  } catch (const std::exception&) {
  }
  throw InputError::Field("", 0, "--shard", "\"" + text + "\"",
                          "must be I/N with 0 <= I < N, e.g. 0/4 (Slurm: $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)");
}

void PrintTable(const std::vector<v1::SweepPointResult>& points) {
  std::cout << fmt::format("{:<40} {:>11} {:>6} {:>10} {:>9} {:>12} {:>10}\n", "point", "step time", "MFU",
                           "peak power", "run days", "energy MWh", "cost");
  for (const auto& p : points) {
    const std::string label = p.label().size() > 40 ? p.label().substr(0, 37) + "..." : p.label();
    if (!p.error().empty()) {
      std::cout << fmt::format("{:<40} FAILED: {}\n", label, p.error());
      continue;
    }
    const v1::RunResult& r = p.result();
    std::cout << fmt::format(
        "{:<40} {:>11} {:>5.1f}% {:>10} {:>9.1f} {:>12} {:>10}\n", label, results::FormatSeconds(r.step_time_s()),
        100 * r.mfu(), results::FormatPower(r.power().facility_peak_w()), r.projection().wall_clock_days(),
        results::FormatCount(r.projection().energy_mwh()), results::FormatUsd(r.projection().cost_usd()));
  }
}

}  // namespace

int Sweep(const SweepCmdOptions& o) {
  const planning::SweepPlan plan = planning::LoadSweep(o.sweep, o.allowed_roots);
  const std::string out = o.out_dir.empty()
                              ? std::filesystem::path(o.sweep).stem().string() + "-sweep"
                              : o.out_dir;
  CheckOutputDir(out, "--out");
  if (o.gather) {
    const auto points = planning::GatherPoints(plan, out);
    planning::WriteSweepTable(plan, points, out);
    PrintTable(points);
    std::cerr << fmt::format("gathered {} points into {}/sweep.csv, sweep.json, report.html\n", points.size(), out);
    return 0;
  }
  planning::SweepOptions so;
  so.out_dir = out;
  so.max_points = o.max_points;
  ProgressLine live(o.quiet);
  so.progress = o.quiet ? nullptr : &live.Log();
  so.live = live.Fn();
  if (!o.shard.empty()) std::tie(so.shard_index, so.shard_count) = ParseShard(o.shard);
  const bool mpi = o.mpi || planning::LaunchedByMpi();
  if (mpi && so.shard_count > 1)
    throw InputError("--shard and MPI do not combine: use one (mpirun -n K, or a job array with --shard I/N)");
  bool root = true;
  const planning::SweepStats st = mpi ? planning::RunSweepMpi(plan, so, root) : planning::RunSweep(plan, so);
  if (!root) return 0;
  if (st.table_written) {
    PrintTable(planning::GatherPoints(plan, out));
    std::cerr << fmt::format("{} points ({} simulated, {} cached, {} failed): {}/sweep.csv, sweep.json, report.html\n",
                             plan.points.size(), st.simulated, st.cached, st.failed, out);
  } else {
    std::cerr << fmt::format("{} of {} points still to run ({} simulated now, {} cached){}\n", st.remaining,
                             plan.points.size(), st.simulated, st.cached,
                             so.shard_count > 1 ? ": when every shard is done, run with --gather"
                                                : ": rerun the same command to resume");
  }
  return 0;
}

}  // namespace clustersim::cli
