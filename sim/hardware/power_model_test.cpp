#include "sim/hardware/power_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/error.h"
#include "sim/hardware/accelerator.h"

namespace clustersim {
namespace {

// idle 100 W, TDP 500 W, comm 0.25 -> 200 W, memory-bound 0.5 -> 300 W, host 400 W per GPU at full load.
v1::Accelerator Toy() {
  v1::Accelerator a;
  a.set_name("Toy");
  a.set_bf16_tflops(100);
  a.set_hbm_gb(10);
  a.set_hbm_bandwidth_gbyte_per_s(1000);
  a.set_tdp_w(500);
  a.set_idle_w(100);
  a.set_comm_power_fraction(0.25);
  a.set_memory_bound_power_fraction(0.5);
  a.set_host_power_per_gpu_w(400);
  AcceleratorCatalog::FillDefaults(&a);
  return a;
}

TEST(PowerModel, StatesAreOrderedWithinIdleAndTdp) {
  const PowerModel p(Toy());
  EXPECT_DOUBLE_EQ(p.GpuWatts(PowerState::kIdle), 100);
  EXPECT_DOUBLE_EQ(p.GpuWatts(PowerState::kCommunicating), 200);
  EXPECT_DOUBLE_EQ(p.GpuWatts(PowerState::kMemoryBound), 300);
  EXPECT_DOUBLE_EQ(p.GpuWatts(PowerState::kComputeBound), 500);
  const AcceleratorCatalog catalog;
  for (const std::string& name : catalog.Names()) {
    v1::Accelerator req;
    req.set_name(name);
    const v1::Accelerator a = catalog.Resolve(req, "t");
    const PowerModel m(a);
    double prev = 0;
    for (PowerState s :
         {PowerState::kIdle, PowerState::kCommunicating, PowerState::kMemoryBound, PowerState::kComputeBound}) {
      const double w = m.GpuWatts(s);
      EXPECT_GE(w, a.idle_w()) << name << " " << ToString(s);
      EXPECT_LE(w, a.tdp_w()) << name << " " << ToString(s);
      EXPECT_GE(w, prev) << name;
      prev = w;
    }
  }
}

EnergyConfig Config(uint64_t gpus, double step_s) {
  EnergyConfig c;
  c.step_time_s = step_s;
  c.num_gpus = gpus;
  c.gpus_per_node = 8;
  c.host_idle_fraction = 0.5;
  c.network_w = 1000;
  c.pue = 1.25;
  c.tokens_per_step = 1e6;
  return c;
}

TEST(EnergyAccumulator, HandComputedStep) {
  const PowerModel p(Toy());
  EnergyAccumulator acc(p, Config(16, 10));
  // Representative GPU of 8: compute 0-6 s, comm 5-8 s (overlap 5-6 is compute), idle 8-10 s.
  const std::vector<GpuInterval> a = {{PowerState::kComputeBound, 0, 6}, {PowerState::kCommunicating, 5, 8}};
  // Another 8: memory-bound 2-4 s, idle otherwise.
  const std::vector<GpuInterval> b = {{PowerState::kMemoryBound, 2, 4}};
  acc.AddTimeline(a, 8);
  acc.AddTimeline(b, 8);
  const auto e = acc.Energy();
  // GPU energy: 8 x (6x500 + 2x200 + 2x100) + 8 x (2x300 + 8x100) = 8 x 3600 + 8 x 1400 = 40000 J.
  EXPECT_NEAR(e.gpus_j, 40000, 1e-9);
  // Load per GPU-second: (w - 100)/400. Sum of load-seconds: 8 x (6x1 + 2x0.25) + 8 x (2x0.5) = 60.
  // Hosts: 400 x (0.5 x 16 x 10 + 0.5 x 60) = 400 x 110 = 44000 J.
  EXPECT_NEAR(e.hosts_j, 44000, 1e-9);
  EXPECT_NEAR(e.network_j, 10000, 1e-9);
  EXPECT_NEAR(e.facility_j, 1.25 * (40000 + 44000 + 10000), 1e-9);
  const v1::PowerSummary s = acc.Summary();
  EXPECT_NEAR(s.gpu_avg_w(), 40000.0 / 10 / 16, 1e-9);
  EXPECT_DOUBLE_EQ(s.gpu_peak_w(), 500);
  EXPECT_NEAR(s.node_avg_w(), (40000.0 + 44000) / 10 / 16 * 8, 1e-9);
  // Peak: 0-2 s and 4-6 s have 8 GPUs at 500 and 8 at 100 (2-4 s adds 8 at 300): 8x500 + 8x300 = 6400 W GPUs.
  const double peak_gpus = 6400;
  const double peak_hosts = 400 * (0.5 * 16 + 0.5 * (8 * 1.0 + 8 * 0.5));
  EXPECT_NEAR(s.facility_peak_w(), 1.25 * (peak_gpus + peak_hosts + 1000), 1e-9);
  EXPECT_NEAR(s.energy_per_token_j(), s.energy_per_step_j() / 1e6, 1e-12);
}

TEST(EnergyAccumulator, EnergyIsConservedAcrossComponentsAndSamples) {
  const PowerModel p(Toy());
  EnergyAccumulator acc(p, Config(1024, 3.7));
  // A busy representative timeline: alternating compute / memory / comm with overlaps, standing for 1000 GPUs.
  std::vector<GpuInterval> iv;
  for (int i = 0; i < 300; ++i) {
    const double t = i * 0.012;
    iv.push_back({PowerState::kComputeBound, t, t + 0.006});
    iv.push_back({PowerState::kMemoryBound, t + 0.005, t + 0.009});
    iv.push_back({PowerState::kCommunicating, t + 0.004, t + 0.0115});
  }
  acc.AddTimeline(iv, 1000);
  const v1::PowerSummary s = acc.Summary();
  const double T = 3.7;
  EXPECT_NEAR(s.it_total_avg_w(), s.gpus_total_avg_w() + s.hosts_total_avg_w() + s.network_total_avg_w(), 1e-6);
  EXPECT_NEAR(s.energy_per_step_j(), s.facility_avg_w() * T, 1e-6);
  EXPECT_NEAR(s.facility_avg_w(), s.it_total_avg_w() * 1.25, 1e-6);
  for (std::size_t bins : {1u, 7u, 100u, 5000u}) {
    const auto samples = acc.Samples(bins);
    ASSERT_EQ(samples.size(), bins);
    double e = 0, egpu = 0;
    for (std::size_t i = 0; i < samples.size(); ++i) {
      const double t1 = i + 1 < samples.size() ? samples[i + 1].t_s() : T;
      e += samples[i].facility_w() * (t1 - samples[i].t_s());
      egpu += samples[i].gpus_w() * (t1 - samples[i].t_s());
      // Per-GPU draw stays within [idle, TDP].
      EXPECT_GE(samples[i].gpus_w() / 1024, 100 - 1e-9);
      EXPECT_LE(samples[i].gpus_w() / 1024, 500 + 1e-9);
      EXPECT_LE(samples[i].facility_w(), s.facility_peak_w() + 1e-6);
    }
    EXPECT_NEAR(e, s.energy_per_step_j(), 1e-6 * s.energy_per_step_j()) << bins;
    EXPECT_NEAR(egpu, s.gpus_total_avg_w() * T, 1e-6 * egpu) << bins;
  }
  EXPECT_GE(s.gpu_avg_w(), 100);
  EXPECT_LE(s.gpu_avg_w(), 500);
}

TEST(EnergyAccumulator, UncoveredTimeAndGpusAreIdleAndIntervalsAreClipped) {
  const PowerModel p(Toy());
  EnergyConfig c = Config(4, 2);
  c.network_w = 0;
  c.host_idle_fraction = 1;  // hosts constant
  EnergyAccumulator acc(p, c);
  const std::vector<GpuInterval> iv = {{PowerState::kComputeBound, -1, 1}, {PowerState::kComputeBound, 1.5, 9}};
  acc.AddTimeline(iv, 1);  // 3 GPUs never appear
  const auto e = acc.Energy();
  EXPECT_NEAR(e.gpus_j, (1 * 500 + 0.5 * 100 + 0.5 * 500) + 3 * 2 * 100, 1e-9);
  EXPECT_NEAR(e.hosts_j, 4 * 400 * 2, 1e-9);
}

TEST(EnergyAccumulator, RejectsBrokenInput) {
  const PowerModel p(Toy());
  EnergyConfig c = Config(8, 1);
  c.pue = 0.9;
  EXPECT_THROW(EnergyAccumulator(p, c), InputError);
  c.pue = 1.1;
  c.step_time_s = 0;
  EXPECT_THROW(EnergyAccumulator(p, c), SimulationError);
  EnergyAccumulator acc(p, Config(8, 1));
  const std::vector<GpuInterval> backwards = {{PowerState::kComputeBound, 0.5, 0.2}};
  EXPECT_THROW(acc.AddTimeline(backwards, 1), SimulationError);
  const std::vector<GpuInterval> ok = {{PowerState::kComputeBound, 0.1, 0.2}};
  acc.AddTimeline(ok, 8);
  EXPECT_THROW(acc.AddTimeline(ok, 1), SimulationError);  // 9 > 8 GPUs
}

TEST(NetworkPower, UsesPartsOrDefaults) {
  NetworkInventory inv;
  inv.switches = 10;
  inv.transceivers = 100;
  inv.nics = 64;
  v1::NetworkParts parts;
  EXPECT_DOUBLE_EQ(NetworkPowerW(inv, parts), 10 * NetworkPowerDefaults::kSwitchW +
                                                  100 * NetworkPowerDefaults::kTransceiverW +
                                                  64 * NetworkPowerDefaults::kNicW);
  parts.set_switch_power_w(1000);
  parts.set_transceiver_power_w(8);
  parts.set_nic_power_w(25);
  EXPECT_DOUBLE_EQ(NetworkPowerW(inv, parts), 10000 + 800 + 1600);
}

// Power swings (issue #22): a square wave of compute and idle, every GPU in step.
TEST(PowerSwing, SquareWaveGivesItsSwingRampsAndFrequency) {
  const PowerModel p(Toy());
  const EnergyConfig c = Config(16, 1.0);
  EnergyAccumulator acc(p, c);
  // Compute 0-0.3 s and 0.5-0.8 s, idle otherwise: two rises per step.
  acc.AddTimeline(std::vector<GpuInterval>{{PowerState::kComputeBound, 0, 0.3}, {PowerState::kComputeBound, 0.5, 0.8}},
                  16);
  const v1::PowerSwing w = acc.Swing(0.01);
  // Facility power: (GPUs + hosts + network) x PUE; all 16 GPUs at 500 W or 100 W.
  auto facility = [](double gpu_w) {
    const double load = (gpu_w - 100) / 400;
    return (16 * gpu_w + 400 * (0.5 * 16 + 0.5 * 16 * load) + 1000) * 1.25;
  };
  EXPECT_NEAR(w.step_max_w(), facility(500), 1e-6);
  EXPECT_NEAR(w.step_min_w(), facility(100), 1e-6);
  EXPECT_NEAR(w.step_swing_w(), facility(500) - facility(100), 1e-6);
  // The 10 ms window turns each jump into a linear ramp of (max - min) / 10 ms.
  EXPECT_NEAR(w.step_ramp_up_w_per_s(), w.step_swing_w() / 0.01, 1e-3);
  EXPECT_NEAR(w.step_ramp_down_w_per_s(), w.step_swing_w() / 0.01, 1e-3);
  EXPECT_DOUBLE_EQ(w.step_swings_per_s(), 2);
  EXPECT_NEAR(w.idle_w(), facility(100), 1e-6);
  // A window as long as the step averages the swing away.
  EXPECT_NEAR(acc.Swing(1.0).step_swing_w(), 0, 1e-6);
}

TEST(PowerSwing, FloorRaisesIdleAndCapClipsCompute) {
  v1::Accelerator a = Toy();
  a.set_power_floor_fraction(0.6);  // 300 W of the 500 W TDP
  const PowerModel floor(a);
  EXPECT_DOUBLE_EQ(floor.GpuWatts(PowerState::kIdle), 300);
  EXPECT_DOUBLE_EQ(floor.GpuWatts(PowerState::kCommunicating), 300);
  EXPECT_DOUBLE_EQ(floor.GpuWatts(PowerState::kComputeBound), 500);
  EXPECT_DOUBLE_EQ(floor.floor_w(), 300);
  EXPECT_DOUBLE_EQ(PowerModel(a, false).GpuWatts(PowerState::kIdle), 100);  // the reference without mitigations
  // The floor's energy cost over the square wave: 16 GPUs x 200 W x 0.4 s idle, plus their hosts' share, x PUE.
  const std::vector<GpuInterval> wave = {{PowerState::kComputeBound, 0, 0.3}, {PowerState::kComputeBound, 0.5, 0.8}};
  EnergyAccumulator with(floor, Config(16, 1.0)), without(PowerModel(a, false), Config(16, 1.0));
  with.AddTimeline(wave, 16);
  without.AddTimeline(wave, 16);
  EXPECT_LT(with.Swing(0.01).step_swing_w(), without.Swing(0.01).step_swing_w());
  EXPECT_NEAR(with.Energy().gpus_j - without.Energy().gpus_j, 16 * 200 * 0.4, 1e-6);

  v1::Accelerator capped = Toy();
  capped.set_power_cap_w(400);
  const PowerModel cap(capped);
  EXPECT_DOUBLE_EQ(cap.GpuWatts(PowerState::kComputeBound), 400);
  EXPECT_DOUBLE_EQ(cap.GpuWatts(PowerState::kMemoryBound), 300);
  // Clock at the cap: ((400 - 100) / (500 - 100))^(1/3).
  EXPECT_NEAR(PowerCapClockFactor(capped), std::cbrt(0.75), 1e-12);
  EXPECT_DOUBLE_EQ(PowerCapClockFactor(Toy()), 1);
}

TEST(PowerSwing, CapOutsideIdleToTdpIsBadInput) {
  v1::Accelerator a = Toy();
  a.set_power_cap_w(50);
  try {
    AcceleratorCatalog::Validate(a, "chip.textproto");
    FAIL() << "accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("accelerator.power_cap_w = 50: a board power limit must lie above idle_w"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace clustersim
