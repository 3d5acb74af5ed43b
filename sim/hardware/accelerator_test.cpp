#include "sim/hardware/accelerator.h"

#include <gtest/gtest.h>

#include <string>

#include "common/error.h"

namespace clustersim {
namespace {

// Expects `fn` to throw InputError whose message contains every fragment.
template <typename Fn>
void ExpectInputError(Fn fn, std::initializer_list<const char*> fragments) {
  try {
    fn();
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    const std::string m = e.what();
    for (const char* f : fragments) EXPECT_NE(m.find(f), std::string::npos) << "missing '" << f << "' in: " << m;
  }
}

TEST(AcceleratorCatalog, HasEveryBuiltInChip) {
  const AcceleratorCatalog catalog;
  const std::vector<std::string> expected = {"A100-80GB",        "Ascend-910B", "Ascend-910C", "B200", "Biren-BR100",
                                             "Cambricon-MLU590", "GB200",       "H100-SXM",    "H200", "H800",
                                             "TPU-v5p"};
  EXPECT_EQ(catalog.Names(), expected);
}

TEST(AcceleratorCatalog, EveryEntryResolvesValidAndCompleteWithSourceAndConfidence) {
  const AcceleratorCatalog catalog;
  for (const std::string& name : catalog.Names()) {
    const v1::Accelerator* raw = catalog.Find(name);
    ASSERT_NE(raw, nullptr) << name;
    // Catalog files set every field themselves: defaults must not be needed for built-in chips.
    v1::Accelerator filled = *raw;
    AcceleratorCatalog::FillDefaults(&filled);
    EXPECT_EQ(filled.SerializeAsString(), raw->SerializeAsString()) << name << " relies on a default";
    EXPECT_FALSE(raw->source().empty()) << name;
    EXPECT_FALSE(raw->vendor().empty()) << name;
    EXPECT_TRUE(raw->confidence() == "high" || raw->confidence() == "medium" || raw->confidence() == "low") << name;
    EXPECT_GT(raw->embodied_kgco2e(), 0) << name;
    EXPECT_GT(raw->price_usd(), 0) << name;
    v1::Accelerator req;
    req.set_name(name);
    const v1::Accelerator r = catalog.Resolve(req, "test.textproto");
    EXPECT_EQ(r.name(), name);
    EXPECT_NO_THROW(AcceleratorCatalog::Validate(r, "test"));
    EXPECT_LT(r.idle_w(), r.tdp_w()) << name;
  }
}

TEST(AcceleratorCatalog, ScaleUpBandwidthIsPerDirection) {
  const AcceleratorCatalog catalog;
  // Datasheet figures are bidirectional: 600, 900, 400 and 1800 GB/s.
  EXPECT_DOUBLE_EQ(catalog.Find("A100-80GB")->scale_up_bandwidth_gbyte_per_s(), 300);
  EXPECT_DOUBLE_EQ(catalog.Find("H100-SXM")->scale_up_bandwidth_gbyte_per_s(), 450);
  EXPECT_DOUBLE_EQ(catalog.Find("H800")->scale_up_bandwidth_gbyte_per_s(), 200);
  EXPECT_DOUBLE_EQ(catalog.Find("B200")->scale_up_bandwidth_gbyte_per_s(), 900);
  EXPECT_DOUBLE_EQ(catalog.Find("GB200")->scale_up_bandwidth_gbyte_per_s(), 900);
  EXPECT_EQ(catalog.Find("GB200")->scale_up_domain_size(), 72u);
  EXPECT_EQ(catalog.Find("GB200")->scale_up_kind(), "nvl72");
  EXPECT_EQ(catalog.Find("Ascend-910C")->scale_up_domain_size(), 384u);
  EXPECT_EQ(catalog.Find("TPU-v5p")->scale_up_kind(), "ici");
  EXPECT_TRUE(catalog.Find("H100-SXM")->scale_up_in_network_reduction());
  EXPECT_FALSE(catalog.Find("A100-80GB")->scale_up_in_network_reduction());
  // DGX H100: (10.2 kW - 8 x 700 W) / 8 at max.
  EXPECT_DOUBLE_EQ(catalog.Find("H100-SXM")->host_power_per_gpu_w(), 575);
}

TEST(AcceleratorCatalog, AFalseOverrideSwitchesACatalogTrueOff) {
  const AcceleratorCatalog catalog;
  v1::Accelerator a;
  a.set_name("H100-SXM");
  EXPECT_TRUE(catalog.Resolve(a, "").scale_up_in_network_reduction());
  a.set_scale_up_in_network_reduction(false);  // e.g. a DGX without NVLS enabled
  EXPECT_FALSE(catalog.Resolve(a, "").scale_up_in_network_reduction());
}

TEST(AcceleratorCatalog, CalibrationIsOnePerFamilyAndPhysicallyPlausible) {
  // docs/validation-notes.md, "Calibration": one set of compute factors per family, fitted end to end with
  // tests/validation/fit_calibration.py. The bands are what the hardware and software allow, not the fit itself.
  const AcceleratorCatalog catalog;
  const v1::Accelerator& h100 = *catalog.Find("H100-SXM");
  for (const char* name : {"H200", "H800"}) {
    const v1::Accelerator& a = *catalog.Find(name);
    EXPECT_DOUBLE_EQ(a.gemm_efficiency(), h100.gemm_efficiency()) << name;
    EXPECT_DOUBLE_EQ(a.gemm_half_efficiency_gflop(), h100.gemm_half_efficiency_gflop()) << name;
    EXPECT_DOUBLE_EQ(a.attention_efficiency(), h100.attention_efficiency()) << name;
    EXPECT_DOUBLE_EQ(a.memory_efficiency(), h100.memory_efficiency()) << name;
  }
  // Large-GEMM asymptotes below cuBLAS microbenchmarks (~0.8 of the A100 peak, ~0.7 of the H100 FP8 peak).
  const v1::Accelerator& a100 = *catalog.Find("A100-80GB");
  EXPECT_GT(a100.gemm_efficiency(), 0.65);
  EXPECT_LE(a100.gemm_efficiency(), 0.82);
  EXPECT_GT(h100.gemm_efficiency(), 0.5);
  EXPECT_LE(h100.gemm_efficiency(), 0.7);
  // A100 rows ran Megatron attention without FlashAttention (scores materialised in HBM: ~35-50 TFLOP/s, 0.11-0.16
  // of the peak); Hopper rows run fused (FlashAttention-2/cuDNN) attention.
  EXPECT_GE(a100.attention_efficiency(), 0.10);
  EXPECT_LE(a100.attention_efficiency(), 0.20);
  EXPECT_GE(h100.attention_efficiency(), 0.4);
  // The GEMM-size falloff is a fixed cost of a few microseconds per GEMM: f_half / (eff x peak) in 3-30 us.
  for (const v1::Accelerator* a : {&a100, &h100}) {
    const double fixed_s = a->gemm_half_efficiency_gflop() * 1e9 / (a->gemm_efficiency() * a->bf16_tflops() * 1e12);
    EXPECT_GT(fixed_s, 3e-6) << a->name();
    EXPECT_LT(fixed_s, 30e-6) << a->name();
  }
}

TEST(AcceleratorCatalog, FindIsCaseInsensitiveAndAcceptsAliases) {
  const AcceleratorCatalog catalog;
  const struct {
    const char* query;
    const char* canonical;
  } cases[] = {
      {"h100-sxm", "H100-SXM"},
      {"H100", "H100-SXM"},
      {"H100-SXM5-80GB", "H100-SXM"},
      {"H100-SXM5-80GB (DGX H100)", "H100-SXM"},
      {"A100-SXM4-80GB", "A100-80GB"},
      {"a100_80gb", "A100-80GB"},
      {"A100", "A100-80GB"},
      {"H200-SXM-141GB", "H200"},
      {"H800-SXM-80GB", "H800"},
      {"B200 (HGX, 1000 W)", "B200"},
      {"GB200 (Blackwell GPU in NVL72, 1200 W)", "GB200"},
      {"Ascend 910B", "Ascend-910B"},
      {"TPU v5p", "TPU-v5p"},
      {"mlu590", "Cambricon-MLU590"},
  };
  for (const auto& c : cases) {
    const v1::Accelerator* a = catalog.Find(c.query);
    ASSERT_NE(a, nullptr) << c.query;
    EXPECT_EQ(a->name(), c.canonical) << c.query;
  }
  EXPECT_EQ(catalog.Find("V100"), nullptr);
  EXPECT_EQ(catalog.Find(""), nullptr);
  EXPECT_EQ(catalog.FileOf("h100"), "h100_sxm.textproto");
}

TEST(AcceleratorCatalog, ResolveOverridesNonZeroFieldsOnly) {
  const AcceleratorCatalog catalog;
  v1::Accelerator req;
  req.set_name("h100");
  req.set_tdp_w(650);
  req.set_gemm_efficiency(0.8);
  const v1::Accelerator r = catalog.Resolve(req, "s.textproto");
  EXPECT_EQ(r.name(), "H100-SXM");
  EXPECT_DOUBLE_EQ(r.tdp_w(), 650);
  EXPECT_DOUBLE_EQ(r.gemm_efficiency(), 0.8);
  EXPECT_DOUBLE_EQ(r.bf16_tflops(), 989);  // kept from the catalog
  EXPECT_DOUBLE_EQ(r.hbm_gb(), 80);
  EXPECT_TRUE(r.scale_up_in_network_reduction());
}

TEST(AcceleratorCatalog, CustomSiliconNeedsCoreFieldsAndGetsDefaults) {
  const AcceleratorCatalog catalog;
  v1::Accelerator req;
  req.set_name("MyChip");
  req.set_bf16_tflops(500);
  req.set_hbm_gb(96);
  req.set_hbm_bandwidth_gbyte_per_s(3000);
  ExpectInputError([&] { catalog.Resolve(req, "s.textproto"); },
                   {"s.textproto", "accelerator.tdp_w = 0", "custom accelerator \"MyChip\"", "H100-SXM"});
  req.set_tdp_w(600);
  const v1::Accelerator r = catalog.Resolve(req, "s.textproto");
  EXPECT_EQ(r.name(), "MyChip");
  EXPECT_EQ(r.confidence(), "low");
  EXPECT_DOUBLE_EQ(r.idle_w(), AcceleratorDefaults::kIdleFractionOfTdp * 600);
  EXPECT_DOUBLE_EQ(r.host_power_per_gpu_w(), AcceleratorDefaults::kHostPowerFractionOfTdp * 600);
  EXPECT_DOUBLE_EQ(r.gemm_efficiency(), AcceleratorDefaults::kGemmEfficiency);
  EXPECT_DOUBLE_EQ(r.memory_efficiency(), AcceleratorDefaults::kMemoryEfficiency);
  EXPECT_EQ(r.scale_up_domain_size(), 1u);
  EXPECT_EQ(r.scale_up_kind(), "none");
  EXPECT_EQ(r.nics_per_gpu(), AcceleratorDefaults::kNicsPerGpu);
  EXPECT_DOUBLE_EQ(r.nic_bandwidth_gbps(), AcceleratorDefaults::kNicBandwidthGbps);
  EXPECT_DOUBLE_EQ(r.embodied_kgco2e(), 0);  // unknown stays unknown
  // With a scale-up bandwidth the domain defaults to an 8-way switch.
  req.set_scale_up_bandwidth_gbyte_per_s(400);
  const v1::Accelerator r2 = catalog.Resolve(req, "s.textproto");
  EXPECT_EQ(r2.scale_up_domain_size(), AcceleratorDefaults::kScaleUpDomainSize);
  EXPECT_EQ(r2.scale_up_kind(), "nvswitch");
}

TEST(AcceleratorCatalog, ValidationNamesFieldValueAndRule) {
  const AcceleratorCatalog catalog;
  const auto with = [&](auto set) {
    v1::Accelerator req;
    req.set_name("H100-SXM");
    set(req);
    return [&catalog, req] { catalog.Resolve(req, "bad.textproto"); };
  };
  ExpectInputError(with([](v1::Accelerator& a) { a.set_idle_w(800); }),
                   {"bad.textproto", "accelerator.idle_w = 800", "must be < tdp_w (700)"});
  ExpectInputError(with([](v1::Accelerator& a) { a.set_gemm_efficiency(1.5); }),
                   {"accelerator.gemm_efficiency = 1.5", "[0.01, 1]"});
  ExpectInputError(with([](v1::Accelerator& a) { a.set_memory_efficiency(-0.2); }),
                   {"accelerator.memory_efficiency = -0.2", ">= 0"});
  ExpectInputError(with([](v1::Accelerator& a) { a.set_comm_power_fraction(1.2); }),
                   {"accelerator.comm_power_fraction = 1.2", "[0, 1]"});
  ExpectInputError(with([](v1::Accelerator& a) { a.set_fp8_tflops(-1); }), {"accelerator.fp8_tflops = -1", ">= 0"});
  ExpectInputError(with([](v1::Accelerator& a) { a.set_bf16_tflops(-5); }), {"accelerator.bf16_tflops = -5", ">= 0"});
  ExpectInputError(with([](v1::Accelerator& a) { a.set_price_usd(-1); }), {"accelerator.price_usd = -1"});
  ExpectInputError(with([](v1::Accelerator& a) { a.set_scale_up_kind("nvlink"); }),
                   {"accelerator.scale_up_kind = \"nvlink\"", "nvswitch"});
  ExpectInputError(with([](v1::Accelerator& a) { a.set_confidence("sure"); }), {"accelerator.confidence"});
  v1::Accelerator none;
  ExpectInputError([&] { catalog.Resolve(none, "x"); }, {"accelerator.name = \"\"", "A100-80GB"});
}

TEST(AcceleratorCatalog, BadCatalogFilesAreReported) {
  const EmbeddedFile broken[] = {{"broken.textproto", "accelerator { name: \"X\" bogus_field: 1 }"}};
  ExpectInputError([&] { AcceleratorCatalog c{std::span<const EmbeddedFile>(broken)}; }, {"broken.textproto", "1:"});
  const EmbeddedFile dup[] = {{"a.textproto", "accelerator { name: \"Chip-A\" }"},
                              {"b.textproto", "accelerator { name: \"chip a\" }"}};
  ExpectInputError([&] { AcceleratorCatalog c{std::span<const EmbeddedFile>(dup)}; }, {"b.textproto", "a.textproto"});
  const EmbeddedFile unnamed[] = {{"u.textproto", "accelerator { tdp_w: 100 }"}};
  ExpectInputError([&] { AcceleratorCatalog c{std::span<const EmbeddedFile>(unnamed)}; },
                   {"u.textproto", "accelerator.name"});
}

TEST(AcceleratorCatalog, SeveralCatalogsLiveSideBySide) {
  const EmbeddedFile one[] = {{"one.textproto", "accelerator { name: \"Only\" bf16_tflops: 10 }"}};
  const AcceleratorCatalog small{std::span<const EmbeddedFile>(one)};
  const AcceleratorCatalog full;
  EXPECT_EQ(small.Names(), std::vector<std::string>{"Only"});
  EXPECT_EQ(small.Find("H100"), nullptr);
  EXPECT_NE(full.Find("H100"), nullptr);
}

}  // namespace
}  // namespace clustersim
