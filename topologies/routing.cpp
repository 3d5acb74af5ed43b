// The routing registry; see routing.h.
#include "topologies/routing.h"

#include <sstream>

#include "common/error.h"

namespace clustersim::topo {
namespace {

constexpr const char* kClos = "fat_tree,rail_optimized,rail_only,multi_plane";

// One row per scheme. Adding a scheme means adding a row here (and its path choice in the generators).
constexpr RoutingInfo kRoutings[] = {
    {"spray", "per-packet spraying / adaptive routing: the up-links of a switch share load perfectly", kClos,
     RouteChoice::kHashed, LoadAwareness::kNone, true},
    {"ecmp", "per-flow ECMP hashing with the scenario seed (hash collisions show)",
     "fat_tree,rail_optimized,rail_only,multi_plane,torus,slim_fly,none", RouteChoice::kHashed, LoadAwareness::kNone,
     false},
    {"parity",
     "torus dimension-order routing; a half-way tie goes + from a router whose coordinates (of the even "
     "dimensions) sum to an even number, - otherwise (no per-flow hash: routes are the same up to translation)",
     "torus", RouteChoice::kParity, LoadAwareness::kNone, false},
    {"static", "destination-based (d-mod-k): every flow to one destination takes the same path",
     "fat_tree,rail_optimized,rail_only,multi_plane,dragonfly,torus,slim_fly", RouteChoice::kStatic,
     LoadAwareness::kNone, false},
    {"adaptive", "per flow at its start, the least-loaded of 8 equal-cost paths given the phase's flows placed", kClos,
     RouteChoice::kHashed, LoadAwareness::kLeastLoaded, false},
    {"minimal", "dragonfly minimal routing (local, global, local), ECMP over the parallel global links", "dragonfly",
     RouteChoice::kHashed, LoadAwareness::kNone, false},
    {"valiant", "dragonfly Valiant: via a hashed random intermediate group (two global hops)", "dragonfly",
     RouteChoice::kValiant, LoadAwareness::kNone, false},
    {"ugal", "dragonfly UGAL-L: per flow, minimal or Valiant by the load of their first global link x hops",
     "dragonfly", RouteChoice::kHashed, LoadAwareness::kUgal, false},
};

bool AppliesTo(const RoutingInfo& r, const std::string& topology) {
  std::istringstream in(r.fabrics);
  std::string name;
  while (std::getline(in, name, ',')) {
    if (name == topology) return true;
  }
  return false;
}

}  // namespace

const char* DefaultRouting(const std::string& topology) {
  if (topology == "dragonfly")
    return "minimal";  // ugal is what deployed systems run; it breaks the class reduction (docs/topologies.md)
  if (topology == "torus") return "parity";  // ecmp hashes the half-way ties, which breaks the class reduction
  if (topology == "slim_fly" || topology == "none") return "ecmp";
  return "spray";
}

namespace {

const RoutingInfo* Lookup(const std::string& topology, const std::string& name) {
  const std::string wanted = name.empty() ? DefaultRouting(topology) : name;
  for (const RoutingInfo& r : kRoutings) {
    if (AppliesTo(r, topology) && wanted == r.name) return &r;
  }
  return nullptr;
}

}  // namespace

bool RoutingApplies(const std::string& topology, const std::string& name) { return Lookup(topology, name) != nullptr; }

std::string RoutingNames(const std::string& topology) {
  std::string names;
  for (const RoutingInfo& r : kRoutings) {
    if (AppliesTo(r, topology)) names += std::string(names.empty() ? "" : ", ") + r.name;
  }
  return names.empty() ? "(no named scheme)" : names;
}

const RoutingInfo& FindRouting(const std::string& topology, const std::string& name) {
  if (const RoutingInfo* r = Lookup(topology, name)) return *r;
  throw InputError::Field("", 0, "cluster.scale_out.routing", "\"" + name + "\"",
                          "the " + topology + " fabric routes by one of " + RoutingNames(topology));
}

std::vector<RoutingInfo> ListRoutings() { return {std::begin(kRoutings), std::end(kRoutings)}; }

}  // namespace clustersim::topo
