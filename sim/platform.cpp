// SimGrid platform from a Fabric; see platform.h.
#include "sim/platform.h"

#include <simgrid/kernel/routing/NetPoint.hpp>
#include <simgrid/kernel/routing/NetZoneImpl.hpp>

#include <array>
#include <map>
#include <string>

#include "common/error.h"

namespace clustersim::sim {

namespace kr = simgrid::kernel::routing;
namespace sg4 = simgrid::s4u;

// One flat zone holding every GPU host; routes are computed on demand by the fabric.
class FabricZone : public kr::NetZoneImpl {
 public:
  FabricZone(const std::string& name, const topo::Fabric& fabric) : NetZoneImpl(name), fabric_(fabric) {}

  void Build(const PlatformOptions& opt, std::vector<sg4::Host*>& hosts, uint64_t& links_created) {
    const uint32_t n = fabric_.num_gpus();
    hosts.reserve(n);
    for (uint32_t g = 0; g < n; ++g) {
      sg4::Host* h = create_host("gpu" + std::to_string(g), std::vector<double>{opt.host_speed_flops});
      h->seal();
      if (h->get_netpoint()->id() != g) throw SimulationError("platform: host netpoint ids are not dense");
      hosts.push_back(h);
    }
    const uint32_t links = fabric_.num_links();
    dir_links_.assign(static_cast<size_t>(links) * 2, nullptr);
    dir_s4u_.assign(static_cast<size_t>(links) * 2, nullptr);
    dir_latency_s_.assign(static_cast<size_t>(links) * 2, 0.0);
    const topo::FabricParams& fp = fabric_.params();
    const double nic_total_gbps = fp.nic_bandwidth_gbps * fp.nics_per_gpu;
    const std::vector<int64_t> bundle = opt.spray ? BundleKeys() : std::vector<int64_t>(links, -1);
    // Bundles: key -> (capacity in Gb/s, latency, member count), created after summing their members.
    std::map<int64_t, std::pair<double, double>> bundles;
    for (uint32_t id = 0; id < links; ++id)
      if (bundle[id] >= 0) {
        auto& b = bundles[bundle[id]];
        b.first += fabric_.link(id).bandwidth_gbps;
        b.second = std::max(b.second, fabric_.link(id).latency_ns * 1e-9);
      }
    std::map<int64_t, std::array<sg4::Link*, 2>> bundle_links;
    std::map<int64_t, std::array<int32_t, 2>> bundle_index;
    std::map<int64_t, uint32_t> bundle_member;  // a member link of each bundle, for its name
    for (uint32_t id = 0; id < links; ++id)
      if (bundle[id] >= 0) bundle_member.emplace(bundle[id], id);
    dir_index_.assign(static_cast<size_t>(links) * 2, -1);
    for (const auto& [key, cap] : bundles) {
      for (int d = 0; d < 2; ++d) {
        std::string name = "b";
        name += std::to_string(key);
        name += d == 0 ? 'u' : 'd';
        sg4::Link* l = create_link(name, std::vector<double>{cap.first * 1e9 / 8 * opt.scale_out_efficiency});
        l->set_latency(cap.second);
        l->seal();
        bundle_links[key][d] = l;
        bundle_index[key][d] = static_cast<int32_t>(infos_.size());
        sg_links_.push_back(l);
        const uint32_t member = bundle_member.at(key);
        infos_.push_back(
            {fabric_.link(member).kind, cap.first * 1e9 / 8 * opt.scale_out_efficiency, member, d == 0, true});
        ++links_created;
      }
    }
    for (uint32_t id = 0; id < links; ++id) {
      const topo::EdgeProps& e = fabric_.link(id);
      const double lat = e.latency_ns * 1e-9;
      dir_latency_s_[2 * id] = dir_latency_s_[2 * id + 1] = lat;
      if (bundle[id] >= 0) {
        // Direction 0 of a bundle is "up" (from the lower-tier switch); map the edge's stored orientation onto it.
        const bool source_is_lower =
            fabric_.graph()[fabric_.link_source(id)].tier < fabric_.graph()[fabric_.link_target(id)].tier;
        dir_s4u_[2 * id] = bundle_links[bundle[id]][source_is_lower ? 0 : 1];
        dir_s4u_[2 * id + 1] = bundle_links[bundle[id]][source_is_lower ? 1 : 0];
        dir_links_[2 * id] = dir_s4u_[2 * id]->get_impl();
        dir_links_[2 * id + 1] = dir_s4u_[2 * id + 1]->get_impl();
        dir_index_[2 * id] = bundle_index[bundle[id]][source_is_lower ? 0 : 1];
        dir_index_[2 * id + 1] = bundle_index[bundle[id]][source_is_lower ? 1 : 0];
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

  uint32_t Lower(uint32_t id) const {
    const uint32_t a = fabric_.link_source(id), b = fabric_.link_target(id);
    return fabric_.graph()[a].tier < fabric_.graph()[b].tier ? a : b;
  }
  std::string Describe(uint32_t v) const {
    const topo::VertexProps& p = fabric_.graph()[v];
    return std::string(topo::ToString(p.kind)) + " " + std::to_string(p.kind == topo::VertexKind::kGpu ? v : p.index);
  }

  void AddRouteLoad(uint32_t s, uint32_t d, double bytes, std::vector<double>& load) {
    if (s == d) return;
    hops_.clear();
    fabric_.Route(s, d, 0, hops_);
    for (const topo::Hop& h : hops_) {
      const int32_t i = dir_index_[2 * static_cast<size_t>(h.link) + (h.forward ? 0 : 1)];
      if (i >= 0) load[static_cast<size_t>(i)] += bytes;
    }
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
    sg_links_.at(index)->set_bandwidth(infos_.at(index).capacity_bytes_per_s * factor);
  }
  void RouteHops(uint32_t s, uint32_t d, std::vector<std::pair<int32_t, double>>& out) {
    out.clear();
    if (s == d) return;
    hops_.clear();
    fabric_.Route(s, d, 0, hops_);
    for (const topo::Hop& h : hops_) {
      const size_t k = 2 * static_cast<size_t>(h.link) + (h.forward ? 0 : 1);
      out.emplace_back(dir_index_[k], dir_latency_s_[k]);
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
    fabric_.Route(s, d, 0, hops);
    for (const topo::Hop& h : hops) {
      const size_t k = 2 * static_cast<size_t>(h.link) + (h.forward ? 0 : 1);
      if (dir_s4u_[k] != nullptr) names.push_back(dir_s4u_[k]->get_name());
      *latency += dir_latency_s_[k];
    }
    return names;
  }

  void get_local_route(const kr::NetPoint* src, const kr::NetPoint* dst, kr::Route* into, double* latency) override {
    hops_.clear();
    const auto s = static_cast<uint32_t>(src->id());
    const auto d = static_cast<uint32_t>(dst->id());
    if (s == d) return;
    fabric_.Route(s, d, 0, hops_);
    for (const topo::Hop& h : hops_) {
      const size_t k = 2 * static_cast<size_t>(h.link) + (h.forward ? 0 : 1);
      if (dir_links_[k] != nullptr) into->link_list_.push_back(dir_links_[k]);
      if (latency != nullptr) *latency += dir_latency_s_[k];
    }
  }

 private:
  const topo::Fabric& fabric_;
  std::vector<simgrid::kernel::resource::StandardLinkImpl*> dir_links_;  // per link direction; null = not simulated
  std::vector<sg4::Link*> dir_s4u_;
  std::vector<int32_t> dir_index_;          // per link direction: index into infos_, -1 = not simulated
  std::vector<Platform::LinkInfo> infos_;
  std::vector<sg4::Link*> sg_links_;  // parallel to infos_
  std::vector<double> dir_latency_s_;
  std::vector<topo::Hop> hops_;
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

void Platform::AddRouteLoad(uint32_t src, uint32_t dst, double bytes, std::vector<double>& load) const {
  zone_->AddRouteLoad(src, dst, bytes, load);
}

void Platform::SetCapacityFactor(uint32_t index, double factor) { zone_->SetCapacityFactor(index, factor); }

void Platform::RouteHops(uint32_t src, uint32_t dst, std::vector<std::pair<int32_t, double>>& out) const {
  zone_->RouteHops(src, dst, out);
}

}  // namespace clustersim::sim
