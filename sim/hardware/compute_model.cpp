#include "sim/hardware/compute_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "sim/hardware/power_model.h"

namespace clustersim {

ComputeModel::ComputeModel(const v1::Accelerator& a, std::string_view precision, const std::string& file,
                           double software_efficiency)
    : precision_(precision) {
  if (!(software_efficiency > 0 && software_efficiency <= 1)) {
    throw SimulationError(fmt::format("compute model: software efficiency {} is not in (0, 1]", software_efficiency));
  }
  time_scale_ = 1 / software_efficiency;
  interference_ = a.comm_compute_interference();
  step_overhead_s_ = a.step_overhead_ms() * 1e-3;
  const double bf16 = a.bf16_tflops() * 1e12;
  if (!(bf16 > 0)) {
    throw InputError::Field(file, 0, "accelerator.bf16_tflops", fmt::format("{}", a.bf16_tflops()), "must be > 0");
  }
  double peak = 0;
  if (precision == "bf16" || precision == "fp16") {
    peak = bf16;
    effective_precision_ = "bf16";
  } else if (precision == "fp8" || precision == "fp4") {
    if (precision == "fp4" && a.fp4_tflops() > 0) {
      peak = a.fp4_tflops() * 1e12;
      effective_precision_ = "fp4";
    } else if (a.fp8_tflops() > 0) {
      peak = a.fp8_tflops() * 1e12;
      effective_precision_ = "fp8";
    } else {
      peak = bf16;
      effective_precision_ = "bf16";
    }
  } else if (precision == "fp32") {
    if (!(a.fp32_tflops() > 0)) {
      throw InputError::Field(file, 0, "accelerator.fp32_tflops", fmt::format("{}", a.fp32_tflops()),
                              "precision fp32 needs an fp32 (TF32 tensor-core) peak > 0 on " + a.name());
    }
    peak = a.fp32_tflops() * 1e12;
    effective_precision_ = "fp32";
  } else {
    throw InputError::Field(file, 0, "workload.precision", "\"" + std::string(precision) + "\"",
                            "must be one of bf16, fp16, fp8, fp4, fp32");
  }
  peak_flops_ = peak;
  clock_factor_ = PowerCapClockFactor(a);
  attention_peak_flops_ = std::min(peak, bf16);
  vector_peak_flops_ = kVectorPeakFraction * bf16;
  hbm_bytes_per_s_ = a.hbm_bandwidth_gbyte_per_s() * 1e9 * a.memory_efficiency();
  const bool low_precision = effective_precision_ == "fp8" || effective_precision_ == "fp4";
  gemm_efficiency_ = low_precision && a.fp8_gemm_efficiency() > 0 ? a.fp8_gemm_efficiency() : a.gemm_efficiency();
  attention_efficiency_ = a.attention_efficiency();
  grouped_half_elements_ = a.grouped_gemm_half_efficiency_elements();
  quantize_bytes_per_s_ = a.fp8_quantize_memory_efficiency() > 0
                              ? a.hbm_bandwidth_gbyte_per_s() * 1e9 * a.fp8_quantize_memory_efficiency()
                              : hbm_bytes_per_s_;
  host_sync_s_ = a.moe_host_sync_us() * 1e-6;
  launch_s_ = a.kernel_launch_host_us() * 1e-6;
  const double half_at_bf16 = a.gemm_half_efficiency_gflop() * 1e9;
  gemm_half_flops_ = half_at_bf16 * peak_flops_ / bf16;
  attention_half_flops_ = half_at_bf16 * attention_peak_flops_ / bf16;
  // FP8 attention at the FP8 peak when the run is FP8 on a chip with one (else as BF16 attention).
  fp8_attention_peak_flops_ = low_precision && a.fp8_tflops() > 0 ? a.fp8_tflops() * 1e12 : attention_peak_flops_;
  fp8_attention_half_flops_ = half_at_bf16 * fp8_attention_peak_flops_ / bf16;
  fp8_attention_efficiency_ = fp8_attention_peak_flops_ > attention_peak_flops_
                                  ? attention_efficiency_ * kFp8AttentionEfficiencyRatio
                                  : attention_efficiency_;
  if (!(hbm_bytes_per_s_ > 0) || !(gemm_efficiency_ > 0) || !(attention_efficiency_ > 0)) {
    throw InputError::Field(file, 0, "accelerator", a.name(),
                            "is not resolved: hbm bandwidth, memory_efficiency, gemm_efficiency and "
                            "attention_efficiency must be > 0 (use AcceleratorCatalog::Resolve)");
  }
}

double ComputeModel::Efficiency(wl::ComputeKind kind, double f, double min_dim) const {
  if (!(f > 0)) return 0;
  switch (kind) {
    case wl::ComputeKind::kGemm:
    case wl::ComputeKind::kRouter:
      return gemm_efficiency_ * f / (f + gemm_half_flops_);
    case wl::ComputeKind::kGroupedGemm: {
      const double shape = min_dim > 0 && grouped_half_elements_ > 0 ? min_dim / (min_dim + grouped_half_elements_) : 1;
      return gemm_efficiency_ * f / (f + gemm_half_flops_) * shape;
    }
    case wl::ComputeKind::kAttention:
      return attention_efficiency_ * f / (f + attention_half_flops_);
    case wl::ComputeKind::kElementwise:
    case wl::ComputeKind::kOptimizer:
    case wl::ComputeKind::kEmbedding:
    case wl::ComputeKind::kQuantize:
    case wl::ComputeKind::kPermute:
    case wl::ComputeKind::kHostSync:
      return 1.0;
  }
  return 1.0;
}

namespace {
bool OnVectorUnits(wl::ComputeKind k) {
  return k == wl::ComputeKind::kElementwise || k == wl::ComputeKind::kOptimizer || k == wl::ComputeKind::kEmbedding ||
         k == wl::ComputeKind::kQuantize || k == wl::ComputeKind::kPermute || k == wl::ComputeKind::kHostSync;
}
}  // namespace

ComputeModel::Timing ComputeModel::Evaluate(wl::ComputeKind kind, double flops, double bytes, double gemm_count) const {
  wl::Op op;
  op.compute = kind;
  op.flops = flops;
  op.bytes = bytes;
  op.gemm_count = gemm_count;
  return Evaluate(op);
}

ComputeModel::Timing ComputeModel::Evaluate(const wl::Op& op) const {
  const wl::ComputeKind kind = op.compute;
  const double flops = op.flops, bytes = op.bytes, gemm_count = op.gemm_count;
  if (!(flops >= 0) || !(bytes >= 0) || !std::isfinite(flops) || !std::isfinite(bytes) || std::isnan(gemm_count)) {
    throw SimulationError(
        fmt::format("compute op with flops = {}, bytes = {}, gemm_count = {}: must be finite and "
                    ">= 0",
                    flops, bytes, gemm_count));
  }
  Timing t;
  if (kind == wl::ComputeKind::kHostSync) {
    t.overhead_s = host_sync_s_ * op.host_kernels;
  } else {
    if (flops == 0 && bytes == 0) return t;
    const double kernels = std::max(1.0, gemm_count);
    if (flops > 0) {
      const bool fp8_attention = kind == wl::ComputeKind::kAttention && op.fp8;
      double peak = peak_flops_;
      if (kind == wl::ComputeKind::kAttention) {
        peak = fp8_attention ? fp8_attention_peak_flops_ : attention_peak_flops_;
      } else if (OnVectorUnits(kind)) {
        peak = vector_peak_flops_;
      }
      const double f = flops / kernels;
      const double eff = fp8_attention ? fp8_attention_efficiency_ * f / (f + fp8_attention_half_flops_)
                                       : Efficiency(kind, f, op.gemm_min_dim);
      t.compute_s = flops / (peak * clock_factor_ * eff);
    }
    t.memory_s = bytes / (kind == wl::ComputeKind::kQuantize ? quantize_bytes_per_s_ : hbm_bytes_per_s_);
    t.overhead_s = kKernelOverheadS * kernels;
    t.compute_bound = t.compute_s >= t.memory_s;
  }
  t.seconds = std::max(t.compute_s, t.memory_s) + t.overhead_s;
  // Host-bound: the GPU cannot run ahead of the host's launches (the device time is not scaled by the software
  // efficiency below, so apply the floor afterwards).
  const double host_floor = op.host_bound ? launch_s_ * op.host_kernels : 0;
  if (time_scale_ != 1) {
    t.compute_s *= time_scale_;
    t.memory_s *= time_scale_;
    t.overhead_s *= time_scale_;
    t.seconds *= time_scale_;
  }
  if (host_floor > t.seconds) {
    t.overhead_s += host_floor - t.seconds;
    t.seconds = host_floor;
  }
  return t;
}

}  // namespace clustersim
