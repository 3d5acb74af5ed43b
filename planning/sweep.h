// Sweeps: one base scenario, fields varied as a grid or a list (proto/sweep.proto), every point simulated once and
// gathered into one table. Format, outputs, resume and distribution rules: docs/capacity-planning.md ("Sweeps").
//
// Life of a sweep:
//   LoadSweep        parses the sweep file, expands every point, sets its fields by path (protobuf reflection) and
//                    resolves it; any bad axis, value or point is an InputError before anything runs.
//   PendingPoints    points of the plan without a valid finished file in OUT/points/ (resume skips the others).
//   RunPoint         simulates one point (one forked SimGrid child, via RunStep); an InputError at run time (the
//                    plan does not fit memory, ...) is recorded in the result rather than thrown.
//   SavePoint        writes OUT/points/<index>-<hash>.json atomically.
//   WriteSweepTable  sweep.csv, sweep.json and report.html from the finished points, byte-identical however the
//                    points were produced (at once, resumed, sharded, under MPI); wall times go to timing.csv.
// RunSweep strings these together for one process (optionally one shard of several); mpi_sweep.h distributes them.
#pragma once

#include <google/protobuf/message.h>

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "common/progress.h"
#include "scenario.pb.h"
#include "sweep.pb.h"

namespace clustersim::planning {

// Sets the field at dotted `path` (e.g. "cluster.scale_out.topology") of `msg` to `value`, parsed as protobuf text
// format through reflection: any scalar, enum or string field (strings may omit their quotes); a repeated scalar
// field takes a list "[a, b]" that replaces its contents. Throws InputError with the bare rule (no file or field:
// callers add them) for an unknown path, a message-typed target, or a value of the wrong type.
void SetFieldByPath(google::protobuf::Message& msg, const std::string& path, const std::string& value);

// One expanded point of a sweep.
struct SweepPointSpec {
  uint32_t index = 0;
  std::string label;
  std::vector<std::string> values;  // one per SweepPlan::columns
  v1::Scenario scenario;            // resolved (validated, defaults and catalog values filled in)
  std::string hash;                 // 16 hex digits, see SweepPointResult.hash
};

struct SweepPlan {
  std::string file;                  // the sweep file, as given (messages)
  v1::Sweep sweep;
  std::vector<std::string> columns;  // "point" when explicit points are given, then each axis name
  std::vector<SweepPointSpec> points;
};

// Reads a sweep file (text format, or JSON for .json) and expands it. Throws InputError naming the sweep file, the
// line (text format), the axis and the value, or the point and its values when a point fails validation. The
// base_scenario must lie under the sweep file's folder or under one of `allowed_roots` (links resolved).
SweepPlan LoadSweep(const std::string& path, const std::vector<std::string>& allowed_roots = {});
// Same from text; `format` is "textproto" or "json", `name` is used in messages, and a base_scenario path is read
// relative to `base_dir` ("" = the current directory), under which (or under one of `allowed_roots`) it must lie.
SweepPlan ParseSweep(const std::string& text, const std::string& format, const std::string& name,
                     const std::string& base_dir, const std::vector<std::string>& allowed_roots = {});

// OUT/points/<index>-<hash>.json for `p`.
std::string PointFilePath(const std::string& out_dir, const SweepPointSpec& p);
// The finished result of `p` in out_dir, if its file exists, parses and carries p's index and hash.
std::optional<v1::SweepPointResult> ReadPointFile(const std::string& out_dir, const SweepPointSpec& p);
// Indices of the points of `plan` with no valid finished file in out_dir, in sweep order.
std::vector<uint32_t> PendingPoints(const SweepPlan& plan, const std::string& out_dir);

// Simulates point `index` (forked SimGrid child). InputError at run time -> result.error; SimulationError is thrown.
// `progress` receives the simulation's stages.
v1::SweepPointResult RunPoint(const SweepPlan& plan, uint32_t index, const ProgressFn& progress = {});
// Writes the point file atomically (creates OUT/points/).
void SavePoint(const std::string& out_dir, const SweepPlan& plan, const v1::SweepPointResult& r);
// "[3/8] cluster.num_gpus=16384 accelerator.name=B200: 2.936 s step, MFU 41.2%, 1.1 s wall" (or "(cached)",
// or "FAILED: <error>").
std::string ProgressLine(const SweepPlan& plan, const v1::SweepPointResult& r, size_t done, double wall_s,
                         bool cached);

// The table renderings; `points` holds one finished result per point of the plan, in sweep order.
// CSV: point_index, point_label, then one column per SweepPlan::columns, then error, then results/csv.h's step
// columns (empty on failed points).
std::string SweepCsv(const SweepPlan& plan, const std::vector<v1::SweepPointResult>& points);
// JSON of SweepTable (results without timelines; simulation wall time and memory zeroed: they vary run to run).
std::string SweepJson(const SweepPlan& plan, const std::vector<v1::SweepPointResult>& points);
// Writes sweep.csv, sweep.json, report.html (every successful point, labelled) and timing.csv into out_dir.
void WriteSweepTable(const SweepPlan& plan, const std::vector<v1::SweepPointResult>& points,
                     const std::string& out_dir);
// Reads every point file of the plan; throws InputError listing how many are missing (run the shards first).
std::vector<v1::SweepPointResult> GatherPoints(const SweepPlan& plan, const std::string& out_dir);

struct SweepOptions {
  std::string out_dir;
  uint32_t shard_index = 0;   // run the pending points with index % shard_count == shard_index
  uint32_t shard_count = 1;
  uint32_t max_points = 0;    // stop after simulating this many points (0 = no limit); the table is then not written
  std::ostream* progress = nullptr;  // one line per point; null = quiet
  ProgressFn live;                   // "points" done with the current point's label and its simulation nested
};

struct SweepStats {
  uint32_t simulated = 0;  // points run now
  uint32_t cached = 0;     // points found finished in out_dir
  uint32_t failed = 0;     // points (run now or cached) whose result is an error
  uint32_t remaining = 0;  // points of the whole sweep still without a result
  bool table_written = false;
};

// Runs the pending points of this shard in order, saving each as it finishes, and writes the table when every
// point of the sweep is finished (with one shard, or when the last shard completes the set).
SweepStats RunSweep(const SweepPlan& plan, const SweepOptions& o);

}  // namespace clustersim::planning
