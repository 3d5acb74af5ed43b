// clustersim command line: parses arguments (CLI11) and maps errors to exit codes. Only this file exits:
// 0 success, 1 simulation failure, 2 bad input (with one message naming file, field, value and rule).
// A command is one Add* function below (its options and the function of cli/ that runs it) and one line in main.
#include <google/protobuf/stubs/logging.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cli/commands.h"
#include "cli/serve_cmd.h"
#include "cli/trace_cmd.h"
#include "common/error.h"

namespace {

using namespace clustersim;

constexpr const char* kQuietHelp = "No progress line on stderr (it is shown only when stderr is a terminal)";

// A path option, when given, must not be empty (`run ""` would otherwise run the embedded default).
const CLI::Validator kNonEmptyPath(
    [](std::string& value) {
      return value.empty() ? std::string("an empty path: give a file, or leave the argument out") : std::string();
    },
    "PATH");

// An unsigned count or seed: digits only, within 64 bits (CLI11 alone would wrap "-1" or 2^64 into a uint64_t).
const CLI::Validator kUnsigned(
    [](std::string& value) {
      const bool digits = !value.empty() && value.find_first_not_of("0123456789") == std::string::npos;
      const std::string trimmed = digits ? value.substr(std::min(value.find_first_not_of('0'), value.size() - 1)) : "";
      const bool fits = trimmed.size() < 20 || (trimmed.size() == 20 && trimmed <= "18446744073709551615");
      return digits && fits ? std::string() : std::string("must be a whole number >= 0 that fits in 64 bits");
    },
    "UINT");

// The parsed subcommand's action: each command registers its CLI11 subcommand with the function that runs it.
class Commands {
 public:
  void Add(CLI::App* sub, std::function<int()> action) { list_.emplace_back(sub, std::move(action)); }
  // Runs the subcommand that was given (require_subcommand(1) makes it exactly one).
  int RunChosen() const {
    for (const auto& [sub, action] : list_)
      if (sub->parsed()) return action();
    return 0;
  }

 private:
  std::vector<std::pair<CLI::App*, std::function<int()>>> list_;
};

void AddRun(CLI::App& app, Commands& cmds) {
  auto opts = std::make_shared<cli::RunOptions>();
  cli::RunOptions& run = *opts;
  auto* run_cmd = app.add_subcommand("run", "Simulate one training step and print a summary");
  run_cmd
      ->add_option("scenario", run.scenario,
                   "Scenario file (.textproto or .json) or example:NAME (see clustersim list); default: the embedded "
                   "8,192-GPU H100 Llama-3-70B scenario")
      ->check(kNonEmptyPath);
  run_cmd->add_option("--out", run.out_dir,
                      "Write result.json, summary.txt, report.html, trace.json (Perfetto), step.csv and comms.csv "
                      "into this directory");
  run_cmd->add_flag("--json", run.json, "Print the result as JSON instead of the summary");
  run_cmd->add_flag("-q,--quiet", run.quiet, kQuietHelp);
  run_cmd->add_flag("--strict-memory", run.strict_memory,
                    "Refuse (exit 2) a plan whose memory estimate exceeds the HBM instead of running it, flagged");
  cmds.Add(run_cmd, [opts] { return cli::Run(*opts); });
}

void AddServe(CLI::App& app, Commands& cmds) {
  auto opts = std::make_shared<cli::ServeOptions>();
  cli::ServeOptions& serve = *opts;
  auto* serve_cmd = app.add_subcommand("serve", "Simulate a serving fleet: throughput, latency, cost and energy per token");
  serve_cmd
      ->add_option("scenario", serve.scenario,
                   "Serving scenario file or example:NAME (see clustersim list); default: the embedded serving scenario "
                   "(docs/serving.md)")
      ->check(kNonEmptyPath);
  serve_cmd->add_option("--out", serve.out_dir,
                        "Write result.json, summary.txt, report.html, trace.json (Perfetto), serve.csv and comms.csv "
                        "into this directory");
  serve_cmd->add_flag("--json", serve.json, "Print the result as JSON instead of the summary");
  cmds.Add(serve_cmd, [opts] { return cli::Serve(*opts); });
}

void AddList(CLI::App& app, Commands& cmds) {
  auto fields = std::make_shared<bool>(false);
  auto* list = app.add_subcommand("list", "List built-in accelerators, topologies, model presets, algorithms and examples");
  list->add_flag("--fields", *fields,
                 "List every scenario field instead: dotted path, type, label and plausible range, tab-separated");
  cmds.Add(list, [fields] { return *fields ? cli::ListFields() : cli::List(); });
}

void AddTopo(CLI::App& app, Commands& cmds) {
  auto opts = std::make_shared<cli::TopoOptions>();
  cli::TopoOptions& topo = *opts;
  auto* topo_cmd = app.add_subcommand("topo", "Print the fabric inventory of a scenario's cluster");
  topo_cmd->add_option("scenario", topo.scenario, "Scenario file; default: the embedded default")->check(kNonEmptyPath);
  topo_cmd->add_option("--dot", topo.dot_file, "Write the fabric as Graphviz (small fabrics only)");
  cmds.Add(topo_cmd, [opts] { return cli::Topo(*opts); });
}

void AddColl(CLI::App& app, Commands& cmds) {
  auto opts = std::make_shared<cli::CollOptions>();
  cli::CollOptions& coll = *opts;
  auto* coll_cmd = app.add_subcommand("coll", "Collective microbenchmark in nccl-tests conventions");
  coll_cmd->add_option("scenario", coll.scenario, "Scenario file for the cluster; default: the embedded default")
      ->check(kNonEmptyPath);
  coll_cmd->add_option("-c,--collective", coll.collective,
                       "all_reduce, reduce_scatter, all_gather, all_to_all, broadcast, send_recv (-g 2)");
  coll_cmd->add_option("-a,--algorithm", coll.algorithm, "Algorithm by name, or auto");
  coll_cmd->add_option("-s,--sizes", coll.sizes, "Sizes per rank, e.g. 1M 64M 1G")->expected(1, -1);
  coll_cmd->add_option("-g,--group", coll.group, "Ranks in the group (0 = all GPUs)")->check(kUnsigned);
  coll_cmd->add_option("--stride", coll.stride, "Distance between group members (8 = one GPU per node)")
      ->check(kUnsigned);
  coll_cmd->add_flag("--all-groups", coll.all_groups, "Run every disjoint group of this shape at once");
  coll_cmd->add_flag("-q,--quiet", coll.quiet, kQuietHelp);
  cmds.Add(coll_cmd, [opts] { return cli::Coll(*opts); });
}

void AddCompare(CLI::App& app, Commands& cmds) {
  auto opts = std::make_shared<cli::CompareOptions>();
  cli::CompareOptions& cmp = *opts;
  auto* cmp_cmd = app.add_subcommand("compare", "Compare results side by side (ratios to the first)");
  cmp_cmd->add_option("results", cmp.results, "result.json files written by `clustersim run --out`")
      ->required()
      ->expected(1, -1);
  cmp_cmd->add_option("-l,--labels", cmp.labels, "One short label per result (default A, B, ...)")->delimiter(',');
  cmp_cmd->add_option("--html", cmp.html, "Write a self-contained HTML comparison report to this file");
  cmp_cmd->add_option("--csv", cmp.csv, "Write one CSV row per result to this file");
  cmds.Add(cmp_cmd, [opts] { return cli::Compare(*opts); });
}

void AddValidate(CLI::App& app, Commands& cmds) {
  auto opts = std::make_shared<cli::ValidateOptions>();
  cli::ValidateOptions& val = *opts;
  auto* val_cmd = app.add_subcommand("validate", "Run validation cases against published measurements");
  val_cmd->add_option("paths", val.paths, "Case files or directories (default: tests/validation)");
  val_cmd->add_flag("--report-only", val.report_only, "Exit 0 even if some cases miss their tolerance");
  val_cmd->add_option("--markdown", val.markdown, "Write the Markdown report (docs/validation.md) to this file");
  val_cmd->add_option("--known-misses", val.known_misses,
                      "File of 'case quantity' lines expected to miss: fail only if the set of misses changes");
  cmds.Add(val_cmd, [opts] { return cli::Validate(*opts); });
}

void AddSweep(CLI::App& app, Commands& cmds) {
  auto opts = std::make_shared<cli::SweepCmdOptions>();
  cli::SweepCmdOptions& swp = *opts;
  auto* swp_cmd = app.add_subcommand("sweep", "Run every point of a sweep file into one table (CSV, JSON, HTML)");
  swp_cmd->add_option("sweep", swp.sweep, "Sweep file (.textproto or .json), see docs/capacity-planning.md")
      ->required();
  swp_cmd->add_option("--out", swp.out_dir,
                      "Output directory: points/, sweep.csv, sweep.json, report.html, timing.csv "
                      "(default: <sweep stem>-sweep); finished points there are reused (resume)");
  swp_cmd->add_option("--shard", swp.shard, "Run only share I of N (I/N, 0-based), e.g. a Slurm array task");
  swp_cmd->add_flag("--gather", swp.gather, "Only assemble the table from the finished points of all shards");
  swp_cmd->add_option("--max-points", swp.max_points, "Stop after simulating this many points (resume later)")
      ->check(kUnsigned);
  swp_cmd->add_flag("--mpi", swp.mpi, "Run as MPI ranks (detected under mpirun; needed under srun)");
  swp_cmd->add_flag("-q,--quiet", swp.quiet, "No progress on stderr (neither the per-point lines nor the live line)");
  swp_cmd->add_option("--allow-root", swp.allowed_roots,
                      "A folder base_scenario may name files under, besides the sweep file's own (repeatable)");
  cmds.Add(swp_cmd, [opts] { return cli::Sweep(*opts); });
}

void AddReplay(CLI::App& app, Commands& cmds) {
  auto opts = std::make_shared<cli::ReplayCmdOptions>();
  cli::ReplayCmdOptions& rep = *opts;
  auto* rep_cmd = app.add_subcommand("replay", "Replay a Chakra execution trace on a scenario's cluster (rescalable)");
  rep_cmd
      ->add_option("scenario", rep.scenario,
                   "Scenario file: accelerator, cluster, fabric (its workload must be valid for the cluster but is not "
                   "replayed)")
      ->required();
  rep_cmd->add_option("trace", rep.trace, "Directory or prefix of <prefix>.<rank>.et[.gz] files")->required();
  rep_cmd->add_option("--replicas", rep.replicas, "Copies of the traced ranks (default: num_gpus / ranks)")
      ->check(kUnsigned);
  rep_cmd->add_option("--dp-pg", rep.dp_pg, "Regex on pg_name: these groups grow across replicas (e.g. ^dp/)");
  auto* recorded = rep_cmd->add_flag("--recorded-durations", rep.recorded_durations,
                                     "Time every GPU compute node by duration_micros (an error if one with num_ops "
                                     "has none); the default uses duration_micros where recorded, else num_ops");
  rep_cmd
      ->add_flag("--retime", rep.retime,
                 "Re-time GPU compute nodes that have num_ops / tensor_size on the scenario's accelerator instead of "
                 "using their recorded duration_micros")
      ->excludes(recorded);
  rep_cmd->add_option("--out", rep.out_dir, "Write result.json and summary.txt into this directory");
  rep_cmd->add_flag("--json", rep.json, "Print the result as JSON instead of the summary");
  cmds.Add(rep_cmd, [opts] { return cli::Replay(*opts); });
}

void AddExport(CLI::App& app, Commands& cmds) {
  auto opts = std::make_shared<cli::ExportCmdOptions>();
  cli::ExportCmdOptions& exp = *opts;
  auto* exp_cmd = app.add_subcommand("export", "Write a scenario's generated step as Chakra ET files, one per rank");
  exp_cmd->add_option("scenario", exp.scenario, "Scenario file")->required();
  exp_cmd->add_option("outdir", exp.out_dir, "Output directory")->required();
  exp_cmd->add_option("--prefix", exp.prefix, "File prefix: <prefix>.<rank>.et (default clustersim)");
  exp_cmd->add_flag("--replica-only", exp.replica_only, "Only the ranks of data-parallel replica 0");
  exp_cmd->add_flag("--gzip", exp.gzip, "Write gzip-compressed .et.gz files");
  cmds.Add(exp_cmd, [opts] { return cli::Export(*opts); });
}

void AddPlan(CLI::App& app, Commands& cmds) {
  auto opts = std::make_shared<cli::PlanCmdOptions>();
  cli::PlanCmdOptions& plan = *opts;
  auto* plan_cmd =
      app.add_subcommand("plan", "Search parallelism plans that fit in memory; simulate and rank the best (a "
                                 "serving scenario: deployments at their SLO capacity)");
  plan_cmd
      ->add_option("scenario", plan.scenario,
                   "Scenario file: model, cluster, global batch; default: the embedded default")
      ->check(kNonEmptyPath);
  plan_cmd
      ->add_option("--top", plan.top,
                   "Plans simulated (the best by the analytic estimate); serving: rows printed; default 8")
      ->check(kUnsigned);
  plan_cmd->add_option("--by", plan.by,
                       "Ranking: time, energy or cost per step (default time); serving: output tokens/s per GPU, "
                       "energy per output token or cost per million tokens (default cost)");
  plan_cmd->add_option("--out", plan.out_dir, "Write plan.csv and plan.json into this directory");
  plan_cmd->add_flag("-q,--quiet", plan.quiet, kQuietHelp);
  plan_cmd->add_option("--memory-margin-gb", plan.memory_margin_gb,
                       "Plans fit when their memory estimate is at most HBM minus this (GB; default 0)");
  plan_cmd->add_option("--slo-target", plan.slo_target,
                       "Serving scenarios: fraction of requests that must meet the SLO (default 0.99)");
  cmds.Add(plan_cmd, [opts] { return cli::Plan(*opts); });
}

void AddGoal(CLI::App& app, Commands& cmds) {
  auto opts = std::make_shared<cli::GoalCmdOptions>();
  cli::GoalCmdOptions& goal = *opts;
  auto* goal_cmd = app.add_subcommand("goal", "Smallest cluster (or cheapest fabric) meeting a deadline and budgets");
  goal_cmd->add_option("scenario", goal.scenario, "Scenario file (its plan is kept, dp re-derived, unless --replan)")
      ->required();
  goal_cmd->add_option("--tokens", goal.tokens, "Token budget (default: facility.training_tokens)");
  goal_cmd->add_option("--flops", goal.flops,
                       "Budget in model FLOPs, 6 x active parameters x tokens (e.g. 1e26), instead of --tokens");
  goal_cmd->add_option("--deadline-days", goal.deadline_days, "Deadline in days (failures included)")->required();
  goal_cmd->add_option("--max-energy-gwh", goal.max_energy_gwh, "Energy budget in GWh (facility, with failures)");
  goal_cmd->add_option("--max-cost-usd", goal.max_cost_usd, "Cost budget in USD");
  goal_cmd->add_option("--fabrics", goal.fabrics, "Scale-out topologies to compare, e.g. fat_tree,rail_only")
      ->delimiter(',');
  goal_cmd->add_option("--max-gpus", goal.max_gpus, "Largest cluster tried (default 131072; printed in the table)")
      ->check(kUnsigned);
  goal_cmd
      ->add_option("--replan", goal.replan,
                   "Search the parallelism plan at each size, simulating this many candidates (0 = keep the plan)")
      ->check(kUnsigned);
  goal_cmd->add_option("--out", goal.out_dir, "Write goal.csv into this directory");
  goal_cmd->add_flag("-q,--quiet", goal.quiet, kQuietHelp);
  goal_cmd->add_option("--memory-margin-gb", goal.memory_margin_gb,
                       "Plans fit when their memory estimate is at most HBM minus this (GB; default 0)");
  cmds.Add(goal_cmd, [opts] { return cli::Goal(*opts); });
}

void AddGoodput(CLI::App& app, Commands& cmds) {
  auto opts = std::make_shared<cli::GoodputCmdOptions>();
  cli::GoodputCmdOptions& gp = *opts;
  auto* gp_cmd = app.add_subcommand("goodput", "Failures, checkpoints and goodput of the run: analytic vs Monte-Carlo");
  gp_cmd->add_option("scenario", gp.scenario, "Scenario file; default: the embedded default")->check(kNonEmptyPath);
  gp_cmd->add_option("--tokens", gp.tokens, "Token budget (default: facility.training_tokens)");
  gp_cmd->add_option("--trials", gp.trials, "Monte-Carlo runs (default 1000)")->check(kUnsigned);
  gp_cmd->add_option("--seed", gp.seed, "Monte-Carlo seed (default 1)")->check(kUnsigned);
  gp_cmd->add_flag("-q,--quiet", gp.quiet, kQuietHelp);
  cmds.Add(gp_cmd, [opts] { return cli::Goodput(*opts); });
}

// A message as one line: control characters (a newline in a value quoted from the input) escaped, at most 4 KiB.
std::string OneLine(const std::string& message) {
  std::string out;
  for (const char c : message) {
    if (out.size() >= 4096) return out + "...";
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[static_cast<unsigned char>(c) >> 4];
      out += kHex[static_cast<unsigned char>(c) & 15];
    } else {
      out += c;
    }
  }
  return out;
}

// Exit status and message of a command line CLI11 rejected.
int ParseFailed(CLI::App& app, const CLI::ParseError& e, int argc, char** argv) {
  if (e.get_exit_code() == 0) return app.exit(e);                        // --help, --version
  if (app.get_subcommands().empty() && argc > 1 && argv[1][0] != '-') {  // a misspelt command
    std::string names;
    for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
      names += (names.empty() ? "" : ", ") + sub->get_name();
    std::cerr << "clustersim: error: command = \"" << argv[1] << "\": unknown; commands: " << names
              << " (see clustersim --help)\n";
    return 2;
  }
  std::cerr << "clustersim: error: " << e.what() << " (see clustersim --help)\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"clustersim: discrete-event simulator of AI training clusters (SimGrid), from 8 to 100,000+ GPUs"};
  app.set_version_flag("--version", std::string("clustersim ") + CLUSTERSIM_VERSION);
  app.require_subcommand(1);
  Commands cmds;
  AddRun(app, cmds);
  AddServe(app, cmds);
  AddList(app, cmds);
  AddTopo(app, cmds);
  AddColl(app, cmds);
  AddCompare(app, cmds);
  AddValidate(app, cmds);
  AddSweep(app, cmds);
  AddReplay(app, cmds);
  AddExport(app, cmds);
  AddPlan(app, cmds);
  AddGoal(app, cmds);
  AddGoodput(app, cmds);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return ParseFailed(app, e, argc, argv);
  }
  // Protobuf's own log lines (e.g. about invalid UTF-8) would add lines of their own to the one error message.
  google::protobuf::SetLogHandler(nullptr);
  try {
    const int status = cmds.RunChosen();
    std::cout.flush();
    if (!std::cout) {  // a full disk or a closed file behind standard output: the output is incomplete
      std::cerr << "clustersim: error: cannot write the output to standard output\n";
      return 1;
    }
    return status;
  } catch (const InputError& e) {
    std::cerr << "clustersim: error: " << OneLine(e.what()) << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "clustersim: simulation failed: " << e.what() << "\n";
    return 1;
  }
}
