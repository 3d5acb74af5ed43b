// Chakra ET exporter: a step program as one trace file per rank; see chakra_trace.h and docs/trace-replay.md.
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/gzip_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "chakra/et_def.pb.h"
#include "workloads/chakra_trace.h"

namespace clustersim::wl::chakra {

namespace pb = ::ChakraProtoMsg;
namespace pio = google::protobuf::io;

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
    case Coll::kAllReduce:
      return pb::ALL_REDUCE;
    case Coll::kReduceScatter:
      return pb::REDUCE_SCATTER;
    case Coll::kAllGather:
      return pb::ALL_GATHER;
    case Coll::kAllToAll:
      return pb::ALL_TO_ALL;
    case Coll::kBroadcast:
      return pb::BROADCAST;
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

// The process groups one trace rank uses, by dimension: name "<dim>/<first member's trace rank>" and members.
using RankGroups = std::map<int, std::pair<std::string, std::vector<uint32_t>>>;

RankGroups GroupsOf(const RankLayout& L, const std::vector<Op>& ops, uint32_t g,
                    const std::vector<uint32_t>& trace_of) {
  RankGroups groups;
  for (const Op& op : ops) {
    if (op.type != OpType::kCollective || groups.count(static_cast<int>(op.dim))) continue;
    std::vector<uint32_t> members;
    for (uint32_t m : L.Group(g, op.dim))
      if (trace_of[m] != UINT32_MAX) members.push_back(trace_of[m]);
    const uint32_t first = *std::min_element(members.begin(), members.end());
    groups[static_cast<int>(op.dim)] = {std::string(ToString(op.dim)) + "/" + std::to_string(first), members};
  }
  return groups;
}

void WriteMetadata(const StepProgram& program, const RankGroups& groups, std::string& bytes) {
  pb::GlobalMetadata meta;
  meta.set_version("0.0.4");
  auto add_meta = [&meta](const std::string& name) {
    pb::AttributeProto* a = meta.add_attr();
    a->set_name(name);
    return a;
  };
  add_meta("schema")->set_string_val("clustersim");
  add_meta("clustersim.comm_size_convention")->set_string_val("per_rank_input");
  add_meta("clustersim.precision")->set_string_val(program.precision);
  add_meta("clustersim.schedule")->set_string_val(program.schedule);
  add_meta("clustersim.tokens_per_step")->set_int64_val(static_cast<int64_t>(program.tokens_per_step));
  add_meta("clustersim.model_flops_per_step")->set_double_val(program.model_flops_per_step);
  add_meta("clustersim.world")->set_int64_val(program.layout.world());
  for (const auto& [dim, named] : groups) {
    pb::AttributeProto* a = add_meta("pg:" + named.first);
    for (uint32_t m : named.second) a->mutable_uint64_list()->add_values(m);
  }
  AppendDelimited(meta, bytes);
}

// Writes the nodes of one trace rank: ops on the compute stream chained by ctrl_deps, async collectives on stream 1
// waited for by data_deps of their kWait node.
class RankNodeWriter {
 public:
  RankNodeWriter(const StepProgram& program, const std::vector<uint32_t>& trace_of, uint32_t t, uint32_t g,
                 const RankGroups& groups)
      : L_(program.layout),
        ops_(program.stages.at(program.layout.PpIndex(g))),
        trace_of_(trace_of),
        t_(t),
        g_(g),
        s_(program.layout.PpIndex(g)),
        groups_(groups) {
    for (size_t q = 0; q < ops_.size(); ++q)
      if (ops_[q].type == OpType::kWait) last_wait_[ops_[q].tag] = q;
  }
  void Write(std::string& bytes);

 private:
  void Compute(const Op& op);
  bool Collective(const Op& op, size_t q, uint64_t id);
  void Transfer(const Op& op);
  void Wait(const Op& op);

  const RankLayout& L_;
  const std::vector<Op>& ops_;
  const std::vector<uint32_t>& trace_of_;
  const uint32_t t_, g_, s_;
  const RankGroups& groups_;
  pb::Node node_;
  std::map<uint32_t, std::vector<uint64_t>> pending_;  // async tag -> collectives not yet waited for
  std::map<uint32_t, size_t> last_wait_;               // tag -> position of its last kWait
};

void RankNodeWriter::Write(std::string& bytes) {
  uint64_t prev_main = UINT64_MAX;
  for (size_t q = 0; q < ops_.size(); ++q) {
    const Op& op = ops_[q];
    node_.Clear();
    const uint64_t id = q;
    node_.set_id(id);
    if (prev_main != UINT64_MAX) node_.add_ctrl_deps(prev_main);
    AddAttr(node_, "clustersim.phase", static_cast<int64_t>(op.phase));
    bool main = true;
    switch (op.type) {
      case OpType::kCompute:
        Compute(op);
        break;
      case OpType::kCollective:
        main = Collective(op, q, id);
        break;
      case OpType::kSend:
      case OpType::kRecv:
        Transfer(op);
        break;
      case OpType::kWait:
        Wait(op);
        break;
    }
    if (main) prev_main = id;
    AppendDelimited(node_, bytes);
  }
}

void RankNodeWriter::Compute(const Op& op) {
  node_.set_name(std::string(ToString(op.compute)) + ".mb" + std::to_string(op.microbatch));
  node_.set_type(pb::COMP_NODE);
  AddAttr(node_, "num_ops", static_cast<int64_t>(std::llround(op.flops)));
  AddAttr(node_, "tensor_size", static_cast<int64_t>(std::llround(op.bytes)));
  AddAttr(node_, "clustersim.kind", std::string(ToString(op.compute)));
  AddAttr(node_, "clustersim.gemm_count", op.gemm_count);
  AddAttr(node_, "clustersim.stream", int64_t{0});
}

// Returns whether the op is on the compute stream (not async). An all-gather's comm_size is each rank's input
// (Chakra's convention): the output divided by the group's size, rounded.
bool RankNodeWriter::Collective(const Op& op, size_t q, uint64_t id) {
  const auto& group = groups_.at(static_cast<int>(op.dim));
  node_.set_name(std::string(ToString(op.dim)) + "." + ToString(op.coll));
  node_.set_type(pb::COMM_COLL_NODE);
  AddAttr(node_, "comm_type", CommType(op.coll));
  const uint64_t n = group.second.size();
  const uint64_t size = op.coll == Coll::kAllGather ? (op.comm_bytes + n / 2) / n : op.comm_bytes;
  AddAttr(node_, "comm_size", static_cast<int64_t>(size));
  AddAttr(node_, "pg_name", group.first);
  AddAttr(node_, "clustersim.stream", int64_t{op.async ? 1 : 0});
  if (!op.async) return true;
  pending_[op.tag].push_back(id);
  const auto lw = last_wait_.find(op.tag);
  if (lw == last_wait_.end() || lw->second < q) AddAttr(node_, "clustersim.overlaps_next_step", int64_t{1});
  return false;
}

void RankNodeWriter::Transfer(const Op& op) {
  const bool send = op.type == OpType::kSend;
  const uint32_t pp = L_.pp, stage_size = L_.tp * L_.cp * L_.dp;
  const uint32_t peer_stage = static_cast<uint32_t>((static_cast<int64_t>(s_) + op.peer_delta + pp) % pp);
  const uint32_t peer = trace_of_[peer_stage * stage_size + (g_ - s_ * stage_size)];
  const int32_t sender_delta = send ? op.peer_delta : -op.peer_delta;
  const int64_t tag =
      ((static_cast<int64_t>(op.microbatch) * 256 + op.chunk) * 8 + static_cast<int64_t>(op.phase)) * 16 +
      (sender_delta + 8);
  node_.set_name(std::string(send ? "send" : "recv") + ".mb" + std::to_string(op.microbatch));
  node_.set_type(send ? pb::COMM_SEND_NODE : pb::COMM_RECV_NODE);
  AddAttr(node_, "comm_src", static_cast<int64_t>(send ? t_ : peer));
  AddAttr(node_, "comm_dst", static_cast<int64_t>(send ? peer : t_));
  AddAttr(node_, "comm_tag", tag);
  AddAttr(node_, "comm_size", static_cast<int64_t>(op.comm_bytes));
  if (send)
    AddAttr(node_, "pg_name",
            "pp" + std::to_string(s_) + (op.peer_delta > 0 ? "+" : "") + std::to_string(op.peer_delta) + "/" +
                std::to_string(t_));
  AddAttr(node_, "clustersim.stream", int64_t{0});
}

void RankNodeWriter::Wait(const Op& op) {
  node_.set_name("wait.tag" + std::to_string(op.tag));
  node_.set_type(pb::COMP_NODE);
  AddAttr(node_, "num_ops", int64_t{0});
  AddAttr(node_, "tensor_size", int64_t{0});
  AddAttr(node_, "clustersim.kind", std::string("elementwise"));
  AddAttr(node_, "clustersim.stream", int64_t{0});
  for (uint64_t d : pending_[op.tag]) node_.add_data_deps(d);
  pending_[op.tag].clear();
}

}  // namespace

std::vector<std::string> ExportTrace(const StepProgram& program, const ExportOptions& options) {
  const RankLayout& L = program.layout;
  const uint32_t world = L.world();
  // Global rank -> trace rank (UINT32_MAX: not exported).
  std::vector<uint32_t> trace_of(world, UINT32_MAX);
  std::vector<uint32_t> global_of;
  for (uint32_t g = 0; g < world; ++g)
    if (!options.replica_only || L.DpIndex(g) == 0) {
      trace_of[g] = static_cast<uint32_t>(global_of.size());
      global_of.push_back(g);
    }
  std::vector<std::string> out(global_of.size());
  for (uint32_t t = 0; t < global_of.size(); ++t) {
    const uint32_t g = global_of[t];
    const RankGroups groups = GroupsOf(L, program.stages.at(L.PpIndex(g)), g, trace_of);
    WriteMetadata(program, groups, out[t]);
    RankNodeWriter(program, trace_of, t, g, groups).Write(out[t]);
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
