// CSV renderings of results, for spreadsheets and data-frame tools (pandas.read_csv, R read.csv).
//
// Format: RFC 4180 fields (a field holding a comma, a double quote, CR or LF is quoted, quotes doubled), "\n" line
// ends, a header line first. Numbers are printed in the shortest form that reads back to the same double
// (e.g. 2.9361, 1.5e+13), integers as integers; a missing section (no projection) gives 0. Column names carry units
// like the proto fields. The column lists below are part of the interface: append new columns at the end, never
// rename or reorder (a unit test pins them).
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "results.pb.h"

namespace clustersim::results {

// StepCsv columns, one row per result:
//   scenario            Scenario.name
//   clustersim_version  version that produced the result
//   seed                scenario seed
//   gpus                cluster.num_gpus
//   accelerator         accelerator name
//   topology            scale-out topology ("fat_tree", "rail_optimized", ...)
//   model               model name
//   precision           "bf16" / "fp8"
//   tp cp pp dp ep      parallelism degrees
//   micro_batch_size global_batch_size  sequences
//   step_time_s         simulated step time
//   compute_s exposed_tp_comm_s exposed_cp_comm_s exposed_pp_comm_s exposed_dp_comm_s exposed_ep_comm_s
//   pipeline_bubble_s other_s                   step-time breakdown on the critical stage (sums to step_time_s)
//   tokens_per_s tokens_per_s_per_gpu           throughput
//   model_tflops_per_gpu hardware_tflops_per_gpu  achieved TFLOP/s per GPU (model FLOPs / incl. recompute)
//   mfu hfu gpu_utilization                     fractions (0..1), not percent
//   gpu_avg_w gpu_peak_w                        per GPU
//   facility_avg_w facility_peak_w it_total_avg_w network_total_avg_w   whole cluster
//   energy_per_step_j energy_per_token_j        facility energy
//   memory_total_gb memory_capacity_gb          per GPU
//   network_cost_usd                            switches, transceivers, NICs, cables
//   training_tokens wall_clock_days gpu_hours energy_mwh operational_tco2e embodied_tco2e cost_usd
//                                               projection of the full run (0 when the scenario sets no budget)
//   effective_precision                         the precision run (after a fallback the chip needs)
//   grid_carbon_g_per_kwh                       grid intensity used for the operational emissions
//   training_flops                              the run's 6·N·D model FLOPs (0 without a budget)
//   goodput wall_clock_days_with_failures energy_mwh_with_failures cost_usd_with_failures
//                                               the projection with failures, checkpoints and restarts
//   capex_usd opex_usd_per_year tco_usd         cost of ownership of the cluster (TCO over amortization_years)
//   step_power_swing_w step_ramp_w_per_s        facility power swing within a step and its steepest ramp
//   serve_*                                     serving results (0 for training steps): fleet tokens/s, p99
//                                               TTFT/TPOT, SLO attainment, cost and energy per million tokens
//   label                                       the result's label (compare --labels; default the scenario name)
inline constexpr std::array<std::string_view, 72> kStepCsvColumns = {
    "scenario",
    "clustersim_version",
    "seed",
    "gpus",
    "accelerator",
    "topology",
    "model",
    "precision",
    "tp",
    "cp",
    "pp",
    "dp",
    "ep",
    "micro_batch_size",
    "global_batch_size",
    "step_time_s",
    "compute_s",
    "exposed_tp_comm_s",
    "exposed_cp_comm_s",
    "exposed_pp_comm_s",
    "exposed_dp_comm_s",
    "exposed_ep_comm_s",
    "pipeline_bubble_s",
    "other_s",
    "tokens_per_s",
    "tokens_per_s_per_gpu",
    "model_tflops_per_gpu",
    "hardware_tflops_per_gpu",
    "mfu",
    "hfu",
    "gpu_utilization",
    "gpu_avg_w",
    "gpu_peak_w",
    "facility_avg_w",
    "facility_peak_w",
    "it_total_avg_w",
    "network_total_avg_w",
    "energy_per_step_j",
    "energy_per_token_j",
    "memory_total_gb",
    "memory_capacity_gb",
    "network_cost_usd",
    "training_tokens",
    "wall_clock_days",
    "gpu_hours",
    "energy_mwh",
    "operational_tco2e",
    "embodied_tco2e",
    "cost_usd",
    "effective_precision",
    "grid_carbon_g_per_kwh",
    "training_flops",
    "goodput",
    "wall_clock_days_with_failures",
    "energy_mwh_with_failures",
    "cost_usd_with_failures",
    "capex_usd",
    "opex_usd_per_year",
    "tco_usd",
    "step_power_swing_w",
    "step_ramp_w_per_s",
    // Serving results (RunResult.serving; 0 for training steps): fleet tokens/s, latency, SLO, per million tokens.
    "serve_input_tokens_per_s",
    "serve_output_tokens_per_s",
    "serve_ttft_p99_s",
    "serve_tpot_p99_s",
    "serve_slo_attainment",
    "serve_cost_usd_per_m_input_tokens",
    "serve_cost_usd_per_m_output_tokens",
    "serve_energy_kwh_per_m_output_tokens",
    // The breakdown terms added after the first columns (with them the breakdown sums to step_time_s).
    "straggler_s",
    "link_capacity_s",
    "label",
};

// CommsCsv columns, one row per entry of RunResult.comms (in that order):
//   kind collective algorithm bytes_per_rank group_size count_per_step time_s (one occurrence)
//   bus_bandwidth_gbyte_per_s flows_simulated
inline constexpr std::array<std::string_view, 10> kCommsCsvColumns = {
    "kind",
    "collective",
    "algorithm",
    "bytes_per_rank",
    "group_size",
    "count_per_step",
    "time_s",
    "bus_bandwidth_gbyte_per_s",
    "flows_simulated",
    "stages",
};

// Header line plus one row per result, in the given order. `labels`: empty (each row's label is its scenario's name)
// or one per result.
std::string StepCsv(const std::vector<v1::RunResult>& results, const std::vector<std::string>& labels = {});
// Header line plus one row per collective of `r`.
std::string CommsCsv(const v1::RunResult& r);

// One CSV field: `text` quoted if it holds a comma, a double quote, CR or LF (quotes doubled).
std::string CsvField(std::string_view text);

}  // namespace clustersim::results
