// Chakra ET loading and whole-trace validation; see chakra_trace.h and docs/trace-replay.md. Reading one rank's
// file is chakra_trace_read.cpp, the exporter chakra_trace_export.cpp. Assemble reads as its steps: order each rank
// (dependency policy), build the process groups, apply the size convention, match transfers and collectives, and
// check that the ranks can all finish.
#include "workloads/chakra_trace.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <queue>
#include <regex>
#include <tuple>

#include "common/error.h"
#include "common/input_file.h"
#include "workloads/chakra_trace_read.h"

namespace clustersim::wl::chakra {

std::string ProcessGroup::family() const {
  const size_t slash = name.rfind('/');
  return slash == std::string::npos ? name : name.substr(0, slash);
}

uint64_t Trace::nodes() const {
  uint64_t n = 0;
  for (const TraceRank& r : ranks) n += r.nodes.size();
  return n;
}

namespace {

// Topological order of one rank (Kahn; ready nodes by file position so a file written in dependency order keeps
// its order). Returns UINT32_MAX, or on a cycle the index of a node on it.
uint32_t OrderRank(TraceRank& r) {
  const uint32_t n = static_cast<uint32_t>(r.nodes.size());
  std::vector<uint32_t> indeg(n, 0), start(n + 1, 0), succ;
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t d : r.nodes[i].deps) ++start[d + 1];
  for (uint32_t i = 0; i < n; ++i) start[i + 1] += start[i];
  succ.resize(start[n]);
  std::vector<uint32_t> fill(start.begin(), start.end() - 1);
  for (uint32_t i = 0; i < n; ++i) {
    indeg[i] = static_cast<uint32_t>(r.nodes[i].deps.size());
    for (uint32_t d : r.nodes[i].deps) succ[fill[d]++] = i;
  }
  std::priority_queue<uint32_t, std::vector<uint32_t>, std::greater<>> ready;
  for (uint32_t i = 0; i < n; ++i)
    if (indeg[i] == 0) ready.push(i);
  r.order.clear();
  r.order.reserve(n);
  while (!ready.empty()) {
    const uint32_t i = ready.top();
    ready.pop();
    r.order.push_back(i);
    for (uint32_t k = start[i]; k < start[i + 1]; ++k)
      if (--indeg[succ[k]] == 0) ready.push(succ[k]);
  }
  if (r.order.size() == n) return UINT32_MAX;
  // Walk unfinished dependencies from an unfinished node until one repeats: that node is on a cycle.
  uint32_t at = 0;
  while (indeg[at] == 0) ++at;
  std::vector<uint8_t> seen(n, 0);
  while (!seen[at]) {
    seen[at] = 1;
    for (uint32_t d : r.nodes[at].deps)
      if (indeg[d] > 0) {
        at = d;
        break;
      }
  }
  return at;
}

// The dependency policy: data_deps and ctrl_deps together, unless the ctrl_deps close a cycle that data_deps alone
// do not (Chakra's PyTorch converter writes the caller as ctrl_dep, and the GPU kernels a caller launches after its
// split host-op copies): then data_deps only, counted. A cycle of data_deps is an error naming a node on it.
void OrderRankWithPolicy(RawRank& rr) {
  TraceRank& r = rr.rank;
  uint32_t at = OrderRank(r);
  if (at == UINT32_MAX) return;
  bool has_ctrl = false;
  for (uint32_t i = 0; i < r.nodes.size() && !has_ctrl; ++i) has_ctrl = r.nodes[i].deps.size() > rr.data_deps[i];
  if (has_ctrl) {
    for (uint32_t i = 0; i < r.nodes.size(); ++i) r.nodes[i].deps.resize(rr.data_deps[i]);
    at = OrderRank(r);
    if (at == UINT32_MAX) {
      ++rr.counts.ctrl_cyclic_files;
      return;
    }
  }
  FailNode(r, at, "dependencies", "(cycle)", "dependency cycle: the node (transitively) depends on itself");
}

// ---------------------------------------------------------------------------------------------------------------
// Whole-trace validation

// Process groups by name: groups[0] is the world group (pg_name "" and PyTorch's default group "0").
struct GroupIndex {
  std::map<std::string, uint32_t> by_name;
  bool declared = false;  // some file declares its groups: an undeclared pg_name is an error
};

// clustersim's metadata `pg:<name>` = [trace ranks, ring order].
void DeclareMetadataGroups(const std::vector<RawRank>& raw, Trace& t, GroupIndex& gi) {
  const uint32_t R = static_cast<uint32_t>(raw.size());
  for (const RawRank& rr : raw)
    for (const auto& [name, list] : rr.declared_groups) {
      gi.declared = true;
      ProcessGroup g;
      g.name = name;
      for (int64_t v : list) {
        if (v < 0 || v >= static_cast<int64_t>(R))
          Fail(rr.rank.file, "metadata pg:" + name, std::to_string(v),
               "rank out of range (the trace has " + std::to_string(R) + " ranks)");
        g.ranks.push_back(static_cast<uint32_t>(v));
      }
      std::vector<uint32_t> sorted = g.ranks;
      std::sort(sorted.begin(), sorted.end());
      if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end() || g.ranks.empty())
        Fail(rr.rank.file, "metadata pg:" + name, "(ranks)", "a group lists distinct ranks, at least one");
      auto it = gi.by_name.find(name);
      if (it == gi.by_name.end()) {
        gi.by_name.emplace(name, static_cast<uint32_t>(t.groups.size()));
        t.groups.push_back(std::move(g));
      } else if (t.groups[it->second].ranks != g.ranks) {
        Fail(rr.rank.file, "metadata pg:" + name, "(ranks)", "declared with other members in another rank's file");
      }
    }
}

// PyTorch's table (`## process_group:init ##`): pg_name "0" is the world group; `ranks` lists global ranks, empty
// meaning all; the group's members are its traced ranks, its recorded size the table's group_size. Every rank's file
// holds the same table; the first entry of a name counts. A group with no traced rank is left out.
void DeclarePyTorchGroups(const std::vector<RawRank>& raw, Trace& t, GroupIndex& gi) {
  const uint32_t R = static_cast<uint32_t>(raw.size());
  for (const RawRank& rr : raw)
    for (const PyTorchGroup& pg : rr.pytorch_groups) {
      gi.declared = true;
      const uint32_t size = pg.group_size > 0 ? static_cast<uint32_t>(pg.group_size) : 0;
      if (pg.name.empty() || pg.name == "0") {
        if (t.groups[0].recorded_size == 0) t.groups[0].recorded_size = std::max(size, R);
        continue;
      }
      if (gi.by_name.count(pg.name)) continue;
      ProcessGroup g;
      g.name = pg.name;
      if (pg.ranks.empty()) g.ranks = t.groups[0].ranks;
      for (int64_t v : pg.ranks)
        if (v < R && std::find(g.ranks.begin(), g.ranks.end(), v) == g.ranks.end())
          g.ranks.push_back(static_cast<uint32_t>(v));
      if (g.ranks.empty()) continue;
      g.recorded_size = std::max<uint32_t>(size, static_cast<uint32_t>(std::max(g.ranks.size(), pg.ranks.size())));
      gi.by_name.emplace(pg.name, static_cast<uint32_t>(t.groups.size()));
      t.groups.push_back(std::move(g));
    }
}

// The group of a collective, the label of a send (families of point-to-point transfers).
void AssignGroups(std::vector<RawRank>& raw, Trace& t, GroupIndex& gi) {
  const uint32_t R = static_cast<uint32_t>(raw.size());
  std::map<std::string, uint32_t> labels;
  for (uint32_t r = 0; r < R; ++r) {
    TraceRank& tr = raw[r].rank;
    for (uint32_t i = 0; i < tr.nodes.size(); ++i) {
      TraceNode& n = tr.nodes[i];
      const std::string& pg = raw[r].pg_names[i];
      if (n.kind == NodeKind::kSend) {
        auto it = labels.emplace(pg, static_cast<uint32_t>(t.p2p_labels.size()));
        if (it.second) t.p2p_labels.push_back(pg);
        n.pg = it.first->second;
        continue;
      }
      if (n.kind != NodeKind::kCollective) continue;
      auto it = gi.by_name.find(pg);
      if (pg.empty() || (pg == "0" && it == gi.by_name.end())) {
        n.pg = 0;
        continue;
      }
      if (it == gi.by_name.end()) {
        if (gi.declared)
          FailNode(tr, i, "pg_name", "\"" + pg + "\"",
                   "unknown process group (declared neither by metadata pg:" + pg +
                       " nor by a process-group table node with a traced member)");
        ProcessGroup g = t.groups[0];  // no membership anywhere in the trace: the group covers every traced rank
        g.name = pg;
        g.recorded_size = 0;
        it = gi.by_name.emplace(pg, static_cast<uint32_t>(t.groups.size())).first;
        t.groups.push_back(std::move(g));
      }
      n.pg = it->second;
      const auto& m = t.groups[n.pg].ranks;
      if (std::find(m.begin(), m.end(), r) == m.end())
        FailNode(tr, i, "pg_name", "\"" + pg + "\"", "this rank is not a member of the process group");
    }
  }
}

// Peers read from "nccl:send a->b" names are ranks of the send's PyTorch process group: mapped to trace ranks.
void MapGroupRankPeers(std::vector<RawRank>& raw, const Trace& t, const GroupIndex& gi) {
  for (RawRank& rr : raw)
    for (const uint32_t i : rr.group_rank_peers) {
      const auto it = gi.by_name.find(rr.pg_names[i]);
      if (it == gi.by_name.end() || it->second == 0) continue;
      const std::vector<uint32_t>& m = t.groups[it->second].ranks;
      TraceNode& n = rr.rank.nodes[i];
      if (n.peer >= m.size())
        FailNode(rr.rank, i, "peer", std::to_string(n.peer),
                 "not a traced rank of process group \"" + rr.pg_names[i] + "\" (" + std::to_string(m.size()) +
                     " traced members)");
      n.peer = m[n.peer];
    }
}

void BuildGroups(std::vector<RawRank>& raw, Trace& t) {
  ProcessGroup world;
  for (uint32_t r = 0; r < raw.size(); ++r) world.ranks.push_back(r);
  t.groups.push_back(std::move(world));
  GroupIndex gi;
  DeclareMetadataGroups(raw, t, gi);
  DeclarePyTorchGroups(raw, t, gi);
  AssignGroups(raw, t, gi);
  MapGroupRankPeers(raw, t, gi);
  for (ProcessGroup& g : t.groups)
    if (g.recorded_size == 0) g.recorded_size = static_cast<uint32_t>(g.ranks.size());
}

// Chakra's size convention to the replay's (TraceNode::comm_bytes): an all-gather's comm_size is each rank's input,
// so its output is comm_size x the group's recorded size; files marked nccl_tests already give the output.
void ApplySizeConvention(std::vector<RawRank>& raw, const Trace& t) {
  for (RawRank& rr : raw) {
    if (rr.ag_output_sizes) continue;
    for (uint32_t i = 0; i < rr.rank.nodes.size(); ++i) {
      TraceNode& n = rr.rank.nodes[i];
      if (n.kind != NodeKind::kCollective || n.coll != Coll::kAllGather) continue;
      const uint64_t size = t.groups[n.pg].recorded_size;
      if (n.comm_bytes > (1ull << 62) / size)
        FailNode(rr.rank, i, "comm_size", std::to_string(n.comm_bytes),
                 "too large for an all-gather over " + std::to_string(size) + " ranks");
      n.comm_bytes *= size;
    }
  }
}

void MatchSendRecv(Trace& t) {
  const uint32_t R = static_cast<uint32_t>(t.ranks.size());
  std::map<std::tuple<uint32_t, uint32_t, int64_t>, std::deque<std::pair<uint32_t, uint32_t>>> sends;
  for (uint32_t r = 0; r < R; ++r) {
    const TraceRank& tr = t.ranks[r];
    for (uint32_t i : tr.order) {
      const TraceNode& n = tr.nodes[i];
      if (n.kind != NodeKind::kSend && n.kind != NodeKind::kRecv) continue;
      if (n.peer >= R || n.peer == r)
        FailNode(tr, i, n.kind == NodeKind::kSend ? "comm_dst" : "comm_src", std::to_string(n.peer),
                 "must be another rank of the trace (0.." + std::to_string(R - 1) + ")");
      if (n.kind == NodeKind::kSend) sends[{r, n.peer, n.tag}].emplace_back(r, i);
    }
  }
  for (uint32_t r = 0; r < R; ++r) {
    const TraceRank& tr = t.ranks[r];
    for (uint32_t i : tr.order) {
      const TraceNode& n = tr.nodes[i];
      if (n.kind != NodeKind::kRecv) continue;
      auto it = sends.find({n.peer, r, n.tag});
      if (it == sends.end() || it->second.empty())
        FailNode(tr, i, "comm_src", std::to_string(n.peer),
                 "receive without a matching send (rank " + std::to_string(n.peer) + " sends nothing more to rank " +
                     std::to_string(r) + " with comm_tag " + std::to_string(n.tag) + ")");
      const auto [sr, si] = it->second.front();
      it->second.pop_front();
      TraceNode& s = t.ranks[sr].nodes[si];
      if (s.comm_bytes != n.comm_bytes)
        FailNode(tr, i, "comm_size", std::to_string(n.comm_bytes),
                 "differs from the matching send's (" + NodeRef(t.ranks[sr], si) + " of " + t.ranks[sr].file + ": " +
                     std::to_string(s.comm_bytes) + ")");
      s.match = i;
    }
  }
  for (const auto& [key, q] : sends)
    if (!q.empty())
      FailNode(t.ranks[q.front().first], q.front().second, "comm_dst", std::to_string(std::get<1>(key)),
               "send without a matching receive (same src, dst, comm_tag " + std::to_string(std::get<2>(key)) + ")");
}

void MatchCollectives(Trace& t, std::vector<std::vector<std::pair<uint32_t, uint32_t>>>& members) {
  const uint32_t R = static_cast<uint32_t>(t.ranks.size());
  // seq[pg][rank] = the rank's collectives on pg, in its topological order.
  std::vector<std::map<uint32_t, std::vector<uint32_t>>> seq(t.groups.size());
  for (uint32_t r = 0; r < R; ++r)
    for (uint32_t i : t.ranks[r].order)
      if (t.ranks[r].nodes[i].kind == NodeKind::kCollective) seq[t.ranks[r].nodes[i].pg][r].push_back(i);
  for (uint32_t g = 0; g < t.groups.size(); ++g) {
    if (seq[g].empty()) continue;
    const auto& ranks = t.groups[g].ranks;
    const uint32_t first = ranks[0];
    const std::vector<uint32_t> none;
    auto of = [&](uint32_t r) -> const std::vector<uint32_t>& {
      auto it = seq[g].find(r);
      return it == seq[g].end() ? none : it->second;
    };
    uint32_t most = first, fewest = first;
    for (uint32_t r : ranks) {
      if (of(r).size() > of(most).size()) most = r;
      if (of(r).size() < of(fewest).size()) fewest = r;
    }
    const size_t count = of(most).size();
    if (of(fewest).size() != count)
      FailNode(t.ranks[most], of(most)[of(fewest).size()], "pg_name", "\"" + t.groups[g].name + "\"",
               "collective " + std::to_string(of(fewest).size()) + " on this group has no counterpart in " +
                   t.ranks[fewest].file + " (rank " + std::to_string(fewest) + " issues " +
                   std::to_string(of(fewest).size()) + " collectives on it, rank " + std::to_string(most) + " " +
                   std::to_string(count) + ")");
    for (size_t k = 0; k < count; ++k) {
      const uint32_t inst = static_cast<uint32_t>(t.collectives.size());
      t.collectives.push_back({g, static_cast<uint32_t>(ranks.size())});
      members.emplace_back();
      const TraceNode& ref = t.ranks[first].nodes[of(first)[k]];
      for (uint32_t r : ranks) {
        const uint32_t i = of(r)[k];
        TraceNode& n = t.ranks[r].nodes[i];
        if (n.coll != ref.coll || n.comm_bytes != ref.comm_bytes)
          FailNode(t.ranks[r], i, "comm_size", std::to_string(n.comm_bytes),
                   "collective " + std::to_string(k) + " of pg \"" + t.groups[g].name + "\" differs from rank " +
                       std::to_string(first) + "'s (" + ToString(ref.coll) + ", " + std::to_string(ref.comm_bytes) +
                       " bytes)");
        n.match = inst;
        members.back().emplace_back(r, i);
      }
    }
  }
}

// Every rank's streams run their nodes in topological order, receives wait for sends and collectives for every
// member: a trace whose ranks would wait on each other forever is rejected (Kahn over the whole trace).
void CheckProgress(const Trace& t, const std::vector<std::vector<std::pair<uint32_t, uint32_t>>>& members) {
  const uint32_t R = static_cast<uint32_t>(t.ranks.size());
  std::vector<uint64_t> base(R + 1, 0);
  for (uint32_t r = 0; r < R; ++r) base[r + 1] = base[r] + t.ranks[r].nodes.size();
  const uint64_t total = base[R];
  std::vector<uint32_t> indeg(total, 0);
  std::vector<uint64_t> next_in_stream(total, UINT64_MAX);
  std::vector<std::vector<uint32_t>> succ(R);  // CSR per rank: successors by dependency
  std::vector<std::vector<uint32_t>> start(R);
  for (uint32_t r = 0; r < R; ++r) {
    const TraceRank& tr = t.ranks[r];
    const uint32_t n = static_cast<uint32_t>(tr.nodes.size());
    start[r].assign(n + 1, 0);
    for (uint32_t i = 0; i < n; ++i)
      for (uint32_t d : tr.nodes[i].deps) ++start[r][d + 1];
    for (uint32_t i = 0; i < n; ++i) start[r][i + 1] += start[r][i];
    succ[r].resize(start[r][n]);
    std::vector<uint32_t> fill(start[r].begin(), start[r].end() - 1);
    for (uint32_t i = 0; i < n; ++i) {
      indeg[base[r] + i] += static_cast<uint32_t>(tr.nodes[i].deps.size());
      for (uint32_t d : tr.nodes[i].deps) succ[r][fill[d]++] = i;
      if (tr.nodes[i].kind == NodeKind::kRecv) ++indeg[base[r] + i];
    }
    uint64_t last[kStreams] = {UINT64_MAX, UINT64_MAX, UINT64_MAX};
    for (uint32_t i : tr.order) {
      const uint8_t s = tr.nodes[i].stream;
      if (last[s] != UINT64_MAX) {
        next_in_stream[last[s]] = base[r] + i;
        ++indeg[base[r] + i];
      }
      last[s] = base[r] + i;
    }
  }
  std::vector<uint32_t> arrived(t.collectives.size(), 0);
  std::vector<uint64_t> stack;
  for (uint64_t g = 0; g < total; ++g)
    if (indeg[g] == 0) stack.push_back(g);
  uint64_t done = 0;
  std::vector<uint8_t> finished(total, 0);
  auto release = [&](uint32_t r, uint32_t i) {
    const uint64_t g = base[r] + i;
    finished[g] = 1;
    ++done;
    for (uint32_t k = start[r][i]; k < start[r][i + 1]; ++k)
      if (--indeg[base[r] + succ[r][k]] == 0) stack.push_back(base[r] + succ[r][k]);
    if (next_in_stream[g] != UINT64_MAX && --indeg[next_in_stream[g]] == 0) stack.push_back(next_in_stream[g]);
    const TraceNode& n = t.ranks[r].nodes[i];
    if (n.kind == NodeKind::kSend && --indeg[base[n.peer] + n.match] == 0) stack.push_back(base[n.peer] + n.match);
  };
  while (!stack.empty()) {
    const uint64_t g = stack.back();
    stack.pop_back();
    const uint32_t r = static_cast<uint32_t>(std::upper_bound(base.begin(), base.end(), g) - base.begin() - 1);
    const uint32_t i = static_cast<uint32_t>(g - base[r]);
    const TraceNode& n = t.ranks[r].nodes[i];
    if (n.kind == NodeKind::kCollective) {
      if (++arrived[n.match] == t.collectives[n.match].members)
        for (const auto& [mr, mi] : members[n.match]) release(mr, mi);
      continue;
    }
    release(r, i);
  }
  if (done == total) return;
  for (uint32_t r = 0; r < R; ++r)
    for (uint32_t i : t.ranks[r].order)
      if (!finished[base[r] + i]) {
        const TraceNode& n = t.ranks[r].nodes[i];
        std::string why = "the ranks wait on each other forever (deadlock)";
        if (n.kind == NodeKind::kCollective)
          why +=
              ": not every member of pg \"" + t.groups[t.collectives[n.match].pg].name + "\" reaches this collective";
        else if (n.kind == NodeKind::kRecv)
          why += ": the matching send on rank " + std::to_string(n.peer) + " can never run";
        FailNode(t.ranks[r], i, "dependencies", "(blocked)", why);
      }
}

// Warnings of the whole trace: the readers' counts, and groups the trace holds only part of.
std::vector<std::string> Warnings(const std::vector<RawRank>& raw, const Trace& t) {
  ReadCounts all;
  for (const RawRank& rr : raw) all.Add(rr.counts);
  std::vector<std::string> out = all.Lines();
  for (const ProcessGroup& g : t.groups)
    if (g.recorded_size > g.ranks.size())
      out.push_back("process group \"" + (g.name.empty() ? std::string("0") : g.name) + "\" has " +
                    std::to_string(g.recorded_size) + " ranks in the traced job and " + std::to_string(g.ranks.size()) +
                    " in the trace: its collectives run among the traced ranks unless the replay grows it");
  return out;
}

Trace Assemble(std::vector<RawRank>& raw) {
  Trace t;
  if (raw.empty()) throw InputError("trace: no rank files");
  for (RawRank& rr : raw) OrderRankWithPolicy(rr);
  BuildGroups(raw, t);
  ApplySizeConvention(raw, t);
  t.warnings = Warnings(raw, t);
  const RawRank& r0 = raw[0];
  t.precision = r0.precision;
  t.tokens_per_step = r0.tokens > 0 ? static_cast<uint64_t>(r0.tokens) : 0;
  t.model_flops_per_step = r0.model_flops > 0 ? r0.model_flops : 0;
  t.metadata_world = r0.world > 0 && r0.world <= INT32_MAX ? static_cast<uint32_t>(r0.world) : 0;
  for (RawRank& rr : raw) t.ranks.push_back(std::move(rr.rank));
  MatchSendRecv(t);
  std::vector<std::vector<std::pair<uint32_t, uint32_t>>> members;
  MatchCollectives(t, members);
  CheckProgress(t, members);
  return t;
}

std::string ReadWholeFile(const std::string& path) {
  return ReadInputFile(path, "Chakra trace file", kMaxTraceInputBytes);  // a regular file, bounded, never blocks
}

}  // namespace

Trace LoadTraceFromBuffers(const std::vector<RankBuffer>& buffers) {
  std::vector<RawRank> raw(buffers.size());
  for (size_t r = 0; r < buffers.size(); ++r) ReadRank(buffers[r].file, buffers[r].bytes, raw[r]);
  return Assemble(raw);
}

Trace LoadTrace(const std::string& prefix_or_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::string dir, prefix;
  if (fs::is_directory(prefix_or_dir, ec)) {
    dir = prefix_or_dir;
  } else {
    const fs::path p(prefix_or_dir);
    dir = p.has_parent_path() ? p.parent_path().string() : ".";
    prefix = p.filename().string();
  }
  // <prefix>.<rank>.et or .et.gz
  static const std::regex kName(R"(^(.*)\.([0-9]+)\.et(\.gz)?$)");
  std::map<uint32_t, std::string> files;
  std::string seen_prefix;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    std::smatch m;
    if (!std::regex_match(name, m, kName)) continue;
    if (!prefix.empty() && m[1].str() != prefix) continue;
    if (prefix.empty()) {
      if (!seen_prefix.empty() && seen_prefix != m[1].str())
        throw InputError(dir + ": holds traces with different prefixes (\"" + seen_prefix + "\", \"" + m[1].str() +
                         "\"); give the prefix, e.g. " + (fs::path(dir) / seen_prefix).string());
      seen_prefix = m[1].str();
    }
    if (m[2].str().size() > 9) continue;
    const uint32_t rank = static_cast<uint32_t>(std::stoul(m[2].str()));
    if (!files.emplace(rank, e.path().string()).second)
      throw InputError(e.path().string() + ": rank " + std::to_string(rank) + " given twice (.et and .et.gz)");
  }
  if (ec) throw InputError(prefix_or_dir + ": cannot list trace directory: " + ec.message());
  if (files.empty()) throw InputError(prefix_or_dir + ": no Chakra trace files (<prefix>.<rank>.et or .et.gz) found");
  uint32_t expect = 0;
  for (const auto& [rank, path] : files)
    if (rank != expect++)
      throw InputError(prefix_or_dir + ": rank " + std::to_string(expect - 1) +
                       " is missing (trace ranks must be 0..R-1)");
  std::vector<RawRank> raw(files.size());
  for (const auto& [rank, path] : files) {
    const std::string bytes = ReadWholeFile(path);
    ReadRank(path, bytes, raw[rank]);
  }
  return Assemble(raw);
}

}  // namespace clustersim::wl::chakra
