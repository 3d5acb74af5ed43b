// Failures and goodput of a training run: component failure rates, checkpoint cost, restart, the optimal checkpoint
// interval (Young 1974, Daly 2006) and the expected time to train with failures, by closed form and by a seeded
// Monte-Carlo simulation of the same model (docs/capacity-planning.md, "Failures and goodput").
//
// Model: interruptions of the synchronous job arrive as a Poisson process of rate 1/M (M = system MTBF = 1 / sum of
// rate x count over the components). The run's W seconds of ideal compute are cut into segments of `interval` s,
// each followed by a checkpoint stall of C s; a failure anywhere in a segment or its checkpoint loses that segment,
// and costs a restart of R s (restart + checkpoint reload), itself interruptible. The expected wall time of one
// segment of length L is M e^(R/M) (e^((L + C)/M) - 1) (Daly 2006, eq. 12), so the whole run, n full segments and a
// remainder r, takes
//   E[T] = M e^(R/M) [ n (e^((tau + C)/M) - 1) + (e^((r + C)/M) - 1) [r > 0] ],   goodput = W / E[T],
// and the expected number of interruptions is E[T] / M (Wald). Units: seconds unless the name says otherwise.
#pragma once

#include <cstdint>

#include "common/progress.h"
#include "results.pb.h"
#include "scenario.pb.h"

namespace clustersim::planning {

// Defaults derived from Table 5 of "The Llama 3 Herd of Models" (Meta, 2024, arXiv:2407.21783): 419 unexpected
// interruptions in a 54-day snapshot of Llama 3 405B pre-training on 16,384 H100 GPUs (2,048 hosts of 8 GPUs, one
// 400 Gb/s NIC per GPU). Each root-cause count is divided by the component-hours of its component class. The
// switches and cables of that cluster are taken as a non-blocking radix-64 three-tier fat tree for 16,384 NICs
// (clustersim's fat_tree generator: 1,280 switches, 32,768 switch-to-switch cables + 16,384 NIC cables).
struct Llama3Failures {
  static constexpr double kHours = 54.0 * 24.0;
  static constexpr double kGpus = 16384, kHosts = 2048, kNics = 16384, kSwitches = 1280, kCables = 49152;
  // Faulty GPU 148, GPU SRAM 19, GPU system processor 17, silent data corruption 6, GPU thermal 6.
  static constexpr double kGpuEvents = 148 + 19 + 17 + 6 + 6;
  static constexpr double kHbmEvents = 72;  // GPU HBM3 memory
  // Host maintenance 32, SSD 3, power supply 3, server chassis 2, IO expansion board 2, CPU 2, system memory 2.
  static constexpr double kHostEvents = 32 + 3 + 3 + 2 + 2 + 2 + 2;
  static constexpr double kNicEvents = 7;
  static constexpr double kNetworkEvents = 35;  // network switch/cable: half to switches, half to cables
  static constexpr double kSoftwareEvents = 54 + 7 + 2;  // software bug 54, NCCL watchdog 7, dependency 2
  static constexpr double kStorageGbytePerS = 2000;      // Tectonic, 2 TB/s sustained (Llama 3 paper, 3.3.1)
};

struct ReliabilityDefaults {
  static constexpr double kRestartS = 600;
  static constexpr double kCheckpointBytesPerParam = 14;  // bf16 weights + fp32 master weights + Adam m, v
};

// The reliability block with every zero field given its default (rates: preset "llama3" or "" -> Table 5 rates,
// "none" -> 0; checkpoint bandwidth scaled to num_gpus; restart 600 s). The preset is written back as given.
v1::Reliability ResolveReliability(const v1::Reliability& reliability, uint32_t num_gpus);

// Components whose failures interrupt the job.
struct ComponentCounts {
  double gpus = 0, nodes = 0, nics = 0, switches = 0, links = 0;
};
// Interruptions per hour of the whole job.
double FailuresPerHour(const v1::Reliability& resolved, const ComponentCounts& counts);

// Young's first-order optimum sqrt(2 C M), and Daly's higher-order one: sqrt(2 C M) (1 + sqrt(C / 2M) / 3 +
// C / 18M) - C for C < 2M, else M. Inputs > 0.
double YoungIntervalS(double checkpoint_s, double mtbf_s);
double DalyIntervalS(double checkpoint_s, double mtbf_s);

struct FailureModel {
  double work_s = 0;        // ideal compute time of the run (> 0)
  double interval_s = 0;    // compute between checkpoints (> 0)
  double checkpoint_s = 0;  // stall per checkpoint (>= 0)
  double restart_s = 0;     // restart + reload after each interruption (>= 0)
  double mtbf_s = 0;        // > 0; infinity = no failures
};
// E[T] of the header comment (exact for the model).
double ExpectedWallS(const FailureModel& m);

struct MonteCarloResult {
  uint32_t trials = 0;
  double mean_wall_s = 0;
  double stddev_wall_s = 0;  // of one trial
  double mean_interruptions = 0;
  double goodput = 0;        // work_s / mean_wall_s
};
// Simulates `trials` runs of the model with exponential inter-failure times drawn from std::mt19937_64(seed) as
// -M log(1 - u), u a 53-bit uniform (bit-identical on every standard library). Deterministic for a seed; cost
// O(trials x interruptions), independent of the number of checkpoints. Throws InputError naming --trials when
// trials x the expected interruptions per run exceeds 10^8 (the work is bounded before it starts). `progress`
// receives "trials" done.
MonteCarloResult SimulateFailures(const FailureModel& m, uint32_t trials, uint64_t seed,
                                  const ProgressFn& progress = {});

// The goodput of a projected run: counts from the result's scenario and topology, checkpoint size from the model's
// parameters, interval = reliability.checkpoint_interval_s or Daly's optimum, rounded to a whole number of steps
// (at least one). `r` must have a projection (facility.training_tokens > 0) and a resolved reliability block.
v1::Goodput AnalyzeGoodput(const v1::RunResult& r);
// The failure model AnalyzeGoodput evaluated (for the Monte-Carlo check of `clustersim goodput`).
FailureModel FailureModelOf(const v1::RunResult& r);

// `clustersim goodput`: one step of the resolved scenario projected to its budget (tokens > 0 replaces the
// scenario's), with the analytic goodput, and `trials` Monte-Carlo runs of the same failure model (1 to 1,000,000).
// `progress` receives "part" 1/2 (the step, its simulation nested) and 2/2 (the "trials"). Throws InputError
// without a budget or with a bad trial count.
struct GoodputStudy {
  v1::RunResult result;
  MonteCarloResult monte_carlo;
  uint64_t seed = 0;
};
GoodputStudy StudyGoodput(v1::Scenario resolved, double tokens, uint32_t trials, uint64_t seed,
                          const std::string& source, const ProgressFn& progress = {});
// Its terminal table: MTBF, checkpoint, interval, then analytic vs Monte-Carlo goodput, days and interruptions.
std::string GoodputTable(const GoodputStudy& study);

}  // namespace clustersim::planning
