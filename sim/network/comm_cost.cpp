// CommCostModel; see comm_cost.h.
#include "sim/network/comm_cost.h"

#include <algorithm>
#include <functional>
#include <simgrid/s4u/Engine.hpp>
#include <unordered_map>
#include <xbt/config.hpp>

#include "common/error.h"
#include "sim/network/hash_mix.h"

namespace clustersim::sim {

CommCostModel::CommCostModel(PhaseSolver& solver, const topo::Fabric& fabric, const wl::RankLayout& layout,
                             const v1::Collectives& params, uint64_t max_flows_per_phase, bool in_network_reduction,
                             bool reuse_shapes, bool reduce_symmetry)
    : solver_(solver),
      fabric_(fabric),
      layout_(layout),
      params_(params),
      max_flows_(max_flows_per_phase),
      reuse_shapes_(reuse_shapes),
      reduce_symmetry_(reduce_symmetry) {
  shape_.gpus_per_node = fabric.params().gpus_per_node;
  shape_.scale_up_domain = fabric.params().scale_up_domain;
  shape_.in_network_reduction = in_network_reduction;
  const topo::FabricParams& fp = fabric.params();
  shape_.scale_out_bytes_per_s = fp.nic_bandwidth_gbps * fp.nics_per_gpu * 1e9 / 8 * params.protocol_efficiency();
  shape_.scale_up_bytes_per_s = fp.scale_up_bandwidth_gbps * 1e9 / 8 * params.scale_up_protocol_efficiency();
  shape_.direct_links = fp.topology == "torus";
  if (shape_.direct_links) shape_.torus_dims = fp.torus_dims;
}

const std::vector<std::vector<uint32_t>>& CommCostModel::Instances(wl::Dim dim) {
  auto it = instances_.find(static_cast<int>(dim));
  if (it != instances_.end()) return it->second;
  std::vector<std::vector<uint32_t>> groups;
  const uint32_t world = layout_.world();
  std::vector<bool> seen(world, false);
  for (uint32_t r = 0; r < world; ++r) {
    if (seen[r]) continue;
    std::vector<uint32_t> g = layout_.Group(r, dim);
    for (uint32_t m : g) seen[m] = true;
    ToGpus(g);
    groups.push_back(std::move(g));
  }
  return instances_.emplace(static_cast<int>(dim), std::move(groups)).first->second;
}

double CommCostModel::MaxRouteLatency(const std::vector<Flow>& flows) {
  double worst = 0;
  for (const Flow& f : flows) {
    if (f.src == f.dst) continue;
    hops_.clear();
    fabric_.Route(f.src, f.dst, 0, hops_);
    double lat = 0;
    for (const topo::Hop& h : hops_) lat += fabric_.link(h.link).latency_ns * 1e-9;
    worst = std::max(worst, lat / fabric_.RouteParts(f.src, f.dst));  // a spread route: its parts' mean
  }
  return worst;
}

double CommCostModel::SolveScaled(const std::vector<Flow>& flows, uint64_t& solved, uint64_t salt) {
  if (flows.empty()) return 0;
  const double unit = flows.front().bytes;
  const uint64_t before = solver_.flows_solved();  // flows SimGrid solves: one per class for a class-reduced phase
  if (!(unit > 0) || !reuse_shapes_) {
    const double t = solver_.Solve(flows);
    solved += solver_.flows_solved() - before;
    return t;
  }
  // Order-independent hash of the set of (src, dst, relative size): the same traffic issued from another stage's
  // representative lists the groups in another order but is the same phase.
  auto splitmix = [](uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  uint64_t h = flows.size() ^ splitmix(salt);
  for (const Flow& f : flows) {
    const uint64_t rel = static_cast<uint64_t>(std::llround(f.bytes / unit * 1e6));
    h += splitmix((static_cast<uint64_t>(f.src) << 32 | f.dst) ^ splitmix(rel));
  }
  auto it = shapes_.find(h);
  if (it != shapes_.end()) {
    ++phases_reused_;
    return it->second.latency_s + it->second.seconds_per_unit * unit;
  }
  const double t = solver_.Solve(flows);
  solved += solver_.flows_solved() - before;
  ShapeFit fit;
  fit.latency_s = std::min(t, MaxRouteLatency(flows));
  fit.seconds_per_unit = (t - fit.latency_s) / unit;
  shapes_.emplace(h, fit);
  return t;
}

void CommCostModel::EnsureLinkScratch() {
  const size_t links = solver_.platform().num_links();
  if (owner_.size() == links) return;
  owner_.assign(links, -1);
  local_.assign(links, 0);
  users_.assign(links, 0);
  pattern_.assign(links, 0);
  reference_.assign(links, 0);
}

bool CommCostModel::IndependentClasses(size_t units, const FlowsOf& flows_of, std::vector<size_t>& reps,
                                       UnitLinks* links) {
  const Platform& platform = solver_.platform();
  EnsureLinkScratch();
  std::vector<int32_t> used;  // links owned so far, to reset owner_
  std::unordered_map<uint64_t, size_t> classes;
  reps.clear();
  if (links != nullptr) *links = UnitLinks{};
  bool independent = true;
  for (size_t k = 0; k < units && independent; ++k) {
    flows_of(k, unit_flows_);
    uint64_t h = unit_flows_.size();
    const size_t first_local = used.size();
    for (const Flow& f : unit_flows_) {
      platform.RouteHops(f.src, f.dst, route_);
      h = Mix(h, Bits(f.bytes));
      h = Mix(h, route_.size());
      for (const auto& [link, latency] : route_) {
        h = Mix(h, Bits(latency));
        if (link < 0) continue;
        const auto l = static_cast<size_t>(link);
        if (owner_[l] >= 0 && static_cast<size_t>(owner_[l]) != k) {
          independent = false;
          break;
        }
        if (owner_[l] < 0) {
          owner_[l] = static_cast<int32_t>(k);
          local_[l] = static_cast<int32_t>(used.size() - first_local);
          used.push_back(link);
        }
        // The link's number within the unit (first-use order) captures which flows share it.
        h = Mix(h, static_cast<uint64_t>(local_[l]));
        h = Mix(h, Bits(platform.CurrentCapacity(static_cast<uint32_t>(l))));
      }
      if (!independent) break;
    }
    if (!independent) break;
    const auto [it, fresh] = classes.emplace(h, reps.size());
    if (fresh) reps.push_back(k);
    if (links != nullptr) {
      links->first.push_back(static_cast<uint32_t>(first_local));
      links->cls.push_back(static_cast<uint32_t>(it->second));
    }
  }
  for (int32_t l : used) owner_[static_cast<size_t>(l)] = -1;
  if (links != nullptr && independent) {
    links->first.push_back(static_cast<uint32_t>(used.size()));
    links->links.assign(used.begin(), used.end());
  }
  return independent;
}

bool CommCostModel::SymmetricUnits(size_t units, const FlowsOf& flows_of,
                                   std::vector<std::pair<uint32_t, uint32_t>>& shared) {
  const Platform& platform = solver_.platform();
  EnsureLinkScratch();
  std::vector<int32_t> all;  // every link touched, to reset the scratch arrays
  std::vector<int32_t> mine;
  bool ok = true;
  // Pass 1: per link, the number of units using it and the set of flow positions they use it with.
  for (size_t k = 0; k < units && ok; ++k) {
    flows_of(k, unit_flows_);
    mine.clear();
    for (size_t j = 0; j < unit_flows_.size(); ++j) {
      platform.RouteHops(unit_flows_[j].src, unit_flows_[j].dst, route_);
      for (const auto& [link, latency] : route_) {
        if (link < 0) continue;
        const auto l = static_cast<size_t>(link);
        if (owner_[l] != static_cast<int32_t>(k)) {
          if (owner_[l] < 0 && users_[l] == 0) all.push_back(link);
          owner_[l] = static_cast<int32_t>(k);
          pattern_[l] = 0;
          mine.push_back(link);
        }
        pattern_[l] = Mix(pattern_[l], j);
      }
    }
    for (int32_t link : mine) {
      const auto l = static_cast<size_t>(link);
      if (users_[l]++ == 0) reference_[l] = pattern_[l];
      else if (reference_[l] != pattern_[l]) ok = false;  // used through other flows by another unit
    }
  }
  // Pass 2: every unit must be the same problem once each shared link is divided among its users.
  uint64_t first = 0;
  std::vector<int32_t> used;
  for (size_t k = 0; k < units && ok; ++k) {
    flows_of(k, unit_flows_);
    uint64_t h = unit_flows_.size();
    used.clear();
    for (const Flow& f : unit_flows_) {
      platform.RouteHops(f.src, f.dst, route_);
      h = Mix(h, Bits(f.bytes));
      h = Mix(h, route_.size());
      for (const auto& [link, latency] : route_) {
        h = Mix(h, Bits(latency));
        if (link < 0) continue;
        const auto l = static_cast<size_t>(link);
        if (owner_[l] != -2 - static_cast<int32_t>(k)) {
          owner_[l] = -2 - static_cast<int32_t>(k);
          local_[l] = static_cast<int32_t>(used.size());
          used.push_back(link);
        }
        h = Mix(h, static_cast<uint64_t>(local_[l]));
        h = Mix(h, Bits(platform.CurrentCapacity(static_cast<uint32_t>(l)) / users_[l]));
      }
    }
    if (k == 0) {
      first = h;
      shared.clear();
      for (int32_t link : used)
        if (users_[static_cast<size_t>(link)] > 1)
          shared.emplace_back(static_cast<uint32_t>(link), users_[static_cast<size_t>(link)]);
    } else if (h != first) {
      ok = false;
    }
  }
  for (int32_t link : all) {
    const auto l = static_cast<size_t>(link);
    owner_[l] = -1;
    users_[l] = 0;
  }
  return ok && !shared.empty();
}

// One step of a plan mapped onto the instances it is solved for. A unit is an (instance, block) pair: one block of
// the step's flows mapped onto one instance.
struct CommCostModel::StepUnits {
  const PhaseStep& step;
  const std::vector<std::vector<uint32_t>>& instances;
  const std::vector<size_t>& order;                 // instance order: the representative's own first (SIZE_MAX: rep)
  const std::unordered_map<uint32_t, uint32_t>& pos;  // representative rank -> its position in the group
  size_t blocks = 1;
  size_t per_block = 0;

  StepUnits(const PhaseStep& st, const std::vector<std::vector<uint32_t>>& inst, const std::vector<size_t>& ord,
            const std::unordered_map<uint32_t, uint32_t>& p)
      : step(st), instances(inst), order(ord), pos(p) {
    blocks = step.blocks > 1 && step.flows.size() % step.blocks == 0 ? step.blocks : 1;
    per_block = step.flows.size() / blocks;
  }
  size_t units() const { return order.size() * blocks; }
  // Flows first .. first + count of the step on the i-th instance of `order`.
  void Map(size_t i, size_t first, size_t count, std::vector<Flow>& f) const {
    f.clear();
    const size_t k = order[i];
    for (size_t j = first; j < first + count; ++j) {
      const Flow& fl = step.flows[j];
      if (k == SIZE_MAX) f.push_back(fl);
      else f.push_back({instances[k][pos.at(fl.src)], instances[k][pos.at(fl.dst)], fl.bytes});
    }
  }
  FlowsOf UnitFlows() const {
    return [this](size_t u, std::vector<Flow>& f) { Map(u / blocks, (u % blocks) * per_block, per_block, f); };
  }
};

// The key of a step's structure for ChooseMode: the step's flows up to a common scale of their sizes (the same
// exchange with other byte counts, issued again by another layer or micro-batch), its blocks and its instances.
// Without `sizes` the flows' sizes are left out: with one block every unit carries the same sizes (the step's flows by
// position), so which units are independent, symmetric or identical problems depends on the routes alone, and an
// exchange whose sizes vary from layer to layer (skewed routing) is checked once.
// Every unit is the step's flows mapped by position onto one instance, so when the representative's group is one of
// the instances the key names the flows by position and the instances in their own order: the same exchange issued
// from another stage's representative (only `order` differs) is the same structure.
uint64_t CommCostModel::StructureKey(const StepUnits& su, bool sizes) const {
  const double unit = su.step.flows.front().bytes;
  const bool listed = su.order.empty() || su.order.front() != SIZE_MAX;
  uint64_t key = Mix(Mix(Mix(su.blocks, su.step.flows.size()), listed ? 1 : 2), sizes ? 1 : 2);
  for (const Flow& f : su.step.flows) {
    const uint64_t pair = listed ? static_cast<uint64_t>(su.pos.at(f.src)) << 32 | su.pos.at(f.dst)
                                 : static_cast<uint64_t>(f.src) << 32 | f.dst;
    key = Mix(key, pair);
    if (sizes) key = Mix(key, unit > 0 ? static_cast<uint64_t>(std::llround(f.bytes / unit * 1e6)) : Bits(f.bytes));
  }
  if (listed) {
    for (const auto& members : su.instances)
      for (uint32_t m : members) key = Mix(key, m);
  } else {
    for (size_t k : su.order)
      if (k != SIZE_MAX)
        for (uint32_t m : su.instances[k]) key = Mix(key, m);
  }
  return key;
}

// Which exact symmetry reduction applies to a step (comm_cost.h): units on disjoint links are separate max-min
// problems, solved once per class of identical ones (kClasses, reps_ filled); units that share links in the same
// pattern are solved as one on those links' capacity divided among their users (kScaled, shared_ and scaled_unit_
// filled); otherwise every instance is solved together (kAll). Checked once per structure (StructureKey); the units
// chosen are remembered by instance, so another order of the same instances maps them onto its own unit numbers.
CommCostModel::Mode CommCostModel::ChooseMode(const StepUnits& su) {
  has_key_ = false;
  scaled_unit_ = 0;
  choice_ = nullptr;
  if (!reduce_symmetry_ || su.units() <= 1 || su.step.flows.empty()) return Mode::kAll;
  step_key_ = StructureKey(su, true);
  const uint64_t key = su.blocks > 1 ? step_key_ : StructureKey(su, false);
  has_key_ = su.step.flows.front().bytes > 0;
  // Unit number in this order <-> (instance, block).
  const auto to_instance = [&su](size_t u) {
    return std::pair<size_t, size_t>{su.order[u / su.blocks], u % su.blocks};
  };
  if (const auto it = choices_.find(key); it != choices_.end()) {
    choice_ = &it->second;
    // Instance -> its place in this order: SolvePlan puts the representative's own group first and the others in
    // their order (checked; a search otherwise).
    const auto to_unit = [&su](const std::pair<size_t, size_t>& ib) {
      const size_t first = su.order.front();
      size_t place = ib.first == first ? 0 : ib.first < first ? ib.first + 1 : ib.first;
      if (place >= su.order.size() || su.order[place] != ib.first)
        place = static_cast<size_t>(std::find(su.order.begin(), su.order.end(), ib.first) - su.order.begin());
      return place * su.blocks + ib.second;
    };
    reps_.clear();
    for (const auto& ib : it->second.reps) reps_.push_back(to_unit(ib));
    std::sort(reps_.begin(), reps_.end());
    shared_ = it->second.shared;
    scaled_unit_ = to_unit(it->second.scaled);
    return it->second.mode;
  }
  const FlowsOf unit_of = su.UnitFlows();
  Mode mode = Mode::kAll;
  UnitLinks links;
  if (IndependentClasses(su.units(), unit_of, reps_, &links))
    mode = Mode::kClasses;
  else if (SymmetricUnits(su.units(), unit_of, shared_))
    mode = Mode::kScaled;
  Choice choice{mode, {}, shared_, to_instance(0), {}};
  for (size_t u : reps_) choice.reps.push_back(to_instance(u));
  if (mode == Mode::kClasses && su.order.front() != SIZE_MAX) choice.units = InstanceOrder(su, links);
  choice_ = &choices_.emplace(key, std::move(choice)).first->second;
  return mode;
}

// Points gathered_ at the flows to solve in `mode` (collected into step_flows_, or the step's own flows when they are
// the representative's whole group) and returns how many instances they cover (0: a reduction stands for all of
// them). In kAll mode, a phase over max_flows_ is cut to a prefix of the instances (or of one instance's blocks) and
// `out` is marked sampled.
size_t CommCostModel::GatherFlows(const StepUnits& su, Mode mode, CommCost& out) {
  std::vector<Flow>& flows = step_flows_;
  flows.clear();
  gathered_ = &step_flows_;
  if (mode == Mode::kClasses) {
    const FlowsOf unit_of = su.UnitFlows();
    for (size_t u : reps_) {
      unit_of(u, one_);
      flows.insert(flows.end(), one_.begin(), one_.end());
    }
    return 0;
  }
  if (mode == Mode::kScaled) {
    su.UnitFlows()(scaled_unit_, flows);
    return 0;
  }
  size_t instances_solved = su.order.size();
  const size_t per = std::max<size_t>(1, su.step.flows.size());
  if (instances_solved * per > max_flows_) {
    instances_solved = std::max<size_t>(1, max_flows_ / per);
    out.sampled = true;
  }
  // A single instance over the limit is cut to a prefix of its blocks (the ranks of a pipeline transfer).
  const size_t count = out.sampled && instances_solved == 1 && su.blocks > 1
                           ? std::max<size_t>(1, max_flows_ / std::max<size_t>(1, su.per_block)) * su.per_block
                           : su.step.flows.size();
  if (instances_solved == 1 && count >= su.step.flows.size()) {
    // The first instance is the representative's own group (SolvePlan), on which the step's flows are already
    // mapped: no copy (a global all-to-all lists 10^7 flows).
    gathered_ = &su.step.flows;
    return 1;
  }
  flows.reserve(instances_solved * count);
  for (size_t i = 0; i < instances_solved; ++i) {
    su.Map(i, 0, std::min(count, su.step.flows.size()), one_);
    flows.insert(flows.end(), one_.begin(), one_.end());
  }
  return instances_solved;
}

// IndependentClasses' unit links renumbered from the order they were found in (su.order) to instance x blocks + block.
CommCostModel::UnitLinks CommCostModel::InstanceOrder(const StepUnits& su, const UnitLinks& found) {
  const size_t units = su.instances.size() * su.blocks;
  std::vector<uint32_t> at(units, UINT32_MAX);  // instance unit -> unit in su.order
  for (size_t u = 0; u < su.units(); ++u)
    at[su.order[u / su.blocks] * su.blocks + u % su.blocks] = static_cast<uint32_t>(u);
  UnitLinks out;
  out.first.reserve(units + 1);
  out.links.reserve(found.links.size());
  out.cls.reserve(units);
  for (size_t id = 0; id < units; ++id) {
    if (at[id] == UINT32_MAX) return UnitLinks{};
    out.first.push_back(static_cast<uint32_t>(out.links.size()));
    out.links.insert(out.links.end(), found.links.begin() + found.first[at[id]],
                     found.links.begin() + found.first[at[id] + 1]);
    out.cls.push_back(found.cls[at[id]]);
  }
  out.first.push_back(static_cast<uint32_t>(out.links.size()));
  return out;
}

// In kClasses mode the units are on disjoint links and every unit of a class is its representative's problem with
// its links renamed in first-use order, so each link carries what the representative's link of the same number
// carries: the representatives are routed (one route per representative flow instead of one per flow of the step),
// and their loads, `loads[class][local link]`, are scattered over every unit's links (the sums are the same, in the
// same order). False when the current choice holds no unit links.
bool CommCostModel::RepresentativeLoads(const StepUnits& su, std::vector<std::vector<double>>& loads) {
  if (choice_ == nullptr || choice_->mode != Mode::kClasses || choice_->units.first.empty() ||
      su.order.front() == SIZE_MAX || su.instances.size() * su.blocks + 1 != choice_->units.first.size())
    return false;
  const UnitLinks& ul = choice_->units;
  const Platform& platform = solver_.platform();
  EnsureLinkScratch();
  loads.assign(choice_->reps.size(), {});
  for (size_t c = 0; c < choice_->reps.size(); ++c) {
    const auto [inst, block] = choice_->reps[c];
    const size_t lo = ul.first[inst * su.blocks + block], hi = ul.first[inst * su.blocks + block + 1];
    for (size_t i = lo; i < hi; ++i) local_[ul.links[i]] = static_cast<int32_t>(i - lo);
    loads[c].assign(hi - lo, 0);
    for (size_t j = block * su.per_block; j < (block + 1) * su.per_block; ++j) {
      const Flow& fl = su.step.flows[j];
      const uint32_t src = su.instances[inst][su.pos.at(fl.src)], dst = su.instances[inst][su.pos.at(fl.dst)];
      platform.RouteHops(src, dst, route_);
      const double bytes = fl.bytes / platform.RouteParts(src, dst);
      for (const auto& [link, latency] : route_)
        if (link >= 0) loads[c][static_cast<size_t>(local_[static_cast<size_t>(link)])] += bytes;
    }
  }
  for (size_t id = 0; id + 1 < ul.first.size(); ++id)
    if (ul.first[id + 1] - ul.first[id] != loads[ul.cls[id]].size()) return false;
  return true;
}

// Every unit's links with its class representative's loads (RepresentativeLoads), the loaded ones only, into `out`;
// each link once, the units being on disjoint links.
void CommCostModel::ScatterLoads(const UnitLinks& ul, const std::vector<std::vector<double>>& loads,
                                 std::vector<std::pair<uint32_t, double>>& out) {
  out.clear();
  for (size_t id = 0; id + 1 < ul.first.size(); ++id) {
    const std::vector<double>& load = loads[ul.cls[id]];
    for (size_t k = ul.first[id]; k < ul.first[id + 1]; ++k)
      if (load[k - ul.first[id]] > 0) out.emplace_back(ul.links[k], load[k - ul.first[id]]);
  }
}

// Solves step_flows_ (on the divided capacities in kScaled mode).
double CommCostModel::SolveGathered(Mode mode, CommCost& out) {
  if (mode != Mode::kScaled) return SolveScaled(*gathered_, out.flows);
  uint64_t salt = 1;
  for (const auto& [link, users] : shared_) {
    solver_.platform().SetCapacityFactor(link, 1.0 / users);
    salt = Mix(Mix(salt, link), users);
  }
  const double t = SolveScaled(*gathered_, out.flows, salt);
  for (const auto& [link, users] : shared_) solver_.platform().SetCapacityFactor(link, 1.0);
  return t;
}

void CommCostModel::LinkBytes(const StepUnits& su, bool all_solved, std::vector<std::pair<uint32_t, double>>& out) {
  const Platform& platform = solver_.platform();
  if (load_.size() != platform.num_links()) load_.assign(platform.num_links(), 0);
  out.clear();
  auto add = [&](const std::vector<Flow>& flows) {
    for (const Flow& f : flows) {
      platform.RouteHops(f.src, f.dst, route_);
      const double bytes = f.bytes / platform.RouteParts(f.src, f.dst);  // per hop listed (RouteHops)
      for (const auto& [link, latency] : route_) {
        if (link < 0) continue;
        const auto l = static_cast<size_t>(link);
        if (load_[l] == 0 && f.bytes > 0) out.emplace_back(static_cast<uint32_t>(link), 0);
        load_[l] += bytes;
      }
    }
  };
  if (all_solved) {
    add(*gathered_);
  } else if (std::vector<std::vector<double>> loads; RepresentativeLoads(su, loads)) {
    ScatterLoads(choice_->units, loads, out);
    return;
  } else {
    for (size_t i = 0; i < su.order.size(); ++i) {  // the instances not solved carry the same traffic on their links
      su.Map(i, 0, su.step.flows.size(), one_);
      add(one_);
    }
  }
  for (auto& [link, bytes] : out) {
    bytes = load_[link];
    load_[link] = 0;
  }
}

// Hands the step's link loads on every instance to the observer, `weight` times per step; a structure seen before
// (ChooseMode's key) is routed once and scaled by its size.
void CommCostModel::ObserveStep(const StepUnits& su, bool all_solved, double weight) {
  if (observer_ == nullptr) return;
  if (!has_key_) {
    LinkBytes(su, all_solved, link_bytes_);
    observer_->OnLinkBytes(link_bytes_, weight);
    return;
  }
  auto it = observed_.find(step_key_);
  if (it == observed_.end()) {
    it = observed_.emplace(step_key_, Observed{su.step.flows.front().bytes, {}, nullptr, {}}).first;
    // Class-reduced steps keep their representatives' loads (a few hundred values) rather than every link's.
    if (!all_solved && RepresentativeLoads(su, it->second.class_loads)) {
      it->second.units = &choice_->units;
    } else {
      LinkBytes(su, all_solved, it->second.bytes);
      it->second.bytes.shrink_to_fit();
    }
  }
  const Observed& o = it->second;
  if (o.units != nullptr) ScatterLoads(*o.units, o.class_loads, link_bytes_);
  observer_->OnLinkBytes(o.units != nullptr ? link_bytes_ : o.bytes, weight * su.step.flows.front().bytes / o.unit);
}

double CommCostModel::SolveStep(const StepUnits& su, CommCost& out, double occurrences) {
  const Mode mode = ChooseMode(su);
  const size_t instances_solved = GatherFlows(su, mode, out);
  if (mode != Mode::kAll) ++phases_reduced_;
  out.groups_solved =
      std::max<uint32_t>(out.groups_solved, static_cast<uint32_t>(std::max<size_t>(1, instances_solved)));
  const double solved_t = SolveGathered(mode, out);
  const double alpha_s = params_.step_latency_ns() * 1e-9, net_s = params_.net_step_latency_ns() * 1e-9;
  const double t =
      solved_t * su.step.repeat + (alpha_s * su.step.alpha_steps + net_s * su.step.net_steps) * su.step.repeat;
  ObserveStep(su, mode == Mode::kAll && instances_solved >= su.order.size(), occurrences * su.step.repeat);
  if (keeping_ != nullptr) KeepStep(su.step, solved_t);
  return t;
}

double CommCostModel::SolvePlan(const CollectivePlan& plan, const std::vector<std::vector<uint32_t>>& instances,
                                const std::vector<uint32_t>& rep, CommCost& out, double occurrences) {
  std::unordered_map<uint32_t, uint32_t> pos;
  for (uint32_t i = 0; i < rep.size(); ++i) pos.emplace(rep[i], i);
  // Instance order: the representative's own group first, then the others in order.
  std::vector<size_t> order;
  order.reserve(instances.size() + 1);
  for (size_t k = 0; k < instances.size(); ++k)
    if (instances[k] == rep) order.insert(order.begin(), k);
    else order.push_back(k);
  if (order.empty() || instances[order[0]] != rep) order.insert(order.begin(), SIZE_MAX);  // rep not listed
  double total = 0;
  std::map<uint32_t, double> pipelined;  // pipeline group -> max time
  for (const PhaseStep& step : plan.steps) {
    const double t = SolveStep(StepUnits(step, instances, order, pos), out, occurrences);
    if (step.pipeline_group == 0) {
      total += t;
    } else {
      double& m = pipelined[step.pipeline_group];
      m = std::max(m, t);
    }
  }
  for (const auto& [g, t] : pipelined) total += t;
  return total;
}

const CommCost& CommCostModel::Collective(CollectiveKind kind, wl::Dim dim, uint32_t rank, double bytes,
                                          double occurrences, double internode_scale) {
  const Key key = CollectiveKey(kind, dim, bytes, internode_scale);
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second;
  if (frozen_) throw SimulationError("communication cost requested after the solve phase: collective");
  CommCost c;
  std::vector<uint32_t> group = layout_.Group(rank, dim);
  ToGpus(group);
  c.group_size = static_cast<uint32_t>(group.size());
  if (group.size() >= 2 && bytes > 0) {
    const double planned = wl::IsDataParallel(dim) ? bytes * dp_inflation_ : bytes;
    const CollectivePlan plan = PlanCollective(kind, "auto", group, planned, shape_, params_, internode_scale);
    c.algorithm = plan.algorithm;
    const auto& inst = Instances(dim);
    c.groups_total = static_cast<uint32_t>(inst.size());
    if (keep_joint_) {
      keeping_ = &joint_[key];
      keeping_->group = group;
      keeping_->dim = static_cast<int>(dim);
      keeping_transfer_s_ = 0;
    }
    c.time_s = SolvePlan(plan, inst, group, c, occurrences);
    FinishKeeping(c.time_s);
  }
  return cache_.emplace(key, std::move(c)).first->second;
}

void CommCostModel::SetDataParallelEfficiency(double efficiency) {
  if (!(efficiency > 0 && efficiency <= 1)) {
    throw SimulationError("data-parallel collective efficiency " + std::to_string(efficiency) + " is not in (0, 1]");
  }
  if (!cache_.empty()) throw SimulationError("SetDataParallelEfficiency after the first collective was planned");
  dp_inflation_ = 1 / efficiency;
}

void CommCostModel::SetPlacement(std::vector<uint32_t> gpu_of_rank) {
  if (!cache_.empty()) throw SimulationError("SetPlacement after the first collective was planned");
  if (!gpu_of_rank.empty() && gpu_of_rank.size() != layout_.world())
    throw SimulationError("placement table of " + std::to_string(gpu_of_rank.size()) + " ranks for a world of " +
                          std::to_string(layout_.world()));
  for (uint32_t g : gpu_of_rank)
    if (g >= fabric_.num_gpus()) throw SimulationError("placement table names GPU " + std::to_string(g));
  gpu_of_rank_ = std::move(gpu_of_rank);
  instances_.clear();
}

const CommCost& CommCostModel::PipelineTransfer(uint32_t from_stage, int32_t delta, double bytes, double occurrences) {
  const Key key = PipelineKey(from_stage, delta, bytes);
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second;
  if (frozen_) throw SimulationError("communication cost requested after the solve phase: pipeline transfer");
  CommCost c;
  c.algorithm = "p2p";
  c.group_size = 2;
  const uint32_t pp = layout_.pp;
  const uint32_t stage_size = layout_.tp * layout_.cp * layout_.dp;
  const uint32_t to_stage = static_cast<uint32_t>((static_cast<int64_t>(from_stage) + delta + pp) % pp);
  if (pp > 1 && bytes > 0 && to_stage != from_stage) {
    // One phase of stage_size flows, one block per rank, so the symmetry reductions apply (SolvePlan).
    CollectivePlan plan;
    plan.algorithm = "p2p";
    PhaseStep step;
    step.blocks = stage_size;
    step.alpha_steps = P2pAlphaSteps(params_);
    std::vector<uint32_t> members;
    members.reserve(2 * static_cast<size_t>(stage_size));
    for (uint32_t i = 0; i < stage_size; ++i) {
      step.flows.push_back({Gpu(from_stage * stage_size + i), Gpu(to_stage * stage_size + i), bytes});
      members.push_back(Gpu(from_stage * stage_size + i));
    }
    for (uint32_t i = 0; i < stage_size; ++i) members.push_back(Gpu(to_stage * stage_size + i));
    plan.steps.push_back(std::move(step));
    c.groups_total = stage_size;
    if (keep_joint_) {
      keeping_ = &joint_[key];
      keeping_transfer_s_ = 0;
    }
    c.time_s = SolvePlan(plan, {members}, members, c, occurrences);
    FinishKeeping(c.time_s);
    c.groups_solved = c.sampled ? c.groups_solved : stage_size;
  }
  return cache_.emplace(key, std::move(c)).first->second;
}

// --- Joint traffic -------------------------------------------------------------------------------------------------

void CommCostModel::KeepStep(const PhaseStep& step, double solved_s) {
  keeping_transfer_s_ += solved_s * step.repeat;
  if (solved_s <= keeping_->solved_s) return;
  keeping_->solved_s = solved_s;
  keeping_->flows = step.flows;
}

void CommCostModel::FinishKeeping(double time_s) {
  if (keeping_ == nullptr) return;
  JointPhase& p = *keeping_;
  keeping_ = nullptr;
  p.transfer_share = time_s > 0 ? std::min(1.0, keeping_transfer_s_ / time_s) : 0;
  const double unit = p.flows.empty() ? 1 : p.flows.front().bytes;
  uint64_t h = Mix(static_cast<uint64_t>(p.dim + 2), p.flows.size());
  for (const Flow& f : p.flows)
    h = Mix(Mix(h, static_cast<uint64_t>(f.src) << 32 | f.dst),
            unit > 0 ? static_cast<uint64_t>(std::llround(f.bytes / unit * 1e6)) : Bits(f.bytes));
  p.shape = h;
}

const std::vector<int32_t>& CommCostModel::GroupOf(int dim) {
  auto it = group_of_.find(dim);
  if (it != group_of_.end()) return it->second;
  std::vector<int32_t> of(fabric_.num_gpus(), -1);  // GPU ids (placed), not ranks
  const auto& inst = Instances(static_cast<wl::Dim>(dim));
  for (size_t k = 0; k < inst.size(); ++k)
    for (uint32_t g : inst[k]) of[g] = static_cast<int32_t>(k);
  return group_of_.emplace(dim, std::move(of)).first->second;
}

namespace {

// The GPUs of a pipeline transfer's flows (its one instance), as a membership mask.
std::vector<uint8_t> MembersOf(const std::vector<Flow>& flows, uint32_t world) {
  std::vector<uint8_t> in(world, 0);
  for (const Flow& f : flows) in[f.src] = in[f.dst] = 1;
  return in;
}

}  // namespace

// Instances are taken whole, starting from a's representative group and alternating: the instances of b that hold
// one of the GPUs taken so far (those on a's own group always), then those of a, and so on, while the flows stay
// within joint_sample_flows_ (every instance of both when that limit is 0 or they all fit). The traffic that crosses
// the representative's NICs is then all there (what two kinds of traffic share first); instances farther away, which
// meet it only on switch tiers, are left out (bounded against the full union by
// JointTraffic.SampledUnionStaysCloseToTheFullUnion).
void CommCostModel::JointSample(const JointPhase& a, const JointPhase& b, std::vector<size_t>& a_units,
                                std::vector<size_t>& b_units) {
  const uint32_t world = fabric_.num_gpus();  // the flows name placed GPUs, which may lie beyond the job's ranks
  auto count = [this](const JointPhase& p) {
    return p.group.empty() ? size_t{1} : Instances(static_cast<wl::Dim>(p.dim)).size();
  };
  a_units.clear();
  b_units.clear();
  const uint64_t limit = joint_sample_flows_ == 0 ? UINT64_MAX : joint_sample_flows_;
  if (count(a) * a.flows.size() + count(b) * b.flows.size() <= limit) {
    for (size_t k = 0; k < count(a); ++k) a_units.push_back(k);
    for (size_t k = 0; k < count(b); ++k) b_units.push_back(k);
    return;
  }
  struct Side {
    const JointPhase& p;
    std::vector<size_t>& units;
    std::vector<uint8_t> taken, members;
  };
  Side sides[2] = {{a, a_units, {}, {}}, {b, b_units, {}, {}}};
  for (Side& sd : sides) {
    sd.taken.assign(count(sd.p), 0);
    if (sd.p.group.empty()) sd.members = MembersOf(sd.p.flows, world);
  }
  auto instance_of = [this](const Side& sd, uint32_t g) -> int64_t {
    if (sd.p.group.empty()) return sd.members[g] ? 0 : -1;
    return GroupOf(sd.p.dim)[g];
  };
  auto gpus_of = [this](const Side& sd, size_t k, std::vector<uint32_t>& out) {
    if (sd.p.group.empty()) {
      for (uint32_t g = 0; g < sd.members.size(); ++g)
        if (sd.members[g]) out.push_back(g);
    } else {
      const auto& inst = Instances(static_cast<wl::Dim>(sd.p.dim))[k];
      out.insert(out.end(), inst.begin(), inst.end());
    }
  };
  uint64_t flows = a.flows.size();
  const size_t first = a.group.empty() ? 0 : static_cast<size_t>(GroupOf(a.dim)[a.group.front()]);
  sides[0].taken[first] = 1;
  a_units.push_back(first);
  std::vector<uint32_t> frontier, next;
  gpus_of(sides[0], first, frontier);
  for (int side = 1, round = 0; !frontier.empty(); side ^= 1, ++round) {
    Side& sd = sides[side];
    next.clear();
    for (uint32_t g : frontier) {
      const int64_t k = instance_of(sd, g);
      if (k < 0 || sd.taken[static_cast<size_t>(k)]) continue;
      if (round > 0 && flows + sd.p.flows.size() > limit) return;  // b's instances on a's group always come in
      flows += sd.p.flows.size();
      sd.taken[static_cast<size_t>(k)] = 1;
      sd.units.push_back(static_cast<size_t>(k));
      gpus_of(sd, static_cast<size_t>(k), next);
    }
    frontier.swap(next);
  }
}

void CommCostModel::JointFlows(const JointPhase& p, const std::vector<size_t>& units, double scale,
                               std::vector<Flow>& out) {
  out.clear();
  if (p.group.empty()) {
    for (const Flow& f : p.flows) out.push_back({f.src, f.dst, f.bytes * scale});
    return;
  }
  std::unordered_map<uint32_t, uint32_t> pos;
  for (uint32_t i = 0; i < p.group.size(); ++i) pos.emplace(p.group[i], i);
  const auto& inst = Instances(static_cast<wl::Dim>(p.dim));
  out.reserve(units.size() * p.flows.size());
  for (size_t k : units)
    for (const Flow& f : p.flows) out.push_back({inst[k][pos.at(f.src)], inst[k][pos.at(f.dst)], f.bytes * scale});
}

double CommCostModel::JointSlowdown(const Key& a, const Key& b) {
  const JointPhase* pa = joint_phase(a);
  const JointPhase* pb = joint_phase(b);
  if (pa == nullptr || pb == nullptr || pa->flows.empty() || pb->flows.empty() || !(pa->solved_s > 0) ||
      !(pb->solved_s > 0))
    return 1;
  const uint64_t key = Mix(Mix(1, pa->shape), pb->shape);  // ordered: s(a|b) is not s(b|a)
  if (const auto it = slowdowns_.find(key); it != slowdowns_.end()) return it->second;
  // The union is solved on a sample of at most joint_sample_flows_ flows; where the class reduction leaves more than
  // kJointSolvedFlows to SimGrid (hashed routes, oversubscribed tiers), on a sample 8x smaller, down to the instances
  // that hold the representative's GPUs.
  constexpr uint64_t kJointSolvedFlows = 20'000;
  const uint64_t configured = joint_sample_flows_;
  const bool full = configured == 0;
  // The union puts many classes on a link (usage = sum of class counts / route latencies, up to ~1e7): SimGrid's
  // absolute max-min precision (1e-5) is then below the rounding of those sums and a saturated constraint can keep a
  // residue above it (an abort in SimGrid), so the joint solves compare at 1e-3, still 1e-10 of such a usage.
  const double precision = simgrid::config::get_value<double>("maxmin/precision");
  simgrid::s4u::Engine::set_config("maxmin/precision", 1e-3);
  std::vector<size_t> au, bu;
  std::vector<Flow> fa, fb;
  std::vector<double> alone, joint;
  // b outlasts a: its flows are scaled far beyond the time a could take even at a small share of its links.
  const double scale = 1e4 * std::max(1.0, pa->solved_s / pb->solved_s);
  for (uint64_t limit = configured;; limit = std::max<uint64_t>(1, limit / 8)) {
    joint_sample_flows_ = limit;
    JointSample(*pa, *pb, au, bu);
    JointFlows(*pa, au, 1, fa);
    JointFlows(*pb, bu, scale, fb);
    const uint64_t cap = full || limit == 1 ? 0 : kJointSolvedFlows;
    alone = solver_.SolveParts({&fa}, cap);
    if (!alone.empty()) joint = solver_.SolveParts({&fa, &fb}, cap);
    if (!joint.empty() || cap == 0) break;
  }
  joint_sample_flows_ = configured;
  simgrid::s4u::Engine::set_config("maxmin/precision", precision);
  joint_solves_ += 2;
  // The delay b adds on the sample, over a's time alone on every instance (as priced): a sample that leaves out
  // instances of a also leaves out a's contention with itself, which the ratio on the sample alone would miss.
  const double s = alone.at(0) > 0 ? 1 + (joint.at(0) - alone.at(0)) / std::max(alone.at(0), pa->solved_s) : 1;
  slowdowns_.emplace(key, s);
  return s;
}

}  // namespace clustersim::sim
