// Ranges of every numeric input, and the one rule for every number clustersim reports.
//
// Inputs: every numeric field of the scenario (and of the validation case) has a range, keyed by its schema name
// ("ScaleOut.nic_bandwidth_gbps"), so a field keeps its range wherever its message appears (a scenario, the
// accelerator catalog, a sweep's inline scenario, a validation case). Dimensioned ranges are wide on purpose (two to
// three orders of magnitude around today's hardware) and catch values given in the wrong unit (a NIC speed in bit/s,
// a grid intensity in kg/kWh); counts are bounded so that no product of them overflows and no run outgrows memory.
// CheckFieldRanges walks a message by reflection, so a field added to the schema is checked as soon as it has a
// range, and a unit test fails for a numeric field without one. 0 ("not set, take the default") is never checked
// against a range; NaN and infinities always fail. docs/input-limits.md lists the ranges.
//
// Outputs: CheckReportedNumbers is the rule every command applies before it prints or writes: every number finite,
// fractions (MFU, HFU, utilisation, goodput) within [0, 1], no negative time, power, energy or cost, no step beyond
// kMaxStepTimeS and no run beyond kMaxRunDays. A number that breaks it comes from an implausible input and is
// reported as bad input naming the inputs that feed it.
#pragma once

#include <google/protobuf/message.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace clustersim {

struct PlausibleRange {
  double lo;              // smallest plausible value, in the field's unit
  double hi;              // largest plausible value
  const char* unit;       // the field's unit, as written in messages ("Gb/s per NIC")
  const char* example;    // a typical value with its meaning ("400 for a 400G NIC")
  bool unit_hint = true;  // say "given in another unit?" when off by 1000x (false for counts)
};

// "" when `v` is 0, not finite (other rules report those) or within [r.lo, r.hi]; otherwise the rule to report: the
// unit, the range, an example, and a hint when the value is off by a factor of 1000 or more (another unit).
std::string ImplausibleRule(double v, const PlausibleRange& r);

// The ranges used by the scenario loader and the accelerator catalog.
namespace plausible {
inline constexpr PlausibleRange kNicGbps{1, 1e5, "Gb/s per NIC", "400 for a 400G NIC"};
inline constexpr PlausibleRange kLinkGbytePerS{1, 1e5, "GB/s per direction per GPU", "450 for H100 NVLink"};
inline constexpr PlausibleRange kMemoryGbytePerS{1, 1e6, "GB/s", "3350 for H100 HBM3"};
inline constexpr PlausibleRange kLatencyNs{1, 1e8, "ns", "500 for an NVLink hop"};
inline constexpr PlausibleRange kTflops{1e-3, 1e6, "TFLOP/s (dense)", "989 for H100 BF16"};
inline constexpr PlausibleRange kMemoryGb{1e-3, 1e5, "GB", "80 for an H100"};
// A training accelerator's board power: below 20 W it is a value in kW (tdp_w: 1.2 for a 1.2 kW GB200).
inline constexpr PlausibleRange kDeviceW{20, 1e5, "W", "700 for an H100 SXM; 1.2 kW is 1200"};
inline constexpr PlausibleRange kPartW{1e-3, 1e5, "W",
                                       "750 for a 64-port switch, 15 for a 400G optic, 70 idle for an H100"};
inline constexpr PlausibleRange kGridGPerKwh{1, 3000, "gCO2e/kWh", "390 for the US average"};
inline constexpr PlausibleRange kUsdPerKwh{1e-4, 5, "USD/kWh", "0.08"};
inline constexpr PlausibleRange kGpuHourUsd{1e-3, 1000, "USD per GPU-hour", "2.5"};
}  // namespace plausible

// The range of one numeric field, by schema name: "<Message>.<field>" without the package ("Model.mtp_depth").
struct FieldRange {
  const char* field;
  PlausibleRange range;
  uint32_t max_elements = 0;  // a repeated field: the most elements it may hold (0: not repeated)
};
// Every range, sorted by field name.
std::span<const FieldRange> FieldRanges();
// Whether a field holds a number (an integer or a floating-point type).
bool IsNumericField(const google::protobuf::FieldDescriptor& field);
// The range of a field of a message of the clustersim.v1 package, or nullptr when it has none.
const FieldRange* FindFieldRange(const google::protobuf::FieldDescriptor& field);

// Most layers x micro-batches per pipeline (MTP modules count as layers): every layer of every micro-batch is an
// operation of the simulated step (about 2 KB and 0.2 ms each; docs/input-limits.md).
inline constexpr uint64_t kMaxLayerPasses = uint64_t{1} << 20;

// Longest string any text field of an input may hold (names, descriptions, paths, labels).
inline constexpr size_t kMaxInputStringBytes = 4096;

// Called with the dotted path of the field ("cluster.scale_out.nic_bandwidth_gbps", "accelerator.hbm_gb" under
// `prefix`), the value as text and the rule it breaks; must throw.
using RangeFailure = std::function<void(const std::string& path, const std::string& value, const std::string& rule)>;
// Checks every field set in `msg`, recursively: numbers finite and within their range (0 excepted), repeated fields
// within their element count, strings within kMaxInputStringBytes. Sub-messages named in `skip` (full names, e.g.
// "clustersim.v1.Scenario") are not entered. A numeric field without a range is only checked to be finite.
void CheckFieldRanges(const google::protobuf::Message& msg, const std::string& prefix, const RangeFailure& fail,
                      std::initializer_list<std::string_view> skip = {});

// Every reported step is at most this long (115 days): only implausible inputs give more.
inline constexpr double kMaxStepTimeS = 1e7;
// A projected run is at most this long (27,000 years).
inline constexpr double kMaxRunDays = 1e7;

// The output rule, on any result message (RunResult, PlanSearchResult, GoalPoint, ...), recursively: an embedded
// Scenario (the input) is skipped. Throws InputError "source: <what>.<path> = <value>: <rule>; <the inputs that feed
// it>" for the first number that breaks it.
void CheckReportedNumbers(const google::protobuf::Message& result, const std::string& source, const std::string& what);
// The same rule for one number outside a message (the collective microbenchmark's rows, the Monte-Carlo goodput):
// `name` is the quantity as CheckReportedNumbers names fields ("time_s", "goodput", "busbw_gbyte_per_s").
void CheckReportedNumber(double value, const std::string& name, const std::string& source, const std::string& what);

}  // namespace clustersim
