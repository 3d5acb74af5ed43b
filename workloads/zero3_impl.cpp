#include "workloads/zero3_impl.h"

#include <array>

namespace clustersim::wl {
namespace {

// deepspeed_2021, fitted with tests/validation/fit_calibration.py (docs/validation-notes.md, "ZeRO-3"):
//   compute_efficiency     on megatron_sc21_t2_zero3_174B_384gpu (micro-batch 4: the traffic hides behind compute,
//                          the step is compute-bound);
//   collective_efficiency  on megatron_sc21_t2_zero3_174B_1536gpu (micro-batch 1: compute hides behind the traffic,
//                          the step is bound by the ZeRO-3 collectives).
// Held out: 174.6B on 768 GPUs and the three 529.6B rows.
constexpr double kDeepSpeed2021ComputeEfficiency = 0.70;
constexpr double kDeepSpeed2021CollectiveEfficiency = 0.086;

constexpr std::array kImplementations{
    Zero3Implementation{"nccl", 1, 1,
                        "per-layer NCCL all-gathers and reduce-scatters at the scenario's collective rates (PyTorch "
                        "FSDP, Megatron-Core FSDP)"},
    Zero3Implementation{"deepspeed_2021", kDeepSpeed2021ComputeEfficiency, kDeepSpeed2021CollectiveEfficiency,
                        "DeepSpeed v0.3-0.5 ZeRO-3 as measured in Megatron-LM SC21 Table 2 (A100, 8 x HDR per node)"},
};

}  // namespace

std::span<const Zero3Implementation> Zero3Implementations() { return kImplementations; }

const Zero3Implementation* FindZero3Implementation(std::string_view name) {
  if (name.empty()) return &kImplementations[0];
  for (const Zero3Implementation& z : kImplementations)
    if (z.name == name) return &z;
  return nullptr;
}

}  // namespace clustersim::wl
