// Renderings of a serving result (RunResult with a ServeResult; docs/results.md "Serving outputs"): the terminal
// summary, serve.csv (one row per result), the HTML report's serving sections and the Perfetto trace of the
// simulated cell's iterations.
#pragma once

#include <string>
#include <vector>

#include "results.pb.h"

namespace clustersim::results {

// Terminal summary: deployment, throughput, latency percentiles, SLO attainment, engine state, power, cost, energy
// and carbon per million tokens, scale.
std::string ServeSummaryText(const v1::RunResult& r);

// serve.csv: a header and one row per result (scenario, GPUs, throughput, latencies, SLO, power, per-million-token
// figures). Deterministic.
std::string ServeCsv(const std::vector<v1::RunResult>& results);

// The Chrome/Perfetto trace of a serving result: one process per simulated instance ("prefill instance 0", ...)
// with its iterations (name: what the batch held) and exposed communication, counters of the cell's running and
// waiting requests, KV utilisation and throughput, and the cluster's power.
std::string ServeTrace(const v1::RunResult& r);

// A self-contained HTML report of one serving result: key figures, deployment and pools, latency percentiles,
// throughput, batch and KV over time, power over time, communication, cost/energy/carbon per million tokens.
std::string ServeHtmlReport(const v1::RunResult& r);

}  // namespace clustersim::results
