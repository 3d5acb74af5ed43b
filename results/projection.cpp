#include "results/projection.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "common/error.h"
#include "sim/simulation.h"

namespace clustersim {
namespace {

// Grid carbon intensity in 2023, lifecycle gCO2e per kWh: Ember & Energy Institute via Our World in Data. The first
// fourteen as recorded in /work/shared/validation/cases.yaml (energy.grid_gco2_per_kwh_2023; confidence high except
// united_states, medium); the others read from the same OWID table (grapher/carbon-intensity-electricity, 2023
// column) and, for Norway, Ember's 2023 figure as Statista quotes it (30 g/kWh). Any other place: give the number in
// facility.grid_carbon_g_per_kwh. Sorted by name.
struct Region {
  const char* name;
  double g_per_kwh;
};
constexpr Region kGridRegions[] = {
    {"argentina", 354}, {"australia", 549},     {"austria", 111}, {"bangladesh", 691}, {"belgium", 138},
    {"brazil", 98},     {"bulgaria", 335},      {"canada", 170},  {"chile", 291},      {"china", 582},
    {"colombia", 260},  {"costa_rica", 53},     {"croatia", 205}, {"czechia", 450},    {"denmark", 152},
    {"egypt", 570},     {"estonia", 417},       {"finland", 79},  {"france", 56},      {"germany", 381},
    {"greece", 337},    {"hungary", 204},       {"india", 713},   {"iran", 655},       {"ireland", 291},
    {"norway", 30},     {"united_states", 369}, {"world", 480},
};

std::string NormalizeRegion(std::string_view region) {
  std::string s;
  for (char c : region) {
    const auto u = static_cast<unsigned char>(c);
    s.push_back((c == ' ' || c == '-') ? '_' : static_cast<char>(std::tolower(u)));
  }
  return s;
}

void RequireNonNegative(const std::string& file, const char* field, double v) {
  if (!(v >= 0) || !std::isfinite(v)) {
    throw InputError::Field(file, 0, std::string("facility.") + field, fmt::format("{}", v),
                            "must be a finite number >= 0");
  }
}

constexpr double kSecondsPerYear = 365.25 * 86400;

}  // namespace

std::vector<std::string> GridRegionNames() {
  std::vector<std::string> names;
  for (const Region& r : kGridRegions) names.emplace_back(r.name);
  return names;
}

std::optional<double> FindGridRegion(std::string_view region) {
  const std::string key = NormalizeRegion(region);
  for (const Region& r : kGridRegions) {
    if (key == r.name) return r.g_per_kwh;
  }
  return std::nullopt;
}

v1::Facility ResolveFacility(const v1::Facility& in, const std::string& file) {
  v1::Facility f = in;
  if (f.pue() == 0) f.set_pue(FacilityDefaults::kPue);
  if (!(f.pue() >= 1) || !std::isfinite(f.pue())) {
    throw InputError::Field(file, 0, "facility.pue", fmt::format("{}", f.pue()), "must be >= 1");
  }
  RequireNonNegative(file, "grid_carbon_g_per_kwh", f.grid_carbon_g_per_kwh());
  RequireNonNegative(file, "grid_intensity_g_per_kwh", f.grid_intensity_g_per_kwh());
  if (f.grid_intensity_g_per_kwh() > 0) {
    if (f.grid_carbon_g_per_kwh() > 0 && f.grid_carbon_g_per_kwh() != f.grid_intensity_g_per_kwh())
      throw InputError::Field(
          file, 0, "facility.grid_intensity_g_per_kwh", fmt::format("{}", f.grid_intensity_g_per_kwh()),
          fmt::format("disagrees with facility.grid_carbon_g_per_kwh = {} (the same quantity: give one)",
                      f.grid_carbon_g_per_kwh()));
    f.set_grid_carbon_g_per_kwh(f.grid_intensity_g_per_kwh());
    f.clear_grid_intensity_g_per_kwh();
  }
  if (f.grid_carbon_g_per_kwh() == 0) {
    if (f.grid_region().empty()) f.set_grid_region(FacilityDefaults::kGridRegion);
    const std::optional<double> g = FindGridRegion(f.grid_region());
    if (!g) {
      std::string known;
      for (const Region& r : kGridRegions) known += (known.empty() ? "" : ", ") + std::string(r.name);
      throw InputError::Field(file, 0, "facility.grid_region", "\"" + f.grid_region() + "\"",
                              "unknown region; known: " + known + " (or set facility.grid_carbon_g_per_kwh)");
    }
    f.set_grid_region(NormalizeRegion(f.grid_region()));
    f.set_grid_carbon_g_per_kwh(*g);
  }
  RequireNonNegative(file, "electricity_usd_per_kwh", f.electricity_usd_per_kwh());
  if (f.electricity_usd_per_kwh() == 0) f.set_electricity_usd_per_kwh(FacilityDefaults::kElectricityUsdPerKwh);
  RequireNonNegative(file, "gpu_hour_usd", f.gpu_hour_usd());
  RequireNonNegative(file, "amortization_years", f.amortization_years());
  if (f.amortization_years() == 0) f.set_amortization_years(FacilityDefaults::kAmortizationYears);
  RequireNonNegative(file, "training_tokens", f.training_tokens());
  RequireNonNegative(file, "capex_usd_per_mw", f.capex_usd_per_mw());
  RequireNonNegative(file, "power_ramp_window_s", f.power_ramp_window_s());
  const double m = f.maintenance_fraction_per_year();
  if (!(m >= 0 && m <= 1))
    throw InputError::Field(file, 0, "facility.maintenance_fraction_per_year", fmt::format("{}", m),
                            "must be in [0, 1]: a fraction of the hardware capex per year (e.g. 0.03)");
  return f;
}

v1::Projection Project(const ProjectionInputs& in, const std::string& file) {
  const v1::Facility f = ResolveFacility(in.facility, file);
  v1::Projection p;
  if (f.training_tokens() == 0) return p;
  if (!(in.step_time_s > 0) || !(in.tokens_per_step > 0) || in.num_gpus < 1 || !(in.it_avg_w >= 0) ||
      !(in.embodied_kgco2e_per_gpu >= 0) || !(in.price_usd_per_gpu >= 0) || !(in.network_embodied_kgco2e >= 0) ||
      !(in.network_price_usd >= 0)) {
    throw SimulationError(fmt::format(
        "projection: step_time_s = {}, tokens_per_step = {}, num_gpus = {}, it_avg_w = {}: need step time and "
        "tokens > 0, >= 1 GPU and non-negative power, carbon and prices",
        in.step_time_s, in.tokens_per_step, in.num_gpus, in.it_avg_w));
  }
  const double gpus = static_cast<double>(in.num_gpus);
  const double steps = f.training_tokens() / in.tokens_per_step;
  const double wall_s = steps * in.step_time_s;
  const double gpu_hours = gpus * wall_s / 3600;
  const double energy_kwh = in.it_avg_w * f.pue() * wall_s / 3.6e6;
  const double share = std::min(1.0, wall_s / (f.amortization_years() * kSecondsPerYear));

  p.set_training_tokens(f.training_tokens());
  p.set_wall_clock_days(wall_s / 86400);
  p.set_gpu_hours(gpu_hours);
  p.set_energy_mwh(energy_kwh / 1000);
  p.set_operational_tco2e(energy_kwh * f.grid_carbon_g_per_kwh() / 1e6);
  p.set_embodied_tco2e((gpus * in.embodied_kgco2e_per_gpu + in.network_embodied_kgco2e) * share / 1000);
  if (f.gpu_hour_usd() > 0) {
    p.set_cost_usd(gpu_hours * f.gpu_hour_usd());
  } else {
    p.set_cost_usd((gpus * in.price_usd_per_gpu + in.network_price_usd) * share +
                   energy_kwh * f.electricity_usd_per_kwh() + in.maintenance_usd_per_year * wall_s / kSecondsPerYear);
  }
  return p;
}

namespace {

constexpr double kHoursPerYear = 365.25 * 24;

void AddCapex(v1::CostSummary& c, const char* tier, const char* part, double count, double unit_usd, const char* note) {
  *c.add_capex() = sim::CostItemOf(tier, part, count, unit_usd, unit_usd > 0 ? "" : note);
}

}  // namespace

v1::CostSummary RollUpCost(const CostInputs& in) {
  const v1::Facility& f = in.facility;
  const double gpus = static_cast<double>(in.num_gpus);
  v1::CostSummary c;
  c.set_lifetime_years(f.amortization_years());
  c.set_run_usd(in.run_usd);
  if (f.gpu_hour_usd() > 0) {
    c.set_rental(true);
    c.set_opex_usd_per_year(gpus * kHoursPerYear * f.gpu_hour_usd());
    c.set_tco_usd(c.opex_usd_per_year() * c.lifetime_years());
    return c;
  }
  const double accelerator_usd = in.price_usd_per_gpu - in.scale_up_in_accelerator_usd / gpus;
  AddCapex(c, "accelerators",
           in.scale_up_in_accelerator_usd > 0 ? "accelerator (less its scale-up fabric)" : "accelerator", gpus,
           accelerator_usd, "unknown price (accelerator.price_usd)");
  AddCapex(c, "hosts", "host share per accelerator", gpus, in.host_price_usd_per_gpu,
           "in the accelerator's price (accelerator.host_price_usd prices it apart)");
  c.set_accelerators_usd(gpus * accelerator_usd);
  c.set_hosts_usd(gpus * in.host_price_usd_per_gpu);
  for (const v1::CostItem& p : in.network_parts) {
    *c.add_capex() = p;
    c.set_network_usd(c.network_usd() + p.total_usd());
    if (p.tier() == "scale_up") c.set_scale_up_usd(c.scale_up_usd() + p.total_usd());
  }
  AddCapex(c, "facility", "MW provisioned (peak)", in.facility_peak_w / 1e6, f.capex_usd_per_mw(),
           "not counted (facility.capex_usd_per_mw)");
  c.set_facility_usd(in.facility_peak_w / 1e6 * f.capex_usd_per_mw());
  const double hardware = c.accelerators_usd() + c.hosts_usd() + c.network_usd();
  c.set_capex_usd(hardware + c.facility_usd());
  c.set_energy_usd_per_year(in.facility_avg_w / 1e3 * kHoursPerYear * f.electricity_usd_per_kwh());
  c.set_maintenance_usd_per_year(hardware * f.maintenance_fraction_per_year());
  c.set_opex_usd_per_year(c.energy_usd_per_year() + c.maintenance_usd_per_year());
  c.set_tco_usd(c.capex_usd() + c.lifetime_years() * c.opex_usd_per_year());
  return c;
}

DeviceHoursCarbon CarbonFromDeviceHours(double device_hours, double avg_power_w, double pue, double kg_per_kwh) {
  DeviceHoursCarbon c;
  c.energy_mwh = device_hours * avg_power_w * pue / 1e6;
  c.tco2e = c.energy_mwh * kg_per_kwh;
  return c;
}

}  // namespace clustersim
