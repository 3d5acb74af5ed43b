// Network parts by tier with price, power and embodied carbon; see network_cost.h and docs/topologies.md.
#include "sim/network_cost.h"

#include <algorithm>
#include <cmath>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/simulation.h"

namespace clustersim::sim {
namespace {

// Per-kind defaults (docs/topologies.md, "Costing every fabric", for sources and confidence).
struct KindDefaults {
  std::string_view kind;
  ScaleUpPartDefaults parts;
};
constexpr KindDefaults kKinds[] = {
    // HGX/DGX 8-GPU baseboard: 4 NVSwitch chips (H100; A100 has 6, B200 2), board traces, no cables or optics.
    {"nvswitch", {8, 4, 4000, 100, 20, 0, 0, 0, 0, 0}},
    // GB200 NVL72: 9 NVLink switch trays (2 NVLink5 switch chips each; 3.6 kW in all), copper spine of ~5,184 cables.
    {"nvl72", {72, 9, 30000, 400, 300, 72, 25, 0, 0, 0}},
    // CloudMatrix384: 7 L1 UB switches per 8-NPU node (336) + 112 L2 UB switches; 6,912 400G LPO modules (18/NPU).
    {"cloudmatrix384", {384, 448, 3000, 100, 50, 0, 0, 18, 300, 6}},
    // HCCS / OAM full mesh of 8 cards on the board: no switch, no cable.
    {"hccs", {8, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
    // TPU ICI: the torus links are priced by the torus and OCS fields; its optics by the transceiver fields here.
    {"ici", {0, 0, 0, 0, 0, 0, 0, 0, 400, 6}},
};

// Torus and OCS defaults (TPU v4/v5p: 4x4x4 cubes of copper links, the cube faces on optics through 136-port
// optical circuit switches, 128 ports used: 48 OCS per 4,096 chips).
constexpr double kTorusCableUsd = 100;
constexpr double kTorusOpticalFraction = 0.25;
constexpr double kOcsUsd = 40000;
constexpr double kOcsW = 108;
constexpr double kOcsPorts = 128;
constexpr double kTransceiverKgco2e = 5;

struct Line {
  const char* tier;
  std::string part;
  double count;
  double unit_usd;
  double unit_w;
  double unit_kgco2e;
  const char* note;
};

void Add(v1::TopologySummary& t, const Line& l) {
  if (!(l.count > 0)) return;
  v1::CostItem c = CostItemOf(l.tier, l.part, l.count, l.unit_usd, l.note);
  c.set_unit_w(l.unit_w);
  c.set_total_w(l.count * l.unit_w);
  c.set_unit_kgco2e(l.unit_kgco2e);
  c.set_total_kgco2e(l.count * l.unit_kgco2e);
  *t.add_parts() = c;
}

double Links(const topo::Inventory& inv, topo::LinkKind k) {
  const auto i = static_cast<size_t>(k);
  return i < inv.links_per_kind.size() ? static_cast<double>(inv.links_per_kind[i]) : 0.0;
}

void AddScaleUpLines(const topo::Inventory& inv, const v1::NetworkParts& p, const char* note, v1::TopologySummary& t) {
  using topo::LinkKind;
  const double gpus = Links(inv, LinkKind::kScaleUp);  // GPUs joined to a scale-up switch
  const double domains = static_cast<double>(inv.scale_up_switches);
  Add(t, {"scale_up", "switch", domains * p.scale_up_switches_per_domain(), p.scale_up_switch_price_usd(),
          p.scale_up_switch_power_w(), p.scale_up_switch_embodied_kgco2e(), note});
  Add(t, {"scale_up", "cable (copper)", gpus * p.scale_up_cables_per_gpu(), p.scale_up_cable_price_usd(), 0, 0, note});
  Add(t, {"scale_up", "transceiver", gpus * p.scale_up_transceivers_per_gpu(), p.scale_up_transceiver_price_usd(),
          p.scale_up_transceiver_power_w(), p.transceiver_embodied_kgco2e(), note});
  const double torus = Links(inv, LinkKind::kTorus);
  const double optical = std::round(torus * p.torus_optical_fraction());
  Add(t, {"scale_up", "torus link (copper)", torus - optical, p.torus_cable_price_usd(), 0, 0, note});
  Add(t, {"scale_up", "transceiver (torus)", 2 * optical, p.scale_up_transceiver_price_usd(),
          p.scale_up_transceiver_power_w(), p.transceiver_embodied_kgco2e(), note});
  const double ocs = p.ocs_ports() > 0 ? std::ceil(2 * optical / p.ocs_ports()) : 0;
  Add(t, {"scale_up", "optical circuit switch", ocs, p.ocs_price_usd(), p.ocs_power_w(), 0, note});
}

void AddScaleOutLines(const topo::Fabric& f, const topo::Inventory& inv, const v1::NetworkParts& p,
                      v1::TopologySummary& t) {
  using topo::LinkKind;
  const double tr_usd = p.transceiver_price_usd(), tr_w = p.transceiver_power_w();
  const double tr_kg = p.transceiver_embodied_kgco2e();
  Add(t, {"nic", "NIC", static_cast<double>(inv.nics), p.nic_price_usd(), p.nic_power_w(), 0, ""});
  Add(t, {"nic", "cable (NIC to leaf)", Links(inv, LinkKind::kNicToLeaf), p.cable_price_usd(), 0, 0, ""});
  Add(t, {"optics", "transceiver (nic_to_leaf)", 2 * Links(inv, LinkKind::kNicToLeaf), tr_usd, tr_w, tr_kg, ""});
  const std::string& kind = f.params().topology;
  const bool routers = kind == "dragonfly" || kind == "slim_fly";
  const char* tier_names[] = {"leaf", "spine", "core"};
  for (size_t tier = 0; tier < inv.switches_per_tier.size(); ++tier) {
    Add(t, {routers ? "router" : tier_names[std::min<size_t>(tier, 2)], "switch",
            static_cast<double>(inv.switches_per_tier[tier]), p.switch_price_usd(), p.switch_power_w(),
            p.switch_embodied_kgco2e(), ""});
  }
  const std::pair<LinkKind, const char*> up[] = {{LinkKind::kLeafToSpine, "spine"},
                                                 {LinkKind::kSpineToCore, "core"},
                                                 {LinkKind::kLocal, "router"},
                                                 {LinkKind::kGlobal, "router"},
                                                 {LinkKind::kRouterLink, "router"}};
  for (const auto& [link, tier] : up) {
    const std::string name = topo::ToString(link);
    Add(t, {tier, "cable (" + name + ")", Links(inv, link), p.cable_price_usd(), 0, 0, ""});
    Add(t, {"optics", "transceiver (" + name + ")", 2 * Links(inv, link), tr_usd, tr_w, tr_kg, ""});
  }
}

// Sums the lines per tier (in order of first appearance) and the scale-up / scale-out totals.
void RollUpTiers(v1::TopologySummary& t) {
  for (const v1::CostItem& c : t.parts()) {
    v1::NetworkTier* tier = nullptr;
    for (v1::NetworkTier& x : *t.mutable_tiers())
      if (x.tier() == c.tier()) tier = &x;
    if (tier == nullptr) {
      tier = t.add_tiers();
      tier->set_tier(c.tier());
    }
    tier->set_capex_usd(tier->capex_usd() + c.total_usd());
    tier->set_power_w(tier->power_w() + c.total_w());
    tier->set_embodied_kgco2e(tier->embodied_kgco2e() + c.total_kgco2e());
  }
  for (const v1::NetworkTier& x : t.tiers()) {
    if (x.tier() == "scale_up") {
      t.set_scale_up_cost_usd(x.capex_usd());
      t.set_scale_up_power_w(x.power_w());
      t.set_scale_up_embodied_kgco2e(x.embodied_kgco2e());
    } else {
      t.set_network_embodied_kgco2e(t.network_embodied_kgco2e() + x.embodied_kgco2e());
    }
  }
}

}  // namespace

ScaleUpPartDefaults ScaleUpDefaultsFor(const std::string& scale_up_kind) {
  for (const KindDefaults& k : kKinds)
    if (k.kind == scale_up_kind) return k.parts;
  return {};
}

void ResolveScaleUpParts(const std::string& scale_up_kind, uint32_t domain_size, v1::NetworkParts& p) {
  const ScaleUpPartDefaults d = ScaleUpDefaultsFor(scale_up_kind);
  // A domain smaller than the kind's (8 GPUs of an NVL72 rack) gets its share of the switches.
  const double share = d.domain_size > 0 ? std::min(1.0, domain_size / d.domain_size) : 1.0;
  if (!p.has_scale_up_switches_per_domain()) p.set_scale_up_switches_per_domain(d.switches_per_domain * share);
  if (!p.has_scale_up_switch_price_usd()) p.set_scale_up_switch_price_usd(d.switch_price_usd);
  if (!p.has_scale_up_switch_power_w()) p.set_scale_up_switch_power_w(d.switch_power_w);
  if (!p.has_scale_up_switch_embodied_kgco2e()) p.set_scale_up_switch_embodied_kgco2e(d.switch_embodied_kgco2e);
  if (!p.has_scale_up_cables_per_gpu()) p.set_scale_up_cables_per_gpu(d.cables_per_gpu);
  if (!p.has_scale_up_cable_price_usd()) p.set_scale_up_cable_price_usd(d.cable_price_usd);
  if (!p.has_scale_up_transceivers_per_gpu()) p.set_scale_up_transceivers_per_gpu(d.transceivers_per_gpu);
  if (!p.has_scale_up_transceiver_price_usd()) p.set_scale_up_transceiver_price_usd(d.transceiver_price_usd);
  if (!p.has_scale_up_transceiver_power_w()) p.set_scale_up_transceiver_power_w(d.transceiver_power_w);
  if (!p.has_torus_cable_price_usd()) p.set_torus_cable_price_usd(kTorusCableUsd);
  if (!p.has_torus_optical_fraction()) p.set_torus_optical_fraction(kTorusOpticalFraction);
  if (!p.has_ocs_price_usd()) p.set_ocs_price_usd(kOcsUsd);
  if (!p.has_ocs_power_w()) p.set_ocs_power_w(kOcsW);
  if (!p.has_ocs_ports()) p.set_ocs_ports(kOcsPorts);
  if (p.transceiver_embodied_kgco2e() == 0) p.set_transceiver_embodied_kgco2e(kTransceiverKgco2e);
}

void AddNetworkParts(const topo::Fabric& f, const topo::Inventory& inv, const v1::Scenario& s, v1::TopologySummary& t) {
  const v1::NetworkParts& p = s.cluster().parts();
  const bool carved = !p.scale_up_priced_apart();
  t.set_scale_up_in_accelerator(carved);
  AddScaleUpLines(inv, p, carved ? "in the accelerator's price, power and embodied carbon (subtracted there)" : "", t);
  AddScaleOutLines(f, inv, p, t);
  RollUpTiers(t);
}

void ApplyNetworkPower(const v1::TopologySummary& t, EnergyConfig& config) {
  config.network_w = t.network_power_w() + t.scale_up_power_w();
  config.scale_up_in_hosts_w = t.scale_up_in_accelerator() ? t.scale_up_power_w() : 0;
}

}  // namespace clustersim::sim
