// Side-by-side comparison of results (`clustersim compare A.json B.json ...`) and the metric table the HTML
// report's summary shares with it.
//
// Values are formatted as in SummaryText (report.h): times in s / ms / us, power in W / kW / MW, energy in kJ / kWh /
// MWh, MFU in percent. Ratios are computed from the unrounded values, so they do not depend on the display units.
#pragma once

#include <string>
#include <vector>

#include "results.pb.h"
#include "results/report.h"

namespace clustersim::results {

// One row of the comparison: a metric across all results.
struct Metric {
  std::string section;            // "Scenario", "Step time", "Throughput", "Power and energy", ...
  std::string label;              // "Step time", "Exposed TP comm", ...
  std::vector<std::string> text;  // formatted value per result (same order as the results)
  std::vector<double> value;      // raw value per result (SI units as in results.proto); empty for text rows
  bool indent = false;            // a part of the row above (breakdown terms)
};

// The metrics of CompareTable, one entry per row, in display order. Breakdown terms that are zero in every result
// are left out; the projection section appears only when some result has a training-token budget.
std::vector<Metric> CompareMetrics(const std::vector<v1::RunResult>& results);

// value[i] / value[0] as "0.42x" (two decimals; two significant digits below 0.1, "0.017x"); "-" for text rows, when i
// is out of range, or when value[0] is 0 (and "1.00x" if both are 0).
std::string RatioText(const Metric& m, size_t i);

// Plain-text table: first one line per result naming its scenario ("A: <name>"), then one row per metric, one column
// per result headed by its label, then one ratio column per result after the first ("B/A"). Text cells are cut to 40
// columns. `labels` must be empty (labels "A", "B", ... are used) or hold one label per result.
// Throws InputError if `results` is empty or the label count does not match.
std::string CompareTable(const std::vector<v1::RunResult>& results, const std::vector<std::string>& labels);

// Default labels "A", "B", ..., "Z", then "#27", "#28", ...
std::vector<std::string> DefaultLabels(size_t n);

// Display formats shared with SummaryText (FormatSeconds, FormatPower, FormatEnergy are in results/report.h).
std::string FormatUsd(double usd);
// Below 100: three significant digits ("72", "0.25"); from 100: a whole number with thousands separators
// ("5,715,214").
std::string FormatCount(double v);
// Token counts: "15 T", "2.5 B", "300 M", below a million as FormatCount.
std::string FormatTokens(double n);
// FLOP counts as planners write them: three significant digits and a plain exponent, "1e26", "4.82e21".
std::string FormatFlops(double flops);

}  // namespace clustersim::results
