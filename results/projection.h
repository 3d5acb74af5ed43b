// Projection of a simulated step to a whole training run: wall-clock time, GPU-hours, energy, operational and
// embodied carbon, cost (docs/energy-carbon.md, "Projection").
//
//   steps            = training_tokens / tokens_per_step          (fractional: the last step may be partial)
//   wall_s           = steps x step_time_s
//   gpu_hours        = num_gpus x wall_s / 3600
//   energy_mwh       = it_avg_w x PUE x wall_s / 3.6e9
//   operational t    = energy_mwh x grid_g_per_kwh / 1000
//   lifetime share   = min(1, wall_s / (amortization_years x 365.25 x 86400))
//   embodied t       = (num_gpus x embodied_kgco2e_per_gpu + network_embodied_kgco2e) x share / 1000
//   cost             = gpu_hours x gpu_hour_usd                                     if gpu_hour_usd > 0 (rental,
//                      electricity included), else
//                      (num_gpus x price_usd_per_gpu + network_price_usd) x share + energy_kwh x usd_per_kwh
//                      + maintenance_usd_per_year x wall years
//
// Facility defaults for zero fields: pue 1.2, grid region "world" (480 gCO2e/kWh), electricity 0.10 USD/kWh,
// amortization 5 years. Grid intensities are the 2023 lifecycle values of Ember / Energy Institute via Our World in
// Data (cases.yaml energy.grid_gco2_per_kwh_2023). Region names are case-insensitive; spaces and '-' read as '_'.
//
// Units: seconds, watts, MWh, tCO2e, USD. No state; all functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "results.pb.h"
#include "scenario.pb.h"

namespace clustersim {

struct FacilityDefaults {
  static constexpr double kPue = 1.2;
  static constexpr const char* kGridRegion = "world";
  static constexpr double kElectricityUsdPerKwh = 0.10;
  static constexpr double kAmortizationYears = 5;
};

// Known grid regions, sorted, and their intensity (gCO2e/kWh); nullopt for an unknown name.
std::vector<std::string> GridRegionNames();
std::optional<double> FindGridRegion(std::string_view region);

// The facility with every zero field replaced by its default and the grid intensity resolved
// (grid_carbon_g_per_kwh overrides grid_region). Throws InputError naming "facility.<field>": unknown region
// (listing the known ones), pue < 1, negative intensity/price/rate/years/tokens.
v1::Facility ResolveFacility(const v1::Facility& facility, const std::string& file);

struct ProjectionInputs {
  double step_time_s = 0;              // > 0
  double tokens_per_step = 0;          // > 0
  uint64_t num_gpus = 0;               // >= 1
  double it_avg_w = 0;                 // average IT power of the cluster (PowerSummary.it_total_avg_w), >= 0
  v1::Facility facility;               // as given in the scenario; resolved inside
  double embodied_kgco2e_per_gpu = 0;  // Accelerator.embodied_kgco2e (0 = unknown, not counted)
  double price_usd_per_gpu = 0;        // Accelerator.price_usd (0 = unknown, not counted)
  double network_embodied_kgco2e = 0;  // whole network (switches x switch_embodied_kgco2e)
  double network_price_usd = 0;        // whole network (and any other capex beside the accelerators: hosts, facility)
  double maintenance_usd_per_year = 0;  // added for the run's duration
};

// The run projection (formulas above). facility.training_tokens = 0 means no projection: returns an empty
// Projection. Throws InputError for facility fields (see ResolveFacility) and SimulationError for broken inputs.
v1::Projection Project(const ProjectionInputs& inputs, const std::string& file);

// Capital cost, operating cost and total cost of ownership of the cluster (docs/energy-carbon.md, "Cost"):
//   capex   = the lines of `network_parts` (TopologySummary.parts: per tier, scale-up included) + accelerators
//             (num_gpus x price_usd, which the catalog gives with the accelerator's share of its server) + hosts
//             (num_gpus x host_price_usd when the host is priced apart) + facility (capex_usd_per_mw x peak MW)
//   opex    = energy (facility_avg_w, all year, x electricity_usd_per_kwh) + maintenance_fraction_per_year x the
//             hardware capex (everything but the facility), per year
//   TCO     = capex + amortization_years x opex
//   rental  (facility.gpu_hour_usd > 0): no capex; opex = num_gpus x 8,766 h x gpu_hour_usd (power included).
// Lines with a zero price are listed with a note (included elsewhere, or not counted). A list of parts from any
// tier plugs in through `network_parts` (its tier names are kept; "scale_up" lines add up to scale_up_usd).
struct CostInputs {
  uint64_t num_gpus = 0;
  double price_usd_per_gpu = 0;       // Accelerator.price_usd
  double host_price_usd_per_gpu = 0;  // Accelerator.host_price_usd (0 = included in price_usd)
  std::vector<v1::CostItem> network_parts;
  // Of price_usd_per_gpu x num_gpus, the scale-up fabric listed in network_parts (TopologySummary.scale_up_cost_usd
  // when scale_up_in_accelerator): subtracted from the accelerators' line so that it is counted once.
  double scale_up_in_accelerator_usd = 0;
  double facility_avg_w = 0;   // PowerSummary.facility_avg_w
  double facility_peak_w = 0;  // PowerSummary.facility_peak_w (the power to provision)
  v1::Facility facility;       // resolved (ResolveFacility)
  double run_usd = 0;          // the run's amortised cost (Projection.cost_usd), 0 without a projection
};
v1::CostSummary RollUpCost(const CostInputs& inputs);

// Carbon from device-hours, the way model cards and Patterson et al. (2021) compute it:
//   energy_mwh = device_hours x avg_power_w x pue / 1e6,   tco2e = energy_mwh x kg_per_kwh.
// The Llama 2 card uses GPU-hours x TDP with an intensity that already folds PUE in (pue = 1).
struct DeviceHoursCarbon {
  double energy_mwh = 0;
  double tco2e = 0;
};
DeviceHoursCarbon CarbonFromDeviceHours(double device_hours, double avg_power_w, double pue, double kg_per_kwh);

}  // namespace clustersim
