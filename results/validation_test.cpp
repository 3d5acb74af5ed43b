// Validation runner tests on carbon cases (no simulation needed): tolerance bands, error sign, rendering of misses,
// and the input checks of case files.
#include "results/validation.h"

#include <gtest/gtest.h>

#include <fstream>

#include "common/error.h"

namespace clustersim::results {
namespace {

LoadedCase Carbon(double expected_t, double tol_pct, double tol_abs = 0) {
  LoadedCase loaded;
  loaded.file = "c.textproto";
  v1::ValidationCase& c = loaded.spec;
  c.set_id("c");
  c.set_category("energy_carbon");
  v1::CarbonCase* k = c.mutable_carbon();
  k->set_gpu_hours(1000);
  k->set_power_w_per_gpu(500);   // 0.5 MWh
  k->set_kgco2e_per_kwh(0.4);    // 0.2 t
  v1::Expectation* e = c.add_expected();
  e->set_quantity("tco2e");
  e->set_value(expected_t);
  e->set_tolerance_pct(tol_pct);
  e->set_tolerance_abs(tol_abs);
  return loaded;
}

TEST(Validation, ErrorAndToleranceBands) {
  const auto pass = RunCase(Carbon(0.2, 1));
  ASSERT_EQ(pass.size(), 1u);
  EXPECT_NEAR(pass[0].simulated, 0.2, 1e-12);
  EXPECT_NEAR(pass[0].error_pct, 0, 1e-9);
  EXPECT_TRUE(pass[0].pass);
  const auto miss = RunCase(Carbon(0.25, 10));  // -20%
  EXPECT_NEAR(miss[0].error_pct, -20, 1e-9);
  EXPECT_FALSE(miss[0].pass);
  const auto abs = RunCase(Carbon(0.25, 0, 0.06));  // |0.2 - 0.25| <= 0.06
  EXPECT_TRUE(abs[0].pass);
}

TEST(Validation, MarkdownListsMisses) {
  auto rows = RunCase(Carbon(0.25, 10));
  const std::string md = RenderMarkdown(rows);
  EXPECT_NE(md.find("**miss**"), std::string::npos);
  EXPECT_NE(md.find("- `c` tco2e"), std::string::npos) << md;
  EXPECT_NE(RenderSummary(rows).find("total: 0 pass, 1 miss"), std::string::npos);
}

TEST(Validation, CaseFilesAreChecked) {
  const std::string path = testing::TempDir() + "/case.textproto";
  std::ofstream(path) << "id: \"x\"\nexpected { quantity: \"tco2e\" value: 1 }\ncarbon { gpu_hours: 1 }\n";
  EXPECT_THROW(LoadCase(path), InputError);  // no tolerance
  std::ofstream(path) << "id: \"x\"\nexpected { quantity: \"tco2e\" value: 1 tolerance_pct: 5 }\n";
  EXPECT_THROW(LoadCase(path), InputError);  // neither scenario nor carbon
  std::ofstream(path) << "id: \"x\"\nexpected { quantity: \"tco2e\" value: 1 tolerance_pct: 5 }\ncarbon { }\n";
  EXPECT_EQ(LoadCase(path).spec.id(), "x");
}

}  // namespace
}  // namespace clustersim::results
