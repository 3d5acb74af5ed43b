// Replay of the traces other tools write (tests/data/chakra/README.md): every trace of ../shared/chakra-traces
// loads with its expected node counts and replays; all-gather sizes follow ASTRA-sim's convention (checked against
// the collectives layer in both conventions); a PyTorch-style DDP trace written the way Chakra's converter writes it
// replays within 2% of its recorded timeline on the hardware it was recorded on.
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "chakra/et_def.pb.h"
#include "common/error.h"
#include "sim/scenario_loader.h"
#include "sim/simulation.h"
#include "sim/trace_replay.h"

namespace clustersim::sim {
namespace {

namespace ct = wl::chakra;
namespace pb = ::ChakraProtoMsg;

const std::string kData = std::string(CLUSTERSIM_SOURCE_DIR) + "/tests/data/chakra/";

v1::Scenario Scenario(const std::string& cluster, const std::string& collectives = "") {
  const std::string text = "name: \"t\"\naccelerator { name: \"H100-SXM\" }\ncluster { " + cluster + " }\n" +
                           collectives +
                           "\nworkload { model { preset: \"llama3_8b\" seq_len: 4096 } parallelism { tp: 1 "
                           "global_batch_size: 64 } }\n";
  return ResolveScenario(ParseScenario(text, "textproto", "test.textproto"));
}

// ASTRA-sim's regression network (tests/rt_template/inputs/network_cfg.yml at astra-sim 518bd51): a ring of 8 NPUs,
// 50 GB/s and 500 ns per link, ring algorithms: a 1-D torus of 8 single-GPU nodes (torus links get half the
// scale-up bandwidth per direction).
v1::Scenario Ring8() {
  return Scenario(
      "num_gpus: 8 scale_up { domain_size: 1 gpus_per_node: 1 bandwidth_gbyte_per_s: 100 latency_ns: 500 } "
      "scale_out { topology: \"torus\" torus_dims: [8, 1] }",
      "collectives { all_reduce: \"ring\" all_gather: \"ring\" reduce_scatter: \"ring\" all_to_all: \"direct\" }");
}

bool Warns(const ct::Trace& t, const std::string& text) {
  for (const std::string& w : t.warnings)
    if (w.find(text) != std::string::npos) return true;
  return false;
}

double CollectiveTime(const v1::Scenario& s, const std::string& collective, uint64_t bytes) {
  CollectiveBenchSpec spec;
  spec.collective = collective;
  spec.sizes_bytes = {bytes};
  return SimulateCollective(s, spec).at(0).time_s;
}

ReplayOptions Once() {
  ReplayOptions o;
  o.replicas = 1;
  return o;
}

TEST(TraceReplayTraces, AstraSimMicrobenchmarksReplayAsTheCollectivesLayerPricesThem) {
  const v1::Scenario s = Ring8();
  // Chakra's convention: comm_size is each rank's input; an all-gather's output is 8 x 1 MiB (nccl-tests size).
  const std::pair<const char*, uint64_t> cases[] = {
      {"all_reduce", 1 << 20}, {"all_gather", 8 << 20}, {"reduce_scatter", 1 << 20}, {"all_to_all", 1 << 20}};
  for (const auto& [coll, nccl_bytes] : cases) {
    const ct::Trace t = ct::LoadTrace(kData + "astra-sim-microbenchmarks/" + coll + "_8npus_1MB");
    ASSERT_EQ(t.ranks.size(), 8u) << coll;
    EXPECT_TRUE(t.warnings.empty()) << coll << ": " << t.warnings.front();
    const v1::RunResult r = ReplayTrace(s, t, Once());
    EXPECT_NEAR(r.step_time_s(), CollectiveTime(s, coll, nccl_bytes), 1e-12) << coll;
  }
}

// The same all-gather trace in both conventions: as written (ASTRA-sim: 1 MiB in per rank, 8 MiB out) and marked
// `clustersim.comm_size_convention: nccl_tests` (1 MiB out): each replays in its convention's time.
TEST(TraceReplayTraces, AllGatherInBothSizeConventions) {
  v1::Scenario s = Ring8();
  // Without the network hop latency (7 x 12.5 us per ring pass) the bandwidth terms set the ratio checked below.
  s.mutable_collectives()->set_net_step_latency_ns(0);
  std::vector<std::string> files(8), marked(8);
  pb::GlobalMetadata meta;
  meta.set_version("0.0.4");
  auto* a = meta.add_attr();
  a->set_name("clustersim.comm_size_convention");
  a->set_string_val("nccl_tests");
  const std::string body = meta.SerializeAsString();
  std::vector<ct::RankBuffer> astra, nccl;
  for (int r = 0; r < 8; ++r) {
    std::ifstream f(kData + "astra-sim-microbenchmarks/all_gather_8npus_1MB/all_gather." + std::to_string(r) + ".et",
                    std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    files[r] = ss.str();
    ASSERT_GT(files[r].size(), 1u + static_cast<uint8_t>(files[r][0]));
    // Record 0 is a one-byte length and a GlobalMetadata: replaced by the marked one.
    marked[r] = std::string(1, static_cast<char>(body.size())) + body + files[r].substr(1 + files[r][0]);
    astra.push_back({"ag." + std::to_string(r) + ".et", files[r]});
    nccl.push_back({"ag." + std::to_string(r) + ".et", marked[r]});
  }
  const double t_astra = ReplayTrace(s, ct::LoadTraceFromBuffers(astra), Once()).step_time_s();
  const double t_nccl = ReplayTrace(s, ct::LoadTraceFromBuffers(nccl), Once()).step_time_s();
  EXPECT_NEAR(t_astra, CollectiveTime(s, "all_gather", 8 << 20), 1e-12);
  EXPECT_NEAR(t_nccl, CollectiveTime(s, "all_gather", 1 << 20), 1e-12);
  // ASTRA-sim moves (n-1) x 1 MiB per rank for this all-gather and (n-1)/n x 1 MiB for the reduce-scatter: the
  // all-gather is the longer by more than the bandwidth-free latency terms allow.
  const double t_rs =
      ReplayTrace(s, ct::LoadTrace(kData + "astra-sim-microbenchmarks/reduce_scatter_8npus_1MB"), Once()).step_time_s();
  EXPECT_GT(t_astra, 3 * t_rs);
  EXPECT_NEAR(t_nccl, t_rs, 1e-12);  // 1 MiB out and 1 MiB in: the same ring, the same flows
}

// Chakra's text converter (current schema) and its 2023 output (no GlobalMetadata, deps in field 4): the recorded
// compute durations are replayed by default, every rank's 161 compute nodes summing to 1,082,450 us for ResNet-50.
TEST(TraceReplayTraces, TextConverterAnd2023FormatTraces) {
  const v1::Scenario s8 = Scenario("num_gpus: 8 scale_out { topology: \"none\" }");
  const std::pair<const char*, uint64_t> workloads[] = {{"Resnet50_DataParallel", 215},
                                                        {"MLP_HybridParallel_Data_Model", 35},
                                                        {"MLP_ModelParallel", 29},
                                                        {"DLRM_HybridParallel", 32}};
  for (const auto& [name, nodes] : workloads) {
    const ct::Trace t = ct::LoadTrace(kData + "chakra-text-converter/" + name);
    ASSERT_EQ(t.ranks.size(), 8u) << name;
    EXPECT_EQ(t.ranks[0].nodes.size(), nodes) << name;
    const TimingCounts c = CountTiming(t, ComputeTiming::kRecordedFirst);
    EXPECT_EQ(c.modelled + c.untimed, 0u) << name;
    const v1::RunResult r = ReplayTrace(s8, t, Once());
    EXPECT_GE(r.step_time_s(), r.breakdown().compute_s()) << name;
    if (std::string(name) == "Resnet50_DataParallel") {
      EXPECT_NEAR(r.breakdown().compute_s(), 1.08245, 1e-9);
    }
  }
  const ct::Trace old = ct::LoadTrace(kData + "resnet50-2023-format");
  ASSERT_EQ(old.ranks.size(), 64u);
  EXPECT_EQ(old.ranks[63].nodes.size(), 215u);
  EXPECT_EQ(old.ranks[63].nodes[0].id, 13545u);
  EXPECT_EQ(old.collectives.size(), 54u);
  EXPECT_TRUE(Warns(old, "64 file(s) start with a Node instead of a GlobalMetadata record"));
  const v1::RunResult r = ReplayTrace(Scenario("num_gpus: 64 scale_out { topology: \"fat_tree\" }"), old, {});
  EXPECT_NEAR(r.breakdown().compute_s(), 1.08245, 1e-9);
  EXPECT_GT(r.step_time_s(), 1.08245);
}

// chakra.0.et: one rank of a 2-GPU DDP job from Chakra's 2023 PyTorch converter. c10d host collectives are host ops,
// the NCCL kernels carry the collectives, ctrl_deps naming the callers are dropped or, closing cycles, ignored.
TEST(TraceReplayTraces, PyTorchTraceFromChakrasConverter) {
  const ct::Trace t = ct::LoadTrace(kData + "chakra-pytorch/chakra");
  ASSERT_EQ(t.ranks.size(), 1u);
  EXPECT_EQ(t.nodes(), 3664u);
  EXPECT_EQ(t.collectives.size(), 7u);  // 5 all-reduce and 2 broadcast kernels
  EXPECT_TRUE(Warns(t, "14 communication node(s) with is_cpu_op"));
  EXPECT_TRUE(Warns(t, "1277 ctrl_deps naming no node of their file"));
  EXPECT_TRUE(Warns(t, "383 ctrl_deps naming their own node"));
  EXPECT_TRUE(Warns(t, "1 file(s) whose ctrl_deps close cycles"));
  const TimingCounts c = CountTiming(t, ComputeTiming::kRecordedFirst);
  EXPECT_EQ(c.host, 2448u);      // 2,434 CPU ops + 14 c10d host collectives
  EXPECT_EQ(c.recorded, 1052u);  // GPU kernels and memcpys with a duration
  EXPECT_EQ(c.untimed, 157u);
  EXPECT_EQ(c.lacking_num_ops, 1209u);
  // On one GPU the collectives have no peer: the step is the recorded GPU and host work on three streams. GPU
  // compute is exactly the recorded 292,828 us; host ops (50.9 ms of CPU time) overlap it.
  const v1::Scenario one = Scenario("num_gpus: 16 scale_out { topology: \"fat_tree\" }");
  const v1::RunResult r = ReplayTrace(one, t, Once());
  EXPECT_NEAR(r.breakdown().compute_s(), 0.292828, 1e-9);
  EXPECT_GT(r.step_time_s(), 0.292828);
  EXPECT_LT(r.step_time_s(), 0.292828 + 0.0509 + 0.0013);
  for (const v1::CommStat& cs : r.comms()) EXPECT_EQ(cs.time_s(), 0.0) << cs.collective();
  // Rescaled to a 16-GPU data-parallel job (the world group grown): the all-reduces and broadcasts move data, on
  // the communication stream, overlapped with the recorded compute as in the traced job.
  ReplayOptions grow;
  grow.dp_pg_regex = "^$";
  const v1::RunResult dp16 = ReplayTrace(one, t, grow);
  EXPECT_NEAR(dp16.breakdown().compute_s(), 0.292828, 1e-9);
  int all_reduces = 0;
  for (const v1::CommStat& cs : dp16.comms()) {
    EXPECT_EQ(cs.group_size(), 16u);
    EXPECT_GT(cs.time_s(), 0.0) << cs.collective() << " " << cs.bytes_per_rank();
    all_reduces += cs.collective() == "all_reduce" ? 1 : 0;
  }
  EXPECT_EQ(all_reduces, 5);
  EXPECT_GE(dp16.step_time_s(), r.step_time_s());
}

// converted_from_json.0.et: the JSON sample has no Kineto profile, so every node is a host op of duration 0. It loads
// (the process-group table gives the 2-rank world) and its replay is refused with the reason.
TEST(TraceReplayTraces, HostOnlyPyTorchTraceIsRefusedWithTheReason) {
  const ct::Trace t = ct::LoadTrace(kData + "chakra-pytorch/converted_from_json");
  EXPECT_EQ(t.nodes(), 262u);
  EXPECT_EQ(t.groups[0].recorded_size, 2u);
  EXPECT_TRUE(Warns(t, "process group \"0\" has 2 ranks in the traced job and 1 in the trace"));
  try {
    ReplayTrace(Scenario("num_gpus: 8 scale_out { topology: \"none\" }"), t, Once());
    ADD_FAILURE() << "replayed a trace without timed work";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no timed work: its 262 host op(s)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Kineto profile"), std::string::npos) << e.what();
  }
}

// A PyTorch DDP training iteration on one DGX H100 (8 ranks), written as Chakra's PyTorch converter writes it
// (schema 1.0.2-chakra.0.0.4): a `## process_group:init ##` METADATA node, CPU ops with is_cpu_op and the caller in
// ctrl_deps (the root thread node, dropped by the converter, is missing), data_deps chaining the CPU thread, GPU
// kernels depending on their launching op (and, for NCCL, on the gradients' last kernel: the CUDA event NCCL waits
// on), `c10d::allreduce_` -> `record_param_comms` -> `nccl:all_reduce` host ops, ncclDevKernel_AllReduce kernels with
// comm_type, comm_size, pg_name "0" and stream, no num_ops. Durations are what the job recorded; the iteration's
// wall time is computed here from them, with ASTRA-sim's resources (one host thread, one compute stream, one NCCL
// stream; a kernel starts when launched and its stream and inputs are free). NCCL kernel durations are those of the
// measured DGX H100 ring all-reduce (nccl_ring_dgx_h100_intranode: 368.76 GB/s busbw, NVLS disabled).
class DdpIteration {
 public:
  static constexpr int kLayers = 8;
  static constexpr uint64_t kBucketBytes = 1ull << 30;  // two gradient buckets of 1 GiB
  static constexpr double kBusBw = 368.76e9;

  std::string Write() {
    Meta();
    Table();
    for (int l = 0; l < kLayers; ++l) Layer("aten::linear", "sm90_xmma_gemm_bf16bf16_bf16f32_fwd", 2000);
    for (int l = kLayers - 1; l >= 0; --l) {
      Layer("autograd::engine::evaluate_function: AddmmBackward0", "sm90_xmma_gemm_bf16bf16_bf16f32_bwd", 4000);
      if (l % (kLayers / 2) == 0) AllReduce();
    }
    Optimizer();
    return out_;
  }
  double recorded_total_s() const { return gpu_free_ * 1e-6; }

 private:
  pb::Node Op(const std::string& name, pb::NodeType type, uint64_t us) {
    pb::Node n;
    n.set_id(next_id_++);
    n.set_name(name);
    n.set_type(type);
    n.set_duration_micros(us);
    return n;
  }
  static void Attr(pb::Node& n, const std::string& name, int64_t v) {
    auto* a = n.add_attr();
    a->set_name(name);
    a->set_int64_val(v);
  }
  static void Cpu(pb::Node& n, bool cpu) {
    auto* a = n.add_attr();
    a->set_name("is_cpu_op");
    a->set_bool_val(cpu);
  }
  void Put(const google::protobuf::Message& m) {
    google::protobuf::io::StringOutputStream zs(&out_);
    google::protobuf::io::CodedOutputStream coded(&zs);
    const std::string body = m.SerializeAsString();
    coded.WriteVarint64(body.size());
    coded.WriteString(body);
  }
  void Meta() {
    pb::GlobalMetadata m;
    auto add = [&m](const char* name) {
      auto* a = m.add_attr();
      a->set_name(name);
      return a;
    };
    add("schema")->set_string_val("1.0.2-chakra.0.0.4");
    add("pid")->set_uint64_val(4242);
    add("time")->set_string_val("2026-01-01 00:00:00");
    Put(m);
  }
  void Table() {
    pb::Node n = Op("## process_group:init ##", pb::METADATA_NODE, 0);
    n.add_ctrl_deps(kRoot);
    n.mutable_inputs()->set_values(
        "['[{\"pg_name\": \"0\", \"pg_desc\": \"default_pg\", \"backend_config\": \"cuda:nccl\", \"ranks\": [], "
        "\"group_size\": 8, \"group_count\": 1}]']");
    n.mutable_inputs()->set_types("['String']");
    Cpu(n, true);
    Put(n);
  }
  // A host op on the CPU thread, called by `parent`; returns its id. The thread runs it after the previous op.
  uint64_t Host(const std::string& name, uint64_t us, uint64_t parent) {
    pb::Node n = Op(name, pb::COMP_NODE, us);
    n.add_ctrl_deps(parent);
    if (last_cpu_ != 0) n.add_data_deps(last_cpu_);
    Cpu(n, true);
    Attr(n, "tid", 1);
    Put(n);
    cpu_ += static_cast<double>(us);
    return last_cpu_ = n.id();
  }
  void Layer(const std::string& op, const std::string& kernel, uint64_t us) {
    const uint64_t launch = Host(op, 30, kRoot);
    pb::Node k = Op(kernel, pb::COMP_NODE, us);
    k.add_ctrl_deps(launch);
    k.add_data_deps(launch);
    Cpu(k, false);
    Attr(k, "stream", 7);
    Put(k);
    gpu_free_ = std::max(gpu_free_, cpu_) + static_cast<double>(us);
    last_kernel_ = k.id();
  }
  void AllReduce() {
    const uint64_t c10d = Host("c10d::allreduce_", 40, kRoot);
    const uint64_t rpc = Host("record_param_comms", 10, c10d);
    const uint64_t nccl = Host("nccl:all_reduce", 20, rpc);
    const double us = static_cast<double>(kBucketBytes) * 2 * 7 / 8 / kBusBw * 1e6;
    pb::Node k = Op("ncclDevKernel_AllReduce_Sum_bf16_RING_LL(ncclDevComm*, unsigned long, ncclWork*)",
                    pb::COMM_COLL_NODE, static_cast<uint64_t>(us));
    k.add_ctrl_deps(nccl);
    k.add_data_deps(nccl);
    k.add_data_deps(last_kernel_);
    Cpu(k, false);
    Attr(k, "stream", 20);
    Attr(k, "comm_type", pb::ALL_REDUCE);
    Attr(k, "comm_size", static_cast<int64_t>(kBucketBytes));
    auto* pg = k.add_attr();
    pg->set_name("pg_name");
    pg->set_string_val("0");
    Put(k);
    nccl_free_ = std::max({nccl_free_, cpu_, gpu_free_}) + static_cast<double>(static_cast<uint64_t>(us));
    all_reduces_.push_back(k.id());
  }
  void Optimizer() {
    const uint64_t step = Host("Optimizer.step#SGD.step", 0, kRoot);  // the converter writes 0 for Optimizer.step
    pb::Node k = Op("multi_tensor_apply_kernel", pb::COMP_NODE, 1500);
    k.add_ctrl_deps(step);
    k.add_data_deps(step);
    for (uint64_t ar : all_reduces_) k.add_data_deps(ar);
    Cpu(k, false);
    Attr(k, "stream", 7);
    Put(k);
    gpu_free_ = std::max({gpu_free_, cpu_, nccl_free_}) + 1500;
  }

  static constexpr uint64_t kRoot = 2;  // the "[pytorch|profiler|execution_trace|thread]" node, not converted
  uint64_t next_id_ = 3;
  uint64_t last_cpu_ = 0, last_kernel_ = 0;
  std::vector<uint64_t> all_reduces_;
  double cpu_ = 0, gpu_free_ = 0, nccl_free_ = 0;  // us: end of the host thread, compute stream, NCCL stream
  std::string out_;
};

TEST(TraceReplayTraces, PyTorchStyleDdpIterationReplaysWithin2PercentOnTheSameHardware) {
  DdpIteration it;
  const std::string rank = it.Write();
  std::vector<ct::RankBuffer> ranks;
  for (int r = 0; r < 8; ++r) ranks.push_back({"ddp." + std::to_string(r) + ".et", rank});
  const ct::Trace t = ct::LoadTraceFromBuffers(ranks);
  EXPECT_EQ(t.groups[0].recorded_size, 8u);
  EXPECT_TRUE(Warns(t, "ctrl_deps naming no node of their file: dropped"));
  // One DGX H100 with NVLS disabled, as measured: the NCCL ring.
  const v1::Scenario dgx =
      Scenario("num_gpus: 8 scale_out { topology: \"none\" }", "collectives { all_reduce: \"ring\" }");
  const v1::RunResult r = ReplayTrace(dgx, t, Once());
  const double recorded = it.recorded_total_s();
  RecordProperty("recorded_us", std::to_string(recorded * 1e6));
  RecordProperty("replayed_us", std::to_string(r.step_time_s() * 1e6));
  EXPECT_GT(recorded, 0.05);
  EXPECT_NEAR(r.step_time_s(), recorded, 0.02 * recorded);
  EXPECT_NEAR(r.breakdown().compute_s(), (8 * 2000 + 8 * 4000 + 1500) * 1e-6, 1e-9);
  // --retime has nothing to re-time (the converter writes no num_ops): the same step.
  ReplayOptions retime = Once();
  retime.timing = ComputeTiming::kRetime;
  EXPECT_EQ(ReplayTrace(dgx, t, retime).step_time_s(), r.step_time_s());
}

}  // namespace
}  // namespace clustersim::sim
