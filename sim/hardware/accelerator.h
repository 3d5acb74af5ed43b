// Accelerator catalog: the built-in chips (sim/hardware/catalog/*.textproto, embedded as kAcceleratorCatalog) and the
// resolution of a scenario's `accelerator` block against them.
//
// Resolution rules (docs/accelerators.md):
//   * `requested.name` names a built-in chip (case-insensitive; punctuation, spaces and a trailing "(...)" are
//     ignored; aliases such as "H100" or "A100-SXM4-80GB" are accepted): the catalog entry is the base and every
//     non-zero field of `requested` overrides it (protobuf MergeFrom). The canonical catalog name is kept.
//     Limitation: a bool that is true in the catalog cannot be switched off by an override (proto3 has no presence).
//   * Otherwise the chip is custom silicon: bf16_tflops, hbm_gb, hbm_bandwidth_gbyte_per_s and tdp_w are required.
//   * Fields still zero are filled with documented defaults (FillDefaults), then every field is validated
//     (Validate). Errors are InputError naming "accelerator.<field>", the value and the rule.
//
// Units follow scenario.proto: TFLOP/s (1e12), GB (1e9 bytes), GB/s per direction, Gb/s for NICs, watts.
// Ownership: the catalog owns copies of its entries; it is immutable after construction, cheap to build (a few
// small text parses) and safe to share between threads. There is no global instance.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/embedded.h"
#include "scenario.pb.h"

namespace clustersim {

// Defaults applied to fields left at zero (custom silicon, or a catalog entry that omits them). Efficiencies are
// mid values of the calibrated families (docs/accelerators.md); embodied_kgco2e and price_usd stay 0 = unknown.
struct AcceleratorDefaults {
  static constexpr double kIdleFractionOfTdp = 0.15;      // idle_w = 0.15 x tdp_w
  static constexpr double kHostPowerFractionOfTdp = 0.8;  // host_power_per_gpu_w = 0.8 x tdp_w (DGX-like, at max)
  static constexpr double kCommPowerFraction = 0.35;
  static constexpr double kMemoryBoundPowerFraction = 0.6;
  static constexpr double kGemmEfficiency = 0.6;
  static constexpr double kGemmHalfEfficiencyGflop = 4.0;
  static constexpr double kMemoryEfficiency = 0.8;
  static constexpr double kAttentionEfficiency = 0.45;
  static constexpr uint32_t kNicsPerGpu = 1;
  static constexpr double kNicBandwidthGbps = 400;
  static constexpr uint32_t kScaleUpDomainSize = 8;  // when a scale-up bandwidth is given without a domain
};

class AcceleratorCatalog {
 public:
  // The built-in catalog (kAcceleratorCatalog). Throws InputError naming the file if an entry does not parse,
  // has no name, or repeats a name.
  AcceleratorCatalog();
  // A catalog from the given files (each one text-format clustersim.v1.AcceleratorCatalogEntry).
  explicit AcceleratorCatalog(std::span<const EmbeddedFile> files);

  // Canonical names, sorted.
  std::vector<std::string> Names() const;
  // The raw catalog entry for a name or alias (see the header comment), or nullptr. The pointer lives as long as
  // the catalog.
  const v1::Accelerator* Find(std::string_view name) const;
  // The catalog file an entry came from ("h100_sxm.textproto"), for messages; empty if not built in.
  std::string FileOf(std::string_view name) const;

  // Resolves a scenario's accelerator block (see the header comment). `file` names the scenario in messages.
  v1::Accelerator Resolve(const v1::Accelerator& requested, const std::string& file) const;

  // Fills zero fields with the defaults above (documented in docs/accelerators.md).
  static void FillDefaults(v1::Accelerator* accelerator);
  // Checks every field's rule; throws InputError("file: accelerator.<field> = <value>: <rule>").
  static void Validate(const v1::Accelerator& accelerator, const std::string& file);
  // Lower-case alphanumerics of `name` before any "(": the key names and aliases are compared on.
  static std::string NormalizeName(std::string_view name);

 private:
  // power_cap_w (0, or above idle_w and at most tdp_w) and power_floor_fraction ([0, 1)).
  static void ValidatePowerMitigations(const v1::Accelerator& accelerator, const std::string& file);
  struct Entry {
    std::string key;   // NormalizeName(accelerator.name())
    std::string file;  // catalog file name
    v1::Accelerator accelerator;
  };
  const Entry* FindEntry(std::string_view name) const;
  std::vector<Entry> entries_;  // sorted by accelerator name
};

}  // namespace clustersim
