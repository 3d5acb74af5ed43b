// SimGrid platform built from a topology Fabric: one SimGrid host per GPU and one SimGrid link per direction of
// every fabric link, in a single custom NetZone whose routes come from Fabric::Route (no route tables, so a
// 131,072-GPU fabric builds in seconds; see docs/architecture.md and ../shared/notes/simgrid-3.32-at-scale.md).
//
// Only usable inside the process that owns the SimGrid engine (see sim/child_process.h). Link bandwidths are scaled by
// the protocol efficiency of their class, so SimGrid's max-min sharing sees achievable, not line-rate, capacities.
// A GPU-to-NIC PCIe link that can never be the bottleneck (its bandwidth is at least the NIC's) is not created in
// SimGrid; its latency is still charged on the route. With PlatformOptions::spray, Clos switch-to-switch cables are
// bundled per switch (leaf tier) and per pod (next tier), see PlatformOptions.
#pragma once

#include <simgrid/s4u.hpp>

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "sim/network/collectives.h"
#include "topologies/fabric.h"

namespace clustersim::sim {

struct PlatformOptions {
  double host_speed_flops = 1e15;     // SimGrid host speed (FLOP/s) used by executions
  double scale_up_efficiency = 1.0;   // applied to kScaleUp links
  double scale_out_efficiency = 1.0;  // applied to every other link
  // Adaptive routing / packet spraying: the up-links of a switch (and, one tier higher, of all switches of its pod)
  // are interchangeable, so they become one SimGrid link of their summed capacity per direction. Routes then load
  // them perfectly evenly, and equal flows finish together (few simulation events). When false, every cable is its
  // own SimGrid link and ECMP hash collisions show up (slower to simulate at scale).
  bool spray = true;
};

class FabricZone;

// Routes that replace the fabric's for some host pairs while one phase is solved (the class reduction of
// sim/network/flow_classes.h): each hop names a SimGrid link (index into Platform::links()) and how many times the
// route crosses it, which SimGrid's max-min system counts as that many units of the flow's rate on the link.
struct RouteOverride {
  struct Hop {
    uint32_t link = 0;
    uint32_t times = 1;
  };
  struct Route {
    uint32_t first = 0;  // into hops
    uint32_t count = 0;
    double latency_s = 0;
  };
  std::unordered_map<uint64_t, uint32_t> by_pair;  // (src << 32 | dst) -> index into routes
  std::vector<Route> routes;
  std::vector<Hop> hops;
  void Clear() {
    by_pair.clear();
    routes.clear();
    hops.clear();
  }
  static uint64_t Key(uint32_t src, uint32_t dst) { return static_cast<uint64_t>(src) << 32 | dst; }
};

class Platform {
 public:
  // Builds and seals the platform in `engine`'s root. The fabric must outlive the Platform.
  Platform(simgrid::s4u::Engine& engine, const topo::Fabric& fabric, const PlatformOptions& options);
  simgrid::s4u::Host* host(uint32_t gpu) const { return hosts_[gpu]; }
  uint32_t num_hosts() const { return static_cast<uint32_t>(hosts_.size()); }
  uint64_t num_links() const { return links_created_; }
  const topo::Fabric& fabric() const { return fabric_; }
  // The SimGrid links (by name) and latency that the graph route from `src` to `dst` maps to, as the zone hands them
  // to SimGrid; for tests that compare it with what SimGrid itself resolves (Host::route_to).
  std::vector<std::string> GraphRouteLinkNames(uint32_t src, uint32_t dst, double* latency_s) const;

  // Every SimGrid link created, indexed 0..num_links()-1: its class, capacity and the fabric link it stands for (a
  // bundle: one member of the bundle); LinkName(i) renders a readable name on demand (not stored: 10^5-10^6 links).
  struct LinkInfo {
    topo::LinkKind kind;
    double capacity_bytes_per_s = 0;
    uint32_t fabric_link = 0;
    bool forward = true;  // fabric link source -> target (for a bundle: up)
    bool bundle = false;
  };
  const std::vector<LinkInfo>& links() const;
  // e.g. "nic_to_leaf nic 0 -> leaf 0", "leaf_to_spine up-links of leaf 3 (bundle, up)".
  std::string LinkName(size_t index) const;
  // The hops of the route src -> dst as SimGrid sees it: (index into links(), or -1 for a hop with no SimGrid link,
  // such as a PCIe link that cannot be a bottleneck; latency in seconds). `out` is cleared first. Not thread-safe
  // (reuses a scratch buffer). A route of RouteParts(src, dst) = k > 1 parts (per-packet spreading,
  // topo::Fabric::RouteParts) lists every part's hops, links shared by the parts once per part, each latency / k:
  // the latencies sum to the parts' mean, and a flow of B bytes puts B / k on each hop listed.
  void RouteHops(uint32_t src, uint32_t dst, std::vector<std::pair<int32_t, double>>& out) const;
  // Parts of the route src -> dst: SimGrid solves a flow of B bytes between them as one comm of B / parts whose rate
  // is each part's (the parts share the flow evenly, as packets sprayed in turn over them).
  uint32_t RouteParts(uint32_t src, uint32_t dst) const;
  // Sets SimGrid link `index` (into links()) to `factor` times its built capacity (1 restores it). For symmetry
  // reductions that solve one of several identical sub-problems on links they share (sim/network/comm_cost.h). Call from
  // an actor, between phases.
  void SetCapacityFactor(uint32_t index, double factor);
  // Takes `bytes_per_s` (< its capacity) off SimGrid link `index` for the rest of the run: traffic this process does
  // not simulate (other jobs' background, sim/placement.h). SetCapacityFactor then scales what is left. Call
  // before the first phase or between phases.
  void Reserve(uint32_t index, double bytes_per_s);
  // SimGrid link `index`'s current capacity, bytes/s (Reserve and SetCapacityFactor included).
  double CurrentCapacity(uint32_t index) const;
  // While `routes` is set (not null; it must outlive the setting), SimGrid resolves the host pairs it lists with
  // its routes instead of the fabric's; nullptr restores the fabric's routes. Call between phases.
  void SetRouteOverride(const RouteOverride* routes);
  // Load-aware routing ("adaptive", "ugal": the fabric offers RouteCandidates() > 1). Places `flows` (distinct
  // pairs) in order, each on the candidate route the routing prefers given the flows placed before it: "adaptive"
  // the one whose busiest SimGrid link carries the fewest placed flows (then the fewest in sum; then the lower
  // candidate), "ugal" minimal unless (flows on the Valiant path's first global link + 1) x its links is smaller
  // than the same for the minimal path. A flow spread over parts (RouteParts > 1) is placed part by part, each part
  // counting as one flow. Until ClearPlacement(), RouteHops and SimGrid's routes follow the choices.
  // Does nothing for other routings. Call between phases.
  void PlaceFlows(const std::vector<Flow>& flows);
  void ClearPlacement();
  bool load_aware() const;

 private:
  const topo::Fabric& fabric_;
  FabricZone* zone_ = nullptr;
  std::vector<simgrid::s4u::Host*> hosts_;
  uint64_t links_created_ = 0;
};

}  // namespace clustersim::sim
