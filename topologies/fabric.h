// Fabric: a cluster's network as a Boost.Graph graph plus a table-free router.
//
// Vertices are GPUs, NICs and switches; edges are full-duplex links. GPU g (0 <= g < num_gpus()) is vertex g, so a
// rank maps to a vertex without lookup. Each edge has a kind, a per-direction bandwidth and a latency.
//
// Routes are computed on demand from the fabric's structure (O(hops), no N^2 tables), so a 131,072-GPU fabric costs
// memory proportional to its links. ECMP spreading picks among equal-cost paths with a deterministic hash of
// (src, dst, flow_id, seed). Generators, routes and inventory conventions are documented in docs/topologies.md.
//
// Ownership: a Fabric owns its graph; it is immutable after construction and safe to share between threads.
// Units: bandwidth in Gb/s per direction, latency in ns.
#pragma once

#include <boost/graph/adjacency_list.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace clustersim::topo {

enum class VertexKind : uint8_t { kGpu, kNic, kScaleUpSwitch, kLeaf, kSpine, kCore, kRouter };
enum class LinkKind : uint8_t {
  kScaleUp,      // GPU <-> scale-up switch (NVLink/NVSwitch, HCCS, UB) or GPU <-> GPU in a full mesh
  kPcie,         // GPU <-> NIC
  kNicToLeaf,    // NIC port <-> leaf / ToR switch
  kLeafToSpine,  // tier 1 <-> tier 2
  kSpineToCore,  // tier 2 <-> tier 3
  kLocal,        // dragonfly intra-group
  kGlobal,       // dragonfly inter-group
  kTorus,        // torus neighbour link (ICI)
  kRouterLink,   // slim_fly router-to-router link (MMS graph edge)
};
const char* ToString(VertexKind k);
const char* ToString(LinkKind k);
// The LinkKind whose ToString is `name`; false when there is none.
bool LinkKindByName(const std::string& name, LinkKind* kind);

struct VertexProps {
  VertexKind kind = VertexKind::kGpu;
  uint32_t tier = 0;   // 0 for GPUs/NICs/scale-up switches, 1 leaf or dragonfly router, 2 spine, 3 core
  uint32_t plane = 0;  // plane or rail the vertex belongs to (a GPU: the plane of its first NIC port)
  uint32_t index = 0;  // index among vertices of the same kind
};

struct EdgeProps {
  LinkKind kind = LinkKind::kScaleUp;
  double bandwidth_gbps = 0;  // per direction
  // Scale-up and torus links: scale_up_latency_ns. PCIe: link_latency_ns. Switch-to-switch: link_latency_ns +
  // switch_latency_ns. NIC-to-switch: link_latency_ns + switch_latency_ns / 2, so that the sum over any route counts
  // each switch it crosses exactly once, in either direction.
  double latency_ns = 0;
  uint32_t id = 0;  // dense edge index, 0 <= id < num_links()
};

using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::undirectedS, VertexProps, EdgeProps>;

// One traversal of a link: `link` is EdgeProps::id; `forward` is true when going from the edge's source vertex (as
// stored in the graph) to its target. A full-duplex link is two independent capacities, one per direction.
struct Hop {
  uint32_t link = 0;
  bool forward = true;
  bool operator==(const Hop&) const = default;
};

// Counts for capacity planning (`clustersim topo`) and for the network power/cost roll-up.
struct Inventory {
  uint64_t gpus = 0;
  uint64_t nodes = 0;
  uint64_t nics = 0;
  std::vector<uint64_t> switches_per_tier;  // index 0 = leaf tier; scale-up switches are counted separately
  uint64_t switches = 0;                    // scale-out switches, all tiers
  uint64_t scale_up_switches = 0;
  std::vector<uint64_t> links_per_kind;  // indexed by LinkKind
  uint64_t switch_links = 0;             // switch-to-switch cables (scale-out)
  uint64_t endpoint_links = 0;           // NIC-to-switch cables
  uint64_t transceivers = 0;             // optical modules: 2 per switch-to-switch cable and per NIC cable
  double bisection_bandwidth_gbps = 0;   // one direction, worst balanced cut of the scale-out fabric
  uint32_t diameter_hops = 0;            // switch hops on the longest shortest GPU-to-GPU path
  uint32_t diameter_links = 0;           // links (Hops) on the longest route Route() returns
};

// Faults of the scale-out fabric (docs/topologies.md, "Faults"). speed 0 = down; 0 < speed < 1 = the link's
// bandwidth (both directions) times speed. A switch fault applies to every link of the switch; a plane fault to every
// link of the plane's switches (NIC cables included). Where several faults hit one link the slowest wins.
struct LinkFault {
  LinkKind kind = LinkKind::kLeafToSpine;
  uint32_t index = 0;  // among the links of that kind, in id order
  double speed = 0;
};
struct SwitchFault {
  uint32_t tier = 1;   // 1 leaf / dragonfly router, 2 spine, 3 core
  uint32_t index = 0;  // among the switches of that tier (all planes, plane by plane)
  double speed = 0;
};
struct PlaneFault {
  uint32_t plane = 0;
  double speed = 0;
};
struct FabricFaults {
  std::vector<LinkFault> links;
  std::vector<SwitchFault> switches;
  std::vector<PlaneFault> planes;
  double random_fraction = 0;  // share of switch-to-switch links, drawn with random_seed
  double random_speed = 0;
  uint64_t random_seed = 0;
  bool empty() const { return links.empty() && switches.empty() && planes.empty() && random_fraction <= 0; }
};
// What the faults did to the built fabric.
struct FaultSummary {
  uint64_t links_down = 0;    // fabric links (each full duplex) that carry nothing
  uint64_t links_slowed = 0;  // fabric links running below their bandwidth
  uint64_t switches_down = 0;
  uint64_t planes_down = 0;
};

// Parameters shared by every generator; each generator documents which ones it reads.
struct FabricParams {
  std::string topology = "fat_tree";  // registry name, see ListFabricKinds()
  uint32_t num_gpus = 0;
  uint32_t gpus_per_node = 8;
  // Scale-up domain.
  uint32_t scale_up_domain = 8;        // GPUs that share a scale-up switch fabric (8, 72, 384...)
  double scale_up_bandwidth_gbps = 0;  // per GPU per direction (torus: split over its 2 x dims links)
  double scale_up_latency_ns = 500;
  // Scale-out.
  uint32_t nics_per_gpu = 1;
  double nic_bandwidth_gbps = 400;   // per NIC port; switch-to-switch links run at the same speed
  double pcie_bandwidth_gbps = 512;  // GPU <-> NIC
  double link_latency_ns = 100;
  double switch_latency_ns = 300;
  uint32_t switch_radix = 64;
  uint32_t tiers = 0;                              // Clos tiers 1-3; 0 = smallest that holds the NIC ports
  std::vector<double> oversubscription;            // per tier, bottom up; empty or 1 = non-blocking
  uint32_t planes = 1;                             // multi_plane only; 0 = one plane per NIC port of a node
  uint32_t dragonfly_routers_per_group = 0;        // 0 = 2 x hosts per router
  uint32_t dragonfly_hosts_per_router = 0;         // 0 = (switch_radix + 1) / 4
  uint32_t dragonfly_global_links_per_router = 0;  // 0 = hosts per router
  // Dragonfly "valiant" and "ugal": intermediate groups a flow leaving the scale-up domain is spread over (its
  // RouteParts(), per-packet spreading; docs/topologies.md); 0 = min(groups - 2, 4), 1 = one per flow.
  uint32_t dragonfly_spray_paths = 0;
  std::vector<uint32_t> torus_dims;                // 1-3 dimensions, product = num_gpus
  uint32_t slim_fly_q = 0;                         // prime power; 0 = smallest that holds the NIC ports
  uint32_t slim_fly_hosts_per_router = 0;          // 0 = ceil(network radix / 2)
  // Routing by registry name (topologies/routing.h); empty = the fabric's default. Route() follows it: "static"
  // is destination-based (d-mod-k), "valiant" non-minimal; every other name hashes flows (ECMP).
  std::string routing;
  uint64_t seed = 0;
  FabricFaults faults;
};

class Fabric {
 public:
  virtual ~Fabric() = default;
  Fabric(const Fabric&) = delete;  // link() points into the graph: not copyable
  Fabric& operator=(const Fabric&) = delete;

  const Graph& graph() const { return graph_; }
  uint32_t num_gpus() const { return params_.num_gpus; }
  uint32_t num_links() const { return static_cast<uint32_t>(boost::num_edges(graph_)); }
  // The parameters it was built from, with defaults resolved: tiers (fat-tree family), planes, dragonfly sizes.
  const FabricParams& params() const { return params_; }
  // Edge properties by EdgeProps::id, and the endpoints of that edge (source, target as stored).
  const EdgeProps& link(uint32_t id) const { return *link_props_[id]; }
  uint32_t link_source(uint32_t id) const { return link_ends_[id].first; }
  uint32_t link_target(uint32_t id) const { return link_ends_[id].second; }

  // Appends the hops of the route from GPU src to GPU dst (both < num_gpus(); src == dst appends nothing) to `out`.
  // `flow_id` distinguishes flows between the same pair for ECMP (ignored by "static" routing). Never allocates
  // beyond growing `out`; at most ComputeInventory().diameter_links hops on a healthy fabric with minimal routing
  // (Valiant and detours around faults are longer). Routes avoid down links; throws InputError when faults leave
  // no route.
  virtual void Route(uint32_t src, uint32_t dst, uint64_t flow_id, std::vector<Hop>& out) const = 0;
  // Load-aware routing ("adaptive", "ugal"): the alternatives a flow chooses among when it starts. Candidate c <
  // RouteCandidates() appends its route like Route(); candidate 0 is Route(src, dst, 0). Clos: the equal-cost paths
  // of flow ids 0..7; dragonfly: 0 = minimal, 1 = Valiant.
  virtual uint32_t RouteCandidates() const { return 1; }
  virtual void RouteCandidate(uint32_t src, uint32_t dst, uint32_t c, std::vector<Hop>& out) const {
    Route(src, dst, c, out);
  }
  // Per-packet spreading (dragonfly "valiant" and "ugal", docs/topologies.md "Per packet"): a route that leaves the
  // scale-up domain is RouteParts() sub-routes one after the other, each carrying an equal share of the flow (the
  // links they share are crossed once per sub-route). 1 for every other fabric and routing.
  virtual uint32_t RouteParts(uint32_t /*src*/, uint32_t /*dst*/) const { return 1; }
  // Sub-route `part` < RouteParts() of candidate c (load-aware routing chooses per part); with one part, candidate
  // c's route.
  virtual void RoutePart(uint32_t src, uint32_t dst, uint32_t /*part*/, uint32_t c, std::vector<Hop>& out) const {
    RouteCandidate(src, dst, c, out);
  }
  // Faults: whether a link carries traffic, and what the faults did (all zero on a healthy fabric).
  bool link_up(uint32_t id) const { return down_.empty() || down_[id] == 0; }
  bool has_faults() const { return !down_.empty(); }
  const FaultSummary& fault_summary() const { return fault_summary_; }

  // Node (server) and scale-up domain of a GPU.
  uint32_t NodeOf(uint32_t gpu) const { return gpu / params_.gpus_per_node; }
  uint32_t DomainOf(uint32_t gpu) const { return gpu / params_.scale_up_domain; }

  virtual Inventory ComputeInventory() const;

  // NIC ports attached to the scale-out fabric (num_gpus * nics_per_gpu; 0 for "torus" and "none"). These are the
  // "endpoints" of fat-tree cost tables.
  uint64_t ScaleOutEndpoints() const { return scale_out_endpoints_; }

 protected:
  explicit Fabric(FabricParams params) : params_(std::move(params)) {}
  // Generators call these to build the graph; AddLink assigns dense ids.
  uint32_t AddVertex(VertexProps props);
  uint32_t AddLink(uint32_t a, uint32_t b, LinkKind kind, double bandwidth_gbps, double latency_ns);
  // Must be called once when the graph is complete (fills the id -> edge lookup tables, applies params().faults).
  void Finalize();
  // Throws InputError naming cluster.faults when a route is impossible (routers call it when no choice is left).
  [[noreturn]] void NoRoute(uint32_t src, uint32_t dst) const;

  FabricParams params_;
  Graph graph_;
  std::vector<EdgeProps*> link_props_;  // into graph_ (faults scale bandwidths in place)
  std::vector<std::pair<uint32_t, uint32_t>> link_ends_;
  uint64_t scale_out_endpoints_ = 0;

 private:
  void ApplyFaults();
  void CheckEndpoints() const;
  std::vector<uint8_t> down_;  // per link, 1 = down; empty = no link down or slowed
  FaultSummary fault_summary_;
};

// Builds a fabric by registry name. Throws clustersim::InputError naming the parameter and the rule when the
// parameters cannot describe a valid fabric (radix too small for the GPUs, oversubscription below 1, planes that do
// not divide the NIC ports, ...).
std::unique_ptr<Fabric> BuildFabric(const FabricParams& params);

// Registered generator names with a one-line description each, for `clustersim list`.
struct FabricKindInfo {
  std::string name;
  std::string description;
};
std::vector<FabricKindInfo> ListFabricKinds();

// The inventory BuildFabric(params)->ComputeInventory() returns, from closed forms and without building the graph
// (cheap at any size: for sweeps and for `clustersim topo` on clusters too large to build). Validates like
// BuildFabric and throws the same InputErrors.
Inventory PlanInventory(const FabricParams& params);

}  // namespace clustersim::topo
