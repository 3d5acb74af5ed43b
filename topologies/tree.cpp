// The Clos family: fat_tree, rail_optimized, rail_only and multi_plane. All four are one or more identical
// "planes", each a 1-, 2- or 3-tier Clos of switch_radix-port switches; they differ only in how NIC ports map onto
// planes and leaves. See docs/topologies.md for the shapes and the routes.
#include <algorithm>
#include <cmath>

#include "topologies/internal.h"
#include "topologies/routing.h"

namespace clustersim::topo::internal {
namespace {

enum class TreeKind : uint8_t { kFatTree, kRailOptimized, kRailOnly, kMultiPlane };

const char* KindName(TreeKind k) {
  switch (k) {
    case TreeKind::kFatTree:
      return "fat_tree";
    case TreeKind::kRailOptimized:
      return "rail_optimized";
    case TreeKind::kRailOnly:
      return "rail_only";
    case TreeKind::kMultiPlane:
      return "multi_plane";
  }
  return "?";
}

// Sizes of one plane. Leaves have d1 ports down and u1 up. 2 tiers: `spines` spines, leaf uplink j goes to spine
// j % spines (so each leaf has leaf_trunk = u1 / spines parallel links to each spine). 3 tiers: pods of d2 leaves
// and u1 spines each (leaf uplink j goes to spine j of its pod); spine j of every pod has u2 uplinks to core group j
// of cores_per_group cores (uplink t to core t % cores_per_group, core_trunk = u2 / cores_per_group parallel links).
struct TreeShape {
  uint32_t tiers = 1;
  uint32_t d1 = 0;
  uint32_t u1 = 0;
  uint64_t leaves = 0;
  uint64_t spines = 0;
  uint32_t leaf_trunk = 1;
  uint32_t d2 = 0;
  uint32_t u2 = 0;
  uint64_t pods = 0;
  uint32_t cores_per_group = 0;
  uint64_t cores = 0;
  uint32_t core_trunk = 1;
};

// Validated parameters and the shape every plane shares.
struct TreePlan {
  TreeKind kind = TreeKind::kFatTree;
  uint32_t gpus = 0;
  uint32_t gpus_per_node = 1;
  uint32_t nics_per_gpu = 1;
  uint32_t nodes = 0;
  uint32_t planes = 1;
  uint32_t rails = 1;  // rail_optimized: NIC ports per node, one leaf per rail per scalable unit
  uint64_t ports_per_plane = 0;
  bool relay = false;  // some pairs need a scale-up hop to a GPU on the destination's plane
  TreeShape shape;
  HostLayer host;
};

uint64_t CeilDiv(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

double Ratio(const FabricParams& p, size_t tier) {
  return tier < p.oversubscription.size() ? p.oversubscription[tier] : 1.0;
}

// Down ports of a switch of radix k with down:up ratio r.
uint32_t DownPorts(uint32_t k, double r) { return static_cast<uint32_t>(std::lround(k * r / (r + 1))); }

// Smallest divisor s of n with load * (n / s) <= k; n itself when none is smaller.
uint32_t SmallestTrunkingDivisor(uint32_t n, uint64_t load, uint32_t k) {
  for (uint32_t s = 1; s < n; ++s) {
    if (n % s == 0 && load * (n / s) <= k) return s;
  }
  return n;
}

uint64_t LeavesNeeded(const TreePlan& t, uint32_t d1) {
  if (t.kind == TreeKind::kRailOptimized) return CeilDiv(t.nodes, d1) * t.rails;
  return CeilDiv(t.ports_per_plane, d1);
}

// The shape with `tiers` tiers, or false when it cannot hold the plane's NIC ports.
bool TryShape(const TreePlan& t, const FabricParams& p, uint32_t tiers, TreeShape& s) {
  const uint32_t k = p.switch_radix;
  s = TreeShape{};
  s.tiers = tiers;
  if (tiers == 1) {
    s.d1 = k;
    s.leaves = LeavesNeeded(t, k);
    return s.leaves == 1;
  }
  s.d1 = DownPorts(k, Ratio(p, 0));
  s.u1 = k - s.d1;
  s.leaves = LeavesNeeded(t, s.d1);
  if (tiers == 2) {
    if (s.leaves > k) return false;
    s.spines = SmallestTrunkingDivisor(s.u1, s.leaves, k);
    s.leaf_trunk = s.u1 / static_cast<uint32_t>(s.spines);
    return true;
  }
  s.d2 = DownPorts(k, Ratio(p, 1));
  s.u2 = k - s.d2;
  s.pods = CeilDiv(s.leaves, s.d2);
  if (s.pods > k) return false;
  s.spines = s.pods * s.u1;
  s.cores_per_group = SmallestTrunkingDivisor(s.u2, s.pods, k);
  s.cores = static_cast<uint64_t>(s.u1) * s.cores_per_group;
  s.core_trunk = s.u2 / s.cores_per_group;
  return true;
}

// NIC ports per plane that `tiers` tiers can hold at most (for messages).
uint64_t MaxPorts(const FabricParams& p, uint32_t tiers) {
  const uint32_t k = p.switch_radix;
  if (tiers == 1) return k;
  const uint64_t d1 = DownPorts(k, Ratio(p, 0));
  if (tiers == 2) return d1 * k;
  return d1 * DownPorts(k, Ratio(p, 1)) * k;
}

TreePlan MakePlan(TreeKind kind, const FabricParams& p) {
  ValidateCommon(p, true);
  TreePlan t;
  t.kind = kind;
  t.gpus = p.num_gpus;
  t.gpus_per_node = p.gpus_per_node;
  t.nics_per_gpu = p.nics_per_gpu;
  t.nodes = p.num_gpus / p.gpus_per_node;
  const uint32_t ports_per_node = p.gpus_per_node * p.nics_per_gpu;
  if (kind == TreeKind::kMultiPlane) {
    t.planes = p.planes == 0 ? ports_per_node : p.planes;
    if (ports_per_node % t.planes != 0) {
      Fail(kFieldPlanes, Num(p.planes),
           "must divide the NIC ports per node (gpus_per_node x nics_per_gpu = " + Num(ports_per_node) + ")");
    }
    t.relay = p.nics_per_gpu < t.planes;
  } else if (p.planes > 1) {
    Fail(kFieldPlanes, Num(p.planes),
         std::string("only multi_plane reads planes; must be 0 or 1 for ") + KindName(kind));
  }
  if (kind == TreeKind::kRailOnly) {
    t.planes = p.gpus_per_node;
    t.relay = p.gpus_per_node > 1;
  }
  if (kind == TreeKind::kRailOptimized) t.rails = ports_per_node;
  t.ports_per_plane = static_cast<uint64_t>(p.num_gpus) * p.nics_per_gpu / t.planes;
  if (t.relay && (p.scale_up_domain % p.gpus_per_node != 0 || p.scale_up_domain < 2)) {
    Fail(kFieldDomain, Num(p.scale_up_domain),
         std::string(KindName(kind)) +
             " relays cross-plane traffic inside the node over scale-up: must be > 1 and a "
             "multiple of gpus_per_node = " +
             Num(p.gpus_per_node));
  }

  if (p.switch_radix < 2) Fail(kFieldRadix, Num(p.switch_radix), "must be >= 2");
  if (p.tiers > 3) Fail(kFieldTiers, Num(p.tiers), "must be 0 (smallest that fits), 1, 2 or 3");
  for (size_t i = 0; i < p.oversubscription.size(); ++i) {
    const double r = p.oversubscription[i];
    const std::string field = std::string(kFieldOversubscription) + "[" + std::to_string(i) + "]";
    if (!std::isfinite(r) || r < 1) Fail(field, Num(r), "must be >= 1 (down:up bandwidth ratio)");
    if (DownPorts(p.switch_radix, r) >= p.switch_radix) {
      Fail(field, Num(r), "leaves no uplink port on a " + Num(p.switch_radix) + "-port switch");
    }
  }
  const uint32_t max_tiers = p.tiers == 0 ? 3 : p.tiers;
  bool fits = false;
  for (uint32_t tiers = p.tiers == 0 ? 1 : p.tiers; tiers <= max_tiers && !fits; ++tiers) {
    fits = TryShape(t, p, tiers, t.shape);
  }
  if (!fits) {
    std::string rule = "a " + Num(max_tiers) + "-tier " + KindName(kind) + " of " + Num(p.switch_radix) +
                       "-port switches holds at most " + Num(MaxPorts(p, max_tiers)) + " NIC ports per plane";
    if (kind == TreeKind::kRailOptimized) rule += " in whole scalable units (one leaf per rail)";
    rule += "; " + Num(t.ports_per_plane) + " needed: raise switch_radix" + (max_tiers < 3 ? ", tiers" : "") +
            (kind == TreeKind::kMultiPlane ? ", planes" : "") + " or oversubscription";
    Fail(kFieldRadix, Num(p.switch_radix), rule);
  }
  // A ratio above 1 for a tier that has no uplinks (the top tier, or one the fabric does not have) would be ignored.
  for (size_t i = t.shape.tiers == 0 ? 0 : t.shape.tiers - 1; i < p.oversubscription.size(); ++i) {
    if (p.oversubscription[i] > 1) {
      Fail(std::string(kFieldOversubscription) + "[" + std::to_string(i) + "]", Num(p.oversubscription[i]),
           t.shape.tiers < 2 ? std::string("a 1-tier fabric has no uplinks to oversubscribe (set tiers: 2 or 3)")
                             : "the fabric has " + Num(t.shape.tiers) + " tiers: ratios apply to tiers 0.." +
                                   Num(t.shape.tiers - 2) + " (the top tier has no uplinks)");
    }
  }
  t.host = HostLayer::Make(p, true);
  const TreeShape& s = t.shape;
  const uint64_t vertices = t.host.first_switch_vertex + t.planes * (s.leaves + s.spines + s.cores);
  const uint64_t links = t.host.first_switch_link + t.planes * (s.leaves * s.u1 + s.spines * s.u2);
  if (vertices >= (1ULL << 32) || links >= (1ULL << 32)) {
    Fail(kFieldNumGpus, Num(p.num_gpus), "fabric too large (vertex and link ids are 32-bit)");
  }
  return t;
}

// Longest route in switches and links (see docs/topologies.md); exact for regular sizes, an upper bound otherwise.
void Diameter(const TreePlan& t, Inventory& inv) {
  if (t.gpus < 2) return;
  if (t.host.scale_up && t.host.domains == 1) {
    inv.diameter_hops = 1;
    inv.diameter_links = 2;
    return;
  }
  const TreeShape& s = t.shape;
  uint32_t top = 1;
  if (s.tiers == 3 && s.pods >= 2) {
    top = 3;
  } else if (s.tiers >= 2 && s.leaves >= 2) {
    top = 2;
  }
  inv.diameter_hops = 2 * top - 1 + (t.relay ? 1 : 0);
  inv.diameter_links = 2 * top + 2 + (t.relay ? 2 : 0);
}

// Bisection: per plane, half the smallest of (NIC capacity, leaf uplink capacity, spine uplink capacity), each tier
// counted only when the tier above it is used to cross a balanced cut; summed over planes.
double Bisection(const TreePlan& t, const FabricParams& p) {
  const TreeShape& s = t.shape;
  const double b = p.nic_bandwidth_gbps;
  double cap = static_cast<double>(t.ports_per_plane) * b;
  if (s.tiers >= 2 && s.leaves >= 2) cap = std::min(cap, static_cast<double>(s.leaves * s.u1) * b);
  if (s.tiers == 3 && s.pods >= 2) cap = std::min(cap, static_cast<double>(s.spines * s.u2) * b);
  return t.planes * cap / 2;
}

Inventory PlanTree(TreeKind kind, const FabricParams& p) {
  const TreePlan t = MakePlan(kind, p);
  const TreeShape& s = t.shape;
  Inventory inv = HostInventory(p, t.host, true);
  inv.switches_per_tier.push_back(t.planes * s.leaves);
  if (s.tiers >= 2) {
    inv.switches_per_tier.push_back(t.planes * s.spines);
    inv.links_per_kind[static_cast<size_t>(LinkKind::kLeafToSpine)] = t.planes * s.leaves * s.u1;
  }
  if (s.tiers == 3) {
    inv.switches_per_tier.push_back(t.planes * s.cores);
    inv.links_per_kind[static_cast<size_t>(LinkKind::kSpineToCore)] = t.planes * s.spines * s.u2;
  }
  FinishInventory(inv);
  inv.bisection_bandwidth_gbps = Bisection(t, p);
  Diameter(t, inv);
  return inv;
}

class TreeFabric : public Fabric {
 public:
  TreeFabric(const FabricParams& params, const TreePlan& plan) : Fabric(params), t_(plan), h_(plan.host) {
    params_.tiers = t_.shape.tiers;
    params_.planes = t_.planes;
    scale_out_endpoints_ = static_cast<uint64_t>(t_.gpus) * t_.nics_per_gpu;
    const RoutingInfo& routing = FindRouting(params.topology, params.routing);
    params_.routing = routing.name;
    ecmp_ = routing.choice != RouteChoice::kStatic;
    least_loaded_ = routing.load == LoadAwareness::kLeastLoaded;
    Build();
  }

  void Route(uint32_t src, uint32_t dst, uint64_t flow_id, std::vector<Hop>& out) const override {
    if (h_.RouteWithinDomain(src, dst, out)) return;
    const bool ecmp = ecmp_;
    const uint64_t hash = ecmp ? FlowHash(src, dst, flow_id, params_.seed) : 0;
    Chooser port_choice(ecmp, ecmp ? hash : dst);
    if (has_faults()) {
      RouteAroundFaults(src, dst, hash, port_choice, out);
      return;
    }
    const uint32_t n = t_.nics_per_gpu;
    const uint32_t dst_port = port_choice.Pick(n);
    const Slot to = Map(dst, dst_port);
    uint32_t from_gpu = src;
    uint32_t src_port = n;
    Slot from{};
    for (uint32_t i = 0; i < n; ++i) {
      const uint32_t port = (dst_port + i) % n;
      from = Map(src, port);
      if (from.plane == to.plane) {
        src_port = port;
        break;
      }
    }
    if (src_port == n) {  // no NIC on the destination's plane: relay to the GPU of the destination's rail
      from_gpu = src - src % t_.gpus_per_node + dst % t_.gpus_per_node;
      h_.ScaleUpHops(src, from_gpu, out);
      src_port = dst_port;
      from = Map(from_gpu, dst_port);
    }
    h_.Up(from_gpu, src_port, out);
    const uint32_t d1 = t_.shape.d1;
    const uint32_t leaf_s = from.pe / d1;
    const uint32_t leaf_d = to.pe / d1;
    if (leaf_s != leaf_d) {
      Chooser c(ecmp, ecmp ? SplitMix64(hash ^ 0x7ee) : to.pe);
      TreeHops(to.plane, leaf_s, leaf_d, c, out);
    }
    h_.Down(dst, dst_port, out);
  }

  uint32_t RouteCandidates() const override { return least_loaded_ ? 8 : 1; }

  Inventory ComputeInventory() const override {
    Inventory inv = Fabric::ComputeInventory();
    inv.bisection_bandwidth_gbps = Bisection(t_, params_);
    Diameter(t_, inv);
    return inv;
  }

 private:
  // Where NIC port `port` of GPU g lands: its plane and its endpoint index pe within the plane; it is on leaf
  // pe / d1 of that plane, down port pe % d1.
  struct Slot {
    uint32_t plane;
    uint32_t pe;
  };
  Slot Map(uint32_t g, uint32_t port) const {
    const uint32_t gpn = t_.gpus_per_node;
    const uint32_t n = t_.nics_per_gpu;
    const uint32_t node = g / gpn;
    const uint32_t local = g % gpn;
    switch (t_.kind) {
      case TreeKind::kFatTree:
        return {0, g * n + port};
      case TreeKind::kRailOptimized: {
        const uint32_t d1 = t_.shape.d1;
        const uint32_t leaf = (node / d1) * t_.rails + local * n + port;
        return {0, leaf * d1 + node % d1};
      }
      case TreeKind::kRailOnly:
        return {local, node * n + port};
      case TreeKind::kMultiPlane: {
        const uint32_t q = local * n + port;
        return {q % t_.planes, node * (gpn * n / t_.planes) + q / t_.planes};
      }
    }
    return {0, 0};
  }

  uint32_t LeafUpLink(uint32_t plane, uint32_t leaf, uint32_t j) const {
    return leaf_up_base_ + static_cast<uint32_t>((plane * t_.shape.leaves + leaf) * t_.shape.u1) + j;
  }
  uint32_t SpineUpLink(uint32_t plane, uint32_t spine, uint32_t t) const {
    return spine_up_base_ + static_cast<uint32_t>((plane * t_.shape.spines + spine) * t_.shape.u2) + t;
  }

  void TreeHops(uint32_t plane, uint32_t ls, uint32_t ld, Chooser& c, std::vector<Hop>& out) const {
    const TreeShape& s = t_.shape;
    const uint32_t j = c.Pick(s.u1);
    if (s.tiers == 2) {
      const auto spines = static_cast<uint32_t>(s.spines);
      const uint32_t m = c.Pick(s.leaf_trunk);
      out.push_back(Hop{LeafUpLink(plane, ls, j), true});
      out.push_back(Hop{LeafUpLink(plane, ld, j % spines + spines * m), false});
      return;
    }
    const uint32_t pod_s = ls / s.d2;
    const uint32_t pod_d = ld / s.d2;
    out.push_back(Hop{LeafUpLink(plane, ls, j), true});
    if (pod_s != pod_d) {
      const uint32_t t = c.Pick(s.u2);
      const uint32_t m = c.Pick(s.core_trunk);
      const uint32_t cg = s.cores_per_group;
      out.push_back(Hop{SpineUpLink(plane, pod_s * s.u1 + j, t), true});
      out.push_back(Hop{SpineUpLink(plane, pod_d * s.u1 + j, t % cg + cg * m), false});
    }
    out.push_back(Hop{LeafUpLink(plane, ld, j), false});
  }

  // A NIC port that is attached (its NIC-to-leaf link up; a down leaf takes its links down with it).
  bool Attached(uint32_t g, uint32_t port) const { return link_up(h_.NicLink(g, port)); }
  // GPUs a GPU may relay through over scale-up: those of its node when the node is inside one scale-up domain.
  bool CanRelay() const { return h_.scale_up && h_.domain % t_.gpus_per_node == 0; }

  // Route() on a fabric with down links: the same first choices, re-drawn uniformly among the survivors where a choice
  // is down (ECMP re-spreads over surviving up-links). A GPU with no attached port on the plane used is relayed
  // over scale-up through a GPU of its node that has one, at either end (PXN-style). Destination endpoints are tried
  // in an order that depends on local indices only (not on node ids), so that relayed traffic keeps the fabric's
  // symmetry: dst's own hashed port; else the node-mate on a plane the source reaches itself, starting from the
  // source's local index; else any node-mate, starting from (source + destination local index + source node +
  // destination node), so that rail-to-rail traffic of a down plane (rings over one rail, PXN's rail flows) spreads
  // over the surviving planes at both ends: with the destination node alone, every source node relayed its traffic
  // to one destination node through the same node-mate, whose NIC then carried twice its load.
  void RouteAroundFaults(uint32_t src, uint32_t dst, uint64_t hash, Chooser& pick, std::vector<Hop>& out) const {
    const uint32_t n = t_.nics_per_gpu;
    const uint32_t gpn = t_.gpus_per_node;
    const uint32_t node_d = dst - dst % gpn;
    const uint32_t relays = CanRelay() ? gpn : 1;
    const uint32_t total = relays * n;
    const uint32_t first_port = pick.PickValid(n, [&](uint32_t p) { return Attached(dst, p); });
    if (first_port < n && TryEndpoint(src, dst, dst, first_port, relays, hash, out)) return;
    const uint32_t port0 = first_port < n ? first_port : 0;
    for (uint32_t pass = 0; pass < 2; ++pass) {
      const uint32_t local = pass == 0 ? src % gpn : (src % gpn + dst % gpn + src / gpn + dst / gpn) % gpn;
      for (uint32_t k = 0; k < total; ++k) {
        const uint32_t e = ((relays == 1 ? 0 : local) * n + port0 + k) % total;
        const uint32_t dgpu = relays == 1 ? dst : node_d + e / n;
        if (TryEndpoint(src, dst, dgpu, e % n, pass == 0 ? 1 : relays, hash, out)) return;
      }
    }
    NoRoute(src, dst);
  }

  // Appends the route src -> (dgpu, dport) -> dst when the endpoint is attached, a source port on its plane is
  // reachable (relaying among `relays` node GPUs) and an equal-cost path survives; false with nothing appended.
  bool TryEndpoint(uint32_t src, uint32_t dst, uint32_t dgpu, uint32_t dport, uint32_t relays, uint64_t hash,
                   std::vector<Hop>& out) const {
    if (!Attached(dgpu, dport)) return false;
    const uint32_t gpn = t_.gpus_per_node;
    const Slot to = Map(dgpu, dport);
    uint32_t sgpu = 0, sport = 0;
    if (!SourceOnPlane(src, src - src % gpn, relays, to.plane, dgpu % gpn, dport, sgpu, sport)) return false;
    const size_t mark = out.size();
    if (sgpu != src) h_.ScaleUpHops(src, sgpu, out);
    h_.Up(sgpu, sport, out);
    const uint32_t leaf_s = Map(sgpu, sport).pe / t_.shape.d1;
    const uint32_t leaf_d = to.pe / t_.shape.d1;
    if (leaf_s != leaf_d) {
      Chooser c(ecmp_, ecmp_ ? SplitMix64(hash ^ 0x7ee) : to.pe);
      if (!TreeHopsAroundFaults(to.plane, leaf_s, leaf_d, c, out)) {
        out.resize(mark);
        return false;
      }
    }
    h_.Down(dgpu, dport, out);
    if (dgpu != dst) h_.ScaleUpHops(dgpu, dst, out);
    return true;
  }

  // An attached source port on `plane`: src's own (trying `dport` first), else the node GPU with local index `local`
  // (the destination's rail), else any node GPU.
  bool SourceOnPlane(uint32_t src, uint32_t node_s, uint32_t relays, uint32_t plane, uint32_t local, uint32_t dport,
                     uint32_t& sgpu, uint32_t& sport) const {
    const uint32_t n = t_.nics_per_gpu;
    auto find = [&](uint32_t g) {
      for (uint32_t i = 0; i < n; ++i) {
        const uint32_t p = (dport + i) % n;
        if (Map(g, p).plane == plane && Attached(g, p)) {
          sgpu = g;
          sport = p;
          return true;
        }
      }
      return false;
    };
    if (find(src)) return true;
    if (relays == 1) return false;
    if (find(node_s + local)) return true;
    for (uint32_t i = 0; i < relays; ++i)
      if (find(node_s + (local + i) % relays)) return true;
    return false;
  }

  // TreeHops avoiding down links; false (and nothing appended) when no equal-cost path survives.
  bool TreeHopsAroundFaults(uint32_t plane, uint32_t ls, uint32_t ld, Chooser& c, std::vector<Hop>& out) const {
    const TreeShape& s = t_.shape;
    if (s.tiers == 2) {
      const auto spines = static_cast<uint32_t>(s.spines);
      auto down_link = [&](uint32_t j, uint32_t m) { return LeafUpLink(plane, ld, j % spines + spines * m); };
      auto trunk_ok = [&](uint32_t j) {
        for (uint32_t m = 0; m < s.leaf_trunk; ++m)
          if (link_up(down_link(j, m))) return true;
        return false;
      };
      const uint32_t j =
          c.PickValid(s.u1, [&](uint32_t x) { return link_up(LeafUpLink(plane, ls, x)) && trunk_ok(x); });
      if (j == s.u1) return false;
      const uint32_t m = c.PickValid(s.leaf_trunk, [&](uint32_t x) { return link_up(down_link(j, x)); });
      out.push_back(Hop{LeafUpLink(plane, ls, j), true});
      out.push_back(Hop{down_link(j, m), false});
      return true;
    }
    const uint32_t pod_s = ls / s.d2;
    const uint32_t pod_d = ld / s.d2;
    const uint32_t cg = s.cores_per_group;
    auto core_down = [&](uint32_t j, uint32_t t, uint32_t m) {
      return SpineUpLink(plane, pod_d * s.u1 + j, t % cg + cg * m);
    };
    auto core_trunk_ok = [&](uint32_t j, uint32_t t) {
      if (!link_up(SpineUpLink(plane, pod_s * s.u1 + j, t))) return false;
      for (uint32_t m = 0; m < s.core_trunk; ++m)
        if (link_up(core_down(j, t, m))) return true;
      return false;
    };
    auto spine_ok = [&](uint32_t j) {
      if (!link_up(LeafUpLink(plane, ls, j)) || !link_up(LeafUpLink(plane, ld, j))) return false;
      if (pod_s == pod_d) return true;
      for (uint32_t t = 0; t < s.u2; ++t)
        if (core_trunk_ok(j, t)) return true;
      return false;
    };
    const uint32_t j = c.PickValid(s.u1, spine_ok);
    if (j == s.u1) return false;
    out.push_back(Hop{LeafUpLink(plane, ls, j), true});
    if (pod_s != pod_d) {
      const uint32_t t = c.PickValid(s.u2, [&](uint32_t x) { return core_trunk_ok(j, x); });
      const uint32_t m = c.PickValid(s.core_trunk, [&](uint32_t x) { return link_up(core_down(j, t, x)); });
      out.push_back(Hop{SpineUpLink(plane, pod_s * s.u1 + j, t), true});
      out.push_back(Hop{core_down(j, t, m), false});
    }
    out.push_back(Hop{LeafUpLink(plane, ld, j), false});
    return true;
  }

  void Build() {
    const TreeShape& s = t_.shape;
    const FabricParams& p = params_;
    const auto planes = t_.planes;
    for (uint32_t g = 0; g < t_.gpus; ++g) AddVertex({VertexKind::kGpu, 0, Map(g, 0).plane, g});
    for (uint32_t d = 0; d < h_.domains; ++d) AddVertex({VertexKind::kScaleUpSwitch, 0, 0, d});
    for (uint32_t g = 0; g < t_.gpus; ++g) {
      for (uint32_t port = 0; port < t_.nics_per_gpu; ++port) {
        AddVertex({VertexKind::kNic, 0, Map(g, port).plane, g * t_.nics_per_gpu + port});
      }
    }
    const uint32_t leaf_base = h_.first_switch_vertex;
    const auto spine_base = static_cast<uint32_t>(leaf_base + planes * s.leaves);
    const auto core_base = static_cast<uint32_t>(spine_base + planes * s.spines);
    for (uint32_t pl = 0; pl < planes; ++pl) {
      for (uint64_t l = 0; l < s.leaves; ++l) {
        AddVertex({VertexKind::kLeaf, 1, pl, static_cast<uint32_t>(pl * s.leaves + l)});
      }
    }
    for (uint32_t pl = 0; pl < planes; ++pl) {
      for (uint64_t x = 0; x < s.spines; ++x) {
        AddVertex({VertexKind::kSpine, 2, pl, static_cast<uint32_t>(pl * s.spines + x)});
      }
    }
    for (uint32_t pl = 0; pl < planes; ++pl) {
      for (uint64_t x = 0; x < s.cores; ++x)
        AddVertex({VertexKind::kCore, 3, pl, static_cast<uint32_t>(pl * s.cores + x)});
    }

    if (h_.scale_up) {
      for (uint32_t g = 0; g < t_.gpus; ++g) {
        AddLink(g, t_.gpus + g / h_.domain, LinkKind::kScaleUp, p.scale_up_bandwidth_gbps, p.scale_up_latency_ns);
      }
    }
    for (uint32_t g = 0; g < t_.gpus; ++g) {
      for (uint32_t port = 0; port < t_.nics_per_gpu; ++port) {
        AddLink(g, h_.NicVertex(g, port), LinkKind::kPcie, p.pcie_bandwidth_gbps, p.link_latency_ns);
      }
    }
    const double endpoint_latency = EndpointLatencyNs(p);
    const double switch_latency = SwitchLinkLatencyNs(p);
    for (uint32_t g = 0; g < t_.gpus; ++g) {
      for (uint32_t port = 0; port < t_.nics_per_gpu; ++port) {
        const Slot sl = Map(g, port);
        const auto leaf = static_cast<uint32_t>(leaf_base + sl.plane * s.leaves + sl.pe / s.d1);
        AddLink(h_.NicVertex(g, port), leaf, LinkKind::kNicToLeaf, p.nic_bandwidth_gbps, endpoint_latency);
      }
    }
    leaf_up_base_ = num_links();
    for (uint32_t pl = 0; pl < planes; ++pl) {
      for (uint64_t l = 0; l < s.leaves; ++l) {
        const auto leaf = static_cast<uint32_t>(leaf_base + pl * s.leaves + l);
        for (uint32_t j = 0; j < s.u1; ++j) {
          const uint64_t spine = s.tiers == 2 ? j % s.spines : (l / s.d2) * s.u1 + j;
          AddLink(leaf, static_cast<uint32_t>(spine_base + pl * s.spines + spine), LinkKind::kLeafToSpine,
                  p.nic_bandwidth_gbps, switch_latency);
        }
      }
    }
    spine_up_base_ = num_links();
    for (uint32_t pl = 0; pl < planes; ++pl) {
      for (uint64_t x = 0; x < s.spines && s.tiers == 3; ++x) {
        const auto spine = static_cast<uint32_t>(spine_base + pl * s.spines + x);
        const uint64_t group = x % s.u1;
        for (uint32_t t = 0; t < s.u2; ++t) {
          const uint64_t core = group * s.cores_per_group + t % s.cores_per_group;
          AddLink(spine, static_cast<uint32_t>(core_base + pl * s.cores + core), LinkKind::kSpineToCore,
                  p.nic_bandwidth_gbps, switch_latency);
        }
      }
    }
    Finalize();
  }

  TreePlan t_;
  HostLayer h_;
  bool ecmp_ = true;  // false: static (d-mod-k) choices
  bool least_loaded_ = false;
  uint32_t leaf_up_base_ = 0;
  uint32_t spine_up_base_ = 0;
};

std::unique_ptr<Fabric> BuildTree(TreeKind kind, const FabricParams& p) {
  return std::make_unique<TreeFabric>(p, MakePlan(kind, p));
}

}  // namespace

Inventory PlanFatTree(const FabricParams& p) { return PlanTree(TreeKind::kFatTree, p); }
Inventory PlanRailOptimized(const FabricParams& p) { return PlanTree(TreeKind::kRailOptimized, p); }
Inventory PlanRailOnly(const FabricParams& p) { return PlanTree(TreeKind::kRailOnly, p); }
Inventory PlanMultiPlane(const FabricParams& p) { return PlanTree(TreeKind::kMultiPlane, p); }
std::unique_ptr<Fabric> BuildFatTree(const FabricParams& p) { return BuildTree(TreeKind::kFatTree, p); }
std::unique_ptr<Fabric> BuildRailOptimized(const FabricParams& p) { return BuildTree(TreeKind::kRailOptimized, p); }
std::unique_ptr<Fabric> BuildRailOnly(const FabricParams& p) { return BuildTree(TreeKind::kRailOnly, p); }
std::unique_ptr<Fabric> BuildMultiPlane(const FabricParams& p) { return BuildTree(TreeKind::kMultiPlane, p); }

}  // namespace clustersim::topo::internal
