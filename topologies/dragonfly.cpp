// Dragonfly (Kim, Dally, Scott, Abts 2008): groups of `a` routers joined all-to-all by local links, each router with
// `p` NIC ports and `h` global ports; group pairs are joined by `m` parallel global links. Minimal routing
// (local, global, local) with ECMP over the parallel global links; Valiant and UGAL spread each flow over several
// intermediate groups (per-packet spreading, RouteParts). See docs/topologies.md.
#include <algorithm>

#include "topologies/internal.h"
#include "topologies/routing.h"

namespace clustersim::topo::internal {
namespace {

struct DragonflyPlan {
  uint32_t gpus = 0;
  uint32_t nics_per_gpu = 1;
  uint32_t hosts_per_router = 0;   // p
  uint32_t routers_per_group = 0;  // a as requested
  uint32_t global_per_router = 0;  // h
  uint32_t routers_in_group = 0;   // routers built per group (a, or fewer when one group suffices)
  uint32_t groups = 0;
  uint32_t parallel_global = 0;  // m: global links per group pair
  uint32_t spray_paths = 1;      // sub-routes of a flow leaving the scale-up domain (valiant, ugal; else 1)
  uint64_t ports = 0;            // NIC ports
  uint64_t routers_used = 0;     // routers with at least one NIC
  HostLayer host;
};

uint64_t PairIndex(uint64_t i, uint64_t j, uint64_t n) { return i * (2 * n - i - 1) / 2 + (j - i - 1); }

// Per-packet spreading (docs/topologies.md, "Per packet"): Valiant and UGAL split a flow over k intermediate groups,
// k = dragonfly_spray_paths or min(groups - 2, 4); minimal and static routing take one path per flow.
constexpr uint32_t kDefaultSprayPaths = 4;
constexpr uint32_t kMaxSprayPaths = 64;  // UGAL records one minimal/Valiant bit per sub-route (platform.cpp)

uint32_t SprayPaths(const FabricParams& p, uint32_t groups) {
  const RoutingInfo& routing = FindRouting(p.topology, p.routing);
  const bool non_minimal = routing.choice == RouteChoice::kValiant || routing.load == LoadAwareness::kUgal;
  const uint32_t k = p.dragonfly_spray_paths;
  if (k != 0 && !non_minimal) {
    Fail(kFieldDfSpray, Num(k),
         std::string("only valiant and ugal routing spread a flow over intermediate groups; leave it 0 for ") +
             routing.name);
  }
  const uint32_t most = std::min(kMaxSprayPaths, std::max<uint32_t>(1, groups > 2 ? groups - 2 : 1));
  if (k > most) {
    Fail(kFieldDfSpray, Num(k),
         "must be at most " + Num(most) + " (the intermediate groups of " + Num(groups) +
             " groups, groups - 2, and at most " + Num(kMaxSprayPaths) + ")");
  }
  if (!non_minimal || groups < 3) return 1;
  return k != 0 ? k : std::min(kDefaultSprayPaths, groups - 2);
}

DragonflyPlan MakePlan(const FabricParams& p) {
  ValidateCommon(p, true);
  if (p.planes > 1) Fail(kFieldPlanes, Num(p.planes), "only multi_plane reads planes; must be 0 or 1 for dragonfly");
  const uint32_t k = p.switch_radix;
  DragonflyPlan d;
  d.gpus = p.num_gpus;
  d.nics_per_gpu = p.nics_per_gpu;
  const uint32_t balanced = std::max<uint32_t>(1, (k + 1) / 4);  // a = 2p = 2h uses 4p - 1 ports
  d.hosts_per_router = p.dragonfly_hosts_per_router != 0 ? p.dragonfly_hosts_per_router : balanced;
  d.global_per_router =
      p.dragonfly_global_links_per_router != 0 ? p.dragonfly_global_links_per_router : d.hosts_per_router;
  d.routers_per_group = p.dragonfly_routers_per_group != 0 ? p.dragonfly_routers_per_group : 2 * d.hosts_per_router;
  const uint64_t needed_ports =
      static_cast<uint64_t>(d.hosts_per_router) + d.routers_per_group - 1 + d.global_per_router;
  if (needed_ports > k) {
    Fail(kFieldRadix, Num(k),
         "a dragonfly router needs hosts_per_router + routers_per_group - 1 + global_links_per_router = " +
             Num(d.hosts_per_router) + " + " + Num(d.routers_per_group - 1) + " + " + Num(d.global_per_router) + " = " +
             Num(needed_ports) + " ports");
  }
  d.ports = static_cast<uint64_t>(p.num_gpus) * p.nics_per_gpu;
  d.routers_used = (d.ports + d.hosts_per_router - 1) / d.hosts_per_router;
  const uint64_t groups = (d.routers_used + d.routers_per_group - 1) / d.routers_per_group;
  const uint64_t max_groups = static_cast<uint64_t>(d.routers_per_group) * d.global_per_router + 1;
  if (groups > max_groups) {
    Fail(kFieldNumGpus, Num(p.num_gpus),
         "a dragonfly of " + Num(d.routers_per_group) + " routers x " + Num(d.hosts_per_router) +
             " ports per group and " + Num(d.global_per_router) + " global links per router joins at most " +
             Num(max_groups) + " groups = " + Num(max_groups * d.routers_per_group * d.hosts_per_router) +
             " NIC ports: raise switch_radix or the dragonfly sizes");
  }
  d.groups = static_cast<uint32_t>(groups);
  d.routers_in_group = d.groups == 1 ? static_cast<uint32_t>(d.routers_used) : d.routers_per_group;
  d.parallel_global = d.groups >= 2 ? d.routers_per_group * d.global_per_router / (d.groups - 1) : 0;
  d.spray_paths = SprayPaths(p, d.groups);
  d.host = HostLayer::Make(p, true);
  const uint64_t a = d.routers_in_group;
  const uint64_t g = d.groups;
  const uint64_t vertices = d.host.first_switch_vertex + g * a;
  const uint64_t links = d.host.first_switch_link + g * a * (a - 1) / 2 + d.parallel_global * g * (g - 1) / 2;
  if (vertices >= (1ULL << 32) || links >= (1ULL << 32)) {
    Fail(kFieldNumGpus, Num(p.num_gpus), "fabric too large (vertex and link ids are 32-bit)");
  }
  return d;
}

void Diameter(const DragonflyPlan& d, Inventory& inv) {
  if (d.gpus < 2) return;
  uint32_t switches = 1;
  if (d.host.scale_up && d.host.domains == 1) {
    inv.diameter_hops = 1;
    inv.diameter_links = 2;
    return;
  }
  if (d.groups >= 2) {
    switches = d.routers_in_group >= 2 ? 4 : 2;
  } else if (d.routers_used >= 2) {
    switches = 2;
  }
  inv.diameter_hops = switches;
  inv.diameter_links = switches + 3;
}

// Balanced cut between the first and second half of the groups (or of the routers, for a single group).
double Bisection(const DragonflyPlan& d, const FabricParams& p) {
  const double b = p.nic_bandwidth_gbps;
  double cap = static_cast<double>(d.ports) * b / 2;
  const auto half = [](uint64_t n) { return static_cast<double>(n / 2) * static_cast<double>(n - n / 2); };
  if (d.groups >= 2) {
    cap = std::min(cap, half(d.groups) * d.parallel_global * b);
  } else if (d.routers_in_group >= 2) {
    cap = std::min(cap, half(d.routers_in_group) * b);
  }
  return cap;
}

class DragonflyFabric : public Fabric {
 public:
  DragonflyFabric(const FabricParams& params, const DragonflyPlan& plan) : Fabric(params), d_(plan), h_(plan.host) {
    params_.planes = 1;
    params_.dragonfly_hosts_per_router = d_.hosts_per_router;
    params_.dragonfly_routers_per_group = d_.routers_per_group;
    params_.dragonfly_global_links_per_router = d_.global_per_router;
    params_.dragonfly_spray_paths = d_.spray_paths;
    scale_out_endpoints_ = d_.ports;
    const RoutingInfo& routing = FindRouting(params.topology, params.routing);
    params_.routing = routing.name;
    ecmp_ = routing.choice != RouteChoice::kStatic;
    valiant_ = routing.choice == RouteChoice::kValiant;
    ugal_ = routing.load == LoadAwareness::kUgal;
    Build();
  }

  void Route(uint32_t src, uint32_t dst, uint64_t flow_id, std::vector<Hop>& out) const override {
    const uint32_t parts = RouteParts(src, dst);
    for (uint32_t j = 0; j < parts; ++j) RouteVia(src, dst, flow_id, j, valiant_, out);
  }

  // UGAL chooses per sub-route between the minimal path (candidate 0) and the Valiant path (candidate 1).
  uint32_t RouteCandidates() const override { return ugal_ ? 2 : 1; }
  void RouteCandidate(uint32_t src, uint32_t dst, uint32_t c, std::vector<Hop>& out) const override {
    const uint32_t parts = RouteParts(src, dst);
    for (uint32_t j = 0; j < parts; ++j) RouteVia(src, dst, 0, j, ugal_ ? c == 1 : valiant_, out);
  }
  // Every flow that leaves its scale-up domain is split, not only the inter-group ones: a flow's share of a link it
  // shares with others (its NIC) is then the same whether or not it is spread (docs/topologies.md, "Per packet").
  uint32_t RouteParts(uint32_t src, uint32_t dst) const override {
    if (d_.spray_paths == 1 || src == dst || (h_.scale_up && src / h_.domain == dst / h_.domain)) return 1;
    return d_.spray_paths;
  }
  void RoutePart(uint32_t src, uint32_t dst, uint32_t part, uint32_t c, std::vector<Hop>& out) const override {
    RouteVia(src, dst, 0, part, ugal_ ? c == 1 : valiant_, out);
  }

  Inventory ComputeInventory() const override {
    Inventory inv = Fabric::ComputeInventory();
    inv.bisection_bandwidth_gbps = Bisection(d_, params_);
    Diameter(d_, inv);
    return inv;
  }

 private:
  // Router (index within group) that holds group x's q-th global link to group y. Global port t of a group is port
  // t % h of router t / h; port t = q * (groups - 1) + (y - x - 1) mod groups, so parallel links to one group sit
  // on different routers.
  uint32_t Gateway(uint32_t x, uint32_t y, uint32_t q) const {
    const uint32_t g = d_.groups;
    const uint32_t offset = (y + g - x - 1) % g;
    return (q * (g - 1) + offset) / d_.global_per_router;
  }
  // Sub-route `part` of the minimal or Valiant route. NIC port p (ECMP, one per flow) at both ends; same router: 4
  // links; same group: one local link; other group, minimal: local to the gateway of the hashed parallel global link,
  // global, local; Valiant: the same into an intermediate group, then on to the destination group (at most 3 local
  // and 2 global links). Without spreading the intermediate is hashed per flow; spread routes: SpreadOf.
  void RouteVia(uint32_t src, uint32_t dst, uint64_t flow_id, uint32_t part, bool valiant,
                std::vector<Hop>& out) const {
    if (h_.RouteWithinDomain(src, dst, out)) return;
    const uint32_t n = d_.nics_per_gpu;
    const uint64_t hash = ecmp_ ? FlowHash(src, dst, flow_id, params_.seed) : dst;
    Chooser c(ecmp_, hash);
    const uint32_t port =
        c.PickValid(n, [&](uint32_t p) { return link_up(h_.NicLink(src, p)) && link_up(h_.NicLink(dst, p)); });
    if (port == n) NoRoute(src, dst);
    const uint32_t rs = (src * n + port) / d_.hosts_per_router;
    const uint32_t rd = (dst * n + port) / d_.hosts_per_router;
    h_.Up(src, port, out);
    const Spread spread = d_.spray_paths > 1 ? SpreadOf(src * n + port, dst * n + port, part, c)
                                             : Spread{SplitMix64(hash ^ 0x7a11), false};
    if (rs != rd && !RouterPath(rs, rd, valiant, c, spread, out)) NoRoute(src, dst);
    h_.Down(dst, port, out);
  }

  // Which intermediate group a Valiant route tries first (the next ones where faults cut it off): without spreading,
  // `first` is a hash of the flow into the groups other than source and destination in id order; with spreading, the
  // index of an offset from the source group (SpreadOf).
  struct Spread {
    uint64_t first = 0;
    bool relative = false;
  };
  // Per-packet spreading: part j of k of the flow from NIC port es (position ps within its group) to port ed goes
  // through the intermediate of offset index (H + ps + floor(j (groups - 2) / k)) mod (groups - 2), H a seeded hash
  // of the group distance (gd - gs) mod groups, the offsets being 1 .. groups - 1 from the source group without the
  // destination's. A flow's k parts take k distinct, evenly spaced intermediates, and the flows of one group to
  // another take consecutive starts, so their parts cover the intermediates evenly, as packets sprayed at random do
  // on average. Parallel global links (and local detours) are drawn from a hash of (H, ps, pd, j). Nothing depends on
  // the group ids, only on their distance: routes are the same up to a rotation of the groups.
  Spread SpreadOf(uint64_t es, uint64_t ed, uint32_t part, Chooser& c) const {
    const uint64_t group_ports = static_cast<uint64_t>(d_.routers_per_group) * d_.hosts_per_router;
    const uint64_t g = d_.groups;
    const uint64_t distance = (ed / group_ports + g - es / group_ports) % g;
    const uint64_t h = SplitMix64(params_.seed ^ 0x7a11 ^ distance << 20);
    const uint64_t ps = es % group_ports;
    const uint64_t pd = ed % group_ports;
    c = Chooser(ecmp_, SplitMix64(h ^ (ps << 32 | pd) ^ 0x9e3779b97f4a7c15ULL * (part + 1)));
    const uint64_t others = g - 2;
    return Spread{(h + ps + part * others / d_.spray_paths) % others, true};
  }
  // The group of the `k`-th intermediate tried.
  uint32_t Intermediate(const Spread& spread, uint32_t gs, uint32_t gd, uint32_t k) const {
    const uint32_t g = d_.groups;
    const uint32_t others = g - 2;
    if (spread.relative) {
      uint32_t offset = 1 + static_cast<uint32_t>((spread.first + k) % others);
      offset += offset >= (gd + g - gs) % g ? 1 : 0;
      return (gs + offset) % g;
    }
    uint32_t gi = static_cast<uint32_t>((spread.first + k) % others);
    gi += gi >= std::min(gs, gd) ? 1 : 0;
    gi += gi >= std::max(gs, gd) ? 1 : 0;
    return gi;
  }

  // Router-to-router part of a route; false when faults leave no path. Minimal routing detours through another
  // group (Valiant-style) where faults cut every minimal path, as adaptive dragonfly routers do.
  bool RouterPath(uint32_t rs, uint32_t rd, bool valiant, Chooser& c, const Spread& spread,
                  std::vector<Hop>& out) const {
    const uint32_t a = d_.routers_in_group;
    const uint32_t gs = rs / a;
    const uint32_t gd = rd / a;
    if (gs == gd) return LocalPath(rs, rd, c, out);
    const size_t mark = out.size();
    if (!valiant || d_.groups < 3) {
      uint32_t entry = 0;
      if (GlobalPath(rs, gd, c, out, entry) && LocalPath(entry, rd, c, out)) return true;
      out.resize(mark);
      if (d_.groups < 3) return false;  // faults cut every minimal path: detour through another group below
    }
    // Intermediate group: among the groups other than gs and gd (the next one where faults cut it off).
    const uint32_t others = d_.groups - 2;
    for (uint32_t k = 0; k < others; ++k) {
      const uint32_t gi = Intermediate(spread, gs, gd, k);
      uint32_t entry = 0;
      if (GlobalPath(rs, gi, c, out, entry) && GlobalPath(entry, gd, c, out, entry) && LocalPath(entry, rd, c, out))
        return true;
      out.resize(mark);
      if (!has_faults()) break;
    }
    return false;
  }

  // From router r (global index) to group y: local hop to the gateway of a parallel global link q (ECMP, among
  // those whose local and global links are up), the global link; `entry` = the router reached in group y.
  bool GlobalPath(uint32_t r, uint32_t y, Chooser& c, std::vector<Hop>& out, uint32_t& entry) const {
    const uint32_t a = d_.routers_in_group;
    const uint32_t x = r / a;
    auto usable = [&](uint32_t q) {
      const uint32_t r1 = x * a + Gateway(x, y, q);
      return link_up(GlobalLink(x, y, q)) && (r1 == r || link_up(LocalLink(r, r1)));
    };
    const uint32_t q = c.PickValid(d_.parallel_global, usable);
    if (q == d_.parallel_global) return false;
    const uint32_t r1 = x * a + Gateway(x, y, q);
    if (r1 != r) Local(r, r1, out);
    out.push_back(Hop{GlobalLink(x, y, q), x < y});
    entry = y * a + Gateway(y, x, q);
    return true;
  }

  // Within a group: the direct local link, or (when it is down) two local hops through a hashed intermediate router.
  bool LocalPath(uint32_t r, uint32_t rd, Chooser& c, std::vector<Hop>& out) const {
    if (r == rd) return true;
    if (link_up(LocalLink(r, rd))) {
      Local(r, rd, out);
      return true;
    }
    const uint32_t a = d_.routers_in_group;
    const uint32_t base = r / a * a;
    const uint32_t m = c.PickValid(a, [&](uint32_t i) {
      const uint32_t v = base + i;
      return v != r && v != rd && link_up(LocalLink(r, v)) && link_up(LocalLink(v, rd));
    });
    if (m == a) return false;
    Local(r, base + m, out);
    Local(base + m, rd, out);
    return true;
  }

  uint32_t GlobalLink(uint32_t x, uint32_t y, uint32_t q) const {
    const auto pairs = static_cast<uint64_t>(d_.groups) * (d_.groups - 1) / 2;
    return static_cast<uint32_t>(global_base_ + q * pairs + PairIndex(std::min(x, y), std::max(x, y), d_.groups));
  }
  uint32_t LocalLink(uint32_t r_from, uint32_t r_to) const {
    const uint32_t a = d_.routers_in_group;
    const uint32_t group = r_from / a;
    const uint32_t i = r_from - group * a;
    const uint32_t j = r_to - group * a;
    const uint64_t per_group = static_cast<uint64_t>(a) * (a - 1) / 2;
    return static_cast<uint32_t>(local_base_ + group * per_group + (i < j ? PairIndex(i, j, a) : PairIndex(j, i, a)));
  }
  // Local link between two routers (global indices) of the same group.
  void Local(uint32_t r_from, uint32_t r_to, std::vector<Hop>& out) const {
    out.push_back(Hop{LocalLink(r_from, r_to), r_from < r_to});
  }

  void Build() {
    const FabricParams& p = params_;
    const uint32_t n = d_.nics_per_gpu;
    const uint32_t a = d_.routers_in_group;
    for (uint32_t g = 0; g < d_.gpus; ++g) AddVertex({VertexKind::kGpu, 0, 0, g});
    for (uint32_t x = 0; x < h_.domains; ++x) AddVertex({VertexKind::kScaleUpSwitch, 0, 0, x});
    for (uint32_t e = 0; e < d_.gpus * n; ++e) AddVertex({VertexKind::kNic, 0, 0, e});
    const uint32_t router_base = h_.first_switch_vertex;
    for (uint32_t r = 0; r < d_.groups * a; ++r) AddVertex({VertexKind::kRouter, 1, 0, r});

    if (h_.scale_up) {
      for (uint32_t g = 0; g < d_.gpus; ++g) {
        AddLink(g, d_.gpus + g / h_.domain, LinkKind::kScaleUp, p.scale_up_bandwidth_gbps, p.scale_up_latency_ns);
      }
    }
    for (uint32_t e = 0; e < d_.gpus * n; ++e) {
      AddLink(e / n, h_.nic_base + e, LinkKind::kPcie, p.pcie_bandwidth_gbps, p.link_latency_ns);
    }
    const double endpoint_latency = EndpointLatencyNs(p);
    const double switch_latency = SwitchLinkLatencyNs(p);
    for (uint32_t e = 0; e < d_.gpus * n; ++e) {
      AddLink(h_.nic_base + e, router_base + e / d_.hosts_per_router, LinkKind::kNicToLeaf, p.nic_bandwidth_gbps,
              endpoint_latency);
    }
    local_base_ = num_links();
    for (uint32_t x = 0; x < d_.groups; ++x) {
      for (uint32_t i = 0; i < a; ++i) {
        for (uint32_t j = i + 1; j < a; ++j) {
          AddLink(router_base + x * a + i, router_base + x * a + j, LinkKind::kLocal, p.nic_bandwidth_gbps,
                  switch_latency);
        }
      }
    }
    global_base_ = num_links();
    for (uint32_t q = 0; q < d_.parallel_global; ++q) {
      for (uint32_t x = 0; x < d_.groups; ++x) {
        for (uint32_t y = x + 1; y < d_.groups; ++y) {
          AddLink(router_base + x * a + Gateway(x, y, q), router_base + y * a + Gateway(y, x, q), LinkKind::kGlobal,
                  p.nic_bandwidth_gbps, switch_latency);
        }
      }
    }
    Finalize();
  }

  DragonflyPlan d_;
  HostLayer h_;
  bool ecmp_ = true;
  bool valiant_ = false;
  bool ugal_ = false;
  uint32_t local_base_ = 0;
  uint32_t global_base_ = 0;
};

}  // namespace

Inventory PlanDragonfly(const FabricParams& p) {
  const DragonflyPlan d = MakePlan(p);
  Inventory inv = HostInventory(p, d.host, true);
  const uint64_t a = d.routers_in_group;
  const uint64_t g = d.groups;
  inv.switches_per_tier.push_back(g * a);
  inv.links_per_kind[static_cast<size_t>(LinkKind::kLocal)] = g * a * (a - 1) / 2;
  inv.links_per_kind[static_cast<size_t>(LinkKind::kGlobal)] = d.parallel_global * g * (g - 1) / 2;
  FinishInventory(inv);
  inv.bisection_bandwidth_gbps = Bisection(d, p);
  Diameter(d, inv);
  return inv;
}

std::unique_ptr<Fabric> BuildDragonfly(const FabricParams& p) {
  return std::make_unique<DragonflyFabric>(p, MakePlan(p));
}

}  // namespace clustersim::topo::internal
