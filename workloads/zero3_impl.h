// ZeRO-3 implementations: how a framework runs zero_stage 3 (parameter all-gathers, gradient reduce-scatters and the
// model compute around them), chosen by name with `workload.parallelism.zero3_implementation`.
//
//   "nccl" (default)      PyTorch FSDP, Megatron-Core FSDP, DeepSpeed since ZeRO++: per-layer NCCL collectives at
//                         the rates of the scenario's `collectives` block, the model compute as calibrated.
//   "deepspeed_2021"      DeepSpeed v0.3-0.5 ZeRO-3 as Megatron-LM SC21 (Table 2) measured it on A100 with 8 x HDR
//                         per node. Its parameter and gradient traffic ran at a small fraction of NCCL's ring rate
//                         and its compute below Megatron's: two factors, each fitted on the row of SC21 Table 2 it
//                         bounds and checked on the other four (docs/validation-notes.md, "ZeRO-3").
//
// The factors are properties of the software, never of one case: every scenario that names the implementation gets
// the same ones. Units: fractions in (0, 1].
#pragma once

#include <span>
#include <string_view>

namespace clustersim::wl {

struct Zero3Implementation {
  std::string_view name;
  // Fraction of the calibrated compute rate (compute model, docs/accelerators.md) the framework reaches; applied to
  // every compute operation of the step.
  double compute_efficiency = 1;
  // Fraction of the modelled collective bandwidth the ZeRO-3 gathers and reduce-scatters reach: their flows are
  // inflated by 1 / collective_efficiency on the fabric (as DeepEP's kernels are, docs/collectives.md); latencies
  // are unchanged.
  double collective_efficiency = 1;
  std::string_view summary;
};

// Every implementation, the default ("nccl") first.
std::span<const Zero3Implementation> Zero3Implementations();
// The implementation called `name` ("" = the default), or nullptr.
const Zero3Implementation* FindZero3Implementation(std::string_view name);

}  // namespace clustersim::wl
