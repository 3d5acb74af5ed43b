// Parallelism plan: the scenario's `workload.parallelism` (and precision) with every default applied, checked
// against the model and the GPU count. The rules are listed in docs/workloads.md ("Plan validation"); each failure
// is one InputError "file: workload.parallelism.<field> = <value>: <rule>".
#pragma once

#include <cstdint>
#include <string>

#include "scenario.pb.h"

namespace clustersim::wl {

enum class Recompute : uint8_t { kNone, kSelective, kFull };
enum class Schedule : uint8_t { k1F1B, kInterleaved, kDualPipe, kGPipe };
const char* ToString(Recompute r);
const char* ToString(Schedule s);

struct Plan {
  uint32_t tp = 1, cp = 1, pp = 1, dp = 1, ep = 1;
  uint32_t expert_tp = 1;  // 1 or tp
  uint32_t vpp = 1;        // model chunks per pipeline rank for "interleaved" (implied by vpp > 1); else 1
  uint32_t micro_batch_size = 1;
  uint32_t global_batch_size = 0;
  uint32_t microbatches = 0;  // per pipeline per step = global_batch_size / (dp x micro_batch_size)
  uint32_t zero_stage = 0;
  bool sequence_parallel = false;
  bool overlap_grad_reduce = false, overlap_param_gather = false, overlap_moe_a2a = false;
  Recompute recompute = Recompute::kNone;
  Schedule schedule = Schedule::k1F1B;
  bool fp8 = false;
  // Model chunks per pipeline rank as scheduled: vpp (interleaved), 2 (dualpipe, V-shaped), 1 otherwise.
  uint32_t chunks() const;
};

// Resolves the model (ResolveModel) and the plan; validates both. `file` names the scenario in messages.
Plan ResolvePlan(const v1::Workload& w, uint32_t num_gpus, const std::string& file);
// ResolvePlan, discarding the result.
void ValidatePlan(const v1::Workload& w, uint32_t num_gpus, const std::string& file);

}  // namespace clustersim::wl
