// Torus (TPU ICI style) and scale-up-only ("none") fabrics.
//
// Torus: GPUs are the routers; GPU g has coordinates x_d = (g / stride_d) % n_d with stride_0 = 1 and
// stride_d = n_0 * ... * n_{d-1}. Dimension d (n_d >= 2) holds one link per GPU, from g to its + neighbour (with
// wrap-around), id dim_base_d + g, GPU g as source; a dimension of size 2 thus has two parallel links per pair.
// Dimension-order routing along the shorter way round; a tie (n_d even, distance n_d / 2) goes by routing: "parity"
// (default) + from a router whose coordinates along the even dimensions sum to an even number, - otherwise; "ecmp"
// hashes the flow; "static" always +.
#include <algorithm>

#include "topologies/internal.h"
#include "topologies/routing.h"

namespace clustersim::topo::internal {
namespace {

struct TorusPlan {
  uint32_t gpus = 0;
  std::vector<uint32_t> dims;
  std::vector<uint32_t> strides;
  uint32_t active_dims = 0;  // dimensions of size >= 2
  double link_bandwidth_gbps = 0;
};

TorusPlan MakePlan(const FabricParams& p) {
  ValidateCommon(p, false);
  if (p.planes > 1) Fail(kFieldPlanes, Num(p.planes), "only multi_plane reads planes; must be 0 or 1 for torus");
  TorusPlan t;
  t.gpus = p.num_gpus;
  if (p.torus_dims.empty() || p.torus_dims.size() > 3) {
    std::string count = Num(static_cast<uint64_t>(p.torus_dims.size()));
    count += " values";
    Fail(kFieldTorusDims, count, "must list 1, 2 or 3 dimensions");
  }
  uint64_t product = 1;
  std::string shown;
  for (uint32_t n : p.torus_dims) {
    if (!shown.empty()) shown += 'x';
    shown += Num(n);
    if (n == 0) Fail(kFieldTorusDims, shown, "every dimension must be >= 1");
    product *= n;
  }
  if (product != p.num_gpus) {
    Fail(kFieldTorusDims, shown,
         "product " + Num(product) + " must equal " + std::string(kFieldNumGpus) + " = " + Num(p.num_gpus));
  }
  uint32_t stride = 1;
  for (uint32_t n : p.torus_dims) {
    t.dims.push_back(n);
    t.strides.push_back(stride);
    stride *= n;
    if (n >= 2) ++t.active_dims;
  }
  if (t.active_dims > 0) {
    if (!(p.scale_up_bandwidth_gbps > 0)) {
      Fail(kFieldScaleUpBandwidth, Num(p.scale_up_bandwidth_gbps / 8),
           "must be > 0 (a torus splits it over the GPU's 2 x dimensions links)");
    }
    if (!(p.scale_up_latency_ns >= 0)) Fail(kFieldScaleUpLatency, Num(p.scale_up_latency_ns), "must be >= 0");
    t.link_bandwidth_gbps = p.scale_up_bandwidth_gbps / (2.0 * t.active_dims);
  }
  if (static_cast<uint64_t>(p.num_gpus) * t.active_dims >= (1ULL << 32)) {
    Fail(kFieldNumGpus, Num(p.num_gpus), "fabric too large (link ids are 32-bit)");
  }
  return t;
}

void TorusDiameterAndBisection(const TorusPlan& t, Inventory& inv) {
  uint32_t diameter = 0;
  uint32_t largest = 1;
  for (uint32_t n : t.dims) {
    diameter += n / 2;
    largest = std::max(largest, n);
  }
  inv.diameter_hops = diameter;
  inv.diameter_links = diameter;
  // Cutting the largest dimension in half crosses two links (one direct, one wrap-around) per ring along it.
  inv.bisection_bandwidth_gbps = largest >= 2 ? 2.0 * t.gpus / largest * t.link_bandwidth_gbps : 0;
}

class TorusFabric : public Fabric {
 public:
  TorusFabric(const FabricParams& params, const TorusPlan& plan) : Fabric(params), t_(plan) {
    params_.planes = 1;
    const RoutingInfo& routing = FindRouting(params.topology, params.routing);
    params_.routing = routing.name;
    ecmp_ = routing.choice == RouteChoice::kHashed;
    parity_ = routing.choice == RouteChoice::kParity;
    for (uint32_t g = 0; g < t_.gpus; ++g) AddVertex({VertexKind::kGpu, 0, 0, g});
    uint32_t base = 0;
    for (size_t d = 0; d < t_.dims.size(); ++d) {
      dim_base_.push_back(base);
      const uint32_t n = t_.dims[d];
      if (n < 2) continue;
      for (uint32_t g = 0; g < t_.gpus; ++g) {
        AddLink(g, Step(g, d, true), LinkKind::kTorus, t_.link_bandwidth_gbps, params_.scale_up_latency_ns);
      }
      base += t_.gpus;
    }
    Finalize();
  }

  void Route(uint32_t src, uint32_t dst, uint64_t flow_id, std::vector<Hop>& out) const override {
    if (src == dst) return;
    const bool ecmp = ecmp_;
    Chooser c(ecmp, ecmp ? FlowHash(src, dst, flow_id, params_.seed) : 0);
    uint32_t cur = src;
    for (size_t d = 0; d < t_.dims.size(); ++d) {
      const uint32_t n = t_.dims[d];
      const uint32_t a = (cur / t_.strides[d]) % n;
      const uint32_t b = (dst / t_.strides[d]) % n;
      const uint32_t ahead = (b + n - a) % n;
      if (ahead == 0) continue;
      bool plus = ahead < n - ahead;
      if (2 * ahead == n) plus = parity_ ? CoordinateSum(cur) % 2 == 0 : c.Pick(2) == 0;
      const uint32_t steps = plus ? ahead : n - ahead;
      // Walk the ring with the coordinate kept at hand (Step without its divisions): the link leaving GPU g in the
      // + direction of d is dim_base_[d] + g; the - direction uses the link leaving the next GPU down.
      const uint32_t s = t_.strides[d];
      const uint32_t row = cur - a * s;  // cur with its coordinate along d set to 0
      uint32_t x = a;
      for (uint32_t i = 0; i < steps; ++i) {
        if (plus) {
          out.push_back(Hop{dim_base_[d] + row + x * s, true});
          x = x + 1 == n ? 0 : x + 1;
        } else {
          x = x == 0 ? n - 1 : x - 1;
          out.push_back(Hop{dim_base_[d] + row + x * s, false});
        }
      }
      cur = row + x * s;
    }
  }

  Inventory ComputeInventory() const override {
    Inventory inv = Fabric::ComputeInventory();
    TorusDiameterAndBisection(t_, inv);
    return inv;
  }

 private:
  // Neighbour of g one step along dimension d, with wrap-around.
  uint32_t Step(uint32_t g, size_t d, bool plus) const {
    const uint32_t n = t_.dims[d];
    const uint32_t s = t_.strides[d];
    const uint32_t x = (g / s) % n;
    const uint32_t y = plus ? (x + 1) % n : (x + n - 1) % n;
    return g - x * s + y * s;
  }

  // Sum of g's coordinates along the dimensions of even size (only those can tie; an odd dimension would make the
  // parity change when a translation wraps round it).
  uint32_t CoordinateSum(uint32_t g) const {
    uint32_t sum = 0;
    for (size_t d = 0; d < t_.dims.size(); ++d)
      if (t_.dims[d] % 2 == 0) sum += (g / t_.strides[d]) % t_.dims[d];
    return sum;
  }

  TorusPlan t_;
  bool ecmp_ = true;
  bool parity_ = false;
  std::vector<uint32_t> dim_base_;
};

// "none": GPUs and one scale-up switch per domain; every GPU must share the single domain.
void ValidateScaleUpOnly(const FabricParams& p) {
  ValidateCommon(p, false);
  if (p.planes > 1) Fail(kFieldPlanes, Num(p.planes), "only multi_plane reads planes; must be 0 or 1 for none");
  if (p.num_gpus > p.scale_up_domain) {
    Fail(kFieldDomain, Num(p.scale_up_domain),
         "topology \"none\" has no scale-out fabric: must be >= " + std::string(kFieldNumGpus) + " = " +
             Num(p.num_gpus));
  }
}

void ScaleUpOnlyDiameter(const FabricParams& p, Inventory& inv) {
  if (p.num_gpus >= 2) {
    inv.diameter_hops = 1;
    inv.diameter_links = 2;
  }
}

class ScaleUpOnlyFabric : public Fabric {
 public:
  explicit ScaleUpOnlyFabric(const FabricParams& params) : Fabric(params), h_(HostLayer::Make(params, false)) {
    params_.planes = 1;
    for (uint32_t g = 0; g < h_.gpus; ++g) AddVertex({VertexKind::kGpu, 0, 0, g});
    for (uint32_t x = 0; x < h_.domains; ++x) AddVertex({VertexKind::kScaleUpSwitch, 0, 0, x});
    if (h_.scale_up) {
      for (uint32_t g = 0; g < h_.gpus; ++g) {
        AddLink(g, h_.gpus + g / h_.domain, LinkKind::kScaleUp, params_.scale_up_bandwidth_gbps,
                params_.scale_up_latency_ns);
      }
    }
    Finalize();
  }

  void Route(uint32_t src, uint32_t dst, uint64_t, std::vector<Hop>& out) const override {
    if (src != dst) h_.ScaleUpHops(src, dst, out);
  }

  Inventory ComputeInventory() const override {
    Inventory inv = Fabric::ComputeInventory();
    ScaleUpOnlyDiameter(params_, inv);
    return inv;
  }

 private:
  HostLayer h_;
};

}  // namespace

Inventory PlanTorus(const FabricParams& p) {
  const TorusPlan t = MakePlan(p);
  Inventory inv;
  inv.gpus = p.num_gpus;
  inv.nodes = p.num_gpus / p.gpus_per_node;
  inv.links_per_kind.assign(kNumLinkKinds, 0);
  inv.links_per_kind[static_cast<size_t>(LinkKind::kTorus)] = static_cast<uint64_t>(t.gpus) * t.active_dims;
  FinishInventory(inv);
  TorusDiameterAndBisection(t, inv);
  return inv;
}

std::unique_ptr<Fabric> BuildTorus(const FabricParams& p) { return std::make_unique<TorusFabric>(p, MakePlan(p)); }

Inventory PlanScaleUpOnly(const FabricParams& p) {
  ValidateScaleUpOnly(p);
  Inventory inv = HostInventory(p, HostLayer::Make(p, false), false);
  FinishInventory(inv);
  ScaleUpOnlyDiameter(p, inv);
  return inv;
}

std::unique_ptr<Fabric> BuildScaleUpOnly(const FabricParams& p) {
  ValidateScaleUpOnly(p);
  return std::make_unique<ScaleUpOnlyFabric>(p);
}

}  // namespace clustersim::topo::internal
