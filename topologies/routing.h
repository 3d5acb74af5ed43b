// Routing by name: the registry of routing schemes and the fabrics each applies to (docs/topologies.md, "Routing by
// name"). A scheme says how Fabric::Route picks among alternatives (hashed per flow, destination-based, or Valiant)
// and whether the simulator refines the choice per phase by load (adaptive, UGAL) or bundles Clos up-links (spray).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace clustersim::topo {

enum class RouteChoice : uint8_t {
  kHashed,   // ECMP: a hash of (src, dst, flow id, seed) picks among equal-cost paths
  kStatic,   // destination-based (d-mod-k): every flow to one destination takes the same choices
  kValiant,  // dragonfly: via a hashed intermediate group (non-minimal)
  kParity,   // torus: a half-way tie goes + when the router's coordinates sum to an even number, - otherwise
};
enum class LoadAwareness : uint8_t {
  kNone,
  kLeastLoaded,  // "adaptive": per flow, the candidate path whose busiest link carries the fewest placed flows
  kUgal,         // "ugal": per flow, minimal unless the Valiant path's first global link is less loaded x hops
};

struct RoutingInfo {
  const char* name;
  const char* description;
  const char* fabrics;  // comma-separated generator names it applies to
  RouteChoice choice;
  LoadAwareness load;
  bool spray;  // Clos up-links of a switch (and of a pod) share load perfectly: one bundled link in the platform
};

// The registry row `name` for fabric `topology`; empty `name` = the fabric's default (DefaultRouting). Throws
// InputError naming cluster.scale_out.routing, the value and the names that fabric accepts.
const RoutingInfo& FindRouting(const std::string& topology, const std::string& name);
// Whether scheme `name` (empty = the default) applies to fabric `topology`, and the names that do (for messages).
bool RoutingApplies(const std::string& topology, const std::string& name);
std::string RoutingNames(const std::string& topology);
// The default scheme of a fabric: "spray" for the Clos family, "minimal" for dragonfly, "parity" for torus, "ecmp"
// for slim_fly and none.
const char* DefaultRouting(const std::string& topology);
// Every registered scheme (for `clustersim list` and the docs).
std::vector<RoutingInfo> ListRoutings();

}  // namespace clustersim::topo
