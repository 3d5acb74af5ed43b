// FlowClasses; see flow_classes.h.
#include "sim/network/flow_classes.h"

#include "sim/network/hash_mix.h"

namespace clustersim::sim {

void FlowClasses::RouteAll(const std::vector<Flow>& flows, const Platform& platform,
                           const std::vector<uint32_t>* part) {
  const size_t n = flows.size();
  first_.assign(n + 1, 0);
  links_.clear();
  colour_.resize(n);
  used_.clear();
  if (seen_.size() != platform.num_links()) {
    seen_.assign(platform.num_links(), 0);
    link_colour_.assign(platform.num_links(), 0);
    link_sum_.assign(platform.num_links(), 0);
  }
  for (size_t f = 0; f < n; ++f) {
    platform.RouteHops(flows[f].src, flows[f].dst, hops_);
    double latency = 0;
    for (const auto& [link, hop_latency] : hops_) {
      latency += hop_latency;
      if (link < 0) continue;
      const auto l = static_cast<uint32_t>(link);
      links_.push_back(l);
      if (seen_[l] == 0) {
        seen_[l] = 1;
        used_.push_back(l);
      }
    }
    first_[f + 1] = static_cast<uint32_t>(links_.size());
    colour_[f] = Mix(Mix(Mix(1, Bits(flows[f].bytes)), Bits(latency)), first_[f + 1] - first_[f]);
    const uint32_t parts = platform.RouteParts(flows[f].src, flows[f].dst);  // solved as bytes / parts
    if (parts > 1) colour_[f] = Mix(colour_[f], parts);
    if (part != nullptr) colour_[f] = Mix(colour_[f], (*part)[f]);
  }
  for (uint32_t l : used_) {
    seen_[l] = 0;
    link_colour_[l] = Bits(platform.CurrentCapacity(l));
  }
}

uint32_t FlowClasses::Relabel(std::vector<uint64_t>& colour, const std::vector<uint32_t>* items, size_t n) {
  ids_.clear();
  auto relabel = [this, &colour](size_t i) {
    colour[i] = ids_.emplace(colour[i], static_cast<uint32_t>(ids_.size())).first->second;
  };
  if (items != nullptr)
    for (uint32_t i : *items) relabel(i);
  else
    for (size_t i = 0; i < n; ++i) relabel(i);
  return static_cast<uint32_t>(ids_.size());
}

// Refines the colouring until a round splits no class; false once the flows form more than `limit` classes.
bool FlowClasses::Refine(size_t n, size_t limit) {
  flow_classes_ = Relabel(colour_, nullptr, n);
  link_classes_ = Relabel(link_colour_, &used_, 0);
  for (rounds_ = 1;; ++rounds_) {
    if (flow_classes_ > limit) return false;
    for (uint32_t l : used_) link_sum_[l] = 0;
    for (size_t f = 0; f < n; ++f) {
      const uint64_t h = Mix(0x51, colour_[f]);
      for (uint32_t k = first_[f]; k < first_[f + 1]; ++k) link_sum_[links_[k]] += h;  // multiset of flow colours
    }
    for (uint32_t l : used_) link_colour_[l] = Mix(link_colour_[l], link_sum_[l]);
    const uint32_t links = Relabel(link_colour_, &used_, 0);
    for (size_t f = 0; f < n; ++f) {
      uint64_t sum = 0;
      for (uint32_t k = first_[f]; k < first_[f + 1]; ++k) sum += Mix(0x77, link_colour_[links_[k]]);
      colour_[f] = Mix(colour_[f], sum);
    }
    const uint32_t flows = Relabel(colour_, nullptr, n);
    const bool stable = flows == flow_classes_ && links == link_classes_;
    flow_classes_ = flows;
    link_classes_ = links;
    if (stable) return flow_classes_ <= limit;
  }
}

// One flow per class with its route over one link per link class, crossed m(c, L) = |c| n(c, L) / |L| times. False
// if some m(c, L) is not a whole number (the partition is not equitable: only on a hash collision).
bool FlowClasses::BuildRoutes(const std::vector<Flow>& flows, const Platform& platform, std::vector<Flow>& reps,
                              RouteOverride& routes, std::vector<uint32_t>* rep_ids) {
  std::vector<uint64_t> class_size(flow_classes_, 0), link_class_size(link_classes_, 0);
  std::vector<uint32_t> rep(flow_classes_, UINT32_MAX), canonical(link_classes_, UINT32_MAX);
  for (size_t f = 0; f < flows.size(); ++f) {
    if (class_size[colour_[f]]++ == 0) rep[colour_[f]] = static_cast<uint32_t>(f);
  }
  for (uint32_t l : used_) {
    if (link_class_size[link_colour_[l]]++ == 0) canonical[link_colour_[l]] = l;
  }
  reps.clear();
  routes.Clear();
  if (rep_ids != nullptr) rep_ids->clear();
  std::vector<std::pair<uint64_t, uint64_t>> per_class;  // (link class, links of it on the route)
  for (uint32_t c = 0; c < flow_classes_; ++c) {
    const uint32_t r = rep[c];
    per_class.clear();
    for (uint32_t k = first_[r]; k < first_[r + 1]; ++k) {
      const uint64_t lc = link_colour_[links_[k]];
      bool found = false;
      for (auto& [cls, count] : per_class)
        if (cls == lc) {
          ++count;
          found = true;
        }
      if (!found) per_class.emplace_back(lc, 1);
    }
    RouteOverride::Route route;
    route.first = static_cast<uint32_t>(routes.hops.size());
    platform.RouteHops(flows[r].src, flows[r].dst, hops_);
    for (const auto& hop : hops_) route.latency_s += hop.second;  // summed in the order the colouring summed it
    for (const auto& [cls, count] : per_class) {
      const uint64_t load = class_size[c] * count;
      if (load % link_class_size[cls] != 0) return false;
      routes.hops.push_back({canonical[cls], static_cast<uint32_t>(load / link_class_size[cls])});
    }
    route.count = static_cast<uint32_t>(per_class.size());
    if (!routes.by_pair
             .emplace(RouteOverride::Key(flows[r].src, flows[r].dst), static_cast<uint32_t>(routes.routes.size()))
             .second)
      return false;  // one pair in two parts: SimGrid routes by pair
    routes.routes.push_back(route);
    reps.push_back(flows[r]);
    if (rep_ids != nullptr) rep_ids->push_back(r);
  }
  return true;
}

bool FlowClasses::Reduce(const std::vector<Flow>& flows, const Platform& platform, double max_fraction,
                         std::vector<Flow>& reps, RouteOverride& routes, const std::vector<uint32_t>* part,
                         std::vector<uint32_t>* rep_ids) {
  const size_t n = flows.size();
  rounds_ = 0;
  if (n < 2) return false;
  const auto limit = static_cast<size_t>(max_fraction * static_cast<double>(n));
  RouteAll(flows, platform, part);
  if (!Refine(n, limit)) return false;
  return BuildRoutes(flows, platform, reps, routes, rep_ids);
}

}  // namespace clustersim::sim
