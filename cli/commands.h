// The clustersim subcommands. Each returns the process exit status; errors are thrown (InputError -> 2 in main).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace clustersim::cli {

// Every command that can run for more than a couple of seconds shows a progress line on stderr when it is a terminal
// (cli/progress_line.h), unless `quiet`.

struct RunOptions {
  std::string scenario;        // empty = the embedded default; "example:NAME" = an embedded example
  std::string out_dir;         // empty = no files
  bool json = false;           // print JSON instead of the summary
  bool strict_memory = false;  // refuse a plan estimated over the HBM (options.strict_memory)
  bool quiet = false;
};
int Run(const RunOptions& o);

int List();
// Every scenario field, one per line: dotted path, type, label, plausible range (tab-separated).
int ListFields();

struct TopoOptions {
  std::string scenario;
  std::string dot_file;
};
int Topo(const TopoOptions& o);

struct CollOptions {
  std::string scenario;
  std::string collective = "all_reduce";
  std::string algorithm = "auto";
  std::vector<std::string> sizes{"1M", "16M", "256M", "1G"};
  uint32_t group = 0;
  uint32_t stride = 1;
  bool all_groups = false;
  bool quiet = false;
};
int Coll(const CollOptions& o);

struct CompareOptions {
  std::vector<std::string> results;  // result.json files; the first is the baseline of the ratios
  std::vector<std::string> labels;   // one per result, or empty ("A", "B", ...)
  std::string html;                  // write the HTML comparison report here
  std::string csv;                   // write the step CSV (one row per result) here
};
int Compare(const CompareOptions& o);

struct ValidateOptions {
  std::vector<std::string> paths;  // case files or directories
  bool report_only = false;        // exit 0 even when cases miss
  std::string markdown;            // write the Markdown report (docs/validation.md) here
  std::string known_misses;        // file listing "case_id quantity" lines expected to miss
};
int Validate(const ValidateOptions& o);

// clustersim sweep (cli/sweep_cmd.cpp; docs/capacity-planning.md).
struct SweepCmdOptions {
  std::string sweep;        // sweep file (.textproto or .json)
  std::string out_dir;      // empty = "<sweep file stem>-sweep" in the current directory
  std::string shard;        // "I/N": run only this share of the points (Slurm job arrays); empty = all
  bool gather = false;      // only assemble the table from the finished point files
  uint32_t max_points = 0;  // stop after simulating this many points (0 = all)
  bool mpi = false;         // force MPI (otherwise detected from the launcher's environment)
  bool quiet = false;       // no progress lines
  std::vector<std::string> allowed_roots;  // folders base_scenario may point into, besides the sweep file's
};
int Sweep(const SweepCmdOptions& o);

// clustersim plan / goal / goodput (cli/plan_cmd.cpp; docs/capacity-planning.md).
struct PlanCmdOptions {
  std::string scenario;    // empty = the embedded default
  uint32_t top = 8;        // plans simulated
  std::string by;          // "time", "energy", "cost"; empty = time (training), cost (serving)
  std::string out_dir;     // write plan.csv and plan.json here; empty = no files
  double slo_target = 0.99;  // serving scenarios: fraction of requests within the SLO (cli/serve_cmd.h)
  bool quiet = false;
  double memory_margin_gb = 0;
};
int Plan(const PlanCmdOptions& o);

struct GoalCmdOptions {
  std::string scenario;
  double tokens = 0;           // 0 = facility.training_tokens
  double flops = 0;            // the budget in model FLOPs (6 x active parameters x tokens); 0 = tokens
  double deadline_days = 0;
  double max_energy_gwh = 0;   // 0 = no limit
  double max_cost_usd = 0;     // 0 = no limit
  std::vector<std::string> fabrics;
  uint32_t max_gpus = 131072;
  uint32_t replan = 0;         // > 0: search the plan at each size, simulating this many candidates
  std::string out_dir;         // write goal.csv here
  bool quiet = false;
  double memory_margin_gb = 0;
};
int Goal(const GoalCmdOptions& o);

struct GoodputCmdOptions {
  std::string scenario;
  double tokens = 0;       // 0 = facility.training_tokens
  uint32_t trials = 1000;  // Monte-Carlo runs
  uint64_t seed = 1;
  bool quiet = false;
};
int Goodput(const GoodputCmdOptions& o);

// Fail fast, before anything is simulated, on an output path that cannot be written: an output directory that is
// an existing file or lies under one (CheckOutputDir), an output file that is a directory or whose directory does
// not exist (CheckOutputFile). Empty paths pass. Throw InputError naming `option` and the path.
void CheckOutputDir(const std::string& dir, const std::string& option);
void CheckOutputFile(const std::string& file, const std::string& option);

}  // namespace clustersim::cli
