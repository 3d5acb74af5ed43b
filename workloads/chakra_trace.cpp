// Chakra ET reader, validation and exporter; see chakra_trace.h and docs/trace-replay.md.
#include "workloads/chakra_trace.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/gzip_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/stubs/logging.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <regex>
#include <tuple>
#include <unordered_map>

#include "chakra/et_def.pb.h"
#include "common/error.h"
#include "common/input_file.h"

namespace clustersim::wl::chakra {

namespace pb = ::ChakraProtoMsg;
namespace pio = google::protobuf::io;

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

// ---------------------------------------------------------------------------------------------------------------
// Attributes

bool AttrInt(const pb::AttributeProto& a, int64_t& out) {
  switch (a.value_case()) {
    case pb::AttributeProto::kInt32Val: out = a.int32_val(); return true;
    case pb::AttributeProto::kInt64Val: out = a.int64_val(); return true;
    case pb::AttributeProto::kUint32Val: out = a.uint32_val(); return true;
    case pb::AttributeProto::kUint64Val:
      out = a.uint64_val() > static_cast<uint64_t>(INT64_MAX) ? -1 : static_cast<int64_t>(a.uint64_val());
      return true;
    case pb::AttributeProto::kSint32Val: out = a.sint32_val(); return true;
    case pb::AttributeProto::kSint64Val: out = a.sint64_val(); return true;
    case pb::AttributeProto::kFixed32Val: out = a.fixed32_val(); return true;
    case pb::AttributeProto::kFixed64Val:
      out = a.fixed64_val() > static_cast<uint64_t>(INT64_MAX) ? -1 : static_cast<int64_t>(a.fixed64_val());
      return true;
    case pb::AttributeProto::kSfixed32Val: out = a.sfixed32_val(); return true;
    case pb::AttributeProto::kSfixed64Val: out = a.sfixed64_val(); return true;
    case pb::AttributeProto::kBoolVal: out = a.bool_val() ? 1 : 0; return true;
    default: return false;
  }
}

bool AttrDouble(const pb::AttributeProto& a, double& out) {
  if (a.value_case() == pb::AttributeProto::kDoubleVal) {
    out = a.double_val();
    return true;
  }
  if (a.value_case() == pb::AttributeProto::kFloatVal) {
    out = a.float_val();
    return true;
  }
  int64_t i = 0;
  if (!AttrInt(a, i)) return false;
  out = static_cast<double>(i);
  return true;
}

// A number as messages show it ("1e+300", "nan").
std::string AttrText(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

bool AttrIntList(const pb::AttributeProto& a, std::vector<int64_t>& out) {
  out.clear();
  switch (a.value_case()) {
    case pb::AttributeProto::kInt32List: out.assign(a.int32_list().values().begin(), a.int32_list().values().end()); return true;
    case pb::AttributeProto::kInt64List: out.assign(a.int64_list().values().begin(), a.int64_list().values().end()); return true;
    case pb::AttributeProto::kUint32List: out.assign(a.uint32_list().values().begin(), a.uint32_list().values().end()); return true;
    case pb::AttributeProto::kUint64List:
      for (uint64_t v : a.uint64_list().values()) out.push_back(v > static_cast<uint64_t>(INT64_MAX) ? -1 : static_cast<int64_t>(v));
      return true;
    case pb::AttributeProto::kSint32List: out.assign(a.sint32_list().values().begin(), a.sint32_list().values().end()); return true;
    case pb::AttributeProto::kSint64List: out.assign(a.sint64_list().values().begin(), a.sint64_list().values().end()); return true;
    default: return false;
  }
}

std::string NodeRef(const TraceRank& r, uint32_t i) {
  return "node " + std::to_string(r.nodes[i].id) + " (\"" + r.names[i] + "\")";
}

[[noreturn]] void Fail(const std::string& file, const std::string& what, const std::string& value,
                       const std::string& rule) {
  throw InputError::Field(file, 0, what, value, rule);
}

[[noreturn]] void FailNode(const TraceRank& r, uint32_t i, const std::string& field, const std::string& value,
                           const std::string& rule) {
  throw InputError::Field(r.file, 0, NodeRef(r, i) + " " + field, value, rule);
}

ComputeKind ParseComputeKind(const std::string& s, bool& ok) {
  ok = true;
  for (ComputeKind k : {ComputeKind::kGemm, ComputeKind::kAttention, ComputeKind::kElementwise,
                        ComputeKind::kOptimizer, ComputeKind::kEmbedding, ComputeKind::kRouter})
    if (s == ToString(k)) return k;
  ok = false;
  return ComputeKind::kGemm;
}

// ---------------------------------------------------------------------------------------------------------------
// Reading one rank

struct RawRank {
  TraceRank rank;
  // Per node, before groups are known.
  std::vector<std::string> pg_names;  // pg_name of comm nodes ("" = none)
  std::vector<std::pair<std::string, std::vector<int64_t>>> declared_groups;
  std::string precision;
  int64_t tokens = -1, world = -1;
  double model_flops = -1;
};

void ReadRecords(const std::string& file, std::string_view bytes, RawRank& out) {
  pio::ArrayInputStream array(bytes.data(), static_cast<int>(std::min<size_t>(bytes.size(), INT32_MAX)));
  if (bytes.size() > INT32_MAX) Fail(file, "file size", std::to_string(bytes.size()), "must be below 2 GiB per rank");
  std::unique_ptr<pio::GzipInputStream> gz;
  pio::ZeroCopyInputStream* in = &array;
  const bool gzip = bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
                    static_cast<unsigned char>(bytes[1]) == 0x8b;
  if (gzip) {
    gz = std::make_unique<pio::GzipInputStream>(&array, pio::GzipInputStream::GZIP);
    in = gz.get();
  }
  pb::GlobalMetadata meta;
  pb::Node node;
  // A corrupt record is reported once, by Fail below; protobuf's own log line (invalid UTF-8, ...) is silenced.
  const google::protobuf::LogSilencer quiet;
  uint64_t record = 0;
  std::unordered_map<uint64_t, uint32_t> index_of;
  std::vector<std::vector<uint64_t>> raw_deps;
  TraceRank& r = out.rank;
  r.file = file;
  for (;; ++record) {
    // End of stream: no more bytes (a gzip error also ends the stream; it is reported below).
    const void* data = nullptr;
    int size = 0;
    bool eof = true;
    while (in->Next(&data, &size)) {
      if (size > 0) {
        in->BackUp(size);
        eof = false;
        break;
      }
    }
    if (eof) break;
    pio::CodedInputStream coded(in);
    uint64_t len = 0;
    if (!coded.ReadVarint64(&len)) Fail(file, "record " + std::to_string(record), "(length)", "truncated stream");
    if (len > kMaxRecordBytes)
      Fail(file, "record " + std::to_string(record) + " length", std::to_string(len),
           "exceeds the " + std::to_string(kMaxRecordBytes) + "-byte limit (corrupt or not a Chakra ET file)");
    const auto limit = coded.PushLimit(static_cast<int>(len));
    google::protobuf::Message& msg = record == 0 ? static_cast<google::protobuf::Message&>(meta) : node;
    msg.Clear();
    if (!msg.ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage())
      Fail(file, "record " + std::to_string(record), "(" + std::to_string(len) + " bytes)",
           "not a valid " + std::string(record == 0 ? "GlobalMetadata" : "Node") + " message");
    if (coded.BytesUntilLimit() > 0)
      Fail(file, "record " + std::to_string(record), "(" + std::to_string(len) + " bytes)", "truncated stream");
    coded.PopLimit(limit);
    if (record == 0) {
      std::vector<int64_t> list;
      for (const pb::AttributeProto& a : meta.attr()) {
        if (a.name().rfind("pg:", 0) == 0) {
          if (!AttrIntList(a, list)) Fail(file, "metadata " + a.name(), "(not an integer list)", "must list ranks");
          out.declared_groups.emplace_back(a.name().substr(3), list);
        } else if (a.name() == "clustersim.precision") {
          out.precision = a.string_val();
        } else if (a.name() == "clustersim.tokens_per_step") {
          AttrInt(a, out.tokens);
        } else if (a.name() == "clustersim.world") {
          AttrInt(a, out.world);
        } else if (a.name() == "clustersim.model_flops_per_step") {
          AttrDouble(a, out.model_flops);
        }
      }
      continue;
    }
    const uint32_t idx = static_cast<uint32_t>(r.nodes.size());
    r.nodes.emplace_back();
    r.names.push_back(node.name());
    out.pg_names.emplace_back();
    TraceNode& n = r.nodes.back();
    n.id = node.id();
    if (!index_of.emplace(node.id(), idx).second) FailNode(r, idx, "id", std::to_string(node.id()), "duplicate node id");
    raw_deps.emplace_back(node.ctrl_deps().begin(), node.ctrl_deps().end());
    raw_deps.back().insert(raw_deps.back().end(), node.data_deps().begin(), node.data_deps().end());
    n.duration_s = static_cast<double>(node.duration_micros()) * 1e-6;
    const int type = static_cast<int>(node.type());
    switch (type) {
      case pb::COMP_NODE: n.kind = NodeKind::kCompute; break;
      case pb::COMM_COLL_NODE: n.kind = NodeKind::kCollective; n.stream = 1; break;
      case pb::COMM_SEND_NODE: n.kind = NodeKind::kSend; n.stream = 1; break;
      case pb::COMM_RECV_NODE: n.kind = NodeKind::kRecv; n.stream = 1; break;
      case pb::MEM_LOAD_NODE:
      case pb::MEM_STORE_NODE: n.kind = NodeKind::kMemory; n.compute = ComputeKind::kElementwise; break;
      default:
        FailNode(r, idx, "type", std::to_string(type),
                 "unsupported node type (accepted: COMP_NODE, COMM_COLL_NODE, COMM_SEND_NODE, COMM_RECV_NODE, "
                 "MEM_LOAD_NODE, MEM_STORE_NODE)");
    }
    bool has_comm_type = false, has_src = false, has_dst = false, cpu_op = false;
    for (const pb::AttributeProto& a : node.attr()) {
      const std::string_view an = a.name();  // compares by length first: no strlen/memcmp per literal
      int64_t iv = 0;
      double dv = 0;
      if (an == "num_ops") {
        if (!AttrDouble(a, dv) || !(dv >= 0) || !std::isfinite(dv)) FailNode(r, idx, "num_ops", "(bad)", "must be a number >= 0");
        n.flops = dv;
      } else if (an == "tensor_size") {
        if (!AttrDouble(a, dv) || !(dv >= 0) || !std::isfinite(dv)) FailNode(r, idx, "tensor_size", "(bad)", "must be a number >= 0");
        n.bytes = dv;
      } else if (an == "comm_size") {
        if (!AttrInt(a, iv) || iv < 0)  // show the value given (a double such as 1e300 or NaN is not an integer)
          FailNode(r, idx, "comm_size", AttrInt(a, iv) ? std::to_string(iv) : AttrDouble(a, dv) ? AttrText(dv) : "(not a number)",
                   "must be an integer >= 0");
        n.comm_bytes = static_cast<uint64_t>(iv);
      } else if (an == "comm_type") {
        if (!AttrInt(a, iv)) FailNode(r, idx, "comm_type", "(not an integer)", "must be a CollectiveCommType");
        switch (iv) {
          case pb::ALL_REDUCE: case pb::BARRIER: n.coll = Coll::kAllReduce; break;
          case pb::REDUCE_SCATTER: case pb::REDUCE_SCATTER_BLOCK: n.coll = Coll::kReduceScatter; break;
          case pb::ALL_GATHER: n.coll = Coll::kAllGather; break;
          case pb::ALL_TO_ALL: n.coll = Coll::kAllToAll; break;
          case pb::BROADCAST: case pb::REDUCE: case pb::GATHER: case pb::SCATTER: n.coll = Coll::kBroadcast; break;
          default: FailNode(r, idx, "comm_type", std::to_string(iv), "unknown CollectiveCommType (0..9)");
        }
        if (iv == pb::BARRIER) n.comm_bytes = 0;
        has_comm_type = true;
      } else if (an == "comm_src" || an == "comm_dst") {
        if (!AttrInt(a, iv) || iv < 0 || iv > INT32_MAX) FailNode(r, idx, std::string(an), std::to_string(iv), "must be a rank >= 0");
        if ((an == "comm_src") == (n.kind == NodeKind::kRecv)) n.peer = static_cast<uint32_t>(iv);
        (an == "comm_src" ? has_src : has_dst) = true;
      } else if (an == "comm_tag") {
        if (!AttrInt(a, iv)) FailNode(r, idx, "comm_tag", "(not an integer)", "must be an integer");
        n.tag = iv;
      } else if (an == "pg_name") {
        out.pg_names[idx] = a.string_val();
      } else if (an == "is_cpu_op") {
        cpu_op = AttrInt(a, iv) && iv != 0;
      } else if (an == "clustersim.kind") {
        bool ok = false;
        n.compute = ParseComputeKind(a.string_val(), ok);
        if (!ok) FailNode(r, idx, std::string(an), a.string_val(), "unknown compute kind");
      } else if (an == "clustersim.gemm_count") {
        if (!AttrDouble(a, dv) || !(dv >= 0) || !std::isfinite(dv)) FailNode(r, idx, std::string(an), "(bad)", "must be a number >= 0");
        n.gemm_count = dv;
      } else if (an == "clustersim.phase") {
        if (!AttrInt(a, iv) || iv < 0 || iv > static_cast<int>(Phase::kGradSync)) FailNode(r, idx, std::string(an), std::to_string(iv), "must be 0..4");
        n.phase = static_cast<Phase>(iv);
      } else if (an == "clustersim.overlaps_next_step") {
        n.overlaps_next_step = AttrInt(a, iv) && iv != 0;
      } else if (an == "clustersim.stream") {
        if (!AttrInt(a, iv) || iv < 0 || iv > 1) FailNode(r, idx, std::string(an), std::to_string(iv), "must be 0 or 1");
        n.stream = static_cast<uint8_t>(iv);
      }
    }
    if (n.kind == NodeKind::kCompute && cpu_op) n.flops = n.bytes = 0;  // host-side op: no GPU time
    if (n.kind == NodeKind::kCollective && !has_comm_type) FailNode(r, idx, "comm_type", "(missing)", "a collective needs comm_type");
    if (n.kind == NodeKind::kSend && !has_dst) FailNode(r, idx, "comm_dst", "(missing)", "a send needs comm_dst");
    if (n.kind == NodeKind::kRecv && !has_src) FailNode(r, idx, "comm_src", "(missing)", "a receive needs comm_src");
  }
  if (gz && gz->ZlibErrorMessage() != nullptr)
    Fail(file, "gzip", gz->ZlibErrorMessage(), "corrupt or truncated compressed stream");
  if (record == 0) Fail(file, "stream", "(empty)", "a Chakra ET file starts with a GlobalMetadata record");
  // Dependencies by index.
  for (uint32_t i = 0; i < r.nodes.size(); ++i) {
    std::vector<uint32_t>& deps = r.nodes[i].deps;
    for (uint64_t d : raw_deps[i]) {
      auto it = index_of.find(d);
      if (it == index_of.end()) FailNode(r, i, "dependency", std::to_string(d), "no node with this id in the file");
      if (it->second == i) FailNode(r, i, "dependency", std::to_string(d), "dependency cycle (a node depends on itself)");
      deps.push_back(it->second);
    }
    std::sort(deps.begin(), deps.end());
    deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
  }
}

// Topological order of one rank (Kahn; ready nodes by file position so a file written in dependency order keeps
// its order). Throws on a cycle, naming a node on it.
void OrderRank(TraceRank& r) {
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
  if (r.order.size() == n) return;
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
  FailNode(r, at, "dependencies", "(cycle)", "dependency cycle: the node (transitively) depends on itself");
}

// ---------------------------------------------------------------------------------------------------------------
// Whole-trace validation

void BuildGroups(std::vector<RawRank>& raw, Trace& t) {
  const uint32_t R = static_cast<uint32_t>(raw.size());
  ProcessGroup world;
  for (uint32_t r = 0; r < R; ++r) world.ranks.push_back(r);
  t.groups.push_back(world);
  std::map<std::string, uint32_t> by_name;
  bool declared = false;
  for (RawRank& rr : raw)
    for (auto& [name, list] : rr.declared_groups) {
      declared = true;
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
      auto it = by_name.find(name);
      if (it == by_name.end()) {
        by_name.emplace(name, static_cast<uint32_t>(t.groups.size()));
        t.groups.push_back(std::move(g));
      } else if (t.groups[it->second].ranks != g.ranks) {
        Fail(rr.rank.file, "metadata pg:" + name, "(ranks)", "declared with other members in another rank's file");
      }
    }
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
      if (pg.empty()) {
        n.pg = 0;
        continue;
      }
      auto it = by_name.find(pg);
      if (it == by_name.end()) {
        if (declared)
          FailNode(tr, i, "pg_name", "\"" + pg + "\"",
                   "unknown process group (not declared by any rank's metadata as pg:" + pg + ")");
        ProcessGroup g = world;  // no membership anywhere in the trace: the group covers every traced rank
        g.name = pg;
        it = by_name.emplace(pg, static_cast<uint32_t>(t.groups.size())).first;
        t.groups.push_back(std::move(g));
      }
      n.pg = it->second;
      const auto& m = t.groups[n.pg].ranks;
      if (std::find(m.begin(), m.end(), r) == m.end())
        FailNode(tr, i, "pg_name", "\"" + pg + "\"", "this rank is not a member of the process group");
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
                 "differs from the matching send's (" + NodeRef(t.ranks[sr], si) + " of " + t.ranks[sr].file +
                     ": " + std::to_string(s.comm_bytes) + ")");
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
    uint64_t last[2] = {UINT64_MAX, UINT64_MAX};
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
          why += ": not every member of pg \"" + t.groups[t.collectives[n.match].pg].name + "\" reaches this collective";
        else if (n.kind == NodeKind::kRecv)
          why += ": the matching send on rank " + std::to_string(n.peer) + " can never run";
        FailNode(t.ranks[r], i, "dependencies", "(blocked)", why);
      }
}

Trace Assemble(std::vector<RawRank>& raw) {
  Trace t;
  if (raw.empty()) throw InputError("trace: no rank files");
  for (RawRank& rr : raw) OrderRank(rr.rank);
  BuildGroups(raw, t);
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
  for (size_t r = 0; r < buffers.size(); ++r) ReadRecords(buffers[r].file, buffers[r].bytes, raw[r]);
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
  if (files.empty())
    throw InputError(prefix_or_dir + ": no Chakra trace files (<prefix>.<rank>.et or .et.gz) found");
  uint32_t expect = 0;
  for (const auto& [rank, path] : files)
    if (rank != expect++)
      throw InputError(prefix_or_dir + ": rank " + std::to_string(expect - 1) +
                       " is missing (trace ranks must be 0..R-1)");
  std::vector<RawRank> raw(files.size());
  for (const auto& [rank, path] : files) {
    const std::string bytes = ReadWholeFile(path);
    ReadRecords(path, bytes, raw[rank]);
  }
  return Assemble(raw);
}

// ---------------------------------------------------------------------------------------------------------------
// Exporter

namespace {

void AddAttr(pb::Node& n, const char* name, int64_t v) {
  pb::AttributeProto* a = n.add_attr();
  a->set_name(name);
  a->set_int64_val(v);
}
void AddAttr(pb::Node& n, const char* name, const std::string& v) {
  pb::AttributeProto* a = n.add_attr();
  a->set_name(name);
  a->set_string_val(v);
}
void AddAttr(pb::Node& n, const char* name, double v) {
  pb::AttributeProto* a = n.add_attr();
  a->set_name(name);
  a->set_double_val(v);
}

int64_t CommType(Coll c) {
  switch (c) {
    case Coll::kAllReduce: return pb::ALL_REDUCE;
    case Coll::kReduceScatter: return pb::REDUCE_SCATTER;
    case Coll::kAllGather: return pb::ALL_GATHER;
    case Coll::kAllToAll: return pb::ALL_TO_ALL;
    case Coll::kBroadcast: return pb::BROADCAST;
  }
  return pb::ALL_REDUCE;
}

void AppendDelimited(const google::protobuf::Message& m, std::string& out) {
  std::string body;
  m.SerializeToString(&body);
  std::string len;
  {
    pio::StringOutputStream so(&len);
    pio::CodedOutputStream co(&so);
    co.WriteVarint64(body.size());
  }
  out += len;
  out += body;
}

}  // namespace

std::vector<std::string> ExportTrace(const StepProgram& program, const ExportOptions& options) {
  const RankLayout& L = program.layout;
  const uint32_t world = L.world();
  const uint32_t stage_size = L.tp * L.cp * L.dp;
  const uint32_t pp = L.pp;
  // Global rank -> trace rank (UINT32_MAX: not exported).
  std::vector<uint32_t> trace_of(world, UINT32_MAX);
  std::vector<uint32_t> global_of;
  for (uint32_t g = 0; g < world; ++g)
    if (!options.replica_only || L.DpIndex(g) == 0) {
      trace_of[g] = static_cast<uint32_t>(global_of.size());
      global_of.push_back(g);
    }
  const uint32_t R = static_cast<uint32_t>(global_of.size());
  std::vector<std::string> out(R);
  pb::Node node;
  for (uint32_t t = 0; t < R; ++t) {
    const uint32_t g = global_of[t];
    const uint32_t s = L.PpIndex(g);
    const std::vector<Op>& ops = program.stages.at(s);
    // Groups this rank uses, named "<dim>/<first member's trace rank>".
    std::map<int, std::pair<std::string, std::vector<uint32_t>>> groups;
    for (const Op& op : ops) {
      if (op.type != OpType::kCollective || groups.count(static_cast<int>(op.dim))) continue;
      std::vector<uint32_t> members;
      for (uint32_t m : L.Group(g, op.dim))
        if (trace_of[m] != UINT32_MAX) members.push_back(trace_of[m]);
      const uint32_t first = *std::min_element(members.begin(), members.end());
      groups[static_cast<int>(op.dim)] = {std::string(ToString(op.dim)) + "/" + std::to_string(first), members};
    }
    pb::GlobalMetadata meta;
    meta.set_version("0.0.4");
    auto add_meta = [&meta](const std::string& name) {
      pb::AttributeProto* a = meta.add_attr();
      a->set_name(name);
      return a;
    };
    add_meta("schema")->set_string_val("clustersim");
    add_meta("clustersim.precision")->set_string_val(program.precision);
    add_meta("clustersim.schedule")->set_string_val(program.schedule);
    add_meta("clustersim.tokens_per_step")->set_int64_val(static_cast<int64_t>(program.tokens_per_step));
    add_meta("clustersim.model_flops_per_step")->set_double_val(program.model_flops_per_step);
    add_meta("clustersim.world")->set_int64_val(world);
    for (const auto& [dim, named] : groups) {
      pb::AttributeProto* a = add_meta("pg:" + named.first);
      for (uint32_t m : named.second) a->mutable_uint64_list()->add_values(m);
    }
    std::string& bytes = out[t];
    AppendDelimited(meta, bytes);

    uint64_t next_id = 0;
    uint64_t prev_main = UINT64_MAX;
    std::map<uint32_t, std::vector<uint64_t>> pending;  // async tag -> collectives not yet waited for
    std::map<uint32_t, size_t> last_wait;               // tag -> position of its last kWait
    for (size_t q = 0; q < ops.size(); ++q)
      if (ops[q].type == OpType::kWait) last_wait[ops[q].tag] = q;
    for (const Op& op : ops) {
      node.Clear();
      const uint64_t id = next_id++;
      node.set_id(id);
      if (prev_main != UINT64_MAX) node.add_ctrl_deps(prev_main);
      AddAttr(node, "clustersim.phase", static_cast<int64_t>(op.phase));
      bool main = true;
      switch (op.type) {
        case OpType::kCompute:
          node.set_name(std::string(ToString(op.compute)) + ".mb" + std::to_string(op.microbatch));
          node.set_type(pb::COMP_NODE);
          AddAttr(node, "num_ops", static_cast<int64_t>(std::llround(op.flops)));
          AddAttr(node, "tensor_size", static_cast<int64_t>(std::llround(op.bytes)));
          AddAttr(node, "clustersim.kind", std::string(ToString(op.compute)));
          AddAttr(node, "clustersim.gemm_count", op.gemm_count);
          AddAttr(node, "clustersim.stream", int64_t{0});
          break;
        case OpType::kCollective: {
          node.set_name(std::string(ToString(op.dim)) + "." + ToString(op.coll));
          node.set_type(pb::COMM_COLL_NODE);
          AddAttr(node, "comm_type", CommType(op.coll));
          AddAttr(node, "comm_size", static_cast<int64_t>(op.comm_bytes));
          AddAttr(node, "pg_name", groups.at(static_cast<int>(op.dim)).first);
          AddAttr(node, "clustersim.stream", int64_t{op.async ? 1 : 0});
          if (op.async) {
            main = false;
            pending[op.tag].push_back(id);
            const auto lw = last_wait.find(op.tag);
            if (lw == last_wait.end() || lw->second < static_cast<size_t>(&op - ops.data())) AddAttr(node, "clustersim.overlaps_next_step", int64_t{1});
          }
          break;
        }
        case OpType::kSend:
        case OpType::kRecv: {
          const bool send = op.type == OpType::kSend;
          const uint32_t peer_stage = static_cast<uint32_t>((static_cast<int64_t>(s) + op.peer_delta + pp) % pp);
          const uint32_t peer = trace_of[peer_stage * stage_size + (g - s * stage_size)];
          const int32_t sender_delta = send ? op.peer_delta : -op.peer_delta;
          const int64_t tag =
              ((static_cast<int64_t>(op.microbatch) * 256 + op.chunk) * 8 + static_cast<int64_t>(op.phase)) * 16 +
              (sender_delta + 8);
          node.set_name(std::string(send ? "send" : "recv") + ".mb" + std::to_string(op.microbatch));
          node.set_type(send ? pb::COMM_SEND_NODE : pb::COMM_RECV_NODE);
          AddAttr(node, "comm_src", static_cast<int64_t>(send ? t : peer));
          AddAttr(node, "comm_dst", static_cast<int64_t>(send ? peer : t));
          AddAttr(node, "comm_tag", tag);
          AddAttr(node, "comm_size", static_cast<int64_t>(op.comm_bytes));
          if (send)
            AddAttr(node, "pg_name",
                    "pp" + std::to_string(s) + (op.peer_delta > 0 ? "+" : "") + std::to_string(op.peer_delta) + "/" +
                        std::to_string(t));
          AddAttr(node, "clustersim.stream", int64_t{0});
          break;
        }
        case OpType::kWait: {
          node.set_name("wait.tag" + std::to_string(op.tag));
          node.set_type(pb::COMP_NODE);
          AddAttr(node, "num_ops", int64_t{0});
          AddAttr(node, "tensor_size", int64_t{0});
          AddAttr(node, "clustersim.kind", std::string("elementwise"));
          AddAttr(node, "clustersim.stream", int64_t{0});
          for (uint64_t d : pending[op.tag]) node.add_data_deps(d);
          pending[op.tag].clear();
          break;
        }
      }
      if (main) prev_main = id;
      AppendDelimited(node, bytes);
    }
  }
  return out;
}

std::string GzipCompress(const std::string& bytes) {
  std::string out;
  {
    pio::StringOutputStream so(&out);
    pio::GzipOutputStream::Options o;
    o.format = pio::GzipOutputStream::GZIP;
    pio::GzipOutputStream gz(&so, o);
    pio::CodedOutputStream co(&gz);
    co.WriteRaw(bytes.data(), static_cast<int>(bytes.size()));
  }
  return out;
}

std::string TraceFileName(const std::string& prefix, uint32_t rank, bool gzip) {
  return prefix + "." + std::to_string(rank) + ".et" + (gzip ? ".gz" : "");
}

}  // namespace clustersim::wl::chakra
