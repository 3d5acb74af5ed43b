// clustersim command line: parses arguments (CLI11) and maps errors to exit codes. Only this file exits:
// 0 success, 1 simulation failure, 2 bad input (with one message naming file, field, value and rule).
#include <CLI/CLI.hpp>

#include <iostream>

#include "common/error.h"
#include "sim/cli/commands.h"

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
                       "all_reduce, reduce_scatter, all_gather, all_to_all, broadcast");
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

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "clustersim: error: " << e.what() << " (see clustersim --help)\n";
    return 2;
  }
  try {
    if (*run_cmd) return cli::Run(run);
    if (app.got_subcommand("list")) return cli::List();
    if (*topo_cmd) return cli::Topo(topo);
    if (*coll_cmd) return cli::Coll(coll);
    if (*cmp_cmd) return cli::Compare(cmp);
    if (*val_cmd) return cli::Validate(val);
  } catch (const InputError& e) {
    std::cerr << "clustersim: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "clustersim: simulation failed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
