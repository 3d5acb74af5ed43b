// Tests of GPU-to-GPU variability (sim/variability.h): the slowest of many GPUs against the order-statistics closed
// form, named slow components, synchronisation over expert-parallel groups, determinism.
#include "sim/variability.h"

#include <gtest/gtest.h>

#include <cmath>

#include "sim/scenario_loader.h"

namespace clustersim::sim {
namespace {

v1::Scenario Cluster(uint32_t gpus, const std::string& variability, const std::string& parallel = "tp: 1",
                     uint64_t seed = 1) {
  const std::string text = "name: \"v\" seed: " + std::to_string(seed) +
                           "\naccelerator { name: \"H100-SXM\" }\ncluster { num_gpus: " + std::to_string(gpus) +
                           " scale_out { switch_radix: 128 } variability { " + variability + " } }\nworkload { model { preset: \"llama3_8b\" "
                           "seq_len: 1024 } parallelism { " + parallel + " global_batch_size: " +
                           std::to_string(gpus) + " } }\n";
  return ResolveScenario(ParseScenario(text, "textproto", "v.textproto"));
}

wl::RankLayout Layout(uint32_t tp, uint32_t dp, uint32_t ep = 1) {
  wl::RankLayout l;
  l.tp = tp;
  l.dp = dp;
  l.ep = ep;
  l.expert_tp = 1;
  return l;
}

// E[max of n standard normals] = integral of x n phi(x) Phi(x)^(n-1) dx.
double ExpectedMaxOfNormals(double n) {
  double sum = 0;
  const double dx = 1e-3;
  for (double x = -8; x < 8; x += dx) {
    const double phi = std::exp(-x * x / 2) / std::sqrt(2 * M_PI);
    const double Phi = 0.5 * std::erfc(-x / std::sqrt(2.0));
    sum += x * n * phi * std::pow(Phi, n - 1) * dx;
  }
  return sum;
}

TEST(Variability, NoneIsInactive) {
  const VariabilityModel m(Cluster(64, "model: \"none\""), Layout(8, 8), false);
  EXPECT_FALSE(m.active());
  EXPECT_DOUBLE_EQ(m.SlowestReplica(0).max(), 1.0);
}

TEST(Variability, SlowestOf100kGpusMatchesOrderStatistics) {
  const uint32_t n = 100000;
  const double cv = 0.012;
  double sum = 0;
  const int seeds = 20;
  for (int seed = 1; seed <= seeds; ++seed) {
    const VariabilityModel m(Cluster(n, "gpu_speed_cv: 0.012", "tp: 1", seed), Layout(1, n), false);
    sum += (m.SlowestReplica(0).max() - 1) / cv;
  }
  const double expected = ExpectedMaxOfNormals(n);  // about 4.2 standard deviations
  EXPECT_GT(expected, 4.0);
  EXPECT_NEAR(sum / seeds, expected, 0.2);  // the mean of 20 maxima (std of one maximum ~0.3)
}

TEST(Variability, SlowerGroupsAreSetByTheirSlowestMember) {
  // With tensor parallelism 8 a replica's stage is the maximum of 8 GPUs: larger than one GPU's spread.
  const VariabilityModel m(Cluster(8192, "gpu_speed_cv: 0.012", "tp: 8"), Layout(8, 1024), false);
  const std::vector<double> r = m.StageReplicaSlowdowns(0, 0);
  double mean = 0;
  for (double x : r) mean += (x - 1) / 0.012;
  mean /= static_cast<double>(r.size());
  EXPECT_NEAR(mean, ExpectedMaxOfNormals(8), 0.1);  // 1.42 standard deviations
}

TEST(Variability, NamedSlowNodeSlowsItsReplicaOnly) {
  const VariabilityModel m(Cluster(64, "model: \"none\" slow { kind: \"node\" index: 3 speed: 0.5 }", "tp: 8"),
                           Layout(8, 8), false);
  EXPECT_TRUE(m.active());
  const std::vector<double> r = m.StageReplicaSlowdowns(0, 0);
  for (uint32_t d = 0; d < 8; ++d) EXPECT_DOUBLE_EQ(r[d], d == 3 ? 2.0 : 1.0) << d;
  const ReplicaSlowdown w = m.SlowestReplica(0);
  EXPECT_EQ(w.replica, 3u);
  EXPECT_DOUBLE_EQ(w.max(), 2.0);
}

TEST(Variability, ExpertGroupsShareTheirSlowestGpu) {
  // 16 replicas of one GPU each, expert parallelism 4: GPU 5 slows replicas 4..7, its all-to-all group.
  const VariabilityModel m(Cluster(16, "model: \"none\" slow { kind: \"gpu\" index: 5 speed: 0.8 }"), Layout(1, 16, 4),
                           true);
  const std::vector<double> r = m.StageReplicaSlowdowns(0, 0);
  for (uint32_t d = 0; d < 16; ++d) EXPECT_DOUBLE_EQ(r[d], d >= 4 && d < 8 ? 1.25 : 1.0) << d;
}

TEST(Variability, DeterministicPerSeedAndFreshJitterPerStep) {
  const v1::Scenario s = Cluster(512, "gpu_speed_cv: 0.012 step_jitter_cv: 0.01");
  const VariabilityModel a(s, Layout(1, 512), false), b(s, Layout(1, 512), false);
  EXPECT_DOUBLE_EQ(a.SlowestReplica(0).max(), b.SlowestReplica(0).max());
  EXPECT_NE(a.SlowestReplica(0).max(), a.SlowestReplica(1).max());
}

}  // namespace
}  // namespace clustersim::sim
