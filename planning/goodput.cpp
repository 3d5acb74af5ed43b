// See goodput.h.
#include "planning/goodput.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "common/error.h"
#include "planning/run.h"
#include "results/compare.h"
#include "workloads/model.h"

namespace clustersim::planning {
namespace {

double OrDefault(double v, double d) { return v != 0 ? v : d; }

// Expected wall time of one segment of L seconds (compute + checkpoint) with restart R and MTBF M.
double SegmentWallS(double length_s, double restart_s, double mtbf_s) {
  if (std::isinf(mtbf_s)) return length_s;
  return mtbf_s * std::exp(restart_s / mtbf_s) * std::expm1(length_s / mtbf_s);
}

class ExponentialDraws {
 public:
  ExponentialDraws(uint64_t seed, double mean_s) : rng_(seed), mean_s_(mean_s) {}
  double Next() {
    if (std::isinf(mean_s_)) return mean_s_;
    const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;  // [0, 1), 53 random bits
    return -mean_s_ * std::log1p(-u);
  }

 private:
  std::mt19937_64 rng_;
  double mean_s_;
};

void CheckModel(const FailureModel& m) {
  if (!(m.work_s > 0) || !(m.interval_s > 0) || !(m.checkpoint_s >= 0) || !(m.restart_s >= 0) || !(m.mtbf_s > 0))
    throw InputError::Field("", 0, "reliability", "(failure model)",
                            fmt::format("needs work ({} s), checkpoint interval ({} s) and MTBF ({} s) > 0 and "
                                        "checkpoint ({} s) and restart ({} s) >= 0: check facility.training_tokens "
                                        "and the reliability fields",
                                        m.work_s, m.interval_s, m.mtbf_s, m.checkpoint_s, m.restart_s));
}

// Most interruptions the Monte-Carlo simulation draws in all (trials x interruptions per run): a few seconds.
constexpr double kMaxSimulatedInterruptions = 1e8;

}  // namespace

v1::Reliability ResolveReliability(const v1::Reliability& in, uint32_t num_gpus) {
  using L = Llama3Failures;
  v1::Reliability r = in;
  const bool llama3 = in.preset().empty() || in.preset() == "llama3";
  const double k = llama3 ? 1.0 : 0.0;
  r.set_gpu_failures_per_hour(OrDefault(in.gpu_failures_per_hour(), k * L::kGpuEvents / (L::kGpus * L::kHours)));
  r.set_hbm_failures_per_hour(OrDefault(in.hbm_failures_per_hour(), k * L::kHbmEvents / (L::kGpus * L::kHours)));
  r.set_host_failures_per_hour(OrDefault(in.host_failures_per_hour(), k * L::kHostEvents / (L::kHosts * L::kHours)));
  r.set_nic_failures_per_hour(OrDefault(in.nic_failures_per_hour(), k * L::kNicEvents / (L::kNics * L::kHours)));
  r.set_switch_failures_per_hour(
      OrDefault(in.switch_failures_per_hour(), k * 0.5 * L::kNetworkEvents / (L::kSwitches * L::kHours)));
  r.set_link_failures_per_hour(
      OrDefault(in.link_failures_per_hour(), k * 0.5 * L::kNetworkEvents / (L::kCables * L::kHours)));
  r.set_software_failures_per_hour(
      OrDefault(in.software_failures_per_hour(), k * L::kSoftwareEvents / (L::kGpus * L::kHours)));
  r.set_checkpoint_gbyte_per_s(
      OrDefault(in.checkpoint_gbyte_per_s(), static_cast<double>(num_gpus) * L::kStorageGbytePerS / L::kGpus));
  r.set_restart_s(OrDefault(in.restart_s(), ReliabilityDefaults::kRestartS));
  return r;
}

double FailuresPerHour(const v1::Reliability& r, const ComponentCounts& c) {
  return c.gpus * (r.gpu_failures_per_hour() + r.hbm_failures_per_hour() + r.software_failures_per_hour()) +
         c.nodes * r.host_failures_per_hour() + c.nics * r.nic_failures_per_hour() +
         c.switches * r.switch_failures_per_hour() + c.links * r.link_failures_per_hour();
}

double YoungIntervalS(double checkpoint_s, double mtbf_s) { return std::sqrt(2 * checkpoint_s * mtbf_s); }

double DalyIntervalS(double checkpoint_s, double mtbf_s) {
  if (checkpoint_s >= 2 * mtbf_s) return mtbf_s;
  const double x = checkpoint_s / (2 * mtbf_s);
  return YoungIntervalS(checkpoint_s, mtbf_s) * (1 + std::sqrt(x) / 3 + x / 9) - checkpoint_s;
}

double ExpectedWallS(const FailureModel& m) {
  CheckModel(m);
  const double full = std::floor(m.work_s / m.interval_s);
  const double rest = m.work_s - full * m.interval_s;
  double t = full * SegmentWallS(m.interval_s + m.checkpoint_s, m.restart_s, m.mtbf_s);
  if (rest > 0) t += SegmentWallS(rest + m.checkpoint_s, m.restart_s, m.mtbf_s);
  return t;
}

MonteCarloResult SimulateFailures(const FailureModel& m, uint32_t trials, uint64_t seed, const ProgressFn& progress) {
  CheckModel(m);
  if (trials == 0) throw InputError::Field("", 0, "--trials", "0", "must be >= 1");
  // Each interruption is a draw: bound the work before starting (the expected count is exact, ExpectedWallS).
  const double per_run = std::isinf(m.mtbf_s) ? 0 : ExpectedWallS(m) / m.mtbf_s;
  if (!(per_run * trials <= kMaxSimulatedInterruptions))
    throw InputError::Field("", 0, "--trials", std::to_string(trials),
                            fmt::format("the run expects {:.3g} interruptions (MTBF {:.3g} s over {:.3g} s of work), "
                                        "{:.3g} to draw in all; at most {:.0e} are simulated: lower --trials, the "
                                        "token budget or the reliability failure rates",
                                        per_run, m.mtbf_s, m.work_s, per_run * trials, kMaxSimulatedInterruptions));
  ProgressTask shown(progress, "trials", trials);
  const uint32_t report_every = std::max(1u, trials / 100);
  const double seg = m.interval_s + m.checkpoint_s;
  const auto full = static_cast<uint64_t>(std::floor(m.work_s / m.interval_s));
  const double rest = m.work_s - static_cast<double>(full) * m.interval_s;
  ExponentialDraws draw(seed, m.mtbf_s);
  double sum = 0, sum_sq = 0, failures_sum = 0;
  for (uint32_t trial = 0; trial < trials; ++trial) {
    if (trial % report_every == 0) shown.Set(trial, trials);
    double t = 0;
    uint64_t failures = 0;
    auto restart = [&]() {
      for (;;) {
        const double y = draw.Next();
        if (y >= m.restart_s) {
          t += m.restart_s;
          return;
        }
        t += y;
        ++failures;
      }
    };
    double x = draw.Next();  // time to the next failure, from the start of the current segment
    uint64_t done = 0;
    while (done < full) {
      // Memoryless: every whole segment that fits before the failure completes.
      const double fit = std::floor(x / seg);
      const uint64_t k = fit >= static_cast<double>(full - done) ? full - done : static_cast<uint64_t>(fit);
      t += static_cast<double>(k) * seg;
      x -= static_cast<double>(k) * seg;
      done += k;
      if (done == full) break;
      t += x;
      ++failures;
      restart();
      x = draw.Next();
    }
    if (rest > 0) {
      const double last = rest + m.checkpoint_s;
      while (x < last) {
        t += x;
        ++failures;
        restart();
        x = draw.Next();
      }
      t += last;
    }
    sum += t;
    sum_sq += t * t;
    failures_sum += static_cast<double>(failures);
  }
  MonteCarloResult r;
  r.trials = trials;
  r.mean_wall_s = sum / trials;
  r.stddev_wall_s = std::sqrt(std::max(0.0, sum_sq / trials - r.mean_wall_s * r.mean_wall_s));
  r.mean_interruptions = failures_sum / trials;
  r.goodput = m.work_s / r.mean_wall_s;
  return r;
}

namespace {

struct Analysis {
  FailureModel model;
  double checkpoint_gb = 0;
  double young_s = 0, daly_s = 0;
};

Analysis Analyze(const v1::RunResult& r) {
  const v1::Scenario& s = r.scenario();
  const v1::Reliability rel = ResolveReliability(s.reliability(), s.cluster().num_gpus());  // idempotent
  if (!(r.projection().wall_clock_days() > 0) || !(r.step_time_s() > 0))
    throw InputError::Field("", 0, "facility.training_tokens", fmt::format("{}", s.facility().training_tokens()),
                            "goodput needs a run projection: a token budget and a step that takes time");
  ComponentCounts c;
  c.gpus = s.cluster().num_gpus();
  c.nodes = static_cast<double>(r.topology().nodes());
  c.nics = c.gpus * s.cluster().scale_out().nics_per_gpu();
  if (s.cluster().scale_out().topology() == "none") c.nics = 0;
  c.switches = static_cast<double>(r.topology().switches());
  c.links = c.nics + static_cast<double>(r.topology().switch_links());
  const double per_hour = FailuresPerHour(rel, c);
  Analysis a;
  FailureModel& m = a.model;
  m.mtbf_s = per_hour > 0 ? 3600.0 / per_hour : std::numeric_limits<double>::infinity();
  const wl::ParamCount params = wl::CountParams(s.workload().model());
  a.checkpoint_gb = (params.total + params.mtp) * ReliabilityDefaults::kCheckpointBytesPerParam / 1e9;
  const double io_s = rel.checkpoint_gbyte_per_s() > 0 ? a.checkpoint_gb / rel.checkpoint_gbyte_per_s() : 0;
  m.checkpoint_s = rel.checkpoint_stall_s() > 0 ? rel.checkpoint_stall_s() : io_s;
  m.restart_s = rel.restart_s() + io_s;
  m.work_s = r.projection().wall_clock_days() * 86400.0;
  const double step = r.step_time_s();
  if (std::isinf(m.mtbf_s)) {
    a.young_s = a.daly_s = m.work_s;
  } else if (m.checkpoint_s > 0) {
    a.young_s = YoungIntervalS(m.checkpoint_s, m.mtbf_s);
    a.daly_s = DalyIntervalS(m.checkpoint_s, m.mtbf_s);
  } else {
    a.young_s = a.daly_s = step;  // free checkpoints: every step
  }
  const double target = rel.checkpoint_interval_s() > 0 ? rel.checkpoint_interval_s() : a.daly_s;
  m.interval_s = std::max(1.0, std::round(target / step)) * step;
  return a;
}

}  // namespace

FailureModel FailureModelOf(const v1::RunResult& r) { return Analyze(r).model; }

v1::Goodput AnalyzeGoodput(const v1::RunResult& r) {
  const Analysis a = Analyze(r);
  const FailureModel& m = a.model;
  const double wall_s = ExpectedWallS(m);
  const double stretch = wall_s / m.work_s;
  v1::Goodput g;
  g.set_mtbf_hours(m.mtbf_s / 3600.0);
  g.set_checkpoint_gb(a.checkpoint_gb);
  g.set_checkpoint_s(m.checkpoint_s);
  g.set_restart_s(m.restart_s);
  g.set_checkpoint_interval_s(m.interval_s);
  g.set_young_interval_s(a.young_s);
  g.set_daly_interval_s(a.daly_s);
  g.set_goodput(1 / stretch);
  g.set_expected_interruptions(std::isinf(m.mtbf_s) ? 0 : wall_s / m.mtbf_s);
  g.set_wall_clock_days(wall_s / 86400.0);
  g.set_energy_mwh(r.projection().energy_mwh() * stretch);
  g.set_cost_usd(r.projection().cost_usd() * stretch);
  return g;
}

GoodputStudy StudyGoodput(v1::Scenario s, double tokens, uint32_t trials, uint64_t seed, const std::string& source,
                          const ProgressFn& progress) {
  if (trials == 0 || trials > 1000000)
    throw InputError::Field("", 0, "trials", std::to_string(trials),
                            "must be 1 to 1,000,000 (the Monte-Carlo error falls as 1/sqrt(trials))");
  if (tokens > 0) {
    s.mutable_facility()->set_training_tokens(tokens);
    s.mutable_facility()->set_training_flops(0);  // the budget given replaces the scenario's
  }
  if (!(s.facility().training_tokens() > 0))
    throw InputError::Field(source, 0, "facility.training_tokens", "0",
                            "goodput needs a budget (--tokens, facility.training_tokens or facility.training_flops)");
  GoodputStudy g;
  g.seed = seed;
  ProgressTask parts(progress, "part", 2, false);
  parts.Start("one step");
  g.result = RunStep(s, source, parts.Inner());
  parts.Finish();
  parts.Start("Monte-Carlo");
  g.monte_carlo = SimulateFailures(FailureModelOf(g.result), trials, seed, parts.Inner());
  parts.Finish();
  return g;
}

std::string GoodputTable(const GoodputStudy& study) {
  const v1::RunResult& r = study.result;
  const v1::Projection& pr = r.projection();
  const v1::Goodput& g = pr.goodput();
  const MonteCarloResult& mc = study.monte_carlo;
  std::string o =
      fmt::format("# {}: {} tokens on {} GPUs, step {:.3f} s, {:.2f} days without failures\n", r.scenario().name(),
                  results::FormatTokens(pr.training_tokens()), results::FormatCount(r.scenario().cluster().num_gpus()),
                  r.step_time_s(), pr.wall_clock_days());
  o += fmt::format("  MTBF        {:.3g} h ({:.3g} interruptions per day)\n", g.mtbf_hours(), 24 / g.mtbf_hours());
  o += fmt::format("  checkpoint  {:.1f} GB, {:.1f} s stall; restart {:.0f} s\n", g.checkpoint_gb(), g.checkpoint_s(),
                   g.restart_s());
  o += fmt::format("  interval    {:.0f} s used (Young {:.0f} s, Daly {:.0f} s)\n", g.checkpoint_interval_s(),
                   g.young_interval_s(), g.daly_interval_s());
  o += fmt::format("  {:<12} {:>10} {:>12} {:>14}\n", "", "goodput", "days", "interruptions");
  o += fmt::format("  {:<12} {:>9.2f}% {:>12.3f} {:>14.1f}\n", "analytic", 100 * g.goodput(), g.wall_clock_days(),
                   g.expected_interruptions());
  o += fmt::format("  {:<12} {:>9.2f}% {:>12.3f} {:>14.1f}   ({} trials, seed {}, +-{:.3f} days)\n", "monte-carlo",
                   100 * mc.goodput, mc.mean_wall_s / 86400, mc.mean_interruptions, mc.trials, study.seed,
                   mc.stddev_wall_s / std::sqrt(static_cast<double>(mc.trials)) / 86400);
  return o;
}

}  // namespace clustersim::planning
