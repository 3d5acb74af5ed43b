// Helpers shared by the topologies tests: parameter presets, route checks and a max-flow cut.
#pragma once

#include <gtest/gtest.h>

#include <boost/graph/push_relabel_max_flow.hpp>
#include <string>
#include <vector>

#include "topologies/fabric.h"

namespace clustersim::topo::testing {

// An 8-GPU-per-node, 8-GPU-domain cluster with 400G NICs and 900 GB/s NVLink.
inline FabricParams Params(const std::string& topology, uint32_t gpus, uint32_t radix = 64) {
  FabricParams p;
  p.topology = topology;
  p.num_gpus = gpus;
  p.gpus_per_node = 8;
  p.scale_up_domain = 8;
  p.scale_up_bandwidth_gbps = 7200;
  p.switch_radix = radix;
  p.seed = 42;
  return p;
}

inline bool IsSwitch(VertexKind k) { return k != VertexKind::kGpu && k != VertexKind::kNic; }

// Follows `hops` from src; fails unless every hop starts where the previous one ended, no vertex repeats and the
// chain ends at dst. On success stores the number of switch vertices visited in *switches.
inline ::testing::AssertionResult CheckChain(const Fabric& f, uint32_t src, uint32_t dst, const std::vector<Hop>& hops,
                                             uint32_t* switches = nullptr) {
  uint32_t cur = src;
  uint32_t sw = 0;
  std::vector<uint32_t> seen{src};
  for (size_t i = 0; i < hops.size(); ++i) {
    const Hop& h = hops[i];
    if (h.link >= f.num_links()) return ::testing::AssertionFailure() << "hop " << i << ": bad link " << h.link;
    const uint32_t from = h.forward ? f.link_source(h.link) : f.link_target(h.link);
    const uint32_t to = h.forward ? f.link_target(h.link) : f.link_source(h.link);
    if (from != cur) {
      return ::testing::AssertionFailure()
             << src << "->" << dst << " hop " << i << " starts at " << from << ", expected " << cur;
    }
    for (uint32_t v : seen) {
      if (v == to) return ::testing::AssertionFailure() << src << "->" << dst << " revisits vertex " << to;
    }
    seen.push_back(to);
    if (IsSwitch(f.graph()[to].kind)) ++sw;
    cur = to;
  }
  if (cur != dst) return ::testing::AssertionFailure() << src << "->" << dst << " ends at " << cur;
  if (switches != nullptr) *switches = sw;
  return ::testing::AssertionSuccess();
}

// The vertex a route visits after `hop_index` hops.
inline uint32_t VertexAfter(const Fabric& f, const std::vector<Hop>& hops, size_t hop_index) {
  const Hop& h = hops[hop_index];
  return h.forward ? f.link_target(h.link) : f.link_source(h.link);
}

// Maximum flow (Gb/s, one direction) from GPUs [0, num_gpus/2) to GPUs [num_gpus/2, num_gpus) over the scale-out
// links (scale-up links excluded), every link carrying its bandwidth in each direction.
inline double HalfCutMaxFlow(const Fabric& f) {
  using Traits = boost::adjacency_list_traits<boost::vecS, boost::vecS, boost::directedS>;
  using FlowGraph = boost::adjacency_list<
      boost::vecS, boost::vecS, boost::directedS, boost::no_property,
      boost::property<boost::edge_capacity_t, double,
                      boost::property<boost::edge_residual_capacity_t, double,
                                      boost::property<boost::edge_reverse_t, Traits::edge_descriptor>>>>;
  const auto n = static_cast<uint32_t>(boost::num_vertices(f.graph()));
  FlowGraph g(n + 2);
  const uint32_t source = n;
  const uint32_t sink = n + 1;
  auto cap = boost::get(boost::edge_capacity, g);
  auto rev = boost::get(boost::edge_reverse, g);
  auto arc = [&](uint32_t u, uint32_t v, double c) {
    auto e = boost::add_edge(u, v, g).first;
    auto r = boost::add_edge(v, u, g).first;
    cap[e] = c;
    cap[r] = 0;
    rev[e] = r;
    rev[r] = e;
  };
  for (uint32_t id = 0; id < f.num_links(); ++id) {
    const EdgeProps& e = f.link(id);
    if (e.kind == LinkKind::kScaleUp) continue;
    arc(f.link_source(id), f.link_target(id), e.bandwidth_gbps);
    arc(f.link_target(id), f.link_source(id), e.bandwidth_gbps);
  }
  const double big = 1e12;
  for (uint32_t gpu = 0; gpu < f.num_gpus(); ++gpu) {
    if (gpu < f.num_gpus() / 2) {
      arc(source, gpu, big);
    } else {
      arc(gpu, sink, big);
    }
  }
  return boost::push_relabel_max_flow(g, source, sink);
}

}  // namespace clustersim::topo::testing
