// Power and energy of a simulated step (docs/energy-carbon.md).
//
// PowerModel: the draw of one accelerator in each activity state,
//   idle            idle_w
//   communicating   idle_w + comm_power_fraction x (tdp_w - idle_w)        (only collectives / copies in flight)
//   memory-bound    idle_w + memory_bound_power_fraction x (tdp_w - idle_w)
//   compute-bound   tdp_w                                                  (large GEMMs run at the power cap)
// always within [idle_w, tdp_w]. Mitigations (docs/energy-carbon.md, "Power swings"): accelerator.power_cap_w lowers
// tdp_w to the cap (every state is clipped to it; the compute model slows compute-bound kernels to match), and
// accelerator.power_floor_fraction raises every state, idle included, to at least that fraction of the (capped) TDP.
//
// EnergyAccumulator: takes the timelines of representative GPUs (intervals of activity states on [0, step_time_s];
// intervals of one timeline may overlap, the busiest state wins: compute > memory > communicating > idle; time not
// covered is idle), each standing for `multiplicity` identical GPUs; GPUs not covered by any timeline are idle.
// It adds
//   host power per GPU  = host_power_per_gpu_w x (h0 + (1 - h0) x load),  load = (gpu_w - idle_w) / (tdp_w - idle_w),
//                         h0 = host_idle_fraction (host_power_per_gpu_w is the host's share at full load);
//   network power       = constant (switches, transceivers and NICs draw about the same loaded or idle);
//   facility power      = IT power x PUE,
// and reports proto PowerSummary fields, a binned power-over-time series and the swing of the facility power
// (PowerSwing). Energy is conserved exactly: the sum of component energies equals facility_avg_w x step_time_s, and
// the samples integrate to the same energy.
//
// Units: watts, seconds, joules. Cost: O(n log n) per timeline of n intervals; memory O(total intervals).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "results.pb.h"
#include "scenario.pb.h"

namespace clustersim {

// Ordered by priority (a higher value wins where intervals overlap).
enum class PowerState : uint8_t { kIdle = 0, kCommunicating = 1, kMemoryBound = 2, kComputeBound = 3 };
const char* ToString(PowerState s);

class PowerModel {
 public:
  // `accelerator` must be resolved (AcceleratorCatalog::Resolve validated it). With `apply_mitigations` false the
  // power cap and floor are ignored (the reference their energy cost is measured against).
  explicit PowerModel(const v1::Accelerator& accelerator, bool apply_mitigations = true);
  double GpuWatts(PowerState s) const { return watts_[static_cast<int>(s)]; }
  double idle_w() const { return watts_[0]; }
  double tdp_w() const { return watts_[3]; }
  double host_power_per_gpu_w() const { return host_power_per_gpu_w_; }
  double cap_w() const { return cap_w_; }      // 0 = no cap applied
  double floor_w() const { return floor_w_; }  // 0 = no floor applied

 private:
  double watts_[4] = {0, 0, 0, 0};
  double host_power_per_gpu_w_ = 0;
  double cap_w_ = 0;
  double floor_w_ = 0;
};

// Clock (and compute-bound throughput) of an accelerator held to accelerator.power_cap_w, relative to its TDP:
// ((cap - idle) / (tdp - idle))^(1/3), dynamic power growing as the cube of the clock (P ~ f V^2, V ~ f) as in DVFS;
// 1 without a cap. An assumption of low confidence (docs/energy-carbon.md, "Power swings").
double PowerCapClockFactor(const v1::Accelerator& accelerator);

// Inventory of the scale-out network, for its power.
struct NetworkInventory {
  uint64_t switches = 0;
  uint64_t transceivers = 0;  // optical modules, each end counted
  uint64_t nics = 0;
};
// Per-part power used where NetworkParts leaves a field at zero. Estimates (confidence low), see
// docs/energy-carbon.md: a 51.2 Tb/s 64-port switch without its optics; a transceiver module averaged between a
// 400G NIC-side OSFP (8 W typ.) and an 800G twin-port switch-side OSFP (17 W max); a ConnectX-7 class NIC.
struct NetworkPowerDefaults {
  static constexpr double kSwitchW = 750;
  static constexpr double kTransceiverW = 13;
  static constexpr double kNicW = 22;
};
// switches x switch_power_w + transceivers x transceiver_power_w + nics x nic_power_w (defaults for zero fields).
double NetworkPowerW(const NetworkInventory& inventory, const v1::NetworkParts& parts);

struct GpuInterval {
  PowerState state = PowerState::kIdle;
  double start_s = 0;
  double end_s = 0;
};

struct EnergyConfig {
  double step_time_s = 0;           // > 0; timelines are clipped to [0, step_time_s]
  uint64_t num_gpus = 0;            // >= 1: all GPUs of the cluster
  uint32_t gpus_per_node = 8;       // >= 1, for node_avg_w
  double host_idle_fraction = 0.5;  // in [0, 1]: host draw with idle GPUs / host draw at full GPU load
  double network_w = 0;             // >= 0, total (NetworkPowerW and the scale-up fabric)
  // >= 0: of network_w, the part that accelerator.host_power_per_gpu_w already includes (the scale-up fabric, see
  // sim/network_cost.h); subtracted from the hosts so that it is counted once, capped at the hosts' idle draw.
  double scale_up_in_hosts_w = 0;
  double pue = 1.2;                 // >= 1
  double tokens_per_step = 0;       // >= 0; 0 leaves energy_per_token_j at 0
};

class EnergyAccumulator {
 public:
  // Throws InputError for pue < 1 ("facility.pue") and SimulationError for other broken config values.
  EnergyAccumulator(const PowerModel& gpu, const EnergyConfig& config);

  // Adds one representative GPU's timeline standing for `multiplicity` GPUs. Throws SimulationError if an interval
  // has end < start or a non-finite bound, or if the multiplicities add up to more than num_gpus.
  void AddTimeline(std::span<const GpuInterval> intervals, uint64_t multiplicity);

  struct StepEnergy {
    double gpus_j = 0, hosts_j = 0, network_j = 0, it_j = 0, facility_j = 0;
  };
  StepEnergy Energy() const;
  v1::PowerSummary Summary() const;
  // The facility power's swing over the step, the step repeating back to back: the power averaged over `window_s`
  // (clipped to the step; GPUs and power supplies follow load within milliseconds, so this is how fast the grid
  // sees it move), its maximum, minimum, steepest rise and fall (W/s), and rises through the middle of [min, max]
  // per second; idle_w is the facility power with every GPU idle. Exact for the piecewise-constant profile; cost
  // O(e log e) for e power changes.
  v1::PowerSwing Swing(double window_s) const;
  // `bins` samples of equal width covering the step; each is the average power over its bin (t_s = bin start), so
  // they integrate to the step energy exactly. bins = 0 gives an empty series.
  std::vector<v1::PowerSample> Samples(std::size_t bins) const;

 private:
  struct Event {
    double t_s;
    double delta_w;  // change of the cluster's GPU power above idle
  };
  double HostsW(double gpus_w) const;     // total host power for a total GPU power (affine)
  double FacilityW(double gpus_w) const;  // facility power for a total GPU power (affine, increasing)

  double idle_w_, tdp_w_, host_full_w_;
  EnergyConfig config_;
  uint64_t covered_gpus_ = 0;
  double gpu_peak_w_ = 0;
  double gpu_energy_above_idle_j_ = 0;  // summed over GPUs
  std::vector<Event> events_;           // sorted by time
  // Scratch reused across AddTimeline calls.
  struct Edge {
    double t_s;
    int state;
    int delta;
  };
  std::vector<Edge> scratch_;
  double watts_by_state_[4] = {0, 0, 0, 0};
};

}  // namespace clustersim
