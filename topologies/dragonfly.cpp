// Dragonfly (Kim, Dally, Scott, Abts 2008): groups of `a` routers joined all-to-all by local links, each router with
// `p` NIC ports and `h` global ports; group pairs are joined by `m` parallel global links. Minimal routing
// (local, global, local) with ECMP over the parallel global links. See docs/topologies.md.
#include <algorithm>

#include "topologies/internal.h"

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
  uint64_t ports = 0;            // NIC ports
  uint64_t routers_used = 0;     // routers with at least one NIC
  HostLayer host;
};

uint64_t PairIndex(uint64_t i, uint64_t j, uint64_t n) { return i * (2 * n - i - 1) / 2 + (j - i - 1); }

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
    scale_out_endpoints_ = d_.ports;
    Build();
  }

  void Route(uint32_t src, uint32_t dst, uint64_t flow_id, std::vector<Hop>& out) const override {
    if (src == dst) return;
    if (h_.scale_up && src / h_.domain == dst / h_.domain) {
      h_.ScaleUpHops(src, dst, out);
      return;
    }
    const bool ecmp = params_.ecmp;
    const uint32_t n = d_.nics_per_gpu;
    Chooser c(ecmp, ecmp ? FlowHash(src, dst, flow_id, params_.seed) : dst);
    const uint32_t port = c.Pick(n);
    const uint32_t rs = (src * n + port) / d_.hosts_per_router;
    const uint32_t rd = (dst * n + port) / d_.hosts_per_router;
    h_.Up(src, port, out);
    if (rs != rd) {
      const uint32_t a = d_.routers_in_group;
      const uint32_t gs = rs / a;
      const uint32_t gd = rd / a;
      if (gs == gd) {
        Local(rs, rd, out);
      } else {
        const uint32_t q = c.Pick(d_.parallel_global);
        const uint32_t r1 = gs * a + Gateway(gs, gd, q);
        const uint32_t r2 = gd * a + Gateway(gd, gs, q);
        if (rs != r1) Local(rs, r1, out);
        const uint32_t lo = std::min(gs, gd);
        const uint32_t hi = std::max(gs, gd);
        const auto pairs = static_cast<uint64_t>(d_.groups) * (d_.groups - 1) / 2;
        out.push_back(Hop{static_cast<uint32_t>(global_base_ + q * pairs + PairIndex(lo, hi, d_.groups)), gs < gd});
        if (r2 != rd) Local(r2, rd, out);
      }
    }
    h_.Down(dst, port, out);
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
  // Local link between two routers (global indices) of the same group.
  void Local(uint32_t r_from, uint32_t r_to, std::vector<Hop>& out) const {
    const uint32_t a = d_.routers_in_group;
    const uint32_t group = r_from / a;
    const uint32_t i = r_from - group * a;
    const uint32_t j = r_to - group * a;
    const uint64_t per_group = static_cast<uint64_t>(a) * (a - 1) / 2;
    const uint64_t pair = i < j ? PairIndex(i, j, a) : PairIndex(j, i, a);
    out.push_back(Hop{static_cast<uint32_t>(local_base_ + group * per_group + pair), i < j});
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
