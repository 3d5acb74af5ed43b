#include "sim/plausible.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <sstream>
#include <string>

#include "common/error.h"
#include "results.pb.h"
#include "scenario.pb.h"
#include "validation.pb.h"

namespace clustersim {
namespace {

namespace pb = google::protobuf;

// Every numeric field reachable from `d`, as "<Message>.<field>".
void NumericFields(const pb::Descriptor& d, std::set<std::string>& seen, std::set<std::string>& out) {
  if (!seen.insert(d.full_name()).second) return;
  for (int i = 0; i < d.field_count(); ++i) {
    const pb::FieldDescriptor& f = *d.field(i);
    if (f.cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) NumericFields(*f.message_type(), seen, out);
    if (IsNumericField(f)) out.insert(d.name() + "." + f.name());
  }
}

// A field added to the scenario or the validation case is checked as soon as it has a range: this test names the
// numeric fields that have none (add them to kRanges in sim/plausible.cpp and to docs/input-limits.md).
TEST(Plausible, EveryNumericInputFieldHasARange) {
  std::set<std::string> seen, fields;
  NumericFields(*v1::Scenario::descriptor(), seen, fields);
  NumericFields(*v1::ValidationCase::descriptor(), seen, fields);
  std::set<std::string> ranged;
  for (const FieldRange& r : FieldRanges()) ranged.insert(r.field);
  for (const std::string& f : fields) EXPECT_TRUE(ranged.count(f)) << f << " has no range in sim/plausible.cpp";
  for (const FieldRange& r : FieldRanges()) {
    const std::string name = r.field;
    const bool is_numeric = fields.count(name) > 0;
    // Entries that only bound how many elements a repeated field holds.
    const bool is_element_count = name == "Parallelism.recompute_modules" || name == "Variability.slow";
    EXPECT_TRUE(is_numeric || is_element_count) << name << " is not a numeric field of the schema";
  }
}

TEST(Plausible, RangesAreSortedOnceAndSane) {
  const auto ranges = FieldRanges();
  for (size_t i = 1; i < ranges.size(); ++i)
    EXPECT_LT(std::string(ranges[i - 1].field), std::string(ranges[i].field)) << "kRanges must stay sorted";
  for (const FieldRange& r : ranges) EXPECT_LE(r.range.lo, r.range.hi) << r.field;
}

// docs/input-limits.md lists every range.
TEST(Plausible, DocsListEveryRange) {
  std::ifstream in(std::string(CLUSTERSIM_SOURCE_DIR) + "/docs/input-limits.md");
  ASSERT_TRUE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  for (const FieldRange& r : FieldRanges())
    EXPECT_NE(doc.find(std::string("`") + r.field + "`"), std::string::npos) << r.field << " is not in the docs";
}

std::string FirstFailure(const pb::Message& m) {
  try {
    CheckFieldRanges(m, "", [](const std::string& path, const std::string& value, const std::string& rule) {
      throw InputError(path + " = " + value + ": " + rule);
    });
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Plausible, CheckFieldRangesNamesTheFieldValueAndRule) {
  v1::Scenario s;
  EXPECT_EQ(FirstFailure(s), "");
  s.mutable_collectives()->set_channels(4294967295u);
  EXPECT_EQ(FirstFailure(s), "collectives.channels = 4294967295: must be in [1, 256] channels (e.g. 16)");
  s.Clear();
  s.mutable_workload()->mutable_model()->set_mtp_depth(4294967295u);
  EXPECT_NE(FirstFailure(s).find("workload.model.mtp_depth = 4294967295: must be in [0, 16]"), std::string::npos);
  s.Clear();
  s.mutable_facility()->set_electricity_usd_per_kwh(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(FirstFailure(s), "facility.electricity_usd_per_kwh = nan: must be a finite number");
  s.Clear();
  s.mutable_reliability()->set_gpu_failures_per_hour(1e308);
  EXPECT_NE(FirstFailure(s).find("reliability.gpu_failures_per_hour = 1e+308: outside the plausible range"),
            std::string::npos);
  s.Clear();
  s.mutable_cluster()->mutable_scale_out()->set_nic_bandwidth_gbps(-400);
  EXPECT_NE(FirstFailure(s).find("nic_bandwidth_gbps = -400: must be >= 0"), std::string::npos);
  s.Clear();
  for (int i = 0; i < 9; ++i) s.mutable_cluster()->mutable_scale_out()->add_oversubscription(2);
  EXPECT_EQ(FirstFailure(s), "cluster.scale_out.oversubscription = 9 elements: holds at most 8 elements");
  s.Clear();
  s.mutable_cluster()->mutable_scale_out()->add_oversubscription(std::numeric_limits<double>::infinity());
  EXPECT_EQ(FirstFailure(s), "cluster.scale_out.oversubscription[0] = inf: must be a finite number");  // element 0
  s.Clear();
  s.set_name(std::string(5000, 'x'));
  EXPECT_NE(FirstFailure(s).find("is 5000 bytes long: at most 4096"), std::string::npos);
  // 0 keeps its meaning (the default) and is never checked against a range.
  s.Clear();
  s.mutable_cluster()->mutable_scale_out()->set_nic_bandwidth_gbps(0);
  s.mutable_workload()->mutable_parallelism()->set_tp(0);
  EXPECT_EQ(FirstFailure(s), "");
}

std::string ReportedFailure(const pb::Message& m) {
  try {
    CheckReportedNumbers(m, "s.textproto", "result");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Plausible, ReportedNumbersAreFiniteFractionsAtMostOneAndStepsPlausible) {
  v1::RunResult r;
  r.set_step_time_s(2.5);
  r.set_mfu(0.41);
  r.mutable_projection()->set_wall_clock_days(30);
  EXPECT_EQ(ReportedFailure(r), "");
  r.set_mfu(115896744.17);
  EXPECT_NE(ReportedFailure(r).find("s.textproto: result.mfu = 1.159e+10%: above 100% (impossible)"), std::string::npos)
      << ReportedFailure(r);
  r.set_mfu(0.4);
  r.mutable_projection()->set_cost_usd(std::numeric_limits<double>::infinity());
  EXPECT_NE(ReportedFailure(r).find("result.projection.cost_usd = inf: not a finite number"), std::string::npos);
  EXPECT_NE(ReportedFailure(r).find("facility.electricity_usd_per_kwh"), std::string::npos);
  r.mutable_projection()->set_cost_usd(1);
  r.set_step_time_s(1e10);
  EXPECT_NE(ReportedFailure(r).find("result.step_time_s = 1e+10: a step longer than 1e+07 s"), std::string::npos);
  r.set_step_time_s(1);
  r.add_link_usage()->set_max_utilization(1.5);
  EXPECT_NE(ReportedFailure(r).find("result.link_usage[0].max_utilization = 150%"), std::string::npos);
  // The embedded scenario is the input, not a reported number.
  r.clear_link_usage();
  r.mutable_scenario()->mutable_facility()->set_pue(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(ReportedFailure(r), "");
  EXPECT_THROW(CheckReportedNumber(-1, "time_s", "coll", "row"), InputError);
  EXPECT_NO_THROW(CheckReportedNumber(1e-6, "time_s", "coll", "row"));
  EXPECT_NO_THROW(CheckReportedNumber(-0.01, "step_time_change", "run", "result"));  // a relative change
}

}  // namespace
}  // namespace clustersim
