// Chakra ET reader, validation and exporter: round trip of a generated step, and one test per validation rule with
// the message checked (file and node named).
#include "workloads/chakra_trace.h"

#include <gtest/gtest.h>

#include <cmath>

#include "chakra/et_def.pb.h"
#include "common/error.h"
#include "common/input_error_message.h"
#include "workloads/generator.h"

namespace clustersim::wl::chakra {
namespace {

namespace pb = ::ChakraProtoMsg;

void Put(const google::protobuf::Message& m, std::string& out) {
  const std::string body = m.SerializeAsString();
  uint64_t v = body.size();
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  out += body;
}

pb::Node N(uint64_t id, pb::NodeType type, std::vector<uint64_t> deps = {}) {
  pb::Node n;
  n.set_id(id);
  n.set_name(std::string("n").append(std::to_string(id)));
  n.set_type(type);
  for (uint64_t d : deps) n.add_data_deps(d);
  return n;
}
void Attr(pb::Node& n, const std::string& name, int64_t v) {
  auto* a = n.add_attr();
  a->set_name(name);
  a->set_int64_val(v);
}
void Attr(pb::Node& n, const std::string& name, const std::string& v) {
  auto* a = n.add_attr();
  a->set_name(name);
  a->set_string_val(v);
}

std::string Stream(const std::vector<pb::Node>& nodes, const pb::GlobalMetadata& meta = {}) {
  std::string out;
  Put(meta, out);
  for (const auto& n : nodes) Put(n, out);
  return out;
}

std::string ErrorOf(const std::vector<std::string>& ranks) {
  std::vector<RankBuffer> b;
  for (size_t r = 0; r < ranks.size(); ++r) b.push_back({"t." + std::to_string(r) + ".et", ranks[r]});
  return InputErrorMessage([&] { LoadTraceFromBuffers(b); });
}

pb::Node Send(uint64_t id, int64_t src, int64_t dst, int64_t tag, int64_t size) {
  pb::Node n = N(id, pb::COMM_SEND_NODE);
  Attr(n, "comm_src", src);
  Attr(n, "comm_dst", dst);
  Attr(n, "comm_tag", tag);
  Attr(n, "comm_size", size);
  return n;
}
pb::Node Recv(uint64_t id, int64_t src, int64_t dst, int64_t tag, int64_t size) {
  pb::Node n = Send(id, src, dst, tag, size);
  n.set_type(pb::COMM_RECV_NODE);
  return n;
}

TEST(ChakraTrace, ExportReadsBackWithEveryOpAndGroup) {
  v1::Workload w;
  w.mutable_model()->set_preset("llama3_8b");
  w.mutable_model()->set_seq_len(4096);
  w.mutable_parallelism()->set_tp(4);
  w.mutable_parallelism()->set_pp(2);
  w.mutable_parallelism()->set_global_batch_size(8);
  w.mutable_parallelism()->set_overlap_grad_reduce(true);
  const StepProgram p = BuildStepProgram(w, 16, 8, 1);
  const auto streams = ExportTrace(p, {});
  ASSERT_EQ(streams.size(), 16u);
  std::vector<RankBuffer> b;
  for (size_t r = 0; r < streams.size(); ++r) b.push_back({"x." + std::to_string(r) + ".et", streams[r]});
  const Trace t = LoadTraceFromBuffers(b);
  EXPECT_EQ(t.ranks[0].nodes.size(), p.stages[0].size());
  EXPECT_EQ(t.ranks[15].nodes.size(), p.stages[1].size());
  double flops = 0, expect = 0;
  for (const auto& n : t.ranks[0].nodes) flops += n.flops;
  for (const auto& op : p.stages[0])
    expect += op.type == OpType::kCompute ? static_cast<double>(std::llround(op.flops)) : 0.0;
  EXPECT_DOUBLE_EQ(flops, expect);
  EXPECT_EQ(t.tokens_per_step, p.tokens_per_step);
  bool tp = false;
  for (const auto& g : t.groups)
    if (g.name == "tp/4") tp = g.ranks == std::vector<uint32_t>{4, 5, 6, 7};
  EXPECT_TRUE(tp);
  // Gzip round trip of one stream reads back the same nodes.
  std::vector<RankBuffer> gz;
  std::vector<std::string> zipped;
  for (const auto& s : streams) zipped.push_back(GzipCompress(s));
  for (size_t r = 0; r < zipped.size(); ++r) gz.push_back({"x." + std::to_string(r) + ".et.gz", zipped[r]});
  EXPECT_EQ(LoadTraceFromBuffers(gz).nodes(), t.nodes());
  EXPECT_EQ(TraceFileName("x", 3, true), "x.3.et.gz");
}

Trace Load(const std::vector<std::string>& ranks) {
  std::vector<RankBuffer> b;
  for (size_t r = 0; r < ranks.size(); ++r) b.push_back({"t." + std::to_string(r) + ".et", ranks[r]});
  return LoadTraceFromBuffers(b);
}

bool Warns(const Trace& t, const std::string& text) {
  for (const std::string& w : t.warnings)
    if (w.find(text) != std::string::npos) return true;
  return false;
}

pb::Node Coll(uint64_t id, const std::string& name, std::vector<uint64_t> deps = {}) {
  pb::Node n = N(id, pb::COMM_COLL_NODE, std::move(deps));
  n.set_name(name);
  return n;
}

TEST(ChakraTrace, SkipsUnmodelledNodeKindsWithCountedWarnings) {
  // STORAGE (8) and CHECKPOINT (10), proposed in Chakra PR #216, an unknown 42, METADATA and INVALID: zero-time host
  // nodes that keep the dependencies through them.
  pb::Node storage = N(2, pb::COMP_NODE, {1}), checkpoint = N(3, pb::COMP_NODE, {2}), odd = N(4, pb::COMP_NODE, {3});
  storage.set_type(static_cast<pb::NodeType>(8));
  checkpoint.set_type(static_cast<pb::NodeType>(10));
  odd.set_type(static_cast<pb::NodeType>(42));
  pb::Node meta = N(5, pb::METADATA_NODE, {4}), invalid = N(6, pb::INVALID_NODE, {5});
  pb::Node last = N(7, pb::COMP_NODE, {6});
  last.set_duration_micros(10);
  const Trace t = Load({Stream({N(1, pb::COMP_NODE), storage, checkpoint, odd, meta, invalid, last})});
  ASSERT_EQ(t.ranks[0].nodes.size(), 7u);
  for (uint32_t i = 1; i <= 5; ++i) {
    EXPECT_EQ(t.ranks[0].nodes[i].stream, kHostStream) << i;
    EXPECT_EQ(t.ranks[0].nodes[i].duration_s, 0.0) << i;
  }
  EXPECT_EQ(t.ranks[0].nodes[6].deps, std::vector<uint32_t>{5});
  EXPECT_TRUE(Warns(t, "1 node(s) of type 8 (not a kind the replay models) replayed as zero-time")) << t.warnings[0];
  EXPECT_TRUE(Warns(t, "1 node(s) of type 42"));
  EXPECT_TRUE(Warns(t, "1 node(s) of type METADATA_NODE"));
  EXPECT_TRUE(Warns(t, "1 node(s) of type INVALID_NODE"));
}

TEST(ChakraTrace, ReadsFilesWithoutOrWithOldGlobalMetadata) {
  // 2023 text converter: record 0 is node 0 (id 0 omitted on the wire), its successor depends on it by ctrl_deps.
  pb::Node first = N(0, pb::COMP_NODE), second = N(1, pb::COMP_NODE);
  first.set_duration_micros(13003);
  second.add_ctrl_deps(0);
  std::string no_meta;
  Put(first, no_meta);
  Put(second, no_meta);
  Trace t = Load({no_meta});
  ASSERT_EQ(t.ranks[0].nodes.size(), 2u);
  EXPECT_DOUBLE_EQ(t.ranks[0].nodes[0].duration_s, 13003e-6);
  EXPECT_EQ(t.ranks[0].nodes[1].deps, std::vector<uint32_t>{0});
  EXPECT_TRUE(Warns(t, "1 file(s) start with a Node instead of a GlobalMetadata record"));
  // Aug 2023 layout: AttributeProto in field 1, where proto3 now reads the version string (not UTF-8 here).
  std::string old_meta;
  const std::string attr = std::string("\x0a\x03", 2) + "pg0" + std::string("\x40\xff\x01", 3);
  std::string meta(1, '\x0a');
  meta.push_back(static_cast<char>(attr.size()));
  meta += attr;
  old_meta.push_back(static_cast<char>(meta.size()));
  old_meta += meta;
  Put(first, old_meta);
  t = Load({old_meta});
  EXPECT_EQ(t.ranks[0].nodes.size(), 1u);
  EXPECT_TRUE(Warns(t, "GlobalMetadata record of an older layout: ignored"));
}

TEST(ChakraTrace, CtrlDepsOnMissingOrSelfAreDroppedAndCyclicOnesIgnored) {
  // PyTorch converter style: ctrl_deps name the caller (missing: 99, itself) and close a cycle with data_deps.
  pb::Node a = N(1, pb::COMP_NODE), b = N(2, pb::COMP_NODE, {1}), c = N(3, pb::COMP_NODE, {2});
  a.add_ctrl_deps(99);
  b.add_ctrl_deps(2);
  a.add_ctrl_deps(3);  // a <- c by ctrl, c <- b <- a by data: a cycle only through ctrl_deps
  const Trace t = Load({Stream({a, b, c})});
  EXPECT_TRUE(t.ranks[0].nodes[0].deps.empty());
  EXPECT_EQ(t.ranks[0].order, (std::vector<uint32_t>{0, 1, 2}));
  EXPECT_TRUE(Warns(t, "1 ctrl_deps naming no node of their file: dropped"));
  EXPECT_TRUE(Warns(t, "1 ctrl_deps naming their own node: dropped"));
  EXPECT_TRUE(Warns(t, "1 file(s) whose ctrl_deps close cycles with data_deps"));
  // A cycle through data_deps alone stays an error.
  const std::string e = ErrorOf({Stream({N(1, pb::COMP_NODE, {2}), N(2, pb::COMP_NODE, {1})})});
  EXPECT_NE(e.find("dependency cycle"), std::string::npos) << e;
}

TEST(ChakraTrace, HostCollectivesAndCollectivesNamedByTheirKernel) {
  // Old PyTorch converter: c10d::broadcast_ is a COMM_COLL host op without comm_type; its NCCL kernel carries it.
  pb::Node host = Coll(432, "c10d::broadcast_(0)");
  auto* cpu = host.add_attr();
  cpu->set_name("is_cpu_op");
  cpu->set_bool_val(true);
  host.set_duration_micros(85);
  pb::Node kernel = Coll(435, "ncclKernel_Broadcast_RING_LL_Sum_int8_t(ncclDevComm*, unsigned long, ncclWork*)", {432});
  Attr(kernel, "comm_size", int64_t{212480});
  // Without comm_type and comm_size: the name gives an all-reduce, the input tensors its size.
  pb::Node bare = Coll(436, "ncclKernel_AllReduce_RING_LL_Sum_float(ncclDevComm*, unsigned long, ncclWork*)", {435});
  bare.mutable_inputs()->set_values("[[3250, 3251, 0, 2049000, 4, 'cuda:0']]");
  bare.mutable_inputs()->set_types("['Tensor(float)']");
  const Trace t = Load({Stream({host, kernel, bare})});
  const auto& n = t.ranks[0].nodes;
  EXPECT_EQ(n[0].kind, NodeKind::kCompute);
  EXPECT_EQ(n[0].stream, kHostStream);
  EXPECT_DOUBLE_EQ(n[0].duration_s, 85e-6);
  EXPECT_EQ(n[1].kind, NodeKind::kCollective);
  EXPECT_EQ(n[1].coll, Coll::kBroadcast);
  EXPECT_EQ(n[1].comm_bytes, 212480u);
  EXPECT_EQ(n[2].coll, Coll::kAllReduce);
  EXPECT_EQ(n[2].comm_bytes, 8196000u);
  EXPECT_EQ(t.collectives.size(), 2u);
  EXPECT_TRUE(Warns(t, "1 communication node(s) with is_cpu_op"));
  EXPECT_TRUE(Warns(t, "2 collective(s) without comm_type: type taken from the node name"));
  EXPECT_TRUE(Warns(t, "1 communication node(s) without comm_size: size taken from the input tensors"));
  const std::string e = ErrorOf({Stream({Coll(1, "mystery_kernel")})});
  EXPECT_NE(e.find("node 1 (\"mystery_kernel\") comm_type = (missing): a collective needs comm_type, or a name"),
            std::string::npos)
      << e;
}

TEST(ChakraTrace, BarriersMoveNothingAndSizelessCollectivesAreCounted) {
  pb::Node barrier = Coll(1, "barrier");
  Attr(barrier, "comm_size", int64_t{4096});
  Attr(barrier, "comm_type", int64_t{pb::BARRIER});
  pb::Node named = Coll(2, "c10d::barrier", {1});  // typed from its name
  Attr(named, "comm_size", int64_t{8});
  pb::Node sizeless = Coll(3, "all_reduce", {2});
  Attr(sizeless, "comm_type", int64_t{pb::ALL_REDUCE});
  const Trace t = Load({Stream({barrier, named, sizeless})});
  for (const TraceNode& n : t.ranks[0].nodes) EXPECT_EQ(n.comm_bytes, 0u) << n.id;
  EXPECT_TRUE(Warns(t, "1 communication node(s) without comm_size or input tensors: replayed as 0 bytes"));
}

// The process-group table as today's PyTorch converter writes it: a METADATA node, a JSON list in inputs.values.
pb::Node GroupTable(uint64_t id, const std::string& json) {
  pb::Node n = N(id, pb::METADATA_NODE);
  n.set_name("## process_group:init ##");
  n.mutable_inputs()->set_values("['" + json + "']");
  n.mutable_inputs()->set_types("['String']");
  return n;
}

TEST(ChakraTrace, ProcessGroupsFromThePyTorchTable) {
  const std::string table =
      "[{\"pg_name\": \"0\", \"pg_desc\": \"default_pg\", \"ranks\": [], \"group_size\": 4}, "
      "{\"pg_name\": \"1\", \"pg_desc\": \"pair\", \"ranks\": [2, 3], \"group_size\": 2}]";
  auto rank = [&](bool second_pair) {
    pb::Node ar = Coll(2, "ncclDevKernel_AllReduce_Sum_f32_RING_LL", {1});
    Attr(ar, "comm_type", int64_t{pb::ALL_REDUCE});
    Attr(ar, "comm_size", int64_t{1024});
    Attr(ar, "pg_name", std::string("0"));
    std::vector<pb::Node> nodes{GroupTable(1, table), ar};
    if (second_pair) {
      pb::Node ag = Coll(3, "ncclDevKernel_AllGather_RING_LL", {2});
      Attr(ag, "comm_type", int64_t{pb::ALL_GATHER});
      Attr(ag, "comm_size", int64_t{1000});
      Attr(ag, "pg_name", std::string("1"));
      nodes.push_back(ag);
    }
    return Stream(nodes);
  };
  const Trace t = Load({rank(false), rank(false), rank(true), rank(true)});
  ASSERT_EQ(t.groups.size(), 2u);
  EXPECT_EQ(t.groups[0].recorded_size, 4u);
  EXPECT_EQ(t.groups[1].name, "1");
  EXPECT_EQ(t.groups[1].ranks, (std::vector<uint32_t>{2, 3}));
  EXPECT_EQ(t.ranks[0].nodes[1].pg, 0u);  // pg_name "0" is the world group
  EXPECT_EQ(t.ranks[2].nodes[2].pg, 1u);
  EXPECT_EQ(t.ranks[2].nodes[2].comm_bytes, 2000u);  // all-gather: comm_size per rank x 2 ranks
  EXPECT_EQ(t.ranks[0].nodes[0].stream, kHostStream);
  // One traced rank of the 4-rank job: the world group is recorded as 4 ranks, and that is said.
  const Trace one = Load({rank(false)});
  EXPECT_EQ(one.groups[0].ranks.size(), 1u);
  EXPECT_EQ(one.groups[0].recorded_size, 4u);
  EXPECT_TRUE(Warns(one, "process group \"0\" has 4 ranks in the traced job and 1 in the trace")) << one.warnings[0];
}

TEST(ChakraTrace, AllGatherSizeConventionChakraOrNcclTests) {
  // ASTRA-sim's all_gather_8npus_1MB: comm_size 1 MiB is each rank's input; the output is 8 MiB.
  auto ranks = [](const pb::GlobalMetadata& meta) {
    std::vector<std::string> out;
    for (int r = 0; r < 8; ++r) {
      pb::Node ag = Coll(static_cast<uint64_t>(r), "all_gather_8npus_1MB");
      Attr(ag, "comm_type", int64_t{pb::ALL_GATHER});
      Attr(ag, "comm_size", int64_t{1 << 20});
      out.push_back(Stream({ag}, meta));
    }
    return out;
  };
  pb::GlobalMetadata chakra;
  chakra.set_version("0.0.4");
  EXPECT_EQ(Load(ranks(chakra)).ranks[3].nodes[0].comm_bytes, 8u << 20);
  pb::GlobalMetadata nccl = chakra;
  auto* a = nccl.add_attr();
  a->set_name("clustersim.comm_size_convention");
  a->set_string_val("nccl_tests");
  EXPECT_EQ(Load(ranks(nccl)).ranks[3].nodes[0].comm_bytes, 1u << 20);
  // clustersim's exports before the attribute (schema "clustersim") gave the output.
  pb::GlobalMetadata legacy = chakra;
  a = legacy.add_attr();
  a->set_name("schema");
  a->set_string_val("clustersim");
  EXPECT_EQ(Load(ranks(legacy)).ranks[3].nodes[0].comm_bytes, 1u << 20);
  a->set_name("clustersim.comm_size_convention");
  a->set_string_val("bytes");
  EXPECT_NE(ErrorOf(ranks(legacy)).find("must be per_rank_input"), std::string::npos);
}

TEST(ChakraTrace, PyTorchSendRecvPeersFromTheirLaunchingOps) {
  // Chakra's PyTorch converter writes neither comm_src/dst nor comm_tag: the peer is in the parent op's name.
  auto rank = [](bool sender) {
    pb::Node op = N(1, pb::COMP_NODE);
    op.set_name(sender ? "nccl:send 0->1" : "nccl:recv 1<-0");
    auto* cpu = op.add_attr();
    cpu->set_name("is_cpu_op");
    cpu->set_bool_val(true);
    pb::Node k = N(2, sender ? pb::COMM_SEND_NODE : pb::COMM_RECV_NODE, {1});
    k.set_name("ncclDevKernel_SendRecv(ncclDevComm*, unsigned long, ncclWork*)");
    k.add_ctrl_deps(1);
    Attr(k, "comm_size", int64_t{4096});
    return Stream({op, k});
  };
  const Trace t = Load({rank(true), rank(false)});
  EXPECT_EQ(t.ranks[0].nodes[1].peer, 1u);
  EXPECT_EQ(t.ranks[1].nodes[1].peer, 0u);
  EXPECT_EQ(t.ranks[0].nodes[1].match, 1u);
  EXPECT_TRUE(Warns(t, "2 send/recv node(s) without comm_dst/comm_src"));
}

// A comm_size that is not an integer is reported with the value given, not as 0.
TEST(ChakraTrace, NonIntegerCommSizeIsShownAsGiven) {
  for (const double v : {1e300, std::nan(""), -1.0}) {
    pb::Node c = N(1, pb::COMM_COLL_NODE);
    Attr(c, "comm_type", int64_t{pb::ALL_REDUCE});
    auto* a = c.add_attr();
    a->set_name("comm_size");
    a->set_double_val(v);
    const std::string e = ErrorOf({Stream({c})});
    EXPECT_NE(e.find("comm_size = "), std::string::npos) << e;
    EXPECT_EQ(e.find("comm_size = 0:"), std::string::npos) << e;
  }
}

TEST(ChakraTrace, RejectsDependencyOnMissingNode) {
  const std::string e = ErrorOf({Stream({N(1, pb::COMP_NODE), N(2, pb::COMP_NODE, {7})})});
  EXPECT_NE(e.find("t.0.et: node 2 (\"n2\") dependency = 7: no node with this id"), std::string::npos) << e;
}

TEST(ChakraTrace, RejectsCycleWithoutRecursion) {
  // A 200,000-node chain closed into a cycle: found iteratively.
  std::vector<pb::Node> nodes;
  const uint64_t n = 200000;
  for (uint64_t i = 0; i < n; ++i) nodes.push_back(N(i, pb::COMP_NODE, {(i + n - 1) % n}));
  const std::string e = ErrorOf({Stream(nodes)});
  EXPECT_NE(e.find("dependency cycle"), std::string::npos) << e;
  EXPECT_NE(e.find("t.0.et: node "), std::string::npos) << e;
}

TEST(ChakraTrace, RejectsSendWithoutMatchingReceive) {
  // Tag differs: the send has no receive.
  std::string e = ErrorOf({Stream({Send(1, 0, 1, 7, 100)}), Stream({Recv(1, 0, 1, 8, 100)})});
  EXPECT_NE(e.find("t.1.et: node 1 (\"n1\") comm_src = 0: receive without a matching send"), std::string::npos) << e;
  e = ErrorOf({Stream({Send(1, 0, 1, 7, 100)}), Stream({})});
  EXPECT_NE(e.find("t.0.et: node 1 (\"n1\") comm_dst = 1: send without a matching receive"), std::string::npos) << e;
  e = ErrorOf({Stream({Send(1, 0, 1, 7, 100)}), Stream({Recv(1, 0, 1, 7, 64)})});
  EXPECT_NE(e.find("comm_size = 64: differs from the matching send"), std::string::npos) << e;
}

TEST(ChakraTrace, RejectsTruncatedAndHugeRecords) {
  const std::string full = Stream({N(1, pb::COMP_NODE), N(2, pb::COMP_NODE, {1})});
  std::string e = ErrorOf({full.substr(0, full.size() - 3)});
  EXPECT_NE(e.find("t.0.et: record 2"), std::string::npos) << e;
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
  // A length prefix of 2^60: rejected before allocating.
  std::string huge;
  Put(pb::GlobalMetadata(), huge);
  uint64_t v = 1ull << 60;
  while (v >= 0x80) {
    huge.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  huge.push_back(static_cast<char>(v));
  e = ErrorOf({huge});
  EXPECT_NE(e.find("record 1 length = 1152921504606846976: exceeds"), std::string::npos) << e;
  e = ErrorOf({GzipCompress(full).substr(0, 20)});
  EXPECT_NE(e.find("t.0.et"), std::string::npos) << e;
}

TEST(ChakraTrace, RejectsCollectiveOnUnknownGroupAndMismatchedMembers) {
  pb::GlobalMetadata meta;
  auto* a = meta.add_attr();
  a->set_name("pg:tp/0");
  a->mutable_uint64_list()->add_values(0);
  a->mutable_uint64_list()->add_values(1);
  pb::Node c = N(3, pb::COMM_COLL_NODE);
  Attr(c, "comm_type", int64_t{0});
  Attr(c, "comm_size", int64_t{1024});
  Attr(c, "pg_name", std::string("dp/0"));
  std::string e = ErrorOf({Stream({c}, meta), Stream({c}, meta)});
  EXPECT_NE(e.find("t.0.et: node 3 (\"n3\") pg_name = \"dp/0\": unknown process group"), std::string::npos) << e;
  pb::Node ok = c;
  ok.mutable_attr(2)->set_string_val("tp/0");
  e = ErrorOf({Stream({ok, N(4, pb::COMP_NODE)}, meta), Stream({}, meta)});
  EXPECT_NE(e.find("t.0.et: node 3 (\"n3\") pg_name = \"tp/0\": collective 0 on this group has no counterpart"),
            std::string::npos)
      << e;
}

TEST(ChakraTrace, RejectsDeadlockAcrossRanks) {
  // Each rank receives before it sends: both wait forever.
  const std::string e =
      ErrorOf({Stream({Recv(1, 1, 0, 0, 8), Send(2, 0, 1, 0, 8)}), Stream({Recv(1, 0, 1, 0, 8), Send(2, 1, 0, 0, 8)})});
  EXPECT_NE(e.find("deadlock"), std::string::npos) << e;
  EXPECT_NE(e.find("t.0.et: node 1"), std::string::npos) << e;
}

}  // namespace
}  // namespace clustersim::wl::chakra
