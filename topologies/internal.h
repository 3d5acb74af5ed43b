// Internals shared by the fabric generators (not part of the layer's public interface).
//
// Every generator validates its parameters and computes a shape (closed-form sizes) first; PlanInventory() stops
// there, BuildFabric() goes on to build the graph from the same shape, so the two always agree.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "topologies/fabric.h"

namespace clustersim::topo::internal {

// Scenario field names used in error messages.
inline constexpr const char* kFieldNumGpus = "cluster.num_gpus";
inline constexpr const char* kFieldGpusPerNode = "cluster.scale_up.gpus_per_node";
inline constexpr const char* kFieldDomain = "cluster.scale_up.domain_size";
inline constexpr const char* kFieldScaleUpBandwidth = "cluster.scale_up.bandwidth_gbyte_per_s";
inline constexpr const char* kFieldScaleUpLatency = "cluster.scale_up.latency_ns";
inline constexpr const char* kFieldTopology = "cluster.scale_out.topology";
inline constexpr const char* kFieldNicsPerGpu = "cluster.scale_out.nics_per_gpu";
inline constexpr const char* kFieldNicBandwidth = "cluster.scale_out.nic_bandwidth_gbps";
inline constexpr const char* kFieldPcieBandwidth = "cluster.scale_out.pcie_bandwidth_gbps";
inline constexpr const char* kFieldLinkLatency = "cluster.scale_out.link_latency_ns";
inline constexpr const char* kFieldSwitchLatency = "cluster.scale_out.switch_latency_ns";
inline constexpr const char* kFieldRadix = "cluster.scale_out.switch_radix";
inline constexpr const char* kFieldTiers = "cluster.scale_out.tiers";
inline constexpr const char* kFieldOversubscription = "cluster.scale_out.oversubscription";
inline constexpr const char* kFieldPlanes = "cluster.scale_out.planes";
inline constexpr const char* kFieldDfRouters = "cluster.scale_out.dragonfly_routers_per_group";
inline constexpr const char* kFieldDfHosts = "cluster.scale_out.dragonfly_hosts_per_router";
inline constexpr const char* kFieldDfGlobal = "cluster.scale_out.dragonfly_global_links_per_router";
inline constexpr const char* kFieldDfSpray = "cluster.scale_out.dragonfly_spray_paths";
inline constexpr const char* kFieldTorusDims = "cluster.scale_out.torus_dims";
inline constexpr const char* kFieldSlimFlyQ = "cluster.scale_out.slim_fly_q";
inline constexpr const char* kFieldSlimFlyHosts = "cluster.scale_out.slim_fly_hosts_per_router";

// Entries of Inventory::links_per_kind (one per LinkKind).
inline constexpr size_t kNumLinkKinds = static_cast<size_t>(LinkKind::kRouterLink) + 1;

// Throws InputError::Field with no file/line (the scenario loader adds its own context).
[[noreturn]] void Fail(const std::string& field, const std::string& value, const std::string& rule);
std::string Num(double v);  // compact decimal rendering of a number for messages
std::string Num(uint64_t v);
std::string Num(uint32_t v);

// Deterministic ECMP hashing: splitmix64 (Steele, Lea, Flood 2014).
inline uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
inline uint64_t FlowHash(uint32_t src, uint32_t dst, uint64_t flow_id, uint64_t seed) {
  uint64_t h = SplitMix64(seed ^ 0x5ca1ab1e0ddba11ULL);
  h = SplitMix64(h ^ ((static_cast<uint64_t>(src) << 32) | dst));
  return SplitMix64(h ^ flow_id);
}

// Successive choices among n equal-cost alternatives. ECMP: each pick draws from a splitmix64 stream seeded by the
// flow hash. Static: mixed-radix digits of a destination key (d-mod-k: first pick = key % n1, next = key / n1 % n2).
class Chooser {
 public:
  Chooser(bool ecmp, uint64_t state) : ecmp_(ecmp), state_(state) {}
  uint32_t Pick(uint32_t n) {
    if (n <= 1) return 0;
    if (ecmp_) {
      state_ = SplitMix64(state_);
      return static_cast<uint32_t>(state_ % n);
    }
    const auto r = static_cast<uint32_t>(state_ % n);
    state_ /= n;
    return r;
  }
  // Pick(n) when `valid` accepts it; otherwise uniformly among the valid alternatives (a further draw, hashed from
  // the state for static routing), or n when none is valid. On a healthy fabric it is Pick(n).
  template <class Valid>
  uint32_t PickValid(uint32_t n, Valid valid) {
    const uint32_t first = Pick(n);
    if (valid(first)) return first;
    uint32_t count = 0;
    for (uint32_t i = 0; i < n; ++i) count += valid(i) ? 1 : 0;
    if (count == 0) return n;
    extra_ = SplitMix64(extra_ ^ state_ ^ 0xa11ce);
    uint32_t k = static_cast<uint32_t>(extra_ % count);
    for (uint32_t i = 0; i < n; ++i) {
      if (valid(i) && k-- == 0) return i;
    }
    return n;
  }

 private:
  bool ecmp_;
  uint64_t state_;
  uint64_t extra_ = 0;
};

// Checks shared by every generator: GPU count, node size, scale-up domain and, when `scale_out` is true, the NIC
// and scale-out link parameters.
void ValidateCommon(const FabricParams& p, bool scale_out);

// The part of a fabric below the scale-out switches: GPUs, one logical scale-up switch per domain, NICs.
// Vertex layout: GPUs [0, G), scale-up switches [G, G + domains) when present, NICs [nic_base, nic_base + G*n).
// Link layout: scale-up links [0, G) (link g joins GPU g to its domain switch, GPU as source) when present; PCIe
// links [pcie_base, pcie_base + G*n) (GPU as source); NIC-to-switch links [nic_link_base, nic_link_base + G*n)
// (NIC as source); NIC port e = g * nics_per_gpu + p is vertex nic_base + e.
struct HostLayer {
  uint32_t gpus = 0;
  uint32_t nics_per_gpu = 0;
  uint32_t domain = 1;
  bool scale_up = false;  // a scale-up switch per domain (domain > 1)
  uint32_t domains = 0;
  uint32_t nic_base = 0;  // first NIC vertex
  uint32_t first_switch_vertex = 0;
  uint32_t pcie_base = 0;
  uint32_t nic_link_base = 0;
  uint32_t first_switch_link = 0;  // first link above the NICs

  static HostLayer Make(const FabricParams& p, bool scale_out);
  uint32_t PcieLink(uint32_t gpu, uint32_t port) const { return pcie_base + gpu * nics_per_gpu + port; }
  uint32_t NicLink(uint32_t gpu, uint32_t port) const { return nic_link_base + gpu * nics_per_gpu + port; }
  uint32_t NicVertex(uint32_t gpu, uint32_t port) const { return nic_base + gpu * nics_per_gpu + port; }
  // Appends GPU a -> scale-up switch -> GPU b (a, b in the same domain, a != b).
  void ScaleUpHops(uint32_t a, uint32_t b, std::vector<Hop>& out) const {
    out.push_back(Hop{a, true});
    out.push_back(Hop{b, false});
  }
  // The route of a pair that needs no scale-out fabric: nothing for src == dst, the scale-up hops for two GPUs of one
  // domain. Returns whether the route is complete.
  bool RouteWithinDomain(uint32_t src, uint32_t dst, std::vector<Hop>& out) const {
    if (src == dst) return true;
    if (!scale_up || src / domain != dst / domain) return false;
    ScaleUpHops(src, dst, out);
    return true;
  }
  void Up(uint32_t gpu, uint32_t port, std::vector<Hop>& out) const {
    out.push_back(Hop{PcieLink(gpu, port), true});
    out.push_back(Hop{NicLink(gpu, port), true});
  }
  void Down(uint32_t gpu, uint32_t port, std::vector<Hop>& out) const {
    out.push_back(Hop{NicLink(gpu, port), false});
    out.push_back(Hop{PcieLink(gpu, port), false});
  }
};

// Per-link latencies. A route through a switched fabric always enters and leaves through two NIC-to-switch links
// and crosses (switch-to-switch links + 1) switches, so charging half a switch latency on each NIC-to-switch link
// and a full one on each switch-to-switch link makes every route's latency sum exact in both directions.
inline double EndpointLatencyNs(const FabricParams& p) { return p.link_latency_ns + 0.5 * p.switch_latency_ns; }
inline double SwitchLinkLatencyNs(const FabricParams& p) { return p.link_latency_ns + p.switch_latency_ns; }

// Closed-form part of an inventory shared by the host layer: GPUs, nodes, NICs, scale-up switches and their links.
Inventory HostInventory(const FabricParams& p, const HostLayer& h, bool scale_out);
// Fills switch_links, endpoint_links and transceivers from links_per_kind.
void FinishInventory(Inventory& inv);

// A generator's entry points. `plan` validates and returns the closed-form inventory; `build` builds the fabric.
struct Generator {
  const char* name;
  const char* description;
  Inventory (*plan)(const FabricParams&);
  std::unique_ptr<Fabric> (*build)(const FabricParams&);
};

// Per-generator entry points (tree.cpp, dragonfly.cpp, slim_fly.cpp, torus.cpp: torus and "none").
Inventory PlanFatTree(const FabricParams& p);
Inventory PlanRailOptimized(const FabricParams& p);
Inventory PlanRailOnly(const FabricParams& p);
Inventory PlanMultiPlane(const FabricParams& p);
Inventory PlanDragonfly(const FabricParams& p);
Inventory PlanSlimFly(const FabricParams& p);
Inventory PlanTorus(const FabricParams& p);
Inventory PlanScaleUpOnly(const FabricParams& p);
std::unique_ptr<Fabric> BuildFatTree(const FabricParams& p);
std::unique_ptr<Fabric> BuildRailOptimized(const FabricParams& p);
std::unique_ptr<Fabric> BuildRailOnly(const FabricParams& p);
std::unique_ptr<Fabric> BuildMultiPlane(const FabricParams& p);
std::unique_ptr<Fabric> BuildDragonfly(const FabricParams& p);
std::unique_ptr<Fabric> BuildSlimFly(const FabricParams& p);
std::unique_ptr<Fabric> BuildTorus(const FabricParams& p);
std::unique_ptr<Fabric> BuildScaleUpOnly(const FabricParams& p);

}  // namespace clustersim::topo::internal
