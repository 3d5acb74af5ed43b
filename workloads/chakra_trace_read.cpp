// Reading one rank's Chakra ET file; see chakra_trace_read.h. ReadRank reads as its steps: frame the records
// (RecordReader), read record 0 as metadata when its wire format says so (ReadFirstRecord), read each node (kind,
// attributes, then the PyTorch conventions for what the attributes leave out), then resolve dependencies and
// point-to-point peers by index.
#include "workloads/chakra_trace_read.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/gzip_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/wire_format_lite.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <unordered_map>

#include "chakra/et_def.pb.h"
#include "common/error.h"

namespace clustersim::wl::chakra {

namespace pb = ::ChakraProtoMsg;
namespace pio = google::protobuf::io;

std::string NodeRef(const TraceRank& r, uint32_t i) {
  return "node " + std::to_string(r.nodes[i].id) + " (\"" + r.names[i] + "\")";
}

void Fail(const std::string& file, const std::string& what, const std::string& value, const std::string& rule) {
  throw InputError::Field(file, 0, what, value, rule);
}

void FailNode(const TraceRank& r, uint32_t i, const std::string& field, const std::string& value,
              const std::string& rule) {
  throw InputError::Field(r.file, 0, NodeRef(r, i) + " " + field, value, rule);
}

void ReadCounts::Add(const ReadCounts& o) {
  files_without_metadata += o.files_without_metadata;
  unreadable_metadata += o.unreadable_metadata;
  for (const auto& [type, n] : o.skipped) skipped[type] += n;
  host_comm_nodes += o.host_comm_nodes;
  inferred_comm_type += o.inferred_comm_type;
  inferred_comm_size += o.inferred_comm_size;
  comm_without_size += o.comm_without_size;
  inferred_peers += o.inferred_peers;
  ctrl_missing += o.ctrl_missing;
  ctrl_self += o.ctrl_self;
  ctrl_cyclic_files += o.ctrl_cyclic_files;
}

std::vector<std::string> ReadCounts::Lines() const {
  std::vector<std::string> out;
  auto line = [&out](uint64_t n, const std::string& text) {
    if (n > 0) out.push_back(std::to_string(n) + " " + text);
  };
  line(files_without_metadata,
       "file(s) start with a Node instead of a GlobalMetadata record (2023 format): read "
       "with no metadata");
  line(unreadable_metadata, "file(s) have a GlobalMetadata record of an older layout: ignored, as ASTRA-sim does");
  static const char* const kTypeNames[] = {"INVALID_NODE", "METADATA_NODE"};
  for (const auto& [type, n] : skipped)
    line(n, std::string("node(s) of type ") + (type >= 0 && type < 2 ? kTypeNames[type] : std::to_string(type)) +
                (type >= 0 && type < 2 ? "" : " (not a kind the replay models)") +
                " replayed as zero-time host nodes (their dependencies kept)");
  line(host_comm_nodes,
       "communication node(s) with is_cpu_op (host side of a GPU collective, e.g. c10d::allreduce_) "
       "replayed as host ops: the GPU kernel carries the collective");
  line(inferred_comm_type, "collective(s) without comm_type: type taken from the node name");
  line(inferred_comm_size, "communication node(s) without comm_size: size taken from the input tensors");
  line(comm_without_size, "communication node(s) without comm_size or input tensors: replayed as 0 bytes");
  line(inferred_peers, "send/recv node(s) without comm_dst/comm_src: peer taken from the launching nccl:send/recv op");
  line(ctrl_missing, "ctrl_deps naming no node of their file: dropped (a converter's parent links)");
  line(ctrl_self, "ctrl_deps naming their own node: dropped");
  line(ctrl_cyclic_files,
       "file(s) whose ctrl_deps close cycles with data_deps (PyTorch converter's parent links): "
       "only data_deps are dependencies there");
  return out;
}

namespace {

// ---------------------------------------------------------------------------------------------------------------
// Attributes

bool AttrInt(const pb::AttributeProto& a, int64_t& out) {
  const auto big = [](uint64_t v) { return v > static_cast<uint64_t>(INT64_MAX) ? -1 : static_cast<int64_t>(v); };
  switch (a.value_case()) {
    case pb::AttributeProto::kInt32Val:
      out = a.int32_val();
      return true;
    case pb::AttributeProto::kInt64Val:
      out = a.int64_val();
      return true;
    case pb::AttributeProto::kUint32Val:
      out = a.uint32_val();
      return true;
    case pb::AttributeProto::kUint64Val:
      out = big(a.uint64_val());
      return true;
    case pb::AttributeProto::kSint32Val:
      out = a.sint32_val();
      return true;
    case pb::AttributeProto::kSint64Val:
      out = a.sint64_val();
      return true;
    case pb::AttributeProto::kFixed32Val:
      out = a.fixed32_val();
      return true;
    case pb::AttributeProto::kFixed64Val:
      out = big(a.fixed64_val());
      return true;
    case pb::AttributeProto::kSfixed32Val:
      out = a.sfixed32_val();
      return true;
    case pb::AttributeProto::kSfixed64Val:
      out = a.sfixed64_val();
      return true;
    case pb::AttributeProto::kBoolVal:
      out = a.bool_val() ? 1 : 0;
      return true;
    default:
      return false;
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

// An attribute's value as messages show it: an integer as given, a double such as 1e300 or NaN as a number.
std::string AttrText(const pb::AttributeProto& a) {
  int64_t i = 0;
  double d = 0;
  if (AttrInt(a, i)) return std::to_string(i);
  if (!AttrDouble(a, d)) return "(not a number)";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", d);
  return buf;
}

bool AttrIntList(const pb::AttributeProto& v, std::vector<int64_t>& out) {
  out.clear();
  switch (v.value_case()) {
    case pb::AttributeProto::kInt32List:
      out.assign(v.int32_list().values().begin(), v.int32_list().values().end());
      return true;
    case pb::AttributeProto::kInt64List:
      out.assign(v.int64_list().values().begin(), v.int64_list().values().end());
      return true;
    case pb::AttributeProto::kUint32List:
      out.assign(v.uint32_list().values().begin(), v.uint32_list().values().end());
      return true;
    case pb::AttributeProto::kUint64List:
      for (uint64_t x : v.uint64_list().values())
        out.push_back(x > static_cast<uint64_t>(INT64_MAX) ? -1 : static_cast<int64_t>(x));
      return true;
    case pb::AttributeProto::kSint32List:
      out.assign(v.sint32_list().values().begin(), v.sint32_list().values().end());
      return true;
    case pb::AttributeProto::kSint64List:
      out.assign(v.sint64_list().values().begin(), v.sint64_list().values().end());
      return true;
    default:
      return false;
  }
}

ComputeKind ParseComputeKind(const std::string& s, bool& ok) {
  ok = true;
  for (ComputeKind k : kAllComputeKinds)
    if (s == ToString(k)) return k;
  ok = false;
  return ComputeKind::kGemm;
}

// The replay's collective for a Chakra CollectiveCommType (docs/trace-replay.md): REDUCE, GATHER and SCATTER are
// broadcast-shaped, BARRIER a 0-byte all-reduce, REDUCE_SCATTER_BLOCK a reduce-scatter.
std::optional<Coll> CollOf(int64_t comm_type) {
  switch (comm_type) {
    case pb::ALL_REDUCE:
    case pb::BARRIER:
      return Coll::kAllReduce;
    case pb::REDUCE_SCATTER:
    case pb::REDUCE_SCATTER_BLOCK:
      return Coll::kReduceScatter;
    case pb::ALL_GATHER:
      return Coll::kAllGather;
    case pb::ALL_TO_ALL:
      return Coll::kAllToAll;
    case pb::BROADCAST:
    case pb::REDUCE:
    case pb::GATHER:
    case pb::SCATTER:
      return Coll::kBroadcast;
    default:
      return std::nullopt;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Records

// The varint-length-delimited records of one file, plain or gzip (detected by the magic bytes). Next() positions
// at a record and reads its length; Parse() or Raw() then consumes it. Memory is bounded by the input: a length
// over kMaxRecordBytes is rejected before anything is allocated for it.
class RecordReader {
 public:
  RecordReader(const std::string& file, std::string_view bytes) : file_(file), array_(bytes.data(), Size(file, bytes)) {
    if (bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
        static_cast<unsigned char>(bytes[1]) == 0x8b) {
      gz_ = std::make_unique<pio::GzipInputStream>(&array_, pio::GzipInputStream::GZIP);
      in_ = gz_.get();
    }
  }

  bool Next() {
    coded_.reset();  // gives back the bytes it buffered past the previous record
    ++index_;
    // End of stream: no more bytes (a gzip error also ends the stream; CheckEnd reports it).
    const void* data = nullptr;
    int size = 0;
    bool more = false;
    while (in_->Next(&data, &size))
      if (size > 0) {
        in_->BackUp(size);
        more = true;
        break;
      }
    if (!more) return false;
    coded_.emplace(in_);
    if (!coded_->ReadVarint64(&len_)) Fail(file_, "record " + std::to_string(index_), "(length)", "truncated stream");
    if (len_ > kMaxRecordBytes)
      Fail(file_, "record " + std::to_string(index_) + " length", std::to_string(len_),
           "exceeds the " + std::to_string(kMaxRecordBytes) + "-byte limit (corrupt or not a Chakra ET file)");
    return true;
  }

  // Parses the record into `m`; throws naming `what` when it is not one.
  void Parse(google::protobuf::Message& m, const char* what) {
    m.Clear();
    const auto limit = coded_->PushLimit(static_cast<int>(len_));
    if (!m.ParseFromCodedStream(&*coded_) || !coded_->ConsumedEntireMessage())
      Fail(file_, "record " + std::to_string(index_), "(" + std::to_string(len_) + " bytes)",
           std::string("not a valid ") + what + " message");
    if (coded_->BytesUntilLimit() > 0) Truncated();
    coded_->PopLimit(limit);
  }

  std::string Raw() {
    std::string out;
    if (!coded_->ReadString(&out, static_cast<int>(len_))) Truncated();
    return out;
  }

  void CheckEnd() const {
    if (gz_ && gz_->ZlibErrorMessage() != nullptr)
      Fail(file_, "gzip", gz_->ZlibErrorMessage(), "corrupt or truncated compressed stream");
  }

  uint64_t index() const { return index_; }
  uint64_t length() const { return len_; }

 private:
  static int Size(const std::string& file, std::string_view bytes) {
    if (bytes.size() > INT32_MAX) Fail(file, "file size", std::to_string(bytes.size()), "must be below 2 GiB per rank");
    return static_cast<int>(bytes.size());
  }
  [[noreturn]] void Truncated() const {
    Fail(file_, "record " + std::to_string(index_), "(" + std::to_string(len_) + " bytes)", "truncated stream");
  }

  const std::string& file_;
  pio::ArrayInputStream array_;
  std::unique_ptr<pio::GzipInputStream> gz_;
  pio::ZeroCopyInputStream* in_ = &array_;
  std::optional<pio::CodedInputStream> coded_;
  uint64_t index_ = UINT64_MAX;
  uint64_t len_ = 0;
};

// Whether record 0 is a GlobalMetadata: every field is field 1 (version) or 2 (attr), length-delimited. A Node
// always has a varint field (its type, or its id), so a 2023 file whose record 0 is a Node fails this test.
bool LooksLikeMetadata(const std::string& raw) {
  using google::protobuf::internal::WireFormatLite;
  pio::CodedInputStream in(reinterpret_cast<const uint8_t*>(raw.data()), static_cast<int>(raw.size()));
  while (const uint32_t tag = in.ReadTag()) {
    const uint32_t field = WireFormatLite::GetTagFieldNumber(tag);
    if ((field != 1 && field != 2) ||
        WireFormatLite::GetTagWireType(tag) != WireFormatLite::WIRETYPE_LENGTH_DELIMITED ||
        !WireFormatLite::SkipField(&in, tag))
      return false;
  }
  return in.CurrentPosition() == static_cast<int>(raw.size());
}

// ---------------------------------------------------------------------------------------------------------------
// One rank

// What a node's attributes said, for the rules that fill in what they leave out.
struct Seen {
  bool comm_type = false, comm_size = false, src = false, dst = false, cpu_op = false, barrier = false;
};

class RankReader {
 public:
  RankReader(const std::string& file, RawRank& out) : file_(file), out_(out), r_(out.rank) { r_.file = file; }
  void Read(std::string_view bytes);

 private:
  void ReadFirstRecord(RecordReader& in);
  void ReadMetadata(const pb::GlobalMetadata& meta);
  void ReadNode(const pb::Node& node);
  bool SetKind(int type, TraceNode& n);
  void ReadAttrs(const pb::Node& node, uint32_t idx, Seen& seen);
  bool ReadCommAttr(const pb::AttributeProto& a, uint32_t idx, Seen& seen);
  bool ReadComputeAttr(const pb::AttributeProto& a, uint32_t idx);
  void FinishNode(const pb::Node& node, uint32_t idx, const Seen& seen);
  void ReadProcessGroupTable(const pb::Node& node, uint32_t idx);
  void ResolveDeps();
  void ResolvePeers();

  const std::string& file_;
  RawRank& out_;
  TraceRank& r_;
  std::unordered_map<uint64_t, uint32_t> index_of_;
  // Raw dependency ids of node i: dep_ids_[dep_start_[i] .. dep_start_[i + 1]), its data_deps first.
  std::vector<uint64_t> dep_ids_;
  std::vector<uint64_t> dep_start_{0};
  std::vector<uint32_t> data_count_;
  std::vector<uint32_t> pending_peer_;  // send/recv nodes whose peer comes from a parent's name
};

void RankReader::Read(std::string_view bytes) {
  RecordReader in(file_, bytes);
  // A corrupt record is reported once, by Fail; protobuf's own log line (invalid UTF-8, ...) is silenced.
  const google::protobuf::LogSilencer quiet;
  if (!in.Next()) {
    in.CheckEnd();
    Fail(file_, "stream", "(empty)", "a Chakra ET file holds a GlobalMetadata or Node record");
  }
  ReadFirstRecord(in);
  pb::Node node;
  while (in.Next()) {
    in.Parse(node, "Node");
    ReadNode(node);
  }
  in.CheckEnd();
  ResolveDeps();
  ResolvePeers();
}

// Record 0 is metadata when its wire format says so (LooksLikeMetadata); a metadata record that does not parse
// (older layouts put AttributeProto in field 1) is ignored, as ASTRA-sim's feeders do; otherwise it is node 0.
void RankReader::ReadFirstRecord(RecordReader& in) {
  const std::string raw = in.Raw();
  if (LooksLikeMetadata(raw)) {
    pb::GlobalMetadata meta;
    if (meta.ParseFromString(raw)) {
      ReadMetadata(meta);
    } else {
      ++out_.counts.unreadable_metadata;
    }
    return;
  }
  pb::Node node;
  if (!node.ParseFromString(raw))
    Fail(file_, "record 0", std::to_string(raw.size()) + " bytes", "neither a GlobalMetadata nor a Node message");
  ++out_.counts.files_without_metadata;
  ReadNode(node);
}

void RankReader::ReadMetadata(const pb::GlobalMetadata& meta) {
  std::vector<int64_t> list;
  std::string schema, convention;
  for (const pb::AttributeProto& a : meta.attr()) {
    if (a.name().rfind("pg:", 0) == 0) {
      if (!AttrIntList(a, list)) Fail(file_, "metadata " + a.name(), "(not an integer list)", "must list ranks");
      out_.declared_groups.emplace_back(a.name().substr(3), list);
    } else if (a.name() == "schema") {
      schema = a.string_val();
    } else if (a.name() == "clustersim.comm_size_convention") {
      convention = a.string_val();
    } else if (a.name() == "clustersim.precision") {
      out_.precision = a.string_val();
    } else if (a.name() == "clustersim.tokens_per_step") {
      AttrInt(a, out_.tokens);
    } else if (a.name() == "clustersim.world") {
      AttrInt(a, out_.world);
    } else if (a.name() == "clustersim.model_flops_per_step") {
      AttrDouble(a, out_.model_flops);
    }
  }
  if (convention.empty()) {
    out_.ag_output_sizes = schema == "clustersim";  // clustersim's exports before the attribute existed
  } else if (convention == "nccl_tests" || convention == "per_rank_input") {
    out_.ag_output_sizes = convention == "nccl_tests";
  } else {
    Fail(file_, "metadata clustersim.comm_size_convention", "\"" + convention + "\"",
         "must be per_rank_input (Chakra, ASTRA-sim) or nccl_tests");
  }
}

void RankReader::ReadNode(const pb::Node& node) {
  const uint32_t idx = static_cast<uint32_t>(r_.nodes.size());
  r_.nodes.emplace_back();
  r_.names.push_back(node.name());
  out_.pg_names.emplace_back();
  TraceNode& n = r_.nodes.back();
  n.id = node.id();
  if (!index_of_.emplace(node.id(), idx).second)
    FailNode(r_, idx, "id", std::to_string(node.id()), "duplicate node id");
  dep_ids_.insert(dep_ids_.end(), node.data_deps().begin(), node.data_deps().end());
  dep_ids_.insert(dep_ids_.end(), node.ctrl_deps().begin(), node.ctrl_deps().end());
  dep_start_.push_back(dep_ids_.size());
  data_count_.push_back(static_cast<uint32_t>(node.data_deps_size()));
  n.duration_s = static_cast<double>(node.duration_micros()) * 1e-6;
  if (IsProcessGroupTableNode(node.name())) ReadProcessGroupTable(node, idx);
  if (!SetKind(static_cast<int>(node.type()), n)) return;
  Seen seen;
  ReadAttrs(node, idx, seen);
  FinishNode(node, idx, seen);
}

// The node's kind and stream from its type; false (counted) for a node replayed as a zero-time host node: METADATA
// and INVALID (ASTRA-sim skips them too) and any type the replay does not model (STORAGE, BATCH, CHECKPOINT as
// proposed in Chakra PR #216, unknown values).
bool RankReader::SetKind(int type, TraceNode& n) {
  switch (type) {
    case pb::COMP_NODE:
      n.kind = NodeKind::kCompute;
      return true;
    case pb::COMM_COLL_NODE:
      n.kind = NodeKind::kCollective;
      n.stream = kCommStream;
      return true;
    case pb::COMM_SEND_NODE:
      n.kind = NodeKind::kSend;
      n.stream = kCommStream;
      return true;
    case pb::COMM_RECV_NODE:
      n.kind = NodeKind::kRecv;
      n.stream = kCommStream;
      return true;
    case pb::MEM_LOAD_NODE:
    case pb::MEM_STORE_NODE:
      n.kind = NodeKind::kMemory;
      n.compute = ComputeKind::kElementwise;
      return true;
    default:
      ++out_.counts.skipped[type];
      n.kind = NodeKind::kCompute;
      n.stream = kHostStream;
      n.duration_s = 0;
      return false;
  }
}

void RankReader::ReadAttrs(const pb::Node& node, uint32_t idx, Seen& seen) {
  TraceNode& n = r_.nodes[idx];
  for (const pb::AttributeProto& a : node.attr()) {
    if (ReadCommAttr(a, idx, seen) || ReadComputeAttr(a, idx)) continue;
    const std::string_view an = a.name();  // compares by length first: no strlen/memcmp per literal
    int64_t iv = 0;
    if (an == "is_cpu_op") {
      seen.cpu_op = AttrInt(a, iv) && iv != 0;
    } else if (an == "clustersim.overlaps_next_step") {
      n.overlaps_next_step = AttrInt(a, iv) && iv != 0;
    } else if (an == "clustersim.stream") {
      if (!AttrInt(a, iv) || iv < 0 || iv > 1) FailNode(r_, idx, std::string(an), std::to_string(iv), "must be 0 or 1");
      n.stream = static_cast<uint8_t>(iv);
    }
  }
}

bool RankReader::ReadCommAttr(const pb::AttributeProto& a, uint32_t idx, Seen& seen) {
  TraceNode& n = r_.nodes[idx];
  const std::string_view an = a.name();
  int64_t iv = 0;
  if (an == "comm_size") {
    if (!AttrInt(a, iv) || iv < 0) FailNode(r_, idx, "comm_size", AttrText(a), "must be an integer >= 0");
    n.comm_bytes = static_cast<uint64_t>(iv);
    seen.comm_size = true;
  } else if (an == "comm_type") {
    if (!AttrInt(a, iv)) FailNode(r_, idx, "comm_type", "(not an integer)", "must be a CollectiveCommType");
    const std::optional<Coll> c = CollOf(iv);
    if (!c) FailNode(r_, idx, "comm_type", std::to_string(iv), "unknown CollectiveCommType (0..9)");
    n.coll = *c;
    seen.barrier = iv == pb::BARRIER;
    seen.comm_type = true;
  } else if (an == "comm_src" || an == "comm_dst") {
    if (!AttrInt(a, iv) || iv < 0 || iv > INT32_MAX)
      FailNode(r_, idx, std::string(an), std::to_string(iv), "must be a rank >= 0");
    if ((an == "comm_src") == (n.kind == NodeKind::kRecv)) n.peer = static_cast<uint32_t>(iv);
    (an == "comm_src" ? seen.src : seen.dst) = true;
  } else if (an == "comm_tag") {
    if (!AttrInt(a, iv)) FailNode(r_, idx, "comm_tag", "(not an integer)", "must be an integer");
    n.tag = iv;
  } else if (an == "pg_name") {
    out_.pg_names[idx] = a.string_val();
  } else {
    return false;
  }
  return true;
}

bool RankReader::ReadComputeAttr(const pb::AttributeProto& a, uint32_t idx) {
  TraceNode& n = r_.nodes[idx];
  const std::string_view an = a.name();
  int64_t iv = 0;
  double dv = 0;
  auto number = [&](double& out) {
    if (!AttrDouble(a, dv) || !(dv >= 0) || !std::isfinite(dv))
      FailNode(r_, idx, std::string(an), "(bad)", "must be a number >= 0");
    out = dv;
  };
  if (an == "num_ops") {
    number(n.flops);
  } else if (an == "tensor_size") {
    number(n.bytes);
  } else if (an == "clustersim.kind") {
    bool ok = false;
    n.compute = ParseComputeKind(a.string_val(), ok);
    if (!ok) FailNode(r_, idx, std::string(an), a.string_val(), "unknown compute kind");
  } else if (an == "clustersim.gemm_count") {
    number(n.gemm_count);
  } else if (an == "clustersim.phase") {
    if (!AttrInt(a, iv) || iv < 0 || iv > static_cast<int>(Phase::kGradSync))
      FailNode(r_, idx, std::string(an), std::to_string(iv), "must be 0..4");
    n.phase = static_cast<Phase>(iv);
  } else {
    return false;
  }
  return true;
}

// What the attributes leave out, the way Chakra's converters and ASTRA-sim read it: a node with is_cpu_op runs on
// the host (a communication node with it is the host side of a GPU collective, replayed as a host op); a collective
// without comm_type takes it from its name; a communication node without comm_size takes its input tensors'
// bytes; a send or receive without its peer takes it from its launching op's name (ResolvePeers).
void RankReader::FinishNode(const pb::Node& node, uint32_t idx, const Seen& seen) {
  TraceNode& n = r_.nodes[idx];
  if (seen.cpu_op) {
    if (n.kind != NodeKind::kCompute && n.kind != NodeKind::kMemory) ++out_.counts.host_comm_nodes;
    n.kind = NodeKind::kCompute;
    n.stream = kHostStream;
    n.flops = n.bytes = 0;
    n.comm_bytes = 0;
    return;
  }
  if (n.kind == NodeKind::kCompute || n.kind == NodeKind::kMemory) return;
  bool barrier = seen.barrier;
  if (n.kind == NodeKind::kCollective && !seen.comm_type) {
    const std::optional<CommType> t = CommTypeFromName(node.name());
    if (!t)
      FailNode(r_, idx, "comm_type", "(missing)",
               "a collective needs comm_type, or a name that says which (allreduce, allgather, reducescatter, "
               "alltoall, broadcast, ...)");
    n.coll = *CollOf(static_cast<int64_t>(*t));
    barrier = *t == CommType::kBarrier;
    ++out_.counts.inferred_comm_type;
  }
  if (barrier) {
    n.comm_bytes = 0;  // a barrier moves nothing, whatever comm_size says
  } else if (!seen.comm_size) {
    if (const std::optional<uint64_t> b = TensorBytesOfInputs(node.inputs().values(), node.inputs().types())) {
      n.comm_bytes = *b;
      ++out_.counts.inferred_comm_size;
    } else {
      ++out_.counts.comm_without_size;
    }
  }
  if ((n.kind == NodeKind::kSend && !seen.dst) || (n.kind == NodeKind::kRecv && !seen.src))
    pending_peer_.push_back(idx);
}

void RankReader::ReadProcessGroupTable(const pb::Node& node, uint32_t idx) {
  std::optional<std::vector<PyTorchGroup>> groups = ParseProcessGroupTable(node.inputs().values());
  if (!groups)
    FailNode(r_, idx, "inputs.values", "(unparsable)",
             "a process-group table node holds the JSON list of torch.distributed's pg_config_info");
  for (PyTorchGroup& g : *groups) out_.pytorch_groups.push_back(std::move(g));
}

// Dependencies by index: data_deps must name nodes of the file (else an error); ctrl_deps naming no node or the
// node itself are dropped and counted (Chakra's PyTorch converter writes the caller there, often a node it dropped).
void RankReader::ResolveDeps() {
  const uint32_t N = static_cast<uint32_t>(r_.nodes.size());
  out_.data_deps.assign(N, 0);
  for (uint32_t i = 0; i < N; ++i) {
    std::vector<uint32_t>& deps = r_.nodes[i].deps;
    const uint64_t begin = dep_start_[i], data_end = begin + data_count_[i], end = dep_start_[i + 1];
    for (uint64_t k = begin; k < end; ++k) {
      const uint64_t d = dep_ids_[k];
      const bool data = k < data_end;
      const auto it = index_of_.find(d);
      if (it == index_of_.end() || it->second == i) {
        if (data && it == index_of_.end())
          FailNode(r_, i, "dependency", std::to_string(d), "no node with this id in the file");
        if (data) FailNode(r_, i, "dependency", std::to_string(d), "dependency cycle (a node depends on itself)");
        ++(it == index_of_.end() ? out_.counts.ctrl_missing : out_.counts.ctrl_self);
        continue;
      }
      deps.push_back(it->second);
      if (k + 1 == data_end) {
        std::sort(deps.begin(), deps.end());
        deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
        out_.data_deps[i] = static_cast<uint32_t>(deps.size());
      }
    }
    // Control dependencies after the data ones, without repeating them.
    const auto mid = deps.begin() + out_.data_deps[i];
    std::sort(mid, deps.end());
    auto last = std::unique(mid, deps.end());
    last = std::remove_if(mid, last, [&](uint32_t d) { return std::binary_search(deps.begin(), mid, d); });
    deps.erase(last, deps.end());
  }
  std::vector<uint64_t>().swap(dep_ids_);
}

// A send or receive without comm_dst / comm_src (Chakra's PyTorch converter writes neither): the peer named by the
// nearest op "nccl:send <rank>-><peer>" / "nccl:recv <rank><-<peer>" among its dependencies, up the callers
// (ctrl_deps).
void RankReader::ResolvePeers() {
  for (const uint32_t i : pending_peer_) {
    TraceNode& n = r_.nodes[i];
    const bool send = n.kind == NodeKind::kSend;
    std::optional<uint32_t> peer = PeerFromName(r_.names[i], send);
    uint32_t at = i;
    for (int depth = 0; depth < 4 && !peer; ++depth) {
      const std::vector<uint32_t>& deps = r_.nodes[at].deps;
      const uint32_t ctrl = out_.data_deps[at];
      for (size_t k = 0; k < deps.size() && !peer; ++k)  // callers (ctrl_deps) first, then the data_deps
        peer = PeerFromName(r_.names[deps[(ctrl + k) % deps.size()]], send);
      if (ctrl >= deps.size()) break;
      at = deps[ctrl];
    }
    if (!peer)
      FailNode(r_, i, send ? "comm_dst" : "comm_src", "(missing)",
               std::string("a ") + (send ? "send needs comm_dst" : "receive needs comm_src") +
                   ", or a launching op named \"nccl:" + (send ? "send <rank>-><peer>" : "recv <rank><-<peer>") + "\"");
    n.peer = *peer;
    out_.group_rank_peers.push_back(i);
    ++out_.counts.inferred_peers;
  }
}

}  // namespace

void ReadRank(const std::string& file, std::string_view bytes, RawRank& out) { RankReader(file, out).Read(bytes); }

}  // namespace clustersim::wl::chakra
