// GPU-to-GPU variability; see variability.h.
#include "sim/variability.h"

#include <algorithm>
#include <cmath>

namespace clustersim::sim {

namespace {

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

double Uniform01(uint64_t bits) { return (static_cast<double>(bits >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

// Slowdowns are kept positive: a GPU more than 4 standard deviations fast is as fast as that.
constexpr double kMinSlowdown = 0.25;

}  // namespace

double NormalDeviate(uint64_t seed, uint64_t a, uint64_t b) {
  const uint64_t h = SplitMix(SplitMix(SplitMix(seed) ^ a) ^ (b * 0x632be59bd9b4e019ULL));
  const double u1 = Uniform01(h), u2 = Uniform01(SplitMix(h));
  return std::sqrt(-2 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

double ReplicaSlowdown::max() const { return stage.empty() ? 1 : *std::max_element(stage.begin(), stage.end()); }

VariabilityModel::VariabilityModel(const v1::Scenario& s, const wl::RankLayout& layout, bool experts)
    : layout_(layout), experts_(experts && layout.ep > 1), seed_(s.seed()) {
  const v1::Variability& v = s.cluster().variability();
  const bool none = v.model() == "none";
  cv_ = none ? 0 : (v.gpu_speed_cv() > 0 ? v.gpu_speed_cv() : s.accelerator().speed_cv());
  jitter_cv_ = v.step_jitter_cv();
  const uint32_t n = s.cluster().num_gpus(), per_node = std::max(1u, s.cluster().scale_up().gpus_per_node());
  const double slow_speed = v.slow_node_speed() > 0 ? v.slow_node_speed() : 0.9;
  persistent_.assign(n, 1.0);
  for (uint32_t g = 0; g < n; ++g)
    if (cv_ > 0) persistent_[g] = std::max(kMinSlowdown, 1 + cv_ * NormalDeviate(seed_, 1, g));
  if (v.slow_node_fraction() > 0)
    for (uint32_t node = 0; node < n / per_node; ++node)
      if (Uniform01(SplitMix(SplitMix(seed_ ^ 0x5107) ^ node)) < v.slow_node_fraction())
        for (uint32_t g = node * per_node; g < (node + 1) * per_node; ++g) persistent_[g] /= slow_speed;
  for (const v1::SlowComponent& c : v.slow()) {
    const uint32_t first = c.kind() == "node" ? c.index() * per_node : c.index();
    const uint32_t count = c.kind() == "node" ? per_node : 1;
    for (uint32_t g = first; g < first + count && g < n; ++g) persistent_[g] /= c.speed();
  }
  active_ = cv_ > 0 || jitter_cv_ > 0 || v.slow_node_fraction() > 0 || v.slow_size() > 0;
}

void VariabilityModel::SampleStep(uint32_t step, std::vector<double>& slowdown) const {
  slowdown = persistent_;
  if (jitter_cv_ <= 0) return;
  for (uint32_t g = 0; g < slowdown.size(); ++g)
    slowdown[g] *= std::max(kMinSlowdown, 1 + jitter_cv_ * NormalDeviate(seed_, 2 + step, g));
}

// Largest slowdown of the synchronisation component of every data-parallel replica at `stage`. A stage's ranks are
// numbered tp fastest, then cp, then dp: a replica's TP x CP unit is the contiguous range [d U, (d + 1) U), an EP
// block the contiguous range of ep x etp ranks; overlapping ranges merge into one component.
void VariabilityModel::StageComponents(uint32_t stage, const std::vector<double>& slowdown,
                                       std::vector<double>& per_replica) const {
  const uint32_t unit = layout_.tp * layout_.cp, size = unit * layout_.dp;
  const uint32_t block = experts_ ? layout_.ep * layout_.etp() : 1;
  const uint32_t base = stage * size;
  per_replica.assign(layout_.dp, 1.0);
  uint32_t begin = 0;
  while (begin < size) {
    // Extend the component while a unit or a block started inside it ends further on.
    uint32_t end = begin;
    double worst = 0;
    for (uint32_t i = begin; i < std::max(end, begin + 1); ++i) {
      end = std::max({end, (i / unit + 1) * unit, (i / block + 1) * block});
      worst = std::max(worst, slowdown[base + i]);
    }
    for (uint32_t d = begin / unit; d < end / unit; ++d) per_replica[d] = worst;
    begin = end;
  }
}

std::vector<double> VariabilityModel::StageReplicaSlowdowns(uint32_t step, uint32_t stage) const {
  std::vector<double> slowdown, per_replica;
  SampleStep(step, slowdown);
  StageComponents(stage, slowdown, per_replica);
  return per_replica;
}

ReplicaSlowdown VariabilityModel::SlowestReplica(uint32_t step) const {
  const uint32_t pp = layout_.pp, dp = layout_.dp;
  ReplicaSlowdown best;
  best.stage.assign(pp, 1.0);
  if (!active_) return best;
  std::vector<double> slowdown, per_replica;
  SampleStep(step, slowdown);
  std::vector<double> worst(dp, 0), sum(dp, 0);
  std::vector<std::vector<double>> stages(pp);
  for (uint32_t p = 0; p < pp; ++p) {
    StageComponents(p, slowdown, per_replica);
    stages[p] = per_replica;
    for (uint32_t d = 0; d < dp; ++d) {
      worst[d] = std::max(worst[d], per_replica[d]);
      sum[d] += per_replica[d];
    }
  }
  uint32_t r = 0;
  for (uint32_t d = 1; d < dp; ++d)
    if (worst[d] > worst[r] || (worst[d] == worst[r] && sum[d] > sum[r])) r = d;
  best.replica = r;
  for (uint32_t p = 0; p < pp; ++p) best.stage[p] = stages[p][r];
  return best;
}

}  // namespace clustersim::sim
