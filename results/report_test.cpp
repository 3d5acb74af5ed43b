// Report tests: the result JSON round-trips through Protobuf's parser (it is the schema), unknown fields are
// rejected, and files are written atomically.
#include "results/report.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/error.h"

namespace clustersim::results {
namespace {

v1::RunResult Sample() {
  v1::RunResult r;
  r.set_clustersim_version("test");
  r.mutable_scenario()->set_name("sample");
  r.mutable_scenario()->mutable_cluster()->set_num_gpus(64);
  r.set_step_time_s(1.25);
  r.mutable_breakdown()->set_compute_s(1.0);
  r.set_mfu(0.41);
  v1::CommStat* c = r.add_comms();
  c->set_kind("tp");
  c->set_bytes_per_rank(1ull << 40);
  v1::LinkClassUsage* u = r.add_link_usage();
  u->set_kind("scale_up");
  u->set_avg_utilization(0.25);
  return r;
}

TEST(Report, JsonRoundTripsThroughTheSchema) {
  const v1::RunResult r = Sample();
  const std::string json = ToJson(r);
  EXPECT_NE(json.find("\"step_time_s\": 1.25"), std::string::npos) << json;
  const v1::RunResult back = FromJson(json, "r.json");
  EXPECT_EQ(back.SerializeAsString(), r.SerializeAsString());
  EXPECT_EQ(ToJson(back), json);  // deterministic
}

TEST(Report, UnknownFieldsAreRejected) {
  EXPECT_THROW(FromJson(R"({"step_time_s": 1, "speed": 2})", "r.json"), InputError);
}

TEST(Report, OutputsAreWrittenWhole) {
  const std::string dir = testing::TempDir() + "/report_test_out";
  std::filesystem::remove_all(dir);
  WriteRunOutputs(dir, Sample());
  EXPECT_TRUE(std::filesystem::exists(dir + "/result.json"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/summary.txt"));
  std::ifstream in(dir + "/result.json");
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(FromJson(ss.str(), "result.json").step_time_s(), 1.25);
}

}  // namespace
}  // namespace clustersim::results
