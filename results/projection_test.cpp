#include "results/projection.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "common/error.h"

namespace clustersim {
namespace {

// Relative error |a/b - 1|.
double Rel(double a, double b) { return std::fabs(a / b - 1); }

// ---- Carbon checks against published rows of /work/shared/validation/cases.yaml (inputs copied by hand). ----

struct Llama2Row {
  const char* case_id;
  double gpu_hours;
  double power_w_per_gpu;
  double published_tco2e;
};
// cases.yaml llama2_{7B,13B,34B,70B}_carbon: inputs.gpu_hours, inputs.hardware.power_w_per_gpu, expected.tco2e
// (tolerance_pct 5); derived.implied_kgco2e_per_kwh 0.423 (the card's intensity already folds PUE in: pue = 1).
constexpr Llama2Row kLlama2[] = {
    {"llama2_7B_carbon", 184320, 400, 31.22},
    {"llama2_13B_carbon", 368640, 400, 62.44},
    {"llama2_34B_carbon", 1038336, 350, 153.9},
    {"llama2_70B_carbon", 1720320, 400, 291.42},
};
constexpr double kLlama2KgPerKwh = 0.423;

TEST(CarbonChecks, Llama2ModelCardRowsWithinTolerance) {
  double total_h = 0, total_t = 0;
  for (const Llama2Row& r : kLlama2) {
    const DeviceHoursCarbon c = CarbonFromDeviceHours(r.gpu_hours, r.power_w_per_gpu, 1.0, kLlama2KgPerKwh);
    EXPECT_NEAR(c.energy_mwh, r.gpu_hours * r.power_w_per_gpu / 1e6, 1e-9) << r.case_id;
    EXPECT_LT(Rel(c.tco2e, r.published_tco2e), 0.05) << r.case_id << ": " << c.tco2e;
    EXPECT_LT(Rel(c.tco2e, r.published_tco2e), 0.005) << r.case_id << " (rounding of 0.423 only)";
    total_h += r.gpu_hours;
    total_t += c.tco2e;
  }
  // The card's totals: 3,311,616 GPU-hours and 539 tCO2e.
  EXPECT_DOUBLE_EQ(total_h, 3311616);
  EXPECT_LT(Rel(total_t, 539), 0.01);
}

struct PattersonRow {
  const char* case_id;
  double devices;
  double avg_system_power_w;
  double training_days;
  double pue;
  double kg_per_kwh;
  double published_mwh;
  double published_tco2e;
};
// cases.yaml patterson_T5 / patterson_GPT3: inputs.hardware.devices, avg_system_power_w_per_device,
// training_days, datacenter.pue, datacenter.kgco2e_per_kwh; expected energy_MWh and tco2e (tolerance_pct 10).
constexpr PattersonRow kPatterson[] = {
    {"patterson_T5", 512, 310, 20, 1.12, 0.545, 85.7, 46.7},
    {"patterson_GPT3", 10000, 330, 14.8, 1.10, 0.429, 1287, 552.1},
};

TEST(CarbonChecks, PattersonRowsWithinTolerance) {
  for (const PattersonRow& r : kPatterson) {
    const double device_hours = r.devices * r.training_days * 24;
    const DeviceHoursCarbon c = CarbonFromDeviceHours(device_hours, r.avg_system_power_w, r.pue, r.kg_per_kwh);
    EXPECT_LT(Rel(c.energy_mwh, r.published_mwh), 0.10) << r.case_id << ": " << c.energy_mwh;
    EXPECT_LT(Rel(c.tco2e, r.published_tco2e), 0.10) << r.case_id << ": " << c.tco2e;
    // Tighter than the tolerance: only the rounding of the published days differs.
    EXPECT_LT(Rel(c.energy_mwh, r.published_mwh), 0.01) << r.case_id;
  }
}

TEST(CarbonChecks, PattersonGpt3ThroughTheFullProjection) {
  // The same GPT-3 run expressed as a simulated step: 10,000 GPUs at 330 W of IT power each, 300B tokens in
  // 14.8 days, PUE 1.10, 429 gCO2e/kWh (patterson_GPT3).
  ProjectionInputs in;
  in.num_gpus = 10000;
  in.it_avg_w = 10000 * 330.0;
  in.tokens_per_step = 3.2e6;
  const double steps = 300e9 / in.tokens_per_step;
  in.step_time_s = 14.8 * 86400 / steps;
  in.facility.set_pue(1.10);
  in.facility.set_grid_carbon_g_per_kwh(429);
  in.facility.set_training_tokens(300e9);
  const v1::Projection p = Project(in, "gpt3.textproto");
  EXPECT_NEAR(p.wall_clock_days(), 14.8, 1e-9);
  EXPECT_NEAR(p.gpu_hours(), 10000 * 14.8 * 24, 1e-6);
  EXPECT_LT(Rel(p.energy_mwh(), 1287), 0.01) << p.energy_mwh();
  EXPECT_LT(Rel(p.operational_tco2e(), 552.1), 0.01) << p.operational_tco2e();
}

// ---- Projection arithmetic ----

ProjectionInputs Base() {
  ProjectionInputs in;
  in.step_time_s = 10;
  in.tokens_per_step = 1e6;
  in.num_gpus = 1000;
  in.it_avg_w = 1e6;  // 1 MW
  in.facility.set_pue(1.5);
  in.facility.set_grid_carbon_g_per_kwh(400);
  in.facility.set_training_tokens(8.64e9);  // 8640 steps x 10 s = 1 day
  in.facility.set_amortization_years(4);
  in.facility.set_electricity_usd_per_kwh(0.1);
  in.embodied_kgco2e_per_gpu = 1461;  // 1000 GPUs x 1461 kg x (1 day / 1461 days) = 1000 kg
  in.price_usd_per_gpu = 14610;
  return in;
}

TEST(Projection, WallClockEnergyCarbonAndAmortisation) {
  const v1::Projection p = Project(Base(), "s");
  EXPECT_DOUBLE_EQ(p.training_tokens(), 8.64e9);
  EXPECT_NEAR(p.wall_clock_days(), 1.0, 1e-12);
  EXPECT_NEAR(p.gpu_hours(), 24000, 1e-9);
  EXPECT_NEAR(p.energy_mwh(), 1.0 * 1.5 * 24, 1e-9);   // 1 MW x PUE x 24 h
  EXPECT_NEAR(p.operational_tco2e(), 36 * 0.4, 1e-9);  // 36 MWh x 0.4 t/MWh
  // Lifetime 4 x 365.25 = 1461 days; one day is 1/1461 of it.
  EXPECT_NEAR(p.embodied_tco2e(), 1.0, 1e-9);
  // Capex share 1000 x 14610 / 1461 = 10,000 USD, plus 36,000 kWh x 0.1 USD.
  EXPECT_NEAR(p.cost_usd(), 10000 + 3600, 1e-6);
}

TEST(Projection, RentalRateReplacesCapexAndElectricity) {
  ProjectionInputs in = Base();
  in.facility.set_gpu_hour_usd(2.5);
  EXPECT_NEAR(Project(in, "s").cost_usd(), 24000 * 2.5, 1e-9);
}

TEST(Projection, LifetimeShareIsCappedAtOne) {
  ProjectionInputs in = Base();
  in.facility.set_training_tokens(8.64e9 * 3000);  // 3000 days > 1461-day lifetime
  in.network_embodied_kgco2e = 5000;
  in.network_price_usd = 1e6;
  const v1::Projection p = Project(in, "s");
  EXPECT_NEAR(p.embodied_tco2e(), (1000 * 1461 + 5000) / 1000.0, 1e-9);
  EXPECT_NEAR(p.cost_usd(), 1000 * 14610 + 1e6 + p.energy_mwh() * 1000 * 0.1, 1e-3);
}

TEST(Projection, NoTokenBudgetMeansNoProjection) {
  ProjectionInputs in = Base();
  in.facility.set_training_tokens(0);
  const v1::Projection p = Project(in, "s");
  EXPECT_EQ(p.gpu_hours(), 0);
  EXPECT_EQ(p.energy_mwh(), 0);
}

TEST(Projection, DefaultsAndRegions) {
  v1::Facility f;
  const v1::Facility r = ResolveFacility(f, "s");
  EXPECT_DOUBLE_EQ(r.pue(), FacilityDefaults::kPue);
  EXPECT_EQ(r.grid_region(), "world");
  EXPECT_DOUBLE_EQ(r.grid_carbon_g_per_kwh(), 480);
  EXPECT_DOUBLE_EQ(r.electricity_usd_per_kwh(), FacilityDefaults::kElectricityUsdPerKwh);
  EXPECT_DOUBLE_EQ(r.amortization_years(), FacilityDefaults::kAmortizationYears);
  f.set_grid_region("United States");
  EXPECT_DOUBLE_EQ(ResolveFacility(f, "s").grid_carbon_g_per_kwh(), 369);
  f.set_grid_region("FRANCE");
  EXPECT_DOUBLE_EQ(ResolveFacility(f, "s").grid_carbon_g_per_kwh(), 56);
  f.set_grid_carbon_g_per_kwh(10);  // an explicit intensity wins over the region
  EXPECT_DOUBLE_EQ(ResolveFacility(f, "s").grid_carbon_g_per_kwh(), 10);
  v1::Facility named;  // the second name of the number (issue #22): moved to grid_carbon_g_per_kwh
  named.set_grid_intensity_g_per_kwh(25);
  const v1::Facility moved = ResolveFacility(named, "s");
  EXPECT_DOUBLE_EQ(moved.grid_carbon_g_per_kwh(), 25);
  EXPECT_DOUBLE_EQ(moved.grid_intensity_g_per_kwh(), 0);
  named.set_grid_carbon_g_per_kwh(25);  // both, agreeing
  EXPECT_DOUBLE_EQ(ResolveFacility(named, "s").grid_carbon_g_per_kwh(), 25);
  named.set_grid_carbon_g_per_kwh(26);
  try {
    ResolveFacility(named, "s.textproto");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("s.textproto: facility.grid_intensity_g_per_kwh = 25: disagrees with "
                                         "facility.grid_carbon_g_per_kwh = 26"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(GridRegionNames().size(), 28u);
  EXPECT_EQ(FindGridRegion("Norway").value_or(-1), 30);  // a region added for planners (issue #22)
  EXPECT_EQ(FindGridRegion("china").value_or(-1), 582);
  EXPECT_FALSE(FindGridRegion("mars").has_value());
}

TEST(Projection, BadFacilityFieldsAreInputErrors) {
  v1::Facility f;
  f.set_grid_region("atlantis");
  try {
    ResolveFacility(f, "s.textproto");
    FAIL();
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("s.textproto: facility.grid_region = \"atlantis\""), std::string::npos) << m;
    for (const char* region : {"world", "china", "india", "australia", "germany", "ireland", "canada", "denmark",
                               "belgium", "austria", "brazil", "finland", "france", "united_states"}) {
      EXPECT_NE(m.find(region), std::string::npos) << region;
    }
  }
  v1::Facility g;
  g.set_pue(0.8);
  EXPECT_THROW(ResolveFacility(g, "s"), InputError);
  v1::Facility h;
  h.set_electricity_usd_per_kwh(-1);
  EXPECT_THROW(ResolveFacility(h, "s"), InputError);
  ProjectionInputs in = Base();
  in.step_time_s = 0;
  EXPECT_THROW(Project(in, "s"), SimulationError);
}

}  // namespace
namespace {

// ---- Cost of ownership (RollUpCost). ----

v1::CostItem Part(const char* tier, const char* part, double count, double unit) {
  v1::CostItem c;
  c.set_tier(tier);
  c.set_part(part);
  c.set_count(count);
  c.set_unit_usd(unit);
  c.set_total_usd(count * unit);
  return c;
}

CostInputs SmallCluster() {
  CostInputs in;
  in.num_gpus = 1024;
  in.price_usd_per_gpu = 30000;
  in.network_parts = {Part("scale_up", "switch", 512, 1000), Part("nic", "NIC", 1024, 2000),
                      Part("leaf", "switch", 32, 40000), Part("spine", "switch", 16, 40000)};
  in.facility_avg_w = 1.5e6;
  in.facility_peak_w = 2e6;
  in.facility = ResolveFacility({}, "t");
  in.facility.set_capex_usd_per_mw(10e6);
  in.facility.set_maintenance_fraction_per_year(0.03);
  return in;
}

TEST(Cost, AScaleUpFabricInTheAcceleratorPriceIsSubtractedThereSoCapexIsUnchanged) {
  CostInputs apart = SmallCluster();
  apart.network_parts.erase(apart.network_parts.begin());  // no scale-up line: the catalog price holds it
  CostInputs carved = SmallCluster();                      // the scale-up line listed, and carved out
  carved.scale_up_in_accelerator_usd = 512 * 1000.0;
  const v1::CostSummary a = RollUpCost(apart), c = RollUpCost(carved);
  EXPECT_DOUBLE_EQ(c.capex_usd(), a.capex_usd());
  EXPECT_DOUBLE_EQ(c.tco_usd(), a.tco_usd());
  EXPECT_DOUBLE_EQ(c.scale_up_usd(), 512 * 1000.0);
  EXPECT_DOUBLE_EQ(c.accelerators_usd(), 1024 * 30000.0 - 512 * 1000.0);
  EXPECT_EQ(c.capex(0).part(), "accelerator (less its scale-up fabric)");
  EXPECT_DOUBLE_EQ(c.capex(0).unit_usd(), 30000.0 - 500);
}

TEST(Cost, CapexIsTheSumOfItsLinesByTierAndTcoAddsTheLifetimeOpex) {
  const v1::CostSummary c = RollUpCost(SmallCluster());
  double lines = 0;
  for (const v1::CostItem& i : c.capex()) lines += i.total_usd();
  EXPECT_DOUBLE_EQ(c.capex_usd(), lines);
  EXPECT_DOUBLE_EQ(c.accelerators_usd(), 1024 * 30000.0);
  EXPECT_DOUBLE_EQ(c.scale_up_usd(), 512 * 1000.0);                                // the scale-up tier
  EXPECT_DOUBLE_EQ(c.network_usd(), 512 * 1000.0 + 1024 * 2000.0 + 48 * 40000.0);  // all network tiers
  EXPECT_DOUBLE_EQ(c.facility_usd(), 2 * 10e6);                                    // peak MW x $/MW
  EXPECT_DOUBLE_EQ(c.hosts_usd(), 0);                                              // in the accelerator price
  const double hardware = c.capex_usd() - c.facility_usd();
  EXPECT_NEAR(c.energy_usd_per_year(), 1.5e3 * 8766 * 0.10, 1e-6);  // kW x h x $/kWh
  EXPECT_NEAR(c.maintenance_usd_per_year(), 0.03 * hardware, 1e-6);
  EXPECT_NEAR(c.tco_usd(), c.capex_usd() + 5 * (c.energy_usd_per_year() + c.maintenance_usd_per_year()), 1e-3);
  // A line with no price says why it is zero.
  bool host_line = false;
  for (const v1::CostItem& i : c.capex())
    if (i.tier() == "hosts") host_line = i.total_usd() == 0 && !i.note().empty();
  EXPECT_TRUE(host_line);
}

TEST(Cost, RentalHasNoCapexAndPaysGpuHours) {
  CostInputs in = SmallCluster();
  in.facility.set_gpu_hour_usd(2.5);
  const v1::CostSummary c = RollUpCost(in);
  EXPECT_TRUE(c.rental());
  EXPECT_EQ(c.capex_usd(), 0);
  EXPECT_NEAR(c.opex_usd_per_year(), 1024 * 8766 * 2.5, 1e-6);
  EXPECT_NEAR(c.tco_usd(), 5 * c.opex_usd_per_year(), 1e-6);
}

TEST(Cost, MaintenanceFractionOutsideZeroToOneIsBadInput) {
  v1::Facility f;
  f.set_maintenance_fraction_per_year(3);
  try {
    (void)ResolveFacility(f, "f.textproto");
    FAIL() << "accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("facility.maintenance_fraction_per_year = 3: must be in [0, 1]"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace clustersim
