// Compute timing of one kernel-level operation on one accelerator: a roofline with a calibrated efficiency and a
// fixed per-kernel overhead (docs/accelerators.md, "Timing model").
//
//   seconds = max(flops / (peak x eff(kind, flops / gemm_count)),  bytes / (hbm_bandwidth x memory_efficiency))
//             + kKernelOverheadS x max(1, gemm_count)
//
//   GEMM, router:  eff = gemm_efficiency x f / (f + f_half),  f = flops per GEMM (fp8_gemm_efficiency instead at
//                  the FP8/FP4 peak when the chip sets it),
//                  f_half = gemm_half_efficiency_gflop x 1e9 x peak / bf16_peak
//                  (f_half is given at the bf16 peak; scaling it with the peak makes it a fixed time cost, so a
//                  faster precision loses more to small GEMMs);
//   attention:     eff = attention_efficiency x f / (f + f_half(bf16)), at the bf16 peak (or the fp32 peak in fp32
//                  runs): FP8/FP4 recipes (TransformerEngine) keep dot-product attention in BF16, unless the op is
//                  FP8 attention (Op::fp8, workload.fp8_attention): then at the FP8 peak with
//                  eff = attention_efficiency x kFp8AttentionEfficiencyRatio x f / (f + f_half(fp8)) (BF16 attention
//                  where the run or the chip has no FP8);
//   grouped GEMM:  as GEMM, x d / (d + grouped_gemm_half_efficiency_elements), d = Op::gemm_min_dim (the smaller
//                  of the expert GEMM's reduction and output widths; 0 = no shape factor);
//   quantize:      memory-bound at fp8_quantize_memory_efficiency of the HBM bandwidth (0 = memory_efficiency);
//   permute:       memory-bound like elementwise;
//   host sync:     moe_host_sync_us per synchronisation (Op::host_kernels of them), GPU idle;
//   host-bound ops (Op::host_bound, issued after a host sync): at least host_kernels x kernel_launch_host_us;
//   elementwise, optimizer, embedding: vector units at kVectorPeakFraction x bf16 peak, eff = 1; in practice these
//                  are memory-bound.
//
// Precision: "bf16" and "fp16" use bf16_tflops; "fp8" uses fp8_tflops, falling back to bf16 when the chip has no
// FP8 (A100, Ascend: the run executes in BF16); "fp4" falls back to fp8 then bf16; "fp32" needs fp32_tflops > 0
// (the TF32 tensor-core peak on NVIDIA) and throws InputError otherwise. The result states the precision run
// (RunResult.effective_precision) and the summary prints the fallback.
// Power cap: with accelerator.power_cap_w the FLOP term of every op is divided by PowerCapClockFactor (the clock the
// cap allows); memory time is unchanged; peaks (and so MFU) stay the chip's.
//
// Units: FLOPs, bytes, seconds. Thread-safe after construction; Seconds() does no allocation.
#pragma once

#include <string>
#include <string_view>

#include "scenario.pb.h"
#include "workloads/step_program.h"

namespace clustersim {

class ComputeModel {
 public:
  // GPU-side gap per kernel (launch latency, prologue/epilogue, tail) when kernels run back to back without CUDA
  // graphs; measured gaps on A100/H100 are 2-5 us.
  static constexpr double kKernelOverheadS = 3e-6;
  // Non-tensor (vector) throughput as a fraction of the dense bf16 tensor peak: A100 39/312, H100 134/989 (BF16
  // FMA on CUDA cores) are both ~1/8.
  static constexpr double kVectorPeakFraction = 0.125;
  // FP8 attention's fraction of its (FP8) peak over BF16 attention's of the BF16 peak: FlashAttention-3 on H100 SXM
  // (Shah et al., 2024) reaches close to 1.2 PFLOP/s in FP8 (of 1,979) against 740 TFLOP/s in BF16 (of 989):
  // 0.606 / 0.748 = 0.81. Forward kernels only; applied to the backward too (docs/validation-notes.md).
  static constexpr double kFp8AttentionEfficiencyRatio = 0.81;

  // `accelerator` must be resolved (AcceleratorCatalog::Resolve). Throws InputError for an unknown precision
  // ("workload.precision") or fp32 on a chip without an fp32 peak ("accelerator.fp32_tflops"). `file` is used
  // in messages. `software_efficiency` (0 < x <= 1) is the fraction of this calibrated rate the framework reaches
  // (StepProgram::compute_efficiency, workloads/zero3_impl.h); every part of a Timing is divided by it.
  ComputeModel(const v1::Accelerator& accelerator, std::string_view precision, const std::string& file = "",
               double software_efficiency = 1);

  struct Timing {
    double seconds = 0;          // total, overhead included
    double compute_s = 0;        // flops / (peak x eff)
    double memory_s = 0;         // bytes / (bandwidth x memory_efficiency)
    double overhead_s = 0;       // kernel overheads
    bool compute_bound = false;  // compute_s >= memory_s
  };
  // Time of `flops` FLOPs moving `bytes` HBM bytes, split into `gemm_count` equal kernels (values < 1 count as 1).
  // An operation with no flops and no bytes takes 0 s. Negative or non-finite inputs throw SimulationError.
  Timing Evaluate(wl::ComputeKind kind, double flops, double bytes, double gemm_count) const;
  double Seconds(wl::ComputeKind kind, double flops, double bytes, double gemm_count) const {
    return Evaluate(kind, flops, bytes, gemm_count).seconds;
  }
  // Time of a kCompute op with its shape (gemm_min_dim) and host terms (host_bound, host_kernels, kHostSync).
  Timing Evaluate(const wl::Op& op) const;
  double Seconds(const wl::Op& op) const { return Evaluate(op).seconds; }

  // Achieved fraction of the kind's peak for one kernel of `flops_per_kernel` FLOPs (see the header comment); 0
  // for a kernel of no FLOPs.
  // `min_dim`: kGroupedGemm's shape (Op::gemm_min_dim, elements; 0 = no shape factor).
  double Efficiency(wl::ComputeKind kind, double flops_per_kernel, double min_dim = 0) const;
  // FLOP/s used for GEMMs in this precision (after fallback), and the peak MFU is computed against.
  double peak_flops() const { return peak_flops_; }
  double attention_peak_flops() const { return attention_peak_flops_; }
  double hbm_bytes_per_s() const { return hbm_bytes_per_s_; }
  const std::string& precision() const { return precision_; }                      // as requested
  const std::string& effective_precision() const { return effective_precision_; }  // after fallback
  // Share of compute throughput lost while a collective runs concurrently on this GPU (accelerator
  // comm_compute_interference).
  double comm_compute_interference() const { return interference_; }
  // Framework and host time per training step outside the step program (accelerator step_overhead_ms), seconds.
  double step_overhead_s() const { return step_overhead_s_; }

 private:
  std::string precision_;
  std::string effective_precision_;
  double peak_flops_ = 0;
  double attention_peak_flops_ = 0;
  double vector_peak_flops_ = 0;
  double hbm_bytes_per_s_ = 0;  // effective: bandwidth x memory_efficiency
  double time_scale_ = 1;       // 1 / software_efficiency
  double interference_ = 0;
  double step_overhead_s_ = 0;
  double gemm_efficiency_ = 0;
  double attention_efficiency_ = 0;
  double clock_factor_ = 1;           // accelerator.power_cap_w slows the FLOP term (PowerCapClockFactor)
  double gemm_half_flops_ = 0;        // at this precision's peak
  double attention_half_flops_ = 0;   // at the attention peak
  double fp8_attention_peak_flops_ = 0;  // FP8 attention (Op::fp8): the FP8 peak, or the BF16 attention peak
  double fp8_attention_half_flops_ = 0;
  double fp8_attention_efficiency_ = 0;
  double grouped_half_elements_ = 0;  // grouped_gemm_half_efficiency_elements
  double quantize_bytes_per_s_ = 0;   // effective HBM bandwidth of FP8 quantise kernels
  double host_sync_s_ = 0;            // per synchronisation
  double launch_s_ = 0;               // host time per kernel
};

}  // namespace clustersim
