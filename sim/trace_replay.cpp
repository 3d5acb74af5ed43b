// Trace replay; see trace_replay.h. ReplayTrace reads as its stages: plan the placement (parent), then in the
// simulation process build the world, price every collective and transfer of the trace on it, replay the dataflow
// and account the result.
#include "sim/trace_replay.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <regex>
#include <simgrid/s4u.hpp>
#include <tuple>

#include "common/error.h"
#include "sim/engine.h"
#include "sim/hardware/compute_model.h"
#include "sim/memory_guard.h"
#include "sim/network/comm_cost.h"
#include "sim/plausible.h"
#include "sim/simulation.h"
#include "sim/stages.h"
#include "sim/step_executor.h"

namespace clustersim::sim {

namespace sg4 = simgrid::s4u;
namespace ct = wl::chakra;

namespace {

std::string FamilyOf(const std::string& name) {
  const size_t slash = name.rfind('/');
  return slash == std::string::npos ? name : name.substr(0, slash);
}

// Breakdown bucket of a family name by its leading dimension ("tp/0" -> tp, "dpcp/4" -> dp, "pp0+1" -> pp).
enum class Bucket { kTp, kCp, kPp, kDp, kEp, kOther };
Bucket BucketOf(const std::string& family) {
  auto starts = [&](const char* p) { return family.rfind(p, 0) == 0; };
  if (starts("tpcp") || starts("cp")) return Bucket::kCp;
  if (starts("tp")) return Bucket::kTp;
  if (starts("pp")) return Bucket::kPp;
  if (starts("dp") || starts("edp")) return Bucket::kDp;
  if (starts("ep")) return Bucket::kEp;
  return Bucket::kOther;
}

// What the simulation process holds per trace node beyond the trace itself (costs, buckets, dataflow state).
constexpr double kReplayBytesPerNode = 200;

// --- placement (parent process) -------------------------------------------------------------------------------------

// Where the trace's ranks go: R traced ranks, k replicas, and which process groups grow across replicas.
struct ReplayPlan {
  uint32_t R = 0;
  uint32_t k = 0;
  std::vector<uint8_t> grown;  // per process group
  std::string precision;
};

std::vector<uint8_t> GrownGroups(const ct::Trace& trace, const std::string& regex) {
  std::vector<uint8_t> grown(trace.groups.size(), 0);
  if (regex.empty()) return grown;
  std::regex re;
  try {
    re = std::regex(regex, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw InputError::Field("", 0, "--dp-pg", regex, std::string("not a valid regex: ") + e.what());
  }
  for (size_t g = 0; g < trace.groups.size(); ++g) grown[g] = std::regex_search(trace.groups[g].name, re) ? 1 : 0;
  return grown;
}

// How one compute node is timed (ComputeTiming): host nodes by their recorded duration; GPU nodes as the mode says.
enum class NodeTiming : uint8_t { kRecorded, kModel, kNone };
NodeTiming TimingOf(const ct::TraceNode& n, ComputeTiming mode) {
  const bool duration = n.duration_s > 0, work = n.flops > 0 || n.bytes > 0;
  if (n.stream == ct::kHostStream || mode == ComputeTiming::kRecordedOnly)
    return duration ? NodeTiming::kRecorded : NodeTiming::kNone;
  if (mode == ComputeTiming::kRetime)
    return work ? NodeTiming::kModel : duration ? NodeTiming::kRecorded : NodeTiming::kNone;
  return duration ? NodeTiming::kRecorded : work ? NodeTiming::kModel : NodeTiming::kNone;
}

bool IsComputeNode(const ct::TraceNode& n) {
  return n.kind == ct::NodeKind::kCompute || n.kind == ct::NodeKind::kMemory;
}

void CheckRecordedDurations(const ct::Trace& trace) {
  for (const ct::TraceRank& tr : trace.ranks)
    for (const ct::TraceNode& n : tr.nodes)
      if (IsComputeNode(n) && n.stream != ct::kHostStream && n.flops > 0 && n.duration_s <= 0)
        throw InputError::Field(tr.file, 0, "node " + std::to_string(n.id) + " duration_micros", "0",
                                "--recorded-durations needs the recorded duration of every compute node");
}

// An all_to_all is one phase of n x (n - 1) flows per group, which no symmetry reduction splits: a group grown across
// the replicas past options.max_flows_per_phase would not be solved within minutes and memory.
void CheckAllToAllSizes(const v1::Scenario& s, const ct::Trace& trace, const ReplayPlan& p) {
  const uint64_t most = std::max<uint64_t>(1, s.options().max_flows_per_phase());
  for (const ct::TraceRank& tr : trace.ranks)
    for (const ct::TraceNode& n : tr.nodes) {
      if (n.kind != ct::NodeKind::kCollective || n.coll != wl::Coll::kAllToAll) continue;
      const uint64_t size = uint64_t{trace.groups[n.pg].ranks.size()} * (p.grown[n.pg] ? p.k : 1);
      if (size * (size > 0 ? size - 1 : 0) <= most) continue;
      throw InputError::Field("", 0, "--replicas", std::to_string(p.k),
                              "the all_to_all of pg \"" + trace.groups[n.pg].name + "\" grows to " +
                                  std::to_string(size) + " ranks, one phase of " + std::to_string(size * (size - 1)) +
                                  " flows; at most " + std::to_string(most) +
                                  " (options.max_flows_per_phase) are solved in one phase");
    }
}

// A trace in which nothing takes time (Chakra's converter run on a host trace without its Kineto profile: host ops
// with duration 0, no GPU kernels, no num_ops) is refused with that explanation.
void CheckTimedWork(const ct::Trace& trace, const TimingCounts& c) {
  if (c.recorded + c.modelled > 0) return;
  for (const ct::TraceRank& tr : trace.ranks)
    for (const ct::TraceNode& n : tr.nodes)
      if (!IsComputeNode(n) && n.comm_bytes > 0) return;
  throw InputError(trace.ranks[0].file + ": the trace has no timed work: its " + std::to_string(c.host_untimed) +
                   " host op(s) and " + std::to_string(c.untimed) +
                   " GPU compute node(s) have no duration_micros (0) and no num_ops, and it moves no bytes; a "
                   "PyTorch trace needs its Kineto profile linked in (chakra_trace_link, docs/trace-replay.md)");
}

// An all-to-all is planned with a flow per pair of GPUs (PXN across nodes: per pair of GPUs inside a node and per
// (GPU, other node) pair across them; collectives.cpp). An all-to-all grown to many GPUs is refused before forking
// when its flows, at the phase solver's working set of ~2 KiB per flow (phase_solver.cpp), would exceed the
// simulation's memory limit: a 131,072-GPU all-to-all has ~2e9 flows.
void CheckAllToAllSize(const v1::Scenario& s, const ct::Trace& trace, const ReplayPlan& p) {
  std::vector<uint8_t> a2a(trace.groups.size(), 0);
  for (const ct::TraceRank& tr : trace.ranks)
    for (const ct::TraceNode& n : tr.nodes)
      if (n.kind == ct::NodeKind::kCollective && n.coll == wl::Coll::kAllToAll && n.comm_bytes > 0) a2a[n.pg] = 1;
  const double limit = MemoryLimitGb(s) * 1e9;
  const double per_node = std::max(1u, s.cluster().scale_up().gpus_per_node());
  for (uint32_t g = 0; g < trace.groups.size(); ++g) {
    const double m = static_cast<double>(p.grown[g] ? p.k : 1) * static_cast<double>(trace.groups[g].ranks.size());
    const double L = std::min(per_node, m);
    const double flows = L > 1 && m > L ? m * (L - 1) + m * (m / L - 1) : m * (m - 1);
    const double need = flows * 2048;
    if (a2a[g] && need > limit)
      throw InputError::Field("", 0, "--dp-pg", "\"" + trace.groups[g].name + "\"",
                              fmt::format("grows an all-to-all to {:.0f} GPUs: ~{:.3g} flows, ~{:.0f} GB to solve, "
                                          "above the {:.1f} GB memory limit (options.memory_limit_gb); grow fewer "
                                          "GPUs (--replicas) or leave the all-to-all's group out of --dp-pg",
                                          m, flows, need / 1e9, limit / 1e9));
  }
}

// Validates the options against the trace and the cluster (InputError naming the option) before forking.
ReplayPlan PlanReplay(const v1::Scenario& s, const ct::Trace& trace, const ReplayOptions& options) {
  ReplayPlan p;
  p.R = static_cast<uint32_t>(trace.ranks.size());
  const uint32_t gpus = s.cluster().num_gpus();
  if (p.R == 0) throw InputError("replay: the trace has no ranks");
  if (p.R > gpus)
    throw InputError::Field(SourceName(s, options.scenario_file), 0, "cluster.num_gpus", std::to_string(gpus),
                            "smaller than the trace's " + std::to_string(p.R) + " ranks");
  p.k = options.replicas == 0 ? gpus / p.R : options.replicas;
  if (static_cast<uint64_t>(p.k) * p.R > gpus)
    throw InputError::Field("", 0, "--replicas", std::to_string(p.k),
                            std::to_string(p.k) + " replicas of " + std::to_string(p.R) + " ranks need more than the " +
                                std::to_string(gpus) + " GPUs of the cluster");
  p.grown = GrownGroups(trace, options.dp_pg_regex);
  if (options.timing == ComputeTiming::kRecordedOnly) CheckRecordedDurations(trace);
  CheckTimedWork(trace, CountTiming(trace, options.timing));
  CheckAllToAllSize(s, trace, p);
  CheckAllToAllSizes(s, trace, p);  // and the phase it would be, against options.max_flows_per_phase
  p.precision = trace.precision.empty() ? s.workload().precision() : trace.precision;
  // Validate the precision (and the accelerator) here, in the parent, so errors are InputError before forking.
  { const ComputeModel check(s.accelerator(), p.precision, s.name()); }
  return p;
}

// --- pricing (simulation process) -----------------------------------------------------------------------------------

// One row of the replay's communication table: a (kind, family, grown, bytes) solved once.
struct Entry {
  std::string family, collective, algorithm;
  uint64_t bytes = 0;
  uint32_t group_size = 0, count = 0;
  double time_s = 0;
  uint64_t flows = 0;
};

// Solves, on the world's platform, every collective and point-to-point transfer of the trace with every group of its
// family (in every replica) running at once, and gives each trace node its cost. Runs in a controller actor.
class TracePricer {
 public:
  TracePricer(const v1::Scenario& s, const ct::Trace& trace, const ReplayPlan& plan, CommCostModel& costs);
  void PriceAll();

  std::vector<Entry> entries;
  std::vector<std::vector<double>> node_cost;    // [rank][node], seconds
  std::vector<std::vector<Bucket>> node_bucket;  // [rank][node]

 private:
  std::vector<std::vector<uint32_t>> GpuGroupsOf(uint32_t pg) const;
  uint32_t CollectiveEntry(uint32_t r, const ct::TraceNode& n);
  uint32_t SendEntry(uint32_t r, const ct::TraceNode& n);

  const v1::Scenario& s_;
  const ct::Trace& trace_;
  const ReplayPlan& plan_;
  CommCostModel& costs_;
  std::vector<std::string> pg_family_;
  std::vector<Bucket> pg_bucket_;
  std::map<std::pair<std::string, int>, std::vector<uint32_t>> coll_family_;  // (family, grown) -> pgs
  // p2p families: (label family, bytes) -> traced (src, dst) pairs.
  std::map<std::pair<std::string, uint64_t>, std::vector<std::pair<uint32_t, uint32_t>>> p2p_family_;
  std::map<std::tuple<int, std::string, int, uint64_t>, uint32_t> entry_of_;
  // Entry of a (node kind, collective, pg, bytes) already seen: repeated nodes skip the string-keyed lookup.
  std::map<std::tuple<int, int, uint32_t, uint64_t>, uint32_t> entry_by_pg_;
};

TracePricer::TracePricer(const v1::Scenario& s, const ct::Trace& trace, const ReplayPlan& plan, CommCostModel& costs)
    : s_(s), trace_(trace), plan_(plan), costs_(costs) {
  pg_family_.resize(trace.groups.size());
  pg_bucket_.resize(trace.groups.size());
  for (uint32_t g = 0; g < trace.groups.size(); ++g) {
    pg_family_[g] = trace.groups[g].family();
    pg_bucket_[g] = BucketOf(pg_family_[g]);
    coll_family_[{pg_family_[g], plan.grown[g]}].push_back(g);
  }
  for (uint32_t r = 0; r < plan.R; ++r)
    for (const ct::TraceNode& n : trace.ranks[r].nodes)
      if (n.kind == ct::NodeKind::kSend)
        p2p_family_[{FamilyOf(trace.p2p_labels[n.pg]), n.comm_bytes}].emplace_back(r, n.peer);
  node_cost.resize(plan.R);
  node_bucket.resize(plan.R);
}

// GPU groups of process group `pg` across the replicas: one group of k x size GPUs when it grows, else one per
// replica (replica j of trace rank r is GPU j x R + r).
std::vector<std::vector<uint32_t>> TracePricer::GpuGroupsOf(uint32_t pg) const {
  std::vector<std::vector<uint32_t>> out;
  const auto& m = trace_.groups[pg].ranks;
  const uint32_t k = plan_.k, R = plan_.R;
  if (plan_.grown[pg]) {
    std::vector<uint32_t> one;
    for (uint32_t j = 0; j < k; ++j)
      for (uint32_t r : m) one.push_back(j * R + r);
    out.push_back(std::move(one));
  } else {
    for (uint32_t j = 0; j < k; ++j) {
      std::vector<uint32_t> one;
      for (uint32_t r : m) one.push_back(j * R + r);
      out.push_back(std::move(one));
    }
  }
  return out;
}

uint32_t TracePricer::CollectiveEntry(uint32_t, const ct::TraceNode& n) {
  const CollectiveKind kind = ToCollectiveKind(n.coll);
  const auto key = std::make_tuple(static_cast<int>(kind), pg_family_[n.pg], int{plan_.grown[n.pg]}, n.comm_bytes);
  if (auto it = entry_of_.find(key); it != entry_of_.end()) return it->second;
  // Every group of the family in every replica, the requesting rank's group first, then by first GPU.
  std::vector<std::vector<uint32_t>> groups;
  for (uint32_t g : coll_family_.at({pg_family_[n.pg], plan_.grown[n.pg]}))
    for (auto& one : GpuGroupsOf(g)) groups.push_back(std::move(one));
  std::sort(groups.begin(), groups.end(), [](const auto& a, const auto& b) { return a.front() < b.front(); });
  std::vector<uint32_t> rep = GpuGroupsOf(n.pg).front();
  auto at = std::find(groups.begin(), groups.end(), rep);
  if (at != groups.end()) std::rotate(groups.begin(), at, at + 1);
  Entry e;
  e.family = pg_family_[n.pg];
  e.collective = ToString(kind);
  e.bytes = n.comm_bytes;
  e.group_size = static_cast<uint32_t>(rep.size());
  if (rep.size() >= 2 && n.comm_bytes > 0) {
    const CollectivePlan plan =
        PlanCollective(kind, "auto", rep, static_cast<double>(n.comm_bytes), costs_.shape(), s_.collectives());
    CommCost c;
    e.time_s = costs_.SolveGroups(plan, groups, c);
    e.algorithm = plan.algorithm;
    e.flows = c.flows;
  }
  entries.push_back(std::move(e));
  return entry_of_.emplace(key, static_cast<uint32_t>(entries.size() - 1)).first->second;
}

uint32_t TracePricer::SendEntry(uint32_t r, const ct::TraceNode& n) {
  const std::string fam = FamilyOf(trace_.p2p_labels[n.pg]);
  const auto key = std::make_tuple(static_cast<int>(CollectiveKind::kSendRecv), fam, 0, n.comm_bytes);
  if (auto it = entry_of_.find(key); it != entry_of_.end()) return it->second;
  auto pairs = p2p_family_.at({fam, n.comm_bytes});
  std::sort(pairs.begin(), pairs.end());
  pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
  std::vector<std::vector<uint32_t>> groups;
  for (uint32_t j = 0; j < plan_.k; ++j)
    for (const auto& [a, b] : pairs) groups.push_back({j * plan_.R + a, j * plan_.R + b});
  std::sort(groups.begin(), groups.end());
  const std::vector<uint32_t> rep{r, n.peer};
  auto at = std::find(groups.begin(), groups.end(), rep);
  if (at != groups.end()) std::rotate(groups.begin(), at, at + 1);
  Entry e;
  e.family = fam;
  e.collective = ToString(CollectiveKind::kSendRecv);
  e.algorithm = "p2p";
  e.bytes = n.comm_bytes;
  e.group_size = 2;
  if (n.comm_bytes > 0) {
    CollectivePlan plan;
    plan.algorithm = "p2p";
    PhaseStep step;
    step.alpha_steps = P2pAlphaSteps(s_.collectives());
    step.flows.push_back({r, n.peer, static_cast<double>(n.comm_bytes)});
    plan.steps.push_back(std::move(step));
    CommCost c;
    e.time_s = costs_.SolveGroups(plan, groups, c);
    e.flows = c.flows;
  }
  entries.push_back(std::move(e));
  return entry_of_.emplace(key, static_cast<uint32_t>(entries.size() - 1)).first->second;
}

void TracePricer::PriceAll() {
  for (uint32_t r = 0; r < plan_.R; ++r) {
    const ct::TraceRank& tr = trace_.ranks[r];
    node_cost[r].assign(tr.nodes.size(), 0);
    node_bucket[r].assign(tr.nodes.size(), Bucket::kOther);
    for (uint32_t i : tr.order) {
      const ct::TraceNode& n = tr.nodes[i];
      if (n.kind != ct::NodeKind::kCollective && n.kind != ct::NodeKind::kSend) continue;
      const auto fast_key = std::make_tuple(static_cast<int>(n.kind), static_cast<int>(n.coll), n.pg, n.comm_bytes);
      auto hit = entry_by_pg_.find(fast_key);
      if (hit == entry_by_pg_.end()) {
        const uint32_t e = n.kind == ct::NodeKind::kCollective ? CollectiveEntry(r, n) : SendEntry(r, n);
        hit = entry_by_pg_.emplace(fast_key, e).first;
      }
      node_cost[r][i] = entries[hit->second].time_s;
      if (n.kind == ct::NodeKind::kCollective) node_bucket[r][i] = pg_bucket_[n.pg];
      ++entries[hit->second].count;
    }
  }
}

// --- the replay proper ----------------------------------------------------------------------------------------------

// What the replay accounts per traced rank (seconds): GPU compute on either GPU stream; on the compute stream,
// blocking communication per bucket and pipeline receive waits; the end of its last node that counts towards the
// step (host nodes included: the step ends when the last of the rank's streams does).
struct RankTotals {
  double comm_s[6] = {0, 0, 0, 0, 0, 0};
  double wait_recv_s = 0;
  double end_s = 0;
  double compute_s = 0;
};

// Runs the trace's streams to completion and fills one RankTotals per rank; times start at 0.
//
// Each traced rank has three streams (ct::kComputeStream, kCommStream, kHostStream), each running its nodes in the
// rank's topological order. A node starts at t0 = max(end of the stream's previous node, end of each dependency) and
// ends at
//   compute / memory: t0 + duration_s or ComputeModel seconds (TimingOf; host nodes: duration_s);
//   collective:       max(t0 of every member) + node_cost (all members wait for the last one);
//   send:             t0, posting the transfer's arrival t0 + node_cost to the matching receive;
//   receive:          max(t0, arrival).
// The costs are fixed before the replay starts, so every node's end time is a max-plus function of the end times it
// waits for: computed directly with a worklist over the 3 x R streams instead of one SimGrid activity per node
// (4 M nodes: 0.3 s instead of 44 s, same times). Every node's end is final when computed, so streams advance on
// their own clocks and stop only at a node whose input is not known yet: a dependency on the other stream, a receive
// whose send has not run, a collective still missing members. The node that unblocks a stream pushes it back on the
// worklist; each node is visited O(1) times plus once per wake-up, collective rendezvous are O(members) in flat
// arrays, nothing is allocated per node. Results do not depend on the worklist order (max and + of the same values).
// A stream left unfinished means the trace deadlocks, which validation (workloads/chakra_trace.h) rules out:
// SimulationError.
class Dataflow {
 public:
  Dataflow(const ct::Trace& trace, const ComputeModel& compute, ComputeTiming timing, const TracePricer& prices);
  std::vector<RankTotals> Run();

 private:
  static constexpr uint64_t kRunnable = UINT64_MAX;
  static constexpr uint64_t kInCollective = UINT64_MAX - 1;
  void Push(uint32_t s);
  void Advance(uint32_t s);
  // Ends node i of stream s started at t0 (t1), or returns false with the stream marked blocked.
  bool Finish(uint32_t s, uint32_t i, double t0, double& t1);
  bool JoinCollective(uint32_t s, uint32_t i, double t0, double& t1);
  void CheckFinished() const;

  const ct::Trace& trace_;
  const ComputeModel& compute_;
  const ComputeTiming timing_;
  const TracePricer& prices_;
  uint32_t R_ = 0, S_ = 0;
  std::vector<uint64_t> base_;   // rank r's node i is base_[r] + i
  std::vector<double> end_s_;    // node end time, -1 until done
  std::vector<double> arrival_;  // receives: arrival of the matching transfer, -1 until its send ran
  std::vector<uint64_t> first_;  // stream s = 2r + stream: its nodes are list_[first_[s] .. first_[s + 1])
  std::vector<uint32_t> list_;
  std::vector<uint64_t> pos_;  // cursor of each stream into list_
  std::vector<double> clock_;
  std::vector<uint64_t> blocked_;  // global node index the stream waits for, or kInCollective / kRunnable
  std::vector<uint8_t> joined_;    // the stream has arrived at the collective at its cursor
  std::vector<uint8_t> queued_;
  // Collective rendezvous: arrivals, latest arrival, and the streams waiting (slots first_member_[c] ..).
  std::vector<uint64_t> first_member_;
  std::vector<uint32_t> waiter_;
  std::vector<uint32_t> arrived_;
  std::vector<double> ready_s_;
  std::vector<uint32_t> work_;
  std::vector<RankTotals> totals_;
};

constexpr uint32_t kStreams = ct::kStreams;
uint32_t StreamOf(const ct::TraceNode& n) { return n.stream < kStreams ? n.stream : ct::kCommStream; }

Dataflow::Dataflow(const ct::Trace& trace, const ComputeModel& compute, ComputeTiming timing, const TracePricer& prices)
    : trace_(trace), compute_(compute), timing_(timing), prices_(prices) {
  R_ = static_cast<uint32_t>(trace.ranks.size());
  S_ = kStreams * R_;
  base_.assign(R_ + 1, 0);
  for (uint32_t r = 0; r < R_; ++r) base_[r + 1] = base_[r] + trace.ranks[r].nodes.size();
  const uint64_t N = base_[R_];
  end_s_.assign(N, -1.0);
  arrival_.assign(N, -1.0);
  first_.assign(S_ + 1, 0);
  for (uint32_t r = 0; r < R_; ++r)
    for (const ct::TraceNode& n : trace.ranks[r].nodes) ++first_[kStreams * r + StreamOf(n) + 1];
  for (uint32_t s = 0; s < S_; ++s) first_[s + 1] += first_[s];
  list_.resize(N);
  pos_.assign(first_.begin(), first_.end() - 1);
  for (uint32_t r = 0; r < R_; ++r)
    for (uint32_t i : trace.ranks[r].order) list_[pos_[kStreams * r + StreamOf(trace.ranks[r].nodes[i])]++] = i;
  std::copy(first_.begin(), first_.end() - 1, pos_.begin());
  clock_.assign(S_, 0.0);
  blocked_.assign(S_, kRunnable);
  joined_.assign(S_, 0);
  queued_.assign(S_, 1);
  const size_t C = trace.collectives.size();
  first_member_.assign(C + 1, 0);
  for (size_t c = 0; c < C; ++c) first_member_[c + 1] = first_member_[c] + trace.collectives[c].members;
  waiter_.resize(first_member_[C]);
  arrived_.assign(C, 0);
  ready_s_.assign(C, 0.0);
  totals_.resize(R_);
}

void Dataflow::Push(uint32_t s) {
  if (!queued_[s]) {
    queued_[s] = 1;
    work_.push_back(s);
  }
}

std::vector<RankTotals> Dataflow::Run() {
  work_.reserve(S_);
  for (uint32_t s = S_; s-- > 0;) work_.push_back(s);
  while (!work_.empty()) {
    const uint32_t s = work_.back();
    work_.pop_back();
    queued_[s] = 0;
    Advance(s);
  }
  CheckFinished();
  return std::move(totals_);
}

// Runs stream s from its cursor until it ends or blocks.
void Dataflow::Advance(uint32_t s) {
  const uint32_t r = s / kStreams;
  const ct::TraceRank& tr = trace_.ranks[r];
  double* const end = end_s_.data() + base_[r];
  while (pos_[s] < first_[s + 1]) {
    const uint32_t i = list_[pos_[s]];
    const ct::TraceNode& n = tr.nodes[i];
    double t0 = clock_[s];
    for (uint32_t d : n.deps) {
      if (end[d] < 0) {
        blocked_[s] = base_[r] + d;
        return;
      }
      t0 = std::max(t0, end[d]);
    }
    double t1 = t0;
    if (!Finish(s, i, t0, t1)) return;
    end[i] = t1;
    clock_[s] = t1;
    if (!n.overlaps_next_step) totals_[r].end_s = std::max(totals_[r].end_s, t1);
    blocked_[s] = kRunnable;
    ++pos_[s];
    for (uint32_t o = kStreams * r; o < kStreams * (r + 1); ++o)
      if (o != s && blocked_[o] == base_[r] + i) Push(o);
  }
}

bool Dataflow::Finish(uint32_t s, uint32_t i, double t0, double& t1) {
  const uint32_t r = s / kStreams;
  const ct::TraceNode& n = trace_.ranks[r].nodes[i];
  RankTotals& tot = totals_[r];
  switch (n.kind) {
    case ct::NodeKind::kCompute:
    case ct::NodeKind::kMemory: {
      const NodeTiming how = TimingOf(n, timing_);
      const double secs = how == NodeTiming::kRecorded ? n.duration_s
                          : how == NodeTiming::kModel  ? compute_.Seconds(n.compute, n.flops, n.bytes, n.gemm_count)
                                                       : 0.0;
      if (secs > 0) t1 = t0 + secs;
      if (n.stream != ct::kHostStream) tot.compute_s += t1 - t0;
      return true;
    }
    case ct::NodeKind::kCollective:
      return JoinCollective(s, i, t0, t1);
    case ct::NodeKind::kSend: {
      const uint64_t recv = base_[n.peer] + n.match;
      arrival_[recv] = t0 + prices_.node_cost[r][i];
      const uint32_t ps = kStreams * n.peer + StreamOf(trace_.ranks[n.peer].nodes[n.match]);
      if (blocked_[ps] == recv) Push(ps);
      return true;
    }
    case ct::NodeKind::kRecv: {
      const double a = arrival_[base_[r] + i];
      if (a < 0) {
        blocked_[s] = base_[r] + i;
        return false;
      }
      t1 = std::max(t0, a);
      if (s % kStreams == ct::kComputeStream && t1 > t0) tot.wait_recv_s += t1 - t0;
      return true;
    }
  }
  return true;
}

bool Dataflow::JoinCollective(uint32_t s, uint32_t i, double t0, double& t1) {
  const uint32_t r = s / kStreams;
  const uint32_t c = trace_.ranks[r].nodes[i].match;
  const uint32_t members = trace_.collectives[c].members;
  if (!joined_[s]) {
    joined_[s] = 1;
    ready_s_[c] = std::max(ready_s_[c], t0);
    waiter_[first_member_[c] + arrived_[c]] = s;
    if (++arrived_[c] == members)
      for (uint64_t w = first_member_[c]; w + 1 < first_member_[c + 1]; ++w) Push(waiter_[w]);
  }
  if (arrived_[c] < members) {
    blocked_[s] = kInCollective;
    return false;
  }
  joined_[s] = 0;
  t1 = ready_s_[c] + prices_.node_cost[r][i];
  if (s % kStreams == ct::kComputeStream && t1 > t0)
    totals_[r].comm_s[static_cast<int>(prices_.node_bucket[r][i])] += t1 - t0;
  return true;
}

void Dataflow::CheckFinished() const {
  for (uint32_t s = 0; s < S_; ++s)
    if (pos_[s] < first_[s + 1]) {
      const ct::TraceRank& tr = trace_.ranks[s / kStreams];
      const uint32_t i = list_[pos_[s]];
      throw SimulationError("replay deadlocked: " + tr.file + " node " + std::to_string(tr.nodes[i].id) + " (\"" +
                            tr.names[i] + "\") on stream " + std::to_string(s % kStreams) + " never became ready");
    }
}

// --- accounting -----------------------------------------------------------------------------------------------------

// Step time (the latest rank end), tokens/s and model FLOPs from the trace's metadata, hardware FLOPs from num_ops.
// Returns the critical rank (most compute).
uint32_t FillReplayThroughput(const ct::Trace& trace, const ReplayPlan& plan, const ComputeModel& compute,
                              const std::vector<RankTotals>& totals, v1::RunResult& res) {
  const uint32_t R = plan.R;
  double T = 0;
  uint32_t crit = 0;
  for (uint32_t r = 0; r < R; ++r) {
    T = std::max(T, totals[r].end_s);
    if (totals[r].compute_s > totals[crit].compute_s) crit = r;
  }
  if (!(T > 0))
    throw InputError(trace.ranks.front().file +
                     ": the trace has no timed work (no compute node with num_ops, tensor_size or a duration, no "
                     "communication): nothing to replay");
  res.set_step_time_s(T);
  const double cluster_gpus = static_cast<double>(plan.k) * R;
  if (trace.tokens_per_step > 0 && trace.metadata_world > 0) {
    const double tokens = static_cast<double>(trace.tokens_per_step) * cluster_gpus / trace.metadata_world;
    res.set_tokens_per_s(tokens / T);
    res.set_tokens_per_s_per_gpu(tokens / T / cluster_gpus);
  }
  if (trace.model_flops_per_step > 0 && trace.metadata_world > 0) {
    const double per_gpu = trace.model_flops_per_step / trace.metadata_world;
    res.set_model_tflops_per_gpu(per_gpu / T / 1e12);
    res.set_mfu(per_gpu / (T * compute.peak_flops()));
  }
  double flops = 0;
  for (const ct::TraceRank& tr : trace.ranks)
    for (const ct::TraceNode& n : tr.nodes)
      if (n.kind == ct::NodeKind::kCompute) flops += n.flops;
  res.set_hardware_tflops_per_gpu(flops / R / T / 1e12);
  res.set_hfu(flops / R / (T * compute.peak_flops()));
  res.set_flop_convention("trace: hardware FLOPs = sum of num_ops of the traced ranks; model FLOPs from metadata");
  return crit;
}

// Breakdown on the critical rank's compute stream, and per-rank busy/communication/idle seconds.
void FillReplayBreakdown(const ct::Trace& trace, uint32_t crit, const std::vector<RankTotals>& totals,
                         v1::RunResult& res) {
  const double T = res.step_time_s();
  v1::TimeBreakdown& b = *res.mutable_breakdown();
  const RankTotals& cst = totals[crit];
  b.set_compute_s(cst.compute_s);
  b.set_pipeline_bubble_s(cst.wait_recv_s);
  b.set_exposed_tp_comm_s(cst.comm_s[static_cast<int>(Bucket::kTp)]);
  b.set_exposed_cp_comm_s(cst.comm_s[static_cast<int>(Bucket::kCp)]);
  b.set_exposed_pp_comm_s(cst.comm_s[static_cast<int>(Bucket::kPp)]);
  b.set_exposed_dp_comm_s(cst.comm_s[static_cast<int>(Bucket::kDp)]);
  b.set_exposed_ep_comm_s(cst.comm_s[static_cast<int>(Bucket::kEp)]);
  b.set_other_s(cst.comm_s[static_cast<int>(Bucket::kOther)]);
  double accounted = cst.compute_s + cst.wait_recv_s;
  for (double c : cst.comm_s) accounted += c;
  b.set_other_s(b.other_s() + std::max(0.0, T - accounted));  // waiting on dependencies (async comm, peers)
  double util = 0;
  for (uint32_t r = 0; r < totals.size(); ++r) {
    v1::StageTimeline* st = res.add_stages();
    st->set_stage(r);
    st->set_busy_compute_s(totals[r].compute_s);
    double comm = 0;
    for (double c : totals[r].comm_s) comm += c;
    st->set_comm_s(comm);
    st->set_idle_s(std::max(0.0, T - totals[r].compute_s - comm));
    util += std::min(totals[r].compute_s, T) / T;  // work that overlaps the next step fills this one at most
  }
  res.set_gpu_utilization(util / static_cast<double>(totals.size()));
  res.add_critical_path("trace rank " + std::to_string(crit) + " (" + trace.ranks[crit].file +
                        ", most compute): compute " + std::to_string(b.compute_s()) + " s of " + std::to_string(T) +
                        " s");
}

void FillReplayComms(const std::vector<Entry>& entries, v1::RunResult& res) {
  for (const Entry& e : entries) {
    v1::CommStat* cs = res.add_comms();
    cs->set_kind(e.family);
    cs->set_collective(e.collective);
    cs->set_algorithm(e.algorithm);
    cs->set_bytes_per_rank(e.bytes);
    cs->set_group_size(e.group_size);
    cs->set_count_per_step(e.count);
    cs->set_time_s(e.time_s);
    if (e.time_s > 0 && e.collective != ToString(CollectiveKind::kSendRecv)) {
      CollectiveKind kind = CollectiveKind::kAllReduce;
      for (CollectiveKind c : {CollectiveKind::kAllReduce, CollectiveKind::kReduceScatter, CollectiveKind::kAllGather,
                               CollectiveKind::kAllToAll, CollectiveKind::kBroadcast})
        if (e.collective == ToString(c)) kind = c;
      cs->set_bus_bandwidth_gbyte_per_s(static_cast<double>(e.bytes) / e.time_s *
                                        BusBandwidthFactor(kind, e.group_size) / 1e9);
    }
    cs->set_flows_simulated(e.flows);
  }
}

// The simulation process: build, price (in a controller actor), replay, account.
v1::RunResult RunReplay(const v1::Scenario& s, const ct::Trace& trace, const ReplayPlan& plan,
                        const ReplayOptions& options, const ChildChannel& channel) {
  const auto started = std::chrono::steady_clock::now();
  const ComputeModel compute(s.accelerator(), plan.precision, s.name());
  SimWorld world(s, compute.peak_flops(), started);
  Pricing pricing(world, s, wl::RankLayout{}, PricingOptionsOf(s), &channel);
  TracePricer prices(s, trace, plan, pricing.costs());
  sg4::Actor::create("controller", world.platform().host(0), [&prices]() { prices.PriceAll(); });
  world.engine().run();
  pricing.solver().WorkersGone();
  pricing.costs().Freeze();
  const std::vector<RankTotals> totals = Dataflow(trace, compute, options.timing, prices).Run();

  v1::RunResult res;
  res.set_seed(s.seed());
  *res.mutable_scenario() = s;
  const uint32_t crit = FillReplayThroughput(trace, plan, compute, totals, res);
  FillReplayBreakdown(trace, crit, totals, res);
  FillReplayComms(prices.entries, res);
  *res.mutable_topology() = SummarizeTopology(world.fabric(), world.fabric().ComputeInventory(), s);
  v1::SimStats& ss = *res.mutable_sim();
  ss.set_simgrid_hosts(world.platform().num_hosts());
  ss.set_simgrid_links(world.platform().num_links());
  ss.set_flows(pricing.solver().flows_solved());
  ss.set_phase_solves(pricing.solver().solves());
  ss.set_actors(pricing.solver().actors_created());
  ss.set_events(world.events());
  ss.set_wall_s(world.WallSeconds());
  ss.set_peak_rss_mib(PeakRssMib());
  return res;
}

}  // namespace

TimingCounts CountTiming(const ct::Trace& trace, ComputeTiming timing) {
  TimingCounts c;
  for (const ct::TraceRank& tr : trace.ranks)
    for (const ct::TraceNode& n : tr.nodes) {
      if (!IsComputeNode(n)) continue;
      const NodeTiming how = TimingOf(n, timing);
      if (n.stream == ct::kHostStream) {
        ++(how == NodeTiming::kRecorded ? c.host : c.host_untimed);
        continue;
      }
      ++(how == NodeTiming::kRecorded ? c.recorded : how == NodeTiming::kModel ? c.modelled : c.untimed);
      c.lacking_duration += n.duration_s > 0 ? 0 : 1;
      c.lacking_num_ops += n.flops > 0 || n.bytes > 0 ? 0 : 1;
    }
  return c;
}

std::string DescribeTiming(const TimingCounts& c, ComputeTiming timing, const std::string& accelerator) {
  const char* mode = timing == ComputeTiming::kRetime         ? "--retime"
                     : timing == ComputeTiming::kRecordedOnly ? "--recorded-durations"
                                                              : "recorded durations first";
  return fmt::format(
      "compute timing ({}): {} GPU node(s) by recorded duration_micros, {} by FLOPs (num_ops / tensor_size) on {}, "
      "{} with neither (zero time); {} host op(s) by recorded duration, {} without one (zero time); {} GPU node(s) "
      "lack duration_micros, {} lack num_ops",
      mode, c.recorded, c.modelled, accelerator, c.untimed, c.host, c.host_untimed, c.lacking_duration,
      c.lacking_num_ops);
}

v1::RunResult ReplayTrace(const v1::Scenario& s, const ct::Trace& trace, const ReplayOptions& options) {
  const ReplayPlan plan = PlanReplay(s, trace, options);
  const std::string source = SourceName(s, options.scenario_file);
  RequireMemory(MemoryNeed{EstimateFabricBytes(s), 0, kReplayBytesPerNode * static_cast<double>(trace.nodes())}, s,
                "replay", source, "cluster.num_gpus", std::to_string(s.cluster().num_gpus()));
  v1::RunResult r =
      RunResultInChild([&](const ChildChannel& channel) { return RunReplay(s, trace, plan, options, channel); });
  CheckReportedNumbers(r, source, "result");  // sim/plausible.h: the one rule for reported numbers
  return r;
}

}  // namespace clustersim::sim
