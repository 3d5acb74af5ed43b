// Chakra ET reader, validation and exporter: round trip of a generated step, and one test per validation rule with
// the message checked (file and node named).
#include "workloads/chakra_trace.h"

#include <gtest/gtest.h>

#include <cmath>

#include "chakra/et_def.pb.h"
#include "common/error.h"
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
  try {
    LoadTraceFromBuffers(b);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
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
  for (const auto& op : p.stages[0]) expect += op.type == OpType::kCompute ? static_cast<double>(std::llround(op.flops)) : 0.0;
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

TEST(ChakraTrace, RejectsUnknownNodeType) {
  pb::Node n = N(5, pb::COMP_NODE);
  n.set_type(static_cast<pb::NodeType>(8));
  const std::string e = ErrorOf({Stream({n})});
  EXPECT_NE(e.find("t.0.et"), std::string::npos) << e;
  EXPECT_NE(e.find("node 5 (\"n5\") type = 8: unsupported node type"), std::string::npos) << e;
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
  const std::string e = ErrorOf({Stream({Recv(1, 1, 0, 0, 8), Send(2, 0, 1, 0, 8)}),
                                 Stream({Recv(1, 0, 1, 0, 8), Send(2, 1, 0, 0, 8)})});
  EXPECT_NE(e.find("deadlock"), std::string::npos) << e;
  EXPECT_NE(e.find("t.0.et: node 1"), std::string::npos) << e;
}

}  // namespace
}  // namespace clustersim::wl::chakra
