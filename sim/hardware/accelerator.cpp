#include "sim/hardware/accelerator.h"

#include <fmt/format.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "common/error.h"
#include "sim/plausible.h"

namespace clustersim {
extern const EmbeddedFile kAcceleratorCatalog[];
extern const std::size_t kAcceleratorCatalog_count;
}  // namespace clustersim

namespace clustersim {
namespace {

// Other spellings of the built-in chips, in NormalizeName form, as used by papers, datasheets and
// /work/shared/validation/cases.yaml. A name whose normalized form equals a canonical name's needs no entry here.
struct Alias {
  const char* key;
  const char* canonical;
};
constexpr Alias kAliases[] = {
    {"a100", "A100-80GB"},
    {"a100sxm", "A100-80GB"},
    {"a100sxm4", "A100-80GB"},
    {"a100sxm480gb", "A100-80GB"},
    {"a100sxm80gb", "A100-80GB"},
    {"a10080gbsxm4", "A100-80GB"},
    {"h100", "H100-SXM"},
    {"h100sxm5", "H100-SXM"},
    {"h100sxm580gb", "H100-SXM"},
    {"h100sxm80gb", "H100-SXM"},
    {"h10080gb", "H100-SXM"},
    {"h10080gbsxm5", "H100-SXM"},
    {"h200sxm", "H200"},
    {"h200sxm141gb", "H200"},
    {"h200141gb", "H200"},
    {"h800sxm", "H800"},
    {"h800sxm80gb", "H800"},
    {"h80080gb", "H800"},
    {"b200hgx", "B200"},
    {"b200sxm", "B200"},
    {"gb200nvl72", "GB200"},
    {"910b", "Ascend-910B"},
    {"ascend910b3", "Ascend-910B"},
    {"910c", "Ascend-910C"},
    {"tpuv5p", "TPU-v5p"},
    {"v5p", "TPU-v5p"},
    {"mlu590", "Cambricon-MLU590"},
    {"br100", "Biren-BR100"},
};

constexpr const char* kScaleUpKinds[] = {"nvswitch", "nvl72", "hccs", "cloudmatrix384", "ici", "none"};
constexpr const char* kConfidences[] = {"high", "medium", "low"};

std::string Num(double v) { return fmt::format("{}", v); }

// Collects text-format parse errors with their line numbers.
class ParseErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column, const std::string& message) override {
    if (text.empty()) text = fmt::format("{}:{}: {}", line + 1, column + 1, message);
  }
  std::string text;
};

// Validation helpers: each throws InputError naming the field.
void RequireNonNegative(const std::string& file, const char* field, double v) {
  if (!(v >= 0) || !std::isfinite(v))
    throw InputError::Field(file, 0, std::string("accelerator.") + field, Num(v), "must be a finite number >= 0");
}
void RequirePositive(const std::string& file, const char* field, double v) {
  if (!(v > 0) || !std::isfinite(v))
    throw InputError::Field(file, 0, std::string("accelerator.") + field, Num(v), "must be a finite number > 0");
}
void RequireFraction(const std::string& file, const char* field, double v) {
  if (!(v >= 0 && v <= 1))
    throw InputError::Field(file, 0, std::string("accelerator.") + field, Num(v), "must be in [0, 1]");
}
void RequireEfficiency(const std::string& file, const char* field, double v) {
  if (!(v > 0 && v <= 1))
    throw InputError::Field(file, 0, std::string("accelerator.") + field, Num(v), "must be in (0, 1]");
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

}  // namespace

AcceleratorCatalog::AcceleratorCatalog()
    : AcceleratorCatalog(std::span<const EmbeddedFile>(kAcceleratorCatalog, kAcceleratorCatalog_count)) {}

AcceleratorCatalog::AcceleratorCatalog(std::span<const EmbeddedFile> files) {
  entries_.reserve(files.size());
  for (const EmbeddedFile& f : files) {
    v1::AcceleratorCatalogEntry entry;
    google::protobuf::TextFormat::Parser parser;
    ParseErrors errors;
    parser.RecordErrorsTo(&errors);
    const std::string file(f.name);
    if (!parser.ParseFromString(std::string(f.content), &entry)) {
      throw InputError(file + ":" + (errors.text.empty() ? " cannot parse accelerator catalog entry" : errors.text));
    }
    const std::string& name = entry.accelerator().name();
    if (name.empty()) throw InputError::Field(file, 0, "accelerator.name", "\"\"", "a catalog entry needs a name");
    Entry e{NormalizeName(name), file, entry.accelerator()};
    for (const Entry& other : entries_) {
      if (other.key == e.key) {
        throw InputError::Field(file, 0, "accelerator.name", "\"" + name + "\"",
                                "repeats the name of the entry in " + other.file);
      }
    }
    entries_.push_back(std::move(e));
  }
  std::sort(entries_.begin(), entries_.end(),
            [](const Entry& a, const Entry& b) { return a.accelerator.name() < b.accelerator.name(); });
}

std::vector<std::string> AcceleratorCatalog::Names() const {
  std::vector<std::string> names;
  names.reserve(entries_.size());
  for (const Entry& e : entries_) names.push_back(e.accelerator.name());
  return names;
}

std::string AcceleratorCatalog::NormalizeName(std::string_view name) {
  std::string key;
  for (char c : name) {
    if (c == '(') break;
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u)) key.push_back(static_cast<char>(std::tolower(u)));
  }
  return key;
}

const AcceleratorCatalog::Entry* AcceleratorCatalog::FindEntry(std::string_view name) const {
  const std::string key = NormalizeName(name);
  if (key.empty()) return nullptr;
  for (const Entry& e : entries_) {
    if (e.key == key) return &e;
  }
  for (const Alias& a : kAliases) {
    if (key == a.key) {
      const std::string canonical = NormalizeName(a.canonical);
      for (const Entry& e : entries_) {
        if (e.key == canonical) return &e;
      }
    }
  }
  return nullptr;
}

const v1::Accelerator* AcceleratorCatalog::Find(std::string_view name) const {
  const Entry* e = FindEntry(name);
  return e ? &e->accelerator : nullptr;
}

std::string AcceleratorCatalog::FileOf(std::string_view name) const {
  const Entry* e = FindEntry(name);
  return e ? e->file : std::string();
}

v1::Accelerator AcceleratorCatalog::Resolve(const v1::Accelerator& requested, const std::string& file) const {
  if (requested.name().empty()) {
    throw InputError::Field(file, 0, "accelerator.name", "\"\"",
                            "must name a built-in accelerator (" + JoinNames(Names()) +
                                ") or a custom one with bf16_tflops, hbm_gb, hbm_bandwidth_gbyte_per_s and tdp_w");
  }
  v1::Accelerator resolved;
  if (const Entry* e = FindEntry(requested.name())) {
    resolved = e->accelerator;
    resolved.MergeFrom(requested);
    resolved.set_name(e->accelerator.name());
  } else {
    struct Required {
      const char* field;
      double value;
    };
    const Required required[] = {{"bf16_tflops", requested.bf16_tflops()},
                                 {"hbm_gb", requested.hbm_gb()},
                                 {"hbm_bandwidth_gbyte_per_s", requested.hbm_bandwidth_gbyte_per_s()},
                                 {"tdp_w", requested.tdp_w()}};
    for (const Required& r : required) {
      if (r.value == 0) {
        throw InputError::Field(file, 0, std::string("accelerator.") + r.field, "0",
                                "required for custom accelerator \"" + InputError::Shown(requested.name()) +
                                    "\" (not built in; built-in: " + JoinNames(Names()) + ")");
      }
    }
    resolved = requested;
    if (resolved.confidence().empty()) resolved.set_confidence("low");
    if (resolved.source().empty()) resolved.set_source("user-supplied custom accelerator");
  }
  FillDefaults(&resolved);
  Validate(resolved, file);
  return resolved;
}

void AcceleratorCatalog::FillDefaults(v1::Accelerator* a) {
  using D = AcceleratorDefaults;
  if (a->scale_up_domain_size() == 0)
    a->set_scale_up_domain_size(a->scale_up_bandwidth_gbyte_per_s() > 0 ? D::kScaleUpDomainSize : 1);
  if (a->scale_up_kind().empty()) a->set_scale_up_kind(a->scale_up_domain_size() > 1 ? "nvswitch" : "none");
  if (a->nics_per_gpu() == 0) a->set_nics_per_gpu(D::kNicsPerGpu);
  if (a->nic_bandwidth_gbps() == 0) a->set_nic_bandwidth_gbps(D::kNicBandwidthGbps);
  if (a->idle_w() == 0) a->set_idle_w(D::kIdleFractionOfTdp * a->tdp_w());
  if (a->host_power_per_gpu_w() == 0) a->set_host_power_per_gpu_w(D::kHostPowerFractionOfTdp * a->tdp_w());
  if (a->comm_power_fraction() == 0) a->set_comm_power_fraction(D::kCommPowerFraction);
  if (a->memory_bound_power_fraction() == 0) a->set_memory_bound_power_fraction(D::kMemoryBoundPowerFraction);
  if (a->gemm_efficiency() == 0) a->set_gemm_efficiency(D::kGemmEfficiency);
  if (a->gemm_half_efficiency_gflop() == 0) a->set_gemm_half_efficiency_gflop(D::kGemmHalfEfficiencyGflop);
  if (a->memory_efficiency() == 0) a->set_memory_efficiency(D::kMemoryEfficiency);
  if (a->attention_efficiency() == 0) a->set_attention_efficiency(D::kAttentionEfficiency);
}

void AcceleratorCatalog::Validate(const v1::Accelerator& a, const std::string& file) {
  // Every number finite and within its plausible range (sim/plausible.h): catches a value in the wrong unit.
  CheckFieldRanges(a, "accelerator",
                   [&file](const std::string& path, const std::string& value, const std::string& rule) {
                     throw InputError::Field(file, 0, path, value, rule);
                   });
  if (!a.confidence().empty() && std::find_if(std::begin(kConfidences), std::end(kConfidences), [&](const char* c) {
                                   return a.confidence() == c;
                                 }) == std::end(kConfidences)) {
    throw InputError::Field(file, 0, "accelerator.confidence", "\"" + a.confidence() + "\"",
                            "must be one of high, medium, low");
  }
  RequireNonNegative(file, "fp32_tflops", a.fp32_tflops());
  RequirePositive(file, "bf16_tflops", a.bf16_tflops());
  RequireNonNegative(file, "fp8_tflops", a.fp8_tflops());
  RequireNonNegative(file, "fp4_tflops", a.fp4_tflops());
  RequirePositive(file, "hbm_gb", a.hbm_gb());
  RequirePositive(file, "hbm_bandwidth_gbyte_per_s", a.hbm_bandwidth_gbyte_per_s());
  RequireNonNegative(file, "scale_up_bandwidth_gbyte_per_s", a.scale_up_bandwidth_gbyte_per_s());
  if (a.scale_up_domain_size() < 1) {
    throw InputError::Field(file, 0, "accelerator.scale_up_domain_size", std::to_string(a.scale_up_domain_size()),
                            "must be >= 1");
  }
  if (a.scale_up_domain_size() > 1 && !(a.scale_up_bandwidth_gbyte_per_s() > 0)) {
    throw InputError::Field(file, 0, "accelerator.scale_up_bandwidth_gbyte_per_s",
                            Num(a.scale_up_bandwidth_gbyte_per_s()),
                            "must be > 0 when scale_up_domain_size is " + std::to_string(a.scale_up_domain_size()));
  }
  if (std::find_if(std::begin(kScaleUpKinds), std::end(kScaleUpKinds),
                   [&](const char* k) { return a.scale_up_kind() == k; }) == std::end(kScaleUpKinds)) {
    throw InputError::Field(file, 0, "accelerator.scale_up_kind", "\"" + a.scale_up_kind() + "\"",
                            "must be one of nvswitch, nvl72, hccs, cloudmatrix384, ici, none");
  }
  if (a.scale_up_kind() == "none" && a.scale_up_domain_size() > 1) {
    throw InputError::Field(file, 0, "accelerator.scale_up_kind", "\"none\"",
                            "contradicts scale_up_domain_size = " + std::to_string(a.scale_up_domain_size()));
  }
  if (a.nics_per_gpu() < 1) {
    throw InputError::Field(file, 0, "accelerator.nics_per_gpu", std::to_string(a.nics_per_gpu()), "must be >= 1");
  }
  RequirePositive(file, "nic_bandwidth_gbps", a.nic_bandwidth_gbps());
  RequirePositive(file, "tdp_w", a.tdp_w());
  RequireNonNegative(file, "idle_w", a.idle_w());
  if (!(a.idle_w() < a.tdp_w())) {
    throw InputError::Field(file, 0, "accelerator.idle_w", Num(a.idle_w()), "must be < tdp_w (" + Num(a.tdp_w()) + ")");
  }
  RequireNonNegative(file, "host_power_per_gpu_w", a.host_power_per_gpu_w());
  RequireFraction(file, "comm_power_fraction", a.comm_power_fraction());
  RequireFraction(file, "memory_bound_power_fraction", a.memory_bound_power_fraction());
  RequireEfficiency(file, "gemm_efficiency", a.gemm_efficiency());
  RequireNonNegative(file, "gemm_half_efficiency_gflop", a.gemm_half_efficiency_gflop());
  RequireEfficiency(file, "memory_efficiency", a.memory_efficiency());
  RequireEfficiency(file, "attention_efficiency", a.attention_efficiency());
  if (a.fp8_gemm_efficiency() != 0) RequireEfficiency(file, "fp8_gemm_efficiency", a.fp8_gemm_efficiency());
  if (a.fp8_quantize_memory_efficiency() != 0)
    RequireEfficiency(file, "fp8_quantize_memory_efficiency", a.fp8_quantize_memory_efficiency());
  RequireNonNegative(file, "grouped_gemm_half_efficiency_elements", a.grouped_gemm_half_efficiency_elements());
  RequireNonNegative(file, "moe_host_sync_us", a.moe_host_sync_us());
  RequireNonNegative(file, "kernel_launch_host_us", a.kernel_launch_host_us());
  RequireNonNegative(file, "embodied_kgco2e", a.embodied_kgco2e());
  RequireNonNegative(file, "price_usd", a.price_usd());
  RequireNonNegative(file, "host_price_usd", a.host_price_usd());
  if (!(a.speed_cv() >= 0 && a.speed_cv() <= 0.5))
    throw InputError::Field(file, 0, "accelerator.speed_cv", Num(a.speed_cv()),
                            "must be in [0, 0.5] (relative standard deviation, e.g. 0.012)");
  if (!(a.step_overhead_ms() >= 0 && a.step_overhead_ms() <= 60000))
    throw InputError::Field(file, 0, "accelerator.step_overhead_ms", Num(a.step_overhead_ms()),
                            "must be in [0, 60000] ms per step");
  if (!(a.comm_compute_interference() >= 0 && a.comm_compute_interference() <= 0.5))
    throw InputError::Field(file, 0, "accelerator.comm_compute_interference", Num(a.comm_compute_interference()),
                            "must be in [0, 0.5] (share of compute, e.g. 0.12)");
  ValidatePowerMitigations(a, file);
}

void AcceleratorCatalog::ValidatePowerMitigations(const v1::Accelerator& a, const std::string& file) {
  RequireNonNegative(file, "power_cap_w", a.power_cap_w());
  if (a.power_cap_w() > 0 && !(a.power_cap_w() > a.idle_w() && a.power_cap_w() <= a.tdp_w()))
    throw InputError::Field(file, 0, "accelerator.power_cap_w", Num(a.power_cap_w()),
                            "a board power limit must lie above idle_w (" + Num(a.idle_w()) + ") and at most tdp_w (" +
                                Num(a.tdp_w()) + ")");
  if (!(a.power_floor_fraction() >= 0 && a.power_floor_fraction() < 1))
    throw InputError::Field(file, 0, "accelerator.power_floor_fraction", Num(a.power_floor_fraction()),
                            "must be in [0, 1): the least draw as a fraction of the (capped) TDP, 0 = off");
}

}  // namespace clustersim
