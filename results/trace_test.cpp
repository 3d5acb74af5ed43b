#include "results/trace.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <utility>

#include "common/error.h"

namespace clustersim::results {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

// Two stages: compute stream with compute / TP / wait intervals back to back, and a DP collective on the
// communication stream overlapping compute.
std::vector<TraceEvent> SampleEvents() {
  return {
      {0, "forward", "compute", 0.0, 0.010, 0},
      {0, "tp comm (forward)", "tp", 0.010, 0.002, 0},
      {0, "backward", "compute", 0.012, 0.020, 0},
      {0, "dp comm (grad sync)", "dp", 0.015, 0.010, 1},
      {1, "pipeline wait (forward)", "wait", 0.0, 0.011, 0},
      {1, "forward", "compute", 0.011, 0.010, 0},
      {1, "async comm wait (grad sync)", "wait", 0.021, 0.004, 0},
  };
}

v1::RunResult SampleResult() {
  v1::RunResult r;
  r.set_clustersim_version("test");
  r.mutable_scenario()->set_name("trace \"test\"");
  r.set_step_time_s(0.032);
  for (uint32_t s = 0; s < 2; ++s) r.add_stages()->set_stage(s);
  for (int i = 0; i < 4; ++i) {
    v1::PowerSample* p = r.add_power_timeline();
    p->set_t_s(0.008 * i);
    p->set_facility_w(2e6 + 1e5 * i);
    p->set_gpus_w(1e6);
    p->set_hosts_w(5e5);
    p->set_network_w(1e5);
  }
  return r;
}

Struct Parse(const std::string& json) {
  Struct s;
  const auto st = google::protobuf::util::JsonStringToMessage(json, &s);
  EXPECT_TRUE(st.ok()) << st.message() << "\n" << json.substr(0, 2000);
  return s;
}

const Value& Field(const Struct& s, const std::string& key) {
  static const Value kNull;
  const auto it = s.fields().find(key);
  return it == s.fields().end() ? kNull : it->second;
}

TEST(ChromeTrace, ParsesAsJsonWithTopLevelFields) {
  const Struct root = Parse(ChromeTrace(SampleEvents(), SampleResult()));
  EXPECT_EQ(Field(root, "displayTimeUnit").string_value(), "ms");
  ASSERT_TRUE(Field(root, "traceEvents").has_list_value());
  const Struct& other = Field(root, "otherData").struct_value();
  EXPECT_EQ(Field(other, "scenario").string_value(), "trace \"test\"");
  EXPECT_DOUBLE_EQ(Field(other, "step_time_s").number_value(), 0.032);
}

TEST(ChromeTrace, CompleteEventsAreValidAndDoNotOverlapOnATrack) {
  const std::vector<TraceEvent> in = SampleEvents();
  const Struct root = Parse(ChromeTrace(in, SampleResult()));
  std::map<std::pair<int, int>, std::vector<std::pair<double, double>>> tracks;  // (pid, tid) -> (ts, dur)
  size_t complete = 0;
  for (const Value& v : Field(root, "traceEvents").list_value().values()) {
    const Struct& e = v.struct_value();
    if (Field(e, "ph").string_value() != "X") continue;
    ++complete;
    const double ts = Field(e, "ts").number_value();
    const double dur = Field(e, "dur").number_value();
    EXPECT_GE(ts, 0);
    EXPECT_GE(dur, 0);
    EXPECT_FALSE(Field(e, "name").string_value().empty());
    EXPECT_FALSE(Field(e, "cat").string_value().empty());
    const int pid = static_cast<int>(Field(e, "pid").number_value());
    const int tid = static_cast<int>(Field(e, "tid").number_value());
    EXPECT_GE(pid, 1) << "pid 0 is the idle process in Perfetto";
    EXPECT_TRUE(tid == 1 || tid == 2) << tid;
    tracks[{pid, tid}].emplace_back(ts, dur);
  }
  EXPECT_EQ(complete, in.size());
  EXPECT_EQ(tracks.size(), 3u);  // stage 0 compute + communication, stage 1 compute
  for (const auto& [key, evs] : tracks) {
    for (size_t i = 1; i < evs.size(); ++i) {
      EXPECT_LE(evs[i - 1].first, evs[i].first) << "events of a track are in start order";
      // Compare in whole nanoseconds: the trace prints exact nanosecond multiples.
      EXPECT_LE(std::llround(evs[i - 1].first * 1e3) + std::llround(evs[i - 1].second * 1e3),
                std::llround(evs[i].first * 1e3))
          << "events of a track overlap";
    }
  }
}

// Intervals as the simulation records them: each starts where the previous ended, at times that are not whole
// nanoseconds. Rounding start and duration separately would make neighbours overlap by a nanosecond, which Perfetto
// rejects (slices on a track must nest).
TEST(ChromeTrace, BackToBackEventsNeverOverlapAfterRounding) {
  std::vector<TraceEvent> in;
  double t = 0.0726498884;
  for (int i = 0; i < 2000; ++i) {
    const double d = (i % 3 == 0 ? 346.2665 : 1178.9671) * 1e-6 + i * 1.7e-13;
    in.push_back({0, i % 2 ? "tp comm (forward)" : "forward", i % 2 ? "tp" : "compute", t, d, 0});
    t += d;
  }
  const Struct root = Parse(ChromeTrace(in, v1::RunResult()));
  int64_t prev_end = -1;
  size_t n = 0;
  for (const Value& v : Field(root, "traceEvents").list_value().values()) {
    const Struct& e = v.struct_value();
    if (Field(e, "ph").string_value() != "X") continue;
    const int64_t ts = std::llround(Field(e, "ts").number_value() * 1e3);
    const int64_t dur = std::llround(Field(e, "dur").number_value() * 1e3);
    if (prev_end >= 0) {
      EXPECT_EQ(ts, prev_end) << "event " << n << " must start where the previous one ended";
    }
    prev_end = ts + dur;
    ++n;
  }
  EXPECT_EQ(n, in.size());
}

TEST(ChromeTrace, TimesAreMicroseconds) {
  const std::vector<TraceEvent> in = {{3, "forward", "compute", 0.0125, 0.0005, 0}};
  const Struct root = Parse(ChromeTrace(in, v1::RunResult()));
  bool found = false;
  for (const Value& v : Field(root, "traceEvents").list_value().values()) {
    const Struct& e = v.struct_value();
    if (Field(e, "ph").string_value() != "X") continue;
    found = true;
    EXPECT_DOUBLE_EQ(Field(e, "ts").number_value(), 12500);
    EXPECT_DOUBLE_EQ(Field(e, "dur").number_value(), 500);
    EXPECT_EQ(Field(e, "pid").number_value(), 4);  // stage 3
    EXPECT_EQ(Field(e, "tid").number_value(), 1);  // compute stream
  }
  EXPECT_TRUE(found);
}

TEST(ChromeTrace, NamesStagesAndStreams) {
  const Struct root = Parse(ChromeTrace(SampleEvents(), SampleResult()));
  std::map<int, std::string> processes;
  std::map<std::pair<int, int>, std::string> threads;
  for (const Value& v : Field(root, "traceEvents").list_value().values()) {
    const Struct& e = v.struct_value();
    if (Field(e, "ph").string_value() != "M") continue;
    const int pid = static_cast<int>(Field(e, "pid").number_value());
    const std::string name = Field(Field(e, "args").struct_value(), "name").string_value();
    if (Field(e, "name").string_value() == "process_name") processes[pid] = name;
    if (Field(e, "name").string_value() == "thread_name")
      threads[{pid, static_cast<int>(Field(e, "tid").number_value())}] = name;
  }
  EXPECT_EQ(processes[1], "Stage 0");
  EXPECT_EQ(processes[2], "Stage 1");
  EXPECT_EQ(processes[3], "Cluster power");
  EXPECT_EQ((threads[{1, 1}]), "compute");
  EXPECT_EQ((threads[{1, 2}]), "communication");
  EXPECT_EQ((threads[{2, 1}]), "compute");
}

TEST(ChromeTrace, PowerCountersInMegawatts) {
  const Struct root = Parse(ChromeTrace(SampleEvents(), SampleResult()));
  std::vector<double> facility;
  for (const Value& v : Field(root, "traceEvents").list_value().values()) {
    const Struct& e = v.struct_value();
    if (Field(e, "ph").string_value() != "C") continue;
    EXPECT_EQ(Field(e, "pid").number_value(), 3);
    facility.push_back(Field(Field(e, "args").struct_value(), "facility").number_value());
  }
  ASSERT_EQ(facility.size(), 4u);
  EXPECT_DOUBLE_EQ(facility[0], 2.0);
  EXPECT_DOUBLE_EQ(facility[3], 2.3);
}

TEST(ChromeTrace, DeterministicWhateverTheInputOrder) {
  std::vector<TraceEvent> a = SampleEvents();
  std::vector<TraceEvent> b(a.rbegin(), a.rend());
  std::rotate(b.begin(), b.begin() + 2, b.end());
  EXPECT_EQ(ChromeTrace(a, SampleResult()), ChromeTrace(b, SampleResult()));
  const std::vector<TraceEvent> sorted = SortedTimeline(b);
  for (size_t i = 1; i < sorted.size(); ++i)
    EXPECT_LE(std::tie(sorted[i - 1].stage, sorted[i - 1].track, sorted[i - 1].start_s),
              std::tie(sorted[i].stage, sorted[i].track, sorted[i].start_s));
}

TEST(ChromeTrace, EscapesNames) {
  const std::string nasty = "a \"quoted\" \\ name\nwith\ttabs \x01 and UTF-8 \xC2\xB5s";
  const std::vector<TraceEvent> in = {{0, nasty, "compute", 0, 1e-3, 0}};
  const Struct root = Parse(ChromeTrace(in, v1::RunResult()));
  bool found = false;
  for (const Value& v : Field(root, "traceEvents").list_value().values())
    if (Field(v.struct_value(), "ph").string_value() == "X") {
      EXPECT_EQ(Field(v.struct_value(), "name").string_value(), nasty);
      found = true;
    }
  EXPECT_TRUE(found);
}

TEST(ChromeTrace, EmptyTimelineAndNonFiniteStepTimeStayValidJson) {
  v1::RunResult r;
  r.set_step_time_s(std::numeric_limits<double>::infinity());
  const Struct root = Parse(ChromeTrace({}, r));
  EXPECT_EQ(Field(root, "traceEvents").list_value().values_size(), 0);
  EXPECT_TRUE(Field(Field(root, "otherData").struct_value(), "step_time_s").has_null_value());
}

TEST(ValidateTimeline, RejectsBadEventsNamingTheField) {
  auto message = [](TraceEvent e) {
    try {
      ValidateTimeline(std::vector<TraceEvent>{{0, "ok", "compute", 0, 1, 0}, e}, "run.json");
    } catch (const InputError& err) {
      return std::string(err.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({0, "x", "compute", 0, -1, 0}).find("run.json: timeline[1].duration_s = -1"), std::string::npos);
  EXPECT_NE(message({0, "x", "compute", std::nan(""), 1, 0}).find("timeline[1].start_s"), std::string::npos);
  EXPECT_NE(message({0, "x", "compute", 0, 1, 2}).find("timeline[1].track = 2"), std::string::npos);
  EXPECT_EQ(message({0, "x", "compute", 0, 0, 1}), "no error");
  EXPECT_THROW(ChromeTrace(std::vector<TraceEvent>{{0, "x", "compute", -1, 1, 0}}, v1::RunResult()), InputError);
}

// A stand-in for the generated v1::TraceEvent: same accessors.
struct FakeEventMessage {
  uint32_t stage() const { return 2; }
  const std::string& name() const { return name_; }
  const std::string& category() const { return category_; }
  double start_s() const { return 0.5; }
  double duration_s() const { return 0.25; }
  uint32_t track() const { return 1; }
  std::string name_ = "dp comm (grad sync)";
  std::string category_ = "dp";
};

TEST(TraceEventsOf, CopiesMessageFields) {
  const std::vector<FakeEventMessage> field(3);
  const std::vector<TraceEvent> out = TraceEventsOf(field);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[1].stage, 2u);
  EXPECT_EQ(out[1].name, "dp comm (grad sync)");
  EXPECT_EQ(out[1].category, "dp");
  EXPECT_DOUBLE_EQ(out[1].start_s, 0.5);
  EXPECT_DOUBLE_EQ(out[1].duration_s, 0.25);
  EXPECT_EQ(out[1].track, 1u);
}

}  // namespace
}  // namespace clustersim::results
