// Chrome trace-event JSON; see trace.h.
#include "results/trace.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <tuple>

#include "common/error.h"

namespace clustersim::results {

// JSON string literal (with quotes): escapes quotes, backslashes and control characters; other bytes pass through.
void AppendJsonString(std::string& out, const std::string& s) {
  out += '"';
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        else
          out += c;
    }
  }
  out += '"';
}

namespace {

// Whole nanoseconds. Start and end of an event are rounded separately and the duration is their difference, so events
// that touch in the timeline still touch (and never overlap by a rounding step) in the trace.
int64_t Nanos(double s) { return std::llround(s * 1e9); }

// Microseconds with nanosecond resolution from whole nanoseconds (>= 0), printed exactly.
std::string Micros(int64_t ns) { return fmt::format("{}.{:03}", ns / 1000, ns % 1000); }

}  // namespace

std::string JsonNumber(double v) { return std::isfinite(v) ? fmt::format("{:.9g}", v) : "null"; }

std::string TraceMicros(double s) { return Micros(std::max<int64_t>(0, Nanos(s))); }

void AppendMetadata(std::string& out, const char* name, uint32_t pid, int tid, const char* key,
                    const std::string& value_json) {
  out += fmt::format("{{\"name\":\"{}\",\"ph\":\"M\",\"pid\":{}", name, pid);
  if (tid >= 0) out += fmt::format(",\"tid\":{}", tid);
  out += fmt::format(",\"args\":{{\"{}\":{}}}}},\n", key, value_json);
}

void ValidateTimeline(std::span<const TraceEvent> events, const std::string& source) {
  for (size_t i = 0; i < events.size(); ++i) {
    const TraceEvent& e = events[i];
    const std::string where = fmt::format("{}: timeline[{}]", source, i);
    if (!std::isfinite(e.start_s) || e.start_s < 0)
      throw InputError(fmt::format("{}.start_s = {}: must be a finite time >= 0", where, e.start_s));
    if (!std::isfinite(e.duration_s) || e.duration_s < 0)
      throw InputError(fmt::format("{}.duration_s = {}: must be a finite duration >= 0", where, e.duration_s));
    if (e.track > 1)
      throw InputError(fmt::format("{}.track = {}: must be 0 (compute) or 1 (communication)", where, e.track));
  }
}

std::vector<TraceEvent> SortedTimeline(std::span<const TraceEvent> events) {
  std::vector<TraceEvent> v(events.begin(), events.end());
  std::sort(v.begin(), v.end(), [](const TraceEvent& a, const TraceEvent& b) {
    return std::tie(a.stage, a.track, a.start_s, b.duration_s, a.name, a.category) <
           std::tie(b.stage, b.track, b.start_s, a.duration_s, b.name, b.category);
  });
  return v;
}

std::string ChromeTrace(std::span<const TraceEvent> events, const v1::RunResult& r) {
  ValidateTimeline(events, "timeline");
  const std::vector<TraceEvent> sorted = SortedTimeline(events);
  std::set<uint32_t> stages;
  for (const TraceEvent& e : sorted) stages.insert(e.stage);
  for (const v1::StageTimeline& st : r.stages()) stages.insert(st.stage());

  std::string out;
  out.reserve(256 + sorted.size() * 120);
  out += "{\"traceEvents\":[\n";
  for (const uint32_t s : stages) {
    const uint32_t pid = s + 1;
    AppendMetadata(out, "process_name", pid, -1, "name", fmt::format("\"Stage {}\"", s));
    AppendMetadata(out, "process_sort_index", pid, -1, "sort_index", std::to_string(s));
    AppendMetadata(out, "thread_name", pid, 1, "name", "\"compute\"");
    AppendMetadata(out, "thread_sort_index", pid, 1, "sort_index", "0");
    AppendMetadata(out, "thread_name", pid, 2, "name", "\"communication\"");
    AppendMetadata(out, "thread_sort_index", pid, 2, "sort_index", "1");
  }
  int64_t prev_end = 0;  // end of the previous event on the same track, ns
  for (size_t i = 0; i < sorted.size(); ++i) {
    const TraceEvent& e = sorted[i];
    const bool same_track = i > 0 && sorted[i - 1].stage == e.stage && sorted[i - 1].track == e.track;
    int64_t start = Nanos(e.start_s);
    int64_t end = Nanos(e.start_s + e.duration_s);
    // An event that touches the previous one may land a nanosecond early after rounding: snap it to the end.
    if (same_track && start < prev_end && prev_end - start <= 1) start = prev_end;
    end = std::max(end, start);
    prev_end = same_track ? std::max(prev_end, end) : end;
    out += "{\"name\":";
    AppendJsonString(out, e.name);
    out += ",\"cat\":";
    AppendJsonString(out, e.category);
    out += fmt::format(",\"ph\":\"X\",\"pid\":{},\"tid\":{},\"ts\":{},\"dur\":{}}},\n", e.stage + 1, e.track + 1,
                       Micros(start), Micros(end - start));
  }
  if (!r.power_timeline().empty()) {
    const uint32_t pid = stages.empty() ? 1 : *stages.rbegin() + 2;
    AppendMetadata(out, "process_name", pid, -1, "name", "\"Cluster power\"");
    AppendMetadata(out, "process_sort_index", pid, -1, "sort_index", std::to_string(pid));
    for (const v1::PowerSample& p : r.power_timeline())
      if (std::isfinite(p.t_s()) && p.t_s() >= 0)
        out += fmt::format(
            "{{\"name\":\"power (MW)\",\"ph\":\"C\",\"pid\":{},\"ts\":{},\"args\":{{\"facility\":{},\"gpus\":{},"
            "\"hosts\":{},\"network\":{}}}}},\n",
            pid, Micros(Nanos(p.t_s())), JsonNumber(p.facility_w() / 1e6), JsonNumber(p.gpus_w() / 1e6),
            JsonNumber(p.hosts_w() / 1e6), JsonNumber(p.network_w() / 1e6));
  }
  if (out.ends_with(",\n")) out.erase(out.size() - 2, 1);  // no trailing comma after the last event
  out += "],\n\"displayTimeUnit\":\"ms\",\n\"otherData\":{\"scenario\":";
  AppendJsonString(out, r.scenario().name());
  out += ",\"clustersim_version\":";
  AppendJsonString(out, r.clustersim_version());
  out += fmt::format(",\"step_time_s\":{},\"time_origin\":\"start of the step\"}}}}\n", JsonNumber(r.step_time_s()));
  return out;
}

}  // namespace clustersim::results
