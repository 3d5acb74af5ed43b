// Sweep tests: setting fields by path (every type and every rejection rule), expansion order (grid, list, explicit
// points, labels), the 2x2x2 grid against eight single runs, resume after deleted, corrupt and unfinished points,
// shards, and failing points recorded in the table.
#include "planning/sweep.h"

#include <gtest/gtest.h>
#include <google/protobuf/descriptor.pb.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/error.h"
#include "planning/run.h"

namespace clustersim::planning {
namespace {

namespace fs = std::filesystem;

std::string SetError(google::protobuf::Message& m, const std::string& path, const std::string& value) {
  try {
    SetFieldByPath(m, path, value);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

std::string Contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A fresh, empty directory under the test temp dir.
std::string TempDir(const std::string& name) {
  const fs::path p = fs::path(testing::TempDir()) / ("clustersim_sweep_" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

TEST(SetFieldByPath, SetsScalarsOfEveryKindThroughNestedMessages) {
  v1::Scenario s;
  SetFieldByPath(s, "cluster.num_gpus", "16384");                         // uint32, two levels down
  SetFieldByPath(s, "seed", "18446744073709551615");                      // uint64
  SetFieldByPath(s, "cluster.scale_out.nic_bandwidth_gbps", "1.5e3");     // double
  SetFieldByPath(s, "cluster.scale_out.topology", "rail_optimized");      // string without quotes
  SetFieldByPath(s, "accelerator.name", "\"H100-SXM\"");                  // string in text-format quotes
  SetFieldByPath(s, "workload.parallelism.sequence_parallel", "true");    // bool
  SetFieldByPath(s, "workload.parallelism.tp", "8");
  EXPECT_EQ(s.cluster().num_gpus(), 16384u);
  EXPECT_EQ(s.seed(), 18446744073709551615ull);
  EXPECT_EQ(s.cluster().scale_out().nic_bandwidth_gbps(), 1500.0);
  EXPECT_EQ(s.cluster().scale_out().topology(), "rail_optimized");
  EXPECT_EQ(s.accelerator().name(), "H100-SXM");
  EXPECT_TRUE(s.workload().parallelism().sequence_parallel());
  EXPECT_EQ(s.workload().parallelism().tp(), 8u);
  SetFieldByPath(s, "workload.parallelism.tp", "0");  // proto3 zero: overwrites
  EXPECT_EQ(s.workload().parallelism().tp(), 0u);
}

TEST(SetFieldByPath, RepeatedScalarTakesAListThatReplacesIt) {
  v1::Scenario s;
  s.mutable_cluster()->mutable_scale_out()->add_oversubscription(4);
  SetFieldByPath(s, "cluster.scale_out.oversubscription", "[2, 1]");
  ASSERT_EQ(s.cluster().scale_out().oversubscription_size(), 2);
  EXPECT_EQ(s.cluster().scale_out().oversubscription(0), 2.0);
  EXPECT_EQ(s.cluster().scale_out().oversubscription(1), 1.0);
  SetFieldByPath(s, "cluster.scale_out.oversubscription", "3");
  ASSERT_EQ(s.cluster().scale_out().oversubscription_size(), 1);
  EXPECT_EQ(s.cluster().scale_out().oversubscription(0), 3.0);
}

// A message field takes a whole text-format message that replaces it (a fault list, a scale-out block); a repeated
// message field takes a list of them.
TEST(SetFieldByPath, MessagesAreReplacedWhole) {
  v1::Scenario s;
  s.mutable_cluster()->mutable_scale_out()->set_topology("fat_tree");
  s.mutable_cluster()->mutable_faults()->add_switches()->set_tier(2);
  SetFieldByPath(s, "cluster.faults", "{ planes { plane: 3 } }");
  EXPECT_EQ(s.cluster().faults().switches_size(), 0);
  ASSERT_EQ(s.cluster().faults().planes_size(), 1);
  EXPECT_EQ(s.cluster().faults().planes(0).plane(), 3u);
  EXPECT_EQ(s.cluster().scale_out().topology(), "fat_tree");  // the siblings stay
  SetFieldByPath(s, "cluster.faults.links", "[{ kind: \"global\" index: 1 }, { kind: \"global\" index: 2 }]");
  ASSERT_EQ(s.cluster().faults().links_size(), 2);
  EXPECT_EQ(s.cluster().faults().links(1).index(), 2u);
  EXPECT_EQ(s.cluster().faults().planes_size(), 1);
  SetFieldByPath(s, "cluster.faults", "{ }");
  EXPECT_EQ(s.cluster().faults().links_size() + s.cluster().faults().planes_size(), 0);
}

TEST(SetFieldByPath, SetsEnumsByNameAndNumber) {
  google::protobuf::FileDescriptorProto f;
  SetFieldByPath(f, "options.optimize_for", "CODE_SIZE");
  EXPECT_EQ(f.options().optimize_for(), google::protobuf::FileOptions::CODE_SIZE);
  SetFieldByPath(f, "options.optimize_for", "3");
  EXPECT_EQ(f.options().optimize_for(), google::protobuf::FileOptions::LITE_RUNTIME);
  EXPECT_NE(SetError(f, "options.optimize_for", "FASTEST").find("not a valid enum value"), std::string::npos);
}

TEST(SetFieldByPath, RejectsEveryBrokenRule) {
  v1::Scenario s;
  EXPECT_NE(SetError(s, "cluster.gpus", "8").find("no field \"gpus\" in Cluster"), std::string::npos);
  EXPECT_NE(SetError(s, "clusters.num_gpus", "8").find("no field \"clusters\" in Scenario"), std::string::npos);
  EXPECT_NE(SetError(s, "", "8").find("no field \"\""), std::string::npos);
  EXPECT_NE(SetError(s, "cluster.num_gpus.x", "8").find("\"num_gpus\" is not a message"), std::string::npos);
  EXPECT_NE(SetError(s, "cluster", "8").find("\"cluster\" is a message (Cluster): give it whole in text format"),
            std::string::npos);
  EXPECT_NE(SetError(s, "cluster", "{ gpus: 8 }").find("not a valid Cluster message value"), std::string::npos);
  EXPECT_NE(SetError(s, "cluster.num_gpus", "sixteen").find("not a valid uint32 value"), std::string::npos);
  EXPECT_NE(SetError(s, "cluster.num_gpus", "-1").find("not a valid uint32 value"), std::string::npos);
  EXPECT_NE(SetError(s, "cluster.num_gpus", "1.5").find("not a valid uint32 value"), std::string::npos);
  EXPECT_NE(SetError(s, "workload.parallelism.sequence_parallel", "maybe").find("not a valid bool value"),
            std::string::npos);
  EXPECT_NE(SetError(s, "cluster.num_gpus", "8 scale_up { }").find("not a valid uint32 value"), std::string::npos);
  EXPECT_NE(SetError(s, "cluster.scale_out.oversubscription", "[2, x]").find("not a valid list of double value"),
            std::string::npos);
  google::protobuf::FileDescriptorProto f;  // repeated message fields cannot be selected into, only replaced whole
  EXPECT_NE(SetError(f, "message_type.name", "x").find("is not a message"), std::string::npos);
  EXPECT_NE(SetError(f, "message_type", "x").find("is a message (DescriptorProto): give it whole in text format, "
                                                  "\"{ ... }\" or \"[{ ... }, ...]\""),
            std::string::npos);
  EXPECT_EQ(s.cluster().num_gpus(), 0u);  // nothing set by a rejected value
}

// 16-64 H100s running Llama-3-8B: a fraction of a second per point.
const char* kBaseScenario = R"(name: "small"
accelerator { name: "H100-SXM" }
cluster { num_gpus: 16 scale_out { topology: "fat_tree" nic_bandwidth_gbps: 400 } }
workload { model { preset: "llama3_8b" seq_len: 2048 } parallelism { tp: 8 global_batch_size: 16 } }
facility { training_tokens: 1e12 }
)";

std::string SweepText(const std::string& body) {
  return std::string("name: \"t\"\nscenario {\n") + kBaseScenario + "}\n" + body;
}

SweepPlan Parse(const std::string& body) { return ParseSweep(SweepText(body), "textproto", "s.textproto", ""); }

std::string ParseError(const std::string& body) {
  try {
    Parse(body);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Sweep, GridVariesTheFirstAxisSlowest) {
  const SweepPlan p = Parse(R"(axes { field: "cluster.num_gpus" values: ["16", "32"] }
axes { field: "cluster.scale_out.topology" values: ["fat_tree", "rail_optimized", "multi_plane"] name: "fabric" }
label: "{cluster.num_gpus} GPUs on {fabric}")");
  EXPECT_EQ(p.columns, (std::vector<std::string>{"cluster.num_gpus", "fabric"}));
  ASSERT_EQ(p.points.size(), 6u);
  const std::vector<std::vector<std::string>> want = {{"16", "fat_tree"},  {"16", "rail_optimized"},
                                                      {"16", "multi_plane"}, {"32", "fat_tree"},
                                                      {"32", "rail_optimized"}, {"32", "multi_plane"}};
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(p.points[i].index, i);
    EXPECT_EQ(p.points[i].values, want[i]);
    EXPECT_EQ(p.points[i].scenario.cluster().num_gpus(), std::stoul(want[i][0]));
    EXPECT_EQ(p.points[i].scenario.cluster().scale_out().topology(), want[i][1]);
    EXPECT_EQ(p.points[i].label, want[i][0] + " GPUs on " + want[i][1]);
    EXPECT_EQ(p.points[i].hash.size(), 16u);
  }
  EXPECT_EQ(p.points[4].scenario.name(), "small | 32 GPUs on rail_optimized");
  // Hashes are stable and distinct.
  EXPECT_EQ(p.points[2].hash, Parse(R"(axes { field: "cluster.num_gpus" values: ["16", "32"] }
axes { field: "cluster.scale_out.topology" values: ["fat_tree", "rail_optimized", "multi_plane"] name: "fabric" }
label: "{cluster.num_gpus} GPUs on {fabric}")").points[2].hash);
  std::set<std::string> hashes;
  for (const auto& pt : p.points) hashes.insert(pt.hash);
  EXPECT_EQ(hashes.size(), 6u);
}

TEST(Sweep, ListZipsTheAxesAndPointsVarySlowest) {
  const SweepPlan p = Parse(R"(mode: "list"
axes { field: "cluster.num_gpus" values: ["16", "32"] }
axes { field: "workload.parallelism.global_batch_size" values: ["16", "32"] name: "batch" }
points { label: "tp8" set { field: "workload.parallelism.tp" value: "8" } }
points { label: "tp4" set { field: "workload.parallelism.tp" value: "4" } }
)");
  EXPECT_EQ(p.columns, (std::vector<std::string>{"point", "cluster.num_gpus", "batch"}));
  ASSERT_EQ(p.points.size(), 4u);
  EXPECT_EQ(p.points[0].values, (std::vector<std::string>{"tp8", "16", "16"}));
  EXPECT_EQ(p.points[1].values, (std::vector<std::string>{"tp8", "32", "32"}));
  EXPECT_EQ(p.points[2].values, (std::vector<std::string>{"tp4", "16", "16"}));
  EXPECT_EQ(p.points[3].values, (std::vector<std::string>{"tp4", "32", "32"}));
  EXPECT_EQ(p.points[3].scenario.workload().parallelism().tp(), 4u);
  EXPECT_EQ(p.points[3].scenario.workload().parallelism().global_batch_size(), 32u);
  EXPECT_EQ(p.points[3].label, "tp4 32 32");
}

TEST(Sweep, ErrorsNameTheFileLineAxisAndValue) {
  // Line 12: the bad value (the inline scenario takes lines 2-8, the axis starts on line 9).
  std::string e = ParseError("axes {\n  field: \"cluster.num_gpus\"\n  values: \"16\"\n  values: \"lots\"\n}\n");
  EXPECT_NE(e.find("s.textproto:12: cluster.num_gpus = \"lots\": axis 1: not a valid uint32 value"),
            std::string::npos)
      << e;
  e = ParseError("axes { field: \"cluster.gpus\" values: \"16\" }");
  EXPECT_NE(e.find("s.textproto:9: cluster.gpus = \"16\": axis 1: no field \"gpus\" in Cluster"), std::string::npos)
      << e;
  e = ParseError("axes { field: \"cluster\" values: \"16\" }");
  EXPECT_NE(e.find("axis 1: \"cluster\" is a message"), std::string::npos) << e;
  e = ParseError("mode: \"list\"\naxes { field: \"seed\" values: [\"1\", \"2\"] }\naxes { field: \"cluster.num_gpus\" "
                 "values: [\"16\"] }");
  EXPECT_NE(e.find("s.textproto:11: axes[1].values = 1 values: mode \"list\" zips the axes"), std::string::npos) << e;
  e = ParseError("mode: \"zip\"\naxes { field: \"seed\" values: \"1\" }");
  EXPECT_NE(e.find("mode = \"zip\": must be one of: grid, list"), std::string::npos) << e;
  e = ParseError("");
  EXPECT_NE(e.find("at least one axis or one explicit point"), std::string::npos) << e;
  e = ParseError("axes { field: \"seed\" }");
  EXPECT_NE(e.find("needs at least one value"), std::string::npos) << e;
  e = ParseError("axes { field: \"seed\" values: \"1\" }\naxes { field: \"seed\" values: \"2\" }");
  EXPECT_NE(e.find("two columns have the same name"), std::string::npos) << e;
  e = ParseError("points { set { field: \"workload.parallelism.pp\" value: \"x\" } }");
  EXPECT_NE(e.find("workload.parallelism.pp = \"x\": point 1: not a valid uint32 value"), std::string::npos) << e;
  e = ParseError("base_scenario: \"nope.textproto\"\naxes { field: \"seed\" values: \"1\" }");
  EXPECT_NE(e.find("give either base_scenario or scenario"), std::string::npos) << e;
  // A point that fails validation is named with its values before anything runs.
  e = ParseError("axes { field: \"workload.parallelism.tp\" values: [\"8\", \"3\"] }");
  EXPECT_NE(e.find("s.textproto: point 2 of 2 (workload.parallelism.tp=3) is invalid: "), std::string::npos) << e;
  try {
    ParseSweep("axes { field: \"seed\" values: \"1\" }", "textproto", "nobase.textproto", "");
    FAIL() << "expected an error";
  } catch (const InputError& err) {
    EXPECT_NE(std::string(err.what()).find("base_scenario = \"\": required"), std::string::npos) << err.what();
  }
}

TEST(Sweep, BaseScenarioFileIsReadRelativeToTheSweepFile) {
  const std::string dir = TempDir("base");
  std::ofstream(dir + "/base.textproto") << kBaseScenario;
  std::ofstream(dir + "/s.textproto") << "base_scenario: \"base.textproto\"\naxes { field: \"seed\" values: [\"1\", "
                                         "\"2\"] }\n";
  const SweepPlan p = LoadSweep(dir + "/s.textproto");
  ASSERT_EQ(p.points.size(), 2u);
  EXPECT_EQ(p.points[1].scenario.seed(), 2u);
  EXPECT_EQ(p.points[1].scenario.cluster().num_gpus(), 16u);
}

// A base scenario must lie under the sweep file's folder (links resolved) or under a root allowed on the command
// line; a file that is not a scenario is refused without showing its content.
TEST(Sweep, BaseScenarioStaysUnderTheSweepFolder) {
  const std::string dir = TempDir("confined");
  const std::string outside = TempDir("confined_outside");
  std::ofstream(outside + "/base.textproto") << kBaseScenario;
  std::ofstream(outside + "/secret.textproto") << "SECRET_TOKEN=hunter2\n";
  std::filesystem::remove(dir + "/link.textproto");
  std::filesystem::create_symlink(outside + "/base.textproto", dir + "/link.textproto");
  auto error = [&](const std::string& base, const std::vector<std::string>& roots) {
    std::ofstream(dir + "/s.textproto") << "base_scenario: \"" << base
                                        << "\"\naxes { field: \"seed\" values: \"1\" }\n";
    try {
      (void)LoadSweep(dir + "/s.textproto", roots);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  for (const std::string& base : {outside + "/base.textproto", std::string("../confined_outside/base.textproto"),
                                  std::string("link.textproto"), std::string("/proc/self/environ")}) {
    const std::string e = error(base, {});
    EXPECT_NE(e.find("base_scenario = \"" + base + "\": must name a file under the sweep file's folder"),
              std::string::npos)
        << e;
  }
  EXPECT_EQ(error(outside + "/base.textproto", {outside}), "");
  EXPECT_EQ(error("link.textproto", {outside}), "");
  const std::string secret = error(outside + "/secret.textproto", {outside});
  EXPECT_NE(secret.find("not a Scenario in protobuf text format"), std::string::npos) << secret;
  EXPECT_EQ(secret.find("SECRET"), std::string::npos) << secret;
  EXPECT_EQ(secret.find("hunter2"), std::string::npos) << secret;
}

const char* kGrid = R"(axes { field: "cluster.num_gpus" values: ["16", "32"] }
axes { field: "cluster.scale_out.topology" values: ["fat_tree", "rail_optimized"] }
axes { field: "workload.parallelism.global_batch_size" values: ["16", "32"] }
)";

// The 2x2x2 grid gives 8 rows whose numbers equal 8 single runs of the same scenarios, exactly.
TEST(Sweep, GridRowsEqualSingleRuns) {
  const std::string dir = TempDir("grid");
  const SweepPlan plan = Parse(kGrid);
  SweepOptions o;
  o.out_dir = dir;
  const SweepStats st = RunSweep(plan, o);
  EXPECT_EQ(st.simulated, 8u);
  EXPECT_TRUE(st.table_written);
  const std::vector<v1::SweepPointResult> rows = GatherPoints(plan, dir);
  ASSERT_EQ(rows.size(), 8u);
  size_t i = 0;
  for (const char* gpus : {"16", "32"}) {
    for (const char* fabric : {"fat_tree", "rail_optimized"}) {
      for (const char* batch : {"16", "32"}) {
        std::string text = kBaseScenario;
        text.replace(text.find("num_gpus: 16"), 12, std::string("num_gpus: ") + gpus);
        text.replace(text.find("\"fat_tree\""), 10, std::string("\"") + fabric + "\"");
        text.replace(text.find("global_batch_size: 16"), 21, std::string("global_batch_size: ") + batch);
        const std::string file = dir + "/single.textproto";
        std::ofstream(file) << text;
        const v1::RunResult single = RunStep(LoadScenario(file));
        const v1::RunResult& row = rows[i].result();
        SCOPED_TRACE(rows[i].label());
        EXPECT_EQ(row.scenario().cluster().num_gpus(), std::stoul(gpus));
        EXPECT_EQ(row.step_time_s(), single.step_time_s());
        EXPECT_EQ(row.mfu(), single.mfu());
        EXPECT_EQ(row.tokens_per_s(), single.tokens_per_s());
        EXPECT_EQ(row.power().facility_peak_w(), single.power().facility_peak_w());
        EXPECT_EQ(row.power().energy_per_step_j(), single.power().energy_per_step_j());
        EXPECT_EQ(row.projection().energy_mwh(), single.projection().energy_mwh());
        EXPECT_EQ(row.projection().cost_usd(), single.projection().cost_usd());
        EXPECT_GT(row.step_time_s(), 0);
        ++i;
      }
    }
  }
  const std::string csv = Contents(dir + "/sweep.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 9);
  EXPECT_EQ(csv.rfind("point_index,point_label,cluster.num_gpus,cluster.scale_out.topology,"
                      "workload.parallelism.global_batch_size,error,scenario,",
                      0),
            0u);
  EXPECT_NE(csv.find("\n7,32 rail_optimized 32,32,rail_optimized,32,,"), std::string::npos) << csv;
  EXPECT_TRUE(fs::exists(dir + "/report.html"));
  EXPECT_TRUE(fs::exists(dir + "/sweep.json"));
  EXPECT_TRUE(fs::exists(dir + "/timing.csv"));
}

// Deleted and corrupt point files are re-simulated, the others are not, and the table comes out byte-identical;
// so does a sweep stopped after one point and resumed, and a sweep run as two shards.
TEST(Sweep, ResumeRecomputesOnlyMissingPointsAndGivesTheSameTable) {
  const SweepPlan plan = Parse(R"(axes { field: "cluster.num_gpus" values: ["16", "32"] }
axes { field: "workload.parallelism.global_batch_size" values: ["16", "32"] })");
  const std::string dir = TempDir("resume");
  SweepOptions o;
  o.out_dir = dir;
  EXPECT_EQ(RunSweep(plan, o).simulated, 4u);
  const std::string csv = Contents(dir + "/sweep.csv");
  const std::string json = Contents(dir + "/sweep.json");
  const std::string html = Contents(dir + "/report.html");
  ASSERT_FALSE(csv.empty());
  fs::remove(PointFilePath(dir, plan.points[1]));
  std::ofstream(PointFilePath(dir, plan.points[2])) << "{\"index\": 2, \"hash\": \"trunc";
  fs::remove(dir + "/sweep.csv");
  std::ostringstream progress;
  o.progress = &progress;
  const SweepStats again = RunSweep(plan, o);
  EXPECT_EQ(again.simulated, 2u);
  EXPECT_EQ(again.cached, 2u);
  EXPECT_TRUE(again.table_written);
  const std::string lines = progress.str();
  EXPECT_NE(lines.find("[1/4] cluster.num_gpus=16 workload.parallelism.global_batch_size=16: "), std::string::npos);
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 4) << lines;
  EXPECT_EQ(std::count(lines.begin(), lines.end(), ')'), 2) << lines;  // "(cached)" twice
  EXPECT_NE(lines.find("[2/4] cluster.num_gpus=16 workload.parallelism.global_batch_size=32: "), std::string::npos);
  EXPECT_NE(lines.find(" s wall"), std::string::npos);
  EXPECT_EQ(Contents(dir + "/sweep.csv"), csv);
  EXPECT_EQ(Contents(dir + "/sweep.json"), json);
  EXPECT_EQ(Contents(dir + "/report.html"), html);

  // Interrupted after one point, then resumed.
  const std::string dir2 = TempDir("interrupted");
  SweepOptions o2;
  o2.out_dir = dir2;
  o2.max_points = 1;
  const SweepStats first = RunSweep(plan, o2);
  EXPECT_EQ(first.simulated, 1u);
  EXPECT_EQ(first.remaining, 3u);
  EXPECT_FALSE(first.table_written);
  EXPECT_FALSE(fs::exists(dir2 + "/sweep.csv"));
  o2.max_points = 0;
  const SweepStats rest = RunSweep(plan, o2);
  EXPECT_EQ(rest.simulated, 3u);
  EXPECT_EQ(rest.cached, 1u);
  EXPECT_EQ(Contents(dir2 + "/sweep.csv"), csv);
  EXPECT_EQ(Contents(dir2 + "/sweep.json"), json);

  // Two shards into one directory (Slurm job array); the gather gives the same table.
  const std::string dir3 = TempDir("shards");
  for (uint32_t k = 0; k < 2; ++k) {
    SweepOptions s;
    s.out_dir = dir3;
    s.shard_index = k;
    s.shard_count = 2;
    EXPECT_EQ(RunSweep(plan, s).simulated, 2u);
  }
  WriteSweepTable(plan, GatherPoints(plan, dir3), dir3);
  EXPECT_EQ(Contents(dir3 + "/sweep.csv"), csv);
  EXPECT_EQ(Contents(dir3 + "/sweep.json"), json);

  // A changed sweep never reuses a stale point: the hash differs.
  const SweepPlan changed = Parse(R"(axes { field: "cluster.num_gpus" values: ["16", "32"] }
axes { field: "workload.parallelism.global_batch_size" values: ["16", "64"] })");
  EXPECT_EQ(PendingPoints(changed, dir), (std::vector<uint32_t>{1, 3}));
  try {
    GatherPoints(changed, dir);
    FAIL() << "expected missing points";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("2 of 4 points have no result"), std::string::npos) << e.what();
  }
}

// A point refused at run time (here by the memory guard) is a row with its error, not an aborted sweep.
TEST(Sweep, FailingPointIsRecordedInTheTable) {
  const SweepPlan plan = Parse(R"(axes { field: "options.memory_limit_gb" values: ["0", "0.01"] })");
  const std::string dir = TempDir("failing");
  SweepOptions o;
  o.out_dir = dir;
  const SweepStats st = RunSweep(plan, o);
  EXPECT_EQ(st.failed, 1u);
  EXPECT_TRUE(st.table_written);
  const auto rows = GatherPoints(plan, dir);
  EXPECT_TRUE(rows[0].error().empty());
  EXPECT_NE(rows[1].error().find("would need about"), std::string::npos) << rows[1].error();
  const std::string csv = Contents(dir + "/sweep.csv");
  EXPECT_NE(csv.find("\n1,0.01,0.01,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("would need about"), std::string::npos);
  // Cached failures are not re-run.
  EXPECT_EQ(RunSweep(plan, o).simulated, 0u);
}

}  // namespace
}  // namespace clustersim::planning
