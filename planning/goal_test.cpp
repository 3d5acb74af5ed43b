// Goal seeking: bisection finds the smallest size meeting a monotone deadline, the Pareto front of a synthetic list,
// and the sizes a real plan admits.
#include "planning/goal.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "common/error.h"
#include "planning/run.h"

namespace clustersim::planning {
namespace {

v1::GoalPoint Point(double days, double mwh, double usd) {
  v1::GoalPoint p;
  p.set_wall_clock_days(days);
  p.set_energy_mwh(mwh);
  p.set_cost_usd(usd);
  return p;
}

TEST(Goal, SmallestMeetingBisectsAMonotoneTest) {
  std::vector<uint32_t> sizes;
  for (uint32_t n = 8; n <= 8192; n += 8) sizes.push_back(n);  // 1024 sizes
  for (uint32_t threshold : {8u, 16u, 1000u, 4000u, 8192u}) {
    std::set<size_t> probed;
    const auto i = SmallestMeeting(sizes, [&](size_t k) {
      EXPECT_TRUE(probed.insert(k).second) << "size evaluated twice";
      return sizes[k] >= threshold;
    });
    ASSERT_TRUE(i.has_value()) << threshold;
    EXPECT_EQ(sizes[*i], (threshold + 7) / 8 * 8);
    EXPECT_LE(probed.size(), 2 * 11u);  // doubling + bisection: O(log n)
  }
  EXPECT_FALSE(SmallestMeeting(sizes, [](size_t) { return false; }).has_value());
  EXPECT_FALSE(SmallestMeeting({}, [](size_t) { return true; }).has_value());
}

TEST(Goal, SeekGoalFindsTheSmallestClusterMeetingTheDeadline) {
  // Ideal strong scaling: days = 1000 / GPUs; energy constant; cost grows with the cluster (idle capex).
  std::vector<uint32_t> sizes;
  for (uint32_t n = 8; n <= 1024; n *= 2) sizes.push_back(n);
  GoalSpec g;
  g.deadline_days = 10;
  g.fabrics = {"fat_tree", "rail_only"};
  const GoalResult r = SeekGoal(sizes, g, [](uint32_t n, const std::string& fabric) {
    v1::GoalPoint p = Point(1000.0 / n, 50, n * (fabric == "rail_only" ? 90.0 : 100.0));
    p.set_num_gpus(n);
    p.set_topology(fabric);
    return p;
  });
  ASSERT_TRUE(r.smallest.has_value());
  EXPECT_EQ(r.points[*r.smallest].num_gpus(), 128u);  // 1000 / 128 = 7.8 days; 64 GPUs take 15.6
  EXPECT_EQ(r.points[*r.smallest].topology(), "rail_only");  // same size, cheaper fabric
  EXPECT_EQ(r.points[*r.cheapest].topology(), "rail_only");
  for (const v1::GoalPoint& p : r.points) EXPECT_EQ(p.meets_goal(), p.wall_clock_days() <= 10);
  // A cost limit below the smallest cluster's cost: nothing meets.
  g.max_cost_usd = 10000;
  const GoalResult none = SeekGoal(sizes, g, [](uint32_t n, const std::string&) {
    v1::GoalPoint p = Point(1000.0 / n, 50, n * 100.0);
    p.set_num_gpus(n);
    return p;
  });
  EXPECT_FALSE(none.smallest.has_value());
}

// Llama-3-8B, tp8 pp2, global batch 128, on 64 H100 (a second or two per simulated point).
sim::LoadedScenario Llama8bTp8Pp2() {
  return sim::ParseScenario(R"(name: "g"
accelerator { name: "H100-SXM" }
cluster { num_gpus: 64 scale_out { topology: "fat_tree" nic_bandwidth_gbps: 400 } }
workload {
  model { preset: "llama3_8b" seq_len: 4096 }
  parallelism { tp: 8 pp: 2 micro_batch_size: 1 global_batch_size: 128 }
}
)",
                            "textproto", "g.textproto");
}

TEST(Goal, ParetoFrontOfASyntheticList) {
  std::vector<v1::GoalPoint> pts{Point(10, 5, 100), Point(5, 6, 120), Point(12, 6, 130), Point(5, 6, 120),
                                 Point(20, 4, 90), Point(11, 5, 100)};
  MarkParetoFront(pts);
  const std::vector<bool> want{true, true, false, true, true, false};  // (12,6,130) and (11,5,100) are dominated
  for (size_t i = 0; i < pts.size(); ++i) EXPECT_EQ(pts[i].pareto(), want[i]) << i;
}

TEST(Goal, AdmissibleSizesFollowThePlanRules) {
  sim::LoadedScenario l = sim::ParseScenario(R"(name: "g"
accelerator { name: "H100-SXM" }
cluster { num_gpus: 64 scale_out { topology: "fat_tree" nic_bandwidth_gbps: 400 } }
workload {
  model { preset: "llama3_8b" seq_len: 4096 }
  parallelism { tp: 8 pp: 2 vpp: 2 micro_batch_size: 1 global_batch_size: 64 }
}
)", "textproto", "g.textproto");
  // dp divides 64 and the interleaved schedule needs microbatches (64 / dp) divisible by pp = 2: dp <= 32.
  EXPECT_EQ(AdmissibleSizes(l, 1u << 20), (std::vector<uint32_t>{16, 32, 64, 128, 256, 512}));
  EXPECT_EQ(AdmissibleSizes(l, 100), (std::vector<uint32_t>{16, 32, 64}));
  const v1::Scenario s = ResizedScenario(l, 256, "rail_only", 1e12);
  EXPECT_EQ(s.workload().parallelism().dp(), 16u);
  EXPECT_EQ(s.cluster().scale_out().topology(), "rail_only");
  EXPECT_GT(s.reliability().gpu_failures_per_hour(), 0);
}

// Re-planning at each size (--replan) evaluates the fastest plan the search finds there, which is never slower than
// the scenario's own plan (the search simulates that plan too), so the smallest cluster meeting a deadline can only
// shrink. Llama-3-8B's tp8 pp2 plan needs 128 GPUs for 1e11 tokens in 2 days; pure data parallelism with ZeRO-1
// meets it with fewer.
TEST(Goal, ReplanningFindsASmallerClusterThanTheFixedPlan) {
  const sim::LoadedScenario l = Llama8bTp8Pp2();
  GoalSpec g;
  g.training_tokens = 1e11;
  g.deadline_days = 2;
  g.max_gpus = 256;
  const GoalResult fixed = SeekGoal(l, g);
  g.replan_top_k = 2;
  const GoalResult replanned = SeekGoal(l, g);
  ASSERT_TRUE(fixed.smallest.has_value());
  ASSERT_TRUE(replanned.smallest.has_value());
  const v1::GoalPoint& a = fixed.points[*fixed.smallest];
  const v1::GoalPoint& b = replanned.points[*replanned.smallest];
  EXPECT_LE(b.num_gpus(), a.num_gpus());
  EXPECT_NE(b.label(), a.label());
  for (const v1::GoalPoint& p : replanned.points)
    for (const v1::GoalPoint& q : fixed.points)
      if (p.num_gpus() == q.num_gpus() && std::isfinite(q.step_time_s()) && q.step_time_s() > 0) {
        EXPECT_LE(p.step_time_s(), q.step_time_s() * (1 + 1e-9)) << p.label() << " vs " << q.label();
      }
}

// Why no point met the goal (issue #22): the limit each point missed, and what bounded the sizes tried.
TEST(Goal, SaysWhichLimitStoppedItAndWhatToChange) {
  GoalSpec g;
  g.deadline_days = 10;
  g.max_energy_mwh = 40;
  v1::GoalPoint slow = Point(20, 30, 100), hungry = Point(5, 60, 100), oom = Point(INFINITY, INFINITY, INFINITY);
  EXPECT_EQ(MissedLimit(slow, g), "deadline");
  EXPECT_EQ(MissedLimit(hungry, g), "energy");
  EXPECT_EQ(MissedLimit(oom, g), "memory");
  EXPECT_EQ(MissedLimit(Point(5, 30, 100), g), "");
  GoalResult r;
  slow.set_num_gpus(1024);
  slow.set_topology("fat_tree");
  slow.set_missed("deadline");
  r.points = {slow};
  r.max_gpus = 131072;
  r.batch_limit_gpus = 1024;
  r.largest_size = 1024;
  EXPECT_NE(WhyNoPointMeetsGoal(r, g).find("the plan admits at most 1,024 GPUs (tp x cp x pp x global_batch_size / "
                                           "micro_batch_size): raise workload.parallelism.global_batch_size"),
            std::string::npos)
      << WhyNoPointMeetsGoal(r, g);
  r.max_gpus = 512;
  r.batch_limit_gpus = 4096;
  EXPECT_NE(WhyNoPointMeetsGoal(r, g).find("sizes stop at the GPU cap of 512 (--max-gpus): raise it"),
            std::string::npos);
  hungry.set_missed("energy");
  r.points = {hungry};
  EXPECT_NE(WhyNoPointMeetsGoal(r, g).find("the least energy is 60 MWh (limit 40 MWh, --max-energy-gwh)"),
            std::string::npos)
      << WhyNoPointMeetsGoal(r, g);
  oom.set_missed("memory");
  r.points = {oom};
  EXPECT_NE(WhyNoPointMeetsGoal(r, g).find("every size tried is out of memory"), std::string::npos);
}

// A budget in FLOPs is the same goal as its tokens (6 x active parameters x tokens).
TEST(Goal, FlopBudgetEqualsItsTokens) {
  const sim::LoadedScenario l = Llama8bTp8Pp2();
  const double per_token = FlopsPerToken6ND(Resolve(l).workload().model());
  GoalSpec g;
  g.deadline_days = 2;
  g.max_gpus = 128;
  g.training_flops = 1e11 * per_token;
  const GoalResult by_flops = SeekGoal(l, g);
  EXPECT_NEAR(by_flops.training_tokens, 1e11, 1e-3);
  EXPECT_NEAR(by_flops.training_flops, g.training_flops, 1e6);
  EXPECT_EQ(by_flops.max_gpus, 128u);
  g.training_tokens = 1e11;
  EXPECT_THROW(SeekGoal(l, g), InputError);  // both budgets
}

}  // namespace
}  // namespace clustersim::planning
