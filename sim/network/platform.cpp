// SimGrid platform from a Fabric; see platform.h.
#include "sim/network/platform.h"

#include <simgrid/kernel/routing/NetPoint.hpp>
#include <simgrid/kernel/routing/NetZoneImpl.hpp>

#include <array>
#include <map>
#include <string>

#include "common/error.h"
#include "topologies/routing.h"

namespace clustersim::sim {

namespace kr = simgrid::kernel::routing;
namespace sg4 = simgrid::s4u;

// One flat zone holding every GPU host; routes are computed on demand by the fabric.
class FabricZone : public kr::NetZoneImpl {
 public:
  FabricZone(const std::string& name, const topo::Fabric& fabric) : NetZoneImpl(name), fabric_(fabric) {}

  void Build(const PlatformOptions& opt, std::vector<sg4::Host*>& hosts, uint64_t& links_created) {
    BuildHosts(opt, hosts);
    const uint32_t links = fabric_.num_links();
    dir_links_.assign(static_cast<size_t>(links) * 2, nullptr);
    dir_s4u_.assign(static_cast<size_t>(links) * 2, nullptr);
    dir_latency_s_.assign(static_cast<size_t>(links) * 2, 0.0);
    dir_index_.assign(static_cast<size_t>(links) * 2, -1);
    const std::vector<int64_t> bundle = opt.spray ? BundleKeys() : std::vector<int64_t>(links, -1);
    const Bundles bundles = BuildBundles(opt, bundle, links_created);
    BuildLinks(opt, bundle, bundles, links_created);
  }

 private:
  // Per bundle key, its SimGrid link and index into infos_ for each direction (0 = up).
  struct Bundles {
    std::map<int64_t, std::array<sg4::Link*, 2>> links;
    std::map<int64_t, std::array<int32_t, 2>> index;
  };

  void BuildHosts(const PlatformOptions& opt, std::vector<sg4::Host*>& hosts) {
    const uint32_t n = fabric_.num_gpus();
    hosts.reserve(n);
    for (uint32_t g = 0; g < n; ++g) {
      sg4::Host* h = create_host("gpu" + std::to_string(g), std::vector<double>{opt.host_speed_flops});
      h->seal();
      if (h->get_netpoint()->id() != g) throw SimulationError("platform: host netpoint ids are not dense");
      hosts.push_back(h);
    }
  }

  // One SimGrid link per direction of each bundle (key >= 0 in `bundle`), of its members' summed capacity.
  Bundles BuildBundles(const PlatformOptions& opt, const std::vector<int64_t>& bundle, uint64_t& links_created) {
    const uint32_t links = fabric_.num_links();
    // Bundles: key -> (capacity in Gb/s, latency), created after summing their members.
    std::map<int64_t, std::pair<double, double>> caps;
    std::map<int64_t, uint32_t> member;  // a member link of each bundle, for its name
    for (uint32_t id = 0; id < links; ++id)
      if (bundle[id] >= 0 && fabric_.link_up(id)) {  // a down member adds nothing (its bundle spreads over the rest)
        auto& b = caps[bundle[id]];
        b.first += fabric_.link(id).bandwidth_gbps;
        b.second = std::max(b.second, fabric_.link(id).latency_ns * 1e-9);
        member.emplace(bundle[id], id);
      }
    Bundles out;
    for (const auto& [key, cap] : caps) {
      for (int d = 0; d < 2; ++d) {
        std::string name = "b";
        name += std::to_string(key);
        name += d == 0 ? 'u' : 'd';
        const double bytes_per_s = cap.first * 1e9 / 8 * opt.scale_out_efficiency;
        sg4::Link* l = create_link(name, std::vector<double>{bytes_per_s});
        l->set_latency(cap.second);
        l->seal();
        out.links[key][d] = l;
        out.index[key][d] = static_cast<int32_t>(infos_.size());
        sg_links_.push_back(l);
        const uint32_t m = member.at(key);
        infos_.push_back({fabric_.link(m).kind, bytes_per_s, m, d == 0, true});
        ++links_created;
      }
    }
    return out;
  }

  // Maps bundled fabric links onto their bundle and creates one SimGrid link per direction of every other link
  // (except PCIe links that can never be the bottleneck).
  void BuildLinks(const PlatformOptions& opt, const std::vector<int64_t>& bundle, const Bundles& bundles,
                  uint64_t& links_created) {
    const topo::FabricParams& fp = fabric_.params();
    const double nic_total_gbps = fp.nic_bandwidth_gbps * fp.nics_per_gpu;
    for (uint32_t id = 0; id < fabric_.num_links(); ++id) {
      const topo::EdgeProps& e = fabric_.link(id);
      const double lat = e.latency_ns * 1e-9;
      dir_latency_s_[2 * id] = dir_latency_s_[2 * id + 1] = lat;
      if (!fabric_.link_up(id)) continue;  // down: no route crosses it
      if (bundle[id] >= 0) {
        MapOntoBundle(id, bundles.links.at(bundle[id]), bundles.index.at(bundle[id]));
        continue;
      }
      if (e.kind == topo::LinkKind::kPcie && e.bandwidth_gbps >= nic_total_gbps) continue;  // never a bottleneck
      const double eff = e.kind == topo::LinkKind::kScaleUp ? opt.scale_up_efficiency : opt.scale_out_efficiency;
      const double bytes_per_s = e.bandwidth_gbps * 1e9 / 8 * eff;
      for (int d = 0; d < 2; ++d) {
        std::string name = "l";
        name += std::to_string(id);
        name += d == 0 ? 'f' : 'b';
        sg4::Link* l = create_link(name, std::vector<double>{bytes_per_s});
        l->set_latency(lat);
        l->seal();
        dir_links_[2 * id + d] = l->get_impl();
        dir_s4u_[2 * id + d] = l;
        dir_index_[2 * id + d] = static_cast<int32_t>(infos_.size());
        sg_links_.push_back(l);
        infos_.push_back({e.kind, bytes_per_s, id, d == 0, false});
        ++links_created;
      }
    }
  }

  // Direction 0 of a bundle is "up" (from the lower-tier switch); maps the edge's stored orientation onto it.
  void MapOntoBundle(uint32_t id, const std::array<sg4::Link*, 2>& links, const std::array<int32_t, 2>& index) {
    const bool source_is_lower =
        fabric_.graph()[fabric_.link_source(id)].tier < fabric_.graph()[fabric_.link_target(id)].tier;
    dir_s4u_[2 * id] = links[source_is_lower ? 0 : 1];
    dir_s4u_[2 * id + 1] = links[source_is_lower ? 1 : 0];
    dir_links_[2 * id] = dir_s4u_[2 * id]->get_impl();
    dir_links_[2 * id + 1] = dir_s4u_[2 * id + 1]->get_impl();
    dir_index_[2 * id] = index[source_is_lower ? 0 : 1];
    dir_index_[2 * id + 1] = index[source_is_lower ? 1 : 0];
  }

 public:
  uint32_t Lower(uint32_t id) const {
    const uint32_t a = fabric_.link_source(id), b = fabric_.link_target(id);
    return fabric_.graph()[a].tier < fabric_.graph()[b].tier ? a : b;
  }
  std::string Describe(uint32_t v) const {
    const topo::VertexProps& p = fabric_.graph()[v];
    return std::string(topo::ToString(p.kind)) + " " + std::to_string(p.kind == topo::VertexKind::kGpu ? v : p.index);
  }

  const std::vector<Platform::LinkInfo>& infos() const { return infos_; }
  std::string Name(const Platform::LinkInfo& info) const {
    const uint32_t id = info.fabric_link;
    const std::string kind = topo::ToString(info.kind);
    if (info.bundle)
      return kind + " up-links of " + (info.kind == topo::LinkKind::kSpineToCore ? "the pod of " : "") +
             Describe(Lower(id)) + (info.forward ? " (bundle, up)" : " (bundle, down)");
    const uint32_t from = info.forward ? fabric_.link_source(id) : fabric_.link_target(id);
    const uint32_t to = info.forward ? fabric_.link_target(id) : fabric_.link_source(id);
    return kind + " " + Describe(from) + " -> " + Describe(to);
  }
  void SetCapacityFactor(uint32_t index, double factor) {
    const double reserved = reserved_.empty() ? 0 : reserved_[index];
    sg_links_.at(index)->set_bandwidth((infos_.at(index).capacity_bytes_per_s - reserved) * factor);
  }
  void Reserve(uint32_t index, double bytes_per_s) {
    if (reserved_.empty()) reserved_.assign(infos_.size(), 0);
    reserved_.at(index) = bytes_per_s;
    SetCapacityFactor(index, 1.0);
  }
  double CurrentCapacity(uint32_t index) const { return sg_links_.at(index)->get_bandwidth(); }
  void SetRouteOverride(const RouteOverride* routes) { override_ = routes; }
  void RouteHops(uint32_t s, uint32_t d, std::vector<std::pair<int32_t, double>>& out) {
    out.clear();
    if (s == d) return;
    hops_.clear();
    FabricRoute(s, d, hops_);
    const double parts = fabric_.RouteParts(s, d);
    for (const topo::Hop& h : hops_) {
      const size_t k = 2 * static_cast<size_t>(h.link) + (h.forward ? 0 : 1);
      out.emplace_back(dir_index_[k], dir_latency_s_[k] / parts);
    }
  }

  // Bundle key per link (-1 = not bundled). Leaf-to-spine cables are keyed by their leaf; spine-to-core cables by the
  // pod of their spine, a pod being a connected component of the leaf-to-spine graph (in a 2-tier Clos the whole
  // fabric, in a 3-tier Clos one pod, in a multi-plane fabric one plane). Only Clos tiers are bundled: dragonfly and
  // torus links keep their identity.
  std::vector<int64_t> BundleKeys() const {
    const topo::Graph& g = fabric_.graph();
    const uint32_t links = fabric_.num_links();
    const size_t nv = boost::num_vertices(g);
    std::vector<uint32_t> parent(nv);
    for (size_t v = 0; v < nv; ++v) parent[v] = static_cast<uint32_t>(v);
    auto find = [&](uint32_t v) {
      while (parent[v] != v) v = parent[v] = parent[parent[v]];
      return v;
    };
    auto lower = [&](uint32_t id) {
      const uint32_t a = fabric_.link_source(id), b = fabric_.link_target(id);
      return g[a].tier < g[b].tier ? a : b;
    };
    for (uint32_t id = 0; id < links; ++id)
      if (fabric_.link(id).kind == topo::LinkKind::kLeafToSpine)
        parent[find(fabric_.link_source(id))] = find(fabric_.link_target(id));
    std::vector<int64_t> key(links, -1);
    for (uint32_t id = 0; id < links; ++id) {
      const topo::LinkKind k = fabric_.link(id).kind;
      if (k == topo::LinkKind::kLeafToSpine) key[id] = lower(id);
      if (k == topo::LinkKind::kSpineToCore) key[id] = static_cast<int64_t>(nv) + find(lower(id));
    }
    return key;
  }

  std::vector<std::string> RouteNames(uint32_t s, uint32_t d, double* latency) const {
    std::vector<topo::Hop> hops;
    std::vector<std::string> names;
    *latency = 0;
    if (s == d) return names;
    FabricRoute(s, d, hops);
    const double parts = fabric_.RouteParts(s, d);
    for (const topo::Hop& h : hops) {
      const size_t k = 2 * static_cast<size_t>(h.link) + (h.forward ? 0 : 1);
      if (dir_s4u_[k] != nullptr) names.push_back(dir_s4u_[k]->get_name());
      *latency += dir_latency_s_[k] / parts;
    }
    return names;
  }

  void get_local_route(const kr::NetPoint* src, const kr::NetPoint* dst, kr::Route* into, double* latency) override {
    hops_.clear();
    const auto s = static_cast<uint32_t>(src->id());
    const auto d = static_cast<uint32_t>(dst->id());
    if (s == d) return;
    if (override_ != nullptr && OverriddenRoute(RouteOverride::Key(s, d), into, latency)) return;
    FabricRoute(s, d, hops_);
    // A route of several parts (per-packet spreading) is one comm of 1/parts of the flow whose rate is each part's:
    // it crosses each part's links once (shared links once per part) and takes the parts' mean latency.
    const double parts = fabric_.RouteParts(s, d);
    for (const topo::Hop& h : hops_) {
      const size_t k = 2 * static_cast<size_t>(h.link) + (h.forward ? 0 : 1);
      if (dir_links_[k] != nullptr) into->link_list_.push_back(dir_links_[k]);
      if (latency != nullptr) *latency += dir_latency_s_[k] / parts;
    }
  }

  bool load_aware() const { return fabric_.RouteCandidates() > 1; }

  void ClearPlacement() {
    for (int32_t l : loaded_) load_[static_cast<size_t>(l)] = 0;
    loaded_.clear();
    choice_.clear();
  }

  // Each flow (each part of a flow that the fabric spreads, RouteParts > 1) takes the candidate its routing prefers
  // given what was placed before it; loads count placed parts.
  void PlaceFlows(const std::vector<Flow>& flows) {
    ClearPlacement();
    const uint32_t candidates = fabric_.RouteCandidates();
    if (candidates <= 1) return;
    if (load_.size() != infos_.size()) load_.assign(infos_.size(), 0);
    const bool ugal =
        topo::FindRouting(fabric_.params().topology, fabric_.params().routing).load == topo::LoadAwareness::kUgal;
    for (const Flow& f : flows) {
      if (f.src == f.dst || fabric_.DomainOf(f.src) == fabric_.DomainOf(f.dst)) continue;
      const uint32_t parts = fabric_.RouteParts(f.src, f.dst);
      if (parts > 1 && candidates > 2) throw SimulationError("platform: a spread route chooses among 2 candidates");
      uint64_t word = 0;  // one part: the candidate; several: bit j = part j's candidate
      for (uint32_t j = 0; j < parts; ++j) {
        const uint32_t best = PlacePart(f, j, candidates, ugal);
        word |= parts == 1 ? best : static_cast<uint64_t>(best) << j;
      }
      if (word != 0) choice_.emplace(RouteOverride::Key(f.src, f.dst), word);
    }
  }

 private:
  // Places part j of flow f on its preferred candidate (added to load_); returns the candidate.
  uint32_t PlacePart(const Flow& f, uint32_t j, uint32_t candidates, bool ugal) {
    uint32_t best = 0;
    std::pair<uint64_t, uint64_t> best_cost{UINT64_MAX, UINT64_MAX};
    for (uint32_t c = 0; c < candidates; ++c) {
      hops_.clear();
      fabric_.RoutePart(f.src, f.dst, j, c, hops_);
      const auto cost = ugal ? UgalCost() : LeastLoadedCost();
      if (cost < best_cost) {
        best_cost = cost;
        best = c;
      }
    }
    hops_.clear();
    fabric_.RoutePart(f.src, f.dst, j, best, hops_);
    for (const topo::Hop& h : hops_) {
      const int32_t l = dir_index_[2 * static_cast<size_t>(h.link) + (h.forward ? 0 : 1)];
      if (l < 0) continue;
      if (load_[static_cast<size_t>(l)]++ == 0) loaded_.push_back(l);
    }
    return best;
  }
  // The route of (s, d) under the current placement: the chosen candidate (of each part), or the fabric's route.
  void FabricRoute(uint32_t s, uint32_t d, std::vector<topo::Hop>& out) const {
    if (!choice_.empty()) {
      const auto it = choice_.find(RouteOverride::Key(s, d));
      if (it != choice_.end()) {
        const uint32_t parts = fabric_.RouteParts(s, d);  // the word: one part's candidate, or a bit per part
        for (uint32_t j = 0; j < parts; ++j)
          fabric_.RoutePart(s, d, j, static_cast<uint32_t>(parts == 1 ? it->second : it->second >> j & 1), out);
        return;
      }
    }
    fabric_.Route(s, d, 0, out);
  }
  // (busiest link's placed flows, placed flows summed over the route) of the route in hops_.
  std::pair<uint64_t, uint64_t> LeastLoadedCost() const {
    uint64_t most = 0, sum = 0;
    for (const topo::Hop& h : hops_) {
      const int32_t l = dir_index_[2 * static_cast<size_t>(h.link) + (h.forward ? 0 : 1)];
      if (l < 0) continue;
      most = std::max<uint64_t>(most, load_[static_cast<size_t>(l)]);
      sum += load_[static_cast<size_t>(l)];
    }
    return {most, sum};
  }
  // UGAL-L: (flows on the route's first global link + 1) x links of the route; ties go to the minimal candidate.
  std::pair<uint64_t, uint64_t> UgalCost() const {
    uint64_t queue = 0;
    for (const topo::Hop& h : hops_) {
      if (fabric_.link(h.link).kind != topo::LinkKind::kGlobal) continue;
      const int32_t l = dir_index_[2 * static_cast<size_t>(h.link) + (h.forward ? 0 : 1)];
      if (l >= 0) queue = load_[static_cast<size_t>(l)];
      break;
    }
    return {(queue + 1) * hops_.size(), 0};
  }

  bool OverriddenRoute(uint64_t key, kr::Route* into, double* latency) const {
    const auto it = override_->by_pair.find(key);
    if (it == override_->by_pair.end()) return false;
    const RouteOverride::Route& r = override_->routes[it->second];
    for (uint32_t k = r.first; k < r.first + r.count; ++k) {
      const RouteOverride::Hop& h = override_->hops[k];
      auto* link = sg_links_.at(h.link)->get_impl();
      for (uint32_t t = 0; t < h.times; ++t) into->link_list_.push_back(link);
    }
    if (latency != nullptr) *latency += r.latency_s;
    return true;
  }

  const topo::Fabric& fabric_;
  const RouteOverride* override_ = nullptr;
  std::vector<simgrid::kernel::resource::StandardLinkImpl*> dir_links_;  // per link direction; null = not simulated
  std::vector<sg4::Link*> dir_s4u_;
  std::vector<int32_t> dir_index_;          // per link direction: index into infos_, -1 = not simulated
  std::vector<Platform::LinkInfo> infos_;
  std::vector<sg4::Link*> sg_links_;  // parallel to infos_
  std::vector<double> reserved_;      // parallel to infos_ once a capacity is reserved (Platform::Reserve)
  std::vector<double> dir_latency_s_;
  std::vector<topo::Hop> hops_;
  std::unordered_map<uint64_t, uint64_t> choice_;  // placed pairs whose route is not candidate 0 (per part: bits)
  std::vector<uint32_t> load_;                    // per SimGrid link: flows (parts of spread flows) placed on it
  std::vector<int32_t> loaded_;                   // links with load_ > 0
};

Platform::Platform(sg4::Engine& engine, const topo::Fabric& fabric, const PlatformOptions& options)
    : fabric_(fabric) {
  auto* zone = new FabricZone("fabric", fabric);  // owned by the SimGrid engine once parented
  zone->set_parent(nullptr);
  zone->Build(options, hosts_, links_created_);
  zone->seal();
  engine.seal_platform();
  zone_ = zone;
}

std::vector<std::string> Platform::GraphRouteLinkNames(uint32_t src, uint32_t dst, double* latency_s) const {
  return zone_->RouteNames(src, dst, latency_s);
}

const std::vector<Platform::LinkInfo>& Platform::links() const { return zone_->infos(); }

std::string Platform::LinkName(size_t index) const { return zone_->Name(zone_->infos().at(index)); }

void Platform::SetCapacityFactor(uint32_t index, double factor) { zone_->SetCapacityFactor(index, factor); }

void Platform::Reserve(uint32_t index, double bytes_per_s) { zone_->Reserve(index, bytes_per_s); }

double Platform::CurrentCapacity(uint32_t index) const { return zone_->CurrentCapacity(index); }

void Platform::SetRouteOverride(const RouteOverride* routes) { zone_->SetRouteOverride(routes); }

void Platform::PlaceFlows(const std::vector<Flow>& flows) { zone_->PlaceFlows(flows); }

void Platform::ClearPlacement() { zone_->ClearPlacement(); }

bool Platform::load_aware() const { return zone_->load_aware(); }

uint32_t Platform::RouteParts(uint32_t src, uint32_t dst) const { return fabric_.RouteParts(src, dst); }

void Platform::RouteHops(uint32_t src, uint32_t dst, std::vector<std::pair<int32_t, double>>& out) const {
  zone_->RouteHops(src, dst, out);
}

}  // namespace clustersim::sim
