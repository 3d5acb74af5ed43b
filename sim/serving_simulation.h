// Serving simulation (docs/serving.md): the serving workload's stages around the build and price stages of
// stages.h. SimulateServing reads as:
//
//   1. resolve   GuardMemory, as for a training step
//   2. program   GenerateServing: the model's inference costs, each pool's instance shape and memory (KV capacity;
//                DoesNotFitError when the weights do not fit), the compute model, the cell (ChooseCell) and its share
//                of the traffic
//   3. build     SimWorld: fabric, engine, SimGrid platform
//   4. price     PriceServing, in a controller actor: every communication an instance needs (TP all-reduce, DeepEP
//                dispatch and combine in low-latency and normal mode, pipeline transfers, prefill -> decode KV
//                transfers) solved on SimGrid with every instance of every pool sending at once, at a ladder of
//                sizes (CommTable curves)
//   5. execute   RunCell (serving_cell.h): the discrete-event model of the cell
//   6. account   AccountServing: the RunResult with its ServeResult (fleet = cell x scale), power over the window,
//                topology, communication table, timeline, simulator statistics
//
// Cost, energy and carbon per million tokens are added by the results layer (results/serving_projection.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "results.pb.h"
#include "scenario.pb.h"
#include "sim/engine.h"
#include "sim/hardware/compute_model.h"
#include "sim/network/comm_cost.h"
#include "sim/serving_cell.h"
#include "sim/serving_engine.h"
#include "sim/stages.h"
#include "workloads/serving_model.h"
#include "workloads/serving_traffic.h"

namespace clustersim::sim {

// The cell simulated for a fleet of `instances` per pool (one entry per pool): for one pool, the largest divisor of
// its instances up to `max_instances`; for prefill and decode pools, divisors p of P and d of D with p + d <=
// max_instances whose ratio p:d is closest to P:D (exact when P:D reduces that far), the larger cell on ties. With
// `full`, every instance.
std::vector<uint32_t> ChooseCell(const std::vector<uint32_t>& instances, uint32_t max_instances, bool full);

struct ServingPoolWork {
  InstanceSpec spec;
  InstanceMemory memory;
  uint32_t instances = 0;      // in the fleet
  uint32_t first_gpu = 0;      // placement: the pool's instances are consecutive from here
  uint32_t cell_instances = 0;
  double scale() const { return double(instances) / cell_instances; }
};

// 2. program
struct ServingWork {
  wl::InferenceModel model;
  std::vector<ServingPoolWork> pools;
  ComputeModel compute;
  EngineParams engine;
  double attention_efficiency = 0.5;
  std::vector<wl::Request> trace;  // arrival "trace" only
  double cell_rate_per_s = 0;      // the cell's share of the fleet's rate (open loop)
  uint32_t cell_share = 1;         // fleet / cell, for a trace's thinning
  std::string cell_label;          // "1 mixed", "4 prefill + 9 decode"
};
ServingWork GenerateServing(const v1::Scenario& resolved, const std::string& source);

// 4. price. Must run in a SimGrid actor (phase solves). One CommTable per pool; every priced point is also added to
// `out.comms` (kind "tp", "ep", "pp" or "kv").
std::vector<CommTable> PriceServing(const v1::Scenario& resolved, const ServingWork& work, CommCostModel& costs,
                                    v1::RunResult& out);

// 5. execute
CellResult ExecuteServing(const v1::Scenario& resolved, const ServingWork& work,
                          const std::vector<IterationModel>& models);

// 6. account: fills `r` (which holds the comms of step 4).
void AccountServing(const v1::Scenario& resolved, const ServingWork& work, const CellResult& cell,
                    const Pricing& pricing, const SimWorld& world, v1::RunResult& r);

// The whole serving simulation of a resolved scenario with a `serving` block, in a forked process. `source` names
// the scenario in input errors (default: its name).
v1::RunResult SimulateServing(const v1::Scenario& resolved, const std::string& source = {});

}  // namespace clustersim::sim
