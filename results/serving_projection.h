// Cost, energy and carbon per million tokens of a serving fleet (docs/serving.md "Cost, energy and carbon"), from a
// simulated serving result, with the facility model of the training projection (projection.h):
//
//   cost per second    = num_gpus x facility.gpu_hour_usd / 3600                              (rental), else
//                        (num_gpus x price_usd + network cost) / (amortization_years x 365.25 d)
//                        + facility power x electricity_usd_per_kwh
//   energy per second  = facility power (IT x PUE), averaged over the window
//   carbon per second  = energy x grid intensity + (num_gpus x embodied_kgco2e + switches x switch_embodied)
//                        / amortization lifetime
//   per 1M input tokens  = rate x prefill_time_share / input tokens per second x 1e6
//   per 1M output tokens = rate x (1 - prefill_time_share) / output tokens per second x 1e6
//   blended              = rate / (input + output tokens per second) x 1e6
// The whole cluster (num_gpus, idle GPUs included) is charged. Pure functions.
#pragma once

#include "results.pb.h"

namespace clustersim {

// Fills the per-million-token and per-day fields of r.serving() (ServeResult 21-29, 36, 37). r must carry the
// resolved scenario, its power summary and topology. Throws InputError for facility fields (ResolveFacility).
void AddServingProjection(v1::RunResult& r);

}  // namespace clustersim
