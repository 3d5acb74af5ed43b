// The execute stage of a serving simulation (docs/serving.md, "Engine model" and "Scale"): a deterministic
// discrete-event model of a cell of instances (one per pool for an aggregated fleet; a prefill:decode group in the
// fleet's ratio when disaggregated) fed by the cell's share of the fleet's requests.
//
// Each instance is a continuous-batching engine: requests wait in a FIFO queue and are admitted while the running
// set is below max_batch and the paged KV cache has room for the prompt and, with reserve_output, the whole answer
// (tokens rounded up to pages: half a page per sequence on average); every iteration runs all decoding sequences (1 + draft tokens each) and fills the rest of
// max_num_tokens with prompt chunks in admission order (chunked prefill; prefix-cache hits are not computed). A
// decoding sequence emits mean_accepted_tokens per iteration. When the KV cache cannot hold the next step the most
// recently admitted sequences are preempted (their KV freed, recomputed from the queue's head). A prompt that
// completes emits its first token; in a "prefill" pool it then moves to a decode instance over the fabric (one FIFO
// transfer queue per attention rank, each transfer timed by CommTable::kv_transfer) and the decode instance admits
// it with its KV. Iterations are timed by IterationModel.
//
// Requests arriving in [warmup, warmup + window) are measured; arrivals stop at the window's end and the cell runs
// until they finish (or one more window has passed: those left are counted as unfinished). Throughput counts the
// tokens of iterations that end in the window. Not thread-safe; O(running sequences) per iteration for prompts and
// O(log n) per decode completion (decode progress is kept in aggregate).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/hardware/power_model.h"
#include "sim/serving_engine.h"
#include "workloads/serving_traffic.h"

namespace clustersim::sim {

// One instance of the cell.
struct CellInstance {
  const IterationModel* model = nullptr;  // outlives the cell
  uint64_t kv_capacity_tokens = 0;
  uint32_t pool = 0;                      // index in serving.pools
  double scale = 1;                       // fleet instances this one stands for (tokens in CellBin are scaled)
};

struct CellConfig {
  std::vector<CellInstance> instances;
  v1::ServingTraffic traffic;      // resolved
  double cell_rate_per_s = 0;      // open loop: the cell's share of the fleet's rate
  uint32_t kv_block_tokens = 32;
  // Admission control: true reserves a request's prompt and whole answer (TensorRT-LLM's guaranteed-no-evict),
  // false only its prompt, preempting sequences when the cache fills (vLLM).
  bool reserve_output = true;
  double accepted_tokens = 1;      // per decode step
  std::string router = "round_robin";
  double warmup_s = 0, window_s = 0;
  uint32_t bins = 60;              // samples over the window
  uint64_t seed = 1;
  const std::vector<wl::Request>* trace = nullptr;
  uint32_t trace_part = 0, trace_parts = 1;  // the cell's share of a trace (every parts-th request)
  double slo_ttft_s = 0, slo_tpot_s = 0;     // 0 = no bound
  double timeline_s = 2;           // iterations of the first instance of each pool recorded for the trace
};

// Per-request latencies of the measured requests (seconds).
struct RequestLatency {
  double ttft = 0, tpot = 0, e2e = 0, queue = 0;
  uint32_t output = 0;
  bool good = false;
};

// What one instance did over the window.
struct InstanceStats {
  double busy_s = 0;            // iterating
  double batch_s = 0;           // integral of running sequences
  double kv_s = 0;              // integral of KV utilisation
  double kv_max = 0;
  double input_tokens = 0;      // prompt tokens computed or found in the prefix cache
  double output_tokens = 0;
  uint64_t iterations = 0;      // in the window
  double iteration_s = 0;       // summed
  uint64_t preemptions = 0;
  double prefill_share_s = 0;   // busy time attributed to prompt work
  IterationTime parts;          // summed over the iterations counted in `iterations`
  std::vector<GpuInterval> power;  // the instance's GPUs' activity over the window (time from its start)
};

struct CellBin {
  double running = 0, waiting = 0, kv = 0, input_tokens = 0, output_tokens = 0;  // integrals / sums over the bin
};

struct CellTraceEvent {
  uint32_t instance = 0;
  std::string name;
  std::string category;  // "prefill", "decode", "mixed", "comm", "kv_transfer"
  double start_s = 0, duration_s = 0;  // from the window's start
  uint32_t track = 0;
};

struct CellResult {
  std::vector<RequestLatency> measured;
  uint64_t unfinished = 0;      // measured arrivals not finished by the end of the drain
  uint64_t requests = 0;        // all requests the cell saw
  uint64_t iterations = 0;      // all iterations
  double kv_transfer_s = 0;     // summed over measured requests
  std::vector<InstanceStats> instances;
  std::vector<CellBin> bins;
  std::vector<CellTraceEvent> timeline;
};

// Runs the cell. Throws SimulationError on a broken configuration.
CellResult RunCell(const CellConfig& config);

}  // namespace clustersim::sim
