// Human and machine-readable renderings of a RunResult: the terminal summary, JSON (Protobuf's JSON mapping of
// results.proto, so it round-trips), and the run's output files, written as one set (results/file_set.h).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "results.pb.h"
#include "results/file_set.h"

namespace clustersim::results {

// Display formats used by the summary, the compare table and the HTML report: "2.936 s" / "12.300 ms" / "5.0 us",
// "11.79 MW" / "2.50 kW" / "540 W", "8.60 MWh" / "9.62 kWh" / "12.3 kJ".
std::string FormatSeconds(double s);
std::string FormatPower(double w);
std::string FormatEnergy(double j);

// The network's capex, power and embodied carbon per tier (TopologySummary.tiers), one line per tier with `indent`
// before it; empty when the topology has no tiers. Says whether the scale-up tier is carved out of the accelerator.
std::string NetworkTierLines(const v1::TopologySummary& t, const std::string& indent);

// Short summary for the terminal: step time, breakdown, throughput, MFU, power, energy, memory (a serving result:
// ServeSummaryText).
std::string SummaryText(const v1::RunResult& r);
// Pretty-printed JSON of any message with proto field names and every primitive field; deterministic. `what` names
// the message in the SimulationError thrown if it cannot be rendered.
std::string MessageJson(const google::protobuf::Message& m, const std::string& what);
// MessageJson of a run result.
std::string ToJson(const v1::RunResult& r);
// Parses JSON written by ToJson (unknown fields rejected). Throws InputError naming `file`.
v1::RunResult FromJson(const std::string& json, const std::string& file);
// Creates `dir` if needed and writes result.json and summary.txt there (one WriteFilesAtomic set), plus `extra`
// (file name within `dir`, content) in the same set.
void WriteRunOutputs(const std::string& dir, const v1::RunResult& r,
                     const std::vector<std::pair<std::string, std::string>>& extra = {});

}  // namespace clustersim::results
