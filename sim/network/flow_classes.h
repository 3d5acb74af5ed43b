// FlowClasses: the exact class reduction of a phase (issue #20). A phase whose flows fall into a few classes of
// interchangeable flows is solved as one flow per class, with SimGrid's max-min system counting each class's flows on
// each link.
//
// The flows of the phase and the SimGrid links they cross are coloured by refinement (one-dimensional
// Weisfeiler-Leman on the flow-link incidence graph): flows start coloured by (bytes, route latency, links on the
// route) and links by capacity; then, round after round, every link takes the multiset of its flows' colours and every
// flow the multiset of its links' colours, until a round splits no class. The stable colouring is an equitable
// partition: every flow of class c has the same size, latency and number n(c, L) of links of each link class L, and
// every link of class L carries the same number m(c, L) = |c| n(c, L) / |L| of flows of class c.
//
// Why this is exact. SimGrid's CM02 model shares links by max-min fairness with each flow weighted by 1 / its route
// latency (progressive filling: all unfrozen flows' rates x latency rise together; a link saturates when the sum of its
// flows' rates reaches its capacity, and the flows crossing it freeze). If at some level all flows of a class have the
// same rate, every link of a class carries the same load, so the links of a class saturate together and a flow class
// freezes as a whole; by induction the rates are uniform on classes at every level, so each link class is one
// constraint sum_c m(c, L) x_c <= capacity_L. That is exactly the max-min problem of one flow per class whose route
// crosses one link of each class L it uses m(c, L) times (SimGrid adds the consumption of a link met several times on
// a route). Flows of a class have the same size and rate, so they finish together and the remaining flows still form
// an equitable partition: the whole phase, completion events included, is the same. The only differences are the
// floating-point order of the sums (m x instead of x + x + ... + x).
//
// All-to-all on a fat-tree, tree channels on any Clos, ECMP hash buckets, torus or dragonfly rings: whatever the
// symmetry, refinement finds it from the routes, without knowing the fabric. A phase with no symmetry costs the
// refinement (a few passes over its routes) and is solved unreduced.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "sim/network/collectives.h"
#include "sim/network/platform.h"

namespace clustersim::sim {

class FlowClasses {
 public:
  // Colours `flows` (distinct (src, dst) pairs, src != dst, bytes > 0) on `platform`'s routes and current capacities.
  // When they form at most `max_fraction` x flows.size() classes, fills `reps` with one flow per class (the first of
  // each, in input order) and `routes` with their weighted routes, and returns true; otherwise returns false.
  // With `part` (one entry per flow), flows of different parts start in different classes, and `rep_ids` receives
  // each representative's position in `flows`. Two representatives of one (src, dst) pair (a pair in several parts)
  // cannot both have a route override: then it returns false.
  bool Reduce(const std::vector<Flow>& flows, const Platform& platform, double max_fraction, std::vector<Flow>& reps,
              RouteOverride& routes, const std::vector<uint32_t>* part = nullptr,
              std::vector<uint32_t>* rep_ids = nullptr);
  // Refinement rounds of the last Reduce (for tests).
  uint32_t rounds() const { return rounds_; }

 private:
  void RouteAll(const std::vector<Flow>& flows, const Platform& platform, const std::vector<uint32_t>* part);
  // Renumbers `colour[i]` (i in `items`, or 0..n-1 when items is null) densely in first-appearance order; returns the
  // number of distinct colours.
  uint32_t Relabel(std::vector<uint64_t>& colour, const std::vector<uint32_t>* items, size_t n);
  bool Refine(size_t flows, size_t limit);
  bool BuildRoutes(const std::vector<Flow>& flows, const Platform& platform, std::vector<Flow>& reps,
                   RouteOverride& routes, std::vector<uint32_t>* rep_ids);

  std::vector<uint32_t> first_;                   // per flow: its first link in links_ (flows + 1 entries)
  std::vector<uint32_t> links_;                   // the SimGrid links of every route, in order
  std::vector<uint64_t> colour_;                  // per flow: its class
  std::vector<uint32_t> used_;                    // SimGrid links crossed by the phase, in first-use order
  std::vector<uint64_t> link_colour_, link_sum_;  // per SimGrid link
  std::vector<uint8_t> seen_;                     // per SimGrid link
  std::vector<std::pair<int32_t, double>> hops_;
  std::unordered_map<uint64_t, uint32_t> ids_;
  uint32_t flow_classes_ = 0, link_classes_ = 0, rounds_ = 0;
};

}  // namespace clustersim::sim
