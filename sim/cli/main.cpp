// clustersim command line: parses arguments (CLI11) and maps errors to exit codes. Only this file exits:
// 0 success, 1 simulation failure, 2 bad input (with one message naming file, field, value and rule).
#include <CLI/CLI.hpp>

#include <iostream>

#include "common/error.h"
#include "sim/cli/commands.h"
#include "sim/cli/trace_cmd.h"

int main(int argc, char** argv) {
  using namespace clustersim;
  CLI::App app{"clustersim: discrete-event simulator of AI training clusters (SimGrid), from 8 to 100,000+ GPUs"};
  app.set_version_flag("--version", std::string("clustersim ") + CLUSTERSIM_VERSION);
  app.require_subcommand(1);

  cli::RunOptions run;
  auto* run_cmd = app.add_subcommand("run", "Simulate one training step and print a summary");
  run_cmd->add_option("scenario", run.scenario,
                      "Scenario file (.textproto or .json); default: the embedded 8,192-GPU H100 Llama-3-70B scenario");
  run_cmd->add_option("--out", run.out_dir,
                      "Write result.json, summary.txt, report.html, trace.json (Perfetto), step.csv and comms.csv "
                      "into this directory");
  run_cmd->add_flag("--json", run.json, "Print the result as JSON instead of the summary");

  app.add_subcommand("list", "List built-in accelerators, topologies, model presets, algorithms and examples");

  cli::TopoOptions topo;
  auto* topo_cmd = app.add_subcommand("topo", "Print the fabric inventory of a scenario's cluster");
  topo_cmd->add_option("scenario", topo.scenario, "Scenario file; default: the embedded default");
  topo_cmd->add_option("--dot", topo.dot_file, "Write the fabric as Graphviz (small fabrics only)");

  cli::CollOptions coll;
  auto* coll_cmd = app.add_subcommand("coll", "Collective microbenchmark in nccl-tests conventions");
  coll_cmd->add_option("scenario", coll.scenario, "Scenario file for the cluster; default: the embedded default");
  coll_cmd->add_option("-c,--collective", coll.collective,
                       "all_reduce, reduce_scatter, all_gather, all_to_all, broadcast, send_recv (-g 2)");
  coll_cmd->add_option("-a,--algorithm", coll.algorithm, "Algorithm by name, or auto");
  coll_cmd->add_option("-s,--sizes", coll.sizes, "Sizes per rank, e.g. 1M 64M 1G")->expected(1, -1);
  coll_cmd->add_option("-g,--group", coll.group, "Ranks in the group (0 = all GPUs)");
  coll_cmd->add_option("--stride", coll.stride, "Distance between group members (8 = one GPU per node)");
  coll_cmd->add_flag("--all-groups", coll.all_groups, "Run every disjoint group of this shape at once");

  cli::CompareOptions cmp;
  auto* cmp_cmd = app.add_subcommand("compare", "Compare results side by side (ratios to the first)");
  cmp_cmd->add_option("results", cmp.results, "result.json files written by `clustersim run --out`")
      ->required()
      ->expected(1, -1);
  cmp_cmd->add_option("-l,--labels", cmp.labels, "One short label per result (default A, B, ...)")->delimiter(',');
  cmp_cmd->add_option("--html", cmp.html, "Write a self-contained HTML comparison report to this file");
  cmp_cmd->add_option("--csv", cmp.csv, "Write one CSV row per result to this file");

  cli::ValidateOptions val;
  auto* val_cmd = app.add_subcommand("validate", "Run validation cases against published measurements");
  val_cmd->add_option("paths", val.paths, "Case files or directories (default: tests/validation)");
  val_cmd->add_flag("--report-only", val.report_only, "Exit 0 even if some cases miss their tolerance");
  val_cmd->add_option("--markdown", val.markdown, "Write the Markdown report (docs/validation.md) to this file");
  val_cmd->add_option("--known-misses", val.known_misses,
                      "File of 'case quantity' lines expected to miss: fail only if the set of misses changes");

  cli::SweepCmdOptions swp;
  auto* swp_cmd = app.add_subcommand("sweep", "Run every point of a sweep file into one table (CSV, JSON, HTML)");
  swp_cmd->add_option("sweep", swp.sweep, "Sweep file (.textproto or .json), see docs/capacity-planning.md")
      ->required();
  swp_cmd->add_option("--out", swp.out_dir,
                      "Output directory: points/, sweep.csv, sweep.json, report.html, timing.csv "
                      "(default: <sweep stem>-sweep); finished points there are reused (resume)");
  swp_cmd->add_option("--shard", swp.shard, "Run only share I of N (I/N, 0-based), e.g. a Slurm array task");
  swp_cmd->add_flag("--gather", swp.gather, "Only assemble the table from the finished points of all shards");
  swp_cmd->add_option("--max-points", swp.max_points, "Stop after simulating this many points (resume later)");
  swp_cmd->add_flag("--mpi", swp.mpi, "Run as MPI ranks (detected under mpirun; needed under srun)");
  swp_cmd->add_flag("-q,--quiet", swp.quiet, "No progress lines on stderr");

  cli::ReplayCmdOptions rep;
  auto* rep_cmd = app.add_subcommand("replay", "Replay a Chakra execution trace on a scenario's cluster (rescalable)");
  rep_cmd->add_option("scenario", rep.scenario, "Scenario file: accelerator, cluster, fabric (its workload must be valid for the cluster but is not replayed)")
      ->required();
  rep_cmd->add_option("trace", rep.trace, "Directory or prefix of <prefix>.<rank>.et[.gz] files")->required();
  rep_cmd->add_option("--replicas", rep.replicas, "Copies of the traced ranks (default: num_gpus / ranks)");
  rep_cmd->add_option("--dp-pg", rep.dp_pg, "Regex on pg_name: these groups grow across replicas (e.g. ^dp/)");
  rep_cmd->add_flag("--recorded-durations", rep.recorded_durations, "Time compute nodes by duration_micros");
  rep_cmd->add_option("--out", rep.out_dir, "Write result.json and summary.txt into this directory");
  rep_cmd->add_flag("--json", rep.json, "Print the result as JSON instead of the summary");

  cli::ExportCmdOptions exp;
  auto* exp_cmd = app.add_subcommand("export", "Write a scenario's generated step as Chakra ET files, one per rank");
  exp_cmd->add_option("scenario", exp.scenario, "Scenario file")->required();
  exp_cmd->add_option("outdir", exp.out_dir, "Output directory")->required();
  exp_cmd->add_option("--prefix", exp.prefix, "File prefix: <prefix>.<rank>.et (default clustersim)");
  exp_cmd->add_flag("--replica-only", exp.replica_only, "Only the ranks of data-parallel replica 0");
  exp_cmd->add_flag("--gzip", exp.gzip, "Write gzip-compressed .et.gz files");

  cli::PlanCmdOptions plan;
  auto* plan_cmd = app.add_subcommand("plan", "Search parallelism plans that fit in memory; simulate and rank the best");
  plan_cmd->add_option("scenario", plan.scenario, "Scenario file: model, cluster, global batch; default: the embedded default");
  plan_cmd->add_option("--top", plan.top, "Plans simulated (the best by the analytic estimate); default 8");
  plan_cmd->add_option("--by", plan.by, "Ranking of the simulated plans: time, energy or cost per step");
  plan_cmd->add_option("--out", plan.out_dir, "Write plan.csv and plan.json into this directory");

  cli::GoalCmdOptions goal;
  auto* goal_cmd = app.add_subcommand("goal", "Smallest cluster (or cheapest fabric) meeting a deadline and budgets");
  goal_cmd->add_option("scenario", goal.scenario, "Scenario file (its plan is kept, dp re-derived, unless --replan)")->required();
  goal_cmd->add_option("--tokens", goal.tokens, "Token budget (default: facility.training_tokens)");
  goal_cmd->add_option("--deadline-days", goal.deadline_days, "Deadline in days (failures included)")->required();
  goal_cmd->add_option("--max-energy-gwh", goal.max_energy_gwh, "Energy budget in GWh (facility, with failures)");
  goal_cmd->add_option("--max-cost-usd", goal.max_cost_usd, "Cost budget in USD");
  goal_cmd->add_option("--fabrics", goal.fabrics, "Scale-out topologies to compare, e.g. fat_tree,rail_only")
      ->delimiter(',');
  goal_cmd->add_option("--max-gpus", goal.max_gpus, "Largest cluster tried (default 131072)");
  goal_cmd->add_option("--replan", goal.replan,
                       "Search the parallelism plan at each size, simulating this many candidates (0 = keep the plan)");
  goal_cmd->add_option("--out", goal.out_dir, "Write goal.csv into this directory");

  cli::GoodputCmdOptions gp;
  auto* gp_cmd = app.add_subcommand("goodput", "Failures, checkpoints and goodput of the run: analytic vs Monte-Carlo");
  gp_cmd->add_option("scenario", gp.scenario, "Scenario file; default: the embedded default");
  gp_cmd->add_option("--tokens", gp.tokens, "Token budget (default: facility.training_tokens)");
  gp_cmd->add_option("--trials", gp.trials, "Monte-Carlo runs (default 1000)");
  gp_cmd->add_option("--seed", gp.seed, "Monte-Carlo seed (default 1)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
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
  try {
    if (*run_cmd) return cli::Run(run);
    if (*rep_cmd) return cli::Replay(rep);
    if (*exp_cmd) return cli::Export(exp);
    if (app.got_subcommand("list")) return cli::List();
    if (*topo_cmd) return cli::Topo(topo);
    if (*coll_cmd) return cli::Coll(coll);
    if (*cmp_cmd) return cli::Compare(cmp);
    if (*val_cmd) return cli::Validate(val);
    if (*plan_cmd) return cli::Plan(plan);
    if (*goal_cmd) return cli::Goal(goal);
    if (*gp_cmd) return cli::Goodput(gp);
    if (*swp_cmd) return cli::Sweep(swp);
  } catch (const InputError& e) {
    std::cerr << "clustersim: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "clustersim: simulation failed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
