// Trace replay: runs a Chakra execution trace (workloads/chakra_trace.h) on the SimGrid platform of a scenario's
// cluster, optionally rescaled to many replicas of the traced ranks. See docs/trace-replay.md.
//
// Placement: with R traced ranks and k replicas (k x R <= cluster.num_gpus), replica j of trace rank r is GPU
// j x R + r. Only replica 0 is executed (a compute and a communication stream per traced rank); the other replicas
// do identical work, and their traffic is in every communication cost:
// each collective is solved with every group of its family (the process groups whose pg_name agrees up to the last
// '/', in every replica) running at once on the full fabric, and each point-to-point transfer with every transfer of
// its family (the send's pg_name up to the last '/') and size. A process group whose pg_name matches `dp_pg_regex`
// is data-parallel: it grows to the same ranks of every replica (one group of k x size GPUs) instead of being copied.
//
// Semantics: each traced rank has three streams (GPU compute, GPU communication, host), each running one node at a
// time, as ASTRA-sim's hardware resources do; a node starts when its dependencies are done and its stream's previous
// node (in the trace's topological order) is done. GPU compute nodes are timed by their recorded duration_micros, or
// by the ComputeModel from num_ops / tensor_size when they have none (ComputeTiming); host nodes (is_cpu_op) always
// by their recorded duration; a collective starts when every traced member has reached it and lasts its solved time;
// a send completes at once and its receive completes when the transfer has arrived. All costs are solved on SimGrid
// before the replay, which then computes node end times as a dataflow (no SimGrid activity per node): O(nodes)
// time, memory O(nodes) in flat arrays.
#pragma once

#include <cstdint>
#include <string>

#include "results.pb.h"
#include "scenario.pb.h"
#include "workloads/chakra_trace.h"

namespace clustersim::sim {

// How GPU compute nodes are timed (host nodes always replay their recorded duration, as in ASTRA-sim).
enum class ComputeTiming {
  kRecordedFirst,  // default: duration_micros when recorded (> 0), else the ComputeModel from num_ops / tensor_size
  kRetime,         // --retime: the ComputeModel on the scenario's accelerator wherever num_ops / tensor_size are given
  kRecordedOnly,   // --recorded-durations: duration_micros; an error if a node with num_ops has none
};

struct ReplayOptions {
  uint32_t replicas = 0;    // 0 = cluster.num_gpus / traced ranks
  std::string dp_pg_regex;  // ECMAScript regex on pg_name; empty = no group grows
  ComputeTiming timing = ComputeTiming::kRecordedFirst;
  std::string scenario_file;  // names the scenario in input errors; empty = the scenario's name
};

// How the trace's compute nodes are timed under `timing`: GPU nodes by recorded duration, by the ComputeModel, or
// not at all (neither given); host nodes by recorded duration; and how many GPU nodes lack each input.
struct TimingCounts {
  uint64_t recorded = 0, modelled = 0, untimed = 0;    // GPU compute nodes
  uint64_t host = 0, host_untimed = 0;                 // host nodes with / without a recorded duration
  uint64_t lacking_duration = 0, lacking_num_ops = 0;  // GPU compute nodes without duration_micros / num_ops
};
TimingCounts CountTiming(const wl::chakra::Trace& trace, ComputeTiming timing);
// One line for the user: which timing was used for how many nodes, on which accelerator, and what was missing.
std::string DescribeTiming(const TimingCounts& counts, ComputeTiming timing, const std::string& accelerator);

// Validates the options against the trace and the cluster (InputError naming the option), then replays in a forked
// SimGrid process. The result carries step time, breakdown of the critical rank (the one with most compute),
// per-collective costs, topology, throughput when the trace's metadata gives tokens / model FLOPs, and SimGrid
// statistics; fields the replay cannot compute (power, memory, link usage, timeline) are left at 0 / empty.
v1::RunResult ReplayTrace(const v1::Scenario& resolved, const wl::chakra::Trace& trace, const ReplayOptions& options);

}  // namespace clustersim::sim
