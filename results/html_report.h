// Self-contained HTML report of one or more results: one file with inline CSS and inline SVG charts, no scripts and
// no external resources (no fonts, images or style sheets fetched), so it opens offline and can be mailed around.
//
// Sections, in order:
//   - header and, for a single result, key-figure cards (step time, tokens/s, MFU, facility power, J/token, run);
//   - summary table: the metrics of CompareMetrics (compare.h), the numbers of SummaryText, one column per result
//     (and ratio columns when several results are given);
//   - comparison chart (several results only): grouped bars of step time, MFU and energy per token;
//   - step-time breakdown: stacked horizontal bar per result;
//   - per-stage activity of the first result: compute / communication / idle per pipeline stage;
//   - timeline of the first result's first stages (when `timeline_of_first` is not empty): each pixel column shows
//     the share of each activity in that slice of the step, so short operations stay visible at any zoom;
//   - power over the step of the first result: GPUs, hosts and network stacked, facility (x PUE) as a line;
//   - collectives of the first result (when it has any): bus bandwidth and time per occurrence, plus a table;
//   - memory per GPU: stacked bar per result against the HBM capacity;
//   - cluster and network inventory, simulation statistics, and the resolved scenario of each result as JSON in a
//     collapsible <details> block.
// Every text taken from a result is HTML-escaped. Output is deterministic (fixed number formats, input order).
#pragma once

#include <span>
#include <string>
#include <vector>

#include "results.pb.h"
#include "results/trace.h"

namespace clustersim::results {

// `labels`: empty (results are labelled "A", "B", ...) or one short label per result. Throws InputError if `results`
// is empty, the label count does not match, or the timeline fails ValidateTimeline.
std::string HtmlReport(const std::vector<v1::RunResult>& results, std::span<const TraceEvent> timeline_of_first,
                       const std::vector<std::string>& labels = {});

// Escapes &, <, >, " and ' for HTML text and attribute values.
std::string HtmlEscape(std::string_view text);

}  // namespace clustersim::results
