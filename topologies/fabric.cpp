// Fabric base class, shared validation, the generator registry and the host layer (GPUs, scale-up, NICs).
#include "topologies/fabric.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "common/error.h"
#include "topologies/internal.h"
#include "topologies/routing.h"

namespace clustersim::topo {

const char* ToString(VertexKind k) {
  switch (k) {
    case VertexKind::kGpu:
      return "gpu";
    case VertexKind::kNic:
      return "nic";
    case VertexKind::kScaleUpSwitch:
      return "scale_up_switch";
    case VertexKind::kLeaf:
      return "leaf";
    case VertexKind::kSpine:
      return "spine";
    case VertexKind::kCore:
      return "core";
    case VertexKind::kRouter:
      return "router";
  }
  return "unknown";
}

const char* ToString(LinkKind k) {
  switch (k) {
    case LinkKind::kScaleUp:
      return "scale_up";
    case LinkKind::kPcie:
      return "pcie";
    case LinkKind::kNicToLeaf:
      return "nic_to_leaf";
    case LinkKind::kLeafToSpine:
      return "leaf_to_spine";
    case LinkKind::kSpineToCore:
      return "spine_to_core";
    case LinkKind::kLocal:
      return "local";
    case LinkKind::kGlobal:
      return "global";
    case LinkKind::kTorus:
      return "torus";
    case LinkKind::kRouterLink:
      return "router_link";
  }
  return "unknown";
}

using internal::kNumLinkKinds;

bool LinkKindByName(const std::string& name, LinkKind* kind) {
  for (size_t k = 0; k < kNumLinkKinds; ++k) {
    if (name == ToString(static_cast<LinkKind>(k))) {
      *kind = static_cast<LinkKind>(k);
      return true;
    }
  }
  return false;
}

uint32_t Fabric::AddVertex(VertexProps props) { return static_cast<uint32_t>(boost::add_vertex(props, graph_)); }

uint32_t Fabric::AddLink(uint32_t a, uint32_t b, LinkKind kind, double bandwidth_gbps, double latency_ns) {
  const auto id = static_cast<uint32_t>(link_ends_.size());
  auto added = boost::add_edge(a, b, EdgeProps{kind, bandwidth_gbps, latency_ns, id}, graph_);
  link_props_.push_back(&graph_[added.first]);  // edge properties live in a std::list node: the address is stable
  link_ends_.emplace_back(a, b);
  return id;
}

void Fabric::Finalize() {
  if (link_props_.size() != boost::num_edges(graph_) || link_ends_.size() != boost::num_edges(graph_)) {
    throw SimulationError("fabric: link tables out of step with the graph");
  }
  if (!params_.faults.empty()) ApplyFaults();
}

void Fabric::NoRoute(uint32_t src, uint32_t dst) const {
  internal::Fail("cluster.faults", "GPU " + std::to_string(src) + " -> GPU " + std::to_string(dst),
                 "the faults leave no route between these GPUs that the fabric's routing can take");
}

namespace {

bool IsSwitch(VertexKind k) {
  return k == VertexKind::kLeaf || k == VertexKind::kSpine || k == VertexKind::kCore || k == VertexKind::kRouter;
}
bool IsSwitchLink(LinkKind k) {
  return k == LinkKind::kLeafToSpine || k == LinkKind::kSpineToCore || k == LinkKind::kLocal || k == LinkKind::kGlobal;
}
void CheckSpeed(const std::string& field, double speed) {
  if (!std::isfinite(speed) || speed < 0 || speed >= 1) {
    internal::Fail(field, internal::Num(speed), "must be 0 (down) or between 0 and 1 (slowed to that share)");
  }
}

// Per-link speed factors (1 = healthy) from the named faults; validates indices against the built fabric.
class FaultResolver {
 public:
  FaultResolver(const Graph& g, const std::vector<EdgeProps*>& props, uint32_t planes)
      : g_(g), props_(props), planes_(planes), speed_(props.size(), 1.0) {}

  void Links(const std::vector<LinkFault>& faults) {
    for (size_t i = 0; i < faults.size(); ++i) {
      const std::string field = "cluster.faults.links[" + std::to_string(i) + "]";
      const LinkFault& f = faults[i];
      CheckSpeed(field + ".speed", f.speed);
      uint32_t seen = 0;
      bool found = false;
      for (uint32_t id = 0; id < props_.size() && !found; ++id) {
        if (props_[id]->kind != f.kind) continue;
        if (seen++ == f.index) {
          Hit(id, f.speed);
          found = true;
        }
      }
      if (!found) {
        internal::Fail(field + ".index", std::to_string(f.index),
                       "the fabric has " + std::to_string(seen) + " " + ToString(f.kind) + " links");
      }
      if (f.kind == LinkKind::kScaleUp || f.kind == LinkKind::kPcie) {
        internal::Fail(field + ".kind", ToString(f.kind), "only scale-out links can fail or slow down");
      }
    }
  }

  void Switches(const std::vector<SwitchFault>& faults, FaultSummary& summary) {
    for (size_t i = 0; i < faults.size(); ++i) {
      const std::string field = "cluster.faults.switches[" + std::to_string(i) + "]";
      const SwitchFault& f = faults[i];
      CheckSpeed(field + ".speed", f.speed);
      uint32_t count = 0;
      int64_t vertex = -1;
      for (uint32_t v = 0; v < boost::num_vertices(g_); ++v) {
        if (!IsSwitch(g_[v].kind) || g_[v].tier != f.tier) continue;
        if (g_[v].index == f.index) vertex = v;
        ++count;
      }
      if (count == 0) internal::Fail(field + ".tier", std::to_string(f.tier), "the fabric has no switch of that tier");
      if (vertex < 0) {
        internal::Fail(field + ".index", std::to_string(f.index),
                       "tier " + std::to_string(f.tier) + " has " + std::to_string(count) + " switches");
      }
      for (auto [e, end] = boost::out_edges(static_cast<uint32_t>(vertex), g_); e != end; ++e) Hit(g_[*e].id, f.speed);
      if (f.speed == 0) ++summary.switches_down;
    }
  }

  void Planes(const std::vector<PlaneFault>& faults, FaultSummary& summary) {
    for (size_t i = 0; i < faults.size(); ++i) {
      const std::string field = "cluster.faults.planes[" + std::to_string(i) + "]";
      const PlaneFault& f = faults[i];
      CheckSpeed(field + ".speed", f.speed);
      if (planes_ < 2) internal::Fail(field + ".plane", std::to_string(f.plane), "the fabric has a single plane");
      if (f.plane >= planes_) {
        internal::Fail(field + ".plane", std::to_string(f.plane), "must be < planes = " + std::to_string(planes_));
      }
      for (uint32_t v = 0; v < boost::num_vertices(g_); ++v) {
        if (!IsSwitch(g_[v].kind) || g_[v].plane != f.plane) continue;
        for (auto [e, end] = boost::out_edges(v, g_); e != end; ++e) Hit(g_[*e].id, f.speed);
        if (f.speed == 0) ++summary.switches_down;
      }
      if (f.speed == 0) ++summary.planes_down;
    }
  }

  // round(fraction x n) of the n switch-to-switch links, drawn by a seeded partial Fisher-Yates shuffle.
  void Random(double fraction, double speed, uint64_t seed) {
    if (!std::isfinite(fraction) || fraction < 0 || fraction >= 1) {
      internal::Fail("cluster.faults.random.fraction", internal::Num(fraction), "must be >= 0 and < 1");
    }
    CheckSpeed("cluster.faults.random.speed", speed);
    std::vector<uint32_t> pool;
    for (uint32_t id = 0; id < props_.size(); ++id)
      if (IsSwitchLink(props_[id]->kind)) pool.push_back(id);
    const auto k = static_cast<size_t>(std::llround(fraction * static_cast<double>(pool.size())));
    uint64_t state = internal::SplitMix64(seed ^ 0xfa017ULL);
    for (size_t i = 0; i < k; ++i) {
      state = internal::SplitMix64(state);
      const size_t j = i + static_cast<size_t>(state % (pool.size() - i));
      std::swap(pool[i], pool[j]);
      Hit(pool[i], speed);
    }
  }

  const std::vector<double>& speed() const { return speed_; }

 private:
  void Hit(uint32_t id, double speed) { speed_[id] = std::min(speed_[id], speed); }

  const Graph& g_;
  const std::vector<EdgeProps*>& props_;
  uint32_t planes_;
  std::vector<double> speed_;
};

}  // namespace

void Fabric::ApplyFaults() {
  const FabricFaults& f = params_.faults;
  FaultResolver r(graph_, link_props_, params_.planes);
  r.Links(f.links);
  r.Switches(f.switches, fault_summary_);
  r.Planes(f.planes, fault_summary_);
  if (f.random_fraction > 0 || f.random_speed != 0) r.Random(f.random_fraction, f.random_speed, f.random_seed);
  const std::vector<double>& speed = r.speed();
  std::vector<uint8_t> down(speed.size(), 0);
  bool any_down = false;
  for (uint32_t id = 0; id < speed.size(); ++id) {
    if (speed[id] >= 1) continue;
    if (speed[id] <= 0) {
      down[id] = 1;
      any_down = true;
      ++fault_summary_.links_down;
    } else {
      link_props_[id]->bandwidth_gbps *= speed[id];
      ++fault_summary_.links_slowed;
    }
  }
  if (any_down && params_.topology == "torus") {
    internal::Fail("cluster.faults", std::to_string(fault_summary_.links_down) + " links down",
                   "torus routing (dimension order) does not route around down links: slow them instead");
  }
  if (any_down) down_ = std::move(down);
  CheckEndpoints();
}

// Every GPU keeps a NIC link up, or shares its scale-up domain with a GPU that does (its traffic is relayed there).
void Fabric::CheckEndpoints() const {
  if (down_.empty()) return;
  std::vector<uint8_t> attached(params_.num_gpus, 0);
  for (uint32_t id = 0; id < link_props_.size(); ++id) {
    if (link_props_[id]->kind != LinkKind::kNicToLeaf || down_[id] != 0) continue;
    const uint32_t nic =
        graph_[link_ends_[id].first].kind == VertexKind::kNic ? link_ends_[id].first : link_ends_[id].second;
    attached[graph_[nic].index / params_.nics_per_gpu] = 1;
  }
  std::vector<uint8_t> domain_ok(params_.num_gpus / params_.scale_up_domain + 1, 0);
  const bool relay = params_.scale_up_domain > 1;
  for (uint32_t g = 0; g < params_.num_gpus; ++g)
    if (attached[g] != 0) domain_ok[DomainOf(g)] = 1;
  for (uint32_t g = 0; g < params_.num_gpus; ++g) {
    if (attached[g] != 0 || (relay && domain_ok[DomainOf(g)] != 0)) continue;
    internal::Fail(
        "cluster.faults", "GPU " + std::to_string(g),
        "every NIC link of this GPU is down" + std::string(relay ? " and so are those of its whole scale-up domain"
                                                                 : " and it has no scale-up domain to relay through"));
  }
}

Inventory Fabric::ComputeInventory() const {
  Inventory inv;
  inv.gpus = params_.num_gpus;
  inv.nodes = params_.num_gpus / params_.gpus_per_node;
  inv.links_per_kind.assign(kNumLinkKinds, 0);
  for (uint32_t v = 0; v < boost::num_vertices(graph_); ++v) {
    const VertexProps& vp = graph_[v];
    switch (vp.kind) {
      case VertexKind::kGpu:
        break;
      case VertexKind::kNic:
        ++inv.nics;
        break;
      case VertexKind::kScaleUpSwitch:
        ++inv.scale_up_switches;
        break;
      case VertexKind::kLeaf:
      case VertexKind::kSpine:
      case VertexKind::kCore:
      case VertexKind::kRouter:
        if (inv.switches_per_tier.size() < vp.tier) inv.switches_per_tier.resize(vp.tier, 0);
        ++inv.switches_per_tier[vp.tier - 1];
        ++inv.switches;
        break;
    }
  }
  for (const EdgeProps* e : link_props_) ++inv.links_per_kind[static_cast<size_t>(e->kind)];
  internal::FinishInventory(inv);
  return inv;
}

namespace internal {

void Fail(const std::string& field, const std::string& value, const std::string& rule) {
  throw InputError::Field("", 0, field, value, rule);
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}
std::string Num(uint64_t v) { return std::to_string(v); }
std::string Num(uint32_t v) { return std::to_string(v); }

namespace {
bool Positive(double v) { return std::isfinite(v) && v > 0; }
bool NonNegative(double v) { return std::isfinite(v) && v >= 0; }
}  // namespace

void ValidateCommon(const FabricParams& p, bool scale_out) {
  FindRouting(p.topology, p.routing);
  if (p.num_gpus == 0) Fail(kFieldNumGpus, "0", "must be > 0");
  if (p.num_gpus > (1U << 30)) Fail(kFieldNumGpus, Num(p.num_gpus), "must be <= 2^30 (vertex ids are 32-bit)");
  if (p.gpus_per_node == 0) Fail(kFieldGpusPerNode, "0", "must be > 0");
  if (p.num_gpus % p.gpus_per_node != 0) {
    Fail(kFieldGpusPerNode, Num(p.gpus_per_node),
         "must divide " + std::string(kFieldNumGpus) + " = " + Num(p.num_gpus) + " (whole servers only)");
  }
  if (p.scale_up_domain == 0) Fail(kFieldDomain, "0", "must be > 0");
  if (p.scale_up_domain % p.gpus_per_node != 0 && p.gpus_per_node % p.scale_up_domain != 0) {
    Fail(kFieldDomain, Num(p.scale_up_domain),
         "must be a multiple or a divisor of " + std::string(kFieldGpusPerNode) + " = " + Num(p.gpus_per_node));
  }
  if (p.scale_up_domain > 1) {
    if (!Positive(p.scale_up_bandwidth_gbps)) {
      Fail(kFieldScaleUpBandwidth, Num(p.scale_up_bandwidth_gbps / 8),
           "must be > 0 when the scale-up domain holds more than one GPU");
    }
    if (!NonNegative(p.scale_up_latency_ns)) Fail(kFieldScaleUpLatency, Num(p.scale_up_latency_ns), "must be >= 0");
  }
  if (!scale_out) return;
  if (p.nics_per_gpu == 0) Fail(kFieldNicsPerGpu, "0", "must be > 0 for a scale-out fabric");
  if (static_cast<uint64_t>(p.num_gpus) * p.nics_per_gpu > (1ULL << 30)) {
    Fail(kFieldNicsPerGpu, Num(p.nics_per_gpu),
         "num_gpus x nics_per_gpu must be <= 2^30 NIC ports (vertex ids are 32-bit)");
  }
  if (!Positive(p.nic_bandwidth_gbps)) Fail(kFieldNicBandwidth, Num(p.nic_bandwidth_gbps), "must be > 0");
  if (!Positive(p.pcie_bandwidth_gbps)) Fail(kFieldPcieBandwidth, Num(p.pcie_bandwidth_gbps), "must be > 0");
  if (!NonNegative(p.link_latency_ns)) Fail(kFieldLinkLatency, Num(p.link_latency_ns), "must be >= 0");
  if (!NonNegative(p.switch_latency_ns)) Fail(kFieldSwitchLatency, Num(p.switch_latency_ns), "must be >= 0");
}

HostLayer HostLayer::Make(const FabricParams& p, bool scale_out) {
  HostLayer h;
  h.gpus = p.num_gpus;
  h.nics_per_gpu = scale_out ? p.nics_per_gpu : 0;
  h.domain = p.scale_up_domain;
  h.scale_up = p.scale_up_domain > 1;
  h.domains = h.scale_up ? (p.num_gpus + p.scale_up_domain - 1) / p.scale_up_domain : 0;
  h.nic_base = h.gpus + h.domains;
  const uint32_t ports = h.gpus * h.nics_per_gpu;
  h.first_switch_vertex = h.nic_base + ports;
  h.pcie_base = h.scale_up ? h.gpus : 0;
  h.nic_link_base = h.pcie_base + ports;
  h.first_switch_link = h.nic_link_base + ports;
  return h;
}

Inventory HostInventory(const FabricParams& p, const HostLayer& h, bool scale_out) {
  Inventory inv;
  inv.gpus = p.num_gpus;
  inv.nodes = p.num_gpus / p.gpus_per_node;
  inv.nics = static_cast<uint64_t>(h.gpus) * h.nics_per_gpu;
  inv.scale_up_switches = h.domains;
  inv.links_per_kind.assign(kNumLinkKinds, 0);
  if (h.scale_up) inv.links_per_kind[static_cast<size_t>(LinkKind::kScaleUp)] = h.gpus;
  if (scale_out) {
    inv.links_per_kind[static_cast<size_t>(LinkKind::kPcie)] = inv.nics;
    inv.links_per_kind[static_cast<size_t>(LinkKind::kNicToLeaf)] = inv.nics;
  }
  return inv;
}

void FinishInventory(Inventory& inv) {
  auto n = [&inv](LinkKind k) { return inv.links_per_kind[static_cast<size_t>(k)]; };
  inv.switch_links = n(LinkKind::kLeafToSpine) + n(LinkKind::kSpineToCore) + n(LinkKind::kLocal) + n(LinkKind::kGlobal) +
                    n(LinkKind::kRouterLink);
  inv.endpoint_links = n(LinkKind::kNicToLeaf);
  inv.transceivers = 2 * (inv.switch_links + inv.endpoint_links);
  inv.switches = 0;
  for (uint64_t s : inv.switches_per_tier) inv.switches += s;
}

namespace {

// The registry: one row per generator. Adding a generator means adding a row here.
constexpr Generator kGenerators[] = {
    {"fat_tree",
     "k-ary Clos (1-3 tiers) of switch_radix-port switches, per-tier oversubscription, NIC ports filled in order",
     PlanFatTree, BuildFatTree},
    {"rail_optimized",
     "DGX SuperPOD style: GPU i of each node on the rail-i leaf of its scalable unit; spines join all rails",
     PlanRailOptimized, BuildRailOptimized},
    {"rail_only",
     "one fat-tree per rail (GPU index in node), no cross-rail switch; cross-rail traffic relayed over scale-up",
     PlanRailOnly, BuildRailOnly},
    {"multi_plane",
     "DeepSeek MPFT: `planes` independent fat-trees, NIC port q of a node on plane q % planes; scale-up relay",
     PlanMultiPlane, BuildMultiPlane},
    {"dragonfly",
     "groups of routers, all-to-all local links, global links between groups; minimal routing, ECMP on globals",
     PlanDragonfly, BuildDragonfly},
    {"slim_fly",
     "Slim Fly (MMS graph, diameter 2) of 2q^2 routers for a prime power q; minimal routing, ECMP over 2-hop paths",
     PlanSlimFly, BuildSlimFly},
    {"torus", "2D/3D TPU-style torus of GPUs with wrap-around links, dimension-order routing", PlanTorus, BuildTorus},
    {"none", "scale-up domain only (single node or single NVL/CloudMatrix domain), no scale-out fabric",
     PlanScaleUpOnly, BuildScaleUpOnly},
};

const Generator& FindGenerator(const std::string& name) {
  for (const Generator& g : kGenerators) {
    if (name == g.name) return g;
  }
  std::string names;
  for (const Generator& g : kGenerators) names += std::string(names.empty() ? "" : ", ") + g.name;
  Fail(kFieldTopology, "\"" + name + "\"", "must be one of " + names);
}

}  // namespace
}  // namespace internal

std::unique_ptr<Fabric> BuildFabric(const FabricParams& params) {
  return internal::FindGenerator(params.topology).build(params);
}

Inventory PlanInventory(const FabricParams& params) { return internal::FindGenerator(params.topology).plan(params); }

std::vector<FabricKindInfo> ListFabricKinds() {
  std::vector<FabricKindInfo> out;
  for (const internal::Generator& g : internal::kGenerators) out.push_back({g.name, g.description});
  return out;
}

}  // namespace clustersim::topo
