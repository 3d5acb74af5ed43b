// Timeline of the simulated step as a Chrome trace-event JSON file, which ui.perfetto.dev and chrome://tracing open.
//
// Input: the per-stage timeline the simulation records for each pipeline stage's representative rank (one
// TraceEvent per interval; RunResult.timeline in result.json). Output layout:
//   - one trace "process" per pipeline stage: pid = stage + 1 (Perfetto treats pid 0 as the kernel's idle process),
//     named "Stage N" (N 0-based) and sorted by stage;
//   - two "threads" per stage: tid 1 = "compute" (track 0, the compute stream) and tid 2 = "communication"
//     (track 1, asynchronous collectives that may overlap compute);
//   - one complete ("X") event per interval, ts and dur in microseconds from the start of the step;
//   - the facility / GPU / host / network power of RunResult.power_timeline as counter ("C") events, in MW, on an
//     extra process "Cluster power" after the stages;
//   - "displayTimeUnit": "ms" and "otherData" with the scenario name, version and step time.
// Output is deterministic: events are sorted by (stage, track, start, longer first, name) whatever the input order,
// and times are whole nanoseconds printed exactly (ts and ts + dur of an event are its start and end rounded to the
// nanosecond, so back-to-back events stay back to back and events of a track never overlap by a rounding step).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "results.pb.h"

namespace clustersim::results {

// One interval of a stage's timeline. Mirrors the proto message clustersim.v1.TraceEvent.
struct TraceEvent {
  uint32_t stage = 0;     // pipeline stage, 0-based
  std::string name;       // "forward", "tp comm (backward)", "pipeline wait (forward)", ...
  std::string category;   // "compute", "tp", "cp", "pp", "dp", "ep", "wait"
  double start_s = 0;     // from the start of the step, >= 0
  double duration_s = 0;  // >= 0
  uint32_t track = 0;     // 0 = compute stream, 1 = communication stream
};

// Copies a repeated field of messages with TraceEvent's accessors (stage(), name(), category(), start_s(),
// duration_s(), track()), e.g. RunResult.timeline, into plain structs.
template <class Repeated>
std::vector<TraceEvent> TraceEventsOf(const Repeated& timeline) {
  std::vector<TraceEvent> out;
  out.reserve(static_cast<size_t>(timeline.size()));
  for (const auto& e : timeline)
    out.push_back(
        {e.stage(), std::string(e.name()), std::string(e.category()), e.start_s(), e.duration_s(), e.track()});
  return out;
}

// Throws InputError naming the first event whose times are not finite, negative, or whose track is not 0 or 1.
// `source` names where the events came from (a file name) for the message.
void ValidateTimeline(std::span<const TraceEvent> events, const std::string& source);

// The trace JSON described above; `r` supplies the metadata and the power counters. Validates `events` first
// (ValidateTimeline with source "timeline").
std::string ChromeTrace(std::span<const TraceEvent> events, const v1::RunResult& r);

// The events in the trace's order: by stage, track, start, longer first, then name.
std::vector<TraceEvent> SortedTimeline(std::span<const TraceEvent> events);

// Trace-event JSON pieces, shared with the serving trace (serving_report.h): a JSON string literal (quotes, escapes
// of quotes, backslashes and control characters), a number (null for NaN and infinities), seconds as microseconds
// with whole-nanosecond resolution, and a metadata ("M") event (tid < 0: a process-level one) with one argument.
void AppendJsonString(std::string& out, const std::string& s);
std::string JsonNumber(double v);
std::string TraceMicros(double seconds);
void AppendMetadata(std::string& out, const char* name, uint32_t pid, int tid, const char* key,
                    const std::string& value_json);

}  // namespace clustersim::results
