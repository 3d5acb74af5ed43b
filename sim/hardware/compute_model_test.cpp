#include "sim/hardware/compute_model.h"

#include <gtest/gtest.h>

#include <limits>
#include <tuple>

#include "common/error.h"
#include "sim/hardware/accelerator.h"

namespace clustersim {
namespace {

using wl::ComputeKind;

v1::Accelerator Resolved(const char* name) {
  const AcceleratorCatalog catalog;
  v1::Accelerator req;
  req.set_name(name);
  return catalog.Resolve(req, "test");
}

// A chip with round numbers: 100 TFLOP/s bf16, 200 fp8, 1000 GB/s HBM, efficiencies 0.5 / 1 GFLOP half point.
v1::Accelerator Toy() {
  v1::Accelerator a;
  a.set_name("Toy");
  a.set_bf16_tflops(100);
  a.set_fp8_tflops(200);
  a.set_hbm_gb(10);
  a.set_hbm_bandwidth_gbyte_per_s(1000);
  a.set_tdp_w(100);
  a.set_gemm_efficiency(0.5);
  a.set_gemm_half_efficiency_gflop(1);
  a.set_memory_efficiency(0.8);
  a.set_attention_efficiency(0.25);
  AcceleratorCatalog::FillDefaults(&a);
  return a;
}

TEST(ComputeModel, ComputeBoundGemmFollowsTheRoofline) {
  const ComputeModel m(Toy(), "bf16");
  // One 1 TFLOP GEMM: eff = 0.5 x 1000/(1000+1) ; memory 1 MB is negligible.
  const double flops = 1e12;
  const auto t = m.Evaluate(ComputeKind::kGemm, flops, 1e6, 1);
  const double eff = 0.5 * 1e12 / (1e12 + 1e9);
  EXPECT_TRUE(t.compute_bound);
  EXPECT_NEAR(t.compute_s, flops / (100e12 * eff), 1e-12);
  EXPECT_NEAR(t.seconds, t.compute_s + ComputeModel::kKernelOverheadS, 1e-12);
  EXPECT_NEAR(t.memory_s, 1e6 / (1000e9 * 0.8), 1e-15);
}

TEST(ComputeModel, SoftwareEfficiencyDividesEveryPartOfTheTime) {
  const ComputeModel full(Toy(), "bf16");
  const ComputeModel slow(Toy(), "bf16", "", 0.5);
  for (const auto& [kind, flops, bytes] :
       {std::tuple{ComputeKind::kGemm, 1e12, 1e6}, std::tuple{ComputeKind::kElementwise, 1e6, 1e9}}) {
    const auto a = full.Evaluate(kind, flops, bytes, 4);
    const auto b = slow.Evaluate(kind, flops, bytes, 4);
    EXPECT_DOUBLE_EQ(b.seconds, 2 * a.seconds);
    EXPECT_DOUBLE_EQ(b.compute_s, 2 * a.compute_s);
    EXPECT_DOUBLE_EQ(b.memory_s, 2 * a.memory_s);
    EXPECT_DOUBLE_EQ(b.overhead_s, 2 * a.overhead_s);
    EXPECT_EQ(b.compute_bound, a.compute_bound);
  }
  EXPECT_THROW(ComputeModel(Toy(), "bf16", "", 0), SimulationError);
  EXPECT_THROW(ComputeModel(Toy(), "bf16", "", 1.5), SimulationError);
}

TEST(ComputeModel, MemoryBoundOpsAreLimitedByHbm) {
  const ComputeModel m(Toy(), "bf16");
  // 1 GB moved with 1 GFLOP: vector peak is 100/8 TFLOP/s -> 80 us of compute, 1.25 ms of memory.
  const auto t = m.Evaluate(ComputeKind::kElementwise, 1e9, 1e9, 1);
  EXPECT_FALSE(t.compute_bound);
  EXPECT_NEAR(t.memory_s, 1e9 / (1000e9 * 0.8), 1e-12);
  EXPECT_NEAR(t.compute_s, 1e9 / (100e12 * ComputeModel::kVectorPeakFraction), 1e-12);
  EXPECT_NEAR(t.seconds, t.memory_s + ComputeModel::kKernelOverheadS, 1e-12);
  // A small GEMM with a huge operand stream is memory-bound too.
  EXPECT_FALSE(m.Evaluate(ComputeKind::kGemm, 1e9, 1e10, 1).compute_bound);
  // Optimizer and embedding are treated as vector work.
  EXPECT_NEAR(m.Seconds(ComputeKind::kOptimizer, 0, 8e9, 1), 8e9 / 800e9 + ComputeModel::kKernelOverheadS, 1e-12);
  EXPECT_NEAR(m.Seconds(ComputeKind::kEmbedding, 0, 8e9, 1), 8e9 / 800e9 + ComputeModel::kKernelOverheadS, 1e-12);
}

TEST(ComputeModel, GemmEfficiencyFallsOffMonotonicallyAndHalvesAtTheHalfPoint) {
  const ComputeModel m(Toy(), "bf16");
  double prev = 0;
  for (double f = 1e6; f <= 1e14; f *= 3) {
    const double e = m.Efficiency(ComputeKind::kGemm, f);
    EXPECT_GT(e, prev) << f;
    EXPECT_LT(e, 0.5);
    prev = e;
  }
  EXPECT_NEAR(m.Efficiency(ComputeKind::kGemm, 1e9), 0.25, 1e-12);
  EXPECT_NEAR(m.Efficiency(ComputeKind::kGemm, 1e15), 0.5, 1e-6);
  EXPECT_EQ(m.Efficiency(ComputeKind::kGemm, 0), 0);
  // Splitting the same FLOPs into more GEMMs never makes them faster.
  double prev_t = 0;
  for (double n = 1; n <= 4096; n *= 2) {
    const double t = m.Seconds(ComputeKind::kGemm, 1e12, 0, n);
    EXPECT_GT(t, prev_t) << n;
    prev_t = t;
  }
}

// FP8 attention (Op::fp8): at the FP8 peak with kFp8AttentionEfficiencyRatio of the BF16 attention efficiency, so a
// huge attention op runs 1979 / 989 x 0.81 = 1.62x faster on H100 (FlashAttention-3's 1.2 PFLOP/s against 740);
// in a BF16 run, or on a chip without FP8 (A100), it is BF16 attention.
TEST(ComputeModel, Fp8AttentionRunsAtTheFp8PeakWhereThereIsOne) {
  wl::Op att;
  att.compute = ComputeKind::kAttention;
  att.flops = 1e16;
  wl::Op fp8 = att;
  fp8.fp8 = true;
  const v1::Accelerator h100 = Resolved("H100-SXM");
  const ComputeModel m(h100, "fp8");
  EXPECT_NEAR(m.Seconds(att) / m.Seconds(fp8), 1979.0 / 989 * ComputeModel::kFp8AttentionEfficiencyRatio, 1e-3);
  const ComputeModel bf16(h100, "bf16");
  EXPECT_DOUBLE_EQ(bf16.Seconds(att), bf16.Seconds(fp8));
  const ComputeModel a100(Resolved("A100-80GB"), "fp8");
  EXPECT_DOUBLE_EQ(a100.Seconds(att), a100.Seconds(fp8));
}

TEST(ComputeModel, PrecisionSelectsThePeak) {
  const v1::Accelerator h100 = Resolved("H100-SXM");
  EXPECT_DOUBLE_EQ(ComputeModel(h100, "bf16").peak_flops(), 989e12);
  EXPECT_DOUBLE_EQ(ComputeModel(h100, "fp16").peak_flops(), 989e12);
  EXPECT_DOUBLE_EQ(ComputeModel(h100, "fp8").peak_flops(), 1979e12);
  EXPECT_DOUBLE_EQ(ComputeModel(h100, "fp32").peak_flops(), 495e12);
  const v1::Accelerator b200 = Resolved("B200");
  EXPECT_DOUBLE_EQ(ComputeModel(b200, "fp4").peak_flops(), 9000e12);
  EXPECT_EQ(ComputeModel(b200, "fp4").effective_precision(), "fp4");
  // fp4 on Hopper falls back to fp8.
  const ComputeModel h_fp4(h100, "fp4");
  EXPECT_DOUBLE_EQ(h_fp4.peak_flops(), 1979e12);
  EXPECT_EQ(h_fp4.effective_precision(), "fp8");
  EXPECT_EQ(h_fp4.precision(), "fp4");
  // A huge GEMM runs faster in fp8 than in bf16 by the peak ratio times the ratio of the two efficiencies.
  const double bf16_s = ComputeModel(h100, "bf16").Seconds(ComputeKind::kGemm, 1e16, 0, 1);
  const double fp8_s = ComputeModel(h100, "fp8").Seconds(ComputeKind::kGemm, 1e16, 0, 1);
  EXPECT_NEAR(bf16_s / fp8_s, 1979.0 / 989 * h100.fp8_gemm_efficiency() / h100.gemm_efficiency(), 0.01);
  EXPECT_LT(bf16_s / fp8_s, 1.9);  // Hopper FP8 GEMMs reach a smaller share of their peak (MAMF)
}

// fp8_gemm_efficiency applies at the FP8 and FP4 peaks only; 0 leaves gemm_efficiency for every precision.
TEST(ComputeModel, Fp8GemmEfficiencyAppliesToLowPrecisionOnly) {
  v1::Accelerator a = Toy();
  const double same = ComputeModel(a, "bf16").Seconds(ComputeKind::kGemm, 1e15, 0, 1) /
                      ComputeModel(a, "fp8").Seconds(ComputeKind::kGemm, 1e15, 0, 1);
  a.set_fp8_gemm_efficiency(0.25);  // half of gemm_efficiency 0.5
  const double bf16_s = ComputeModel(a, "bf16").Seconds(ComputeKind::kGemm, 1e15, 0, 1);
  const double fp8_s = ComputeModel(a, "fp8").Seconds(ComputeKind::kGemm, 1e15, 0, 1);
  EXPECT_NEAR(same / (bf16_s / fp8_s), 2.0, 1e-3);
  EXPECT_NEAR(fp8_s, ComputeModel(Toy(), "fp8").Seconds(ComputeKind::kGemm, 1e15, 0, 1) * 2, 1e-3 * fp8_s);
  a.set_fp8_gemm_efficiency(1.5);
  EXPECT_THROW(AcceleratorCatalog::Validate(a, "t"), InputError);
}

TEST(ComputeModel, Fp8OnAChipWithoutFp8FallsBackToBf16) {
  const v1::Accelerator a100 = Resolved("A100-80GB");
  const ComputeModel fp8(a100, "fp8");
  const ComputeModel bf16(a100, "bf16");
  EXPECT_EQ(fp8.effective_precision(), "bf16");
  EXPECT_DOUBLE_EQ(fp8.peak_flops(), 312e12);
  EXPECT_DOUBLE_EQ(fp8.Seconds(ComputeKind::kGemm, 3e11, 1e8, 4), bf16.Seconds(ComputeKind::kGemm, 3e11, 1e8, 4));
  EXPECT_EQ(ComputeModel(a100, "fp4").effective_precision(), "bf16");
}

TEST(ComputeModel, Fp32WithoutAPeakAndUnknownPrecisionsAreInputErrors) {
  const v1::Accelerator tpu = Resolved("TPU-v5p");
  try {
    ComputeModel m(tpu, "fp32", "s.textproto");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("s.textproto: accelerator.fp32_tflops = 0"), std::string::npos) << e.what();
  }
  try {
    ComputeModel m(tpu, "int4", "s.textproto");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("workload.precision = \"int4\""), std::string::npos) << e.what();
  }
}

TEST(ComputeModel, SmallGemmsLoseMoreInFasterPrecisions) {
  // f_half scales with the peak: a fixed time per GEMM, so fp8 gains less than 2x on small GEMMs.
  const ComputeModel bf16(Toy(), "bf16");
  const ComputeModel fp8(Toy(), "fp8");
  const double small = 1e9;
  EXPECT_LT(fp8.Efficiency(ComputeKind::kGemm, small), bf16.Efficiency(ComputeKind::kGemm, small));
  const double speedup_small =
      bf16.Seconds(ComputeKind::kGemm, small, 0, 1) / fp8.Seconds(ComputeKind::kGemm, small, 0, 1);
  const double speedup_big = bf16.Seconds(ComputeKind::kGemm, 1e14, 0, 1) / fp8.Seconds(ComputeKind::kGemm, 1e14, 0, 1);
  EXPECT_LT(speedup_small, speedup_big);
  EXPECT_GT(speedup_small, 1.0);
}

TEST(ComputeModel, AttentionRunsAtTheBf16PeakWithItsOwnEfficiency) {
  const ComputeModel fp8(Toy(), "fp8");
  EXPECT_DOUBLE_EQ(fp8.attention_peak_flops(), 100e12);
  const double f = 1e13;
  const double eff = 0.25 * f / (f + 1e9);
  EXPECT_NEAR(fp8.Evaluate(ComputeKind::kAttention, f, 0, 1).compute_s, f / (100e12 * eff), 1e-12);
}

TEST(ComputeModel, EmptyOpsAreFreeAndBadOpsThrow) {
  const ComputeModel m(Toy(), "bf16");
  EXPECT_EQ(m.Seconds(ComputeKind::kGemm, 0, 0, 5), 0);
  EXPECT_THROW(m.Seconds(ComputeKind::kGemm, -1, 0, 1), SimulationError);
  EXPECT_THROW(m.Seconds(ComputeKind::kGemm, 1, std::numeric_limits<double>::infinity(), 1), SimulationError);
  // gemm_count below 1 counts as one kernel.
  EXPECT_DOUBLE_EQ(m.Seconds(ComputeKind::kGemm, 1e12, 0, 0), m.Seconds(ComputeKind::kGemm, 1e12, 0, 1));
}

TEST(ComputeModel, CalibratedA100GemmRate) {
  // A 232 GFLOP GEMM (GPT-3 175B QKV at tp=8, 2048 tokens) on A100: eff x 232/(232+2) of 312 TFLOP/s, with the
  // catalog's calibrated efficiency (fitted end to end, docs/validation-notes.md), which must stay in a sane band.
  const v1::Accelerator a100 = Resolved("A100-80GB");
  const double eff = a100.gemm_efficiency();
  EXPECT_GT(eff, 0.6);
  EXPECT_LT(eff, 0.8);
  const ComputeModel m(a100, "bf16");
  const double f = 2 * 2048.0 * 12288 * (3 * 12288 / 8);
  const double rate = f / m.Evaluate(ComputeKind::kGemm, f, 0, 1).compute_s;
  EXPECT_NEAR(rate / 1e12, 312 * eff * f / (f + 2e9), 1e-6);
}

TEST(ComputeModel, CalibratedA100AttentionIsUnfused) {
  // Attention of one SC21 1.7B layer (micro-batch 16, s 2048, h 2304) on A100: the catalog's attention efficiency
  // was fitted on Megatron rows without FlashAttention (docs/validation-notes.md), so the rate is that of
  // materialised s x s scores (~35-60 TFLOP/s), well below a GEMM of the same size.
  const v1::Accelerator a100 = Resolved("A100-80GB");
  const ComputeModel m(a100, "bf16");
  const double f = 4 * 16 * 2048.0 * 2048 * 2304;
  const double rate = f / m.Evaluate(ComputeKind::kAttention, f, 0, 1).compute_s;
  EXPECT_NEAR(rate / 1e12, 312 * a100.attention_efficiency() * f / (f + 2e9), 1e-6);
  EXPECT_GT(rate / 1e12, 31);
  EXPECT_LT(rate / 1e12, 63);
  const double gemm_rate = f / m.Evaluate(ComputeKind::kGemm, f, 0, 1).compute_s;
  EXPECT_GT(gemm_rate / rate, 3.5);
}

TEST(ComputeModel, GroupedGemmEfficiencyFallsWithTheNarrowerDimension) {
  v1::Accelerator a = Toy();
  a.set_grouped_gemm_half_efficiency_elements(400);
  const ComputeModel m(a, "bf16");
  const double f = 1e12;
  const double dense = m.Efficiency(ComputeKind::kGemm, f);
  EXPECT_DOUBLE_EQ(m.Efficiency(ComputeKind::kGroupedGemm, f, 400), dense / 2);
  EXPECT_DOUBLE_EQ(m.Efficiency(ComputeKind::kGroupedGemm, f, 7168), dense * 7168 / 7568);
  EXPECT_DOUBLE_EQ(m.Efficiency(ComputeKind::kGroupedGemm, f, 0), dense);  // no shape: as a GEMM
  wl::Op op;
  op.compute = ComputeKind::kGroupedGemm;
  op.flops = f;
  op.gemm_count = 4;
  op.gemm_min_dim = 768;
  EXPECT_GT(m.Seconds(op), m.Seconds(ComputeKind::kGemm, f, 0, 4));
  // Without the accelerator parameter the shape has no effect.
  EXPECT_DOUBLE_EQ(ComputeModel(Toy(), "bf16").Seconds(op), m.Seconds(ComputeKind::kGemm, f, 0, 4));
}

TEST(ComputeModel, QuantizeRunsAtItsOwnBandwidthShare) {
  v1::Accelerator a = Toy();
  const double bytes = 1e9;
  EXPECT_NEAR(ComputeModel(a, "fp8").Evaluate(ComputeKind::kQuantize, 0, bytes, 1).memory_s, bytes / (1000e9 * 0.8),
              1e-15);  // 0 = memory_efficiency
  a.set_fp8_quantize_memory_efficiency(0.4);
  const auto t = ComputeModel(a, "fp8").Evaluate(ComputeKind::kQuantize, 0, bytes, 1);
  EXPECT_NEAR(t.memory_s, bytes / (1000e9 * 0.4), 1e-15);
  EXPECT_FALSE(t.compute_bound);
  // Permutes are memory-bound at the ordinary share.
  EXPECT_NEAR(ComputeModel(a, "fp8").Evaluate(ComputeKind::kPermute, 0, bytes, 1).memory_s, bytes / (1000e9 * 0.8),
              1e-15);
}

TEST(ComputeModel, HostSyncAndHostBoundKernels) {
  v1::Accelerator a = Toy();
  a.set_moe_host_sync_us(30);
  a.set_kernel_launch_host_us(4);
  const ComputeModel m(a, "bf16");
  wl::Op sync;
  sync.compute = ComputeKind::kHostSync;
  sync.host_kernels = 2;
  EXPECT_NEAR(m.Seconds(sync), 60e-6, 1e-15);
  // 64 small kernels after a sync: the host's launches (256 us) set the pace, not the GPU's few microseconds.
  wl::Op small;
  small.compute = ComputeKind::kGroupedGemm;
  small.flops = 1e6;
  small.gemm_count = 1;
  small.host_kernels = 64;
  const double device = m.Seconds(small);
  EXPECT_LT(device, 256e-6);
  small.host_bound = true;
  EXPECT_NEAR(m.Seconds(small), 256e-6, 1e-15);
  // A large op hides its launches.
  small.flops = 1e13;
  const double big = m.Seconds(small);
  small.host_bound = false;
  EXPECT_DOUBLE_EQ(m.Seconds(small), big);
  // No parameters: a sync costs nothing.
  EXPECT_EQ(ComputeModel(Toy(), "bf16").Seconds(sync), 0);
}

}  // namespace
}  // namespace clustersim
