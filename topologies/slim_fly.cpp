// Slim Fly (Besta, Hoefler, "Slim Fly: A Cost Effective Low-Diameter Network Topology", SC'14): routers joined by
// the McKay-Miller-Siran (MMS) graph of a prime power q = 4w + delta (delta in {-1, 0, 1}), 2 q^2 routers of
// network radix k' = (3q - delta) / 2 and diameter 2; each router holds p NIC ports (default ceil(k'/2), the
// balanced full-bandwidth configuration). Minimal routing: the direct link, or ECMP over the 2-hop paths through
// the common neighbours. Routing is table-free beyond the graph itself: each router keeps its k' neighbours sorted
// (O(routers x k') memory, 2.5 MB at q = 47), and a route intersects two neighbour lists (O(k')). See
// docs/topologies.md.
#include <algorithm>
#include <string>
#include <vector>

#include "common/error.h"
#include "topologies/internal.h"
#include "topologies/routing.h"

namespace clustersim::topo::internal {
namespace {

constexpr uint32_t kMaxQ = 1024;  // 2 M routers: far beyond any cluster; bounds the field tables (q^2 entries)

// Smallest prime factor of q and the exponent n with q = p^n, or {0, 0} when q is not a prime power.
std::pair<uint32_t, uint32_t> PrimePower(uint32_t q) {
  if (q < 2) return {0, 0};
  uint32_t p = 2;
  while (p * p <= q && q % p != 0) ++p;
  if (q % p != 0) p = q;
  uint32_t n = 0;
  for (uint32_t r = q; r > 1; r /= p, ++n) {
    if (r % p != 0) return {0, 0};
  }
  return {p, n};
}

// GF(q), q = p^n: elements 0..q-1 are polynomials over GF(p) in base-p digits; addition and multiplication by
// tables built once (q^2 entries each).
struct Field {
  uint32_t q = 0;
  std::vector<uint32_t> add, mul, neg, inv;  // inv[0] unused
  uint32_t primitive = 0;                    // a generator of the multiplicative group

  uint32_t Sub(uint32_t a, uint32_t b) const { return add[a * q + neg[b]]; }
  uint32_t Mul(uint32_t a, uint32_t b) const { return mul[a * q + b]; }
};

// Product of two polynomials (base-p digit vectors of length n) modulo the monic polynomial x^n + low(x).
uint32_t PolyMulMod(uint32_t a, uint32_t b, uint32_t p, uint32_t n, const std::vector<uint32_t>& low) {
  std::vector<uint32_t> prod(2 * n, 0);
  std::vector<uint32_t> da(n), db(n);
  for (uint32_t i = 0; i < n; ++i, a /= p, b /= p) {
    da[i] = a % p;
    db[i] = b % p;
  }
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t j = 0; j < n; ++j) prod[i + j] = (prod[i + j] + da[i] * db[j]) % p;
  for (uint32_t d = 2 * n - 1; d >= n; --d) {  // x^d = x^(d-n) * (-low(x))
    const uint32_t c = prod[d];
    if (c == 0) continue;
    prod[d] = 0;
    for (uint32_t i = 0; i < n; ++i) prod[d - n + i] = (prod[d - n + i] + (p - c) * low[i]) % p;
  }
  uint32_t r = 0;
  for (uint32_t i = n; i-- > 0;) r = r * p + prod[i];
  return r;
}

// An element of multiplicative order q - 1, or 0 when there is none (the ring is not a field).
uint32_t FindPrimitive(const Field& f) {
  for (uint32_t g = 1; g < f.q; ++g) {
    uint32_t x = g;
    uint32_t order = 1;
    while (x != 1 && order < f.q) {
      x = f.Mul(x, g);
      ++order;
    }
    if (x == 1 && order == f.q - 1) return g;
  }
  return 0;
}

// GF(q): tries the monic polynomials of degree n in turn until one gives a field (has a primitive element).
Field MakeField(uint32_t q) {
  const auto [p, n] = PrimePower(q);
  Field f;
  f.q = q;
  f.add.resize(static_cast<size_t>(q) * q);
  f.mul.resize(static_cast<size_t>(q) * q);
  f.neg.resize(q);
  for (uint32_t a = 0; a < q; ++a) {
    uint32_t na = 0;
    for (uint32_t b = 0; b < q; ++b) {
      uint32_t s = 0, scale = 1;
      for (uint32_t x = a, y = b, i = 0; i < n; ++i, x /= p, y /= p, scale *= p) s += (x % p + y % p) % p * scale;
      f.add[a * q + b] = s;
      if (s == 0) na = b;
    }
    f.neg[a] = na;
  }
  std::vector<uint32_t> low(n);
  for (uint32_t code = 0; code < q; ++code) {
    for (uint32_t i = 0, c = code; i < n; ++i, c /= p) low[i] = c % p;
    for (uint32_t a = 0; a < q; ++a)
      for (uint32_t b = 0; b < q; ++b) f.mul[a * q + b] = n == 1 ? a * b % p : PolyMulMod(a, b, p, n, low);
    f.primitive = FindPrimitive(f);
    if (f.primitive == 0) continue;
    f.inv.assign(q, 0);
    for (uint32_t a = 1; a < q; ++a)
      for (uint32_t b = 1; b < q; ++b)
        if (f.Mul(a, b) == 1) f.inv[a] = b;
    return f;
  }
  throw SimulationError("slim_fly: no irreducible polynomial found for GF(" + std::to_string(q) + ")");
}

int Delta(uint32_t q) { return q % 4 == 1 ? 1 : q % 4 == 3 ? -1 : 0; }
uint32_t NetworkRadix(uint32_t q) { return static_cast<uint32_t>((3 * static_cast<int64_t>(q) - Delta(q)) / 2); }

struct SlimFlyPlan {
  uint32_t q = 0;
  uint32_t radix = 0;             // k': router-to-router ports
  uint32_t hosts_per_router = 0;  // p
  uint32_t routers = 0;           // 2 q^2
  uint64_t ports = 0;             // NIC ports
  uint64_t routers_used = 0;      // routers with at least one NIC
  HostLayer host;
};

uint32_t HostsFor(const FabricParams& p, uint32_t q) {
  return p.slim_fly_hosts_per_router != 0 ? p.slim_fly_hosts_per_router : (NetworkRadix(q) + 1) / 2;
}

uint32_t ChooseQ(const FabricParams& p, uint64_t ports) {
  if (p.slim_fly_q != 0) {
    const uint32_t q = p.slim_fly_q;
    if (q < 3 || q > kMaxQ || PrimePower(q).first == 0)
      Fail(kFieldSlimFlyQ, Num(q),
           "must be a prime power between 3 and " + Num(kMaxQ) + " (3, 4, 5, 7, 8, 9, 11, ...)");
    return q;
  }
  for (uint32_t q = 3; q <= kMaxQ; ++q) {
    if (PrimePower(q).first != 0 && 2ULL * q * q * HostsFor(p, q) >= ports) return q;
  }
  Fail(kFieldNumGpus, Num(p.num_gpus), "a slim_fly holds at most q = " + Num(kMaxQ) + " (2 q^2 routers)");
}

SlimFlyPlan MakePlan(const FabricParams& p) {
  ValidateCommon(p, true);
  if (p.planes > 1) Fail(kFieldPlanes, Num(p.planes), "only multi_plane reads planes; must be 0 or 1 for slim_fly");
  SlimFlyPlan s;
  s.ports = static_cast<uint64_t>(p.num_gpus) * p.nics_per_gpu;
  s.q = ChooseQ(p, s.ports);
  s.radix = NetworkRadix(s.q);
  s.hosts_per_router = HostsFor(p, s.q);
  s.routers = 2 * s.q * s.q;
  const uint64_t capacity = static_cast<uint64_t>(s.routers) * s.hosts_per_router;
  if (capacity < s.ports) {
    Fail(kFieldSlimFlyQ, Num(s.q),
         "a slim_fly of q = " + Num(s.q) + " has " + Num(s.routers) + " routers x " + Num(s.hosts_per_router) +
             " NIC ports = " + Num(capacity) + " < " + Num(s.ports) + " NIC ports: raise q or leave it 0");
  }
  if (s.radix + s.hosts_per_router > p.switch_radix) {
    Fail(kFieldRadix, Num(p.switch_radix),
         "a slim_fly router of q = " + Num(s.q) + " needs network radix (3q - delta)/2 + hosts_per_router = " +
             Num(s.radix) + " + " + Num(s.hosts_per_router) + " = " + Num(s.radix + s.hosts_per_router) +
             " ports: raise switch_radix (or lower slim_fly_hosts_per_router)");
  }
  s.routers_used = (s.ports + s.hosts_per_router - 1) / s.hosts_per_router;
  s.host = HostLayer::Make(p, true);
  const uint64_t links = s.host.first_switch_link + static_cast<uint64_t>(s.q) * s.q * s.radix;
  if (s.host.first_switch_vertex + static_cast<uint64_t>(s.routers) >= (1ULL << 32) || links >= (1ULL << 32))
    Fail(kFieldNumGpus, Num(p.num_gpus), "fabric too large (vertex and link ids are 32-bit)");
  return s;
}

// The MMS router graph: router (0, x, y) is x q + y, router (1, m, c) is q^2 + m q + c; each router's neighbours
// sorted, with the router-link index (0 .. q^2 k' - 1) of each. Host slots fill routers in `slot` order: first the
// routers of the balanced cut's low half (BisectionLinks), so GPUs [0, N/2) sit there when every router is full.
struct MmsGraph {
  uint32_t q = 0;
  uint32_t radix = 0;
  Field f;
  std::vector<uint8_t> in_x, in_xp;                 // membership of X and X' (by element)
  std::vector<uint32_t> neighbour;                  // [r * radix + i]
  std::vector<uint32_t> link;                       // [r * radix + i]
  std::vector<std::pair<uint32_t, uint32_t>> ends;  // router link -> (lower router, higher router)
  std::vector<uint32_t> slot;                       // host slot -> router

  const uint32_t* Neighbours(uint32_t r) const { return neighbour.data() + static_cast<size_t>(r) * radix; }
  // Router link between a and b, or UINT32_MAX when they are not adjacent.
  uint32_t LinkBetween(uint32_t a, uint32_t b) const {
    const uint32_t* n = Neighbours(a);
    const uint32_t* it = std::lower_bound(n, n + radix, b);
    return it != n + radix && *it == b ? link[static_cast<size_t>(a) * radix + (it - n)] : UINT32_MAX;
  }

  // Calls visit(v) for each common neighbour v of the non-adjacent routers a != b, in a fixed order, until it
  // returns true. O(1) from the construction, except for two routers of one column (O(q)).
  template <class Visit>
  void ForEachCommon(uint32_t a, uint32_t b, Visit visit) const {
    const uint32_t q2 = q * q;
    const uint32_t sa = a / q2, sb = b / q2;
    const uint32_t xa = a % q2 / q, ya = a % q, xb = b % q2 / q, yb = b % q;
    if (sa != sb) {  // (0, x, y) and (1, m, c): via (0, x, m x + c) or (1, m, y - m x)
      const uint32_t x = sa == 0 ? xa : xb, y = sa == 0 ? ya : yb, m = sa == 0 ? xb : xa, c = sa == 0 ? yb : ya;
      const uint32_t mx = f.Mul(m, x);
      const uint32_t y_mid = f.add[mx * q + c];
      if (in_x[f.Sub(y, y_mid)] && visit(x * q + y_mid)) return;
      const uint32_t c_mid = f.Sub(y, mx);
      if (in_xp[f.Sub(c, c_mid)]) visit(q2 + m * q + c_mid);
      return;
    }
    if (xa != xb) {   // two columns of one side: the one router of the other side joined to both
      if (sa == 0) {  // (1, m, c) with y = m x + c for both
        const uint32_t m = f.Mul(f.Sub(ya, yb), f.inv[f.Sub(xa, xb)]);
        visit(q2 + m * q + f.Sub(ya, f.Mul(m, xa)));
      } else {  // (0, x, y) with m x + c equal for both
        const uint32_t x = f.Mul(f.Sub(yb, ya), f.inv[f.Sub(xa, xb)]);
        visit(x * q + f.add[f.Mul(xa, x) * q + ya]);
      }
      return;
    }
    const std::vector<uint8_t>& in = sa == 0 ? in_x : in_xp;  // one column: (s, x, z) next to both
    for (uint32_t z = 0; z < q; ++z)
      if (in[f.Sub(ya, z)] && in[f.Sub(yb, z)] && visit(sa * q2 + xa * q + z)) return;
  }
};

// Exponents e of the generator set X = {xi^e} (Besta & Hoefler, Sec. 3.1); X' = xi X.
std::vector<uint32_t> GeneratorExponents(uint32_t q) {
  std::vector<uint32_t> e;
  const int delta = Delta(q);
  if (delta == -1) {
    const uint32_t w = (q + 1) / 4;
    for (uint32_t i = 0; i <= 2 * w - 2; i += 2) e.push_back(i);
    for (uint32_t i = 2 * w - 1; i <= 4 * w - 3; i += 2) e.push_back(i);
  } else {
    for (uint32_t i = 0; i + (delta == 1 ? 3 : 2) <= q; i += 2) e.push_back(i);
  }
  return e;
}

std::vector<uint32_t> SlotOrder(uint32_t q) {
  // Low half: side 0 columns x <= h and side 1 columns m < h for odd q (h = (q-1)/2), x, m < q/2 for even q.
  const uint32_t lo0 = (q + 1) / 2;
  const uint32_t lo1 = q / 2;
  std::vector<uint32_t> order;
  order.reserve(2 * q * q);
  auto column = [&order, q](uint32_t side, uint32_t x) {
    for (uint32_t y = 0; y < q; ++y) order.push_back(side * q * q + x * q + y);
  };
  for (uint32_t x = 0; x < q; ++x) {
    if (x < lo0) column(0, x);
    if (x < lo1) column(1, x);
  }
  for (uint32_t x = 0; x < q; ++x) {
    if (x >= lo1) column(1, x);
    if (x >= lo0) column(0, x);
  }
  return order;
}

MmsGraph BuildMms(uint32_t q) {
  MmsGraph g;
  g.f = MakeField(q);
  const Field& f = g.f;
  std::vector<uint8_t>& in_x = g.in_x;
  std::vector<uint8_t>& in_xp = g.in_xp;
  in_x.assign(q, 0);
  in_xp.assign(q, 0);
  for (uint32_t e : GeneratorExponents(q)) {
    uint32_t v = 1;
    for (uint32_t i = 0; i < e; ++i) v = f.Mul(v, f.primitive);
    in_x[v] = 1;
    in_xp[f.Mul(v, f.primitive)] = 1;
  }
  g.q = q;
  g.radix = NetworkRadix(q);
  const uint32_t routers = 2 * q * q;
  std::vector<std::vector<uint32_t>> adj(routers);
  auto add = [&](uint32_t a, uint32_t b) {
    adj[a].push_back(b);
    adj[b].push_back(a);
  };
  const uint32_t q2 = q * q;
  for (uint32_t x = 0; x < q; ++x)
    for (uint32_t y = 0; y < q; ++y)
      for (uint32_t y2 = y + 1; y2 < q; ++y2) {
        if (in_x[f.Sub(y, y2)]) add(x * q + y, x * q + y2);             // (0, x, y) ~ (0, x, y'): y - y' in X
        if (in_xp[f.Sub(y, y2)]) add(q2 + x * q + y, q2 + x * q + y2);  // (1, m, c) ~ (1, m, c'): c - c' in X'
      }
  for (uint32_t x = 0; x < q; ++x)
    for (uint32_t m = 0; m < q; ++m)
      for (uint32_t c = 0; c < q; ++c) add(x * q + f.add[f.Mul(m, x) * q + c], q2 + m * q + c);  // y = m x + c
  g.neighbour.resize(static_cast<size_t>(routers) * g.radix);
  g.link.resize(g.neighbour.size());
  for (uint32_t r = 0; r < routers; ++r) {
    if (adj[r].size() != g.radix)
      throw SimulationError("slim_fly: MMS router " + std::to_string(r) + " of q = " + std::to_string(q) + " has " +
                            std::to_string(adj[r].size()) + " neighbours, expected " + std::to_string(g.radix));
    std::sort(adj[r].begin(), adj[r].end());
    std::copy(adj[r].begin(), adj[r].end(), g.neighbour.begin() + static_cast<ptrdiff_t>(r) * g.radix);
  }
  for (uint32_t r = 0; r < routers; ++r) {
    for (uint32_t i = 0; i < g.radix; ++i) {
      const uint32_t s = g.neighbour[static_cast<size_t>(r) * g.radix + i];
      if (r < s) {
        g.link[static_cast<size_t>(r) * g.radix + i] = static_cast<uint32_t>(g.ends.size());
        g.ends.emplace_back(r, s);
      } else {
        g.link[static_cast<size_t>(r) * g.radix + i] = g.LinkBetween(s, r);
      }
    }
  }
  g.slot = SlotOrder(q);
  return g;
}

// Router links across the balanced cut of SlotOrder: only (0, x, .) ~ (1, m, .) links cross, q per column pair.
uint64_t BisectionLinks(uint32_t q) {
  const uint64_t lo0 = (q + 1) / 2, lo1 = q / 2;
  return static_cast<uint64_t>(q) * (lo0 * (q - lo1) + (q - lo0) * lo1);
}

double Bisection(const SlimFlyPlan& s, const FabricParams& p) {
  const double half_ports = static_cast<double>(s.ports) * p.nic_bandwidth_gbps / 2;
  if (s.routers_used < 2) return half_ports;
  return std::min(half_ports, static_cast<double>(BisectionLinks(s.q)) * p.nic_bandwidth_gbps);
}

// Switches on the longest route: 1 when all NIC ports share a router, 2 when every pair of used routers is adjacent,
// else 3 (diameter 2 of the MMS graph).
void Diameter(const SlimFlyPlan& s, const MmsGraph& g, Inventory& inv) {
  if (s.ports < 2 || s.host.gpus < 2) return;
  if (s.host.scale_up && s.host.domains == 1) {
    inv.diameter_hops = 1;
    inv.diameter_links = 2;
    return;
  }
  uint32_t switches = s.routers_used >= 2 ? 2 : 1;
  for (uint64_t a = 0; a < s.routers_used && switches < 3; ++a)
    for (uint64_t b = a + 1; b < s.routers_used && switches < 3; ++b)
      if (g.LinkBetween(g.slot[a], g.slot[b]) == UINT32_MAX) switches = 3;
  inv.diameter_hops = switches;
  inv.diameter_links = switches + 3;
}

Inventory PlanOf(const SlimFlyPlan& s, const MmsGraph& g, const FabricParams& p) {
  Inventory inv = HostInventory(p, s.host, true);
  inv.switches_per_tier.push_back(s.routers);
  inv.links_per_kind[static_cast<size_t>(LinkKind::kRouterLink)] = g.ends.size();
  FinishInventory(inv);
  inv.bisection_bandwidth_gbps = Bisection(s, p);
  Diameter(s, g, inv);
  return inv;
}

class SlimFlyFabric : public Fabric {
 public:
  SlimFlyFabric(const FabricParams& params, const SlimFlyPlan& plan)
      : Fabric(params), s_(plan), h_(plan.host), g_(BuildMms(plan.q)) {
    params_.planes = 1;
    params_.slim_fly_q = s_.q;
    params_.slim_fly_hosts_per_router = s_.hosts_per_router;
    const RoutingInfo& routing = FindRouting(params.topology, params.routing);
    params_.routing = routing.name;
    ecmp_ = routing.choice != RouteChoice::kStatic;
    scale_out_endpoints_ = s_.ports;
    Build();
  }

  void Route(uint32_t src, uint32_t dst, uint64_t flow_id, std::vector<Hop>& out) const override {
    if (h_.RouteWithinDomain(src, dst, out)) return;
    const bool ecmp = ecmp_;
    const uint32_t n = h_.nics_per_gpu;
    Chooser c(ecmp, ecmp ? FlowHash(src, dst, flow_id, params_.seed) : dst);
    const uint32_t port = c.Pick(n);
    const uint32_t rs = RouterOf(src * n + port);
    const uint32_t rd = RouterOf(dst * n + port);
    h_.Up(src, port, out);
    if (rs != rd) {
      const uint32_t direct = g_.LinkBetween(rs, rd);
      if (direct != UINT32_MAX) {
        out.push_back(RouterHop(direct, rs));
      } else {
        const uint32_t mid = Intermediate(rs, rd, c);
        out.push_back(RouterHop(g_.LinkBetween(rs, mid), rs));
        out.push_back(RouterHop(g_.LinkBetween(mid, rd), mid));
      }
    }
    h_.Down(dst, port, out);
  }

  Inventory ComputeInventory() const override {
    Inventory inv = Fabric::ComputeInventory();
    inv.bisection_bandwidth_gbps = Bisection(s_, params_);
    Diameter(s_, g_, inv);
    return inv;
  }

 private:
  uint32_t RouterOf(uint32_t nic_port) const { return g_.slot[nic_port / s_.hosts_per_router]; }
  Hop RouterHop(uint32_t router_link, uint32_t from) const {
    return Hop{router_link_base_ + router_link, g_.ends[router_link].first == from};
  }
  // One of the common neighbours of two non-adjacent routers (ECMP pick among them; there is at least one at
  // diameter 2). Two passes over MmsGraph::ForEachCommon, no allocation.
  uint32_t Intermediate(uint32_t a, uint32_t b, Chooser& c) const {
    uint32_t paths = 0;
    g_.ForEachCommon(a, b, [&paths](uint32_t) { return ++paths == 0; });
    if (paths == 0)
      throw SimulationError("slim_fly: routers " + std::to_string(a) + " and " + std::to_string(b) +
                            " are more than 2 hops apart");
    uint32_t pick = c.Pick(paths);
    uint32_t mid = 0;
    g_.ForEachCommon(a, b, [&](uint32_t v) {
      mid = v;
      return pick-- == 0;
    });
    return mid;
  }

  void Build() {
    const FabricParams& p = params_;
    const uint32_t n = h_.nics_per_gpu;
    for (uint32_t g = 0; g < h_.gpus; ++g) AddVertex({VertexKind::kGpu, 0, 0, g});
    for (uint32_t x = 0; x < h_.domains; ++x) AddVertex({VertexKind::kScaleUpSwitch, 0, 0, x});
    for (uint32_t e = 0; e < h_.gpus * n; ++e) AddVertex({VertexKind::kNic, 0, 0, e});
    const uint32_t router_base = h_.first_switch_vertex;
    for (uint32_t r = 0; r < s_.routers; ++r) AddVertex({VertexKind::kRouter, 1, 0, r});
    if (h_.scale_up) {
      for (uint32_t g = 0; g < h_.gpus; ++g)
        AddLink(g, h_.gpus + g / h_.domain, LinkKind::kScaleUp, p.scale_up_bandwidth_gbps, p.scale_up_latency_ns);
    }
    for (uint32_t e = 0; e < h_.gpus * n; ++e)
      AddLink(e / n, h_.nic_base + e, LinkKind::kPcie, p.pcie_bandwidth_gbps, p.link_latency_ns);
    const double endpoint_latency = EndpointLatencyNs(p);
    for (uint32_t e = 0; e < h_.gpus * n; ++e)
      AddLink(h_.nic_base + e, router_base + RouterOf(e), LinkKind::kNicToLeaf, p.nic_bandwidth_gbps, endpoint_latency);
    router_link_base_ = num_links();
    const double switch_latency = SwitchLinkLatencyNs(p);
    for (const auto& [a, b] : g_.ends)
      AddLink(router_base + a, router_base + b, LinkKind::kRouterLink, p.nic_bandwidth_gbps, switch_latency);
    Finalize();
  }

  SlimFlyPlan s_;
  HostLayer h_;
  MmsGraph g_;
  bool ecmp_ = true;  // false: destination-based choices (routing "static")
  uint32_t router_link_base_ = 0;
};

}  // namespace

Inventory PlanSlimFly(const FabricParams& p) {
  const SlimFlyPlan s = MakePlan(p);
  return PlanOf(s, BuildMms(s.q), p);
}

std::unique_ptr<Fabric> BuildSlimFly(const FabricParams& p) { return std::make_unique<SlimFlyFabric>(p, MakePlan(p)); }

}  // namespace clustersim::topo::internal
