// Network costing: scale-up parts by kind, per-tier roll-ups, the carve-out from the accelerator, torus optics.
#include "sim/network_cost.h"

#include <gtest/gtest.h>

#include <map>

#include "common/error.h"
#include "sim/scenario_loader.h"
#include "sim/simulation.h"

namespace clustersim::sim {
namespace {

v1::Scenario Scenario(const std::string& accelerator, uint32_t gpus, const std::string& extra_cluster = "") {
  const std::string text = "accelerator { name: \"" + accelerator + "\" } cluster { num_gpus: " + std::to_string(gpus) +
                           " " + extra_cluster +
                           " } workload { model { preset: \"llama3_8b\" } parallelism { tp: 8 global_batch_size: " +
                           std::to_string(gpus / 8) + " } }";
  return ResolveScenario(ParseScenario(text, "textproto", "cost.textproto"));
}

v1::TopologySummary Summary(const v1::Scenario& s) {
  const auto fabric = topo::BuildFabric(FabricParamsOf(s));
  return SummarizeTopology(*fabric, fabric->ComputeInventory(), s);
}

std::map<std::string, v1::CostItem> Lines(const v1::TopologySummary& t, const std::string& tier) {
  std::map<std::string, v1::CostItem> out;
  for (const v1::CostItem& c : t.parts())
    if (c.tier() == tier) out[c.part()] = c;
  return out;
}

const v1::NetworkTier& Tier(const v1::TopologySummary& t, const std::string& name) {
  for (const v1::NetworkTier& x : t.tiers())
    if (x.tier() == name) return x;
  throw std::runtime_error("no tier " + name);
}

TEST(NetworkCost, Nvl72ScaleUpIsThePartCountsTimesThePartFigures) {
  const v1::Scenario s = Scenario("GB200", 1152);  // 16 NVL72 racks
  const v1::NetworkParts& p = s.cluster().parts();
  const ScaleUpPartDefaults d = ScaleUpDefaultsFor("nvl72");
  EXPECT_EQ(p.scale_up_switches_per_domain(), 9);  // resolved from the kind
  EXPECT_EQ(p.scale_up_switch_power_w(), d.switch_power_w);
  const v1::TopologySummary t = Summary(s);
  const auto lines = Lines(t, "scale_up");
  ASSERT_EQ(lines.count("switch"), 1u);
  EXPECT_EQ(lines.at("switch").count(), 16 * 9);
  EXPECT_EQ(lines.at("cable (copper)").count(), 1152 * 72);
  const double capex = 16 * 9 * d.switch_price_usd + 1152 * 72 * d.cable_price_usd;
  const double power = 16 * 9 * d.switch_power_w;
  EXPECT_GT(capex, 0);
  EXPECT_GT(power, 0);
  EXPECT_DOUBLE_EQ(t.scale_up_cost_usd(), capex);
  EXPECT_DOUBLE_EQ(t.scale_up_power_w(), power);
  EXPECT_DOUBLE_EQ(t.scale_up_embodied_kgco2e(), 16 * 9 * d.switch_embodied_kgco2e);
  EXPECT_DOUBLE_EQ(Tier(t, "scale_up").capex_usd(), capex);
  EXPECT_TRUE(t.scale_up_in_accelerator());
}

TEST(NetworkCost, ScaleOutTiersAddUpToTheNetworkCostAndPower) {
  const v1::TopologySummary t = Summary(Scenario("H100-SXM", 4096));  // 2-tier fat-tree of 64-port switches
  double usd = 0, w = 0;
  for (const v1::NetworkTier& x : t.tiers()) {
    if (x.tier() == "scale_up") continue;
    usd += x.capex_usd();
    w += x.power_w();
  }
  EXPECT_NEAR(usd, t.network_cost_usd(), 1e-6 * usd);
  EXPECT_NEAR(w, t.network_power_w(), 1e-6 * w);
  // Optics: every transceiver of the scale-out fabric, in one tier.
  EXPECT_EQ(Tier(t, "optics").power_w(), static_cast<double>(t.transceivers()) * 13);
  EXPECT_GT(Tier(t, "leaf").embodied_kgco2e(), 0);
  EXPECT_GT(Tier(t, "optics").embodied_kgco2e(), 0);
  // HGX H100: 4 NVSwitch chips per 8-GPU baseboard.
  EXPECT_EQ(Lines(t, "scale_up").at("switch").count(), 512 * 4);
}

TEST(NetworkCost, CloudMatrixScaleUpOptics) {
  const v1::TopologySummary t = Summary(Scenario("Ascend-910C", 768));  // two CloudMatrix384 supernodes
  const auto lines = Lines(t, "scale_up");
  EXPECT_EQ(lines.at("transceiver").count(), 768 * 18);  // 6,912 LPO modules per 384 NPUs
  EXPECT_EQ(lines.at("switch").count(), 2 * 448);        // 336 L1 + 112 L2 UB switches per supernode
  EXPECT_EQ(lines.count("cable (copper)"), 0u);
  EXPECT_GT(lines.at("transceiver").total_w(), 0);
}

TEST(NetworkCost, TorusOpticsAndCircuitSwitchesMatchTpuV4) {
  // 4,096 chips in a 16^3 torus: a quarter of the 12,288 links cross a 4x4x4 cube face, on optics through OCS; TPU
  // v4 uses 48 OCS per 4,096 chips (Jouppi et al., ISCA 2023).
  const v1::TopologySummary t =
      Summary(Scenario("TPU-v5p", 4096, "scale_out { topology: \"torus\" torus_dims: [16, 16, 16] }"));
  const auto lines = Lines(t, "scale_up");
  EXPECT_EQ(lines.at("torus link (copper)").count(), 12288 - 3072);
  EXPECT_EQ(lines.at("transceiver (torus)").count(), 2 * 3072);
  EXPECT_EQ(lines.at("optical circuit switch").count(), 48);
  EXPECT_GT(t.scale_up_power_w(), 0);
}

TEST(NetworkCost, ExplicitZeroAndPricedApartAreKept) {
  const v1::Scenario s = Scenario("GB200", 144, "parts { scale_up_cables_per_gpu: 0 scale_up_priced_apart: true }");
  const v1::TopologySummary t = Summary(s);
  EXPECT_EQ(Lines(t, "scale_up").count("cable (copper)"), 0u);
  EXPECT_FALSE(t.scale_up_in_accelerator());
  EXPECT_DOUBLE_EQ(t.scale_up_cost_usd(), 2 * 9 * ScaleUpDefaultsFor("nvl72").switch_price_usd);
}

TEST(NetworkCost, ADomainSmallerThanTheKindsGetsItsShareOfTheSwitches) {
  // 8 GPUs of an NVL72 rack: one of its 9 switch trays; an HGX H100 server: its 4 NVSwitch chips.
  EXPECT_DOUBLE_EQ(Scenario("GB200", 8).cluster().parts().scale_up_switches_per_domain(), 1);
  EXPECT_DOUBLE_EQ(Scenario("H100-SXM", 8).cluster().parts().scale_up_switches_per_domain(), 4);
}

TEST(NetworkCost, MovingTheScaleUpPowerOutOfTheHostsKeepsTheFacilityPower) {
  const v1::Scenario s = Scenario("GB200", 1152);
  const v1::TopologySummary t = Summary(s);
  const PowerModel gpu(s.accelerator());
  EnergyConfig before;
  before.step_time_s = 1;
  before.num_gpus = 1152;
  before.network_w = t.network_power_w();
  EnergyConfig after = before;
  ApplyNetworkPower(t, after);
  EXPECT_DOUBLE_EQ(after.network_w, t.network_power_w() + t.scale_up_power_w());
  const GpuInterval busy[] = {{PowerState::kComputeBound, 0, 0.6}};
  EnergyAccumulator a(gpu, before), b(gpu, after);
  a.AddTimeline(busy, 1152);
  b.AddTimeline(busy, 1152);
  const v1::PowerSummary pa = a.Summary(), pb = b.Summary();
  EXPECT_NEAR(pb.facility_avg_w(), pa.facility_avg_w(), 1e-9 * pa.facility_avg_w());
  EXPECT_NEAR(pb.facility_peak_w(), pa.facility_peak_w(), 1e-9 * pa.facility_peak_w());
  EXPECT_NEAR(pb.network_total_avg_w() - pa.network_total_avg_w(), t.scale_up_power_w(), 1e-6);
  EXPECT_NEAR(pa.hosts_total_avg_w() - pb.hosts_total_avg_w(), t.scale_up_power_w(), 1e-6);
}

}  // namespace
}  // namespace clustersim::sim
