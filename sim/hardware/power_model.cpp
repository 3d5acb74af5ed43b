#include "sim/hardware/power_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace clustersim {

const char* ToString(PowerState s) {
  switch (s) {
    case PowerState::kIdle:
      return "idle";
    case PowerState::kCommunicating:
      return "communicating";
    case PowerState::kMemoryBound:
      return "memory_bound";
    case PowerState::kComputeBound:
      return "compute_bound";
  }
  return "unknown";
}

PowerModel::PowerModel(const v1::Accelerator& a, bool apply_mitigations) {
  const double idle = a.idle_w();
  const double tdp = a.tdp_w();
  if (!(tdp > 0) || !(idle >= 0) || !(idle < tdp)) {
    throw InputError::Field("", 0, "accelerator.idle_w", fmt::format("{}", idle),
                            fmt::format("must be >= 0 and < tdp_w ({})", tdp));
  }
  const double span = tdp - idle;
  watts_[0] = idle;
  watts_[1] = idle + std::clamp(a.comm_power_fraction(), 0.0, 1.0) * span;
  watts_[2] = idle + std::clamp(a.memory_bound_power_fraction(), 0.0, 1.0) * span;
  watts_[3] = tdp;
  host_power_per_gpu_w_ = a.host_power_per_gpu_w();
  if (!apply_mitigations) return;
  if (a.power_cap_w() > idle && a.power_cap_w() < tdp) {  // AcceleratorCatalog::Validate keeps it in (idle, tdp]
    cap_w_ = a.power_cap_w();
    for (double& w : watts_) w = std::min(w, cap_w_);
  }
  const double fraction = std::clamp(a.power_floor_fraction(), 0.0, 0.99);
  if (fraction > 0) {
    floor_w_ = std::max(idle, fraction * watts_[3]);
    for (double& w : watts_) w = std::max(w, floor_w_);
    if (watts_[0] >= watts_[3]) watts_[0] = std::nextafter(watts_[3], 0.0);  // keep idle < tdp
  }
}

double PowerCapClockFactor(const v1::Accelerator& a) {
  const double idle = a.idle_w(), tdp = a.tdp_w(), cap = a.power_cap_w();
  if (!(cap > idle) || !(cap < tdp)) return 1;
  return std::cbrt((cap - idle) / (tdp - idle));
}

double NetworkPowerW(const NetworkInventory& inv, const v1::NetworkParts& parts) {
  const double sw = parts.switch_power_w() > 0 ? parts.switch_power_w() : NetworkPowerDefaults::kSwitchW;
  const double tr = parts.transceiver_power_w() > 0 ? parts.transceiver_power_w() : NetworkPowerDefaults::kTransceiverW;
  const double nic = parts.nic_power_w() > 0 ? parts.nic_power_w() : NetworkPowerDefaults::kNicW;
  return static_cast<double>(inv.switches) * sw + static_cast<double>(inv.transceivers) * tr +
         static_cast<double>(inv.nics) * nic;
}

EnergyAccumulator::EnergyAccumulator(const PowerModel& gpu, const EnergyConfig& config)
    : idle_w_(gpu.idle_w()), tdp_w_(gpu.tdp_w()), host_full_w_(gpu.host_power_per_gpu_w()), config_(config) {
  if (!(config.pue >= 1) || !std::isfinite(config.pue)) {
    throw InputError::Field("", 0, "facility.pue", fmt::format("{}", config.pue), "must be >= 1");
  }
  if (!(config.step_time_s > 0) || !std::isfinite(config.step_time_s)) {
    throw SimulationError(fmt::format("energy: step_time_s = {}: must be > 0", config.step_time_s));
  }
  if (config.num_gpus < 1 || config.gpus_per_node < 1) {
    throw SimulationError(
        fmt::format("energy: num_gpus = {}, gpus_per_node = {}: must be >= 1", config.num_gpus, config.gpus_per_node));
  }
  if (!(config.scale_up_in_hosts_w >= 0) || !std::isfinite(config.scale_up_in_hosts_w)) {
    throw SimulationError(fmt::format("energy: scale_up_in_hosts_w = {}: must be >= 0", config.scale_up_in_hosts_w));
  }
  // At most the hosts' idle draw moves to the network; the rest of the scale-up fabric's power is on top.
  const double host_idle_w = gpu.host_power_per_gpu_w() * config.host_idle_fraction * double(config.num_gpus);
  config_.scale_up_in_hosts_w = std::min(config.scale_up_in_hosts_w, host_idle_w);
  if (!(config.host_idle_fraction >= 0 && config.host_idle_fraction <= 1)) {
    throw SimulationError(fmt::format("energy: host_idle_fraction = {}: must be in [0, 1]", config.host_idle_fraction));
  }
  if (!(config.network_w >= 0) || !(config.tokens_per_step >= 0)) {
    throw SimulationError(fmt::format("energy: network_w = {}, tokens_per_step = {}: must be >= 0", config.network_w,
                                      config.tokens_per_step));
  }
  gpu_peak_w_ = idle_w_;
  watts_by_state_[0] = gpu.GpuWatts(PowerState::kIdle);
  watts_by_state_[1] = gpu.GpuWatts(PowerState::kCommunicating);
  watts_by_state_[2] = gpu.GpuWatts(PowerState::kMemoryBound);
  watts_by_state_[3] = gpu.GpuWatts(PowerState::kComputeBound);
}

void EnergyAccumulator::AddTimeline(std::span<const GpuInterval> intervals, uint64_t multiplicity) {
  if (multiplicity == 0) return;
  if (covered_gpus_ + multiplicity > config_.num_gpus) {
    throw SimulationError(fmt::format("energy: timelines cover {} GPUs, more than the cluster's {}",
                                      covered_gpus_ + multiplicity, config_.num_gpus));
  }
  const double T = config_.step_time_s;
  scratch_.clear();
  for (const GpuInterval& iv : intervals) {
    if (!std::isfinite(iv.start_s) || !std::isfinite(iv.end_s) || iv.end_s < iv.start_s) {
      throw SimulationError(fmt::format("energy: interval [{}, {}] of state {} is not a finite forward interval",
                                        iv.start_s, iv.end_s, ToString(iv.state)));
    }
    const double a = std::clamp(iv.start_s, 0.0, T);
    const double b = std::clamp(iv.end_s, 0.0, T);
    if (b <= a || iv.state == PowerState::kIdle) continue;
    scratch_.push_back({a, static_cast<int>(iv.state), +1});
    scratch_.push_back({b, static_cast<int>(iv.state), -1});
  }
  std::sort(scratch_.begin(), scratch_.end(), [](const Edge& x, const Edge& y) { return x.t_s < y.t_s; });
  covered_gpus_ += multiplicity;  // only once the timeline is known to be valid

  // Sweep: the busiest active state holds between consecutive edge times. Emit the change of this GPU's power
  // above idle, scaled by the multiplicity, at each time the state changes.
  const double m = static_cast<double>(multiplicity);
  const std::size_t first_new = events_.size();
  int count[4] = {0, 0, 0, 0};
  double current_w = idle_w_;
  double last_t = 0;
  std::size_t i = 0;
  while (i < scratch_.size()) {
    const double t = scratch_[i].t_s;
    gpu_energy_above_idle_j_ += m * (current_w - idle_w_) * (t - last_t);
    for (; i < scratch_.size() && scratch_[i].t_s == t; ++i) count[scratch_[i].state] += scratch_[i].delta;
    int top = 0;
    for (int s = 3; s > 0; --s) {
      if (count[s] > 0) {
        top = s;
        break;
      }
    }
    const double w = watts_by_state_[top];
    if (w != current_w) {
      events_.push_back({t, m * (w - current_w)});
      current_w = w;
      gpu_peak_w_ = std::max(gpu_peak_w_, w);
    }
    last_t = t;
  }
  // All intervals have ended at the last edge, so current_w is back to idle here.
  const auto by_time = [](const Event& x, const Event& y) { return x.t_s < y.t_s; };
  std::inplace_merge(events_.begin(), events_.begin() + static_cast<std::ptrdiff_t>(first_new), events_.end(), by_time);
}

double EnergyAccumulator::HostsW(double gpus_w) const {
  const double n = static_cast<double>(config_.num_gpus);
  const double h0 = config_.host_idle_fraction;
  const double load_sum = (gpus_w - n * idle_w_) / (tdp_w_ - idle_w_);  // sum over GPUs of each GPU's load
  return host_full_w_ * (h0 * n + (1 - h0) * load_sum) - config_.scale_up_in_hosts_w;
}

double EnergyAccumulator::FacilityW(double gpus_w) const {
  return (gpus_w + HostsW(gpus_w) + config_.network_w) * config_.pue;
}

namespace {

// The cluster's GPU power as a periodic step function: `levels[j]` holds from `times[j]` to the next time (the last
// to the period's end); times[0] = 0. Integral() is its integral from 0 to any t (periodic beyond [0, T]).
struct StepProfile {
  std::vector<double> times, levels, prefix;  // prefix[j] = integral from 0 to times[j]
  double period = 0;

  size_t Index(double t) const {  // last j with times[j] <= t, t in [0, period)
    return static_cast<size_t>(std::upper_bound(times.begin(), times.end(), t) - times.begin()) - 1;
  }
  double Wrap(double t) const {
    double r = std::fmod(t, period);
    return r < 0 ? r + period : r;
  }
  double Level(double t) const { return levels[Index(Wrap(t))]; }
  double Integral(double t) const {
    const double cycles = std::floor(t / period);
    const double r = t - cycles * period;
    const size_t j = Index(std::min(r, std::nextafter(period, 0.0)));
    return cycles * (prefix.back() + levels.back() * (period - times.back())) + prefix[j] + levels[j] * (r - times[j]);
  }
};

}  // namespace

v1::PowerSwing EnergyAccumulator::Swing(double window_s) const {
  const double T = config_.step_time_s;
  const double w = std::clamp(window_s, T * 1e-9, T);
  StepProfile p;
  p.period = T;
  p.times.push_back(0);
  p.levels.push_back(static_cast<double>(config_.num_gpus) * idle_w_);
  for (size_t i = 0; i < events_.size();) {
    const double t = events_[i].t_s;
    double level = p.levels.back();
    for (; i < events_.size() && events_[i].t_s == t; ++i) level += events_[i].delta_w;
    if (t <= 0) {
      p.levels.back() = level;
    } else if (t < T) {
      p.times.push_back(t);
      p.levels.push_back(level);
    }
  }
  p.prefix.resize(p.times.size());
  for (size_t j = 1; j < p.times.size(); ++j)
    p.prefix[j] = p.prefix[j - 1] + p.levels[j - 1] * (p.times[j] - p.times[j - 1]);
  // The window average A(t) is piecewise linear with breaks where t or t - w crosses a change of the profile; its
  // slope (G(t) - G(t - w)) / w is constant between them.
  std::vector<double> at;
  at.reserve(2 * p.times.size());
  for (const double t : p.times) {
    at.push_back(t);
    at.push_back(p.Wrap(t + w));
  }
  std::sort(at.begin(), at.end());
  at.erase(std::unique(at.begin(), at.end()), at.end());
  std::vector<double> avg(at.size());
  double lo = 1e300, hi = -1e300, up = 0, down = 0;
  for (size_t k = 0; k < at.size(); ++k) {
    avg[k] = (p.Integral(at[k] + T) - p.Integral(at[k] + T - w)) / w;
    lo = std::min(lo, avg[k]);
    hi = std::max(hi, avg[k]);
    const double slope = (p.Level(at[k]) - p.Level(at[k] - w)) / w;
    up = std::max(up, slope);
    down = std::max(down, -slope);
  }
  const double mid = (lo + hi) / 2;
  uint64_t rises = 0;
  for (size_t k = 0; k < at.size() && hi > lo; ++k)
    if (avg[k] < mid && avg[(k + 1) % at.size()] >= mid) ++rises;
  const double slope_f = FacilityW(1) - FacilityW(0);  // facility W per GPU W
  v1::PowerSwing s;
  s.set_step_max_w(FacilityW(hi));
  s.set_step_min_w(FacilityW(lo));
  s.set_step_swing_w(FacilityW(hi) - FacilityW(lo));
  s.set_ramp_window_s(w);
  s.set_step_ramp_up_w_per_s(up * slope_f);
  s.set_step_ramp_down_w_per_s(down * slope_f);
  s.set_step_swings_per_s(static_cast<double>(rises) / T);
  s.set_idle_w(FacilityW(static_cast<double>(config_.num_gpus) * idle_w_));
  return s;
}

EnergyAccumulator::StepEnergy EnergyAccumulator::Energy() const {
  const double T = config_.step_time_s;
  const double n = static_cast<double>(config_.num_gpus);
  StepEnergy e;
  e.gpus_j = n * idle_w_ * T + gpu_energy_above_idle_j_;
  e.hosts_j = HostsW(e.gpus_j / T) * T;
  e.network_j = config_.network_w * T;
  e.it_j = e.gpus_j + e.hosts_j + e.network_j;
  e.facility_j = e.it_j * config_.pue;
  return e;
}

v1::PowerSummary EnergyAccumulator::Summary() const {
  const double T = config_.step_time_s;
  const double n = static_cast<double>(config_.num_gpus);
  const StepEnergy e = Energy();
  v1::PowerSummary s;
  s.set_gpu_avg_w(e.gpus_j / T / n);
  s.set_gpu_peak_w(gpu_peak_w_);
  s.set_node_avg_w((e.gpus_j + e.hosts_j) / T / n * config_.gpus_per_node);
  s.set_gpus_total_avg_w(e.gpus_j / T);
  s.set_hosts_total_avg_w(e.hosts_j / T);
  s.set_network_total_avg_w(e.network_j / T);
  s.set_it_total_avg_w(e.it_j / T);
  s.set_facility_avg_w(e.facility_j / T);
  // The cluster's GPU power is piecewise constant between events; host power grows with it, so the facility peak
  // is at the largest GPU total.
  double gpus_w = n * idle_w_;
  double peak_gpus_w = gpus_w;
  for (std::size_t i = 0; i < events_.size();) {
    const double t = events_[i].t_s;
    for (; i < events_.size() && events_[i].t_s == t; ++i) gpus_w += events_[i].delta_w;
    peak_gpus_w = std::max(peak_gpus_w, gpus_w);
  }
  s.set_facility_peak_w((peak_gpus_w + HostsW(peak_gpus_w) + config_.network_w) * config_.pue);
  s.set_energy_per_step_j(e.facility_j);
  if (config_.tokens_per_step > 0) s.set_energy_per_token_j(e.facility_j / config_.tokens_per_step);
  return s;
}

std::vector<v1::PowerSample> EnergyAccumulator::Samples(std::size_t bins) const {
  std::vector<v1::PowerSample> out;
  if (bins == 0) return out;
  out.reserve(bins);
  const double T = config_.step_time_s;
  const double width = T / static_cast<double>(bins);
  double gpus_w = static_cast<double>(config_.num_gpus) * idle_w_;  // current level
  std::size_t i = 0;
  for (std::size_t b = 0; b < bins; ++b) {
    const double t0 = width * static_cast<double>(b);
    const double t1 = (b + 1 == bins) ? T : width * static_cast<double>(b + 1);
    double energy = 0;
    double t = t0;
    while (i < events_.size() && events_[i].t_s < t1) {
      energy += gpus_w * (events_[i].t_s - t);
      t = events_[i].t_s;
      gpus_w += events_[i].delta_w;
      ++i;
    }
    energy += gpus_w * (t1 - t);
    const double avg_gpus_w = energy / (t1 - t0);
    const double hosts_w = HostsW(avg_gpus_w);
    v1::PowerSample p;
    p.set_t_s(t0);
    p.set_gpus_w(avg_gpus_w);
    p.set_hosts_w(hosts_w);
    p.set_network_w(config_.network_w);
    p.set_facility_w((avg_gpus_w + hosts_w + config_.network_w) * config_.pue);
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace clustersim
