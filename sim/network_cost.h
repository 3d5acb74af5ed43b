// Capex, power and embodied carbon of every part of the network, by tier (docs/topologies.md, "Costing every
// fabric"): the scale-up fabric (switch trays or chips, copper cables, optics; torus links, their optics and optical
// circuit switches), NICs, the scale-out switch tiers and the scale-out optics.
//
// Convention: the accelerator catalog's price_usd, embodied_kgco2e and host_power_per_gpu_w are whole-system figures
// per accelerator that include its share of the scale-up fabric. Unless cluster.parts.scale_up_priced_apart, that
// share is reported as the scale_up tier and subtracted from the accelerator's lines (capex, embodied) and from the
// host power (each carve-out at most the accelerator's figure, the rest on top), so totals are unchanged; with it,
// the scale-up tier is added on top.
//
// Units: USD, W, kgCO2e.
#pragma once

#include <string>

#include "results.pb.h"
#include "scenario.pb.h"
#include "sim/hardware/power_model.h"
#include "topologies/fabric.h"

namespace clustersim::sim {

// Defaults of the scale-up, torus and OCS parts for a scale-up kind ("nvswitch", "nvl72", "cloudmatrix384", "hccs",
// "ici"; others: no scale-up parts), with the sources in docs/topologies.md.
struct ScaleUpPartDefaults {
  double domain_size = 0;  // GPUs of the domain the switch count is for (0: any)
  double switches_per_domain = 0;
  double switch_price_usd = 0;
  double switch_power_w = 0;
  double switch_embodied_kgco2e = 0;
  double cables_per_gpu = 0;
  double cable_price_usd = 0;
  double transceivers_per_gpu = 0;
  double transceiver_price_usd = 0;
  double transceiver_power_w = 0;
};
ScaleUpPartDefaults ScaleUpDefaultsFor(const std::string& scale_up_kind);

// Fills every unset (absent) scale-up, torus and OCS field of `parts` and a zero transceiver_embodied_kgco2e with the
// defaults of `scale_up_kind`; set fields (an explicit 0 included) are kept. A domain of `domain_size` GPUs smaller
// than the kind's gets that share of its switches.
void ResolveScaleUpParts(const std::string& scale_up_kind, uint32_t domain_size, v1::NetworkParts& parts);

// Fills t.parts (one line per tier and part with price, power and embodied carbon), t.tiers (their sums per tier),
// the scale-up totals and network_embodied_kgco2e.
void AddNetworkParts(const topo::Fabric& fabric, const topo::Inventory& inventory, const v1::Scenario& scenario,
                     v1::TopologySummary& t);

// Network power of a summarised topology for the energy model: scale-out plus scale-up fabric in network_w, and the
// scale-up share moved out of the hosts when the accelerator's host power includes it.
void ApplyNetworkPower(const v1::TopologySummary& t, EnergyConfig& config);

}  // namespace clustersim::sim
