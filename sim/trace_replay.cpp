// Trace replay; see trace_replay.h.
#include "sim/trace_replay.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <memory>
#include <regex>
#include <simgrid/s4u.hpp>
#include <tuple>

#include "common/error.h"
#include "sim/child_process.h"
#include "sim/comm_cost.h"
#include "sim/compute_model.h"
#include "sim/engine.h"
#include "sim/phase_solver.h"
#include "sim/platform.h"
#include "sim/simulation.h"
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

// What the replay accounts per traced rank (seconds): compute on either stream; on the compute stream, blocking
// communication per bucket and pipeline receive waits; the end of its last node that counts towards the step.
struct RankTotals {
  double comm_s[6] = {0, 0, 0, 0, 0, 0};
  double wait_recv_s = 0;
  double end_s = 0;
  double compute_s = 0;
};

// Runs the trace's streams to completion and fills `totals` (one per rank); times start at 0.
//
// Each traced rank has two streams (0 compute, 1 communication), each running its nodes in the rank's topological
// order. A node starts at t0 = max(end of the stream's previous node, end of each dependency) and ends at
//   compute / memory: t0 + ComputeModel seconds (or duration_s with `recorded`);
//   collective:       max(t0 of every member) + node_cost (all members wait for the last one);
//   send:             t0, posting the transfer's arrival t0 + node_cost to the matching receive;
//   receive:          max(t0, arrival).
// These are the times the SimGrid actors of the previous replay produced (sleep_for / execute of the same seconds;
// the two streams of a rank never both compute in clustersim's exports, and they are not made to share the GPU).
// Every node's end is final when computed, so streams advance on their own clocks and stop only at a node whose
// input is not known yet: a dependency on the other stream, a receive whose send has not run, a collective still
// missing members. The node that unblocks a stream pushes it back on the worklist; each node is visited O(1) times
// plus once per wake-up, collective rendezvous are O(members) in flat arrays, nothing is allocated per node.
// Results do not depend on the worklist order (max and + of the same values). A stream left unfinished means the
// trace deadlocks, which validation (workloads/chakra_trace.h) rules out: SimulationError.
void ReplayDataflow(const ct::Trace& trace, const ComputeModel& compute, bool recorded,
                    const std::vector<std::vector<double>>& node_cost,
                    const std::vector<std::vector<Bucket>>& node_bucket, std::vector<RankTotals>& totals) {
  const uint32_t R = static_cast<uint32_t>(trace.ranks.size());
  const uint32_t S = 2 * R;
  // Flat per-node arrays: rank r's node i is base[r] + i.
  std::vector<uint64_t> base(R + 1, 0);
  for (uint32_t r = 0; r < R; ++r) base[r + 1] = base[r] + trace.ranks[r].nodes.size();
  const uint64_t N = base[R];
  std::vector<double> end_s(N, -1.0);    // node end time, -1 until done
  std::vector<double> arrival(N, -1.0);  // receives: arrival of the matching transfer, -1 until its send ran
  // Stream s = 2r + stream: its nodes (local indices) are list[first[s] .. first[s + 1]).
  std::vector<uint64_t> first(S + 1, 0);
  for (uint32_t r = 0; r < R; ++r)
    for (const ct::TraceNode& n : trace.ranks[r].nodes) ++first[2 * r + (n.stream != 0 ? 1 : 0) + 1];
  for (uint32_t s = 0; s < S; ++s) first[s + 1] += first[s];
  std::vector<uint32_t> list(N);
  std::vector<uint64_t> pos(first.begin(), first.end() - 1);  // cursor of each stream into list
  for (uint32_t r = 0; r < R; ++r)
    for (uint32_t i : trace.ranks[r].order) list[pos[2 * r + (trace.ranks[r].nodes[i].stream != 0 ? 1 : 0)]++] = i;
  std::copy(first.begin(), first.end() - 1, pos.begin());
  std::vector<double> clock(S, 0.0);
  constexpr uint64_t kRunnable = UINT64_MAX;
  constexpr uint64_t kInCollective = UINT64_MAX - 1;
  std::vector<uint64_t> blocked(S, kRunnable);  // global node index the stream waits for, or kInCollective
  std::vector<uint8_t> joined(S, 0);            // the stream has arrived at the collective at its cursor
  std::vector<uint8_t> queued(S, 1);
  // Collective rendezvous: arrivals, latest arrival, and the streams waiting (slots first_member[c] ..).
  const size_t C = trace.collectives.size();
  std::vector<uint64_t> first_member(C + 1, 0);
  for (size_t c = 0; c < C; ++c) first_member[c + 1] = first_member[c] + trace.collectives[c].members;
  std::vector<uint32_t> waiter(first_member[C]);
  std::vector<uint32_t> arrived(C, 0);
  std::vector<double> ready_s(C, 0.0);
  std::vector<uint32_t> work;
  work.reserve(S);
  for (uint32_t s = S; s-- > 0;) work.push_back(s);
  auto push = [&](uint32_t s) {
    if (!queued[s]) {
      queued[s] = 1;
      work.push_back(s);
    }
  };

  while (!work.empty()) {
    const uint32_t s = work.back();
    work.pop_back();
    queued[s] = 0;
    const uint32_t r = s / 2;
    const uint32_t stream = s % 2;
    const ct::TraceRank& tr = trace.ranks[r];
    RankTotals& tot = totals[r];
    double* const end = end_s.data() + base[r];
    const uint64_t stop = first[s + 1];
    while (pos[s] < stop) {
      const uint32_t i = list[pos[s]];
      const ct::TraceNode& n = tr.nodes[i];
      double t0 = clock[s];
      bool ready = true;
      for (uint32_t d : n.deps) {
        if (end[d] < 0) {
          blocked[s] = base[r] + d;
          ready = false;
          break;
        }
        t0 = std::max(t0, end[d]);
      }
      if (!ready) break;
      double t1 = t0;
      switch (n.kind) {
        case ct::NodeKind::kCompute:
        case ct::NodeKind::kMemory: {
          const double secs = recorded ? n.duration_s : compute.Seconds(n.compute, n.flops, n.bytes, n.gemm_count);
          if (secs > 0) t1 = t0 + secs;
          tot.compute_s += t1 - t0;
          break;
        }
        case ct::NodeKind::kCollective: {
          const uint32_t c = n.match;
          const uint32_t members = trace.collectives[c].members;
          if (!joined[s]) {
            joined[s] = 1;
            ready_s[c] = std::max(ready_s[c], t0);
            waiter[first_member[c] + arrived[c]] = s;
            if (++arrived[c] == members)
              for (uint64_t w = first_member[c]; w + 1 < first_member[c + 1]; ++w) push(waiter[w]);
          }
          if (arrived[c] < members) {
            blocked[s] = kInCollective;
            ready = false;
            break;
          }
          joined[s] = 0;
          t1 = ready_s[c] + node_cost[r][i];
          if (stream == 0 && t1 > t0) tot.comm_s[static_cast<int>(node_bucket[r][i])] += t1 - t0;
          break;
        }
        case ct::NodeKind::kSend: {
          const uint64_t recv = base[n.peer] + n.match;
          arrival[recv] = t0 + node_cost[r][i];
          const uint32_t ps = 2 * n.peer + (trace.ranks[n.peer].nodes[n.match].stream != 0 ? 1 : 0);
          if (blocked[ps] == recv) push(ps);
          break;
        }
        case ct::NodeKind::kRecv: {
          const double a = arrival[base[r] + i];
          if (a < 0) {
            blocked[s] = base[r] + i;
            ready = false;
            break;
          }
          t1 = std::max(t0, a);
          if (stream == 0 && t1 > t0) tot.wait_recv_s += t1 - t0;
          break;
        }
      }
      if (!ready) break;
      end[i] = t1;
      clock[s] = t1;
      if (!n.overlaps_next_step) tot.end_s = std::max(tot.end_s, t1);
      blocked[s] = kRunnable;
      ++pos[s];
      if (blocked[s ^ 1u] == base[r] + i) push(s ^ 1u);
    }
  }
  for (uint32_t s = 0; s < S; ++s)
    if (pos[s] < first[s + 1]) {
      const ct::TraceRank& tr = trace.ranks[s / 2];
      const uint32_t i = list[pos[s]];
      throw SimulationError("replay deadlocked: " + tr.file + " node " + std::to_string(tr.nodes[i].id) + " (\"" +
                            tr.names[i] + "\") on stream " + std::to_string(s % 2) + " never became ready");
    }
}

double PeakRssMib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

}  // namespace

v1::RunResult ReplayTrace(const v1::Scenario& s, const ct::Trace& trace, const ReplayOptions& options) {
  const uint32_t R = static_cast<uint32_t>(trace.ranks.size());
  const uint32_t gpus = s.cluster().num_gpus();
  if (R == 0) throw InputError("replay: the trace has no ranks");
  if (R > gpus)
    throw InputError::Field(options.scenario_file.empty() ? s.name() : options.scenario_file, 0, "cluster.num_gpus",
                            std::to_string(gpus),
                            "smaller than the trace's " + std::to_string(R) + " ranks");
  const uint32_t k = options.replicas == 0 ? gpus / R : options.replicas;
  if (static_cast<uint64_t>(k) * R > gpus)
    throw InputError::Field("", 0, "--replicas", std::to_string(k),
                            std::to_string(k) + " replicas of " + std::to_string(R) + " ranks need more than the " +
                                std::to_string(gpus) + " GPUs of the cluster");
  std::regex dp_re;
  if (!options.dp_pg_regex.empty()) {
    try {
      dp_re = std::regex(options.dp_pg_regex, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw InputError::Field("", 0, "--dp-pg", options.dp_pg_regex, std::string("not a valid regex: ") + e.what());
    }
  }
  std::vector<uint8_t> grown(trace.groups.size(), 0);
  for (size_t g = 0; g < trace.groups.size(); ++g)
    grown[g] = !options.dp_pg_regex.empty() && std::regex_search(trace.groups[g].name, dp_re) ? 1 : 0;
  if (options.recorded_durations) {
    for (const ct::TraceRank& tr : trace.ranks)
      for (size_t i = 0; i < tr.nodes.size(); ++i)
        if (tr.nodes[i].kind == ct::NodeKind::kCompute && tr.nodes[i].flops > 0 && tr.nodes[i].duration_s <= 0)
          throw InputError::Field(tr.file, 0, "node " + std::to_string(tr.nodes[i].id) + " duration_micros", "0",
                                  "--recorded-durations needs the recorded duration of every compute node");
  }
  const std::string precision = trace.precision.empty() ? s.workload().precision() : trace.precision;
  // Validate the precision (and the accelerator) here, in the parent, so errors are InputError before forking.
  { const ComputeModel check(s.accelerator(), precision, s.name()); }

  const std::string bytes = RunInChild([&](const ChildChannel& channel) -> std::string {
    const auto wall0 = std::chrono::steady_clock::now();
    PrepareHeap(s.cluster().num_gpus());
    const std::unique_ptr<topo::Fabric> fabric = topo::BuildFabric(FabricParamsOf(s));
    const ComputeModel compute(s.accelerator(), precision, s.name());
    uint64_t events = 0;
    auto engine = MakeEngine(&events);
    Platform platform(*engine, *fabric, PlatformOptionsOf(s, compute.peak_flops()));
    EndHeapReservation();
    PhaseSolver solver(platform);
    const bool full = s.options().fidelity() == "full";
    CommCostModel costs(solver, *fabric, wl::RankLayout{}, s.collectives(),
                        full ? std::numeric_limits<uint64_t>::max() : s.options().max_flows_per_phase(),
                        s.accelerator().scale_up_in_network_reduction(), /*reuse_shapes=*/!full,
                        /*reduce_symmetry=*/!full);

    // Families: groups (and send labels) that run side by side.
    std::map<std::pair<std::string, int>, std::vector<uint32_t>> coll_family;  // (family, grown) -> pgs
    std::vector<std::string> pg_family(trace.groups.size());
    for (uint32_t g = 0; g < trace.groups.size(); ++g) {
      pg_family[g] = trace.groups[g].family();
      coll_family[{pg_family[g], grown[g]}].push_back(g);
    }
    auto gpu_groups_of = [&](uint32_t g) {  // GPU groups of pg g across the replicas
      std::vector<std::vector<uint32_t>> out;
      const auto& m = trace.groups[g].ranks;
      if (grown[g]) {
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
    };
    // p2p families: (label family, bytes) -> traced (src, dst) pairs.
    std::map<std::pair<std::string, uint64_t>, std::vector<std::pair<uint32_t, uint32_t>>> p2p_family;
    for (uint32_t r = 0; r < R; ++r)
      for (const ct::TraceNode& n : trace.ranks[r].nodes)
        if (n.kind == ct::NodeKind::kSend)
          p2p_family[{FamilyOf(trace.p2p_labels[n.pg]), n.comm_bytes}].emplace_back(r, n.peer);

    // Costs, solved in a controller actor before the replay: per node (collectives and sends), in seconds.
    struct Entry {
      std::string family, collective, algorithm;
      uint64_t bytes = 0;
      uint32_t group_size = 0, count = 0;
      double time_s = 0;
      uint64_t flows = 0;
    };
    std::map<std::tuple<int, std::string, int, uint64_t>, uint32_t> entry_of;
    std::vector<Entry> entries;
    std::vector<std::vector<double>> node_cost(R);
    // Entry of a (node kind, collective, pg, bytes) already seen: repeated nodes skip the string-keyed lookup.
    std::map<std::tuple<int, int, uint32_t, uint64_t>, uint32_t> entry_by_pg;
    std::vector<Bucket> pg_bucket(trace.groups.size());
    for (uint32_t g = 0; g < trace.groups.size(); ++g) pg_bucket[g] = BucketOf(pg_family[g]);
    std::vector<std::vector<Bucket>> node_bucket(R);
    sg4::Actor::create("controller", platform.host(0), [&]() {
      for (uint32_t r = 0; r < R; ++r) {
        const ct::TraceRank& tr = trace.ranks[r];
        node_cost[r].assign(tr.nodes.size(), 0);
        node_bucket[r].assign(tr.nodes.size(), Bucket::kOther);
        for (uint32_t i : tr.order) {
          const ct::TraceNode& n = tr.nodes[i];
          if (n.kind != ct::NodeKind::kCollective && n.kind != ct::NodeKind::kSend) continue;
          const auto fast_key = std::make_tuple(static_cast<int>(n.kind), static_cast<int>(n.coll), n.pg, n.comm_bytes);
          if (auto hit = entry_by_pg.find(fast_key); hit != entry_by_pg.end()) {
            node_cost[r][i] = entries[hit->second].time_s;
            if (n.kind == ct::NodeKind::kCollective) node_bucket[r][i] = pg_bucket[n.pg];
            ++entries[hit->second].count;
            continue;
          }
          if (n.kind == ct::NodeKind::kCollective) {
            const CollectiveKind kind = ToCollectiveKind(n.coll);
            const auto key = std::make_tuple(static_cast<int>(kind), pg_family[n.pg], int{grown[n.pg]}, n.comm_bytes);
            auto it = entry_of.find(key);
            if (it == entry_of.end()) {
              // Every group of the family in every replica, the requesting rank's group first, then by first GPU.
              std::vector<std::vector<uint32_t>> groups;
              for (uint32_t g : coll_family.at({pg_family[n.pg], grown[n.pg]}))
                for (auto& one : gpu_groups_of(g)) groups.push_back(std::move(one));
              std::sort(groups.begin(), groups.end(),
                        [](const auto& a, const auto& b) { return a.front() < b.front(); });
              std::vector<uint32_t> rep = gpu_groups_of(n.pg).front();
              auto at = std::find(groups.begin(), groups.end(), rep);
              if (at != groups.end()) std::rotate(groups.begin(), at, at + 1);
              Entry e;
              e.family = pg_family[n.pg];
              e.collective = ToString(kind);
              e.bytes = n.comm_bytes;
              e.group_size = static_cast<uint32_t>(rep.size());
              if (rep.size() >= 2 && n.comm_bytes > 0) {
                const CollectivePlan plan = PlanCollective(kind, "auto", rep, static_cast<double>(n.comm_bytes),
                                                           costs.shape(), s.collectives());
                CommCost c;
                e.time_s = costs.SolveGroups(plan, groups, c);
                e.algorithm = plan.algorithm;
                e.flows = c.flows;
              }
              it = entry_of.emplace(key, static_cast<uint32_t>(entries.size())).first;
              entries.push_back(std::move(e));
            }
            node_cost[r][i] = entries[it->second].time_s;
            node_bucket[r][i] = pg_bucket[n.pg];
            entry_by_pg.emplace(fast_key, it->second);
            ++entries[it->second].count;
          } else if (n.kind == ct::NodeKind::kSend) {
            const std::string fam = FamilyOf(trace.p2p_labels[n.pg]);
            const auto key = std::make_tuple(static_cast<int>(CollectiveKind::kSendRecv), fam, 0, n.comm_bytes);
            auto it = entry_of.find(key);
            if (it == entry_of.end()) {
              auto pairs = p2p_family.at({fam, n.comm_bytes});
              std::sort(pairs.begin(), pairs.end());
              pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
              std::vector<std::vector<uint32_t>> groups;
              for (uint32_t j = 0; j < k; ++j)
                for (const auto& [a, b] : pairs) groups.push_back({j * R + a, j * R + b});
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
                step.alpha_steps = P2pAlphaSteps(s.collectives());
                step.flows.push_back({r, n.peer, static_cast<double>(n.comm_bytes)});
                plan.steps.push_back(std::move(step));
                CommCost c;
                e.time_s = costs.SolveGroups(plan, groups, c);
                e.flows = c.flows;
              }
              it = entry_of.emplace(key, static_cast<uint32_t>(entries.size())).first;
              entries.push_back(std::move(e));
            }
            node_cost[r][i] = entries[it->second].time_s;
            entry_by_pg.emplace(fast_key, it->second);
            ++entries[it->second].count;
          }
        }
      }
    });
    engine->run();
    solver.WorkersGone();
    costs.Freeze();

    // The replay proper. The costs above are fixed before it starts, so every node's end time is a max-plus function
    // of the end times it waits for; the replay computes them directly with a worklist over the 2 x R streams
    // instead of one SimGrid activity per node (4 M nodes: 0.3 s instead of 44 s, same times).
    std::vector<RankTotals> totals(R);
    ReplayDataflow(trace, compute, options.recorded_durations, node_cost, node_bucket, totals);

    v1::RunResult res;
    res.set_seed(s.seed());
    *res.mutable_scenario() = s;
    double T = 0;
    uint32_t crit = 0;
    for (uint32_t r = 0; r < R; ++r) {
      T = std::max(T, totals[r].end_s);
      if (totals[r].compute_s > totals[crit].compute_s) crit = r;
    }
    if (!(T > 0)) throw SimulationError("replayed step time is not positive; the trace has no timed work");
    res.set_step_time_s(T);
    const double cluster_gpus = static_cast<double>(k) * R;
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

    // Breakdown on the critical rank (most compute): its compute stream's intervals.
    v1::TimeBreakdown& b = *res.mutable_breakdown();
    const ct::TraceRank& ctr = trace.ranks[crit];
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
    for (uint32_t r = 0; r < R; ++r) {
      v1::StageTimeline* st = res.add_stages();
      st->set_stage(r);
      st->set_busy_compute_s(totals[r].compute_s);
      double comm = 0;
      for (double c : totals[r].comm_s) comm += c;
      st->set_comm_s(comm);
      st->set_idle_s(std::max(0.0, T - totals[r].compute_s - comm));
      util += totals[r].compute_s / T;
    }
    res.set_gpu_utilization(util / R);
    res.add_critical_path("trace rank " + std::to_string(crit) + " (" + ctr.file + ", most compute): compute " +
                          std::to_string(b.compute_s()) + " s of " + std::to_string(T) + " s");
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
        for (CollectiveKind c : {CollectiveKind::kAllReduce, CollectiveKind::kReduceScatter,
                                 CollectiveKind::kAllGather, CollectiveKind::kAllToAll, CollectiveKind::kBroadcast})
          if (e.collective == ToString(c)) kind = c;
        cs->set_bus_bandwidth_gbyte_per_s(static_cast<double>(e.bytes) / e.time_s *
                                          BusBandwidthFactor(kind, e.group_size) / 1e9);
      }
      cs->set_flows_simulated(e.flows);
    }
    const topo::Inventory inv = fabric->ComputeInventory();
    *res.mutable_topology() = SummarizeTopology(*fabric, inv, s);
    v1::SimStats& ss = *res.mutable_sim();
    ss.set_simgrid_hosts(platform.num_hosts());
    ss.set_simgrid_links(platform.num_links());
    ss.set_flows(solver.flows_solved());
    ss.set_phase_solves(solver.solves());
    ss.set_actors(solver.actors_created());
    ss.set_events(events);
    ss.set_wall_s(std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count());
    ss.set_peak_rss_mib(PeakRssMib());
    std::string outb;
    res.SerializeToString(&outb);
    channel.Succeed(outb);  // skip the teardown of the engine and platform
  });
  v1::RunResult r;
  if (!r.ParseFromString(bytes)) throw SimulationError("could not decode the replay result");
  return r;
}

}  // namespace clustersim::sim
