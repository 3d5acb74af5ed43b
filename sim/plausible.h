// Plausible ranges of dimensioned inputs, to catch values given in the wrong unit (a NIC speed in bit/s, a grid
// intensity in kg/kWh, a latency in microseconds). A value outside its range is bad input: the caller fails with the
// field, the value and the rule ImplausibleRule returns. 0 ("not set, take the default") is never checked here.
//
// The ranges are wide on purpose (two to three orders of magnitude around today's hardware);
// docs/scenario-format.md ("Plausible ranges") lists them.
#pragma once

#include <string>

namespace clustersim {

struct PlausibleRange {
  double lo;            // smallest plausible value, in the field's unit
  double hi;            // largest plausible value
  const char* unit;     // the field's unit, as written in messages ("Gb/s per NIC")
  const char* example;  // a typical value with its meaning ("400 for a 400G NIC")
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
inline constexpr PlausibleRange kPartW{1e-3, 1e5, "W", "750 for a 64-port switch, 15 for a 400G optic, 70 idle for an H100"};
inline constexpr PlausibleRange kGridGPerKwh{1, 3000, "gCO2e/kWh", "390 for the US average"};
inline constexpr PlausibleRange kUsdPerKwh{1e-4, 5, "USD/kWh", "0.08"};
inline constexpr PlausibleRange kGpuHourUsd{1e-3, 1000, "USD per GPU-hour", "2.5"};
}  // namespace plausible

}  // namespace clustersim
