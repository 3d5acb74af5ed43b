// Goodput: the Llama 3 defaults reproduce Table 5's interruption count, Young/Daly match their closed forms, the
// exact expected time matches the Daly limit, and the Monte-Carlo simulation converges to the closed form.
#include "planning/goodput.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"

namespace clustersim::planning {
namespace {

TEST(Goodput, Llama3DefaultsGiveTable5InterruptionsOnTheLlama3Cluster) {
  const v1::Reliability r = ResolveReliability({}, 16384);
  ComponentCounts c;
  c.gpus = 16384;
  c.nodes = 2048;
  c.nics = 16384;
  c.switches = Llama3Failures::kSwitches;
  c.links = Llama3Failures::kCables;
  // 419 unexpected interruptions in 54 days, one every ~3.1 hours.
  EXPECT_NEAR(FailuresPerHour(r, c) * Llama3Failures::kHours, 419, 1e-9);
  EXPECT_NEAR(r.checkpoint_gbyte_per_s(), 2000, 1e-9);
  EXPECT_DOUBLE_EQ(r.restart_s(), 600);
  // Rates are per component: half the GPUs, half the GPU-class failures.
  ComponentCounts half;
  half.gpus = 8192;
  EXPECT_NEAR(FailuresPerHour(r, half) * Llama3Failures::kHours, (196 + 72 + 63) / 2.0, 1e-9);
}

TEST(Goodput, PresetNoneKeepsZeroRatesAndGivenOnes) {
  v1::Reliability in;
  in.set_preset("none");
  in.set_gpu_failures_per_hour(1e-5);
  const v1::Reliability r = ResolveReliability(in, 8);
  ComponentCounts c;
  c.gpus = 8;
  c.nodes = 1;
  c.nics = 8;
  EXPECT_DOUBLE_EQ(FailuresPerHour(r, c), 8e-5);
  EXPECT_DOUBLE_EQ(r.hbm_failures_per_hour(), 0);
}

TEST(Goodput, YoungAndDalyIntervalsMatchTheClosedForms) {
  const double C = 120, M = 3 * 3600.0;
  EXPECT_NEAR(YoungIntervalS(C, M), std::sqrt(2 * C * M), 1e-12 * std::sqrt(2 * C * M));
  EXPECT_NEAR(YoungIntervalS(50, 10000), 1000, 1e-12 * 1000);
  const double x = C / (2 * M);
  const double daly = std::sqrt(2 * C * M) * (1 + std::sqrt(x) / 3 + x / 9) - C;
  EXPECT_NEAR(DalyIntervalS(C, M), daly, 1e-12 * daly);
  EXPECT_DOUBLE_EQ(DalyIntervalS(3 * M, M), M);  // C >= 2M: checkpoint every MTBF
}

TEST(Goodput, ExpectedWallTimeIsIdealWithoutFailuresAndMinimalNearDaly) {
  FailureModel m;
  m.work_s = 1000;
  m.interval_s = 100;
  m.checkpoint_s = 5;
  m.restart_s = 50;
  m.mtbf_s = INFINITY;
  EXPECT_DOUBLE_EQ(ExpectedWallS(m), 1000 + 10 * 5);
  // Long run, failures: the expected time per unit of work is minimal near Daly's interval and the closed form's
  // first-order goodput 1 - sqrt(2C/M) - R/M holds for C, R << M.
  m.work_s = 1e9;
  m.mtbf_s = 1e6;
  m.checkpoint_s = 10;
  m.restart_s = 100;
  const double daly = DalyIntervalS(m.checkpoint_s, m.mtbf_s);
  m.interval_s = daly;
  const double best = ExpectedWallS(m);
  for (double f : {0.5, 0.8, 1.25, 2.0}) {
    m.interval_s = daly * f;
    EXPECT_GT(ExpectedWallS(m), best) << f;
  }
  EXPECT_NEAR(m.work_s / best, 1 - std::sqrt(2 * 10 / 1e6) - 100 / 1e6, 5e-5);
}

TEST(Goodput, MonteCarloConvergesToTheClosedForm) {
  // A 30-day run on a ~3-hour MTBF (Llama 3 scale), checkpoint 60 s, restart 10 min, Daly interval plus a partial
  // last segment: ~240 interruptions per trial.
  FailureModel m;
  m.work_s = 30 * 86400.0 + 1234.5;
  m.mtbf_s = 3.1 * 3600;
  m.checkpoint_s = 60;
  m.restart_s = 600;
  m.interval_s = DalyIntervalS(m.checkpoint_s, m.mtbf_s);
  const double expected = ExpectedWallS(m);
  const MonteCarloResult mc = SimulateFailures(m, 2000, 42);
  const double stderr_s = mc.stddev_wall_s / std::sqrt(2000.0);
  EXPECT_NEAR(mc.mean_wall_s, expected, 4 * stderr_s);
  EXPECT_NEAR(mc.mean_wall_s / expected, 1, 0.01);
  EXPECT_NEAR(mc.mean_interruptions, expected / m.mtbf_s, 0.01 * expected / m.mtbf_s);
  EXPECT_LT(mc.goodput, 0.95);
  EXPECT_GT(mc.goodput, 0.85);  // Llama 3 reported > 90% effective training time
  // Seeded: the same seed gives the same numbers bit for bit, another seed different ones.
  const MonteCarloResult again = SimulateFailures(m, 2000, 42);
  EXPECT_EQ(again.mean_wall_s, mc.mean_wall_s);
  EXPECT_NE(SimulateFailures(m, 2000, 43).mean_wall_s, mc.mean_wall_s);
}

TEST(Goodput, MonteCarloHandlesShortIntervalsAndNoFailures) {
  FailureModel m;
  m.work_s = 5000;
  m.interval_s = 7;  // 714 full segments + a partial one
  m.checkpoint_s = 1;
  m.restart_s = 20;
  m.mtbf_s = 2000;
  const double expected = ExpectedWallS(m);
  const MonteCarloResult mc = SimulateFailures(m, 20000, 7);
  EXPECT_NEAR(mc.mean_wall_s, expected, 4 * mc.stddev_wall_s / std::sqrt(20000.0));
  m.mtbf_s = INFINITY;
  EXPECT_DOUBLE_EQ(SimulateFailures(m, 3, 1).mean_wall_s, ExpectedWallS(m));
}

// The Monte-Carlo work (one draw per interruption) is bounded before it starts: a run interrupted every second for
// a year, or a restart that almost never completes, is bad input naming --trials, not a hang.
TEST(Goodput, MonteCarloWorkIsBoundedBeforeItStarts) {
  FailureModel m;
  m.work_s = 3.15e7;
  m.interval_s = 600;
  m.checkpoint_s = 10;
  m.restart_s = 60;
  m.mtbf_s = 1;
  try {
    (void)SimulateFailures(m, 1000, 1);
    FAIL() << "not refused";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--trials = 1000: the run expects"), std::string::npos) << e.what();
  }
  m.mtbf_s = 0;
  EXPECT_THROW(SimulateFailures(m, 10, 1), InputError);  // a failure model that cannot be: bad input, not exit 1
}

}  // namespace
}  // namespace clustersim::planning
